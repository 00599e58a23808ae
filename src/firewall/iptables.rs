//! The iptables backend, for hosts that run iptables (Debian's default is
//! iptables-nft) or ip6tables and want nfknock's rules beside their own.
//!
//! Knock state lives in the kernel's `recent` match: one list per door,
//! stage and family (`nfknock_<door>_<stage>_<family>_<fingerprint>`), so no
//! daemon takes part. nfknock owns the chains named `NFKNOCK` and `NFK-*`
//! and the rules it writes in INPUT and FORWARD, and no other there
//! (`names::ipt::hook_rules`, `names::ipt::hook_rule`); they are
//! loaded with `iptables-restore --noflush`, which replaces those chains
//! and nothing else. Transient
//! networks are two ipsets, `nfknock-transient-v4` and `-v6`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::names::Counter;
use super::names::ipt::{self, DNAT, DOORS, FORWARD, KNOCKS, MAIN, PORTS, REDIRECTED, TRANSIENT};
use super::plan::{
    Answer, DoorPlan, DoorRule, ForwardRule, Knockers, Line, Next, Plan, RECENT_LISTS, StateSet,
};
use super::run::{Error, run};
use super::{Backend, Counters, Family, SET_SIZE, Status, Transient, log_prefix};
use crate::config::{Backend as BackendKind, Config, Event, Mode, Problem};
use crate::port::{PortRange, PortSpec, Proto};

const PACKAGE: &str = "iptables";
const IPSET: &str = "ipset";
/// The most ports one multiport match takes; a range counts as two.
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

/// The `recent` list of a knock state, for one family.
fn list(set: &StateSet, family: Family) -> String {
    ipt::recent_list(set, family, set.fingerprint(family, RECENT_LISTS))
}

/// Matches for "one of these ports and ranges", a rule per protocol and
/// per 15 ports (a range counts as two).
fn multiport(ports: &[PortRange]) -> Vec<String> {
    let mut out = Vec::new();
    for proto in [Proto::Tcp, Proto::Udp] {
        let mut ranges: Vec<PortRange> =
            ports.iter().copied().filter(|p| p.proto == proto).collect();
        ranges.sort_unstable();
        ranges.dedup();
        let mut chunk: Vec<String> = Vec::new();
        let mut used = 0;
        for r in ranges {
            let cost = if r.is_single() { 1 } else { 2 };
            if used + cost > MULTIPORT_MAX {
                out.push(multiport_match(proto, &chunk));
                chunk.clear();
                used = 0;
            }
            chunk.push(ipt_range(&r));
            used += cost;
        }
        if !chunk.is_empty() {
            out.push(multiport_match(proto, &chunk));
        }
    }
    out
}

fn multiport_match(proto: Proto, ports: &[String]) -> String {
    format!(
        "-p {} -m multiport --dports {}",
        proto.as_str(),
        ports.join(",")
    )
}

/// A port or range in iptables' syntax: `22`, `60000:61000`.
fn ipt_range(r: &PortRange) -> String {
    if r.is_single() {
        r.low.to_string()
    } else {
        format!("{}:{}", r.low, r.high)
    }
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

/// The `--mask` of a door's open list: the door's open prefix, so that
/// the list holds the knocker's network. Every rule that sets, checks or
/// removes in the list gives it (`recent` masks per rule), so all agree.
fn open_mask(d: &DoorPlan, f: Family) -> String {
    match d.open_prefix(f) {
        Some(len) => format!(" --mask {}", super::plan::netmask(f, len)),
        None => String::new(),
    }
}

fn log(prefix: &str) -> String {
    format!("-j LOG --log-prefix \"{prefix}\" --log-level info")
}

/// One family's rules: the chains nfknock owns, in the order they are
/// declared, each with its rules, and its rules in INPUT and FORWARD.
#[derive(Default)]
struct Rules {
    hooks: Vec<String>,
    chains: Vec<(String, Vec<String>)>,
}

impl Rules {
    fn declare(&mut self, chain: impl Into<String>) {
        self.chains.push((chain.into(), Vec::new()));
    }

    fn add(&mut self, chain: &str, rule: String) {
        let (_, rules) = self
            .chains
            .iter_mut()
            .find(|(c, _)| c == chain)
            .expect("rules go to declared chains");
        rules.push(rule);
    }

    fn names(&self) -> Vec<String> {
        self.chains.iter().map(|(c, _)| c.clone()).collect()
    }
}

/// Prints the plan for one family: a chain at a time.
fn rules(plan: &Plan, f: Family) -> Rules {
    let mut r = Rules {
        hooks: ipt::input_rules(plan.mode),
        ..Rules::default()
    };
    r.hooks.push(ipt::forward_jump());
    r.declare(MAIN);
    if plan.redirects_meet_doors_first() {
        r.declare(REDIRECTED);
    }
    for chain in [FORWARD, PORTS, DOORS, DNAT, TRANSIENT, KNOCKS] {
        r.declare(chain);
    }
    for d in &plan.doors {
        for line in &d.lines {
            r.declare(ipt::knock_chain(&d.name, line.slot));
        }
        r.declare(ipt::door_chain(&d.name));
        r.declare(ipt::opened_chain(&d.name));
        r.declare(ipt::enter_chain(&d.name));
    }
    main_chain(&mut r, plan, f);
    if plan.redirects_meet_doors_first() {
        redirected_chain(&mut r, plan, f);
    }
    forward_chain(&mut r, plan, f);
    dispatch_chains(&mut r, plan);
    transient_chain(&mut r, plan);
    ports_chain(&mut r, plan, f);
    knocking_chain(&mut r, plan, f);
    for d in &plan.doors {
        for line in &d.lines {
            knock_chain(&mut r, plan, f, d, line);
        }
        door_chains(&mut r, plan, f, d);
    }
    r
}

/// What lets a packet through: guard mode never accepts, it returns to
/// INPUT, whose other rules still decide; firewall mode accepts (and
/// finally drops).
fn pass(plan: &Plan) -> &'static str {
    match plan.mode {
        Mode::Guard => "RETURN",
        Mode::Firewall => "ACCEPT",
    }
}

