//! The iptables backend, for hosts that run iptables (Debian's default is
//! iptables-nft) or ip6tables and want nfknock's rules beside their own.
//!
//! Knock state lives in the kernel's `recent` match: one list per door,
//! stage and family (`nfknock_<door>_<stage>_<family>_<fingerprint>`), so no
//! daemon takes part. nfknock owns the chains named `NFKNOCK` and `NFK-*`
//! and one jump from INPUT; they are loaded with `iptables-restore
//! --noflush`, which replaces those chains and nothing else. Transient
//! networks are two ipsets, `nfknock-transient-v4` and `-v6`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use ipnet::IpNet;

use super::run::{Error, run};
use super::{Backend, Counters, Family, SET_SIZE, Status, Transient, log_prefix};
use crate::config::{Config, Door, Event, Mode};
use crate::port::{PortSpec, Proto};

const PACKAGE: &str = "iptables";
const IPSET: &str = "ipset";
/// The chain INPUT jumps to; every other chain of nfknock starts with `NFK-`.
const MAIN: &str = "NFKNOCK";
const DOORS: &str = "NFK-DOORS";
const TRANSIENT: &str = "NFK-TRANSIENT";
/// Sends only what can knock on to the doors' knock chains (`KNOCKS`).
const KNOCKING: &str = "NFK-KNOCKING";
const KNOCKS: &str = "NFK-KNOCKS";
/// The most ports one multiport match takes.
const MULTIPORT_MAX: usize = 15;
const RESET_LOG_RATE: &str = "6/min";
/// Where a rendered ruleset switches family; `restore` splits on it.
const V6_MARKER: &str = "# IPv6: ip6tables-restore --noflush";
const V4_MARKER: &str = "# IPv4: iptables-restore --noflush";
/// The kernel's LOG target keeps 29 characters of prefix.
pub const MAX_LOG_PREFIX: usize = 29;

pub struct Iptables;

struct Tool {
    family: Family,
    restore: &'static str,
    save: &'static str,
}

const TOOLS: [Tool; 2] = [
    Tool {
        family: Family::V4,
        restore: "iptables-restore",
        save: "iptables-save",
    },
    Tool {
        family: Family::V6,
        restore: "ip6tables-restore",
        save: "ip6tables-save",
    },
];

fn knock_chain(door: &str) -> String {
    format!("NFK-K-{door}")
}
fn opened_chain(door: &str) -> String {
    format!("NFK-OPEN-{door}")
}
fn enter_chain(door: &str) -> String {
    format!("NFK-IN-{door}")
}
fn ipset_name(f: Family) -> String {
    format!("nfknock-transient-{}", f.suffix())
}
/// Marks the rules whose counters `status` reads.
fn counter_comment(kind: &str, door: &str) -> String {
    format!("nfknock:{kind}:{door}")
}

/// A `recent` list. The fingerprint changes with what the list means
/// (door, stage, the knocks so far, the timeout), so a re-apply keeps the
/// sources of unchanged doors and starts changed ones afresh.
fn recent_list(door: &Door, sequence: &[PortSpec], stage: Option<usize>, family: Family) -> String {
    let (what, meaning) = match stage {
        Some(i) => {
            let sent: Vec<String> = sequence[..i].iter().map(|k| k.to_string()).collect();
            (
                i.to_string(),
                format!("{i} {} {}", sent.join(","), door.sequence_timeout.as_secs()),
            )
        }
        None => (
            "open".to_string(),
            format!("open {} {}", door.port, door.door_timeout.as_secs()),
        ),
    };
    let fp = super::fingerprint(&format!("{} {} {meaning}", door.name, family.suffix()));
    format!("nfknock_{}_{what}_{}_{fp:08x}", door.name, family.suffix())
}

/// The `recent` list of the sources in the middle of any door's sequence:
/// every knock that moves a source on sets it here too. Its timeout, the
/// longest `sequence_timeout`, is part of its name, like a door list's.
fn knocking_list(cfg: &Config, family: Family) -> (String, u64) {
    let secs = cfg.longest_sequence_timeout().as_secs();
    let fp = super::fingerprint(&format!("knocking {} {secs}", family.suffix()));
    (
        format!("nfknock_knocking_{}_{fp:08x}", family.suffix()),
        secs,
    )
}

