//! The nftables backend: everything lives in nfknock's own `inet` table.
//!
//! A door's knock state is one set per stage and family: `stage<i>_<door>`
//! holds the sources that sent the first i knocks, `open_<door>` those that
//! sent them all. Per-element timeouts expire them; no daemon takes part.

use std::fmt::Write as _;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::names::Counter;
use super::names::nft::{ALLOW_COMMENT, TRANSIENT_COMMENT};
use super::plan::{
    Answer, DoorPlan, DoorRule, ForwardRule, Knockers, Line, NFT_SETS, Next, Plan, State, StateSet,
};
use super::run::{Error, run};
use super::{Backend, Counters, Family, SET_SIZE, Status, Transient, log_prefix, names};
use crate::config::{Backend as BackendKind, Event, Interface, Mode};
use crate::port::{PortRange, PortSpec, Proto};

const NFT: &str = "nft";
const PACKAGE: &str = "nftables";
/// Guard mode runs just before the usual filter chains (ufw, firewalld,
/// iptables-nft all use priority `filter`), so a closed door is refused
/// whatever they would do; everything else goes on to them untouched.
const GUARD_PRIORITY: &str = "filter - 5";
const FIREWALL_PRIORITY: &str = "filter";
/// Diagnostics only: a port scan must not flood the kernel log.
const RESET_LOG_RATE: &str = "6/minute";
/// The ICMPv6 types IPv6 needs to work at all (neighbour discovery).
const ND_TYPES: &str =
    "nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert";
/// The ICMPv6 errors a router must pass (RFC 4890 4.3.1).
const ROUTING_ICMPV6_TYPES: &str =
    "destination-unreachable, packet-too-big, time-exceeded, parameter-problem";

pub struct Nftables;

impl Backend for Nftables {
    fn render(&self, plan: &Plan) -> String {
        render(plan)
    }

    fn apply(&self, plan: &Plan) -> Result<String, Error> {
        let ruleset = render(plan);
        let current = table_state()?;
        let script = replacement(current.as_ref(), plan) + &ruleset;
        // One transaction: the kernel takes all of it or none (no `-c`
        // dry run first, which would compile the whole ruleset twice).
        nft(&["-f", "-"], Some(&script))?;
        Ok(ruleset)
    }

    fn remove(&self) -> Result<bool, Error> {
        if table_state()?.is_none() {
            return Ok(false);
        }
        nft(&["delete", "table", "inet", names::nft::TABLE], None)?;
        Ok(true)
    }

    fn loaded(&self) -> Result<bool, Error> {
        Ok(table_state()?.is_some())
    }

    fn status(&self) -> Result<Status, Error> {
        Ok(status_of(table_state()?.as_ref()))
    }

    fn transient_add(&self, nets: &[IpNet], timeout: Option<Duration>) -> Result<(), Error> {
        let suffix = timeout
            .map(|t| format!(" timeout {}", nft_time(t)))
            .unwrap_or_default();
        transient_elements("add", nets, &suffix)
    }

    fn transient_del(&self, nets: &[IpNet]) -> Result<(), Error> {
        transient_elements("delete", nets, "")
    }

    fn transient_flush(&self) -> Result<(), Error> {
        require_table()?;
        let t = format!("inet {}", names::nft::TABLE);
        let script: String = Family::ALL
            .map(|f| format!("flush set {t} {}\n", names::nft::transient_set(f)))
            .concat();
        nft(&["-f", "-"], Some(&script)).map(|_| ())
    }

    fn transient_list(&self) -> Result<Vec<Transient>, Error> {
        Ok(transient_of(&table_state()?.ok_or(Error::NotLoaded)?))
    }
}

fn transient_of(table: &TableState) -> Vec<Transient> {
    let mut out = Vec::new();
    for family in Family::ALL {
        let name = names::nft::transient_set(family);
        if let Some(set) = table.sets.iter().find(|s| s.name == name) {
            let host_len = match family {
                Family::V4 => 32,
                Family::V6 => 128,
            };
            out.extend(set.elements.iter().filter_map(|e| {
                Some(Transient {
                    // Always a network, as it was added: nft lists hosts bare.
                    network: if e.address.contains('/') {
                        e.address.parse().ok()?
                    } else {
                        format!("{}/{host_len}", e.address).parse().ok()?
                    },
                    expires_in: e.timed.then_some(e.expires),
                })
            }));
        }
    }
    out
}

fn require_table() -> Result<(), Error> {
    let args = ["list", "table", "inet", names::nft::TABLE];
    match nft(&args, None) {
        Ok(_) => Ok(()),
        Err(Error::Failed { message, .. }) if message.contains("No such file or directory") => {
            Err(Error::NotLoaded)
        }
        Err(e) => Err(e),
    }
}

/// Adds or deletes networks of both families in one transaction.
fn transient_elements(verb: &str, nets: &[IpNet], suffix: &str) -> Result<(), Error> {
    require_table()?;
    let t = format!("inet {}", names::nft::TABLE);
    let mut script = String::new();
    for net in nets {
        let family = match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        };
        script += &format!(
            "{verb} element {t} {} {{ {}{suffix} }}\n",
            names::nft::transient_set(family),
            net.trunc()
        );
    }
    nft(&["-f", "-"], Some(&script)).map(|_| ())
}

fn nft(args: &[&str], input: Option<&str>) -> Result<String, Error> {
    run(NFT, PACKAGE, args, input)
}

// ---- printing the plan (pure) ---------------------------------------------

/// A knock-state set as declared: its name and a comment that says what
/// it means, with the fingerprint of that meaning, so a re-apply keeps the
/// set (and the sources in it) exactly when the meaning did not change.
struct Declared {
    name: String,
    family: Family,
    timeout: Duration,
    comment: String,
}

fn declared(set: &StateSet, family: Family, knocks: usize) -> Declared {
    let fp = set.fingerprint(family, NFT_SETS);
    let comment = match &set.state {
        State::Sent { door, sent, .. } => {
            format!("{door}: sent knock {} of {knocks} [{fp:08x}]", sent.len())
        }
        State::Open { door, ports, .. } => {
            format!("{door}: may open {} [{fp:08x}]", ports_text(ports))
        }
        State::Knocking => format!("in the middle of a sequence [{fp:08x}]"),
    };
    Declared {
        name: names::nft::state_set(set, family),
        family,
        timeout: set.timeout,
        comment,
    }
}

