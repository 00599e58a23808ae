//! The firewall side of nfknock: rendering a validated config into rules,
//! loading them, removing them and reading the kernel's knock state back.
//! One module per backend behind [`Backend`]; the names and log prefixes that
//! the rules, `status` and the watcher share are defined here, once.

pub mod iptables;
pub mod nftables;
mod run;

use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

use crate::config::{Backend as BackendKind, Config, Event};

pub use run::Error;

/// How many sources one dynamic set holds. Every door has one set per knock
/// stage and family, so this many IPv4 and this many IPv6 sources can be in
/// the middle of each stage of each door at once; a full set refuses new
/// sources (they cannot progress) until elements time out.
pub const SET_SIZE: u32 = 65_536;

/// Address families, each with its own sets: a knock from a host's IPv4
/// address never opens a door for its IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    pub fn suffix(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }
}

/// The names of nfknock's kernel objects. `status` parses them back, so
/// they are built only here.
pub mod names {
    use super::Family;

    pub const TABLE: &str = "nfknock";

    /// Sources that sent the first `stage` knocks of `door` in order.
    pub fn stage_set(door: &str, stage: usize, family: Family) -> String {
        format!("stage{stage}_{door}_{}", family.suffix())
    }

    /// Sources that completed the sequence: the door is open for them.
    pub fn open_set(door: &str, family: Family) -> String {
        format!("open_{door}_{}", family.suffix())
    }

    pub fn allow_set(family: Family) -> String {
        format!("allow_{}", family.suffix())
    }

    /// Networks let in without knocking until the next apply or reboot.
    pub fn transient_set(family: Family) -> String {
        format!("transient_{}", family.suffix())
    }

    pub fn knock_chain(door: &str) -> String {
        format!("knock_{door}")
    }

    /// nftables: sources in the middle of any door's sequence. Packets of
    /// every other source skip the doors' knock chains unless they are a
    /// first knock. (Not `knock_...`: that could be a door's chain.)
    pub fn knocking_set(family: Family) -> String {
        format!("knocking_{}", family.suffix())
    }

    /// nftables: the chain that sends only what can knock to the doors'
    /// knock chains.
    pub const KNOCKING_CHAIN: &str = "knocking";

    pub const COUNTER_KINDS: [&str; 3] = ["knocks", "entries", "resets"];

    /// Per-door counters: `knocks` (completed sequences), `entries` (NEW
    /// connections through the open door), `resets`.
    pub fn counter(kind: &str, door: &str) -> String {
        format!("{kind}_{door}")
    }

