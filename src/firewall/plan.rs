//! How knock sequences become rules: the plan, decided once for every
//! backend. `nftables.rs` and `iptables.rs` only print it in their syntax.
//!
//! A door accepts one *line* of knocks (a fixed door) or three (a rotating
//! door: the previous, the current and the next period's sequence, period
//! `n` in slot `n mod 3`, so a rotation replaces only the oldest slot). A
//! line of n knocks is an automaton over a source's progress, kept by the
//! kernel in one state set per stage and family (`stage<i>` holds the
//! sources that sent the first i knocks, 1 <= i < n; each element expires
//! after `sequence_timeout`):
//!
//! - a source in no stage set that sends knock 1 enters stage 1;
//! - a source in stage i that sends knock i+1 moves to stage i+1, or, when
//!   that was the last knock, leaves the line and enters the door's open
//!   set (for `door_timeout`): the door opens for it;
//! - a source in stage i that sends knock i again (a retransmission of the
//!   knock just accepted) stays where it is;
//! - a source in stage i that sends anything else leaves the line (a
//!   reset), and the packet is judged as from a fresh source: only knock 1
//!   starts the line again. So a port scanner never walks a sequence.
//!
//! Every knock that moves a source refreshes it in the `knocking` set too,
//! whose timeout is the longest `sequence_timeout`: a source not in it is
//! in no stage set, so only first knocks need the knock chains.
//! [`Line::after`] is this automaton in plain code, for the tests.
//!
//! A door hides the port a client connects to, whatever the probe and
//! however the host delivers it. Every packet conntrack does not place in
//! an established or related connection reaches the door's rules
//! ([`DoorPlan::rules`]): a NEW one by its original destination (before
//! any DNAT, so a forwarded port is hidden as a local one, on the input
//! and the forward hook alike), an INVALID or untracked one (`notrack`)
//! by its destination port (without conntrack there is no NAT). What is
//! not let in gets the answer of a closed port of this host
//! ([`ClosedAnswer`]).
//!
//! Who may knock and where ([`DoorPlan::knockers`],
//! [`DoorPlan::interfaces`]): a door with `from` lets only sources in those
//! networks enter its first stage (later stages need the first, so they
//! follow); a family without such networks cannot knock on it at all. A
//! door with `interfaces` sees only packets that arrive on one of them
//! (`iifname`: also an interface made later; on the forward hook, the one
//! the client's packet came in on): its knock chains are entered and its
//! chain is jumped to from there alone. A packet from anywhere else goes on
//! as if the door were not there: in guard mode to the host's own rules,
//! in firewall mode to the open ports and then the drop.
//!
//! The forward hook ([`Plan::forward_rules`]) leaves routed traffic to
//! the host's own rules (Docker, libvirt, a router's) and only hides the
//! doors on forwarded (DNAT) ports, unless firewall mode has `forward =
//! "drop"`: then forwarded traffic is default-deny as inbound traffic is.
//! What passes is what firewall mode lets in, judged by the port the
//! client connected to (before any DNAT) whichever host behind this one
//! it reaches: established and related packets, the `[allow]` and
//! transient networks, a door's port after a knock, the `open` ports,
//! ICMP as `icmp` says, and always the ICMPv6 errors that IPv6 routing
//! needs (RFC 4890 4.3.1; neighbour discovery is never forwarded).

use std::time::Duration;

use super::{Family, SET_SIZE};
use crate::config::{
    Allow, Closed, DoorName, Firewall, Forward, Interface, LogPrefix, Mode, OpenPrefix, Resolved,
    ResolvedDoor, Sequence, Sources,
};
use crate::port::{PortRange, PortSpec, Proto};

/// Which sequence of a door a line is: a fixed door has one; a rotating
/// door has three, period `n` in slot `n mod 3`: the previous, the
/// current and the next period's sequences are always in different slots,
/// and a rotation to the next period replaces only the previous one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    Fixed,
    A,
    B,
    C,
}

impl Slot {
    /// The slots of a rotating door, in order.
    pub const ROTATING: [Slot; 3] = [Slot::A, Slot::B, Slot::C];

    /// The slot of rotation period `n`.
    pub fn of_period(n: u64) -> Slot {
        Slot::ROTATING[(n % 3) as usize]
    }
}

/// What a knock-state set holds.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Sources that sent these knocks of a door's line, in order.
    Sent {
        door: DoorName,
        slot: Slot,
        sent: Vec<PortSpec>,
    },
    /// Sources for which the door is open, to every port of `ports`: each
    /// the knocker's network of `prefix` (its address at the default /32
    /// and /128).
    Open {
        door: DoorName,
        ports: Vec<PortRange>,
        prefix: OpenPrefix,
    },
    /// Sources in the middle of any door's sequence.
    Knocking,
}

/// The key of the fingerprints in kernel object names (the state
/// directory's `names.key`): without it, no name or comment can be worked
/// out from a knock sequence, as `/proc/net/xt_recent` shows the names to
/// every user.
pub type NamesKey = [u8; 32];

/// A dynamic set (nftables) or `recent` list (iptables) of knock state,
/// one per family.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSet {
    pub state: State,
    /// How long the kernel keeps a source in it.
    pub timeout: Duration,
    /// The key its fingerprint is made with.
    pub key: NamesKey,
}

/// How a backend keeps knock state: besides the state and its timeout,
/// what decides whether a set kept across a re-apply still means the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keeping {
    /// Whether timeouts count milliseconds (nftables) or whole seconds
    /// (`recent`).
    pub millis: bool,
    /// How many sources a set holds, when the set declares it.
    pub capacity: Option<u32>,
}

/// nftables sets: millisecond timers, [`SET_SIZE`] sources.
pub const NFT_SETS: Keeping = Keeping {
    millis: true,
    capacity: Some(SET_SIZE),
};

/// `recent` lists: whole seconds; their size is the module's.
pub const RECENT_LISTS: Keeping = Keeping {
    millis: false,
    capacity: None,
};