/// `NFKNOCK`, which INPUT jumps to. Its order is the packet path's cost,
/// as on nftables: established packets never get here; a NEW one that is
/// neither a knock nor for a door meets one lookup of its source among the
/// sources in the middle of a sequence and one match of its port among
/// first knocks and doors (a rule per protocol and 15 ports) and the DNAT
/// check, and jumps nowhere (bench/packet.sh measures it); firewall mode
/// accepts loopback, drops INVALID packets and matches the open ports
/// between the lookup and the port match. `[allow]` and transient
/// networks are matched only where they decide something (guard mode: at
/// the doors; firewall mode: after the open ports), and `NFK-KNOCKS`
/// passes them over.
fn main_chain(r: &mut Rules, plan: &Plan, f: Family) {
    let guard = plan.mode == Mode::Guard;
    let mut add = |rule: String| r.add(MAIN, rule);
    // Established and related packets never get here
    // (`names::ipt::input_rules`), nor in guard mode loopback's.
    if !guard {
        add("-i lo -j ACCEPT".into());
        if f == Family::V6 {
            for t in [
                "neighbour-solicitation",
                "neighbour-advertisement",
                "router-solicitation",
                "router-advertisement",
            ] {
                add(format!("-p ipv6-icmp --icmpv6-type {t} -j ACCEPT"));
            }
        }
        add("-m conntrack --ctstate INVALID -j DROP".into());
    }
    // A source in the middle of a sequence: whatever it sends moves it on
    // or starts it over. Untracked packets (`notrack`) are new too.
    add(format!(
        "-m conntrack --ctstate NEW,UNTRACKED {} -j {KNOCKS}",
        knocking(plan, f, true)
    ));
    if plan.redirects_meet_doors_first() {
        add(format!("-m conntrack --ctstate DNAT -j {REDIRECTED}"));
    }
    if !guard {
        for p in &plan.firewall.open {
            add(format!(
                "-p {} --dport {} -j ACCEPT",
                p.proto.as_str(),
                p.port
            ));
        }
        // Logged only where the transient network is what lets a packet
        // in, as at a door in guard mode: not on an open port.
        for net in allowed(plan, f) {
            add(format!("-s {net} -j ACCEPT"));
        }
        add(format!(
            "-m set --match-set {} src -j {TRANSIENT}",
            ipt::ipset(f)
        ));
    }
    // Only what is aimed at a first knock or a door looks further: by the
    // port the client connected to. Without DNAT that is the packet's
    // (NEW, INVALID or untracked: no conntrack, no NAT) ...
    for ports in multiport(&ports_chain_ports(plan)) {
        add(format!("{ports} -j {PORTS}"));
    }
    // ... with DNAT, conntrack's original destination.
    add(format!("-m conntrack --ctstate DNAT -j {DNAT}"));
    if !guard {
        if plan.firewall.icmp {
            let icmp = if f == Family::V4 { "icmp" } else { "ipv6-icmp" };
            add(format!("-p {icmp} -j ACCEPT"));
        }
        add("-j DROP".into());
    }
}

/// `NFK-REDIRECTED`: a packet redirected to this host (DNAT) meets the
/// doors, by the port the client connected to, before the open ports;
/// `[allow]` and transient networks return to `NFKNOCK`, which lets them
/// in.
fn redirected_chain(r: &mut Rules, plan: &Plan, f: Family) {
    pass_over(r, REDIRECTED, plan, f, true);
    r.add(REDIRECTED, format!("-j {DNAT}"));
}