/// Matches for "one of these ports", a rule per protocol and per 15 ports.
fn multiport(ports: &[PortSpec]) -> Vec<String> {
    let mut out = Vec::new();
    for proto in [Proto::Tcp, Proto::Udp] {
        let mut numbers: Vec<u16> = ports
            .iter()
            .filter(|p| p.proto == proto)
            .map(|p| p.port)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        for chunk in numbers.chunks(MULTIPORT_MAX) {
            let list: Vec<String> = chunk.iter().map(u16::to_string).collect();
            out.push(format!(
                "-p {} -m multiport --dports {}",
                proto.as_str(),
                list.join(",")
            ));
        }
    }
    out
}

/// Splits a list name back into (door, stage); stage 0 is the open list.
fn parse_recent_list(name: &str) -> Option<(String, usize)> {
    let rest = name.strip_prefix("nfknock_")?;
    let mut parts = rest.rsplitn(4, '_');
    let _fingerprint = parts.next()?;
    let family = parts.next()?;
    let stage = parts.next()?;
    let door = parts.next()?;
    if family != "v4" && family != "v6" {
        return None;
    }
    let stage = if stage == "open" {
        0
    } else {
        stage.parse().ok().filter(|s| *s > 0)?
    };
    Some((door.to_string(), stage))
}

fn port_match(p: PortSpec) -> String {
    match p.proto {
        Proto::Tcp => format!("-p tcp --dport {} --tcp-flags FIN,SYN,RST,ACK SYN", p.port),
        Proto::Udp => format!("-p udp --dport {}", p.port),
    }
}

fn rcheck(list: &str, secs: u64) -> String {
    format!("-m recent --name {list} --rcheck --seconds {secs} --reap")
}

fn log(prefix: &str) -> String {
    format!("-j LOG --log-prefix \"{prefix}\" --log-level info")
}

/// One family's rules: the chains nfknock owns and what goes in them.
struct Rules {
    chains: Vec<String>,
    rules: Vec<String>,
}

