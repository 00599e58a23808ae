//! The life of nfknock's rules: apply, confirm, rollback, restore, remove.
//! Each loads or removes rules through a firewall backend and keeps the
//! state directory ([`StateDir`]) in step with the kernel.
//!
//! `apply --confirm SECS` means an admin changing rules over SSH never
//! locks themselves out: the rules nfknock had before (the baseline) come
//! back after SECS unless `nfknock confirm` runs first. The rollback runs
//! in a process of its own (a transient systemd timer where systemd runs,
//! else a detached `setsid` process), so a dead SSH session does not stop
//! it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::anyhow;

use crate::config::{Backend, Resolved};
use crate::exit::Error;
use crate::firewall::{self, Plan};
use crate::state::{self, Pending, Record, StateDir};
use crate::{clock, watch};

/// Where a step says what it did: the command line prints `info` unless
/// quiet and `detail` when verbose.
pub trait Say {
    fn info(&self, msg: &str);
    fn detail(&self, msg: &str);
}

fn state_err(e: state::Error) -> Error {
    Error::failure(anyhow!("the state directory: {e}"))
}

/// Loads the rules of `cfg` (valid and resolved by its type; the caller
/// checked the capabilities), removes another backend's, records what was
/// loaded and, unless `no_persist` or a confirmation is asked for, saves
/// it for boot. With `confirm`, the baseline is taken first and a
/// rollback scheduled after.
pub fn apply(
    say: &dyn Say,
    cfg: &Resolved,
    config_path: &Path,
    state: &StateDir,
    no_persist: bool,
    confirm: Option<u64>,
) -> Result<(), Error> {
    // The key of the names: made by the first apply, then kept.
    let key = state.names_key_or_create().map_err(state_err)?;
    // The baseline is taken before anything changes.
    let pending = match confirm {
        Some(secs) => Some(begin(state, secs).map_err(state_err)?),
        None => None,
    };
    let plan = Plan::new(cfg, key);
    let ruleset = match firewall::backend(cfg.backend).and_then(|b| b.apply(&plan)) {
        Ok(r) => r,
        Err(e) => {
            if let Some((_, true)) = pending {
                state.clear_pending().map_err(state_err)?;
            }
            return Err(e.into());
        }
    };
    // Moving to another backend: the old one's rules must not stay behind.
    for other in other_backends(cfg.backend) {
        remove_with(other)?;
    }
    let bytes = std::fs::read(config_path).unwrap_or_default();
    let record = Record {
        backend: cfg.backend,
        config: std::fs::canonicalize(config_path).unwrap_or_else(|_| config_path.to_path_buf()),
        config_sha256: state::sha256_hex(&bytes),
        applied_at: clock::rfc3339(),
    };
    state.loaded().save(&record, &ruleset).map_err(state_err)?;
    say.info(&format!(
        "nfknock: {} door(s) hidden ({} mode, {})",
        cfg.doors.len(),
        cfg.mode,
        cfg.backend
    ));
    if let Some((p, _)) = pending {
        let how = schedule(&p, state).map_err(|e| {
            Error::failure(anyhow!(
                "the rules are loaded but no rollback could be scheduled ({e}); run `nfknock confirm` to keep them"
            ))
        })?;
        say.info(&format!(
            "nfknock: run `nfknock confirm` within {}s to keep these rules; otherwise {how} puts the previous ones back",
            p.deadline.saturating_sub(clock::now())
        ));
        // Persistence happens only on confirm.
        return Ok(());
    }
    if !no_persist {
        state.boot().save(&record, &ruleset).map_err(|e| {
            Error::failure(anyhow!("the rules are loaded, but not saved for boot: {e}"))
        })?;
        say.detail(&format!("saved to {}", state.path().display()));
    }
    Ok(())
}

/// Whether the rules nfknock loaded last are exactly `cfg`'s: a rotation
/// timer that finds the period unchanged has nothing to do.
pub fn is_loaded(cfg: &Resolved, state: &StateDir) -> Result<bool, Error> {
    let Some(key) = state.names_key().map_err(state_err)? else {
        return Ok(false);
    };
    let rendered = firewall::backend(cfg.backend)?.render(&Plan::new(cfg, key));
    let loaded = state.loaded().load().ok().flatten();
    Ok(loaded.is_some_and(|l| l.ruleset == rendered))
}

