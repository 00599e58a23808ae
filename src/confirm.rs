//! `apply --confirm SECS` and `confirm`: an admin changing rules over SSH
//! never locks themselves out. The rules nfknock had before (the baseline)
//! come back after SECS unless `nfknock confirm` runs first. The rollback
//! runs in a process of its own (a transient systemd timer where systemd
//! runs, else a detached `setsid` process), so a dead SSH session does not
//! stop it.
//!
//! State directory layout: `loaded/` is what nfknock loaded last (kept by
//! every apply, restore and remove), `baseline/` what a pending
//! confirmation goes back to, `pending.json` its deadline and token.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::persist;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// Seconds since the epoch.
    pub deadline: u64,
    /// Names this confirmation: a rollback started for an earlier one
    /// finds another token and does nothing.
    pub token: String,
    /// Whether nfknock had rules before (else the rollback removes them).
    pub had_rules: bool,
}

pub fn loaded_dir(state: &Path) -> PathBuf {
    state.join("loaded")
}

fn baseline_dir(state: &Path) -> PathBuf {
    state.join("baseline")
}

fn pending_file(state: &Path) -> PathBuf {
    state.join("pending.json")
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn load_pending(state: &Path) -> Option<Pending> {
    let text = std::fs::read_to_string(pending_file(state)).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_pending(state: &Path, p: &Pending) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(state)?;
    let path = pending_file(state);
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(
        serde_json::to_string_pretty(p)
            .expect("serializes")
            .as_bytes(),
    )?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)
}

fn token() -> String {
    let mut b = [0u8; 8];
    // A clash would only make two confirmations share a rollback.
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Starts (or, when one is pending, renews) a confirmation window. The
/// baseline is what was loaded before the first pending apply: a second
/// `apply --confirm` replaces the deadline, not the baseline. Returns the
/// pending record and whether it is new.
pub fn begin(state: &Path, secs: u64) -> Result<(Pending, bool), persist::Error> {
    let io = |e: std::io::Error| persist::Error::Write {
        path: state.to_path_buf(),
        source: e,
    };
    let existing = load_pending(state);
    let had_rules = match &existing {
        Some(p) => p.had_rules,
        None => match persist::load(&loaded_dir(state))? {
            Some(loaded) => {
                persist::save(&baseline_dir(state), &loaded.record, &loaded.ruleset)?;
                true
            }
            None => {
                persist::forget(&baseline_dir(state))?;
                false
            }
        },
    };
    let p = Pending {
        deadline: now() + secs,
        token: token(),
        had_rules,
    };
    write_pending(state, &p).map_err(io)?;
    Ok((p, existing.is_none()))
}

/// Forgets the pending confirmation (confirm, remove, or a failed apply).
pub fn clear(state: &Path) -> Result<(), persist::Error> {
    persist::forget(&baseline_dir(state))?;
    match std::fs::remove_file(pending_file(state)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(persist::Error::Write {
            path: pending_file(state),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// What a due rollback puts back: the baseline ruleset, or None (remove).
pub fn baseline(state: &Path) -> Result<Option<persist::Saved>, persist::Error> {
    persist::load(&baseline_dir(state))
}

/// Arranges for `nfknock rollback` to run at the deadline, outside this
/// process and its session.
pub fn schedule(p: &Pending, state: &Path) -> std::io::Result<String> {
    let exe = std::env::current_exe()?;
    let wait = p.deadline.saturating_sub(now());
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
            .arg(format!("--setenv=STATE_DIRECTORY={}", state.display()))
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
        .env("STATE_DIRECTORY", state);
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
pub fn wait_until_due(state: &Path, token: &str, after: Option<u64>) -> Option<Pending> {
    if let Some(s) = after {
        std::thread::sleep(Duration::from_secs(s));
    }
    loop {
        let p = load_pending(state).filter(|p| p.token == token)?;
        let left = p.deadline.saturating_sub(now());
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
    use crate::config::Backend;

    fn record() -> persist::Record {
        persist::Record {
            backend: Backend::Nftables,
            config: "/etc/nfknock/nfknock.toml".into(),
            config_sha256: String::new(),
            applied_at: String::new(),
        }
    }

    #[test]
    fn a_second_confirm_keeps_the_first_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        persist::save(&loaded_dir(state), &record(), "A").unwrap();
        let (first, new) = begin(state, 60).unwrap();
        assert!(new && first.had_rules);
        // The apply loads B...
        persist::save(&loaded_dir(state), &record(), "B").unwrap();
        let (second, new) = begin(state, 90).unwrap();
        assert!(!new);
        assert_ne!(first.token, second.token);
        assert!(second.deadline >= first.deadline);
        assert_eq!(baseline(state).unwrap().unwrap().ruleset, "A");
        assert_eq!(
            wait_until_due(state, &first.token, None),
            None,
            "the old token is void"
        );
        clear(state).unwrap();
        assert_eq!(load_pending(state), None);
        assert_eq!(baseline(state).unwrap(), None);
    }

    #[test]
    fn no_rules_before_means_none_after() {
        let dir = tempfile::tempdir().unwrap();
        let (p, _) = begin(dir.path(), 0).unwrap();
        assert!(!p.had_rules);
        assert_eq!(wait_until_due(dir.path(), &p.token, None), Some(p));
    }
}