/// `NFK-FORWARD`, which FORWARD jumps to: a door on a port this host
/// forwards (DNAT) is hidden as a local one; nothing else routed through
/// the host is nfknock's business, unless firewall mode drops forwarded
/// traffic (`plan::ForwardRule`). What passes returns to FORWARD, whose
/// other rules (Docker's isolation, libvirt's) still judge it; nfknock
/// only adds the drop.
fn forward_chain(r: &mut Rules, plan: &Plan, f: Family) {
    let drops = plan.forward_drops();
    let mut add = |rule: String| r.add(FORWARD, rule);
    for rule in plan.forward_rules() {
        match rule {
            ForwardRule::Established => {
                add("-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN".into());
            }
            ForwardRule::RoutingIcmpv6 => {
                if f == Family::V6 {
                    for t in [
                        "destination-unreachable",
                        "packet-too-big",
                        "time-exceeded",
                        "parameter-problem",
                    ] {
                        add(format!("-p ipv6-icmp --icmpv6-type {t} -j RETURN"));
                    }
                }
            }
            ForwardRule::Invalid => add("-m conntrack --ctstate INVALID -j DROP".into()),
            ForwardRule::RoutedGoesOn => {
                add("-m conntrack ! --ctstate DNAT -j RETURN".into());
            }
            // As on INPUT, [allow] and (firewall mode) transient networks
            // pass.
            ForwardRule::Allow => {
                for net in allowed(plan, f) {
                    add(format!("-s {net} -j RETURN"));
                }
            }
            ForwardRule::Transient => {
                let set = format!("-m set --match-set {} src", ipt::ipset(f));
                // Logged where nfknock judges forwarded traffic, as on
                // INPUT; before, only a forwarded door looked at them.
                if drops {
                    let transient_log = log_prefix(&plan.log_prefix, Event::Transient, None);
                    add(format!(
                        "{set} -m comment --comment \"{}\" {}",
                        ipt::TRANSIENT_COMMENT,
                        log(&transient_log)
                    ));
                }
                add(format!("{set} -j RETURN"));
            }
            // By the port the client connected to: NFK-DNAT matches the
            // original destination, whether or not it was DNAT'd.
            ForwardRule::Doors => add(format!("-j {DNAT}")),
            ForwardRule::Icmp => {
                let icmp = if f == Family::V4 { "icmp" } else { "ipv6-icmp" };
                add(format!("-p {icmp} -j RETURN"));
            }
            ForwardRule::Open => {
                for p in &plan.firewall.open {
                    add(format!(
                        "-p {} -m conntrack --ctorigdstport {} -j RETURN",
                        p.proto.as_str(),
                        p.port
                    ));
                }
            }
            ForwardRule::Drop => add(format!(
                "-m comment --comment \"{}\" -j DROP",
                ipt::FORWARD_DROP_COMMENT
            )),
        }
    }
}

/// The `[allow]` networks of a family.
fn allowed(plan: &Plan, f: Family) -> Vec<String> {
    match f {
        Family::V4 => plan.allow.ipv4.iter().map(|n| n.to_string()).collect(),
        Family::V6 => plan.allow.ipv6.iter().map(|n| n.to_string()).collect(),
    }
}

/// `-i NAME ` for each of a door's `interfaces`, or one empty match for
/// every interface: a door with `interfaces` is reached from those only
/// (`-i` takes one name, so one rule each).
fn on_interfaces(d: &DoorPlan) -> Vec<String> {
    if d.interfaces.is_empty() {
        return vec![String::new()];
    }
    d.interfaces.iter().map(|i| format!("-i {i} ")).collect()
}

/// `NFK-DOORS` (the packet's port) and `NFK-DNAT` (a NEW connection's
/// original destination port) send a packet on to its door's chain.
fn dispatch_chains(r: &mut Rules, plan: &Plan) {
    for d in &plan.doors {
        let chain = ipt::door_chain(&d.name);
        for range in &d.ports {
            let (proto, port) = (range.proto.as_str(), ipt_range(range));
            for on in on_interfaces(d) {
                r.add(DOORS, format!("{on}-p {proto} --dport {port} -j {chain}"));
                r.add(
                    DNAT,
                    format!(
                        "{on}-p {proto} -m conntrack --ctstate NEW --ctorigdstport {port} -j {chain}"
                    ),
                );
            }
        }
    }
}

/// `NFK-TRANSIENT`: logs and lets in a transient network's packet.
fn transient_chain(r: &mut Rules, plan: &Plan) {
    let transient_log = log_prefix(&plan.log_prefix, Event::Transient, None);
    r.add(
        TRANSIENT,
        format!(
            "-m comment --comment \"{}\" {}",
            ipt::TRANSIENT_COMMENT,
            log(&transient_log)
        ),
    );
    r.add(TRANSIENT, format!("-j {}", pass(plan)));
}

/// The match of a source in the middle of a sequence (`in_list`) or not:
/// in the `knocking` list, set by every knock that moves it.
fn knocking(plan: &Plan, f: Family, in_list: bool) -> String {
    let (list, secs) = (list(&plan.knocking, f), plan.knocking.timeout.as_secs());
    if in_list {
        rcheck(&list, secs)
    } else {
        format!("-m recent ! --rcheck --name {list} --seconds {secs}")
    }
}

/// The first knocks, as port ranges.
fn first_knock_ports(plan: &Plan) -> Vec<PortRange> {
    plan.first_knocks.iter().map(|&k| k.into()).collect()
}

/// The ports that `NFK-PORTS` looks at: first knocks and doors.
fn ports_chain_ports(plan: &Plan) -> Vec<PortRange> {
    let mut ports = first_knock_ports(plan);
    ports.extend_from_slice(&plan.door_ports);
    ports
}

/// `NFK-PORTS`: a first knock from a source `NFKNOCK` did not send to
/// the knock chains already (so that no packet knocks twice) goes there;
/// a packet for a door to `NFK-DOORS`.
fn ports_chain(r: &mut Rules, plan: &Plan, f: Family) {
    for ports in multiport(&first_knock_ports(plan)) {
        r.add(
            PORTS,
            format!(
                "{ports} -m conntrack --ctstate NEW,UNTRACKED {} -j {KNOCKS}",
                knocking(plan, f, false)
            ),
        );
    }
    // A DNAT'd packet is NFK-DNAT's, by its original port. Matched as it
    // is, not as `! --ctstate DNAT` on the doors' rules: a packet without
    // conntrack (INVALID, untracked) must reach them whatever the
    // translation of a negated conntrack match does with it.
    r.add(PORTS, "-m conntrack --ctstate DNAT -j RETURN".into());
    for ports in multiport(&plan.door_ports) {
        r.add(PORTS, format!("{ports} -j {DOORS}"));
    }
}

