//! `nfknock.toml`: parsing (serde, unknown keys refused) and the validation
//! rules that span fields. The result, [`Config`], is what every other part
//! of nfknock reads: it is valid by construction, and its names are types
//! that only validation makes ([`DoorName`], [`LogPrefix`]).
//!
//! This module is at the bottom: it imports nothing of nfknock but `port`.
//! The checks that belong elsewhere (what a firewall backend can do, what a
//! mail address is) come in through [`Checks`], which the one loader,
//! `crate::load`, fills in. A rotating door's sequences depend on a secret
//! file and the time: [`Resolved`] is a config that has them, made by
//! `crate::rotate::resolve`, and the only thing the firewall takes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer, Serialize};

use crate::port::{PortRange, PortSpec};

pub const DEFAULT_PATH: &str = "/etc/nfknock/nfknock.toml";
pub const DEFAULT_SEQUENCE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_DOOR_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_LOG_PREFIX: &str = "nfknock";
pub const MIN_SEQUENCE_LEN: usize = 3;
/// Long enough for any sensible secret; keeps the ruleset and comments small.
pub const MAX_SEQUENCE_LEN: usize = 16;
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// The shortest rotation period.
pub const MIN_PERIOD: Duration = Duration::from_secs(10);
/// Knocks in a rotating sequence when `length` is not given.
pub const DEFAULT_ROTATE_LENGTH: usize = 4;
/// A rotating door's three slots (periods 0, 1 and 2 mod 3) name its
/// chains and sets `<door>_a`, `<door>_b` and `<door>_c`; no other door may
/// be named so.
pub const SLOT_SUFFIXES: [&str; 3] = ["_a", "_b", "_c"];
/// An open door's width when `open_prefix_v4` / `open_prefix_v6` are not
/// given: the knocker's own address.
pub const DEFAULT_OPEN_PREFIX: OpenPrefix = OpenPrefix { v4: 32, v6: 128 };
/// Below these `check` warns: the door opens for more than a site's
/// network.
pub const WIDE_OPEN_PREFIX: OpenPrefix = OpenPrefix { v4: 24, v6: 48 };
/// The kernel's log prefix holds 127 bytes; `<prefix>: reset door=<16> ` must fit.
const MAX_LOG_PREFIX_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The causes are part of the message, not error sources: `{:#}`
    // would print them a second time.
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Parse {
        path: PathBuf,
        error: Box<toml::de::Error>,
    },
    #[error("{path}: {}", join(problems, &format!("\n{}: ", path.display())))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn join(problems: &[Problem], sep: &str) -> String {
    let texts: Vec<String> = problems.iter().map(Problem::to_string).collect();
    texts.join(sep)
}

/// One thing wrong with a config: where, which key, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: At,
    /// The key, e.g. `sequence`, `door_timeout`; empty for the file as a
    /// whole.
    pub key: String,
    pub message: String,
}

/// Where a [`Problem`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// The top level of the file.
    Top,
    /// A `[[door]]`, by its name as written.
    Door(String),
    /// A table: `log`, `allow`, `notify`.
    Table(&'static str),
}

impl Problem {
    pub fn new(at: At, key: &str, message: impl Into<String>) -> Problem {
        Problem {
            at,
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// A problem with a door's key.
    pub fn door(door: &str, key: &str, message: impl Into<String>) -> Problem {
        Problem::new(At::Door(door.to_string()), key, message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            At::Top => {}
            At::Door(name) => write!(f, "door \"{name}\": ")?,
            At::Table(t) => write!(f, "[{t}] ")?,
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    #[default]
    Nftables,
    Iptables,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Hide the doors only; every other port behaves as before.
    #[default]
    Guard,
    /// Default deny: nfknock is the host's inbound firewall.
    Firewall,
}

/// How a closed door answers in guard mode (`closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Closed {
    /// As this host's closed ports do: decided at apply from the host's
    /// other rules (silence beside a drop-policy input chain, else reset).
    #[default]
    Auto,
    /// TCP reset, ICMP port unreachable: what a host without a firewall
    /// answers.
    Reset,
    /// Silence: what a host whose firewall drops closed ports answers.
    Drop,
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Closed::Auto => "auto",
            Closed::Reset => "reset",
            Closed::Drop => "drop",
        })
    }
}

/// What firewall mode does with forwarded traffic (`[firewall] forward`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Forward {
    /// Routed traffic is the host's business (Docker, libvirt, a router's
    /// own rules); only a door on a forwarded (DNAT) port is hidden.
    #[default]
    Accept,
    /// Default deny for forwarded traffic too, as the original nfknock's
    /// nftables rules: what firewall mode lets in passes, nothing else.
    Drop,
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forward::Accept => "accept",
            Forward::Drop => "drop",
        })
    }
}

impl Backend {
    /// Every backend, in the order `status` looks for loaded rules.
    pub const ALL: [Backend; 2] = [Backend::Nftables, Backend::Iptables];
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Nftables => "nftables",
            Backend::Iptables => "iptables",
        })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Guard => "guard",
            Mode::Firewall => "firewall",
        })
    }
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub backend: Backend,
    pub mode: Mode,
    /// How a closed door answers (guard mode; firewall mode drops).
    pub closed: Closed,
    pub doors: Vec<Door>,
    pub allow: Allow,
    pub firewall: Firewall,
    pub log_prefix: LogPrefix,
    pub notify: Option<Notify>,
    /// Problems worth telling but not fatal.
    pub warnings: Vec<String>,
}

/// A door's name: `[a-z0-9_-]{1,16}`, so it is safe in every kernel
/// object name, rule and log prefix. Only [`DoorName::new`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DoorName(String);