/// Keeps the rules of a pending `apply --confirm` and saves them for boot.
pub fn confirm(say: &dyn Say, state: &StateDir) -> Result<(), Error> {
    if state.pending().is_none() {
        return Err(Error::failure(anyhow!(
            "nothing to confirm: no `apply --confirm` is pending"
        )));
    }
    state.clear_pending().map_err(state_err)?;
    if let Some(loaded) = state.loaded().load().map_err(state_err)? {
        state.boot().save_copy(&loaded).map_err(state_err)?;
    }
    say.info("nfknock: confirmed; the rules stay and are saved for boot");
    Ok(())
}

/// Waits for the deadline of the confirmation named `token`; if it is
/// still pending then, puts the baseline back.
pub fn rollback(
    say: &dyn Say,
    state: &StateDir,
    token: &str,
    after: Option<u64>,
) -> Result<(), Error> {
    let Some(pending) = wait_until_due(state, token, after) else {
        return Ok(()); // confirmed, or renewed by a later apply --confirm
    };
    let baseline = state.baseline().load().map_err(state_err)?;
    // Claim it before acting: a later `apply --confirm` starts a new one.
    state.clear_pending().map_err(state_err)?;
    match baseline.filter(|_| pending.had_rules) {
        Some(saved) => {
            firewall::backend(saved.record.backend)?.restore(&saved.ruleset)?;
            for other in other_backends(saved.record.backend) {
                remove_with(other)?;
            }
            state.loaded().save_copy(&saved).map_err(state_err)?;
        }
        None => {
            for kind in Backend::ALL {
                remove_with(kind)?;
            }
            state.loaded().forget().map_err(state_err)?;
        }
    }
    watch::log(
        4,
        "apply --confirm was not confirmed in time: the previous rules are back",
        &[],
    );
    say.detail("rolled back");
    Ok(())
}

/// Loads what the last apply saved for boot.
pub fn restore(say: &dyn Say, state: &StateDir) -> Result<(), Error> {
    let Some(saved) = state.boot().load().map_err(Error::failure)? else {
        say.info(&format!(
            "nfknock: nothing saved in {}; nothing to restore",
            state.path().display()
        ));
        return Ok(());
    };
    firewall::backend(saved.record.backend)?.restore(&saved.ruleset)?;
    state.loaded().save_copy(&saved).map_err(state_err)?;
    say.info(&format!(
        "nfknock: restored the rules applied at {} from {}",
        saved.record.applied_at,
        saved.record.config.display()
    ));
    Ok(())
}

/// Removes what any backend loaded. It does not need a valid config (that
/// may be what is broken).
pub fn remove(say: &dyn Say, state: &StateDir, no_persist: bool) -> Result<(), Error> {
    let mut removed = false;
    for kind in Backend::ALL {
        removed |= remove_with(kind)?;
    }
    say.info(if removed {
        "nfknock: rules removed; the doors are no longer hidden"
    } else {
        "nfknock: no rules were loaded"
    });
    state.loaded().forget().map_err(Error::failure)?;
    // Nothing is left for a pending confirmation to go back from.
    state.clear_pending().map_err(Error::failure)?;
    if !no_persist {
        state.boot().forget().map_err(Error::failure)?;
    }
    Ok(())
}

fn other_backends(kind: Backend) -> Vec<Backend> {
    Backend::ALL.into_iter().filter(|k| *k != kind).collect()
}

/// Removes one backend's rules; a backend whose tools are not installed
/// cannot have loaded any.
fn remove_with(kind: Backend) -> Result<bool, Error> {
    match firewall::backend(kind)?.remove() {
        Err(firewall::Error::Missing { .. }) => Ok(false),
        other => Ok(other?),
    }
}

/// Seconds left to confirm a pending `apply --confirm`.
pub fn confirm_within(state: &StateDir) -> Option<u64> {
    state
        .pending()
        .map(|p| p.deadline.saturating_sub(clock::now()))
}

fn token() -> String {
    let mut b = [0u8; 8];
    // A clash would only make two confirmations share a rollback.
    let _ = getrandom::fill(&mut b);
    crate::hex::encode(&b)
}