/// A door's sets in the order they are declared: per family, each line's
/// stages, then the open set.
fn door_sets(door: &DoorPlan) -> Vec<Declared> {
    let mut sets = Vec::new();
    for family in Family::ALL {
        for line in &door.lines {
            for stage in &line.stages {
                sets.push(declared(&stage.set, family, line.len()));
            }
        }
        sets.push(declared(&door.open, family, 0));
    }
    sets
}

fn knocking_sets(plan: &Plan) -> Vec<Declared> {
    Family::ALL
        .into_iter()
        .map(|f| declared(&plan.knocking, f, 0))
        .collect()
}

/// Comments hold at most 128 bytes: a long list of ports is counted.
const MAX_PORTS_TEXT: usize = 64;

/// A door's ports for a comment: `22/tcp`, `22/tcp 60000-61000/udp`, or
/// `7 ports and ranges` when that is too long.
fn ports_text(ports: &[PortRange]) -> String {
    let all: Vec<String> = ports.iter().map(PortRange::to_string).collect();
    let text = all.join(" ");
    if text.len() <= MAX_PORTS_TEXT {
        text
    } else {
        format!("{} ports and ranges", ports.len())
    }
}

/// A door's port or range in nft's syntax: `22`, `60000-61000`.
fn nft_range(r: &PortRange) -> String {
    if r.is_single() {
        r.low.to_string()
    } else {
        format!("{}-{}", r.low, r.high)
    }
}

fn render_state_set(w: &mut String, set: &Declared) {
    let _ = writeln!(w, "	set {} {{", set.name);
    let _ = writeln!(w, "		type {}", addr_type(set.family));
    let _ = writeln!(w, "		size {SET_SIZE}");
    let _ = writeln!(w, "		flags dynamic,timeout");
    let _ = writeln!(w, "		timeout {}", nft_time(set.timeout));
    let _ = writeln!(w, "		comment \"{}\"", set.comment);
    let _ = writeln!(w, "	}}");
}

/// nft's time syntax: whole seconds as `10s`, else milliseconds.
fn nft_time(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn addr_type(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4_addr",
        Family::V6 => "ipv6_addr",
    }
}

fn saddr(f: Family) -> &'static str {
    match f {
        Family::V4 => "ip saddr",
        Family::V6 => "ip6 saddr",
    }
}

/// The key of a door's open set for a packet: its source, masked to the
/// door's open prefix (`ip saddr & 255.255.255.0`). Every rule that adds,
/// looks up or removes an element of the set uses it, so all agree.
fn open_key(door: &DoorPlan, f: Family) -> String {
    match door.open_prefix(f) {
        Some(len) => format!("{} & {}", saddr(f), super::plan::netmask(f, len)),
        None => saddr(f).to_string(),
    }
}

fn nfproto(f: Family) -> &'static str {
    match f {
        Family::V4 => "meta nfproto ipv4",
        Family::V6 => "meta nfproto ipv6",
    }
}

/// Matches one knock or a new connection: for TCP only a bare SYN (what a
/// connect sends), so ACK or FIN scans never count as a knock.
fn port_match(p: PortSpec) -> String {
    match p.proto {
        Proto::Tcp => format!("tcp dport {} tcp flags syn / fin,syn,rst,ack", p.port),
        Proto::Udp => format!("udp dport {}", p.port),
    }
}

/// The ruleset of a plan: nfknock's whole `inet` table.
pub fn render(plan: &Plan) -> String {
    let mut o = String::new();
    let w = &mut o;
    let _ = writeln!(
        w,
        "# nfknock ruleset, mode \"{}\". Generated by `nfknock apply`: edit\n\
         # nfknock.toml, not this. Only table inet {} is nfknock's; no other\n\
         # table is flushed or touched.",
        plan.mode,
        names::nft::TABLE
    );
    let _ = writeln!(w, "table inet {} {{", names::nft::TABLE);

    let _ = writeln!(
        w,
        "\t# [allow]: these networks pass {} without knocking.",
        match plan.mode {
            Mode::Guard => "the doors",
            Mode::Firewall => "the whole firewall",
        }
    );
    let allow_v4: Vec<String> = plan.allow.ipv4.iter().map(|n| n.to_string()).collect();
    let allow_v6: Vec<String> = plan.allow.ipv6.iter().map(|n| n.to_string()).collect();
    for (family, elements) in [(Family::V4, allow_v4), (Family::V6, allow_v6)] {
        let _ = writeln!(w, "\tset {} {{", names::nft::allow_set(family));
        let _ = writeln!(w, "\t\ttype {}", addr_type(family));
        let _ = writeln!(w, "\t\tflags interval");
        let _ = writeln!(w, "\t\tcomment \"{ALLOW_COMMENT}\"");
        if !elements.is_empty() {
            let _ = writeln!(w, "\t\telements = {{ {} }}", elements.join(", "));
        }
        let _ = writeln!(w, "\t}}\n");
    }

    let _ = writeln!(
        w,
        "\t# `nfknock transient add`: networks let through {} until the next\n\t# apply or reboot.",
        match plan.mode {
            Mode::Guard => "the doors",
            Mode::Firewall => "the whole firewall",
        }
    );
    for family in Family::ALL {
        let _ = writeln!(w, "\tset {} {{", names::nft::transient_set(family));
        let _ = writeln!(w, "\t\ttype {}", addr_type(family));
        let _ = writeln!(w, "\t\tsize {SET_SIZE}");
        let _ = writeln!(w, "\t\tflags interval,timeout");
        let _ = writeln!(w, "\t\tcomment \"{TRANSIENT_COMMENT}\"");
        let _ = writeln!(w, "\t}}\n");
    }

    for door in &plan.doors {
        render_door_state(w, door);
    }
    let _ = writeln!(
        w,
        "\t# Sources in the middle of any door's sequence, for the knocking chain."
    );
    for set in knocking_sets(plan) {
        render_state_set(w, &set);
    }
    let _ = writeln!(w);

    render_input(w, plan);
    if plan.redirects_meet_doors_first() {
        render_redirected(w, plan);
    }
    render_knocking_chain(w, plan);
    for door in &plan.doors {
        for line in &door.lines {
            render_knock_chain(w, plan, door, line);
        }
    }
    render_forward(w, plan);
    for door in &plan.doors {
        render_door_chain(w, plan, door);
    }
    // Chains end with a blank line; the last one needs none.
    if w.ends_with("\n\n") {
        w.pop();
    }
    let _ = writeln!(w, "}}");
    o
}