impl DoorName {
    pub fn new(name: &str) -> Option<DoorName> {
        valid_door_name(name).then(|| DoorName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `[log] prefix` of every kernel log line of nfknock's rules:
/// 1 to 64 characters from A-Z, a-z, 0-9, `_`, `-` and `.`. Only
/// [`LogPrefix::new`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPrefix(String);

impl LogPrefix {
    pub fn new(prefix: &str) -> Option<LogPrefix> {
        let ok = !prefix.is_empty()
            && prefix.len() <= MAX_LOG_PREFIX_LEN
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        ok.then(|| LogPrefix(prefix.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LogPrefix {
    fn default() -> Self {
        LogPrefix(DEFAULT_LOG_PREFIX.to_string())
    }
}

macro_rules! text_newtype {
    ($t:ty) => {
        impl Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}
text_newtype!(DoorName);
text_newtype!(LogPrefix);
text_newtype!(Interface);

#[derive(Debug, Clone, PartialEq)]
pub struct Door {
    pub name: DoorName,
    /// The hidden ports: one knock opens them all.
    pub ports: DoorPorts,
    pub knocks: Knocks,
    pub sequence_timeout: Duration,
    pub door_timeout: Duration,
    /// The first NEW connection through the open door closes it for that
    /// source (`single_use`).
    pub single_use: bool,
    /// For whom a knock opens the door: the knocker's network of this
    /// length (`open_prefix_v4`, `open_prefix_v6`).
    pub open_prefix: OpenPrefix,
    /// `from`: the only sources that may start the sequence; None: any.
    pub from: Option<Sources>,
    /// `interfaces`: the only interfaces its knocks and its port are
    /// watched on; empty: every interface.
    pub interfaces: Vec<Interface>,
}

/// A door's `from`: the networks whose sources may knock, per family. A
/// family without networks cannot knock at all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sources {
    pub ipv4: Vec<Ipv4Net>,
    pub ipv6: Vec<Ipv6Net>,
}

/// The longest interface name the kernel takes (IFNAMSIZ - 1).
pub const MAX_INTERFACE_LEN: usize = 15;

/// An interface name as the kernel takes it: 1 to 15 bytes, printable
/// ASCII without whitespace, `/`, `:`, quotes or `\`, and not `.` or
/// `..`. No wildcards: `*` (nft) and `+` (iptables) are refused, so a name
/// means the same on both backends and a typo never matches every
/// interface. Only [`Interface::new`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface(String);

impl Interface {
    /// The name, or why it is not one.
    pub fn new(name: &str) -> Result<Interface, String> {
        let bad = |b: u8| !b.is_ascii_graphic() || b"/:\"'\\*+".contains(&b);
        if name.is_empty() || name.len() > MAX_INTERFACE_LEN {
            Err(format!(
                "`{}` must be 1 to {MAX_INTERFACE_LEN} bytes long",
                name.escape_debug()
            ))
        } else if name.bytes().any(|b| b == b'*' || b == b'+') {
            Err(format!(
                "`{}`: wildcards are not supported; list every interface by its name",
                name.escape_debug()
            ))
        } else if name.bytes().any(bad) || name == "." || name == ".." {
            Err(format!(
                "`{}` is not an interface name (no whitespace, control characters, quotes, `/`, `:` or `\\`)",
                name.escape_debug()
            ))
        } else {
            Ok(Interface(name.to_string()))
        }
    }
}

/// The prefix lengths a completed knock opens a door for, per family:
/// IPv4 1 to 32, IPv6 1 to 128. Only [`OpenPrefix::new`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenPrefix {
    v4: u8,
    v6: u8,
}

impl OpenPrefix {
    pub fn new(v4: u8, v6: u8) -> Option<OpenPrefix> {
        ((1..=32).contains(&v4) && (1..=128).contains(&v6)).then_some(OpenPrefix { v4, v6 })
    }

    pub fn v4(self) -> u8 {
        self.v4
    }

    pub fn v6(self) -> u8 {
        self.v6
    }
}

/// How a door opens, for `check` and `status`, when it is not the
/// default: "opens for the knocker's /24 (IPv4)", "single use". `v4` and
/// `v6` are the prefix lengths shorter than an address.
pub fn opening(single_use: bool, v4: Option<u8>, v6: Option<u8>) -> Vec<String> {
    let mut widths = Vec::new();
    if let Some(l) = v4 {
        widths.push(format!("/{l} (IPv4)"));
    }
    if let Some(l) = v6 {
        widths.push(format!("/{l} (IPv6)"));
    }
    let mut notes = Vec::new();
    if !widths.is_empty() {
        notes.push(format!("opens for the knocker's {}", widths.join(" and ")));
    }
    if single_use {
        notes.push("single use: the first connection closes it".to_string());
    }
    notes
}

impl Door {
    /// [`opening`] of this door.
    pub fn opening(&self) -> Vec<String> {
        let p = self.open_prefix;
        opening(
            self.single_use,
            (p.v4 < 32).then_some(p.v4),
            (p.v6 < 128).then_some(p.v6),
        )
    }
}

impl Default for OpenPrefix {
    fn default() -> Self {
        DEFAULT_OPEN_PREFIX
    }
}

/// A door's `port`: one or more ports and ranges, none empty (`low <=
/// high`), none overlapping another. Only [`DoorPorts::new`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorPorts(Vec<PortRange>);

impl DoorPorts {
    /// The ports, or everything wrong with them.
    pub fn new(ranges: Vec<PortRange>) -> Result<DoorPorts, Vec<String>> {
        let mut problems = Vec::new();
        if ranges.is_empty() {
            problems.push("an empty list: give at least one port".to_string());
        }
        for r in &ranges {
            if r.low > r.high {
                problems.push(format!(
                    "range {}-{}/{} is empty: its low port is above its high port",
                    r.low,
                    r.high,
                    r.proto.as_str()
                ));
            }
        }
        for (i, a) in ranges.iter().enumerate() {
            match ranges[..i].iter().find(|b| b.overlaps(a)) {
                Some(b) if b == a => problems.push(format!("{a} is listed twice")),
                Some(b) => problems.push(format!("{a} overlaps {b}, listed before it")),
                None => {}
            }
        }
        if problems.is_empty() {
            Ok(DoorPorts(ranges))
        } else {
            Err(problems)
        }
    }

    /// The first port listed: what the door is known by where one port
    /// must do (a rotating door's derivation).
    pub fn first(&self) -> PortSpec {
        self.0[0].first()
    }

    pub fn contains(&self, p: PortSpec) -> bool {
        self.0.iter().any(|r| r.contains(p))
    }

    /// Whether it is exactly one port.
    pub fn is_single(&self) -> bool {
        self.0.len() == 1 && self.0[0].is_single()
    }

    /// Every port of every range, in order.
    pub fn ports(&self) -> impl Iterator<Item = PortSpec> + '_ {
        self.0.iter().flat_map(PortRange::ports)
    }
}

impl Deref for DoorPorts {
    type Target = [PortRange];
    fn deref(&self) -> &[PortRange] {
        &self.0
    }
}

/// `22/tcp` or `22/tcp, 60000-61000/udp`.
impl std::fmt::Display for DoorPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let all: Vec<String> = self.0.iter().map(PortRange::to_string).collect();
        f.write_str(&all.join(", "))
    }
}

/// A knock sequence that passed the rules of [`sequence_problems`] (so
/// it has at least [`MIN_SEQUENCE_LEN`] knocks). Only [`Sequence::new`]
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence(Vec<PortSpec>);

impl Sequence {
    /// The sequence, or everything wrong with it; `reserved` are the ports
    /// no knock may use, each with what it is.
    pub fn new(
        knocks: Vec<PortSpec>,
        reserved: &HashMap<PortSpec, String>,
    ) -> Result<Sequence, Vec<String>> {
        let problems = sequence_problems(&knocks, reserved);
        if problems.is_empty() {
            Ok(Sequence(knocks))
        } else {
            Err(problems)
        }
    }

    /// The knock that starts it.
    pub fn first(&self) -> PortSpec {
        self.0[0]
    }

    /// Any knocks, for tests that need what validation refuses.
    #[cfg(test)]
    pub(crate) fn unchecked(knocks: Vec<PortSpec>) -> Sequence {
        Sequence(knocks)
    }
}

impl Deref for Sequence {
    type Target = [PortSpec];
    fn deref(&self) -> &[PortSpec] {
        &self.0
    }
}

/// Where a door's knock sequence comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Knocks {
    /// A sequence written in the config.
    Fixed(Sequence),
    /// A sequence derived from a secret for each period of time (see
    /// `crate::rotate`): known only once [`Resolved`].
    Rotating(Rotate),
}

/// `rotate = { secret_file, period, length }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotate {
    pub secret_file: PathBuf,
    pub period: Duration,
    pub length: usize,
}

impl Door {
    /// The rotation, for a rotating door.
    pub fn rotate(&self) -> Option<&Rotate> {
        match &self.knocks {
            Knocks::Rotating(r) => Some(r),
            Knocks::Fixed(_) => None,
        }
    }
}

/// A rotating door's sequences around one period: the previous, the
/// current and the next period's, all valid. The kernel accepts the three,
/// so a client whose clock is a little behind or ahead, and every client
/// in the moments after a boundary before `nfknock rotate` loaded the new
/// period, gets in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    period: u64,
    previous: Sequence,
    current: Sequence,
    next: Sequence,
}

impl Rotation {
    /// The sequences of periods `period - 1`, `period` and `period + 1`,
    /// in that order, for a door whose ports are `door_ports`; refused
    /// unless each passes the rules of a fixed sequence.
    pub fn new(
        period: u64,
        [previous, current, next]: [Vec<PortSpec>; 3],
        door_ports: &DoorPorts,
    ) -> Result<Rotation, String> {
        let reserved: HashMap<PortSpec, String> = door_ports
            .ports()
            .map(|p| (p, "the door's port".to_string()))
            .collect();
        let valid = |seq| {
            Sequence::new(seq, &reserved)
                .map_err(|p| format!("a derived sequence is not valid: {}", p.join("; ")))
        };
        Ok(Rotation {
            period,
            previous: valid(previous)?,
            current: valid(current)?,
            next: valid(next)?,
        })
    }

    /// The period number of [`Rotation::current`].
    pub fn period(&self) -> u64 {
        self.period
    }

    pub fn current(&self) -> &Sequence {
        &self.current
    }

    /// The previous period's sequence, which the kernel accepts too.
    pub fn previous(&self) -> &Sequence {
        &self.previous
    }

    /// The next period's sequence, which the kernel accepts too.
    pub fn next(&self) -> &Sequence {
        &self.next
    }
}

/// A configuration whose every door has the sequences the kernel accepts
/// now: the only thing the firewall's plan is made from. Made only by
/// [`Resolved::new`], which asks for every rotating door's [`Rotation`].
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    config: Config,
    /// Per door, in order: its rotation, for a rotating door.
    rotations: Vec<Option<Rotation>>,
}

/// One door of a [`Resolved`] configuration.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedDoor<'a> {
    pub door: &'a Door,
    /// The sequence that opens it now.
    pub sequence: &'a Sequence,
    /// A rotating door's rotation and this period's sequences.
    pub rotation: Option<(&'a Rotate, &'a Rotation)>,
}

impl Resolved {
    /// Resolves `config`, asking `rotation` for each rotating door's
    /// sequences.
    pub fn new<E>(
        config: Config,
        mut rotation: impl FnMut(&Door, &Rotate) -> Result<Rotation, E>,
    ) -> Result<Resolved, E> {
        let rotations = config
            .doors
            .iter()
            .map(|d| match &d.knocks {
                Knocks::Fixed(_) => Ok(None),
                Knocks::Rotating(r) => rotation(d, r).map(Some),
            })
            .collect::<Result<_, E>>()?;
        Ok(Resolved { config, rotations })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn doors(&self) -> impl Iterator<Item = ResolvedDoor<'_>> {
        self.config
            .doors
            .iter()
            .zip(&self.rotations)
            .map(|(door, rotation)| match (&door.knocks, rotation) {
                (Knocks::Rotating(r), Some(rotation)) => ResolvedDoor {
                    door,
                    sequence: rotation.current(),
                    rotation: Some((r, rotation)),
                },
                (Knocks::Fixed(sequence), _) => ResolvedDoor {
                    door,
                    sequence,
                    rotation: None,
                },
                (Knocks::Rotating(_), None) => unreachable!("Resolved::new resolves every door"),
            })
    }

