//! The host's own firewall, beside nfknock's: the base chains of every
//! other table on the input hook, read from `nft -j list ruleset` (which
//! shows iptables-nft's rules too). nfknock never changes them; it reads
//! them to answer as the host does (`closed = "auto"`: silence where they
//! drop closed ports) and to say when they would drop a door's port even
//! after a knock (an accept in one table does not override a drop in
//! another).
//!
//! Reading a ruleset is a conservative walk of one imagined NEW packet
//! through each chain, following jumps: matches nfknock understands (port,
//! protocol, family, conntrack state, loopback) decide; any other makes a
//! rule "maybe", which never proves a drop.

use serde_json::Value;

use super::plan::HostDrops;
use super::run::{Error, run};
use super::{Family, names};
use crate::config::{Backend, Closed, Config, Mode, Resolved};
use crate::port::{PortSpec, Proto};

/// The other tables' rules, as nft lists them.
#[derive(Debug, Default)]
pub struct HostRules {
    chains: Vec<Chain>,
}

#[derive(Debug)]
struct Chain {
    family: String,
    table: String,
    name: String,
    /// The hook of a base chain, and its policy.
    hook: Option<(String, String)>,
    rules: Vec<Vec<Value>>,
}

impl Chain {
    fn title(&self) -> String {
        format!("table {} {} chain {}", self.family, self.table, self.name)
    }

    /// Whether a packet of `family` passes this chain's table.
    fn sees(&self, family: Family) -> bool {
        matches!(
            (self.family.as_str(), family),
            ("inet", _) | ("ip", Family::V4) | ("ip6", Family::V6)
        )
    }
}

/// The packet imagined: a NEW connection (TCP: a SYN) of a family, to a
/// port (`None`: a port no rule names, as a closed port is), not from
/// loopback.
#[derive(Debug, Clone, Copy)]
struct Probe {
    family: Family,
    proto: Proto,
    port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe,
}

/// What one chain does with the probe.
#[derive(Debug, Clone, PartialEq)]
enum Fate {
    Accepted,
    Dropped(String),
    /// Falls through (or returns).
    Continue,
}

/// What a base chain does with the probe, in the end.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accepts,
    /// Certainly dropped (or rejected), and why.
    Drops(String),
    /// Dropped by the policy unless a rule nfknock cannot read accepts it.
    MayDrop(String),
}

/// Reads the ruleset: every table but nfknock's. A host without nft has
/// none to read.
pub fn read() -> Result<HostRules, Error> {
    match run("nft", "nftables", &["-j", "list", "ruleset"], None) {
        Ok(json) => Ok(HostRules::parse(&json)),
        Err(Error::Missing { .. }) => Ok(HostRules::default()),
        Err(e) => Err(e),
    }
}

/// What the host's rules drop, read only when `cfg`'s rules depend on it
/// ([`reads_host`]); otherwise nothing, which the plan ignores anyway.
pub fn drops_for(cfg: &Resolved) -> Result<HostDrops, Error> {
    if reads_host(cfg) {
        drops(cfg.backend)
    } else {
        Ok(HostDrops::default())
    }
}

/// Whether `cfg`'s closed answer depends on the host's rules (`closed =
/// "auto"` in guard mode): only then does [`Plan::beside`](super::plan::Plan::beside) look
/// at them.
pub fn reads_host(cfg: &Config) -> bool {
    cfg.mode == Mode::Guard && cfg.closed == Closed::Auto
}

/// The host's input chains that drop closed ports: nft's view, and for
/// the iptables backend also what iptables-save says, which covers
/// iptables-legacy (nft does not see its rules).
pub fn drops(backend: Backend) -> Result<HostDrops, Error> {
    drops_beside(&read()?, backend)
}

/// [`drops`] of host rules already read (one `nft -j list ruleset` serves
/// both the closed answer and the blocker report).
pub fn drops_beside(host: &HostRules, backend: Backend) -> Result<HostDrops, Error> {
    let mut drops = host.drops();
    if backend == Backend::Iptables {
        for (tool, family) in [
            ("iptables-save", Family::V4),
            ("ip6tables-save", Family::V6),
        ] {
            let save = run(tool, "iptables", &["-t", "filter"], None)?;
            let slot = match family {
                Family::V4 => &mut drops.v4,
                Family::V6 => &mut drops.v6,
            };
            if slot.is_none() && save.lines().any(|l| l.starts_with(":INPUT DROP")) {
                *slot = Some(format!("{tool}'s INPUT (policy DROP)"));
            }
        }
    }
    Ok(drops)
}