fn render_door_state(w: &mut String, door: &DoorPlan) {
    let seq: Vec<String> = door.sequence.iter().map(|k| k.to_string()).collect();
    let _ = writeln!(
        w,
        "\t# Door \"{}\": {} {} for {} to a source that knocks\n\
         \t# {}, each knock within {} of the last.",
        door.name,
        ports_text(&door.ports),
        if door.ports.len() == 1 && door.ports[0].is_single() {
            "opens"
        } else {
            "open"
        },
        humantime::format_duration(door.door_timeout),
        seq.join(" "),
        humantime::format_duration(door.sequence_timeout)
    );
    if let Some(r) = &door.rotation {
        let knocks = |s: &[PortSpec]| -> String {
            s.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(
            w,
            "\t# That is period {} of a sequence rotating every {}; the previous\n\
             \t# period's, {}, and the next period's,\n\
             \t# {}, are accepted too.",
            r.period,
            humantime::format_duration(r.every),
            knocks(&r.previous),
            knocks(&r.next)
        );
    }
    for set in door_sets(door) {
        render_state_set(w, &set);
    }
    render_from_sets(w, door);
    for kind in Counter::ALL {
        let _ = writeln!(
            w,
            "\tcounter {} {{\n\t}}",
            names::nft::counter(kind, &door.name)
        );
    }
    let _ = writeln!(w);
}

/// The door's `from` networks, an interval set per family that has any.
fn render_from_sets(w: &mut String, door: &DoorPlan) {
    for family in Family::ALL {
        if let Knockers::Only(nets) = door.knockers(family) {
            let nets: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
            let _ = writeln!(w, "\tset {} {{", names::nft::from_set(&door.name, family));
            let _ = writeln!(w, "\t\ttype {}", addr_type(family));
            let _ = writeln!(w, "\t\tflags interval");
            let _ = writeln!(w, "\t\tcomment \"{}: from\"", door.name);
            let _ = writeln!(w, "\t\telements = {{ {} }}", nets.join(", "));
            let _ = writeln!(w, "\t}}");
        }
    }
}

/// An anonymous set of interface names: `{ "eth0", "wg0" }`.
fn ifname_set(interfaces: &[Interface]) -> String {
    let names: Vec<String> = interfaces.iter().map(|i| format!("\"{i}\"")).collect();
    format!("{{ {} }}", names.join(", "))
}

/// The input chain. Its order is the packet path's cost: an established
/// packet meets one rule, as under any stateful firewall; a NEW one that is
/// neither a knock nor for a door meets loopback, one lookup of its source
/// among the sources in the middle of a sequence, and (guard mode) one
/// lookup of its port among first knocks and doors, or (firewall mode) the
/// `[firewall] open` ports first (bench/packet.sh measures it; a packet
/// redirected here meets the doors before them). `[allow]`
/// and transient networks are looked up only where they decide something:
/// in guard mode at the doors, in firewall mode for what no open port lets
/// in; the knocking chain passes them over.
fn render_input(w: &mut String, plan: &Plan) {
    let (priority, policy) = match plan.mode {
        Mode::Guard => (GUARD_PRIORITY, "accept"),
        Mode::Firewall => (FIREWALL_PRIORITY, "drop"),
    };
    let _ = writeln!(w, "\tchain {} {{", names::nft::INPUT_CHAIN);
    let _ = writeln!(
        w,
        "\t\ttype filter hook input priority {priority}; policy {policy};"
    );
    let _ = writeln!(
        w,
        "\t\tct state established,related accept comment \"nothing established is ever cut\""
    );
    let _ = writeln!(
        w,
        "\t\tiif \"lo\" accept comment \"loopback is never filtered\""
    );
    if plan.mode == Mode::Firewall {
        let _ = writeln!(
            w,
            "\t\ticmpv6 type {{ {ND_TYPES} }} accept comment \"IPv6 neighbour discovery\""
        );
        let _ = writeln!(w, "\t\tct state invalid drop");
    }
    let _ = writeln!(
        w,
        "\t\t# A source in the middle of a sequence: whatever it sends moves it on or\n\
         \t\t# starts it over."
    );
    for f in Family::ALL {
        let _ = writeln!(
            w,
            "\t\t{} @{} jump {}",
            saddr(f),
            names::nft::state_set(&plan.knocking, f),
            names::nft::KNOCKING_CHAIN
        );
    }
    if plan.redirects_meet_doors_first() {
        let _ = writeln!(
            w,
            "\t\tct status dnat jump {} comment \"redirected here: a door's port stays the door's\"",
            names::nft::REDIRECTED_CHAIN
        );
    }
    if plan.mode == Mode::Firewall {
        for proto in [Proto::Tcp, Proto::Udp] {
            let ports = open_ports(plan, proto);
            if !ports.is_empty() {
                let _ = writeln!(
                    w,
                    "\t\t{} dport {{ {} }} accept comment \"[firewall] open\"",
                    proto.as_str(),
                    ports.join(", ")
                );
            }
        }
        // Logged only where the transient network is what lets a packet
        // in, as at a door in guard mode: not on an open port.
        render_allow(w, "accept");
        render_transient(w, plan);
    }
    render_door_dispatch(w, plan, false);
    if plan.mode == Mode::Firewall {
        if plan.firewall.icmp {
            render_icmp(w);
        }
        let _ = writeln!(w, "\t\t# Everything else is dropped (policy drop).");
    }
    let _ = writeln!(w, "\t}}\n");
}

/// The chain a packet redirected to this host (DNAT) takes before the
/// open ports: a door's, by the port the client connected to; `[allow]`
/// and transient networks go back to the input chain, which lets them in.
fn render_redirected(w: &mut String, plan: &Plan) {
    let _ = writeln!(w, "\tchain {} {{", names::nft::REDIRECTED_CHAIN);
    render_allow(w, "return");
    render_transient_return(w);
    render_door_dispatch(w, plan, true);
    let _ = writeln!(w, "\t}}\n");
}

/// `[allow]` networks, with `verdict`: they pass everything in firewall
/// mode (accept, in the input and forward chains), only the doors in guard
/// mode (accept in a door's chain, return from the knocking chain).
fn render_allow(w: &mut String, verdict: &str) {
    for family in Family::ALL {
        let _ = writeln!(
            w,
            "\t\t{} @{} {verdict}",
            saddr(family),
            names::nft::allow_set(family)
        );
    }
}

fn render_transient(w: &mut String, plan: &Plan) {
    let transient = log_prefix(&plan.log_prefix, Event::Transient, None);
    for family in Family::ALL {
        let _ = writeln!(
            w,
            "\t\t{} @{} log prefix \"{transient}\" level info accept",
            saddr(family),
            names::nft::transient_set(family)
        );
    }
}

/// Transient networks pass over the chain: they return from it.
fn render_transient_return(w: &mut String) {
    for family in Family::ALL {
        let _ = writeln!(
            w,
            "\t\t{} @{} return",
            saddr(family),
            names::nft::transient_set(family)
        );
    }
}

fn render_icmp(w: &mut String) {
    let _ = writeln!(w, "\t\tmeta l4proto {{ icmp, ipv6-icmp }} accept");
}

/// The `[firewall] open` ports on `proto`.
fn open_ports(plan: &Plan, proto: Proto) -> Vec<String> {
    plan.firewall
        .open
        .iter()
        .filter(|p| p.proto == proto)
        .map(|p| p.port.to_string())
        .collect()
}

/// Sends every packet that may be for a door to its door's chain, and
/// (unless `doors_only`: the forward hook, a redirected packet) every
/// first knock to the first-knock chain, with one lookup per protocol: a
/// tracked one by the port the client connected to (conntrack's original
/// destination, before any DNAT); unless `doors_only`, one without
/// conntrack (invalid, or untracked by a `notrack` rule) by its
/// destination port, which no NAT changed.
fn render_door_dispatch(w: &mut String, plan: &Plan, doors_only: bool) {
    let entry = |proto: Option<Proto>, range: String, chain: String| match proto {
        Some(p) => format!("{} . {range} : jump {chain}", p.as_str()),
        None => format!("{range} : jump {chain}"),
    };
    // The entries of one map: by protocol (`Some`), or for one protocol
    // (`None`, the protocol matched before the lookup).
    let map = |proto: Option<Proto>| -> Vec<String> {
        let doors = plan.doors.iter().flat_map(|d| {
            d.ports
                .iter()
                .filter(move |r| proto.is_none_or(|p| r.proto == p))
                .map(move |r| (r.proto, nft_range(r), names::nft::door_chain(&d.name)))
        });
        let firsts = plan
            .first_knocks
            .iter()
            .filter(|k| !doors_only && proto.is_none_or(|p| k.proto == p))
            .map(|k| {
                let chain = names::nft::FIRST_KNOCK_CHAIN.to_string();
                (k.proto, k.port.to_string(), chain)
            });
        doors
            .chain(firsts)
            .map(|(p, range, chain)| entry(proto.is_none().then_some(p), range, chain))
            .collect()
    };
    let _ = writeln!(
        w,
        "\t\t# Doors{}: by the port the client connected to, before any NAT.",
        if doors_only { "" } else { " and first knocks" }
    );
    // On input, established and related packets were accepted above and
    // the others have no conntrack entry to read, so only NEW ones match.
    let state = if doors_only { "ct state new " } else { "" };
    for proto in [Proto::Tcp, Proto::Udp] {
        // Ranges are interval keys: nft makes the anonymous map an
        // interval map by itself.
        let entries = map(Some(proto));
        if !entries.is_empty() {
            let _ = writeln!(
                w,
                "\t\t{state}meta l4proto {} ct original proto-dst vmap {{ {} }}",
                proto.as_str(),
                entries.join(", ")
            );
        }
    }
    if doors_only {
        return;
    }
    let _ = writeln!(
        w,
        "\t\tct state invalid,untracked meta l4proto . th dport vmap {{ {} }} comment \"without conntrack, no NAT either\"",
        map(None).join(", ")
    );
}

/// The forward hook sees a door only on a port this host forwards (DNAT:
/// Docker's `-p`, a router's port forward): everything else it routes is
/// none of nfknock's business, unless firewall mode drops forwarded
/// traffic (`plan::ForwardRule`). An accept here ends only this chain:
/// the host's other tables still judge the packet.
fn render_forward(w: &mut String, plan: &Plan) {
    let _ = writeln!(w, "\tchain {} {{", names::nft::FORWARD_CHAIN);
    let _ = writeln!(
        w,
        "\t\ttype filter hook forward priority {GUARD_PRIORITY}; policy accept;"
    );
    for rule in plan.forward_rules() {
        match rule {
            ForwardRule::Established => {
                let _ = writeln!(
                    w,
                    "\t\tct state established,related accept comment \"nothing established is ever cut\""
                );
            }
            ForwardRule::RoutingIcmpv6 => {
                let _ = writeln!(
                    w,
                    "\t\ticmpv6 type {{ {ROUTING_ICMPV6_TYPES} }} accept comment \"IPv6 routing needs these\""
                );
            }
            ForwardRule::Invalid => {
                let _ = writeln!(w, "\t\tct state invalid drop");
            }
            ForwardRule::RoutedGoesOn => {
                let _ = writeln!(
                    w,
                    "\t\tct status & dnat == 0 return comment \"routed, not forwarded: not for a door\""
                );
            }
            ForwardRule::Allow => render_allow(w, "accept"),
            ForwardRule::Transient => render_transient(w, plan),
            ForwardRule::Doors => render_door_dispatch(w, plan, true),
            ForwardRule::Icmp => render_icmp(w),
            ForwardRule::Open => {
                for proto in [Proto::Tcp, Proto::Udp] {
                    let ports = open_ports(plan, proto);
                    if !ports.is_empty() {
                        let _ = writeln!(
                            w,
                            "\t\tmeta l4proto {} ct original proto-dst {{ {} }} accept comment \"[firewall] open, as the client connected to it\"",
                            proto.as_str(),
                            ports.join(", ")
                        );
                    }
                }
            }
            ForwardRule::Drop => {
                let _ = writeln!(
                    w,
                    "\t\tdrop comment \"{}\"",
                    names::nft::FORWARD_DROP_COMMENT
                );
            }
        }
    }
    let _ = writeln!(w, "\t}}\n");
}

/// The knocking chain sends a packet that can change a door's state to
/// every door's knock chains: it comes from a source in the middle of a
/// sequence (the input chain's lookup), or it is a first knock (by way of
/// the first-knock chain, which passes on only sources that were not
/// looked up already, so that no packet knocks twice). Every other packet
/// never gets here, however many doors there are.
fn render_knocking_chain(w: &mut String, plan: &Plan) {
    let _ = writeln!(w, "\tchain {} {{", names::nft::KNOCKING_CHAIN);
    let _ = writeln!(
        w,
        "\t\tct state invalid return comment \"only new packets knock; untracked (notrack) ones are new too\""
    );
    let _ = writeln!(
        w,
        "\t\t# [allow] networks{} never knock.",
        match plan.mode {
            Mode::Guard => "",
            Mode::Firewall => " and transient ones",
        }
    );
    render_allow(w, "return");
    if plan.mode == Mode::Firewall {
        render_transient_return(w);
    }
    for door in &plan.doors {
        // A door with `interfaces` takes knocks from those only.
        let on = if door.interfaces.is_empty() {
            String::new()
        } else {
            format!("iifname {} ", ifname_set(&door.interfaces))
        };
        for line in &door.lines {
            let _ = writeln!(
                w,
                "\t\t{on}jump {}",
                names::nft::knock_chain(&door.name, line.slot)
            );
        }
    }
    let _ = writeln!(w, "\t}}\n");

    let _ = writeln!(w, "\tchain {} {{", names::nft::FIRST_KNOCK_CHAIN);
    let _ = writeln!(
        w,
        "\t\t# A source in the middle of a sequence has been through the knocking chain."
    );
    for f in Family::ALL {
        let _ = writeln!(
            w,
            "\t\t{} @{} return",
            saddr(f),
            names::nft::state_set(&plan.knocking, f)
        );
    }
    let _ = writeln!(w, "\t\tgoto {}", names::nft::KNOCKING_CHAIN);
    let _ = writeln!(w, "\t}}\n");
}

/// The knock state machine of one door's line (see `plan`). A packet that
/// advances a source, or repeats its last knock, returns at once; any other
/// NEW packet from a source mid-sequence deletes it, so a scanner cannot
/// walk the sequence.
fn render_knock_chain(w: &mut String, plan: &Plan, door: &DoorPlan, line: &Line) {
    let n = line.len();
    let knocks = names::nft::counter(Counter::Knocks, &door.name);
    let resets = names::nft::counter(Counter::Resets, &door.name);
    let knock_log = log_prefix(&plan.log_prefix, Event::Knock, Some(&door.name));
    let reset_log = log_prefix(&plan.log_prefix, Event::Reset, Some(&door.name));
    let _ = writeln!(
        w,
        "\tchain {} {{",
        names::nft::knock_chain(&door.name, line.slot)
    );
    for stage in line.stages.iter().rev() {
        let (next, last, i) = (stage.expect, stage.again, stage.sent);
        match stage.next {
            Next::Open => {
                let _ = writeln!(
                    w,
                    "\t\t# Knock {n} of {n} ({next}) completes the sequence: the door opens."
                );
            }
            Next::Stage(_) => {
                let _ = writeln!(w, "\t\t# Knock {} of {n} ({next}).", i + 1);
            }
        }
        for f in Family::ALL {
            let from = names::nft::state_set(&stage.set, f);
            let sa = saddr(f);
            match &stage.next {
                Next::Open => {
                    let _ = writeln!(
                        w,
                        "\t\t{sa} @{from} {} delete @{from} {{ {sa} }} update @{} {{ {} }} counter name \"{knocks}\" log prefix \"{knock_log}\" level info return",
                        port_match(next),
                        names::nft::state_set(&door.open, f),
                        open_key(door, f)
                    );
                }
                Next::Stage(to) => {
                    let _ = writeln!(
                        w,
                        "\t\t{sa} @{from} {} update @{} {{ {sa} }} delete @{from} {{ {sa} }} update @{} {{ {sa} }} return",
                        port_match(next),
                        names::nft::state_set(&plan.knocking, f),
                        names::nft::state_set(to, f)
                    );
                }
            }
        }
        let _ = writeln!(
            w,
            "\t\t# Knock {i} again ({last}, a retransmission) changes nothing."
        );
        for f in Family::ALL {
            let _ = writeln!(
                w,
                "\t\t{} @{} {} return",
                saddr(f),
                names::nft::state_set(&stage.set, f),
                port_match(last)
            );
        }
        let _ = writeln!(w, "\t\t# Anything else after knock {i} starts over.");
        for f in Family::ALL {
            let from = names::nft::state_set(&stage.set, f);
            let sa = saddr(f);
            let _ = writeln!(
                w,
                "\t\t{sa} @{from} delete @{from} {{ {sa} }} counter name \"{resets}\" limit rate {RESET_LOG_RATE} log prefix \"{reset_log}\" level info"
            );
        }
    }
    let first = line.first();
    let _ = writeln!(w, "\t\t# Knock 1 of {n} ({first}) starts the sequence.");
    for f in Family::ALL {
        let source = match door.knockers(f) {
            Knockers::Anyone => nfproto(f).to_string(),
            Knockers::Only(_) => format!("{} @{}", saddr(f), names::nft::from_set(&door.name, f)),
            Knockers::Nobody => {
                let _ = writeln!(w, "\t\t# (No {} source may knock: `from`.)", f.suffix());
                continue;
            }
        };
        let _ = writeln!(
            w,
            "\t\t{source} {} update @{} {{ {sa} }} update @{} {{ {sa} }} return",
            port_match(first),
            names::nft::state_set(&plan.knocking, f),
            names::nft::state_set(line.entry(), f),
            sa = saddr(f)
        );
    }
    let _ = writeln!(w, "\t}}\n");
}

/// What a door's rules match a new connection by: for TCP a bare SYN.
fn new_connection(proto: Proto) -> &'static str {
    match proto {
        Proto::Tcp => "tcp flags syn / fin,syn,rst,ack ",
        Proto::Udp => "",
    }
}