fn rules(cfg: &Config, f: Family) -> Rules {
    let mut chains = vec![
        MAIN.to_string(),
        DOORS.to_string(),
        TRANSIENT.to_string(),
        KNOCKING.to_string(),
        KNOCKS.to_string(),
    ];
    for d in &cfg.doors {
        for (suffix, _) in d.knock_lines() {
            chains.push(knock_chain(&d.name) + suffix);
        }
        chains.extend([opened_chain(&d.name), enter_chain(&d.name)]);
    }
    let guard = cfg.mode == Mode::Guard;
    // Guard mode never accepts: it returns to INPUT, whose other rules
    // still decide. Firewall mode accepts and finally drops.
    let pass = if guard { "RETURN" } else { "ACCEPT" };
    let mut r = vec![format!("-I INPUT 1 -j {MAIN}")];
    let mut add = |chain: &str, rule: String| r.push(format!("-A {chain} {rule}"));

    add(MAIN, format!("-i lo -j {pass}"));
    add(
        MAIN,
        format!("-m conntrack --ctstate ESTABLISHED,RELATED -j {pass}"),
    );
    if guard {
        add(MAIN, "-m conntrack ! --ctstate NEW -j RETURN".into());
    } else {
        if f == Family::V6 {
            for t in [
                "neighbour-solicitation",
                "neighbour-advertisement",
                "router-solicitation",
                "router-advertisement",
            ] {
                add(MAIN, format!("-p ipv6-icmp --icmpv6-type {t} -j ACCEPT"));
            }
        }
        add(MAIN, "-m conntrack --ctstate INVALID -j DROP".into());
    }
    let allow: Vec<String> = match f {
        Family::V4 => cfg.allow.ipv4.iter().map(|n| n.to_string()).collect(),
        Family::V6 => cfg.allow.ipv6.iter().map(|n| n.to_string()).collect(),
    };
    for net in allow {
        add(MAIN, format!("-s {net} -j {pass}"));
    }
    let transient_log = log_prefix(&cfg.log_prefix, Event::Transient, None);
    add(
        TRANSIENT,
        format!(
            "-m comment --comment \"nfknock:transient\" {}",
            log(&transient_log)
        ),
    );
    add(TRANSIENT, format!("-j {pass}"));
    if !guard {
        add(
            MAIN,
            format!("-m set --match-set {} src -j {TRANSIENT}", ipset_name(f)),
        );
    }
    // Only a source in the middle of a sequence, or a first knock, goes on
    // to the doors' knock chains; anything else returns after a lookup in
    // one list and a port match, however many doors there are.
    let (knocking, knocking_secs) = knocking_list(cfg, f);
    add(MAIN, format!("-j {KNOCKING}"));
    add(
        KNOCKING,
        format!("{} -g {KNOCKS}", rcheck(&knocking, knocking_secs)),
    );
    for ports in multiport(&cfg.first_knocks()) {
        add(KNOCKING, format!("{ports} -g {KNOCKS}"));
    }
    for d in &cfg.doors {
        for (suffix, _) in d.knock_lines() {
            add(KNOCKS, format!("-j {}{suffix}", knock_chain(&d.name)));
        }
    }
    // Only what is aimed at a door looks at the doors' rules.
    let door_ports: Vec<PortSpec> = cfg.doors.iter().map(|d| d.port).collect();
    for ports in multiport(&door_ports) {
        add(MAIN, format!("{ports} -j {DOORS}"));
    }
    if !guard {
        if cfg.firewall.icmp {
            let icmp = if f == Family::V4 { "icmp" } else { "ipv6-icmp" };
            add(MAIN, format!("-p {icmp} -j ACCEPT"));
        }
        for p in &cfg.firewall.open {
            add(
                MAIN,
                format!("-p {} --dport {} -j ACCEPT", p.proto.as_str(), p.port),
            );
        }
        add(MAIN, "-j DROP".into());
    }

    for d in &cfg.doors {
        let seq_secs = d.sequence_timeout.as_secs();
        for (suffix, sequence) in d.knock_lines() {
            let n = sequence.len();
            let k = knock_chain(&d.name) + suffix;
            for stage in (1..n).rev() {
                let list = recent_list(d, sequence, Some(stage), f);
                let next = sequence[stage];
                let last = sequence[stage - 1];
                let target = if stage == n - 1 {
                    // goto: after the log, go back to NFKNOCK, not to this chain.
                    let open = recent_list(d, sequence, None, f);
                    format!("-m recent --name {open} --set -g {}", opened_chain(&d.name))
                } else {
                    let to = recent_list(d, sequence, Some(stage + 1), f);
                    format!(
                        "-m recent --name {knocking} --set -m recent --name {to} --set -j RETURN"
                    )
                };
                add(
                    &k,
                    format!(
                        "{} {} -m recent --name {list} --remove {target}",
                        port_match(next),
                        rcheck(&list, seq_secs)
                    ),
                );
                add(
                    &k,
                    format!("{} {} -j RETURN", port_match(last), rcheck(&list, seq_secs)),
                );
                let reset_log = log_prefix(&cfg.log_prefix, Event::Reset, Some(&d.name));
                add(
                    &k,
                    format!(
                        "{} -m limit --limit {RESET_LOG_RATE} {}",
                        rcheck(&list, seq_secs),
                        log(&reset_log)
                    ),
                );
                add(
                    &k,
                    format!(
                        "{} -m recent --name {list} --remove -m comment --comment \"{}\"",
                        rcheck(&list, seq_secs),
                        counter_comment("resets", &d.name)
                    ),
                );
            }
            let first = recent_list(d, sequence, Some(1), f);
            add(
                &k,
                format!(
                    "{} -m recent --name {knocking} --set -m recent --name {first} --set -j RETURN",
                    port_match(sequence[0])
                ),
            );
        }

        let knock_log = log_prefix(&cfg.log_prefix, Event::Knock, Some(&d.name));
        add(
            &opened_chain(&d.name),
            format!(
                "-m comment --comment \"{}\" {}",
                counter_comment("knocks", &d.name),
                log(&knock_log)
            ),
        );

        let enter_log = log_prefix(&cfg.log_prefix, Event::Enter, Some(&d.name));
        let ec = enter_chain(&d.name);
        add(
            &ec,
            format!(
                "-m comment --comment \"{}\" {}",
                counter_comment("entries", &d.name),
                log(&enter_log)
            ),
        );
        add(&ec, format!("-j {pass}"));

        let open = recent_list(d, &d.sequence, None, f);
        // goto: when these chains return, DOORS is done too.
        add(
            DOORS,
            format!(
                "{} {} -g {ec}",
                port_match(d.port),
                rcheck(&open, d.door_timeout.as_secs())
            ),
        );
        if guard {
            add(
                DOORS,
                format!(
                    "{} -m set --match-set {} src -g {TRANSIENT}",
                    port_match(d.port),
                    ipset_name(f)
                ),
            );
            let reject = match (d.port.proto, f) {
                (Proto::Tcp, _) => "tcp-reset",
                (Proto::Udp, Family::V4) => "icmp-port-unreachable",
                (Proto::Udp, Family::V6) => "icmp6-port-unreachable",
            };
            add(
                DOORS,
                format!("{} -j REJECT --reject-with {reject}", port_match(d.port)),
            );
        } else {
            add(DOORS, format!("{} -j DROP", port_match(d.port)));
        }
    }
    // Group the rules by chain, in the order the chains are declared.
    let position = |rule: &String| {
        rule.strip_prefix("-A ")
            .and_then(|l| l.split_whitespace().next())
            .and_then(|c| chains.iter().position(|x| x == c))
            .map_or(0, |i| i + 1)
    };
    r.sort_by_key(position);
    Rules { chains, rules: r }
}