/// `[allow]` networks and, with `transient`, transient ones return from
/// `chain`: what they pass over.
fn pass_over(r: &mut Rules, chain: &str, plan: &Plan, f: Family, transient: bool) {
    for net in allowed(plan, f) {
        r.add(chain, format!("-s {net} -j RETURN"));
    }
    if transient {
        r.add(
            chain,
            format!("-m set --match-set {} src -j RETURN", ipt::ipset(f)),
        );
    }
}

/// `NFK-KNOCKS`: only a source in the middle of a sequence (`NFKNOCK`
/// sends it on), or a first knock from any other (`NFK-PORTS`), goes on
/// to the doors' knock chains; anything else meets one list lookup and a
/// port match, however many doors there are.
fn knocking_chain(r: &mut Rules, plan: &Plan, f: Family) {
    // `[allow]` networks (and, in firewall mode, transient ones) never
    // knock. Matched in NFK-KNOCKS, which only a would-be knock reaches,
    // not before the lookup every new packet makes.
    pass_over(r, KNOCKS, plan, f, plan.mode == Mode::Firewall);
    for d in &plan.doors {
        for on in on_interfaces(d) {
            for line in &d.lines {
                r.add(
                    KNOCKS,
                    format!("{on}-j {}", ipt::knock_chain(&d.name, line.slot)),
                );
            }
        }
    }
}

/// The knock state machine of one door's line (see `plan`), stages from
/// the last: advance, a retransmission, anything else starts over; then
/// the first knock.
fn knock_chain(r: &mut Rules, plan: &Plan, f: Family, d: &DoorPlan, line: &Line) {
    let k = ipt::knock_chain(&d.name, line.slot);
    let knocking = list(&plan.knocking, f);
    let reset_log = log_prefix(&plan.log_prefix, Event::Reset, Some(&d.name));
    for stage in line.stages.iter().rev() {
        let at = list(&stage.set, f);
        let secs = stage.set.timeout.as_secs();
        let target = match &stage.next {
            // goto: after the log, go back to NFK-KNOCKS (the next door's
            // knock chains), not to this chain.
            Next::Open => format!(
                "-m recent --name {} --set{} -g {}",
                list(&d.open, f),
                open_mask(d, f),
                ipt::opened_chain(&d.name)
            ),
            Next::Stage(to) => format!(
                "-m recent --name {knocking} --set -m recent --name {} --set -j RETURN",
                list(to, f)
            ),
        };
        r.add(
            &k,
            format!(
                "{} {} -m recent --name {at} --remove {target}",
                port_match(stage.expect),
                rcheck(&at, secs)
            ),
        );
        r.add(
            &k,
            format!(
                "{} {} -j RETURN",
                port_match(stage.again),
                rcheck(&at, secs)
            ),
        );
        r.add(
            &k,
            format!(
                "{} -m limit --limit {RESET_LOG_RATE} {}",
                rcheck(&at, secs),
                log(&reset_log)
            ),
        );
        r.add(
            &k,
            format!(
                "{} -m recent --name {at} --remove -m comment --comment \"{}\"",
                rcheck(&at, secs),
                ipt::counter_comment(Counter::Resets, &d.name)
            ),
        );
    }
    // `from`: one rule per network that may knock; none in a family
    // without such networks.
    let sources = match d.knockers(f) {
        Knockers::Anyone => vec![String::new()],
        Knockers::Only(nets) => nets.iter().map(|n| format!("-s {n} ")).collect(),
        Knockers::Nobody => Vec::new(),
    };
    for source in sources {
        r.add(
            &k,
            format!(
                "{source}{} -m recent --name {knocking} --set -m recent --name {} --set -j RETURN",
                port_match(line.first()),
                list(line.entry(), f)
            ),
        );
    }
}

/// A door's `NFK-OPEN-` (a completed sequence), `NFK-IN-` (a NEW
/// connection through the open door) and `NFK-D-` (its rules, see
/// `plan::DoorRule`) chains.
fn door_chains(r: &mut Rules, plan: &Plan, f: Family, d: &DoorPlan) {
    let knock_log = log_prefix(&plan.log_prefix, Event::Knock, Some(&d.name));
    r.add(
        &ipt::opened_chain(&d.name),
        format!(
            "-m comment --comment \"{}\" {}",
            ipt::counter_comment(Counter::Knocks, &d.name),
            log(&knock_log)
        ),
    );

    let enter_log = log_prefix(&plan.log_prefix, Event::Enter, Some(&d.name));
    let ec = ipt::enter_chain(&d.name);
    r.add(
        &ec,
        format!(
            "-m comment --comment \"{}\" {}",
            ipt::counter_comment(Counter::Entries, &d.name),
            log(&enter_log)
        ),
    );
    r.add(&ec, format!("-j {}", pass(plan)));

    // goto: when these chains return, the door's chain is done too.
    let chain = ipt::door_chain(&d.name);
    // In guard mode `[allow]` networks pass the doors (in firewall mode
    // they were let in before).
    if plan.mode == Mode::Guard {
        for net in allowed(plan, f) {
            r.add(&chain, format!("-s {net} -j RETURN"));
        }
    }
    // Every rule names its protocol, so a door of both has each one's.
    for proto in d.protos() {
        door_rules(r, plan, f, d, proto, &chain, &ec);
    }
}