/// A door's chain: its [`DoorRule`]s, for each protocol of its ports.
/// Rules that differ by family carry `meta nfproto` only when the closed
/// answer does; rules carry `meta l4proto` only when the door has ports
/// of both protocols.
fn render_door_chain(w: &mut String, plan: &Plan, door: &DoorPlan) {
    let _ = writeln!(w, "\tchain {} {{", names::nft::door_chain(&door.name));
    let _ = writeln!(
        w,
        "\t\t# Door \"{}\" ({}): any packet to it that is not part of a connection.",
        door.name,
        ports_text(&door.ports)
    );
    if plan.mode == Mode::Guard {
        let _ = writeln!(w, "\t\t# [allow] networks pass without knocking.");
        render_allow(w, "accept");
    }
    if !door.interfaces.is_empty() {
        let _ = writeln!(
            w,
            "\t\tiifname != {} return comment \"{ELSEWHERE_COMMENT}\"",
            ifname_set(&door.interfaces)
        );
    }
    for proto in door.protos() {
        render_door_rules(w, plan, door, proto);
    }
    let _ = writeln!(w, "\t}}\n");
}

/// The rules of a door's chain for its `proto` ports.
fn render_door_rules(w: &mut String, plan: &Plan, door: &DoorPlan, proto: Proto) {
    let entries = names::nft::counter(Counter::Entries, &door.name);
    let enter_log = log_prefix(&plan.log_prefix, Event::Enter, Some(&door.name));
    let transient = log_prefix(&plan.log_prefix, Event::Transient, None);
    let l4 = if door.mixed() {
        format!("meta l4proto {} ", proto.as_str())
    } else {
        String::new()
    };
    let new = format!("{l4}{}", new_connection(proto));
    let same = plan.closed.v4 == plan.closed.v6;
    let families: Vec<(Family, String)> = if same {
        vec![(Family::V4, l4.clone())]
    } else {
        vec![
            (Family::V4, format!("meta nfproto ipv4 {l4}")),
            (Family::V6, format!("meta nfproto ipv6 {l4}")),
        ]
    };
    let mut printed: Vec<DoorRule> = Vec::new();
    for (family, nfproto) in families {
        for rule in door.rules(proto, plan.mode, plan.closed.of(family)) {
            match rule {
                DoorRule::Again | DoorRule::Enter | DoorRule::Transient
                    if printed.contains(&rule) => {}
                DoorRule::Again => {
                    let _ = writeln!(
                        w,
                        "\t\t{new}ct status confirmed accept comment \"single use: the connection it let in\""
                    );
                }
                DoorRule::Enter => {
                    for f in Family::ALL {
                        let (key, open) = (open_key(door, f), names::nft::state_set(&door.open, f));
                        // A single-use door closes behind the connection.
                        let close = if door.single_use {
                            format!("delete @{open} {{ {key} }} ")
                        } else {
                            String::new()
                        };
                        let _ = writeln!(
                            w,
                            "\t\t{new}{key} @{open} counter name \"{entries}\" log prefix \"{enter_log}\" level info {close}accept",
                        );
                    }
                }
                DoorRule::Transient => {
                    for f in Family::ALL {
                        let _ = writeln!(
                            w,
                            "\t\t{new}{} @{} log prefix \"{transient}\" level info accept",
                            saddr(f),
                            names::nft::transient_set(f)
                        );
                    }
                }
                DoorRule::Stack => {
                    let _ = writeln!(
                        w,
                        "\t\t{nfproto}tcp flags & (ack | rst) != 0 return comment \"the host answers these as for a closed port\""
                    );
                }
                DoorRule::Untracked => {
                    // `meta nfproto` and the other family's address conflict.
                    let fams = if same {
                        &Family::ALL[..]
                    } else {
                        &[family][..]
                    };
                    for &f in fams {
                        let _ = writeln!(
                            w,
                            "\t\t{nfproto}ct state untracked tcp flags & (ack | rst) != 0 {} @{} return comment \"notrack: the host's connection\"",
                            open_key(door, f),
                            names::nft::state_set(&door.open, f)
                        );
                    }
                }
                DoorRule::Closed(answer) => {
                    let verdict = match (answer, proto) {
                        // Exactly what the kernel answers for a port nobody listens on.
                        (Answer::Reset, Proto::Tcp) => "reject with tcp reset",
                        (Answer::Reset, Proto::Udp) => "reject",
                        (Answer::Drop, _) => "drop",
                    };
                    let _ = writeln!(
                        w,
                        "\t\t{nfproto}{verdict} comment \"{CLOSED_COMMENT}{}\"",
                        closed_comment(plan.mode, answer)
                    );
                }
            }
            printed.push(rule);
        }
    }
}