impl StateSet {
    /// What the set means, as text: the door, the family, the state (the
    /// knocks so far, or the door's ports, all of them) and the timeout. A re-apply keeps
    /// a set, and the sources in it, exactly when this did not change.
    pub fn meaning(&self, family: Family, keeping: Keeping) -> String {
        let f = family.suffix();
        let t = if keeping.millis {
            self.timeout.as_millis()
        } else {
            u128::from(self.timeout.as_secs())
        };
        let tail = match keeping.capacity {
            Some(c) => format!("{t} {c}"),
            None => t.to_string(),
        };
        match &self.state {
            State::Sent { door, sent, .. } => {
                let knocks: Vec<String> = sent.iter().map(PortSpec::to_string).collect();
                format!("{door} {f} {} {} {tail}", sent.len(), knocks.join(","))
            }
            // One port reads as it always did, and the default width says
            // nothing, so an upgrade keeps the open sets; another width is
            // another set: a changed width must not keep the networks of
            // the old one.
            State::Open {
                door,
                ports,
                prefix,
            } => {
                let ports: Vec<String> = ports.iter().map(PortRange::to_string).collect();
                let ports = ports.join(",");
                match open_prefix(*prefix, family) {
                    Some(len) => format!("{door} {f} open {ports} /{len} {tail}"),
                    None => format!("{door} {f} open {ports} {tail}"),
                }
            }
            State::Knocking => format!("knocking {f} {tail}"),
        }
    }

    /// The fingerprint of [`StateSet::meaning`], carried in the set's
    /// comment (nftables) or the list's name (iptables): HMAC-SHA256 with
    /// the install's [`NamesKey`], so that it gives nothing away about the
    /// knocks to whoever sees it.
    pub fn fingerprint(&self, family: Family, keeping: Keeping) -> u32 {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("any key size");
        mac.update(b"nfknock-names-v1\0");
        mac.update(self.meaning(family, keeping).as_bytes());
        let h = mac.finalize().into_bytes();
        u32::from_be_bytes([h[0], h[1], h[2], h[3]])
    }
}

/// The prefix length an open set of `family` holds networks of, when it
/// is shorter than an address: what the rules mask a source with before
/// they add it, look it up or remove it. `None`: the source itself.
pub fn open_prefix(prefix: OpenPrefix, family: Family) -> Option<u8> {
    let (len, full) = match family {
        Family::V4 => (prefix.v4(), 32),
        Family::V6 => (prefix.v6(), 128),
    };
    (len < full).then_some(len)
}

/// The netmask of a prefix length in `family`: `255.255.255.0` for 24,
/// `ffff:ffff:ffff:ffff::` for 64.
pub fn netmask(family: Family, len: u8) -> std::net::IpAddr {
    use ipnet::{Ipv4Net, Ipv6Net};
    match family {
        Family::V4 => Ipv4Net::new(std::net::Ipv4Addr::UNSPECIFIED, len)
            .expect("a validated length")
            .netmask()
            .into(),
        Family::V6 => Ipv6Net::new(std::net::Ipv6Addr::UNSPECIFIED, len)
            .expect("a validated length")
            .netmask()
            .into(),
    }
}

/// FNV-1a, folded to 32 bits: stable across Rust versions, unlike
/// `DefaultHasher`. Names what a knock-state set or list means.
pub fn fingerprint(text: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

/// Where a stage leads with the expected knock.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// The next stage's set.
    Stage(StateSet),
    /// The last knock: the door opens.
    Open,
}

/// A source that sent the first `sent` knocks of a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Knocks sent so far, 1 to n-1.
    pub sent: usize,
    pub set: StateSet,
    /// The knock that moves the source on: knock `sent + 1`.
    pub expect: PortSpec,
    /// The knock just accepted, knock `sent`: a retransmission.
    pub again: PortSpec,
    pub next: Next,
}

/// One sequence a door accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub slot: Slot,
    pub sequence: Sequence,
    /// Stages 1 to n-1, in order.
    pub stages: Vec<Stage>,
}

impl Line {
    fn new(door: ResolvedDoor<'_>, slot: Slot, sequence: &Sequence, key: NamesKey) -> Line {
        let door = door.door;
        let set = |sent: usize| StateSet {
            state: State::Sent {
                door: door.name.clone(),
                slot,
                sent: sequence[..sent].to_vec(),
            },
            timeout: door.sequence_timeout,
            key,
        };
        let n = sequence.len();
        let stages = (1..n)
            .map(|i| Stage {
                sent: i,
                set: set(i),
                expect: sequence[i],
                again: sequence[i - 1],
                next: if i + 1 < n {
                    Next::Stage(set(i + 1))
                } else {
                    Next::Open
                },
            })
            .collect();
        Line {
            slot,
            sequence: sequence.clone(),
            stages,
        }
    }

    /// Knocks in the sequence.
    pub fn len(&self) -> usize {
        self.sequence.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sequence.is_empty()
    }

    /// The knock that starts the line.
    pub fn first(&self) -> PortSpec {
        self.sequence.first()
    }

    /// The stage a first knock enters.
    pub fn entry(&self) -> &StateSet {
        &self.stages[0].set
    }

    /// The automaton: where a source that sent `sent` knocks of this line
    /// (0: none) is after sending `knock`.
    pub fn after(&self, sent: usize, knock: PortSpec) -> Progress {
        if let Some(stage) = sent.checked_sub(1).and_then(|i| self.stages.get(i)) {
            if knock == stage.expect {
                return match stage.next {
                    Next::Stage(_) => Progress::Sent(sent + 1),
                    Next::Open => Progress::Open,
                };
            }
            if knock == stage.again {
                return Progress::Sent(sent);
            }
            // A reset; the packet goes on as from a fresh source.
        }
        if knock == self.first() {
            Progress::Sent(1)
        } else {
            Progress::Sent(0)
        }
    }
}

/// A source's progress on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Sent this many knocks (0: none, or reset).
    Sent(usize),
    /// Completed the line: the door is open for it.
    Open,
}

