//! The names of nfknock's kernel objects, for both backends: tables,
//! chains, sets, `recent` lists, ipsets, counters and the rotation slot
//! suffix. `status` parses some of them back, so they are built only here.

use super::Family;
use super::plan::{Slot, State, StateSet};

/// The suffix of a rotating door's chains and sets: `_a`, `_b` or `_c`
/// (periods 0, 1 and 2 mod 3); nothing for a fixed door.
pub fn slot_suffix(slot: Slot) -> &'static str {
    use crate::config::SLOT_SUFFIXES;
    match slot {
        Slot::Fixed => "",
        Slot::A => SLOT_SUFFIXES[0],
        Slot::B => SLOT_SUFFIXES[1],
        Slot::C => SLOT_SUFFIXES[2],
    }
}

/// The per-door counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Completed sequences.
    Knocks,
    /// NEW connections through the open door.
    Entries,
    /// Sources sent back to the start.
    Resets,
}

impl Counter {
    pub const ALL: [Counter; 3] = [Counter::Knocks, Counter::Entries, Counter::Resets];

    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Knocks => "knocks",
            Counter::Entries => "entries",
            Counter::Resets => "resets",
        }
    }
}

/// The nftables backend: everything in one `inet` table.
pub mod nft {
    use super::{Counter, Family, Slot, State, StateSet, slot_suffix};

    pub const TABLE: &str = "nfknock";

    /// Marks the `[allow]` sets; a re-apply empties and refills a set with
    /// this comment in place, so the table keeps its layout.
    pub const ALLOW_COMMENT: &str = "[allow] networks";

    /// Marks the transient sets, emptied in place the same way.
    pub const TRANSIENT_COMMENT: &str = "transient networks";

    /// The base chain hooked to input.
    pub const INPUT_CHAIN: &str = "input";

    /// The chain that sends a packet that can knock to every door's knock
    /// chains.
    pub const KNOCKING_CHAIN: &str = "knocking";

    /// Where a first knock from a source not yet in the middle of a
    /// sequence goes on to the knocking chain.
    pub const FIRST_KNOCK_CHAIN: &str = "first_knock";

    /// Where a packet redirected to this host (DNAT) meets the doors
    /// before firewall mode's open ports (`Plan::redirects_meet_doors_first`).
    pub const REDIRECTED_CHAIN: &str = "redirected";

    /// The base chain hooked to forward: doors on ports the host
    /// forwards (DNAT).
    pub const FORWARD_CHAIN: &str = "forward";

    /// Marks the forward chain's last rule when it drops what it does not
    /// let through (`forward = "drop"`; `status` reads it back).
    pub const FORWARD_DROP_COMMENT: &str = "forward = drop: everything else forwarded";

    /// The rules of one door's port (`plan::DoorRule`). (`door_`: no other
    /// chain or set starts so.)
    pub fn door_chain(door: &str) -> String {
        format!("door_{door}")
    }

    /// Sources that sent the first `stage` knocks of `door`'s sequence in
    /// `slot`.
    pub fn stage_set(door: &str, stage: usize, slot: Slot, family: Family) -> String {
        format!(
            "stage{stage}_{door}_{}{}",
            family.suffix(),
            slot_suffix(slot)
        )
    }

    /// Sources that completed the sequence: the door is open for them.
    pub fn open_set(door: &str, family: Family) -> String {
        format!("open_{door}_{}", family.suffix())
    }

    /// The networks a door's `from` lets knock, in one family. Not
    /// secret, but named by the door like its other sets.
    pub fn from_set(door: &str, family: Family) -> String {
        format!("from_{door}_{}", family.suffix())
    }

    /// Sources in the middle of any door's sequence. Packets of every
    /// other source skip the doors' knock chains unless they are a first
    /// knock. (Not `knock_...`: that could be a door's chain.)
    pub fn knocking_set(family: Family) -> String {
        format!("knocking_{}", family.suffix())
    }

    /// The set that holds a knock state of the plan.
    pub fn state_set(set: &StateSet, family: Family) -> String {
        match &set.state {
            State::Sent { door, slot, sent } => stage_set(door, sent.len(), *slot, family),
            State::Open { door, .. } => open_set(door, family),
            State::Knocking => knocking_set(family),
        }
    }

    pub fn allow_set(family: Family) -> String {
        format!("allow_{}", family.suffix())
    }