/// Marks the rule that lets a packet from another interface go on as if
/// the door were not there.
const ELSEWHERE_COMMENT: &str = "not on this door's interfaces: no door here";

/// How the comment of a door's last rule starts; `status` reads the
/// answer after it.
const CLOSED_COMMENT: &str = "closed: ";

/// The comment of a door's last rule.
fn closed_comment(mode: Mode, answer: Answer) -> String {
    match mode {
        Mode::Guard => format!("{}, as any closed port here", answer.as_str()),
        Mode::Firewall => answer.as_str().to_string(),
    }
}

// ---- replacing the old table (pure) ---------------------------------------

/// What nfknock's table holds now, from `nft -j list table`.
#[derive(Debug, Default)]
pub struct TableState {
    chains: Vec<String>,
    /// The comments of the rules, in order.
    comments: Vec<String>,
    sets: Vec<SetState>,
    counters: Vec<CounterState>,
}

#[derive(Debug)]
struct SetState {
    name: String,
    comment: Option<String>,
    elements: Vec<Element>,
}

#[derive(Debug)]
struct Element {
    /// An address, or a network as `addr/len`.
    address: String,
    /// Seconds left.
    expires: f64,
    /// Whether it expires at all.
    timed: bool,
}

#[derive(Debug)]
struct CounterState {
    name: String,
    packets: u64,
}