/// A rotating door's period, for the comments of the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub every: Duration,
    /// The period number of [`DoorPlan::sequence`].
    pub period: u64,
    /// The previous period's sequence, accepted too.
    pub previous: Vec<PortSpec>,
    /// The next period's sequence, accepted too: a client whose clock is
    /// ahead, or a knock just after a boundary before `nfknock rotate` ran.
    pub next: Vec<PortSpec>,
}

/// One door: its ports, its lines and its open set.
#[derive(Debug, Clone, PartialEq)]
pub struct DoorPlan {
    pub name: DoorName,
    /// Its ports and ranges, as listed: one knock opens them all.
    pub ports: Vec<PortRange>,
    /// The sequence that opens it now (a rotating door's current one).
    pub sequence: Sequence,
    pub sequence_timeout: Duration,
    pub door_timeout: Duration,
    pub rotation: Option<Rotation>,
    /// One line per slot, in slot order.
    pub lines: Vec<Line>,
    pub open: StateSet,
    /// Whether [`DoorRule::Enter`] also takes the source's network out of
    /// the open set: the first NEW connection closes the door for it
    /// (conntrack keeps that connection up).
    pub single_use: bool,
    /// `from`: the networks whose sources may enter the first stage;
    /// None: any source.
    pub from: Option<Sources>,
    /// `interfaces`: the only interfaces whose packets reach the door's
    /// knock chains and its chain; empty: every interface.
    pub interfaces: Vec<Interface>,
}

/// Who may start a door's sequence in one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Knockers {
    /// Any source.
    Anyone,
    /// Only sources in these networks (at least one).
    Only(Vec<ipnet::IpNet>),
    /// Nobody: `from` names networks of the other family only.
    Nobody,
}

impl DoorPlan {
    /// The protocols of its ports, TCP first: its chain has the rules of
    /// each (see [`DoorPlan::rules`]).
    pub fn protos(&self) -> Vec<Proto> {
        [Proto::Tcp, Proto::Udp]
            .into_iter()
            .filter(|p| self.ports.iter().any(|r| r.proto == *p))
            .collect()
    }

    /// Its ports and ranges of `proto`, as listed.
    pub fn ranges(&self, proto: Proto) -> impl Iterator<Item = &PortRange> {
        self.ports.iter().filter(move |r| r.proto == proto)
    }

    /// Whether its ports are of both protocols: then each rule of its
    /// chain must say which one it is for.
    pub fn mixed(&self) -> bool {
        self.protos().len() > 1
    }

    /// The rules of the door's chain for the door's `proto` ports, for
    /// one family, in order, in `mode` with `answer` for what is not let
    /// in. Every port of the door gets the rules of a single port of its
    /// protocol: the door's ports share its open set, nothing else.
    pub fn rules(&self, proto: Proto, mode: Mode, answer: Answer) -> Vec<DoorRule> {
        let mut rules = Vec::new();
        if self.single_use {
            rules.push(DoorRule::Again);
        }
        rules.push(DoorRule::Enter);
        match mode {
            Mode::Guard => {
                rules.push(DoorRule::Transient);
                match (answer, proto) {
                    (Answer::Reset, Proto::Tcp) => rules.push(DoorRule::Stack),
                    (Answer::Drop, Proto::Tcp) => rules.push(DoorRule::Untracked),
                    (_, Proto::Udp) => {}
                }
                rules.push(DoorRule::Closed(answer));
            }
            Mode::Firewall => rules.push(DoorRule::Closed(Answer::Drop)),
        }
        rules
    }

    /// The prefix length the open set holds networks of in `family`
    /// (see [`open_prefix`]): every rule that adds a source to it, looks
    /// one up or removes one masks the source with it.
    pub fn open_prefix(&self, family: Family) -> Option<u8> {
        match &self.open.state {
            State::Open { prefix, .. } => open_prefix(*prefix, family),
            _ => unreachable!("a door's open set holds State::Open"),
        }
    }

    /// Who may enter the door's first stage in `family`.
    pub fn knockers(&self, family: Family) -> Knockers {
        let Some(from) = &self.from else {
            return Knockers::Anyone;
        };
        let nets: Vec<ipnet::IpNet> = match family {
            Family::V4 => from.ipv4.iter().map(|&n| n.into()).collect(),
            Family::V6 => from.ipv6.iter().map(|&n| n.into()).collect(),
        };
        if nets.is_empty() {
            Knockers::Nobody
        } else {
            Knockers::Only(nets)
        }
    }

    /// Every state set of the door: each line's stages, then the open set.
    pub fn state_sets(&self) -> impl Iterator<Item = &StateSet> {
        self.lines
            .iter()
            .flat_map(|l| l.stages.iter().map(|s| &s.set))
            .chain([&self.open])
    }
}

/// How a closed port answers a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// TCP reset, ICMP port unreachable: a host without a firewall.
    Reset,
    /// Silence: a host whose firewall drops what it does not accept.
    Drop,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Reset => "reset",
            Answer::Drop => "drop",
        }
    }
}

/// What a closed door answers, per family, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedAnswer {
    pub v4: Answer,
    pub v6: Answer,
    /// Why, for `check`, `apply` and `status`: the `closed` setting, and
    /// for `auto` the host's chain that decided it.
    pub why: String,
}

impl ClosedAnswer {
    pub fn of(&self, family: Family) -> Answer {
        match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }

    /// The answer of `closed` in `mode`, beside a host whose own input
    /// chains drop what they do not accept in the families of
    /// `host_drops` (each with the chain that says so, for `auto`).
    pub fn decide(mode: Mode, closed: Closed, host_drops: &HostDrops) -> ClosedAnswer {
        let both = |a: Answer, why: String| ClosedAnswer { v4: a, v6: a, why };
        match (mode, closed) {
            (Mode::Firewall, _) => both(Answer::Drop, "mode = \"firewall\"".into()),
            (Mode::Guard, Closed::Reset) => both(Answer::Reset, "closed = \"reset\"".into()),
            (Mode::Guard, Closed::Drop) => both(Answer::Drop, "closed = \"drop\"".into()),
            (Mode::Guard, Closed::Auto) => {
                let answer = |f: Family| match host_drops.of(f) {
                    Some(_) => Answer::Drop,
                    None => Answer::Reset,
                };
                let why = match (&host_drops.v4, &host_drops.v6) {
                    (None, None) => {
                        "closed = \"auto\": no input chain of this host drops closed ports"
                            .to_string()
                    }
                    (Some(a), Some(b)) if a == b => {
                        format!("closed = \"auto\": {a} drops closed ports")
                    }
                    (a, b) => {
                        let part = |f: &str, c: &Option<String>| match c {
                            Some(c) => format!("{f}: {c} drops closed ports"),
                            None => format!("{f}: nothing drops closed ports"),
                        };
                        format!(
                            "closed = \"auto\": {}; {}",
                            part("IPv4", a),
                            part("IPv6", b)
                        )
                    }
                };
                ClosedAnswer {
                    v4: answer(Family::V4),
                    v6: answer(Family::V6),
                    why,
                }
            }
        }
    }
}

/// The host's own input chains (not nfknock's) that drop what they do not
/// accept, per family, as read from the live ruleset: `closed = "auto"`
/// answers as they do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostDrops {
    pub v4: Option<String>,
    pub v6: Option<String>,
}

impl HostDrops {
    pub fn of(&self, family: Family) -> Option<&String> {
        match family {
            Family::V4 => self.v4.as_ref(),
            Family::V6 => self.v6.as_ref(),
        }
    }
}

/// One rule of a door's chain, in order. Every packet that reaches a door
/// (see the module's comment) takes the first that matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorRule {
    /// A new connection (TCP: a bare SYN; UDP: any packet) from a source
    /// the door is open for: counted, logged and let in; on a single-use
    /// door ([`DoorPlan::single_use`]) the source's network leaves the
    /// open set too.
    Enter,
    /// On a single-use door, a NEW packet of a connection the door already
    /// let in: conntrack confirmed its first packet, which only an accept
    /// does (a TCP SYN sent again, a second UDP datagram before the
    /// answer). It passes as the first did, the door being closed already.
    Again,
    /// The same from a transient network (guard mode; in firewall mode
    /// they pass everything before the doors).
    Transient,
    /// TCP with ACK or RST goes on to the host, which answers it exactly
    /// as for a closed port (a reset to an ACK, nothing to a reset) and
    /// keeps any connection conntrack does not know (`notrack`) working.
    /// Only where closed ports answer at all.
    Stack,
    /// Where closed ports are silent, an untracked (`notrack`) TCP packet
    /// with ACK or RST from a source the door is open for goes on to the
    /// host: nothing else knows its connection. (It lasts while the door
    /// is open for that source.)
    Untracked,
    /// Everything else: what a closed port answers.
    Closed(Answer),
}

/// One rule of the forward hook, in order (see the module's comment).
/// A packet takes the first that matches; one that matches none goes on
/// to the host's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardRule {
    /// Established and related packets pass: nothing established is ever
    /// cut.
    Established,
    /// The ICMPv6 errors IPv6 routing needs pass (destination
    /// unreachable, packet too big, time exceeded, parameter problem).
    RoutingIcmpv6,
    /// What conntrack calls invalid is dropped.
    Invalid,
    /// Routed traffic (not DNAT'd) is no door's: it goes on to the host's
    /// rules untouched.
    RoutedGoesOn,
    /// `[allow]` networks pass.
    Allow,
    /// Transient networks pass (firewall mode).
    Transient,
    /// A NEW connection to a door's port, by the port the client
    /// connected to, goes to the door's chain.
    Doors,
    /// ICMP and ICMPv6 pass (`icmp = true`).
    Icmp,
    /// A connection to an `open` port, by the port the client connected
    /// to, passes.
    Open,
    /// Everything else is dropped.
    Drop,
}

/// Everything the rules of a configuration must do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub mode: Mode,
    pub log_prefix: LogPrefix,
    /// Networks that pass without knocking.
    pub allow: Allow,
    /// The open ports and ICMP of firewall mode.
    pub firewall: Firewall,
    pub doors: Vec<DoorPlan>,
    /// The first knock of every line, each once: what can start a sequence.
    pub first_knocks: Vec<PortSpec>,
    /// Every door's ports and ranges (no two overlap: validation).
    pub door_ports: Vec<PortRange>,
    /// The sources in the middle of any door's sequence.
    pub knocking: StateSet,
    /// What a closed door answers.
    pub closed: ClosedAnswer,
}

impl Plan {
    /// The plan of a resolved config: a rotating door's sequences are
    /// known only once it is resolved. `key` makes the names' fingerprints.
    /// `closed = "auto"` is taken as a host whose input chains drop nothing
    /// (see [`Plan::beside`]).
    pub fn new(cfg: &Resolved, key: NamesKey) -> Plan {
        Plan::beside(cfg, &HostDrops::default(), key)
    }

    /// The plan of a resolved config on a host whose own input chains
    /// drop what `host_drops` says.
    pub fn beside(cfg: &Resolved, host_drops: &HostDrops, key: NamesKey) -> Plan {
        let doors: Vec<DoorPlan> = cfg.doors().map(|d| door_plan(d, key)).collect();
        let mut first_knocks: Vec<PortSpec> = Vec::new();
        for line in doors.iter().flat_map(|d| &d.lines) {
            if !first_knocks.contains(&line.first()) {
                first_knocks.push(line.first());
            }
        }
        Plan {
            mode: cfg.mode,
            log_prefix: cfg.log_prefix.clone(),
            allow: cfg.allow.clone(),
            firewall: cfg.firewall.clone(),
            door_ports: doors.iter().flat_map(|d| d.ports.clone()).collect(),
            first_knocks,
            knocking: StateSet {
                state: State::Knocking,
                timeout: cfg.longest_sequence_timeout(),
                key,
            },
            closed: ClosedAnswer::decide(cfg.mode, cfg.closed, host_drops),
            doors,
        }
    }