/// An iptables-restore script: declaring a chain with --noflush empties
/// it; `preamble` (removing old jumps and chains) goes before the rules.
fn script(rules: &Rules, preamble: &[String]) -> String {
    let mut o = String::from("*filter\n");
    for c in &rules.chains {
        let _ = writeln!(o, ":{c} - [0:0]");
    }
    for p in preamble.iter().chain(&rules.rules) {
        let _ = writeln!(o, "{p}");
    }
    o.push_str("COMMIT\n");
    o
}

/// Puts `preamble` before the first rule of a saved script.
fn with_preamble(saved: &str, preamble: &[String]) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in saved.lines() {
        if !done && line.starts_with('-') {
            for p in preamble {
                out += p;
                out.push('\n');
            }
            done = true;
        }
        out += line;
        out.push('\n');
    }
    out
}

pub fn render(cfg: &Config) -> String {
    let mut o = format!(
        "# nfknock ruleset, mode \"{}\", iptables backend. Generated by `nfknock\n\
         # apply`: edit nfknock.toml, not this. nfknock owns the chains {MAIN} and\n\
         # NFK-* and one jump from INPUT; no other rule is touched.\n",
        cfg.mode
    );
    for tool in &TOOLS {
        o += if tool.family == Family::V4 {
            V4_MARKER
        } else {
            V6_MARKER
        };
        o.push('\n');
        o += &script(&rules(cfg, tool.family), &[]);
    }
    o
}

/// Splits a rendered ruleset into its IPv4 and IPv6 scripts.
fn split(saved: &str) -> Result<[String; 2], Error> {
    let v4 = saved.find(V4_MARKER);
    let v6 = saved.find(V6_MARKER);
    match (v4, v6) {
        (Some(a), Some(b)) if a < b => Ok([saved[a..b].to_string(), saved[b..].to_string()]),
        _ => Err(Error::Foreign("no IPv4 and IPv6 parts".into())),
    }
}

/// What one family's filter table holds of nfknock's now.
struct Current {
    chains: Vec<String>,
    jumps: usize,
}

fn ours(chain: &str) -> bool {
    chain == MAIN || chain.starts_with("NFK-")
}

fn current(tool: &Tool) -> Result<Current, Error> {
    let text = run(tool.save, PACKAGE, &["-t", "filter"], None)?;
    let chains = text
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| ours(c))
        .map(str::to_string)
        .collect();
    let jump = format!("-A INPUT -j {MAIN}");
    let jumps = text.lines().filter(|l| l.trim() == jump).count();
    Ok(Current { chains, jumps })
}

/// Removes every jump to nfknock from INPUT, and the chains the new rules
/// no longer have.
fn preamble(cur: &Current, keep: &[String]) -> Vec<String> {
    let mut p: Vec<String> = (0..cur.jumps)
        .map(|_| format!("-D INPUT -j {MAIN}"))
        .collect();
    for c in cur.chains.iter().filter(|c| !keep.contains(c)) {
        p.push(format!("-F {c}"));
    }
    for c in cur.chains.iter().filter(|c| !keep.contains(c)) {
        p.push(format!("-X {c}"));
    }
    p
}

fn ipset(args: &[&str], input: Option<&str>) -> Result<String, Error> {
    run(IPSET, IPSET, args, input)
}