/// Starts (or, when one is pending, renews) a confirmation window. The
/// baseline is what was loaded before the first pending apply: a second
/// `apply --confirm` replaces the deadline, not the baseline. Returns the
/// pending record and whether it is new.
fn begin(state: &StateDir, secs: u64) -> Result<(Pending, bool), state::Error> {
    let existing = state.pending();
    let had_rules = match &existing {
        Some(p) => p.had_rules,
        None => match state.loaded().load()? {
            Some(loaded) => {
                state.baseline().save_copy(&loaded)?;
                true
            }
            None => {
                state.baseline().forget()?;
                false
            }
        },
    };
    let p = Pending {
        deadline: clock::now() + secs,
        token: token(),
        had_rules,
    };
    state.set_pending(&p)?;
    Ok((p, existing.is_none()))
}

/// Arranges for `nfknock rollback` to run at the deadline, outside this
/// process and its session.
fn schedule(p: &Pending, state: &StateDir) -> std::io::Result<String> {
    let exe = std::env::current_exe()?;
    let wait = p.deadline.saturating_sub(clock::now());
    // systemd runs its units in PID 1's network namespace: only use it when
    // that is where these rules are.
    let systemd = Path::new("/run/systemd/system").exists()
        && same_netns_as_init()
        && Command::new("systemd-run")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    let quiet = |c: &mut Command| {
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    if systemd {
        let mut c = Command::new("systemd-run");
        c.arg(format!("--unit=nfknock-rollback-{}", p.token))
            .arg(format!("--on-active={wait}s"))
            .arg("--timer-property=AccuracySec=1s")
            .arg(format!(
                "--setenv=STATE_DIRECTORY={}",
                state.path().display()
            ))
            .arg(&exe)
            .args(["rollback", "--token", &p.token]);
        quiet(&mut c);
        if c.status()?.success() {
            return Ok(format!(
                "a systemd timer (nfknock-rollback-{}.timer)",
                p.token
            ));
        }
    }
    let mut c = Command::new("setsid");
    c.arg("--fork")
        .arg(&exe)
        .args([
            "rollback",
            "--token",
            &p.token,
            "--after",
            &wait.to_string(),
        ])
        .env("STATE_DIRECTORY", state.path());
    quiet(&mut c);
    if c.status()?.success() {
        Ok("a detached process".into())
    } else {
        Err(std::io::Error::other("setsid failed"))
    }
}

fn same_netns_as_init() -> bool {
    match (
        std::fs::read_link("/proc/self/ns/net"),
        std::fs::read_link("/proc/1/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Sleeps until the deadline, then, if the confirmation named `token` is
/// still pending, says so. The caller puts the baseline back.
fn wait_until_due(state: &StateDir, token: &str, after: Option<u64>) -> Option<Pending> {
    if let Some(s) = after {
        std::thread::sleep(Duration::from_secs(s));
    }
    loop {
        let p = state.pending().filter(|p| p.token == token)?;
        let left = p.deadline.saturating_sub(clock::now());
        if left == 0 {
            return Some(p);
        }
        // Renewed by another apply --confirm: its own rollback runs then.
        std::thread::sleep(Duration::from_secs(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            backend: Backend::Nftables,
            config: "/etc/nfknock/nfknock.toml".into(),
            config_sha256: String::new(),
            applied_at: String::new(),
        }
    }

    #[test]
    fn a_second_confirm_keeps_the_first_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        state.loaded().save(&record(), "A").unwrap();
        let (first, new) = begin(&state, 60).unwrap();
        assert!(new && first.had_rules);
        // The apply loads B...
        state.loaded().save(&record(), "B").unwrap();
        let (second, new) = begin(&state, 90).unwrap();
        assert!(!new);
        assert_ne!(first.token, second.token);
        assert!(second.deadline >= first.deadline);
        assert_eq!(state.baseline().load().unwrap().unwrap().ruleset, "A");
        assert_eq!(
            wait_until_due(&state, &first.token, None),
            None,
            "the old token is void"
        );
        state.clear_pending().unwrap();
        assert_eq!(state.pending(), None);
        assert_eq!(state.baseline().load().unwrap(), None);
    }

    #[test]
    fn no_rules_before_means_none_after() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let (p, _) = begin(&state, 0).unwrap();
        assert!(!p.had_rules);
        assert_eq!(wait_until_due(&state, &p.token, None), Some(p));
    }
}