    /// The doors with `proto` ports.
    pub fn doors_on(&self, proto: Proto) -> impl Iterator<Item = &DoorPlan> {
        self.doors
            .iter()
            .filter(move |d| d.protos().contains(&proto))
    }

    /// Whether forwarded traffic is default-deny: firewall mode with
    /// `forward = "drop"` (guard mode never filters forwarding).
    pub fn forward_drops(&self) -> bool {
        self.mode == Mode::Firewall && self.firewall.forward == Forward::Drop
    }

    /// Whether the input hook sends a packet redirected to this host
    /// (DNAT) to the doors, by the port the client connected to, before
    /// the `[firewall] open` ports. Firewall mode matches the open ports
    /// first, by the port a packet arrives on, so that a web server's
    /// traffic meets no door; a packet the host redirects from a door's
    /// port to an open one (`8443` to `443`) would be let in without a
    /// knock. Only a redirected packet pays for the check, and `[allow]`
    /// and transient networks pass it over, as they pass the doors.
    pub fn redirects_meet_doors_first(&self) -> bool {
        self.mode == Mode::Firewall && !self.firewall.open.is_empty() && !self.doors.is_empty()
    }

    /// The rules of the forward hook, in order.
    pub fn forward_rules(&self) -> Vec<ForwardRule> {
        use ForwardRule::*;
        let firewall = self.mode == Mode::Firewall;
        if !self.forward_drops() {
            let mut rules = vec![Established, RoutedGoesOn, Allow];
            if firewall {
                rules.push(Transient);
            }
            rules.push(Doors);
            return rules;
        }
        // Open ports before [allow] and transient networks, as on input:
        // a transient network is logged only where it is what lets a
        // packet through.
        let mut rules = vec![Established, RoutingIcmpv6, Invalid];
        if !self.firewall.open.is_empty() {
            rules.push(Open);
        }
        rules.extend([Allow, Transient, Doors]);
        if self.firewall.icmp {
            rules.push(Icmp);
        }
        rules.push(Drop);
        rules
    }

    /// Every state set, door by door, then the knocking set.
    pub fn state_sets(&self) -> impl Iterator<Item = &StateSet> {
        self.doors
            .iter()
            .flat_map(DoorPlan::state_sets)
            .chain([&self.knocking])
    }
}

fn door_plan(d: ResolvedDoor<'_>, key: NamesKey) -> DoorPlan {
    let door = d.door;
    let (lines, rotation) = match d.rotation {
        Some((r, rotation)) => {
            let n = rotation.period();
            // Period n - 1 is in the slot of n + 2 (mod 3).
            let slot = |k: u64| Slot::of_period(n % 3 + k);
            let mut lines = vec![
                Line::new(d, slot(2), rotation.previous(), key),
                Line::new(d, slot(0), rotation.current(), key),
                Line::new(d, slot(1), rotation.next(), key),
            ];
            lines.sort_by_key(|l| l.slot);
            let rotation = Rotation {
                every: r.period,
                period: n,
                previous: rotation.previous().to_vec(),
                next: rotation.next().to_vec(),
            };
            (lines, Some(rotation))
        }
        None => (vec![Line::new(d, Slot::Fixed, d.sequence, key)], None),
    };
    DoorPlan {
        name: door.name.clone(),
        ports: door.ports.to_vec(),
        sequence: d.sequence.clone(),
        sequence_timeout: door.sequence_timeout,
        door_timeout: door.door_timeout,
        rotation,
        lines,
        open: StateSet {
            state: State::Open {
                door: door.name.clone(),
                ports: door.ports.to_vec(),
                prefix: door.open_prefix,
            },
            timeout: door.door_timeout,
            key,
        },
        single_use: door.single_use,
        from: door.from.clone(),
        interfaces: door.interfaces.clone(),
    }
}

/// The names key of the unit tests.
#[cfg(test)]
pub(crate) const TEST_KEY: NamesKey = [7; 32];