impl HostRules {
    /// Parses `nft -j list ruleset`; what it does not understand it skips.
    pub fn parse(json: &str) -> HostRules {
        let doc: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        let items = doc
            .get("nftables")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let mut chains: Vec<Chain> = Vec::new();
        for item in &items {
            if let Some(c) = item.get("chain") {
                let (Some(family), Some(table), Some(name)) =
                    (text(c, "family"), text(c, "table"), text(c, "name"))
                else {
                    continue;
                };
                if family == "inet" && table == names::nft::TABLE {
                    continue;
                }
                let hook = match (text(c, "type"), text(c, "hook")) {
                    (Some(t), Some(h)) if t == "filter" => {
                        Some((h, text(c, "policy").unwrap_or_else(|| "accept".into())))
                    }
                    _ => None,
                };
                chains.push(Chain {
                    family,
                    table,
                    name,
                    hook,
                    rules: Vec::new(),
                });
            }
            if let Some(r) = item.get("rule") {
                let (Some(family), Some(table), Some(chain)) =
                    (text(r, "family"), text(r, "table"), text(r, "chain"))
                else {
                    continue;
                };
                let expr = r
                    .get("expr")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let Some(c) = chains
                    .iter_mut()
                    .find(|c| c.family == family && c.table == table && c.name == chain)
                {
                    c.rules.push(expr);
                }
            }
        }
        HostRules { chains }
    }

    fn input_chains(&self, family: Family) -> impl Iterator<Item = &Chain> {
        self.chains
            .iter()
            .filter(move |c| c.sees(family) && c.hook.as_ref().is_some_and(|(h, _)| h == "input"))
    }

    /// The first input chain per family that drops what it does not
    /// accept: where it runs, closed ports are silent.
    pub fn drops(&self) -> HostDrops {
        let first = |family: Family| {
            self.input_chains(family).find_map(|c| {
                let probe = Probe {
                    family,
                    proto: Proto::Tcp,
                    port: None,
                };
                match self.verdict(c, probe) {
                    Verdict::Accepts => None,
                    Verdict::Drops(why) | Verdict::MayDrop(why) => {
                        Some(format!("{} ({why})", c.title()))
                    }
                }
            })
        };
        HostDrops {
            v4: first(Family::V4),
            v6: first(Family::V6),
        }
    }

    /// What the host's input chains would do to a new connection through
    /// an open door: one line per chain that drops (or may drop) it.
    pub fn blockers(&self, doors: &[(String, PortSpec)]) -> Vec<String> {
        let mut out = Vec::new();
        for (door, port) in doors {
            let mut found: Vec<(String, Vec<Family>, Verdict)> = Vec::new();
            for family in Family::ALL {
                for c in self.input_chains(family) {
                    let probe = Probe {
                        family,
                        proto: port.proto,
                        port: Some(port.port),
                    };
                    let v = self.verdict(c, probe);
                    if v == Verdict::Accepts {
                        continue;
                    }
                    match found
                        .iter_mut()
                        .find(|(t, _, fv)| *t == c.title() && *fv == v)
                    {
                        Some((_, fams, _)) => fams.push(family),
                        None => found.push((c.title(), vec![family], v)),
                    }
                }
            }
            for (title, fams, v) in found {
                let families = match fams[..] {
                    [Family::V4] => " (IPv4)",
                    [Family::V6] => " (IPv6)",
                    _ => "",
                };
                let what = match v {
                    Verdict::Drops(why) => format!("drops {port}{families} ({why})"),
                    Verdict::MayDrop(why) => format!(
                        "may drop {port}{families} ({why}, and no rule nfknock can read accepts it)"
                    ),
                    Verdict::Accepts => unreachable!("skipped"),
                };
                out.push(format!(
                    "door {door}: {title} {what}: a knock opens the door, but the connection still fails; accept {port} there (nfknock's own rules keep it hidden from everyone but knockers)"
                ));
            }
        }
        out
    }

    fn verdict(&self, chain: &Chain, probe: Probe) -> Verdict {
        let mut maybe = false;
        match self.walk(chain, probe, 0, &mut maybe) {
            Fate::Accepted => Verdict::Accepts,
            Fate::Dropped(why) => Verdict::Drops(why),
            Fate::Continue => {
                let policy = chain.hook.as_ref().map_or("accept", |(_, p)| p.as_str());
                match (policy, maybe) {
                    ("drop", false) => Verdict::Drops("policy drop".into()),
                    ("drop", true) => Verdict::MayDrop("policy drop".into()),
                    _ => Verdict::Accepts,
                }
            }
        }
    }