    /// Networks let in without knocking until the next apply or reboot.
    pub fn transient_set(family: Family) -> String {
        format!("transient_{}", family.suffix())
    }

    /// The knock state machine of one door's sequence in `slot`.
    pub fn knock_chain(door: &str, slot: Slot) -> String {
        format!("knock_{door}{}", slot_suffix(slot))
    }

    /// A per-door counter object.
    pub fn counter(kind: Counter, door: &str) -> String {
        format!("{}_{door}", kind.as_str())
    }

    /// Splits `stage2_ssh_v4` into ("ssh", 2) and `open_ssh_v4` into
    /// ("ssh", 0); anything else is not a knock-state set.
    pub fn parse_state_set(name: &str) -> Option<(String, usize)> {
        // A rotating door's slot comes last: `stage1_ssh_v4_a`.
        let name = Slot::ROTATING
            .into_iter()
            .find_map(|s| name.strip_suffix(slot_suffix(s)))
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

/// The iptables backend: chains `NFKNOCK` and `NFK-*`, `recent` lists and
/// two ipsets.
pub mod ipt {
    use super::{Counter, Family, Slot, State, StateSet, slot_suffix};

    /// The chain INPUT jumps to; every other chain of nfknock starts with `NFK-`.
    pub const MAIN: &str = "NFKNOCK";
    /// What INPUT and FORWARD send to the doors: sends each packet on to
    /// its door's chain, by the port the client connected to.
    pub const DOORS: &str = "NFK-DOORS";
    /// Sends a NEW connection to a port the host DNATs to its door's
    /// chain, by the port the client connected to.
    pub const DNAT: &str = "NFK-DNAT";
    /// Where a packet redirected to this host (DNAT) meets the doors
    /// before firewall mode's open ports (`Plan::redirects_meet_doors_first`).
    pub const REDIRECTED: &str = "NFK-REDIRECTED";
    /// The chain FORWARD jumps to.
    pub const FORWARD: &str = "NFK-FORWARD";
    pub const TRANSIENT: &str = "NFK-TRANSIENT";
    /// What a NEW packet aimed at a first knock's or a door's port goes
    /// through: first knocks on to the doors' knock chains (`KNOCKS`),
    /// doors to `DOORS`.
    pub const PORTS: &str = "NFK-PORTS";
    pub const KNOCKS: &str = "NFK-KNOCKS";

    /// Whether a chain is nfknock's.
    pub fn ours(chain: &str) -> bool {
        chain == MAIN || chain.starts_with("NFK-")
    }

    /// Marks firewall mode's rule in INPUT that accepts established and
    /// related traffic.
    pub const ESTABLISHED_COMMENT: &str = "nfknock:established";

    /// nfknock's rules in INPUT, as `iptables-restore` takes them. An
    /// established packet meets one rule, as under any stateful firewall
    /// (the packet path's cost, bench/packet.sh): guard mode jumps to
    /// `NFKNOCK` only with what is neither established, related nor from
    /// loopback, and leaves those to INPUT's own rules; firewall mode
    /// accepts established and related traffic first, then jumps.
    pub fn input_rules(mode: crate::config::Mode) -> Vec<String> {
        match mode {
            crate::config::Mode::Guard => vec![format!(
                "-I INPUT 1 ! -i lo -m conntrack ! --ctstate RELATED,ESTABLISHED -j {MAIN}"
            )],
            crate::config::Mode::Firewall => vec![
                format!(
                    "-I INPUT 1 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment {ESTABLISHED_COMMENT} -j ACCEPT"
                ),
                format!("-I INPUT 2 -j {MAIN}"),
            ],
        }
    }

    /// The jump from FORWARD, as `iptables-restore` takes it.
    pub fn forward_jump() -> String {
        format!("-I FORWARD 1 -j {FORWARD}")
    }

    /// Every rule nfknock writes in INPUT or FORWARD, in any mode, as
    /// `iptables-restore` takes it (`-I CHAIN N SPEC`).
    pub fn hook_rules() -> impl Iterator<Item = String> {
        [crate::config::Mode::Guard, crate::config::Mode::Firewall]
            .into_iter()
            .flat_map(input_rules)
            .chain([forward_jump()])
    }

    /// The chain and the rest of a rule of INPUT or FORWARD that is
    /// nfknock's, as the save tools print it (`-A INPUT SPEC`): exactly
    /// one of the rules this or an earlier version writes there (`-j
    /// NFKNOCK` was INPUT's only rule before), whatever the quotes. Any
    /// other rule is the host's, even one that names nfknock.
    pub fn hook_rule(line: &str) -> Option<(&str, &str)> {
        let (chain, spec) = line.strip_prefix("-A ")?.split_once(' ')?;
        let unquoted = |s: &str| s.replace('"', "");
        let ours = hook_rules().any(|rule| {
            let mut words = rule.splitn(4, ' ');
            let (_, c, _, s) = (words.next(), words.next(), words.next(), words.next());
            c == Some(chain) && s.is_some_and(|s| unquoted(s) == unquoted(spec.trim()))
        });
        ours.then_some((chain, spec))
    }

    /// Marks a door's last rule: what a closed door answers (`status`
    /// reads it back).
    pub fn closed_comment(
        mode: crate::config::Mode,
        answer: crate::firewall::plan::Answer,
    ) -> String {
        match mode {
            crate::config::Mode::Guard => format!("nfknock:closed:{}", answer.as_str()),
            crate::config::Mode::Firewall => "nfknock:closed:firewall".to_string(),
        }
    }

    /// The knock state machine of one door's sequence in `slot`.
    pub fn knock_chain(door: &str, slot: Slot) -> String {
        format!("NFK-K-{door}{}", slot_suffix(slot))
    }

    /// The rules of one door's port (`plan::DoorRule`).
    pub fn door_chain(door: &str) -> String {
        format!("NFK-D-{door}")
    }

    /// Logs and counts a completed sequence.
    pub fn opened_chain(door: &str) -> String {
        format!("NFK-OPEN-{door}")
    }

    /// Logs, counts and lets in a NEW connection through an open door.
    pub fn enter_chain(door: &str) -> String {
        format!("NFK-IN-{door}")
    }

    pub fn ipset(family: Family) -> String {
        format!("nfknock-transient-{}", family.suffix())
    }

    /// Marks the rules whose counters `status` reads.
    pub fn counter_comment(kind: Counter, door: &str) -> String {
        format!("nfknock:{}:{door}", kind.as_str())
    }

    /// Marks the rule that logs transient networks.
    pub const TRANSIENT_COMMENT: &str = "nfknock:transient";

    /// Marks NFK-FORWARD's last rule when it drops what it does not let
    /// through (`forward = "drop"`; `status` reads it back).
    pub const FORWARD_DROP_COMMENT: &str = "nfknock:forward:drop";

    /// The `recent` list that holds a knock state of the plan. The
    /// fingerprint of what the list means is part of the name: a re-apply
    /// keeps the sources of unchanged lists and starts changed ones afresh.
    /// (The slot is not: the two slots' lists differ by their knocks.)
    pub fn recent_list(set: &StateSet, family: Family, fingerprint: u32) -> String {
        let f = family.suffix();
        match &set.state {
            State::Sent { door, sent, .. } => {
                format!("nfknock_{door}_{}_{f}_{fingerprint:08x}", sent.len())
            }
            State::Open { door, .. } => format!("nfknock_{door}_open_{f}_{fingerprint:08x}"),
            State::Knocking => format!("nfknock_knocking_{f}_{fingerprint:08x}"),
        }
    }

    /// Splits a list name back into (door, stage); stage 0 is the open list.
    pub fn parse_recent_list(name: &str) -> Option<(String, usize)> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_set_names_round_trip() {
        for door in ["ssh", "a-b_c", "2fa"] {
            for f in Family::ALL {
                for slot in [Slot::Fixed, Slot::A, Slot::B, Slot::C] {
                    assert_eq!(
                        nft::parse_state_set(&nft::stage_set(door, 3, slot, f)),
                        Some((door.to_string(), 3))
                    );
                }
                assert_eq!(
                    nft::parse_state_set(&nft::open_set(door, f)),
                    Some((door.to_string(), 0))
                );
            }
        }
        assert_eq!(nft::parse_state_set("allow_v4"), None);
        assert_eq!(nft::parse_state_set("stage0_x_v4"), None);
        assert_eq!(ipt::parse_recent_list("other"), None);
        assert_eq!(
            ipt::parse_recent_list("nfknock_a_b_open_v6_0123abcd"),
            Some(("a_b".into(), 0))
        );
    }
}