fn create_ipsets() -> Result<(), Error> {
    for f in Family::ALL {
        let family = if f == Family::V4 { "inet" } else { "inet6" };
        let max = SET_SIZE.to_string();
        ipset(
            &[
                "create",
                "-exist",
                &ipset_name(f),
                "hash:net",
                "family",
                family,
                "timeout",
                "0",
                "maxelem",
                &max,
            ],
            None,
        )?;
    }
    Ok(())
}

/// Loads one script per family: both are checked first, then loaded; if
/// the second fails, the first family's previous rules are put back.
fn load(scripts: [String; 2], previous: [String; 2]) -> Result<(), Error> {
    for (tool, s) in TOOLS.iter().zip(&scripts) {
        run(tool.restore, PACKAGE, &["--test", "--noflush"], Some(s))?;
    }
    run(TOOLS[0].restore, PACKAGE, &["--noflush"], Some(&scripts[0]))?;
    if let Err(e) = run(TOOLS[1].restore, PACKAGE, &["--noflush"], Some(&scripts[1])) {
        let _ = run(
            TOOLS[0].restore,
            PACKAGE,
            &["--noflush"],
            Some(&previous[0]),
        );
        return Err(e);
    }
    Ok(())
}

/// A script that puts back what one family had of nfknock's (or nothing).
fn snapshot(tool: &Tool) -> Result<String, Error> {
    let text = run(tool.save, PACKAGE, &["-t", "filter"], None)?;
    let cur = current(tool)?;
    let mut o = String::from("*filter\n");
    for c in &cur.chains {
        let _ = writeln!(o, ":{c} - [0:0]");
    }
    // Whatever the new rules added is removed again by the caller's next
    // apply; here only nfknock's own lines matter.
    for line in text.lines() {
        let ours_line = line
            .strip_prefix("-A ")
            .and_then(|l| l.split_whitespace().next())
            .is_some_and(|c| {
                ours(c) || (c == "INPUT" && line.trim() == format!("-A INPUT -j {MAIN}"))
            });
        if ours_line {
            let _ = writeln!(o, "{line}");
        }
    }
    o.push_str("COMMIT\n");
    Ok(o)
}

impl Backend for Iptables {
    fn render(&self, cfg: &Config) -> String {
        render(cfg)
    }

    fn apply(&self, cfg: &Config) -> Result<String, Error> {
        create_ipsets()?;
        let mut scripts = [String::new(), String::new()];
        let mut previous = [String::new(), String::new()];
        for (i, tool) in TOOLS.iter().enumerate() {
            let r = rules(cfg, tool.family);
            let cur = current(tool)?;
            previous[i] = snapshot(tool)?;
            scripts[i] = script(&r, &preamble(&cur, &r.chains));
        }
        load(scripts, previous)?;
        // Transient networks last until the next apply.
        for f in Family::ALL {
            ipset(&["flush", &ipset_name(f)], None)?;
        }
        Ok(render(cfg))
    }