/// The rules of a door's chain for its `proto` ports.
fn door_rules(
    r: &mut Rules,
    plan: &Plan,
    f: Family,
    d: &DoorPlan,
    proto: Proto,
    chain: &str,
    ec: &str,
) {
    let new = match proto {
        Proto::Tcp => "-p tcp --tcp-flags FIN,SYN,RST,ACK SYN",
        Proto::Udp => "-p udp",
    };
    for rule in d.rules(proto, plan.mode, plan.closed.of(f)) {
        let text = match rule {
            DoorRule::Enter => {
                let (open, mask) = (list(&d.open, f), open_mask(d, f));
                // A single-use door closes behind the connection.
                let close = if d.single_use {
                    format!(" -m recent --name {open} --remove{mask}")
                } else {
                    String::new()
                };
                format!(
                    "{new} {}{mask}{close} -g {ec}",
                    rcheck(&open, d.open.timeout.as_secs())
                )
            }
            DoorRule::Again => format!(
                "{new} -m conntrack --ctstatus CONFIRMED -m comment --comment \"single use: the connection it let in\" -j {}",
                pass(plan)
            ),
            DoorRule::Transient => {
                format!(
                    "{new} -m set --match-set {} src -g {TRANSIENT}",
                    ipt::ipset(f)
                )
            }
            DoorRule::Stack => "-p tcp ! --tcp-flags ACK,RST NONE -j RETURN".into(),
            DoorRule::Untracked => format!(
                "-p tcp ! --tcp-flags ACK,RST NONE -m conntrack --ctstate UNTRACKED {}{} -j RETURN",
                rcheck(&list(&d.open, f), d.open.timeout.as_secs()),
                open_mask(d, f)
            ),
            DoorRule::Closed(answer) => {
                let verdict = match (answer, proto, f) {
                    (Answer::Reset, Proto::Tcp, _) => "REJECT --reject-with tcp-reset",
                    (Answer::Reset, Proto::Udp, Family::V4) => {
                        "REJECT --reject-with icmp-port-unreachable"
                    }
                    (Answer::Reset, Proto::Udp, Family::V6) => {
                        "REJECT --reject-with icmp6-port-unreachable"
                    }
                    (Answer::Drop, _, _) => "DROP",
                };
                format!(
                    "-p {} -m comment --comment \"{}\" -j {verdict}",
                    proto.as_str(),
                    ipt::closed_comment(plan.mode, answer)
                )
            }
        };
        r.add(chain, text);
    }
}

/// An iptables-restore script: declaring a chain with --noflush empties
/// it; `preamble` (removing old jumps and chains) goes before the rules.
fn script(rules: &Rules, preamble: &[String]) -> String {
    let mut o = String::from("*filter\n");
    for (c, _) in &rules.chains {
        let _ = writeln!(o, ":{c} - [0:0]");
    }
    for p in preamble {
        let _ = writeln!(o, "{p}");
    }
    for h in &rules.hooks {
        let _ = writeln!(o, "{h}");
    }
    for (c, rs) in &rules.chains {
        for rule in rs {
            let _ = writeln!(o, "-A {c} {rule}");
        }
    }
    o.push_str("COMMIT\n");
    o
}

pub fn render(plan: &Plan) -> String {
    let mut o = format!(
        "# nfknock ruleset, mode \"{}\", iptables backend. Generated by `nfknock\n\
         # apply`: edit nfknock.toml, not this. nfknock owns the chains {MAIN} and\n\
         # NFK-* and the rules below in INPUT and FORWARD; no other rule is\n\
         # touched.\n",
        plan.mode
    );
    for tool in &TOOLS {
        o += if tool.family == Family::V4 {
            V4_MARKER
        } else {
            V6_MARKER
        };
        o.push('\n');
        o += &script(&rules(plan, tool.family), &[]);
    }
    o
}

/// Splits a rendered ruleset into its IPv4 and IPv6 scripts.
#[cfg(test)]
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
    /// Its rules in INPUT and FORWARD: each rule's chain and the rest of
    /// it, as saved.
    hooks: Vec<(String, String)>,
}

/// One family's filter table, as its save tool prints it.
fn save(tool: &Tool) -> Result<String, Error> {
    run(tool.save, PACKAGE, &["-t", "filter"], None)
}

impl Current {
    /// What `text` (a family's [`save`]) holds of nfknock's.
    fn parse(text: &str) -> Current {
        let chains = text
            .lines()
            .filter_map(|l| l.strip_prefix(':'))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| ipt::ours(c))
            .map(str::to_string)
            .collect();
        let hooks = text
            .lines()
            .filter_map(|l| ipt::hook_rule(l.trim()))
            .map(|(chain, spec)| (chain.to_string(), spec.to_string()))
            .collect();
        Current { chains, hooks }
    }
}

fn current(tool: &Tool) -> Result<Current, Error> {
    Ok(Current::parse(&save(tool)?))
}