    fn walk(&self, chain: &Chain, probe: Probe, depth: usize, maybe: &mut bool) -> Fate {
        if depth > 16 {
            *maybe = true;
            return Fate::Continue;
        }
        for (i, rule) in chain.rules.iter().enumerate() {
            let m = rule_matches(rule, probe);
            if m == Tri::No {
                continue;
            }
            let target = |t: &str| {
                self.chains
                    .iter()
                    .find(|c| c.family == chain.family && c.table == chain.table && c.name == t)
            };
            let fate = match verdict_of(rule) {
                None => continue,
                Some(Stmt::Accept) => Fate::Accepted,
                Some(Stmt::Drop) => Fate::Dropped(format!("rule {} drops it", i + 1)),
                Some(Stmt::Return) if m == Tri::Yes => return Fate::Continue,
                Some(Stmt::Return) => continue,
                // nfknock's own iptables chains are not the host's.
                Some(Stmt::Jump(t)) | Some(Stmt::Goto(t)) if names::ipt::ours(&t) => continue,
                Some(Stmt::Jump(t)) | Some(Stmt::Goto(t)) => {
                    let Some(sub) = target(&t) else { continue };
                    let goto = matches!(verdict_of(rule), Some(Stmt::Goto(_)));
                    match self.walk(sub, probe, depth + 1, maybe) {
                        Fate::Dropped(why) => Fate::Dropped(format!("in chain {t}: {why}")),
                        Fate::Continue if goto && m == Tri::Yes => return Fate::Continue,
                        f => f,
                    }
                }
            };
            match (m, fate) {
                (Tri::Yes, f @ (Fate::Accepted | Fate::Dropped(_))) => return f,
                (Tri::Maybe, Fate::Accepted) => *maybe = true,
                _ => {}
            }
        }
        Fate::Continue
    }
}

enum Stmt {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
}

fn verdict_of(rule: &[Value]) -> Option<Stmt> {
    rule.iter().rev().find_map(|e| {
        if e.get("accept").is_some() {
            Some(Stmt::Accept)
        } else if e.get("drop").is_some() || e.get("reject").is_some() {
            Some(Stmt::Drop)
        } else if e.get("return").is_some() {
            Some(Stmt::Return)
        } else if let Some(t) = e.pointer("/jump/target").and_then(Value::as_str) {
            Some(Stmt::Jump(t.into()))
        } else if let Some(t) = e.pointer("/goto/target").and_then(Value::as_str) {
            Some(Stmt::Goto(t.into()))
        } else {
            // iptables-nft's REJECT is an xt target.
            let xt = e.get("xt")?;
            (xt.get("type")?.as_str()? == "target" && xt.get("name")?.as_str()? == "REJECT")
                .then_some(Stmt::Drop)
        }
    })
}

/// Whether every match of a rule holds for the probe.
fn rule_matches(rule: &[Value], probe: Probe) -> Tri {
    let mut all = Tri::Yes;
    for e in rule {
        let t = if let Some(m) = e.get("match") {
            match_holds(m, probe)
        } else if e
            .get("xt")
            .is_some_and(|x| x.get("type") == Some(&"match".into()))
            || e.get("limit").is_some()
        {
            Tri::Maybe
        } else {
            continue;
        };
        match t {
            Tri::No => return Tri::No,
            Tri::Maybe => all = Tri::Maybe,
            Tri::Yes => {}
        }
    }
    all
}

fn match_holds(m: &Value, probe: Probe) -> Tri {
    let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
    let (Some(left), Some(right)) = (m.get("left"), m.get("right")) else {
        return Tri::Maybe;
    };
    let proto_name = probe.proto.as_str();
    let proto_num = match probe.proto {
        Proto::Tcp => 6,
        Proto::Udp => 17,
    };
    // Whether the probe's value is in `right`, for each kind of left.
    let contains: Option<bool> = if let Some(p) = left.get("payload") {
        let field = p.get("field").and_then(Value::as_str);
        let protocol = p.get("protocol").and_then(Value::as_str);
        match (protocol, field) {
            (Some("tcp" | "udp"), Some("dport")) if protocol != Some(proto_name) => {
                // The match implies another protocol.
                return Tri::No;
            }
            (Some("tcp" | "udp" | "th"), Some("dport")) => Some(match probe.port {
                Some(port) => holds(right, &|v| port_in(v, port)),
                None => false,
            }),
            (Some("ip"), Some("protocol")) | (Some("ip6"), Some("nexthdr")) => {
                Some(holds(right, &|v| is_proto(v, proto_name, proto_num)))
            }
            _ => None,
        }
    } else if let Some(key) = left.pointer("/meta/key").and_then(Value::as_str) {
        match key {
            "l4proto" => Some(holds(right, &|v| is_proto(v, proto_name, proto_num))),
            "nfproto" => {
                let f = match probe.family {
                    Family::V4 => "ipv4",
                    Family::V6 => "ipv6",
                };
                Some(holds(right, &|v| v.as_str() == Some(f)))
            }
            // Not from loopback; any other interface may be the one.
            "iif" | "iifname" => {
                if right.as_str() == Some("lo") {
                    Some(false)
                } else {
                    None
                }
            }
            _ => None,
        }
    } else if left.pointer("/ct/key").and_then(Value::as_str) == Some("state") {
        Some(holds(right, &|v| v.as_str() == Some("new")))
    } else {
        None
    };
    match (contains, op) {
        (None, _) => Tri::Maybe,
        (Some(c), "!=") => tri(!c),
        (Some(c), "==" | "in") => tri(c),
        _ => Tri::Maybe,
    }
}