    fn restore(&self, saved: &str) -> Result<(), Error> {
        let parts = split(saved)?;
        for p in &parts {
            only_nfknock_chains(p).map_err(Error::Foreign)?;
        }
        create_ipsets()?;
        let mut scripts = [String::new(), String::new()];
        let mut previous = [String::new(), String::new()];
        for (i, tool) in TOOLS.iter().enumerate() {
            let keep: Vec<String> = parts[i]
                .lines()
                .filter_map(|l| l.strip_prefix(':'))
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_string)
                .collect();
            let cur = current(tool)?;
            previous[i] = snapshot(tool)?;
            scripts[i] = with_preamble(&parts[i], &preamble(&cur, &keep));
        }
        load(scripts, previous)
    }

    fn remove(&self) -> Result<bool, Error> {
        let mut any = false;
        let mut scripts = [String::new(), String::new()];
        let mut previous = [String::new(), String::new()];
        for (i, tool) in TOOLS.iter().enumerate() {
            let cur = current(tool)?;
            any |= !cur.chains.is_empty() || cur.jumps > 0;
            previous[i] = snapshot(tool)?;
            scripts[i] = script(
                &Rules {
                    chains: vec![],
                    rules: vec![],
                },
                &preamble(&cur, &[]),
            );
        }
        if any {
            load(scripts, previous)?;
        }
        for f in Family::ALL {
            // Gone already is fine; in use (by someone else's rule) is not.
            if let Err(e) = ipset(&["destroy", &ipset_name(f)], None)
                && !e.to_string().contains("does not exist")
            {
                return Err(e);
            }
        }
        Ok(any)
    }

    fn loaded(&self) -> Result<bool, Error> {
        Ok(!current(&TOOLS[0])?.chains.is_empty() || !current(&TOOLS[1])?.chains.is_empty())
    }

    fn status(&self) -> Result<Status, Error> {
        let mut status = Status {
            backend: "iptables".into(),
            ..Status::default()
        };
        let mut saves = Vec::new();
        for tool in &TOOLS {
            saves.push(run(tool.save, PACKAGE, &["-c", "-t", "filter"], None)?);
        }
        status.loaded = saves.iter().any(|s| s.contains(&format!(":{MAIN} ")));
        if !status.loaded {
            return Ok(status);
        }
        let all = saves.join("\n");
        let timeouts = list_timeouts(&all);
        let clock = Clock::now();
        let mut lists: Vec<String> = timeouts.keys().cloned().collect();
        lists.sort();
        for list in lists {
            let Some((door, stage)) = parse_recent_list(&list) else {
                continue;
            };
            let d = status.door_mut(&door);
            d.knocks = d.knocks.max(stage + 1);
            let text =
                std::fs::read_to_string(format!("/proc/net/xt_recent/{list}")).unwrap_or_default();
            for (address, last_seen) in parse_recent_entries(&text) {
                let Some(clock) = &clock else { break };
                let left = timeouts[&list] as f64 - clock.seconds_since(last_seen);
                // `recent` keeps stale entries until reaped: not in the kernel's eyes.
                if left > 0.0 {
                    d.add_source(stage, address, left.round());
                }
            }
        }
        for d in &mut status.doors {
            let count = |kind: &str| counter(&all, &counter_comment(kind, &d.name));
            d.counters = Counters {
                knocks: count("knocks"),
                entries: count("entries"),
                resets: count("resets"),
            };
        }
        status.transient = self.transient_list()?;
        Ok(status)
    }

    fn transient_add(&self, nets: &[IpNet], timeout: Option<Duration>) -> Result<(), Error> {
        require_loaded()?;
        let t = timeout.map_or(0, |t| t.as_secs().max(1));
        transient_script("add", nets, &format!(" timeout {t}"))
    }

    fn transient_del(&self, nets: &[IpNet]) -> Result<(), Error> {
        require_loaded()?;
        transient_script("del", nets, "")
    }

    fn transient_flush(&self) -> Result<(), Error> {
        require_loaded()?;
        for f in Family::ALL {
            ipset(&["flush", &ipset_name(f)], None)?;
        }
        Ok(())
    }

    fn transient_list(&self) -> Result<Vec<Transient>, Error> {
        require_loaded()?;
        let mut out = Vec::new();
        for f in Family::ALL {
            let text = ipset(&["list", &ipset_name(f), "-o", "save"], None)?;
            out.extend(parse_ipset_save(&text, f));
        }
        Ok(out)
    }
}

fn require_loaded() -> Result<(), Error> {
    for f in Family::ALL {
        if ipset(&["list", "-n", &ipset_name(f)], None).is_err() {
            return Err(Error::NotLoaded);
        }
    }
    Ok(())
}

fn transient_script(verb: &str, nets: &[IpNet], suffix: &str) -> Result<(), Error> {
    let mut s = String::new();
    for net in nets {
        let f = match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        };
        let _ = writeln!(s, "{verb} {} {}{suffix}", ipset_name(f), net.trunc());
    }
    ipset(&["restore"], Some(&s)).map(|_| ())
}

fn parse_ipset_save(text: &str, f: Family) -> Vec<Transient> {
    let host = if f == Family::V4 { 32 } else { 128 };
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            if w.next()? != "add" {
                return None;
            }
            let _set = w.next()?;
            let net = w.next()?;
            let timeout = match (w.next(), w.next()) {
                (Some("timeout"), Some(t)) => t.parse::<f64>().ok().filter(|t| *t > 0.0),
                _ => None,
            };
            Some(Transient {
                network: if net.contains('/') {
                    net.to_string()
                } else {
                    format!("{net}/{host}")
                },
                expires_in: timeout,
            })
        })
        .collect()
}

/// The timeout of every `recent` list, from the rules that check it.
fn list_timeouts(save: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for line in save.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if *w == "--rcheck" && words.get(i + 1) == Some(&"--seconds") {
                let secs = words.get(i + 2).and_then(|s| s.parse().ok());
                let name = words[i..]
                    .windows(2)
                    .find(|p| p[0] == "--name")
                    .map(|p| p[1]);
                if let (Some(secs), Some(name)) = (secs, name) {
                    out.insert(name.to_string(), secs);
                }
            }
        }
    }
    out
}