/// Removes every rule of nfknock's from INPUT and FORWARD (those of any
/// earlier version too), and the chains the new rules no longer have.
fn preamble(cur: &Current, keep: &[String]) -> Vec<String> {
    let mut p: Vec<String> = cur
        .hooks
        .iter()
        .map(|(chain, spec)| format!("-D {chain} {spec}"))
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
                &ipt::ipset(f),
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
/// the second fails, the first family's rules are put back as they were
/// (`previous`, taken before).
fn load(scripts: [String; 2], previous: &Snapshot) -> Result<(), Error> {
    for (tool, s) in TOOLS.iter().zip(&scripts) {
        run(tool.restore, PACKAGE, &["--test", "--noflush"], Some(s))?;
    }
    run(TOOLS[0].restore, PACKAGE, &["--noflush"], Some(&scripts[0]))?;
    if let Err(e) = run(TOOLS[1].restore, PACKAGE, &["--noflush"], Some(&scripts[1])) {
        // What the first load left (its jumps, its chains) goes; what was
        // there before comes back. Best effort: the load's error is the one
        // to report.
        if let Ok(now) = current(&TOOLS[0]) {
            let _ = run(
                TOOLS[0].restore,
                PACKAGE,
                &["--noflush"],
                Some(&previous.script(&now)),
            );
        }
        return Err(e);
    }
    protect_recent_lists()
}

/// Where the kernel shows the `recent` lists of this network namespace.
const RECENT_PROC: &str = "/proc/self/net/xt_recent";

/// Makes nfknock's `recent` lists root-only: the module creates them with
/// its `ip_list_perms` (0644 unless the module was loaded with the
/// package's /etc/modprobe.d/nfknock.conf), and a list shows who knocked
/// how far. A module loaded before keeps its parameter, so every load
/// sets the mode of each list itself (the kernel lets root chmod them).
fn protect_recent_lists() -> Result<(), Error> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let entries = match std::fs::read_dir(RECENT_PROC) {
        Ok(e) => e,
        // No list at all (the module is not loaded).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Failed {
                command: format!("reading {RECENT_PROC}"),
                message: e.to_string(),
            });
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if ipt::parse_recent_list(&name.to_string_lossy()).is_none() {
            continue;
        }
        let path = entry.path();
        let private = std::fs::metadata(&path)
            .is_ok_and(|m| m.permissions().mode() & 0o077 == 0 && m.uid() == 0);
        if private {
            continue;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::os::unix::fs::chown(&path, Some(0), Some(0)))
            .map_err(|e| Error::Failed {
                command: format!("chmod 600 {}", path.display()),
                message: e.to_string(),
            })?;
    }
    Ok(())
}

/// What one family had of nfknock's: its chains and their rules, and its
/// rules in INPUT and FORWARD.
struct Snapshot {
    chains: Vec<String>,
    lines: Vec<String>,
}

impl Snapshot {
    /// The snapshot of `text` (a family's [`save`]). nfknock's rules in
    /// INPUT and FORWARD go back first in their chains, in their order,
    /// where an apply puts them.
    fn of(text: &str) -> Snapshot {
        let mut at = HashMap::new();
        let lines = text
            .lines()
            .map(str::trim)
            .filter_map(|line| {
                if let Some((chain, spec)) = ipt::hook_rule(line) {
                    let n = at.entry(chain).or_insert(0);
                    *n += 1;
                    return Some(format!("-I {chain} {n} {spec}"));
                }
                line.strip_prefix("-A ")
                    .and_then(|l| l.split_whitespace().next())
                    .is_some_and(ipt::ours)
                    .then(|| line.to_string())
            })
            .collect();
        Snapshot {
            chains: Current::parse(text).chains,
            lines,
        }
    }

    /// The script that puts it back over `now`: every jump of `now` and
    /// every chain the snapshot did not have goes (as an apply's preamble
    /// does), the snapshot's chains are emptied and refilled.
    fn script(&self, now: &Current) -> String {
        let mut o = String::from("*filter\n");
        for c in &self.chains {
            let _ = writeln!(o, ":{c} - [0:0]");
        }
        for p in preamble(now, &self.chains) {
            let _ = writeln!(o, "{p}");
        }
        for l in &self.lines {
            let _ = writeln!(o, "{l}");
        }
        o.push_str("COMMIT\n");
        o
    }
}

impl Backend for Iptables {
    fn fits(&self, cfg: &Config) -> Vec<Problem> {
        fits(cfg)
    }

    fn render(&self, plan: &Plan) -> String {
        render(plan)
    }

    fn apply(&self, plan: &Plan) -> Result<String, Error> {
        create_ipsets()?;
        let saves = [save(&TOOLS[0])?, save(&TOOLS[1])?];
        let mut scripts = [String::new(), String::new()];
        for (i, tool) in TOOLS.iter().enumerate() {
            let r = rules(plan, tool.family);
            let cur = Current::parse(&saves[i]);
            scripts[i] = script(&r, &preamble(&cur, &r.names()));
        }
        load(scripts, &Snapshot::of(&saves[0]))?;
        // Transient networks last until the next apply.
        for f in Family::ALL {
            ipset(&["flush", &ipt::ipset(f)], None)?;
        }
        Ok(render(plan))
    }