/// The commands that go before the new table in the same transaction: they
/// empty nfknock's table but keep every knock-state set whose meaning did
/// not change (so sources mid-sequence or with an open door survive), and
/// the per-door counters.
fn replacement(current: Option<&TableState>, plan: &Plan) -> String {
    let t = format!("inet {}", names::nft::TABLE);
    let mut o = format!("add table {t}\n");
    let Some(cur) = current else {
        return o;
    };
    o += &format!("flush table {t}\n");
    for chain in &cur.chains {
        o += &format!("delete chain {t} {chain}\n");
    }
    let keep: Vec<(String, String)> = plan
        .doors
        .iter()
        .flat_map(door_sets)
        .chain(knocking_sets(plan))
        .map(|s| (s.name, s.comment))
        .collect();
    let refill: Vec<(String, &str)> = Family::ALL
        .into_iter()
        .flat_map(|f| {
            [
                (names::nft::allow_set(f), ALLOW_COMMENT),
                (names::nft::transient_set(f), TRANSIENT_COMMENT),
            ]
        })
        .collect();
    for set in &cur.sets {
        let comment = set.comment.as_deref().unwrap_or_default();
        if keep.iter().any(|(n, c)| *n == set.name && c == comment) {
            continue;
        }
        if refill.iter().any(|(n, c)| *n == set.name && *c == comment) {
            o += &format!("flush set {t} {}\n", set.name);
        } else {
            o += &format!("delete set {t} {}\n", set.name);
        }
    }
    let counters: Vec<String> = plan
        .doors
        .iter()
        .flat_map(|d| Counter::ALL.map(|k| names::nft::counter(k, &d.name)))
        .collect();
    for c in &cur.counters {
        if !counters.contains(&c.name) {
            o += &format!("delete counter {t} {}\n", c.name);
        }
    }
    o
}