fn tri(b: bool) -> Tri {
    if b { Tri::Yes } else { Tri::No }
}

/// Whether `test` holds for `right` or, for a set or list, one member.
fn holds(right: &Value, test: &dyn Fn(&Value) -> bool) -> bool {
    if let Some(items) = right.get("set").and_then(Value::as_array) {
        return items.iter().any(test);
    }
    if let Some(items) = right.as_array() {
        return items.iter().any(test);
    }
    test(right)
}

fn port_in(v: &Value, port: u16) -> bool {
    if let Some(n) = v.as_u64() {
        return n == u64::from(port);
    }
    if let Some([a, b]) = v.get("range").and_then(Value::as_array).map(Vec::as_slice) {
        let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) else {
            return false;
        };
        return (a..=b).contains(&u64::from(port));
    }
    false
}

fn is_proto(v: &Value, name: &str, num: u64) -> bool {
    v.as_str() == Some(name) || v.as_u64() == Some(num)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruleset(tables: &str) -> HostRules {
        HostRules::parse(tables)
    }

    /// ufw's shape, as iptables-nft lists it: policy drop, established
    /// accepted by an xt match, the user's rules in a chain of their own.
    const UFW: &str = r#"{"nftables": [
 {"table": {"family": "ip", "name": "filter"}},
 {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
 {"chain": {"family": "ip", "table": "filter", "name": "ufw-user-input"}},
 {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}}, {"accept": null}]}},
 {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "expr": [{"xt": {"type": "match", "name": "conntrack"}}, {"accept": null}]}},
 {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "expr": [{"counter": null}, {"jump": {"target": "ufw-user-input"}}]}},
 {"rule": {"family": "ip", "table": "filter", "chain": "ufw-user-input", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]}},
 {"table": {"family": "inet", "name": "nfknock"}},
 {"chain": {"family": "inet", "table": "nfknock", "name": "input", "type": "filter", "hook": "input", "prio": -5, "policy": "drop"}}
]}"#;

    const DROP_ALL: &str = r#"{"nftables": [
 {"chain": {"family": "inet", "table": "fw", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
 {"rule": {"family": "inet", "table": "fw", "chain": "input", "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
 {"rule": {"family": "inet", "table": "fw", "chain": "input", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["tcp", "udp"]}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": {"set": [80, {"range": [8000, 8100]}]}}}, {"accept": null}]}},
 {"rule": {"family": "inet", "table": "fw", "chain": "input", "expr": [{"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]}}
]}"#;

    fn tcp(port: u16) -> (String, PortSpec) {
        ("ssh".into(), PortSpec::new(port, Proto::Tcp))
    }

    #[test]
    fn ufw_drops_closed_ports_but_accepts_the_users_port() {
        let host = ruleset(UFW);
        let drops = host.drops();
        assert_eq!(
            drops.v4.as_deref(),
            Some("table ip filter chain INPUT (policy drop)")
        );
        assert_eq!(
            drops.v6, None,
            "an ip table is IPv4 only; nfknock's own is not read"
        );
        assert!(host.blockers(&[tcp(22)]).is_empty());
        let b = host.blockers(&[tcp(2222)]);
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(
            b[0].starts_with("door ssh: table ip filter chain INPUT may drop 2222/tcp (IPv4) (policy drop, and no rule"),
            "{b:?}"
        );
    }

    #[test]
    fn a_final_reject_drops_what_the_rules_before_do_not_accept() {
        let host = ruleset(DROP_ALL);
        let drops = host.drops();
        assert!(
            drops.v4.as_deref().unwrap().contains("rule 3 drops it"),
            "{drops:?}"
        );
        assert_eq!(drops.v4, drops.v6);
        assert!(host.blockers(&[tcp(8050), tcp(80)]).is_empty());
        let b = host.blockers(&[tcp(22)]);
        assert_eq!(b.len(), 1, "one line for both families: {b:?}");
        assert!(
            b[0].contains("table inet fw chain input drops 22/tcp (rule 3 drops it)"),
            "{b:?}"
        );
    }

    #[test]
    fn nothing_to_read_drops_nothing() {
        let host = ruleset("not json");
        assert_eq!(host.drops(), HostDrops::default());
        assert!(host.blockers(&[tcp(22)]).is_empty());
    }
}