    fn remove(&self) -> Result<bool, Error> {
        let mut any = false;
        let saves = [save(&TOOLS[0])?, save(&TOOLS[1])?];
        let mut scripts = [String::new(), String::new()];
        for (i, cur) in saves.iter().map(|t| Current::parse(t)).enumerate() {
            any |= !cur.chains.is_empty() || !cur.hooks.is_empty();
            scripts[i] = script(&Rules::default(), &preamble(&cur, &[]));
        }
        if any {
            load(scripts, &Snapshot::of(&saves[0]))?;
        }
        for f in Family::ALL {
            // Gone already is fine; in use (by someone else's rule) is not.
            if let Err(e) = ipset(&["destroy", &ipt::ipset(f)], None)
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
            backend: BackendKind::Iptables,
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
            let Some((door, stage)) = ipt::parse_recent_list(&list) else {
                continue;
            };
            let d = status.door_mut(&door);
            d.knocks = d.knocks.max(stage + 1);
            let text = std::fs::read_to_string(format!("{RECENT_PROC}/{list}")).unwrap_or_default();
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
            let count = |kind| counter(&all, &ipt::counter_comment(kind, &d.name));
            d.counters = Counters {
                knocks: count(Counter::Knocks),
                entries: count(Counter::Entries),
                resets: count(Counter::Resets),
            };
        }
        for (mode, answer) in [
            (Mode::Guard, Answer::Reset),
            (Mode::Guard, Answer::Drop),
            (Mode::Firewall, Answer::Drop),
        ] {
            if all.contains(&ipt::closed_comment(mode, answer)) {
                status.add_closed(answer.as_str());
            }
        }
        status.forward_dropped = all.contains(ipt::FORWARD_DROP_COMMENT);
        status.transient = self.transient_list()?;
        Ok(status)
    }

    fn transient_add(&self, nets: &[IpNet], timeout: Option<Duration>) -> Result<(), Error> {
        require_loaded()?;
        if let Some(t) = timeout.filter(|t| t.subsec_nanos() != 0) {
            return Err(Error::Unsupported(format!(
                "the iptables backend keeps transient networks in an ipset, which counts whole seconds: --timeout {} is not a whole number of seconds",
                humantime::format_duration(t)
            )));
        }
        let t = timeout.map_or(0, |t| t.as_secs());
        transient_script("add", nets, &format!(" timeout {t}"))
    }

    fn transient_del(&self, nets: &[IpNet]) -> Result<(), Error> {
        require_loaded()?;
        transient_script("del", nets, "")
    }

    fn transient_flush(&self) -> Result<(), Error> {
        require_loaded()?;
        for f in Family::ALL {
            ipset(&["flush", &ipt::ipset(f)], None)?;
        }
        Ok(())
    }

    fn transient_list(&self) -> Result<Vec<Transient>, Error> {
        require_loaded()?;
        let mut out = Vec::new();
        for f in Family::ALL {
            let text = ipset(&["list", &ipt::ipset(f), "-o", "save"], None)?;
            out.extend(parse_ipset_save(&text, f));
        }
        Ok(out)
    }
}