    /// Splits `stage2_ssh_v4` into ("ssh", 2) and `open_ssh_v4` into
    /// ("ssh", 0); anything else is not a knock-state set.
    pub fn parse_state_set(name: &str) -> Option<(String, usize)> {
        // A rotating door's slot comes last: `stage1_ssh_v4_a`.
        let name = name
            .strip_suffix("_a")
            .or_else(|| name.strip_suffix("_b"))
            .unwrap_or(name);
        let base = name
            .strip_suffix("_v4")
            .or_else(|| name.strip_suffix("_v6"))?;
        if let Some(door) = base.strip_prefix("open_") {
            return Some((door.to_string(), 0));
        }
        let rest = base.strip_prefix("stage")?;
        let (num, door) = rest.split_once('_')?;
        let stage = num.parse().ok().filter(|s| *s > 0)?;
        Some((door.to_string(), stage))
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

/// The kernel log prefix of one event: `<prefix>: <event> door=<door> `.
/// The watcher parses exactly this (see cli.md).
pub fn log_prefix(prefix: &str, event: Event, door: Option<&str>) -> String {
    match door {
        Some(d) => format!("{prefix}: {} door={d} ", event.as_str()),
        None => format!("{prefix}: {} ", event.as_str()),
    }
}

/// What the kernel holds now, as `nfknock status` shows it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Status {
    pub backend: String,
    pub loaded: bool,
    pub doors: Vec<DoorStatus>,
    pub transient: Vec<Transient>,
    /// Seconds left to `nfknock confirm` a pending `apply --confirm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_within: Option<u64>,
}

impl Status {
    /// The door of this name, added when first seen.
    pub fn door_mut(&mut self, name: &str) -> &mut DoorStatus {
        match self.doors.iter().position(|d| d.name == name) {
            Some(i) => &mut self.doors[i],
            None => {
                self.doors.push(DoorStatus {
                    name: name.to_string(),
                    ..DoorStatus::default()
                });
                self.doors.last_mut().expect("just pushed")
            }
        }
    }
}

impl DoorStatus {
    /// Records a source that sent `stage` knocks (0: the door is open for
    /// it).
    pub fn add_source(&mut self, stage: usize, address: String, expires_in: f64) {
        let source = Source {
            address,
            stage: (stage > 0).then_some(stage),
            expires_in,
        };
        if stage == 0 {
            self.open.push(source);
        } else {
            self.in_progress.push(source);
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DoorStatus {
    pub name: String,
    /// Knocks in the sequence.
    pub knocks: usize,
    pub counters: Counters,
    /// Sources in the middle of the sequence.
    pub in_progress: Vec<Source>,
    /// Sources for which the door is open.
    pub open: Vec<Source>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counters {
    pub knocks: u64,
    pub entries: u64,
    pub resets: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Source {
    pub address: String,
    /// Knocks sent so far (0 for an open door).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<usize>,
    /// Seconds until the kernel forgets this source.
    pub expires_in: f64,
}

/// A network in the transient sets.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Transient {
    pub network: String,
    /// Seconds left; None when it stays until the next apply or reboot.
    pub expires_in: Option<f64>,
}

/// One firewall backend.
pub trait Backend {
    /// The ruleset `apply` loads, as the firewall tool's input text.
    fn render(&self, cfg: &Config) -> String;
    /// Checks and loads the ruleset atomically, replacing only nfknock's
    /// own rules; returns what was loaded.
    fn apply(&self, cfg: &Config) -> Result<String, Error>;
    /// Loads a ruleset saved by `apply` (what `render` returned), replacing
    /// nfknock's rules atomically; the text is checked first.
    fn restore(&self, saved: &str) -> Result<(), Error>;
    /// Removes everything nfknock added; false when nothing was loaded.
    fn remove(&self) -> Result<bool, Error>;
    /// Whether nfknock's rules of this backend are in the kernel now.
    fn loaded(&self) -> Result<bool, Error>;
    /// Reads the knock state back from the kernel.
    fn status(&self) -> Result<Status, Error>;
    /// Lets networks in without knocking, all or none, optionally for a
    /// while; they are gone after the next apply, remove or reboot.
    fn transient_add(&self, nets: &[IpNet], timeout: Option<Duration>) -> Result<(), Error>;
    /// Removes these networks (each exactly as added), all or none.
    fn transient_del(&self, nets: &[IpNet]) -> Result<(), Error>;
    /// Removes every transient network.
    fn transient_flush(&self) -> Result<(), Error>;
    fn transient_list(&self) -> Result<Vec<Transient>, Error>;
}

/// The backend whose rules are loaded now, if any: `status` and
/// `transient` follow the kernel, not a config that may have changed. A
/// backend whose tools are not installed has nothing loaded.
pub fn loaded_backend() -> Result<Option<BackendKind>, Error> {
    for kind in [BackendKind::Nftables, BackendKind::Iptables] {
        match backend(kind)?.loaded() {
            Ok(true) => return Ok(Some(kind)),
            Ok(false) | Err(Error::Missing { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// The backend a configuration asks for.
pub fn backend(kind: BackendKind) -> Result<Box<dyn Backend>, Error> {
    match kind {
        BackendKind::Nftables => Ok(Box::new(nftables::Nftables)),
        BackendKind::Iptables => Ok(Box::new(iptables::Iptables)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_set_names_round_trip() {
        for door in ["ssh", "a-b_c", "2fa"] {
            for f in Family::ALL {
                assert_eq!(
                    names::parse_state_set(&names::stage_set(door, 3, f)),
                    Some((door.to_string(), 3))
                );
                assert_eq!(
                    names::parse_state_set(&names::open_set(door, f)),
                    Some((door.to_string(), 0))
                );
            }
        }
        assert_eq!(names::parse_state_set("allow_v4"), None);
        assert_eq!(names::parse_state_set("stage0_x_v4"), None);
    }

    #[test]
    fn log_prefixes_match_the_contract() {
        assert_eq!(
            log_prefix("nfknock", Event::Knock, Some("ssh")),
            "nfknock: knock door=ssh "
        );
        assert_eq!(log_prefix("nfk", Event::Transient, None), "nfk: transient ");
    }
}