    pub fn door(&self, name: &str) -> Option<ResolvedDoor<'_>> {
        self.doors().find(|d| d.door.name == name)
    }
}

impl Deref for Resolved {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

/// The checks of a config that belong to the modules that use that part
/// of it: what the backend can do, what the watcher can send. The loader
/// (`crate::load`) gives them, so that one run reports every problem.
pub trait Checks {
    /// Problems of `[notify]`.
    fn notify(&self, notify: &Notify) -> Vec<Problem>;
    /// What the configured backend cannot do with an otherwise valid
    /// config.
    fn backend(&self, config: &Config) -> Vec<Problem>;
}

/// No checks but this module's own (for tests and tools that only need the
/// schema).
pub struct OwnChecks;

impl Checks for OwnChecks {
    fn notify(&self, _: &Notify) -> Vec<Problem> {
        Vec::new()
    }
    fn backend(&self, _: &Config) -> Vec<Problem> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Allow {
    pub ipv4: Vec<Ipv4Net>,
    pub ipv6: Vec<Ipv6Net>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Firewall {
    pub open: Vec<PortSpec>,
    pub icmp: bool,
    /// What happens to forwarded traffic.
    pub forward: Forward,
}

/// `[notify]`, read by the watcher.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Notify {
    #[serde(default = "default_events")]
    pub events: Vec<Event>,
    #[serde(default)]
    pub email_to: Vec<String>,
    #[serde(default = "default_email_from")]
    pub email_from: String,
    #[serde(default = "default_smtp")]
    pub smtp: String,
    pub password_file: Option<PathBuf>,
    #[serde(default = "yes")]
    pub whois: bool,
    /// Where whois questions go first (`host` or `host:port`); a `refer:`
    /// answer is followed once.
    #[serde(default = "default_whois_server")]
    pub whois_server: String,
    /// Look up the source's name (PTR) for the mail.
    #[serde(default = "yes")]
    pub reverse_dns: bool,
    #[serde(default = "default_max_mails")]
    pub max_mails_per_hour: u32,
    /// Once the hourly budget is spent, how long events are collected
    /// before they leave as one digest mail.
    #[serde(
        default = "default_digest_delay",
        deserialize_with = "required_duration"
    )]
    pub digest_delay: Duration,
}

impl Default for Notify {
    fn default() -> Self {
        Notify {
            events: default_events(),
            email_to: Vec::new(),
            email_from: default_email_from(),
            smtp: default_smtp(),
            password_file: None,
            whois: true,
            whois_server: default_whois_server(),
            reverse_dns: true,
            max_mails_per_hour: default_max_mails(),
            digest_delay: default_digest_delay(),
        }
    }
}

/// The events of the kernel log lines (see `firewall::log_prefix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Knock,
    Enter,
    Transient,
    Reset,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Knock => "knock",
            Event::Enter => "enter",
            Event::Transient => "transient",
            Event::Reset => "reset",
        }
    }
}

fn default_events() -> Vec<Event> {
    vec![Event::Knock, Event::Transient]
}
fn default_email_from() -> String {
    "nfknock@localhost".into()
}
fn default_smtp() -> String {
    "smtp://localhost:25".into()
}
fn default_max_mails() -> u32 {
    20
}
fn default_whois_server() -> String {
    "whois.iana.org".into()
}
fn default_digest_delay() -> Duration {
    Duration::from_secs(60)
}

fn required_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration(d).map(|o| o.unwrap_or_default())
}
fn yes() -> bool {
    true
}

/// The defaults of `[allow]` when the table is absent: private and
/// link-local networks, as the original nfknock had them.
pub fn default_allow() -> Allow {
    Allow {
        ipv4: [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "169.254.0.0/16",
        ]
        .iter()
        .map(|n| n.parse().expect("built-in network"))
        .collect(),
        ipv6: vec!["fe80::/10".parse().expect("built-in network")],
    }
}

// ---- the file as written -------------------------------------------------

/// The tables of nfknock.toml besides `[[door]]`.
pub const TABLES: &[&str] = &["allow", "firewall", "log", "notify"];

/// What a key's value is, as `nfknock config set` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A list (`sequence`, `email_to`, ...).
    List,
    Bool,
    Integer,
    /// A string, or anything the parser reads from one (durations, ports).
    Text,
    /// A door's `port`: a string for one port, a list for several.
    Ports,
}

