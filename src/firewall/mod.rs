//! The firewall side of nfknock: turning a validated config into rules,
//! loading them, removing them and reading the kernel's knock state back.
//! [`plan`] decides once what the rules must do; one module per backend
//! behind [`Backend`] prints that plan in its syntax and reads its status
//! back. [`names`] names every kernel object; the log prefixes that the
//! rules and the watcher share are defined here.

pub mod host;
pub mod iptables;
pub mod names;
pub mod nftables;
pub mod plan;
mod run;

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

use crate::config::{Backend as BackendKind, Config, Event, Problem};

pub use plan::{Plan, fingerprint};
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
    pub backend: BackendKind,
    pub loaded: bool,
    pub doors: Vec<DoorStatus>,
    pub transient: Vec<Transient>,
    /// What the loaded rules answer for a closed door (`reset`, `drop`),
    /// each once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub closed: Vec<String>,
    /// Whether the loaded rules drop the forwarded traffic they do not
    /// let through (`[firewall] forward = "drop"`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forward_dropped: bool,
    /// The host's own chains that would drop a door's port even after a
    /// knock (see `host::HostRules::blockers`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<String>,
    /// Seconds left to `nfknock confirm` a pending `apply --confirm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_within: Option<u64>,
}

impl Status {
    /// Records what a door's closing rule answers, read back from its
    /// comment.
    pub fn add_closed(&mut self, answer: &str) {
        if !self.closed.iter().any(|a| a == answer) {
            self.closed.push(answer.to_string());
        }
    }

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
    pub fn add_source(&mut self, stage: usize, address: IpAddr, expires_in: f64) {
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
    /// Its ports and ranges (`22/tcp`, `60000-61000/udp`), from the config:
    /// the kernel's rules do not say them back. Empty when the config
    /// cannot be read.
    pub ports: Vec<String>,
    /// Knocks in the sequence.
    pub knocks: usize,
    pub counters: Counters,
    /// Sources in the middle of the sequence.
    pub in_progress: Vec<Source>,
    /// Sources for which the door is open: with an open prefix, the
    /// knockers' networks (their first address).
    pub open: Vec<Source>,
    /// The config's `single_use` (see [`DoorStatus::set_opening`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub single_use: bool,
    /// The config's `open_prefix_v4`, when shorter than an address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_prefix_v4: Option<u8>,
    /// The config's `open_prefix_v6`, when shorter than an address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_prefix_v6: Option<u8>,
}

impl DoorStatus {
    /// Takes how the door opens from its config: the kernel's sets hold
    /// only addresses.
    pub fn set_opening(&mut self, door: &crate::config::Door) {
        self.single_use = door.single_use;
        self.open_prefix_v4 = plan::open_prefix(door.open_prefix, Family::V4);
        self.open_prefix_v6 = plan::open_prefix(door.open_prefix, Family::V6);
    }

    /// What an element of the open set stands for: the address, or with
    /// an open prefix the network (`192.0.2.0/24`).
    pub fn opened_for(&self, address: IpAddr) -> String {
        let len = match address {
            IpAddr::V4(_) => self.open_prefix_v4,
            IpAddr::V6(_) => self.open_prefix_v6,
        };
        match len {
            Some(l) => format!("{address}/{l}"),
            None => address.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counters {
    pub knocks: u64,
    pub entries: u64,
    pub resets: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Source {
    pub address: IpAddr,
    /// Knocks sent so far (0 for an open door).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<usize>,
    /// Seconds until the kernel forgets this source.
    pub expires_in: f64,
}

/// A network in the transient sets.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Transient {
    pub network: IpNet,
    /// Seconds left; None when it stays until the next apply or reboot.
    pub expires_in: Option<f64>,
}

/// One firewall backend.
pub trait Backend {
    /// What this backend cannot do with a valid config, each problem
    /// naming the door and the key (the loader reports them with the
    /// config's own).
    fn fits(&self, _cfg: &Config) -> Vec<Problem> {
        Vec::new()
    }
    /// The ruleset `apply` loads, as the firewall tool's input text.
    fn render(&self, plan: &Plan) -> String;
    /// Checks and loads the ruleset atomically, replacing only nfknock's
    /// own rules; returns what was loaded.
    fn apply(&self, plan: &Plan) -> Result<String, Error>;
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
    for kind in BackendKind::ALL {
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
    fn status_json_writes_addresses_networks_and_backend_as_text() {
        let mut s = Status {
            backend: BackendKind::Iptables,
            loaded: true,
            ..Status::default()
        };
        s.door_mut("ssh")
            .add_source(0, "2001:db8::2".parse().unwrap(), 21.0);
        s.transient.push(Transient {
            network: "192.0.2.0/24".parse().unwrap(),
            expires_in: None,
        });
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"backend":"iptables","loaded":true,"doors":[{"name":"ssh","ports":[],"knocks":0,"counters":{"knocks":0,"entries":0,"resets":0},"in_progress":[],"open":[{"address":"2001:db8::2","expires_in":21.0}]}],"transient":[{"network":"192.0.2.0/24","expires_in":null}]}"#
        );
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