/// The packets counted by the rules carrying `comment`, both families.
fn counter(save: &str, comment: &str) -> u64 {
    let quoted = format!("--comment \"{comment}\"");
    let bare = format!("--comment {comment} ");
    save.lines()
        .filter(|l| l.contains(&quoted) || l.contains(&bare))
        .filter_map(|l| {
            let inner = l.strip_prefix('[')?.split(']').next()?;
            inner.split(':').next()?.parse::<u64>().ok()
        })
        .sum()
}

/// `src=192.0.2.2 ttl: 64 last_seen: 4295383281 oldest_pkt: ...`
fn parse_recent_entries(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let addr: std::net::IpAddr = l
                .split_whitespace()
                .next()?
                .strip_prefix("src=")?
                .parse()
                .ok()?;
            let mut w = l.split_whitespace();
            w.find(|x| *x == "last_seen:")?;
            let seen = w.next()?.parse().ok()?;
            // The kernel prints IPv6 in full; show it compressed.
            Some((addr.to_string(), seen))
        })
        .collect()
}

/// The kernel's jiffies clock, which `recent` lists are stamped with.
struct Clock {
    jiffies: u64,
    hz: f64,
}

impl Clock {
    /// Reads jiffies and uptime; the kernel starts jiffies 300 s before
    /// wrapping 32 bits, which gives HZ.
    fn now() -> Option<Clock> {
        let timer = std::fs::read_to_string("/proc/timer_list").ok()?;
        let jiffies: u64 = timer
            .lines()
            .find_map(|l| l.strip_prefix("jiffies: "))?
            .trim()
            .parse()
            .ok()?;
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let since_start = jiffies.checked_sub(1 << 32)? as f64;
        let estimate = since_start / (uptime - 300.0);
        let hz = [100.0, 250.0, 300.0, 1000.0]
            .into_iter()
            .min_by(|a: &f64, b: &f64| (a - estimate).abs().total_cmp(&(b - estimate).abs()))?;
        Some(Clock { jiffies, hz })
    }

    fn seconds_since(&self, stamp: u64) -> f64 {
        self.jiffies.saturating_sub(stamp) as f64 / self.hz
    }
}

/// A saved script may only touch nfknock's chains and INPUT's jump.
fn only_nfknock_chains(script: &str) -> Result<(), String> {
    for (i, line) in script.lines().enumerate() {
        let l = line.trim();
        let ok = l.is_empty()
            || l.starts_with('#')
            || l == "*filter"
            || l == "COMMIT"
            || l == format!("-I INPUT 1 -j {MAIN}")
            || l.strip_prefix(':')
                .and_then(|c| c.split_whitespace().next())
                .is_some_and(ours)
            || l.strip_prefix("-A ")
                .and_then(|c| c.split_whitespace().next())
                .is_some_and(ours);
        if !ok {
            return Err(format!("line {}: `{l}`", i + 1));
        }
    }
    Ok(())
}