// ---- reading the kernel ---------------------------------------------------

#[derive(Deserialize)]
struct NftJson {
    nftables: Vec<NftItem>,
}

/// One object of `nft -j` output; only the kinds nfknock reads.
#[derive(Deserialize)]
struct NftItem {
    chain: Option<NftNamed>,
    rule: Option<NftRule>,
    set: Option<NftSet>,
    counter: Option<NftCounter>,
}

#[derive(Deserialize)]
struct NftNamed {
    name: String,
}

#[derive(Deserialize)]
struct NftRule {
    comment: Option<String>,
}

#[derive(Deserialize)]
struct NftSet {
    name: String,
    comment: Option<String>,
    #[serde(default)]
    elem: Vec<NftElem>,
    /// The set's timeout: an element without its own has this one.
    timeout: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NftElem {
    Timed { elem: NftTimed },
    Plain(serde_json::Value),
}

#[derive(Deserialize)]
struct NftTimed {
    val: serde_json::Value,
    expires: Option<f64>,
}

#[derive(Deserialize)]
struct NftCounter {
    name: String,
    packets: u64,
}

fn table_state() -> Result<Option<TableState>, Error> {
    let args = ["-j", "list", "table", "inet", names::nft::TABLE];
    match nft(&args, None) {
        Ok(json) => parse_table(&json)
            .map(Some)
            .map_err(|message| Error::Unreadable {
                command: format!("{NFT} {}", args.join(" ")),
                message,
            }),
        Err(Error::Failed { message, .. }) if message.contains("No such file or directory") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn parse_table(json: &str) -> Result<TableState, String> {
    let doc: NftJson = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut state = TableState::default();
    for item in doc.nftables {
        if let Some(c) = item.chain {
            state.chains.push(c.name);
        }
        if let Some(comment) = item.rule.and_then(|r| r.comment) {
            state.comments.push(comment);
        }
        if let Some(s) = item.set {
            let default_expiry = s.timeout;
            let elements = s
                .elem
                .into_iter()
                .filter_map(|e| match e {
                    NftElem::Timed { elem } => {
                        let expires = elem.expires.or(default_expiry);
                        Some(Element {
                            address: element_text(&elem.val)?,
                            expires: expires.unwrap_or(0.0),
                            timed: expires.is_some(),
                        })
                    }
                    NftElem::Plain(v) => Some(Element {
                        address: element_text(&v)?,
                        expires: default_expiry.unwrap_or(0.0),
                        timed: default_expiry.is_some(),
                    }),
                })
                .collect();
            state.sets.push(SetState {
                name: s.name,
                comment: s.comment,
                elements,
            });
        }
        if let Some(c) = item.counter {
            state.counters.push(CounterState {
                name: c.name,
                packets: c.packets,
            });
        }
    }
    Ok(state)
}

/// `"192.0.2.7"` or `{"prefix": {"addr": "192.0.2.0", "len": 24}}`.
fn element_text(v: &serde_json::Value) -> Option<String> {
    if let Some(s) = v.as_str() {
        return Some(s.to_string());
    }
    let p = v.get("prefix")?;
    Some(format!(
        "{}/{}",
        p.get("addr")?.as_str()?,
        p.get("len")?.as_u64()?
    ))
}

fn status_of(table: Option<&TableState>) -> Status {
    let mut status = Status {
        backend: BackendKind::Nftables,
        loaded: table.is_some(),
        ..Status::default()
    };
    let Some(table) = table else {
        return status;
    };
    status.transient = transient_of(table);
    for c in &table.comments {
        if let Some(answer) = c.strip_prefix(CLOSED_COMMENT) {
            status.add_closed(answer.split(',').next().unwrap_or_default());
        }
        status.forward_dropped |= c == names::nft::FORWARD_DROP_COMMENT;
    }
    for set in &table.sets {
        let Some((door, stage)) = names::nft::parse_state_set(&set.name) else {
            continue;
        };
        let d = status.door_mut(&door);
        // The last stage set is stage n-1 for a sequence of n knocks.
        d.knocks = d.knocks.max(stage + 1);
        for e in &set.elements {
            // A knock-state set holds addresses only.
            if let Ok(address) = e.address.parse() {
                d.add_source(stage, address, e.expires);
            }
        }
    }
    for d in &mut status.doors {
        let count = |kind: Counter| {
            let name = names::nft::counter(kind, &d.name);
            table
                .counters
                .iter()
                .find(|c| c.name == name)
                .map_or(0, |c| c.packets)
        };
        d.counters = Counters {
            knocks: count(Counter::Knocks),
            entries: count(Counter::Entries),
            resets: count(Counter::Resets),
        };
        d.in_progress.sort_by_cached_key(|s| s.address.to_string());
        d.open.sort_by_cached_key(|s| s.address.to_string());
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::Source;

    fn cfg(text: &str) -> Plan {
        super::super::plan::test_plan(text)
    }

    const ONE_DOOR: &str = r#"
[[door]]
name = "ssh"
port = "22/tcp"
sequence = ["1000/tcp", "2000/udp", "3000/tcp"]
"#;

    #[test]
    fn fresh_table_needs_no_deletes() {
        assert_eq!(
            replacement(None, &cfg(ONE_DOOR)),
            "add table inet nfknock\n"
        );
    }

    #[test]
    fn reapply_keeps_unchanged_state_sets_only() {
        let c = cfg(ONE_DOOR);
        let sets = door_sets(&c.doors[0]);
        let kept = &sets[0];
        let current = TableState {
            chains: vec!["input".into(), "knock_ssh".into()],
            comments: vec![],
            sets: vec![
                SetState {
                    name: kept.name.clone(),
                    comment: Some(kept.comment.clone()),
                    elements: vec![],
                },
                SetState {
                    name: sets[1].name.clone(),
                    comment: Some("old meaning".into()),
                    elements: vec![],
                },
                SetState {
                    name: "allow_v4".into(),
                    comment: Some(ALLOW_COMMENT.into()),
                    elements: vec![],
                },
                SetState {
                    name: "allow_v6".into(),
                    comment: None,
                    elements: vec![],
                },
            ],
            counters: vec![
                CounterState {
                    name: "knocks_ssh".into(),
                    packets: 3,
                },
                CounterState {
                    name: "knocks_gone".into(),
                    packets: 1,
                },
            ],
        };
        let script = replacement(Some(&current), &c);
        assert!(script.contains("flush table inet nfknock\n"));
        assert!(script.contains("delete chain inet nfknock input\n"));
        assert!(script.contains("delete chain inet nfknock knock_ssh\n"));
        assert!(!script.contains(&format!("delete set inet nfknock {}\n", kept.name)));
        assert!(script.contains(&format!("delete set inet nfknock {}\n", sets[1].name)));
        assert!(script.contains("flush set inet nfknock allow_v4\n"));
        assert!(
            script.contains("delete set inet nfknock allow_v6\n"),
            "a set nfknock did not make this way is recreated"
        );
        assert!(script.contains("delete counter inet nfknock knocks_gone\n"));
        assert!(!script.contains("delete counter inet nfknock knocks_ssh\n"));
    }

    #[test]
    fn comments_carry_the_meaning() {
        let sets = door_sets(&cfg(ONE_DOOR).doors[0]);
        let names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "stage1_ssh_v4",
                "stage2_ssh_v4",
                "open_ssh_v4",
                "stage1_ssh_v6",
                "stage2_ssh_v6",
                "open_ssh_v6"
            ]
        );
        assert!(sets[1].comment.starts_with("ssh: sent knock 2 of 3 ["));
        assert!(sets[2].comment.starts_with("ssh: may open 22/tcp ["));
        assert_ne!(sets[0].comment, sets[3].comment, "families differ");
    }

    #[test]
    fn parses_nft_json_status() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
 {"table": {"family": "inet", "name": "nfknock", "handle": 2}},
 {"counter": {"family": "inet", "name": "knocks_ssh", "table": "nfknock", "handle": 3, "packets": 4, "bytes": 240}},
 {"set": {"family": "inet", "name": "stage1_ssh_v4", "table": "nfknock", "type": "ipv4_addr", "handle": 4, "size": 65536, "flags": ["timeout"], "timeout": 10, "elem": [{"elem": {"val": "192.0.2.5", "expires": 9}}]}},
 {"set": {"family": "inet", "name": "stage2_ssh_v6", "table": "nfknock", "type": "ipv6_addr", "handle": 5, "size": 65536, "flags": ["timeout"], "timeout": 10}},
 {"set": {"family": "inet", "name": "open_ssh_v6", "table": "nfknock", "type": "ipv6_addr", "handle": 6, "size": 65536, "flags": ["timeout"], "timeout": 30, "elem": [{"elem": {"val": "2001:db8::2", "timeout": 30, "expires": 21}}]}},
 {"set": {"family": "inet", "name": "allow_v4", "table": "nfknock", "type": "ipv4_addr", "handle": 7, "flags": ["interval"], "elem": [{"prefix": {"addr": "10.0.0.0", "len": 8}}]}},
 {"chain": {"family": "inet", "table": "nfknock", "name": "input", "handle": 8}}]}"#;
        let table = parse_table(json).unwrap();
        assert_eq!(table.chains, vec!["input"]);
        let s = status_of(Some(&table));
        assert!(s.loaded);
        assert_eq!(s.doors.len(), 1);
        let d = &s.doors[0];
        assert_eq!(d.name, "ssh");
        assert_eq!(d.knocks, 3);
        assert_eq!(d.counters.knocks, 4);
        assert_eq!(
            d.in_progress,
            vec![Source {
                address: "192.0.2.5".parse().unwrap(),
                stage: Some(1),
                expires_in: 9.0
            }]
        );
        assert_eq!(
            d.open,
            vec![Source {
                address: "2001:db8::2".parse().unwrap(),
                stage: None,
                expires_in: 21.0
            }]
        );
        assert!(!status_of(None).loaded);
    }

    #[test]
    fn closed_doors_look_closed_in_guard_and_vanish_in_firewall() {
        let guard = render(&cfg(ONE_DOOR));
        assert!(guard.contains("ct original proto-dst vmap { 22 : jump door_ssh }"));
        assert!(guard.contains("\t\treject with tcp reset comment \"closed: reset"));
        assert!(guard.contains("policy accept;"));
        assert!(!guard.lines().any(|l| l.trim_start().starts_with("flush")));
        let fw = render(&cfg(&format!("mode = \"firewall\"\n{ONE_DOOR}")));
        assert!(fw.contains("policy drop;"));
        assert!(!fw.contains("reject"));
    }

    #[test]
    fn a_closed_door_answers_per_family_when_the_host_does() {
        let cfg = crate::rotate::resolve(
            crate::load::parse(ONE_DOOR, std::path::Path::new("t.toml")).unwrap(),
            0,
        )
        .unwrap();
        let host = super::super::plan::HostDrops {
            v4: Some("table ip filter chain INPUT (policy drop)".into()),
            v6: None,
        };
        let text = render(&Plan::beside(&cfg, &host, super::super::plan::TEST_KEY));
        for rule in [
            "\t\tmeta nfproto ipv4 ct state untracked tcp flags & (ack | rst) != 0 ip saddr @open_ssh_v4 return",
            "\t\tmeta nfproto ipv4 drop comment \"closed: drop",
            "\t\tmeta nfproto ipv6 tcp flags & (ack | rst) != 0 return",
            "\t\tmeta nfproto ipv6 reject with tcp reset comment \"closed: reset",
        ] {
            assert!(text.contains(rule), "{rule}\n{text}");
        }
        assert_eq!(
            text.matches("counter name \"entries_ssh\"").count(),
            2,
            "{text}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.contains("meta nfproto ipv4") && l.contains("ip6 saddr")),
            "{text}"
        );
    }

    #[test]
    fn knocking_sets_outlast_every_door() {
        let c = cfg(r#"
[[door]]
name = "a"
port = "22/tcp"
sequence = ["1001/tcp", "2002/udp", "3003/tcp"]
sequence_timeout = "5s"
[[door]]
name = "b"
port = "23/tcp"
sequence = ["4001/udp", "5002/tcp", "6003/udp"]
sequence_timeout = "20s"
"#);
        let sets = knocking_sets(&c);
        assert_eq!(sets.len(), 2);
        assert!(sets.iter().all(|s| s.timeout == Duration::from_secs(20)));
        let text = render(&c);
        // Each door's first knock goes to the first-knock chain, tracked
        // or not; no other knock does.
        for first in [
            "meta l4proto tcp ct original proto-dst vmap { 22 : jump door_a, 23 : jump door_b, 1001 : jump first_knock }",
            "meta l4proto udp ct original proto-dst vmap { 4001 : jump first_knock }",
            "tcp . 1001 : jump first_knock, udp . 4001 : jump first_knock }",
        ] {
            assert!(text.contains(first), "{first}\n{text}");
        }
        assert_eq!(text.matches("jump first_knock").count(), 4, "{text}");
    }
}