fn require_loaded() -> Result<(), Error> {
    for f in Family::ALL {
        if ipset(&["list", "-n", &ipt::ipset(f)], None).is_err() {
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
        let _ = writeln!(s, "{verb} {} {}{suffix}", ipt::ipset(f), net.trunc());
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
            let network = if net.contains('/') {
                net.parse().ok()?
            } else {
                format!("{net}/{host}").parse().ok()?
            };
            Some(Transient {
                network,
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
fn parse_recent_entries(text: &str) -> Vec<(IpAddr, u64)> {
    text.lines()
        .filter_map(|l| {
            let addr: IpAddr = l
                .split_whitespace()
                .next()?
                .strip_prefix("src=")?
                .parse()
                .ok()?;
            let mut w = l.split_whitespace();
            w.find(|x| *x == "last_seen:")?;
            let seen = w.next()?.parse().ok()?;
            // The kernel prints IPv6 in full; IpAddr shows it compressed.
            Some((addr, seen))
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

/// Whether a script touches only nfknock's chains and its rules in INPUT
/// and FORWARD.
#[cfg(test)]
fn only_nfknock_chains(script: &str) -> Result<(), String> {
    for (i, line) in script.lines().enumerate() {
        let l = line.trim();
        let ok = l.is_empty()
            || l.starts_with('#')
            || l == "*filter"
            || l == "COMMIT"
            || ipt::hook_rules().any(|r| r == l)
            || l.strip_prefix(':')
                .and_then(|c| c.split_whitespace().next())
                .is_some_and(ipt::ours)
            || l.strip_prefix("-A ")
                .and_then(|c| c.split_whitespace().next())
                .is_some_and(ipt::ours);
        if !ok {
            return Err(format!("line {}: `{l}`", i + 1));
        }
    }
    Ok(())
}

/// Checks that a configuration fits this backend: `recent` counts whole
/// seconds and LOG keeps 29 characters of prefix.
fn fits(cfg: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    for d in &cfg.doors {
        for (key, t) in [
            ("sequence_timeout", d.sequence_timeout),
            ("door_timeout", d.door_timeout),
        ] {
            if t.subsec_millis() != 0 {
                problems.push(Problem::door(
                    &d.name,
                    key,
                    "the iptables backend counts whole seconds",
                ));
            }
        }
        let longest = log_prefix(&cfg.log_prefix, Event::Reset, Some(&d.name));
        if longest.len() > MAX_LOG_PREFIX {
            problems.push(Problem::door(
                &d.name,
                "name",
                format!(
                    "with [log] prefix \"{}\", the log prefix `{longest}` is longer than the {MAX_LOG_PREFIX} characters iptables keeps; shorten the door name or the prefix",
                    cfg.log_prefix
                ),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// multiport takes at most 15 ports, a range counting as two: a
    /// longer list is split, never a range.
    #[test]
    fn multiport_splits_at_fifteen_ports_a_range_counting_two() {
        let r = |s: &str| s.parse::<PortRange>().unwrap();
        let mut ports: Vec<PortRange> = (1..=14).map(|p| r(&p.to_string())).collect();
        ports.push(r("100-200"));
        ports.push(r("u:60000-61000"));
        assert_eq!(
            multiport(&ports),
            [
                "-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14",
                "-p tcp -m multiport --dports 100:200",
                "-p udp -m multiport --dports 60000:61000",
            ]
        );
        // 13 ports and a range: 15, the most one match takes.
        ports.truncate(13);
        ports.push(r("100-200"));
        assert_eq!(
            multiport(&ports),
            ["-p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,100:200"]
        );
        let sixteen: Vec<PortRange> = (1..=16).map(|p| r(&p.to_string())).collect();
        assert_eq!(multiport(&sixteen).len(), 2);
    }

    fn cfg(text: &str) -> Config {
        crate::load::parse(text, Path::new("t.toml")).unwrap()
    }

    fn plan(text: &str) -> Plan {
        super::super::plan::test_plan(text)
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
        let p = plan(ONE_DOOR);
        let d = &p.doors[0];
        assert_eq!(
            ipt::parse_recent_list(&list(&d.lines[0].stages[1].set, Family::V6)),
            Some(("a_b".into(), 2))
        );
        assert_eq!(
            ipt::parse_recent_list(&list(&d.open, Family::V4)),
            Some(("a_b".into(), 0))
        );
        assert_eq!(ipt::parse_recent_list("other"), None);
    }

    #[test]
    fn render_splits_into_families_that_touch_only_nfknock() {
        let text = render(&plan(ONE_DOOR));
        let [v4, v6] = split(&text).unwrap();
        assert!(v4.contains("icmp-port-unreachable") || !v4.contains("udp --dport 22"));
        for part in [&v4, &v6] {
            only_nfknock_chains(part).unwrap();
            assert_eq!(part.matches("-I INPUT 1 ").count(), 1);
            assert_eq!(part.matches("-j NFKNOCK").count(), 1);
            assert_eq!(part.matches("-I FORWARD 1 -j NFK-FORWARD").count(), 1);
        }
        assert!(only_nfknock_chains("*filter\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n").is_err());
        assert!(only_nfknock_chains("-F\n").is_err());
    }

    #[test]
    fn preamble_removes_every_jump_and_stale_chains() {
        // An earlier version's jump, twice, this one's firewall rules, and
        // rules of the host's own that name nfknock: never touched.
        let save = "*filter\n:INPUT ACCEPT [0:0]\n:NFKNOCK - [0:0]\n:NFK-K-old - [0:0]\n\
                    -A INPUT -j NFKNOCK\n-A INPUT -j NFKNOCK\n\
                    -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"nfknock:established\" -j ACCEPT\n\
                    -A INPUT -p tcp -m comment --comment \"not nfknock:\" -j ACCEPT\n\
                    -A INPUT -s 10.0.0.5/32 -m comment --comment \"nfknock: bastion\" -j ACCEPT\n\
                    -A INPUT -s 192.0.2.1/32 -j MYNFKNOCK\n\
                    -A INPUT -s 192.0.2.1/32 -j NFKNOCK\n\
                    -A INPUT -j NFK-MINE\n\
                    -A FORWARD -j NFK-FORWARD\n-A NFKNOCK -j RETURN\nCOMMIT\n";
        let cur = Current::parse(save);
        let p = preamble(&cur, &["NFKNOCK".to_string()]);
        assert_eq!(
            p,
            vec![
                "-D INPUT -j NFKNOCK",
                "-D INPUT -j NFKNOCK",
                "-D INPUT -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"nfknock:established\" -j ACCEPT",
                "-D FORWARD -j NFK-FORWARD",
                "-F NFK-K-old",
                "-X NFK-K-old"
            ]
        );
        // A rollback puts nfknock's rules back first in their chains.
        let snap = Snapshot::of(save);
        assert_eq!(
            snap.lines[..4],
            [
                "-I INPUT 1 -j NFKNOCK",
                "-I INPUT 2 -j NFKNOCK",
                "-I INPUT 3 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"nfknock:established\" -j ACCEPT",
                "-I FORWARD 1 -j NFK-FORWARD",
            ]
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
            vec![("2001:db8::2".parse().unwrap(), 4295383281)]
        );
        let t = parse_ipset_save(
            "create s hash:net family inet\nadd s 192.0.2.0/24 timeout 59\nadd s 198.51.100.7 timeout 0\n",
            Family::V4,
        );
        assert_eq!(t[0].network.to_string(), "192.0.2.0/24");
        assert_eq!(t[0].expires_in, Some(59.0));
        assert_eq!(t[1].network.to_string(), "198.51.100.7/32");
        assert_eq!(t[1].expires_in, None);
    }

    #[test]
    fn configs_that_do_not_fit() {
        // check refuses them: validation asks this backend.
        let err = |t: &str| {
            crate::load::parse(t, Path::new("t.toml"))
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
        assert!(Iptables.fits(&cfg(ONE_DOOR)).is_empty());
        // The same doors are fine with nftables.
        cfg(&ONE_DOOR
            .replace("a_b", "a-very-long-door")
            .replace("iptables", "nftables"));
    }
}