/// Checks that a configuration fits this backend: `recent` counts whole
/// seconds and LOG keeps 29 characters of prefix.
pub fn fits(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    for d in &cfg.doors {
        for (key, t) in [
            ("sequence_timeout", d.sequence_timeout),
            ("door_timeout", d.door_timeout),
        ] {
            if t.subsec_millis() != 0 {
                problems.push(format!(
                    "door \"{}\": {key}: the iptables backend counts whole seconds",
                    d.name
                ));
            }
        }
        let longest = log_prefix(&cfg.log_prefix, Event::Reset, Some(&d.name));
        if longest.len() > MAX_LOG_PREFIX {
            problems.push(format!(
                "door \"{}\": name: with [log] prefix \"{}\", the log prefix `{longest}` is longer than the {MAX_LOG_PREFIX} characters iptables keeps; shorten the door name or the prefix",
                d.name, cfg.log_prefix
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(text: &str) -> Config {
        crate::config::parse(text, Path::new("t.toml")).unwrap()
    }

    const ONE_DOOR: &str = r#"
backend = "iptables"
[[door]]
name = "a_b"
port = "22/tcp"
sequence = ["1000/tcp", "2000/udp", "3000/tcp"]
"#;

    #[test]
    fn list_names_round_trip() {
        let c = cfg(ONE_DOOR);
        let d = &c.doors[0];
        assert_eq!(
            parse_recent_list(&recent_list(d, &d.sequence, Some(2), Family::V6)),
            Some(("a_b".into(), 2))
        );
        assert_eq!(
            parse_recent_list(&recent_list(d, &d.sequence, None, Family::V4)),
            Some(("a_b".into(), 0))
        );
        assert_eq!(parse_recent_list("other"), None);
    }

    #[test]
    fn render_splits_into_families_that_touch_only_nfknock() {
        let text = render(&cfg(ONE_DOOR));
        let [v4, v6] = split(&text).unwrap();
        assert!(v4.contains("icmp-port-unreachable") || !v4.contains("udp --dport 22"));
        for part in [&v4, &v6] {
            only_nfknock_chains(part).unwrap();
            assert_eq!(part.matches("-I INPUT 1 -j NFKNOCK").count(), 1);
        }
        assert!(only_nfknock_chains("*filter\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n").is_err());
        assert!(only_nfknock_chains("-F\n").is_err());
    }

    #[test]
    fn preamble_removes_every_jump_and_stale_chains() {
        let cur = Current {
            chains: vec!["NFKNOCK".into(), "NFK-K-old".into()],
            jumps: 2,
        };
        let p = preamble(&cur, &["NFKNOCK".to_string()]);
        assert_eq!(
            p,
            vec![
                "-D INPUT -j NFKNOCK",
                "-D INPUT -j NFKNOCK",
                "-F NFK-K-old",
                "-X NFK-K-old"
            ]
        );
        let saved = "*filter\n:NFKNOCK - [0:0]\n-I INPUT 1 -j NFKNOCK\nCOMMIT\n";
        assert_eq!(
            with_preamble(saved, &p[..1]),
            "*filter\n:NFKNOCK - [0:0]\n-D INPUT -j NFKNOCK\n-I INPUT 1 -j NFKNOCK\nCOMMIT\n"
        );
    }

    #[test]
    fn reads_counters_timeouts_entries_and_ipsets() {
        let save = "[3:180] -A NFK-OPEN-ssh -m comment --comment \"nfknock:knocks:ssh\" -j LOG\n\
                    [2:120] -A NFK-OPEN-ssh -m comment --comment nfknock:knocks:ssh -j LOG\n\
                    [0:0] -A NFK-K-ssh -p tcp -m recent --rcheck --seconds 10 --reap --name L1 --mask 255.255.255.255 --rsource -j RETURN\n";
        assert_eq!(counter(save, "nfknock:knocks:ssh"), 5);
        assert_eq!(list_timeouts(save).get("L1"), Some(&10));
        assert_eq!(
            parse_recent_entries(
                "src=2001:0db8:0000:0000:0000:0000:0000:0002 ttl: 64 last_seen: 4295383281 oldest_pkt: 1 4295383281\n"
            ),
            vec![("2001:db8::2".to_string(), 4295383281)]
        );
        let t = parse_ipset_save(
            "create s hash:net family inet\nadd s 192.0.2.0/24 timeout 59\nadd s 198.51.100.7 timeout 0\n",
            Family::V4,
        );
        assert_eq!(t[0].network, "192.0.2.0/24");
        assert_eq!(t[0].expires_in, Some(59.0));
        assert_eq!(t[1].network, "198.51.100.7/32");
        assert_eq!(t[1].expires_in, None);
    }

    #[test]
    fn configs_that_do_not_fit() {
        // check refuses them: validation asks this backend.
        let err = |t: &str| {
            crate::config::parse(t, Path::new("t.toml"))
                .unwrap_err()
                .to_string()
        };
        let e = err(&ONE_DOOR.replace("a_b", "a-very-long-door"));
        assert!(e.contains("longer than the 29 characters"), "{e}");
        let e = err(&format!("sequence_timeout = \"1500ms\"\n{ONE_DOOR}"));
        assert!(
            e.contains("door \"a_b\": sequence_timeout: the iptables backend counts whole seconds"),
            "{e}"
        );
        assert!(fits(&cfg(ONE_DOOR)).is_empty());
        // The same doors are fine with nftables.
        cfg(&ONE_DOOR
            .replace("a_b", "a-very-long-door")
            .replace("iptables", "nftables"));
    }
}