/// The kind of the key `name` (in any table): kept beside the structs
/// below, which serde reads the file with.
pub fn key_kind(name: &str) -> KeyKind {
    match name {
        "sequence" | "email_to" | "events" | "open" | "ipv4" | "ipv6" | "from" | "interfaces" => {
            KeyKind::List
        }
        "icmp" | "whois" | "reverse_dns" | "single_use" => KeyKind::Bool,
        "max_mails_per_hour" | "open_prefix_v4" | "open_prefix_v6" => KeyKind::Integer,
        "port" => KeyKind::Ports,
        _ => KeyKind::Text,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct RawConfig {
    #[serde(default)]
    backend: Backend,
    #[serde(default)]
    mode: Mode,
    closed: Option<Closed>,
    #[serde(default, deserialize_with = "duration")]
    sequence_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    door_timeout: Option<Duration>,
    single_use: Option<bool>,
    open_prefix_v4: Option<i64>,
    open_prefix_v6: Option<i64>,
    #[serde(default)]
    door: Vec<RawDoor>,
    interfaces: Option<Vec<String>>,
    allow: Option<RawAllow>,
    firewall: Option<RawFirewall>,
    #[serde(default)]
    log: RawLog,
    notify: Option<Notify>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct RawDoor {
    name: String,
    #[serde(deserialize_with = "crate::port::one_or_many")]
    port: Vec<PortRange>,
    #[serde(default)]
    sequence: Vec<PortSpec>,
    #[serde(default, deserialize_with = "duration")]
    sequence_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    door_timeout: Option<Duration>,
    single_use: Option<bool>,
    open_prefix_v4: Option<i64>,
    open_prefix_v6: Option<i64>,
    rotate: Option<RawRotate>,
    from: Option<Vec<String>>,
    interfaces: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct RawRotate {
    secret_file: PathBuf,
    #[serde(deserialize_with = "required_duration")]
    period: Duration,
    #[serde(default = "default_rotate_length")]
    length: usize,
}

fn default_rotate_length() -> usize {
    DEFAULT_ROTATE_LENGTH
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct RawAllow {
    #[serde(default)]
    ipv4: Vec<String>,
    #[serde(default)]
    ipv6: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct RawFirewall {
    #[serde(default)]
    open: Vec<PortSpec>,
    #[serde(default = "yes")]
    icmp: bool,
    #[serde(default)]
    forward: Forward,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct RawLog {
    #[serde(default = "default_prefix")]
    prefix: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            prefix: default_prefix(),
        }
    }
}

fn default_prefix() -> String {
    DEFAULT_LOG_PREFIX.into()
}

/// A duration: an integer number of seconds, or a string such as "10s",
/// "1m 30s", "1500ms".
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(i64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => u64::try_from(s)
            .map(|s| Some(Duration::from_secs(s)))
            .map_err(|_| serde::de::Error::custom(format!("invalid duration {s}: negative"))),
        Raw::Text(t) => parse_duration(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Parses "10s", "1m30s", "1500ms" or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map(Duration::from_secs)
            .map_err(|e| format!("invalid duration `{text}`: {e}"));
    }
    humantime::parse_duration(t).map_err(|e| format!("invalid duration `{text}`: {e}"))
}

// ---- loading and validation ----------------------------------------------

/// Parses and validates configuration text; `path` only names it in errors.
pub fn parse(text: &str, path: &Path, checks: &dyn Checks) -> Result<Config, Error> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        error: Box::new(e),
    })?;
    validate(raw, checks).map_err(|problems| Error::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

fn validate(raw: RawConfig, checks: &dyn Checks) -> Result<Config, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    let default_seq = raw.sequence_timeout.unwrap_or(DEFAULT_SEQUENCE_TIMEOUT);
    let default_door = raw.door_timeout.unwrap_or(DEFAULT_DOOR_TIMEOUT);
    check_timeout(At::Top, "sequence_timeout", default_seq, &mut problems);
    check_timeout(At::Top, "door_timeout", default_door, &mut problems);
    let default_single_use = raw.single_use.unwrap_or(false);
    let default_prefix = open_prefix(
        At::Top,
        (raw.open_prefix_v4, raw.open_prefix_v6),
        DEFAULT_OPEN_PREFIX,
        &mut problems,
        &mut warnings,
    );
    let default_interfaces = match &raw.interfaces {
        Some(names) => interfaces(At::Top, names, &mut problems),
        None => Vec::new(),
    };

    let firewall = match raw.firewall {
        Some(f) => {
            if raw.mode == Mode::Guard {
                // The one key whose silent dismissal would surprise: a
                // router's admin would believe forwarding is filtered.
                let forward = match f.forward {
                    Forward::Drop => "; forward = \"drop\" drops nothing forwarded",
                    Forward::Accept => "",
                };
                warnings.push(format!(
                    "[firewall] is ignored because mode = \"guard\" (it only applies to mode = \"firewall\"){forward}"
                ));
            }
            Firewall {
                open: f.open,
                icmp: f.icmp,
                forward: f.forward,
            }
        }
        None => Firewall {
            open: Vec::new(),
            icmp: true,
            forward: Forward::Accept,
        },
    };
    if raw.mode == Mode::Firewall && raw.closed.is_some() {
        warnings.push(
            "closed is ignored because mode = \"firewall\" (a firewall drops whatever it does not accept)"
                .to_string(),
        );
    }
    // Ports that must never be knocks: every door and, in firewall mode,
    // every public service (a knock there would be sent by any client).
    let mut reserved: HashMap<PortSpec, String> = HashMap::new();
    for d in &raw.door {
        let what = match &d.port[..] {
            [one] if one.is_single() => "the port",
            _ => "a port",
        };
        // A reversed range is empty: DoorPorts::new reports it.
        for p in d.port.iter().flat_map(PortRange::ports) {
            reserved.insert(p, format!("{what} of door \"{}\"", d.name));
        }
    }
    if raw.mode == Mode::Firewall {
        for p in &firewall.open {
            reserved
                .entry(*p)
                .or_insert_with(|| "a [firewall] open port".to_string());
        }
    }

    if raw.door.is_empty() {
        problems.push(Problem::new(At::Top, "", "no [[door]]: nothing to hide"));
    }
    let mut names = HashSet::new();
    let mut ports: Vec<(PortRange, &str)> = Vec::new();
    let mut first_knocks: HashMap<PortSpec, &str> = HashMap::new();
    let mut doors = Vec::new();
    for d in &raw.door {
        let at = |key: &str, message: String| Problem::door(&d.name, key, message);
        let name = DoorName::new(&d.name);
        if name.is_none() {
            problems.push(at(
                "name",
                "must be 1 to 16 characters from a-z, 0-9, `_` and `-`".into(),
            ));
        }
        if !names.insert(d.name.as_str()) {
            problems.push(at("name", "two doors have this name".into()));
        }
        for r in raw.door.iter().filter(|r| r.rotate.is_some()) {
            if SLOT_SUFFIXES
                .map(|s| format!("{}{s}", r.name))
                .contains(&d.name)
            {
                problems.push(at(
                    "name",
                    format!(
                        "its rules would share names with rotating door \"{0}\" (whose slots are {0}{1}, {0}{2} and {0}{3}); rename one",
                        r.name, SLOT_SUFFIXES[0], SLOT_SUFFIXES[1], SLOT_SUFFIXES[2]
                    ),
                ));
            }
        }
        let door_ports = DoorPorts::new(d.port.clone());
        for p in door_ports.clone().err().unwrap_or_default() {
            problems.push(at("port", p));
        }
        for r in &d.port {
            for (other, name) in ports.iter().filter(|(o, _)| o.overlaps(r)) {
                let what = if other.is_single() && r.is_single() {
                    format!("{r} is already the port of door \"{name}\"")
                } else {
                    format!("{r} overlaps {other} of door \"{name}\"")
                };
                problems.push(at("port", what));
            }
            if raw.mode == Mode::Firewall
                && let Some(open) = firewall.open.iter().find(|o| r.contains(**o))
            {
                problems.push(at(
                    "port",
                    format!("{open} is also in [firewall] open, so it would not be hidden"),
                ));
            }
        }
        ports.extend(d.port.iter().map(|r| (*r, d.name.as_str())));
        let knocks = match &d.rotate {
            Some(r) => {
                if !d.sequence.is_empty() {
                    problems.push(at("sequence and rotate", "give one or the other".into()));
                }
                for p in rotate_problems(r.period, r.length) {
                    problems.push(at("rotate", p));
                }
                Some(Knocks::Rotating(Rotate {
                    secret_file: r.secret_file.clone(),
                    period: r.period,
                    length: r.length,
                }))
            }
            None => {
                let sequence = Sequence::new(d.sequence.clone(), &reserved);
                for p in sequence.clone().err().unwrap_or_default() {
                    problems.push(at("sequence", p));
                }
                if let Some(first) = d.sequence.first()
                    && let Some(other) = first_knocks.insert(*first, &d.name)
                {
                    problems.push(at(
                        "sequence",
                        format!("starts with {first} like door \"{other}\" (ambiguous)"),
                    ));
                }
                sequence.ok().map(Knocks::Fixed)
            }
        };
        let sequence_timeout = d.sequence_timeout.unwrap_or(default_seq);
        let door_timeout = d.door_timeout.unwrap_or(default_door);
        let door = || At::Door(d.name.clone());
        if d.sequence_timeout.is_some() {
            check_timeout(door(), "sequence_timeout", sequence_timeout, &mut problems);
        }
        if d.door_timeout.is_some() {
            check_timeout(door(), "door_timeout", door_timeout, &mut problems);
        }
        let open_prefix = open_prefix(
            door(),
            (d.open_prefix_v4, d.open_prefix_v6),
            default_prefix,
            &mut problems,
            &mut warnings,
        );
        let from = d.from.as_ref().map(|f| sources(&d.name, f, &mut problems));
        let interfaces = match &d.interfaces {
            Some(names) => interfaces(door(), names, &mut problems),
            None => default_interfaces.clone(),
        };
        if let (Some(name), Some(knocks), Ok(ports)) = (name, knocks, door_ports) {
            doors.push(Door {
                name,
                ports,
                knocks,
                sequence_timeout,
                door_timeout,
                single_use: d.single_use.unwrap_or(default_single_use),
                open_prefix,
                from,
                interfaces,
            });
        }
    }

    let allow = match raw.allow {
        None => default_allow(),
        Some(a) => Allow {
            ipv4: networks(&a.ipv4, "ipv4", &mut problems, |n| match n {
                IpNet::V4(n) => Some(n.trunc()),
                IpNet::V6(_) => None,
            }),
            ipv6: networks(&a.ipv6, "ipv6", &mut problems, |n| match n {
                IpNet::V6(n) => Some(n.trunc()),
                IpNet::V4(_) => None,
            }),
        },
    };

    let prefix = match log_prefix(&raw.log.prefix) {
        Ok(prefix) => Some(prefix),
        Err(p) => {
            problems.push(p);
            None
        }
    };

    if let Some(n) = &raw.notify {
        problems.extend(notify_problems(n, checks));
    }

    let Some(prefix) = prefix.filter(|_| problems.is_empty()) else {
        return Err(problems);
    };
    let config = Config {
        backend: raw.backend,
        mode: raw.mode,
        closed: raw.closed.unwrap_or_default(),
        doors,
        allow,
        firewall,
        log_prefix: prefix,
        notify: raw.notify,
        warnings,
    };
    let problems = checks.backend(&config);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(config)
}

/// `[a-z0-9_-]{1,16}`: also what the watcher accepts in a log line.
pub fn valid_door_name(name: &str) -> bool {
    (1..=16).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `[log] prefix`, or what is wrong with it. (The watcher's view of a
/// config, `crate::watch::view`, is checked by the same rules.)
pub fn log_prefix(prefix: &str) -> Result<LogPrefix, Problem> {
    LogPrefix::new(prefix).ok_or_else(|| {
        Problem::new(
            At::Table("log"),
            "prefix",
            format!(
                "`{prefix}` must be 1 to {MAX_LOG_PREFIX_LEN} characters from A-Z, a-z, 0-9, `_`, `-` and `.`"
            ),
        )
    })
}

/// What is wrong with `[notify]`: its own rules and the watcher's checks.
pub fn notify_problems(n: &Notify, checks: &dyn Checks) -> Vec<Problem> {
    let mut problems = Vec::new();
    if n.max_mails_per_hour == 0 {
        problems.push(Problem::new(
            At::Table("notify"),
            "max_mails_per_hour",
            "must be at least 1",
        ));
    }
    check_timeout(
        At::Table("notify"),
        "digest_delay",
        n.digest_delay,
        &mut problems,
    );
    problems.extend(checks.notify(n));
    problems
}

fn check_timeout(at: At, key: &str, value: Duration, problems: &mut Vec<Problem>) {
    let text = humantime::format_duration(value);
    if value.is_zero() || value > MAX_TIMEOUT {
        problems.push(Problem::new(
            at,
            key,
            format!("{text} is out of range (more than 0, at most 1 day)"),
        ));
    } else if value.subsec_millis() * 1_000_000 != value.subsec_nanos() {
        problems.push(Problem::new(
            at,
            key,
            format!("{text} is finer than the kernel's millisecond timers"),
        ));
    }
}

/// The open prefix given at `at` (each length, when given, in place of
/// `inherit`'s), with a problem for a length out of range and a warning
/// for one wider than [`WIDE_OPEN_PREFIX`]. Only what `at` gives is
/// checked, so an inherited length is reported once, where it is written.
fn open_prefix(
    at: At,
    (v4, v6): (Option<i64>, Option<i64>),
    inherit: OpenPrefix,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> OpenPrefix {
    let mut length = |key: &str, given: Option<i64>, max: u8, wide: u8, inherited: u8| {
        let Some(given) = given else {
            return inherited;
        };
        match u8::try_from(given).ok().filter(|l| (1..=max).contains(l)) {
            Some(l) => {
                if l < wide {
                    let what = if max == 32 { "IPv4" } else { "IPv6" };
                    warnings.push(
                        Problem::new(
                            at.clone(),
                            key,
                            format!(
                                "/{l} opens the door for more than the knocker's site: every {what} address of a /{l} may connect after one knock (below /{wide})"
                            ),
                        )
                        .to_string(),
                    );
                }
                l
            }
            None => {
                problems.push(Problem::new(
                    at.clone(),
                    key,
                    format!("{given} is out of range (1 to {max})"),
                ));
                inherited
            }
        }
    };
    let v4 = length("open_prefix_v4", v4, 32, WIDE_OPEN_PREFIX.v4, inherit.v4);
    let v6 = length("open_prefix_v6", v6, 128, WIDE_OPEN_PREFIX.v6, inherit.v6);
    OpenPrefix::new(v4, v6).expect("lengths in range")
}

fn networks<T>(
    texts: &[String],
    key: &str,
    problems: &mut Vec<Problem>,
    family: impl Fn(IpNet) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for t in texts {
        // A bare address is a host network.
        let parsed = t
            .parse::<IpNet>()
            .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => match family(net) {
                Some(n) => out.push(n),
                None => problems.push(Problem::new(
                    At::Table("allow"),
                    key,
                    format!(
                        "`{t}` is not an {} network",
                        if key == "ipv4" { "IPv4" } else { "IPv6" }
                    ),
                )),
            },
            Err(_) => problems.push(Problem::new(
                At::Table("allow"),
                key,
                format!("`{t}` is not a network (CIDR)"),
            )),
        }
    }
    out
}

/// A network as written: CIDR, or a bare address for one host.
fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .ok()
}

/// A door's `from`, both families in one list.
fn sources(door: &str, texts: &[String], problems: &mut Vec<Problem>) -> Sources {
    let mut out = Sources::default();
    if texts.is_empty() {
        problems.push(Problem::door(
            door,
            "from",
            "an empty list would let nobody knock; leave `from` out to let any source knock",
        ));
    }
    for t in texts {
        match parse_network(t) {
            Some(IpNet::V4(n)) => out.ipv4.push(n.trunc()),
            Some(IpNet::V6(n)) => out.ipv6.push(n.trunc()),
            None => problems.push(Problem::door(
                door,
                "from",
                format!("`{}` is not a network (CIDR) or address", t.escape_debug()),
            )),
        }
    }
    out
}

/// `interfaces`, at the top level or of a door.
fn interfaces(at: At, names: &[String], problems: &mut Vec<Problem>) -> Vec<Interface> {
    if names.is_empty() {
        problems.push(Problem::new(
            at.clone(),
            "interfaces",
            "an empty list would watch no interface; leave `interfaces` out for every interface",
        ));
    }
    let mut out: Vec<Interface> = Vec::new();
    for n in names {
        match Interface::new(n) {
            Ok(i) if out.contains(&i) => problems.push(Problem::new(
                at.clone(),
                "interfaces",
                format!("`{i}` is listed twice"),
            )),
            Ok(i) => out.push(i),
            Err(e) => problems.push(Problem::new(at.clone(), "interfaces", e)),
        }
    }
    out
}

/// Everything wrong with a knock sequence. Shared by validation and
/// `gen-sequence`, so a generated sequence always passes `check`.
pub fn sequence_problems(seq: &[PortSpec], reserved: &HashMap<PortSpec, String>) -> Vec<String> {
    let mut problems = Vec::new();
    if seq.is_empty() {
        problems.push("missing or empty".to_string());
        return problems;
    }
    if seq.len() < MIN_SEQUENCE_LEN {
        problems.push(format!(
            "{} knocks; at least {MIN_SEQUENCE_LEN} are needed",
            seq.len()
        ));
    }
    if seq.len() > MAX_SEQUENCE_LEN {
        problems.push(format!(
            "{} knocks; at most {MAX_SEQUENCE_LEN} are supported",
            seq.len()
        ));
    }
    for k in seq {
        if let Some(what) = reserved.get(k) {
            problems.push(format!("knock {k} is {what}"));
        }
    }
    for w in seq.windows(2) {
        if w[0] == w[1] {
            problems.push(format!("knock {} is repeated back to back", w[0]));
        }
    }
    if scanner_walkable(seq) {
        problems.push(
            "a port scanner walks it in order (ports ascending or descending by 1 in one protocol); try `nfknock gen-sequence`"
                .to_string(),
        );
    }
    problems
}

/// True when a sequential scan of one protocol would send the sequence in
/// order: one protocol, each port one above (or each one below) the last.
pub fn scanner_walkable(seq: &[PortSpec]) -> bool {
    if seq.len() < 2 || seq.iter().any(|k| k.proto != seq[0].proto) {
        return false;
    }
    let steps: Vec<i32> = seq
        .windows(2)
        .map(|w| i32::from(w[1].port) - i32::from(w[0].port))
        .collect();
    steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == -1)
}

/// What is wrong with a rotation's period and length: the same rules for
/// the server's config and the client's hosts.toml or flags.
pub fn rotate_problems(period: Duration, length: usize) -> Vec<String> {
    let mut problems = Vec::new();
    if period < MIN_PERIOD || period > MAX_TIMEOUT {
        problems.push(format!(
            "period {} is out of range (10s to 1 day)",
            humantime::format_duration(period)
        ));
    } else if period.subsec_nanos() != 0 {
        problems.push("period must be whole seconds".to_string());
    }
    if !(MIN_SEQUENCE_LEN..=MAX_SEQUENCE_LEN).contains(&length) {
        problems.push(format!(
            "length {length} is out of range ({MIN_SEQUENCE_LEN} to {MAX_SEQUENCE_LEN})"
        ));
    }
    problems
}

impl Config {
    pub fn door(&self, name: &str) -> Option<&Door> {
        self.doors.iter().find(|d| d.name == name)
    }

    /// Whether any door's sequence rotates.
    pub fn rotates(&self) -> bool {
        self.doors.iter().any(|d| d.rotate().is_some())
    }

    /// The longest `sequence_timeout` of any door: how long a source may
    /// be in the middle of some sequence.
    pub fn longest_sequence_timeout(&self) -> Duration {
        self.doors
            .iter()
            .map(|d| d.sequence_timeout)
            .max()
            .unwrap_or_default()
    }

    /// Ports no knock may use: door ports and (firewall mode) open ports.
    pub fn reserved_ports(&self) -> Vec<PortSpec> {
        let mut v: Vec<PortSpec> = self.doors.iter().flat_map(|d| d.ports.ports()).collect();
        if self.mode == Mode::Firewall {
            v.extend(&self.firewall.open);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::Proto;

    const GOOD: &str = r#"
sequence_timeout = "10s"
door_timeout = 30
[[door]]
name = "ssh"
port = "22/tcp"
sequence = ["48211/tcp", "9143/udp", "27733/tcp"]
"#;

    fn parse_str(text: &str) -> Result<Config, Error> {
        parse(text, Path::new("test.toml"), &OwnChecks)
    }

    fn problems(text: &str) -> String {
        match parse_str(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn with_door(door: &str) -> String {
        format!("[[door]]\nname = \"ssh\"\nport = \"22/tcp\"\n{door}\n")
    }

    #[test]
    fn good_config_has_defaults() {
        let c = parse_str(GOOD).unwrap();
        assert_eq!(c.backend, Backend::Nftables);
        assert_eq!(c.mode, Mode::Guard);
        assert_eq!(c.doors[0].door_timeout, Duration::from_secs(30));
        assert_eq!(c.doors[0].sequence_timeout, Duration::from_secs(10));
        assert_eq!(c.allow, default_allow());
        assert_eq!(c.log_prefix, "nfknock");
        assert!(c.firewall.icmp);
        assert_eq!(c.firewall.forward, Forward::Accept);
        assert!(c.warnings.is_empty());
    }

    /// A door of several ports and ranges; every rule about a door's
    /// port holds for each of them, with the door and the key named.
    #[test]
    fn a_door_may_hide_several_ports_and_ranges() {
        let door = |port: &str, extra: &str| {
            format!(
                "{extra}[[door]]\nname = \"ssh\"\nport = {port}\nsequence = [\"48211/tcp\", \"9143/udp\", \"27733/tcp\"]\n"
            )
        };
        let c = parse_str(&door(
            r#"["22/tcp", "t:2222", "60000-61000/udp", 8022]"#,
            "",
        ))
        .unwrap();
        assert_eq!(
            c.doors[0].ports.to_string(),
            "22/tcp, 2222/tcp, 60000-61000/udp, 8022/tcp"
        );
        assert!(c.doors[0].ports.contains(PortSpec::new(60500, Proto::Udp)));
        assert!(!c.doors[0].ports.contains(PortSpec::new(60500, Proto::Tcp)));
        assert_eq!(c.reserved_ports().len(), 3 + 1001);
        // One port as a string stays what it was.
        assert!(
            parse_str(&door("\"u:53\"", "")).unwrap().doors[0]
                .ports
                .is_single()
        );

        let bad = |port: &str, extra: &str, want: &str| {
            let e = problems(&door(port, extra));
            assert!(e.contains(want), "{port}: want {want:?} in {e}");
        };
        bad("[]", "", "door \"ssh\": port: an empty list");
        bad(
            r#"["61000-60000/udp"]"#,
            "",
            "door \"ssh\": port: range 61000-60000/udp is empty",
        );
        bad(r#"["0-10/udp"]"#, "", "invalid port `0-10/udp`");
        bad(r#"["1-65536"]"#, "", "invalid port `1-65536`");
        bad(
            r#"["22/tcp", "22"]"#,
            "",
            "door \"ssh\": port: 22/tcp is listed twice",
        );
        bad(
            r#"["60000-61000/udp", "60999-61001/udp"]"#,
            "",
            "port: 60999-61001/udp overlaps 60000-61000/udp",
        );
        bad(
            r#"["22/tcp", "9000-9200/udp"]"#,
            "",
            "knock 9143/udp is a port of door \"ssh\"",
        );
        bad(
            r#"["22/tcp", "79-81/tcp"]"#,
            "mode = \"firewall\"\n[firewall]\nopen = [\"80/tcp\"]\n",
            "door \"ssh\": port: 80/tcp is also in [firewall] open",
        );
        // Between doors.
        let two = |a: &str, b: &str| {
            format!(
                "[[door]]\nname = \"a\"\nport = {a}\nsequence = [\"1001\", \"2002/udp\", \"3003\"]\n\
                 [[door]]\nname = \"b\"\nport = {b}\nsequence = [\"4001\", \"5002/udp\", \"6003\"]\n"
            )
        };
        let e = problems(&two(r#"["22", "100-200/udp"]"#, r#"["150/udp"]"#));
        assert!(
            e.contains("door \"b\": port: 150/udp overlaps 100-200/udp of door \"a\""),
            "{e}"
        );
        let e = problems(&two(r#"["22", "100-200/udp"]"#, r#"["23", "t:22"]"#));
        assert!(
            e.contains("door \"b\": port: 22/tcp is already the port of door \"a\""),
            "{e}"
        );
        assert!(
            parse_str(&two(
                r#"["22", "100-200/udp"]"#,
                r#"["100-200/tcp", "201/udp"]"#
            ))
            .is_ok()
        );
        let e = problems(&two(r#"["22", "4000-4005"]"#, r#""23""#));
        assert!(
            e.contains("door \"b\": sequence: knock 4001/tcp is a port of door \"a\""),
            "{e}"
        );
    }

    #[test]
    fn forward_is_accept_unless_set_and_a_typed_choice() {
        let fw =
            |forward: &str| format!("mode = \"firewall\"\n{GOOD}[firewall]\nforward = {forward}\n");
        let c = parse_str(&format!("mode = \"firewall\"\n{GOOD}[firewall]\n")).unwrap();
        assert_eq!(c.firewall.forward, Forward::Accept);
        let c = parse_str(&fw("\"drop\"")).unwrap();
        assert_eq!(c.firewall.forward, Forward::Drop);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            parse_str(&fw("\"accept\"")).unwrap().firewall.forward,
            Forward::Accept
        );
        let e = problems(&fw("\"reject\""));
        assert!(e.contains("unknown variant `reject`"), "{e}");
        assert!(e.contains("line"), "{e}");
        let e = problems(&fw("false"));
        assert!(e.contains("forward") || e.contains("invalid type"), "{e}");
    }

    #[test]
    fn old_port_syntax_and_integers() {
        let c = parse_str(&with_door(r#"sequence = ["t:1000", "U:2000", 3000]"#)).unwrap();
        let Knocks::Fixed(seq) = &c.doors[0].knocks else {
            panic!("fixed")
        };
        assert_eq!(
            seq[..],
            [
                PortSpec::new(1000, Proto::Tcp),
                PortSpec::new(2000, Proto::Udp),
                PortSpec::new(3000, Proto::Tcp)
            ]
        );
    }

    #[test]
    fn closed_is_auto_unless_set_and_a_warning_in_firewall_mode() {
        assert_eq!(parse_str(GOOD).unwrap().closed, Closed::Auto);
        let c = parse_str(&format!("closed = \"drop\"\n{GOOD}")).unwrap();
        assert_eq!(c.closed, Closed::Drop);
        assert!(c.warnings.is_empty());
        let e = problems(&format!("closed = \"silent\"\n{GOOD}"));
        assert!(e.contains("unknown variant `silent`"), "{e}");
        let c = parse_str(&format!("mode = \"firewall\"\nclosed = \"reset\"\n{GOOD}")).unwrap();
        assert!(
            c.warnings[0].contains("closed is ignored"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn single_use_and_open_prefix_default_at_the_top_and_per_door() {
        let c = parse_str(GOOD).unwrap();
        assert!(!c.doors[0].single_use);
        assert_eq!(c.doors[0].open_prefix, DEFAULT_OPEN_PREFIX);
        assert!(c.doors[0].opening().is_empty());
        let two = format!(
            "single_use = true\nopen_prefix_v6 = 64\n{GOOD}\n{}",
            r#"[[door]]
name = "web"
port = "443/tcp"
sequence = ["31337/udp", "4242/tcp", "50505/udp"]
single_use = false
open_prefix_v4 = 24
"#
        );
        let c = parse_str(&two).unwrap();
        let (ssh, web) = (&c.doors[0], &c.doors[1]);
        assert!(ssh.single_use);
        assert_eq!((ssh.open_prefix.v4(), ssh.open_prefix.v6()), (32, 64));
        assert!(!web.single_use);
        assert_eq!((web.open_prefix.v4(), web.open_prefix.v6()), (24, 64));
        assert_eq!(
            ssh.opening(),
            [
                "opens for the knocker's /64 (IPv6)",
                "single use: the first connection closes it"
            ]
        );
        assert_eq!(
            web.opening(),
            ["opens for the knocker's /24 (IPv4) and /64 (IPv6)"]
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn open_prefixes_out_of_range_name_the_door_and_key() {
        let door = |keys: &str| {
            with_door(&format!(
                "sequence = [\"1000\", \"2000/udp\", \"3000\"]\n{keys}"
            ))
        };
        for (keys, want) in [
            (
                "open_prefix_v4 = 0",
                "door \"ssh\": open_prefix_v4: 0 is out of range (1 to 32)",
            ),
            (
                "open_prefix_v4 = 33",
                "door \"ssh\": open_prefix_v4: 33 is out of range (1 to 32)",
            ),
            (
                "open_prefix_v6 = 129",
                "door \"ssh\": open_prefix_v6: 129 is out of range (1 to 128)",
            ),
            (
                "open_prefix_v6 = -1",
                "door \"ssh\": open_prefix_v6: -1 is out of range (1 to 128)",
            ),
        ] {
            let e = problems(&door(keys));
            assert!(e.contains(want), "{keys}: {e}");
        }
        let e = problems(&format!("open_prefix_v4 = 300\n{GOOD}"));
        assert!(
            e.contains(": open_prefix_v4: 300 is out of range (1 to 32)"),
            "{e}"
        );
        assert!(!e.contains("door \""), "{e}");
        assert!(problems(&door("single_use = \"yes\"")).contains("line 5"));
        assert!(problems(&door("open_prefix_v4 = \"24\"")).contains("line 5"));
    }

    #[test]
    fn open_prefixes_wider_than_a_site_are_a_warning() {
        let c = parse_str(&format!("open_prefix_v4 = 16\n{GOOD}")).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].starts_with("open_prefix_v4: /16 opens the door for more"),
            "{:?}",
            c.warnings
        );
        let c = parse_str(&format!("{GOOD}open_prefix_v6 = 40\nopen_prefix_v4 = 24\n")).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].starts_with("door \"ssh\": open_prefix_v6: /40"),
            "{:?}",
            c.warnings
        );
        assert!(c.warnings[0].contains("below /48"), "{:?}", c.warnings);
        let c = parse_str(&format!("{GOOD}open_prefix_v6 = 48\n")).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = problems("colour = \"blue\"\n");
        assert!(e.contains("line 1, column 1"), "{e}");
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = problems(&format!("{GOOD}\n[log]\nprefx = \"x\"\n"));
        assert!(e.contains("unknown field `prefx`"), "{e}");
    }

    #[test]
    fn wrong_types_and_bad_durations() {
        assert!(problems("mode = 3\n").contains("line 1"));
        assert!(problems("mode = \"paranoid\"\n").contains("unknown variant `paranoid`"));
        assert!(problems("door_timeout = \"soon\"\n").contains("invalid duration `soon`"));
        assert!(problems("door_timeout = -5\n").contains("negative"));
    }

    #[test]
    fn door_errors_name_door_and_key() {
        assert!(problems(&with_door("")).contains("door \"ssh\": sequence: missing or empty"));
        assert!(problems(&with_door("sequence = []")).contains("missing or empty"));
        assert!(
            problems(&with_door(r#"sequence = ["1000", "2000/udp"]"#))
                .contains("door \"ssh\": sequence: 2 knocks; at least 3")
        );
        assert!(
            problems(&with_door(r#"sequence = ["1000", "22/tcp", "3000"]"#))
                .contains("knock 22/tcp is the port of door \"ssh\"")
        );
        assert!(
            problems(&with_door(r#"sequence = ["1000", "1000/tcp", "3000"]"#))
                .contains("knock 1000/tcp is repeated back to back")
        );
        assert!(problems(&with_door(r#"sequence = ["1000", "1001", "1002"]"#)).contains("scanner"));
        assert!(problems(&with_door(r#"sequence = ["u:9", "u:8", "u:7"]"#)).contains("scanner"));
        // Mixed protocols and gaps are not walkable by a sequential scan.
        parse_str(&with_door(r#"sequence = ["1000", "1001/udp", "1002"]"#)).unwrap();
        parse_str(&with_door(r#"sequence = ["1000", "1002", "1004"]"#)).unwrap();
        // Non-adjacent repeats are allowed.
        parse_str(&with_door(r#"sequence = ["1000", "2000", "1000", "3000"]"#)).unwrap();
    }

    #[test]
    fn doors_that_clash() {
        let two = |a: &str, b: &str| format!("[[door]]\n{a}\n[[door]]\n{b}\n");
        let e = problems(&two(
            r#"name = "ssh"
port = 22
sequence = ["1000", "2000", "3000"]"#,
            r#"name = "ssh"
port = 23
sequence = ["4000", "5000", "6000"]"#,
        ));
        assert!(e.contains("two doors have this name"), "{e}");
        let e = problems(&two(
            r#"name = "a"
port = 22
sequence = ["1000", "2000", "3000"]"#,
            r#"name = "b"
port = "22/tcp"
sequence = ["4000", "5000", "6000"]"#,
        ));
        assert!(e.contains("already the port of door \"a\""), "{e}");
        let e = problems(&two(
            r#"name = "a"
port = 22
sequence = ["1000", "2000", "3000"]"#,
            r#"name = "b"
port = 23
sequence = ["1000", "5000", "6000"]"#,
        ));
        assert!(e.contains("starts with 1000/tcp like door \"a\""), "{e}");
        let e = problems(&two(
            r#"name = "a"
port = 22
sequence = ["23", "2000", "3000"]"#,
            r#"name = "b"
port = 23
sequence = ["4000", "5000", "6000"]"#,
        ));
        assert!(e.contains("knock 23/tcp is the port of door \"b\""), "{e}");
    }

    #[test]
    fn bad_names_and_timeouts() {
        let cfg = |extra: &str| {
            format!(
                "[[door]]\nname = \"SSH door\"\nport = 22\nsequence = [\"1000\", \"2000\", \"3000\"]\n{extra}"
            )
        };
        assert!(problems(&cfg("")).contains("name: must be 1 to 16"));
        let e = problems(&format!(
            "door_timeout = 0\n{}",
            with_door(r#"sequence = ["1000", "2000", "3000"]"#)
        ));
        assert!(e.contains("door_timeout: 0s is out of range"), "{e}");
        let e = problems(&format!(
            "sequence_timeout = \"2days\"\n{}",
            with_door(r#"sequence = ["1000", "2000", "3000"]"#)
        ));
        assert!(e.contains("sequence_timeout: 2days is out of range"), "{e}");
        let e = problems(&with_door(
            "sequence = [\"1000\", \"2000\", \"3000\"]\ndoor_timeout = \"0s\"",
        ));
        assert!(
            e.contains("door \"ssh\": door_timeout: 0s is out of range"),
            "{e}"
        );
    }

    #[test]
    fn networks_are_checked_per_family() {
        let base = with_door(r#"sequence = ["1000", "2000", "3000"]"#);
        let e = problems(&format!("{base}[allow]\nipv4 = [\"fe80::/10\"]\n"));
        assert!(
            e.contains("[allow] ipv4: `fe80::/10` is not an IPv4 network"),
            "{e}"
        );
        let e = problems(&format!("{base}[allow]\nipv6 = [\"10.0.0.0/8\"]\n"));
        assert!(e.contains("is not an IPv6 network"), "{e}");
        let e = problems(&format!("{base}[allow]\nipv4 = [\"10.0.0.0/33\"]\n"));
        assert!(e.contains("is not a network"), "{e}");
        let c = parse_str(&format!(
            "{base}[allow]\nipv4 = [\"192.0.2.7\", \"198.51.100.9/24\"]\n"
        ))
        .unwrap();
        assert_eq!(c.allow.ipv4[0].to_string(), "192.0.2.7/32");
        assert_eq!(c.allow.ipv4[1].to_string(), "198.51.100.0/24");
        assert!(
            c.allow.ipv6.is_empty(),
            "a present [allow] replaces the defaults"
        );
    }

    #[test]
    fn firewall_section_in_guard_mode_is_a_warning() {
        let base = with_door(r#"sequence = ["1000", "2000", "3000"]"#);
        let c = parse_str(&format!("{base}[firewall]\nopen = [\"80/tcp\"]\n")).unwrap();
        assert_eq!(c.warnings.len(), 1);
        let c = parse_str(&format!("{base}[firewall]\nforward = \"drop\"\n")).unwrap();
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].contains("[firewall] is ignored")
                && c.warnings[0].contains("forward = \"drop\" drops nothing forwarded"),
            "{:?}",
            c.warnings
        );
        let e = problems(&format!(
            "mode = \"firewall\"\n{}[firewall]\nopen = [\"2000/tcp\"]\n",
            base
        ));
        assert!(
            e.contains("knock 2000/tcp is a [firewall] open port"),
            "{e}"
        );
    }

    #[test]
    fn no_door_and_bad_prefix() {
        assert!(problems("").contains("no [[door]]"));
        let base = with_door(r#"sequence = ["1000", "2000", "3000"]"#);
        assert!(problems(&format!("{base}[log]\nprefix = \"a b\"\n")).contains("[log] prefix"));
        assert!(problems(&format!("{base}[log]\nprefix = \"\"\n")).contains("[log] prefix"));
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let e = problems("[[door]]\nname = \"X\"\nport = 22\nsequence = [\"1000\"]\n");
        assert!(e.contains("name: must be") && e.contains("1 knocks"), "{e}");
        assert_eq!(e.lines().count(), 2, "{e}");
        assert!(e.lines().all(|l| l.starts_with("test.toml: ")), "{e}");
    }

    #[test]
    fn only_rotating_doors_are_resolved_and_with_valid_sequences() {
        let text = format!(
            "{}[[door]]\nname = \"web\"\nport = 443\nrotate = {{ secret_file = \"/nonexistent\", period = \"60s\" }}\n",
            with_door(r#"sequence = ["1000", "2000", "3000"]"#)
        );
        let cfg = parse_str(&text).unwrap();
        assert!(cfg.rotates());
        let mut asked = Vec::new();
        let seq = |p: &[u16]| -> Vec<PortSpec> {
            p.iter().map(|p| PortSpec::new(*p, Proto::Udp)).collect()
        };
        let port = cfg.doors[1].ports.clone();
        let r = Resolved::new(cfg.clone(), |d, rotate| {
            asked.push((d.name.to_string(), rotate.length));
            Rotation::new(
                7,
                [seq(&[6, 1, 3, 7]), seq(&[5, 9, 4, 8]), seq(&[2, 8, 1, 5])],
                &port,
            )
        })
        .unwrap();
        assert_eq!(asked, [("web".to_string(), DEFAULT_ROTATE_LENGTH)]);
        let web = r.door("web").unwrap();
        assert_eq!(web.sequence[..], seq(&[5, 9, 4, 8]));
        let rotation = web.rotation.unwrap().1;
        assert_eq!(rotation.previous()[..], seq(&[6, 1, 3, 7]));
        assert_eq!(rotation.next()[..], seq(&[2, 8, 1, 5]));
        assert_eq!(r.door("ssh").unwrap().sequence.len(), 3);
        // Every derived sequence must pass the rules of a written one.
        let (good, walkable) = (seq(&[5, 9, 4]), seq(&[1, 2, 3]));
        for i in 0..3 {
            let mut three = [good.clone(), good.clone(), good.clone()];
            three[i] = walkable.clone();
            assert!(Rotation::new(1, three, &port).is_err(), "sequence {i}");
        }
        let on_443 = seq(&[443, 2, 9]);
        let three = || [on_443.clone(), good.clone(), good.clone()];
        assert!(Rotation::new(1, three(), &port).is_ok());
        let udp443 = DoorPorts::new(vec![PortSpec::new(443, Proto::Udp).into()]).unwrap();
        assert!(Rotation::new(1, three(), &udp443).is_err());
        let udp_range = DoorPorts::new(vec!["440-450/udp".parse().unwrap()]).unwrap();
        assert!(Rotation::new(1, three(), &udp_range).is_err());
        // No rotation, no resolved config.
        assert!(Resolved::new(cfg, |_, _| Err("no secret")).is_err());
    }

    #[test]
    fn problems_say_where_which_key_and_what() {
        let e = parse_str(&format!(
            "door_timeout = 0\n[log]\nprefix = \"\"\n{}",
            with_door(r#"sequence = ["1"]"#)
        ))
        .unwrap_err();
        let Error::Invalid { problems, .. } = e else {
            panic!("{e}")
        };
        let at: Vec<(&At, &str)> = problems.iter().map(|p| (&p.at, p.key.as_str())).collect();
        assert_eq!(
            at,
            [
                (&At::Top, "door_timeout"),
                (&At::Door("ssh".into()), "sequence"),
                (&At::Table("log"), "prefix")
            ]
        );
        assert_eq!(
            Problem::new(At::Top, "", "no [[door]]: nothing to hide").to_string(),
            "no [[door]]: nothing to hide"
        );
        assert_eq!(
            Problem::door("ssh", "port", "taken").to_string(),
            "door \"ssh\": port: taken"
        );
    }

    #[test]
    fn key_kinds_match_the_sample() {
        let sample: toml::Table = include_str!("../cfg-sample/nfknock.toml").parse().unwrap();
        let mut seen = 0;
        let mut check = |k: &str, v: &toml::Value| {
            let want = match v {
                toml::Value::Array(_) => KeyKind::List,
                toml::Value::Boolean(_) => KeyKind::Bool,
                toml::Value::Integer(_) => KeyKind::Integer,
                toml::Value::String(_) if k == "port" => KeyKind::Ports,
                _ => KeyKind::Text,
            };
            assert_eq!(key_kind(k), want, "{k}");
            seen += 1;
        };
        for (k, v) in &sample {
            match v {
                toml::Value::Table(t) => {
                    assert!(TABLES.contains(&k.as_str()), "{k}");
                    t.iter().for_each(|(k, v)| check(k, v));
                }
                toml::Value::Array(a) if k == "door" => {
                    for t in a.iter().filter_map(toml::Value::as_table) {
                        t.iter().for_each(|(k, v)| check(k, v));
                    }
                }
                _ => check(k, v),
            }
        }
        assert!(seen > 15, "{seen}");
    }

    #[test]
    fn names_are_types_made_by_validation() {
        assert_eq!(DoorName::new("a-b_9").unwrap(), "a-b_9");
        assert!(DoorName::new("A").is_none() && DoorName::new("").is_none());
        assert!(DoorName::new(&"x".repeat(17)).is_none());
        assert_eq!(LogPrefix::new("nfk.1").unwrap().as_str(), "nfk.1");
        assert!(LogPrefix::new("a b").is_none() && LogPrefix::new("a\"").is_none());
        assert_eq!(LogPrefix::default(), DEFAULT_LOG_PREFIX);
    }

    #[test]
    fn notify_is_parsed() {
        let base = with_door(r#"sequence = ["1000", "2000", "3000"]"#);
        let c = parse_str(&format!(
            "{base}[notify]\nevents = [\"knock\"]\nemail_to = [\"root@localhost\"]\n"
        ))
        .unwrap();
        let n = c.notify.unwrap();
        assert_eq!(n.events, vec![Event::Knock]);
        assert_eq!(n.max_mails_per_hour, 20);
        assert!(
            problems(&format!("{base}[notify]\nevents = [\"boom\"]\n")).contains("unknown variant")
        );
    }

    #[test]
    fn from_takes_networks_of_both_families() {
        let door = with_door(
            r#"sequence = ["1000", "2000", "3000"]
from = ["198.51.100.7/24", "203.0.113.9", "2001:db8:100::1/48"]"#,
        );
        let c = parse_str(&door).unwrap();
        let from = c.doors[0].from.clone().unwrap();
        let v4: Vec<String> = from.ipv4.iter().map(ToString::to_string).collect();
        assert_eq!(v4, ["198.51.100.0/24", "203.0.113.9/32"]);
        assert_eq!(from.ipv6[0].to_string(), "2001:db8:100::/48");
        let none = with_door(r#"sequence = ["1000", "2000", "3000"]"#);
        assert_eq!(parse_str(&none).unwrap().doors[0].from, None);
        let seq = r#"sequence = ["1000", "2000", "3000"]"#;
        let p = problems(&with_door(&format!("{seq}\nfrom = []")));
        assert!(p.contains("door \"ssh\": from: an empty list"), "{p}");
        let p = problems(&with_door(&format!("{seq}\nfrom = [\"10.0.0.0/33\"]")));
        assert!(
            p.contains("door \"ssh\": from: `10.0.0.0/33` is not"),
            "{p}"
        );
    }

    #[test]
    fn interfaces_are_a_default_a_door_may_override() {
        let seq = r#"sequence = ["1000", "2000", "3000"]"#;
        let text = format!(
            "interfaces = [\"eth0\", \"wg0\"]\n{}[[door]]\nname = \"web\"\nport = \"443/tcp\"\nsequence = [\"4000\", \"6000\", \"5000\"]\ninterfaces = [\"eth1\"]\n",
            with_door(seq)
        );
        let c = parse_str(&text).unwrap();
        assert_eq!(
            c.doors[0].interfaces,
            ["eth0", "wg0"].map(|i| Interface::new(i).unwrap())
        );
        assert_eq!(c.doors[1].interfaces, [Interface::new("eth1").unwrap()]);
        assert!(
            parse_str(&with_door(seq)).unwrap().doors[0]
                .interfaces
                .is_empty()
        );
        for (bad, why) in [
            ("", "1 to 15 bytes"),
            ("abcdefghijklmnop", "1 to 15 bytes"),
            ("eth*", "wildcards are not supported"),
            ("eth+", "wildcards are not supported"),
            ("a b", "is not an interface name"),
            ("a/b", "is not an interface name"),
            ("a\\\"b", "is not an interface name"),
            ("a\\u001b", "is not an interface name"),
            ("..", "is not an interface name"),
        ] {
            let p = problems(&with_door(&format!("{seq}\ninterfaces = [\"{bad}\"]")));
            assert!(
                p.contains("door \"ssh\": interfaces: ") && p.contains(why),
                "{bad}: {p}"
            );
        }
        let p = problems(&format!("interfaces = []\n{}", with_door(seq)));
        assert!(p.contains("interfaces: an empty list"), "{p}");
        let p = problems(&with_door(&format!(
            "{seq}\ninterfaces = [\"eth0\", \"eth0\"]"
        )));
        assert!(p.contains("`eth0` is listed twice"), "{p}");
        assert!(Interface::new("eth0.100").is_ok() && Interface::new("br-lan").is_ok());
    }
}