/// The plan of a config with fixed doors only, for the tests.
#[cfg(test)]
pub(crate) fn test_plan(text: &str) -> Plan {
    let cfg = crate::load::parse(text, std::path::Path::new("t.toml")).unwrap();
    Plan::new(&crate::rotate::resolve(cfg, 0).unwrap(), TEST_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::Proto;
    use std::path::Path;

    fn plan(text: &str) -> Plan {
        test_plan(text)
    }

    fn door(sequence: &str) -> String {
        format!("[[door]]\nname = \"ssh\"\nport = \"22/tcp\"\nsequence = [{sequence}]\n")
    }

    fn tcp(port: u16) -> PortSpec {
        PortSpec::new(port, Proto::Tcp)
    }

    /// Sends `knocks` from a fresh source; the progress after each.
    fn run(line: &Line, knocks: &[PortSpec]) -> Vec<Progress> {
        let mut sent = 0;
        knocks
            .iter()
            .map(|k| {
                let p = line.after(sent, *k);
                sent = match p {
                    Progress::Sent(s) => s,
                    Progress::Open => 0,
                };
                p
            })
            .collect()
    }

    #[test]
    fn the_sequence_opens_the_door() {
        let p = plan(&door(r#""1000/tcp", "2000/udp", "3000/tcp""#));
        let line = &p.doors[0].lines[0];
        assert_eq!(line.stages.len(), 2);
        assert_eq!(
            run(line, &line.sequence),
            [Progress::Sent(1), Progress::Sent(2), Progress::Open]
        );
        assert_eq!(line.stages[1].next, Next::Open);
        assert_eq!(line.stages[0].next, Next::Stage(line.stages[1].set.clone()));
    }

    #[test]
    fn a_retransmission_changes_nothing_anything_else_starts_over() {
        let p = plan(&door(r#""1000", "2000", "3000", "4000""#));
        let line = &p.doors[0].lines[0];
        let (k1, k2, k3, k4) = (tcp(1000), tcp(2000), tcp(3000), tcp(4000));
        assert_eq!(
            run(line, &[k1, k1, k2, k2, k3, k4]),
            [1, 1, 2, 2, 3]
                .map(Progress::Sent)
                .into_iter()
                .chain([Progress::Open])
                .collect::<Vec<_>>()
        );
        // A wrong knock resets; a first knock after it starts afresh.
        assert_eq!(line.after(2, tcp(9)), Progress::Sent(0));
        assert_eq!(line.after(2, k4), Progress::Sent(0));
        assert_eq!(line.after(3, k1), Progress::Sent(1));
        // An older knock is not a retransmission.
        assert_eq!(line.after(3, k2), Progress::Sent(0));
    }

    #[test]
    fn a_port_scan_walks_only_a_walkable_sequence() {
        let scan: Vec<PortSpec> = (1..=u16::MAX).map(tcp).collect();
        let opens = |seq: &str| {
            let p = plan(&door(seq));
            run(&p.doors[0].lines[0], &scan).contains(&Progress::Open)
        };
        assert!(!opens(r#""48211/tcp", "48213/tcp", "48215/tcp""#));
        assert!(!opens(r#""1000/tcp", "2000/udp", "3000/tcp""#));
        // What validation refuses, for the reason it does.
        let cfg = crate::rotate::resolve(
            crate::load::parse(&door(r#""1", "5", "9""#), Path::new("t")).unwrap(),
            0,
        )
        .unwrap();
        let walkable = Sequence::unchecked(vec![tcp(1000), tcp(1001), tcp(1002)]);
        let line = Line::new(cfg.door("ssh").unwrap(), Slot::Fixed, &walkable, TEST_KEY);
        assert!(run(&line, &scan).contains(&Progress::Open));
    }

    #[test]
    fn first_knocks_are_listed_once_and_door_ports_all() {
        let p = plan(
            r#"
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
"#,
        );
        assert_eq!(p.first_knocks, [tcp(1001), PortSpec::new(4001, Proto::Udp)]);
        assert_eq!(p.door_ports, [tcp(22).into(), tcp(23).into()]);
        assert_eq!(p.knocking.timeout, Duration::from_secs(20));
        assert_eq!(p.state_sets().count(), 2 * 3 + 1);
    }

    #[test]
    fn meanings_follow_the_knocks_so_far_and_the_backend() {
        let a = plan(&door(r#""1000/tcp", "2000/udp", "3000/tcp""#));
        let b = plan(&door(r#""1000/tcp", "2001/udp", "3000/tcp""#));
        let sets = |p: &Plan| -> Vec<u32> {
            p.state_sets()
                .map(|s| s.fingerprint(Family::V4, NFT_SETS))
                .collect()
        };
        let (sa, sb) = (sets(&a), sets(&b));
        assert_eq!(sa[0], sb[0], "stage 1 saw only knock 1, unchanged");
        assert_ne!(sa[1], sb[1], "stage 2 saw the changed knock");
        assert_eq!(sa[2], sb[2], "the open set does not depend on knocks");
        let stage2 = &a.doors[0].lines[0].stages[1].set;
        assert_eq!(
            stage2.meaning(Family::V6, NFT_SETS),
            "ssh v6 2 1000/tcp,2000/udp 10000 65536"
        );
        assert_eq!(
            stage2.meaning(Family::V4, RECENT_LISTS),
            "ssh v4 2 1000/tcp,2000/udp 10"
        );
        assert_eq!(
            a.doors[0].open.meaning(Family::V4, RECENT_LISTS),
            "ssh v4 open 22/tcp 30"
        );
        assert_eq!(
            a.knocking.meaning(Family::V4, NFT_SETS),
            "knocking v4 10000 65536"
        );
    }

    /// An open set of another width is another set: a re-apply must not
    /// keep the addresses of a /32 set as /24 networks, or the reverse.
    /// The default width leaves the meaning as it was before the key
    /// existed, so an upgrade keeps the open doors.
    #[test]
    fn the_open_sets_meaning_follows_its_width() {
        let d = door(r#""1000/tcp", "2000/udp", "3000/tcp""#);
        let host = plan(&d);
        let v4 = plan(&format!("open_prefix_v4 = 24\n{d}"));
        let v6 = plan(&format!("{d}open_prefix_v6 = 64\nsingle_use = true\n"));
        let open = |p: &Plan, f, k| p.doors[0].open.meaning(f, k);
        assert_eq!(
            open(&host, Family::V4, RECENT_LISTS),
            "ssh v4 open 22/tcp 30"
        );
        assert_eq!(
            open(&v4, Family::V4, RECENT_LISTS),
            "ssh v4 open 22/tcp /24 30"
        );
        assert_eq!(
            open(&v6, Family::V6, NFT_SETS),
            "ssh v6 open 22/tcp /64 30000 65536"
        );
        for k in [NFT_SETS, RECENT_LISTS] {
            assert_eq!(open(&v4, Family::V6, k), open(&host, Family::V6, k));
            assert_eq!(open(&v6, Family::V4, k), open(&host, Family::V4, k));
            assert_ne!(open(&v4, Family::V4, k), open(&host, Family::V4, k));
            assert_ne!(open(&v6, Family::V6, k), open(&host, Family::V6, k));
        }
        assert_eq!(v4.doors[0].open_prefix(Family::V4), Some(24));
        assert_eq!(v4.doors[0].open_prefix(Family::V6), None);
        assert_eq!(netmask(Family::V4, 24).to_string(), "255.255.255.0");
        assert_eq!(netmask(Family::V6, 64).to_string(), "ffff:ffff:ffff:ffff::");
        assert!(!host.doors[0].single_use && v6.doors[0].single_use);
    }

    /// A door of several ports: one open set for them all, whose meaning
    /// holds every port (so a re-apply that changes the list starts the
    /// set afresh), and the rules of each protocol in its chain.
    #[test]
    fn a_door_of_several_ports_has_one_open_set_and_each_protocols_rules() {
        let one = plan(&door(r#""1000/tcp", "2000/udp", "3000/tcp""#));
        let text = door(r#""1000/tcp", "2000/udp", "3000/tcp""#)
            .replace("\"22/tcp\"", r#"["22/tcp", "60000-61000/udp"]"#);
        let many = plan(&text);
        let ssh = &many.doors[0];
        assert_eq!(
            ssh.open.meaning(Family::V4, RECENT_LISTS),
            "ssh v4 open 22/tcp,60000-61000/udp 30"
        );
        assert_ne!(
            ssh.open.fingerprint(Family::V4, NFT_SETS),
            one.doors[0].open.fingerprint(Family::V4, NFT_SETS)
        );
        let wider = plan(&text.replace("61000", "61001"));
        assert_ne!(
            ssh.open.fingerprint(Family::V4, NFT_SETS),
            wider.doors[0].open.fingerprint(Family::V4, NFT_SETS),
            "a wider range is another open set"
        );
        assert_eq!(ssh.protos(), [Proto::Tcp, Proto::Udp]);
        assert!(ssh.mixed() && !one.doors[0].mixed());
        use DoorRule::*;
        assert_eq!(
            ssh.rules(Proto::Udp, Mode::Guard, Answer::Reset),
            [Enter, Transient, Closed(Answer::Reset)]
        );
        assert_eq!(
            ssh.rules(Proto::Tcp, Mode::Guard, Answer::Reset),
            [Enter, Transient, Stack, Closed(Answer::Reset)]
        );
        assert_eq!(many.door_ports.len(), 2);
        assert_eq!(many.doors_on(Proto::Udp).count(), 1);
    }

    // The names' fingerprints depend on the install's key: without it,
    // a name gives nothing away about the knocks.
    #[test]
    fn fingerprints_are_keyed() {
        let set = |key| StateSet {
            state: State::Knocking,
            timeout: Duration::from_secs(10),
            key,
        };
        let a = set(TEST_KEY).fingerprint(Family::V4, RECENT_LISTS);
        assert_eq!(a, set(TEST_KEY).fingerprint(Family::V4, RECENT_LISTS));
        assert_ne!(a, set([8; 32]).fingerprint(Family::V4, RECENT_LISTS));
        assert_ne!(
            a,
            fingerprint(&set(TEST_KEY).meaning(Family::V4, RECENT_LISTS))
        );
    }

    #[test]
    fn fingerprint_is_stable() {
        // A changed value here would reset every source mid-sequence on upgrade.
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; folded to 32 bits:
        assert_eq!(fingerprint("a"), 0xaf63dc4c ^ 0x8601ec8c);
    }

    #[test]
    fn both_backends_print_every_state_and_line_of_the_plan() {
        use super::super::names::{ipt, nft};
        let cfg = crate::load::parse(
            include_str!("../../tests/golden/rotate.toml"),
            Path::new("rotate.toml"),
        )
        .unwrap();
        let p = Plan::new(
            &crate::rotate::resolve(cfg, 1_800_000_000).unwrap(),
            TEST_KEY,
        );
        let ssh = &p.doors[0];
        let slots: Vec<Slot> = ssh.lines.iter().map(|l| l.slot).collect();
        assert_eq!(slots, Slot::ROTATING);
        for (i, a) in ssh.lines.iter().enumerate() {
            for b in &ssh.lines[i + 1..] {
                assert_ne!(a.sequence, b.sequence);
            }
        }
        let nft_text = super::super::nftables::render(&p);
        let ipt_text = super::super::iptables::render(&p);
        for set in p.state_sets() {
            for f in Family::ALL {
                let name = nft::state_set(set, f);
                assert!(nft_text.contains(&format!("\tset {name} {{")), "{name}");
                assert!(nft_text.contains(&format!("@{name} ")), "{name}");
                let list = ipt::recent_list(set, f, set.fingerprint(f, RECENT_LISTS));
                assert!(ipt_text.contains(&format!("--name {list} ")), "{list}");
            }
        }
        for d in &p.doors {
            for line in &d.lines {
                let chain = nft::knock_chain(&d.name, line.slot);
                assert!(nft_text.contains(&format!("chain {chain} {{")), "{chain}");
                let chain = ipt::knock_chain(&d.name, line.slot);
                assert!(ipt_text.contains(&format!(":{chain} - [0:0]")), "{chain}");
            }
        }
    }

    #[test]
    fn a_closed_door_answers_as_the_host_does() {
        let none = HostDrops::default();
        let v4 = HostDrops {
            v4: Some("table ip filter chain INPUT (policy drop)".into()),
            v6: None,
        };
        let d = |mode, closed, host: &HostDrops| {
            let c = ClosedAnswer::decide(mode, closed, host);
            (c.v4, c.v6)
        };
        use Answer::{Drop, Reset};
        assert_eq!(d(Mode::Guard, Closed::Auto, &none), (Reset, Reset));
        assert_eq!(d(Mode::Guard, Closed::Auto, &v4), (Drop, Reset));
        assert_eq!(d(Mode::Guard, Closed::Reset, &v4), (Reset, Reset));
        assert_eq!(d(Mode::Guard, Closed::Drop, &none), (Drop, Drop));
        assert_eq!(d(Mode::Firewall, Closed::Reset, &none), (Drop, Drop));
        let why = ClosedAnswer::decide(Mode::Guard, Closed::Auto, &v4).why;
        assert!(why.contains("IPv4: table ip filter chain INPUT"), "{why}");
    }

    #[test]
    fn a_door_lets_in_a_knockers_new_connection_and_answers_the_rest_as_closed() {
        let p = plan(&door(r#""1000/tcp", "2000/udp", "3000/tcp""#));
        let ssh = &p.doors[0];
        use DoorRule::*;
        assert_eq!(
            ssh.rules(Proto::Tcp, Mode::Guard, Answer::Reset),
            [Enter, Transient, Stack, Closed(Answer::Reset)]
        );
        // Where closed ports are silent, so is every probe of the door.
        assert_eq!(
            ssh.rules(Proto::Tcp, Mode::Guard, Answer::Drop),
            [Enter, Transient, Untracked, Closed(Answer::Drop)]
        );
        assert_eq!(
            ssh.rules(Proto::Tcp, Mode::Firewall, Answer::Reset),
            [Enter, Closed(Answer::Drop)]
        );
        // A single-use door lets the rest of the connection it let in.
        let once = plan(&format!(
            "{}single_use = true\n",
            door(r#""1000/tcp", "2000/udp", "3000/tcp""#)
        ));
        assert_eq!(
            once.doors[0].rules(Proto::Tcp, Mode::Guard, Answer::Reset),
            [Again, Enter, Transient, Stack, Closed(Answer::Reset)]
        );
        let udp = plan(&door(r#""1000/tcp", "2000/udp", "3000/tcp""#).replace("22/tcp", "53/udp"));
        assert_eq!(
            udp.doors[0].rules(Proto::Udp, Mode::Guard, Answer::Reset),
            [Enter, Transient, Closed(Answer::Reset)],
            "UDP has no ACK for the host to answer"
        );
    }

    #[test]
    fn only_sources_in_from_may_knock_in_each_family() {
        let seq = r#""1000/tcp", "2000/udp", "3000/tcp""#;
        let p = plan(&door(seq));
        assert_eq!(p.doors[0].knockers(Family::V4), Knockers::Anyone);
        assert!(p.doors[0].interfaces.is_empty());
        let p = plan(&format!(
            "interfaces = [\"eth0\"]\n{}from = [\"198.51.100.0/24\"]\n",
            door(seq)
        ));
        let ssh = &p.doors[0];
        assert_eq!(
            ssh.knockers(Family::V4),
            Knockers::Only(vec!["198.51.100.0/24".parse().unwrap()])
        );
        assert_eq!(ssh.knockers(Family::V6), Knockers::Nobody);
        assert_eq!(ssh.interfaces.len(), 1);
        assert_eq!(ssh.interfaces[0], "eth0");
    }

    #[test]
    fn forwarding_is_filtered_only_in_firewall_mode_with_forward_drop() {
        use ForwardRule::*;
        let base = door(r#""1000/tcp", "2000/udp", "3000/tcp""#);
        let rules =
            |top: &str, fw: &str| plan(&format!("{top}\n{base}[firewall]\n{fw}\n")).forward_rules();
        let today = [Established, RoutedGoesOn, Allow, Doors];
        assert_eq!(rules("", ""), today);
        assert_eq!(rules("", "forward = \"drop\""), today, "guard mode");
        let fw = "mode = \"firewall\"";
        assert_eq!(
            rules(fw, "forward = \"accept\""),
            [Established, RoutedGoesOn, Allow, Transient, Doors]
        );
        assert_eq!(
            rules(fw, "forward = \"drop\"\nopen = [\"80/tcp\"]"),
            [
                Established,
                RoutingIcmpv6,
                Invalid,
                Open,
                Allow,
                Transient,
                Doors,
                Icmp,
                Drop
            ]
        );
        assert_eq!(
            rules(fw, "forward = \"drop\"\nicmp = false"),
            [
                Established,
                RoutingIcmpv6,
                Invalid,
                Allow,
                Transient,
                Doors,
                Drop
            ]
        );
    }

    #[test]
    fn rotation_slots_follow_the_period() {
        assert_eq!(Slot::of_period(30_000_000), Slot::A);
        assert_eq!(Slot::of_period(30_000_001), Slot::B);
        assert_eq!(Slot::of_period(30_000_002), Slot::C);
        assert_eq!(Slot::of_period(30_000_003), Slot::A);
    }

    /// The previous, current and next period's sequences each have a
    /// line, in the slot of their period; a rotation keeps the lines of
    /// the periods both sides still accept, in the same slots.
    #[test]
    fn a_rotating_door_accepts_the_previous_current_and_next_period() {
        let cfg = crate::load::parse(
            include_str!("../../tests/golden/rotate.toml"),
            Path::new("rotate.toml"),
        )
        .unwrap();
        let secret = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/rotate.secret"
        ))
        .unwrap();
        let secret = secret.trim_ascii_end();
        let door = cfg.doors[0].clone();
        let rotate = door.rotate().unwrap().clone();
        // One door: no other port to avoid.
        let derive = |n: u64| {
            crate::rotate::derive(
                secret,
                &door.name,
                door.ports.first(),
                &[],
                n,
                rotate.length,
            )
        };
        let lines_at = |time: u64| -> Vec<(Slot, Vec<PortSpec>)> {
            let plan = Plan::new(
                &crate::rotate::resolve(cfg.clone(), time).unwrap(),
                TEST_KEY,
            );
            plan.doors[0]
                .lines
                .iter()
                .map(|l| (l.slot, l.sequence.to_vec()))
                .collect()
        };
        let period = rotate.period.as_secs();
        let n = 1_800_000_000 / period;
        for time in [n * period, n * period + 30, n * period + period - 1] {
            let mut lines = lines_at(time);
            lines.sort_by_key(|(slot, _)| *slot);
            let mut want: Vec<(Slot, Vec<PortSpec>)> = [n - 1, n, n + 1]
                .into_iter()
                .map(|m| (Slot::of_period(m), derive(m)))
                .collect();
            want.sort_by_key(|(slot, _)| *slot);
            assert_eq!(lines, want, "at {time}");
        }
        // One period on: the lines of n and n + 1 stay where they were,
        // n + 2 takes the slot of n - 1.
        let before = lines_at(n * period);
        let after = lines_at((n + 1) * period);
        let kept: Vec<_> = before.iter().filter(|l| after.contains(l)).collect();
        assert_eq!(kept.len(), 2, "{before:?}\n{after:?}");
        assert!(after.contains(&(Slot::of_period(n + 2), derive(n + 2))));
        assert!(!after.iter().any(|(_, s)| *s == derive(n - 1)));
    }
}
