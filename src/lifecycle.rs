//! The life of nfknock's rules: apply, confirm, rollback, rotate,
//! restore, remove. Each loads or removes rules through a firewall backend
//! and keeps the state directory ([`StateDir`]) in step with the kernel,
//! holding the state directory's lock ([`StateDir::lock`]) while it does,
//! so two commands never interleave. Every ruleset nfknock loads is
//! rendered from a config: the one given to `apply`, or the copy saved
//! beside the rules (`restore`, `rotate`, a rollback), never a saved text.
//!
//! `apply --confirm SECS` means an admin changing rules over SSH never
//! locks themselves out: the rules nfknock had before (the baseline) come
//! back after SECS unless `nfknock confirm` runs first. The rollback runs
//! in a process of its own (a transient systemd timer where systemd runs,
//! else a detached `setsid` process), so a dead SSH session does not stop
//! it. A confirmation is in one of the states of [`Confirmation`]; the
//! transitions are those of nfknock(8), CONFIRMATION STATES:
//!
//! - none → pending: `apply --confirm` (the baseline is what was loaded,
//!   or nothing; the rollback is scheduled before any rule changes);
//! - pending → pending: another `apply --confirm` (new deadline and token,
//!   same baseline; the old token's rollback does nothing); if it fails,
//!   the old deadline and token stay, and so does their rollback;
//! - pending → none: `confirm` (the rules are saved for boot), a plain
//!   `apply` (its rules stay), `remove`;
//! - pending → due: the deadline passes;
//! - due → none: the rollback puts the baseline back (or, with no
//!   baseline, removes nfknock's rules); any command that takes the lock
//!   first does it, `confirm` included (which then fails: too late);
//! - pending or due → stale: a reboot (restore loaded the rules saved for
//!   boot, which the unconfirmed apply never touched);
//! - stale → none: the next command that takes the lock drops it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::anyhow;

use crate::clock;
use crate::config::{Backend, Resolved};
use crate::exit::Error;
use crate::firewall;
use crate::firewall::plan::{HostDrops, Plan};
use crate::state::{self, Pending, Record, Saved, StateDir, boot_id};

/// Where a step says what it did: the command line prints `info` unless
/// quiet, `detail` when verbose, `warn` always.
pub trait Say {
    fn info(&self, msg: &str);
    fn detail(&self, msg: &str);
    fn warn(&self, msg: &str);
}

fn state_err(e: state::Error) -> Error {
    Error::failure(anyhow!("the state directory: {e}"))
}

/// Takes the state directory's lock for a command that changes rules or
/// state.
pub fn lock(state: &StateDir) -> Result<state::Lock, Error> {
    state.lock().map_err(|e| Error::failure(anyhow!(e)))
}

/// Where a confirmation (`apply --confirm`) stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirmation {
    /// Nothing to confirm.
    None,
    /// Waiting for `nfknock confirm` until the deadline; a rollback is
    /// scheduled for it.
    Pending(Pending),
    /// The deadline passed: the baseline goes back as soon as the
    /// rollback, or any command that changes rules, takes the lock.
    Due(Pending),
    /// Made before the last reboot, which ended it.
    Stale(Pending),
}

/// The confirmation as the state directory has it now.
pub fn confirmation(state: &StateDir) -> Confirmation {
    match state.pending() {
        None => Confirmation::None,
        Some(p) if p.boot_id.is_some() && p.boot_id != boot_id() => Confirmation::Stale(p),
        Some(p) if p.deadline <= clock::now() => Confirmation::Due(p),
        Some(p) => Confirmation::Pending(p),
    }
}

impl Confirmation {
    /// Seconds left to confirm a pending `apply --confirm`.
    pub fn within(&self) -> Option<u64> {
        match self {
            Confirmation::Pending(p) => Some(p.deadline.saturating_sub(clock::now())),
            _ => None,
        }
    }
}

/// Logs what a rollback did, for the journal: it often runs with nobody
/// watching.
fn log(priority: u8, message: &str) {
    let entries = [
        format!("MESSAGE={message}"),
        format!("PRIORITY={priority}"),
        "SYSLOG_IDENTIFIER=nfknock".to_string(),
    ];
    let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
    if systemd::journal::send(&refs).is_err() {
        eprintln!("nfknock: {message}");
    }
}

/// Brings the confirmation to a settled state under the lock: drops a
/// stale one, rolls a due one back. Returns the pending one, if any.
fn settle(say: &dyn Say, state: &StateDir) -> Result<Option<Pending>, Error> {
    match confirmation(state) {
        Confirmation::None => Ok(None),
        Confirmation::Pending(p) => Ok(Some(p)),
        Confirmation::Stale(_) => {
            state.clear_pending().map_err(state_err)?;
            let msg = "dropped an `apply --confirm` made before the last reboot: the reboot ended it, and the rules saved for boot were loaded";
            log(5, msg);
            say.detail(msg);
            Ok(None)
        }
        Confirmation::Due(p) => {
            roll_back(say, state, &p)?;
            Ok(None)
        }
    }
}

/// Puts the baseline of a due confirmation back (the caller holds the
/// lock). Never removes rules it has no baseline for: with none saved
/// although there were rules, the unconfirmed rules stay, and it fails.
fn roll_back(say: &dyn Say, state: &StateDir, p: &Pending) -> Result<(), Error> {
    let result = if p.had_rules {
        match state.baseline().load() {
            Ok(Some(saved)) => load_saved(&saved, state).and_then(|now| {
                state.loaded().save_copy(&now).map_err(state_err)?;
                state.clear_removed().map_err(state_err)?;
                Ok(format!(
                    "`apply --confirm` was not confirmed in time: the rules applied at {} are back",
                    now.record.applied_at
                ))
            }),
            Ok(None) => Err(Error::failure(anyhow!(
                "`apply --confirm` was not confirmed in time, but the rules to go back to are missing from {}; the unconfirmed rules stay loaded: check them, then `nfknock apply` or `nfknock restore`",
                state.baseline().dir().display()
            ))),
            Err(e) => Err(Error::failure(anyhow!(
                "`apply --confirm` was not confirmed in time, but the rules to go back to cannot be read ({e}); the unconfirmed rules stay loaded: check them, then `nfknock apply` or `nfknock restore`"
            ))),
        }
    } else {
        remove_all().and_then(|_| {
            state.loaded().forget().map_err(state_err)?;
            state.set_removed().map_err(state_err)?;
            Ok("`apply --confirm` was not confirmed in time: nfknock had no rules before, so its rules are removed".to_string())
        })
    };
    // Settled either way: a rollback that cannot act must not come back
    // with every command.
    let cleared = state.clear_pending().map_err(state_err);
    match result {
        Ok(msg) => {
            log(4, &msg);
            say.info(&format!("nfknock: {msg}"));
            cleared
        }
        Err(e) => {
            log(3, &e.to_string());
            Err(e)
        }
    }
}

/// The config a saved ruleset was rendered from: its saved copy, or (in
/// a state directory from before nfknock kept one) the file itself when
/// it did not change since.
fn saved_config(saved: &Saved) -> Result<String, Error> {
    if let Some(text) = &saved.config {
        return Ok(text.clone());
    }
    match std::fs::read(&saved.record.config) {
        Ok(bytes) if state::sha256_hex(&bytes) == saved.record.config_sha256 => {
            String::from_utf8(bytes).map_err(Error::failure)
        }
        _ => Err(Error::failure(anyhow!(
            "the rules applied at {} were saved without a copy of their config, and {} changed since; run `nfknock apply`",
            saved.record.applied_at,
            saved.record.config.display()
        ))),
    }
}

/// The config saved with rules (its text, as [`saved_config`] finds it),
/// resolved for now to render them again.
fn resolve_saved(saved: &Saved) -> Result<(String, Resolved), Error> {
    let text = saved_config(saved)?;
    let what = |e: &dyn std::fmt::Display| {
        Error::failure(anyhow!(
            "the config saved with the rules applied at {}: {e}",
            saved.record.applied_at
        ))
    };
    let cfg = crate::load::parse(&text, &saved.record.config).map_err(|e| what(&e))?;
    let cfg = crate::rotate::resolve(cfg, clock::now()).map_err(|e| what(&e))?;
    if cfg.backend != saved.record.backend {
        return Err(what(&format!(
            "it names the {} backend, the record {}",
            cfg.backend, saved.record.backend
        )));
    }
    Ok((text, cfg))
}

/// Loads saved rules by rendering their config again: only what nfknock
/// renders is ever loaded. Returns them as loaded now.
fn load_saved(saved: &Saved, state: &StateDir) -> Result<Saved, Error> {
    let (text, cfg) = resolve_saved(saved)?;
    let plan = plan_of(&cfg, &firewall::host::drops_for(&cfg)?, state)?;
    let ruleset = load_rules(cfg.backend, &plan)?;
    Ok(Saved {
        record: Record {
            boot_id: boot_id(),
            ..saved.record.clone()
        },
        ruleset,
        config: Some(text),
    })
}

/// The plan of `cfg`: `closed = "auto"` answers as the host's own rules
/// do (`host`, read by the caller); the names' fingerprints are keyed
/// with the state directory's key.
fn plan_of(cfg: &Resolved, host: &HostDrops, state: &StateDir) -> Result<Plan, Error> {
    let key = state.names_key_or_create().map_err(state_err)?;
    Ok(Plan::beside(cfg, host, key))
}

/// Loads `plan`'s rules with `backend` and removes another backend's.
fn load_rules(backend: Backend, plan: &Plan) -> Result<String, Error> {
    let ruleset = firewall::backend(backend)?.apply(plan)?;
    // Moving to another backend: the old one's rules must not stay behind.
    for other in other_backends(backend) {
        remove_with(other)?;
    }
    Ok(ruleset)
}

/// Loads the rules of `cfg` (valid and resolved by its type, parsed from
/// `config_text`, read from `config_path`; the caller checked the
/// capabilities and read what the host's own rules drop, `host`), records
/// what was loaded and, unless `no_persist` or a confirmation is asked
/// for, saves it for boot. With `confirm`, the rollback is scheduled and
/// the baseline taken before anything changes.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    say: &dyn Say,
    cfg: &Resolved,
    host: &HostDrops,
    config_path: &Path,
    config_text: &str,
    state: &StateDir,
    no_persist: bool,
    confirm: Option<u64>,
) -> Result<(), Error> {
    let _lock = lock(state)?;
    let live = settle(say, state)?;
    let record = Record {
        backend: cfg.backend,
        config: std::fs::canonicalize(config_path).unwrap_or_else(|_| config_path.to_path_buf()),
        config_sha256: state::sha256_hex(config_text.as_bytes()),
        applied_at: clock::rfc3339(),
        boot_id: boot_id(),
    };
    let Some(secs) = confirm else {
        let ruleset = load_rules(cfg.backend, &plan_of(cfg, host, state)?)?;
        let saved = Saved {
            record,
            ruleset,
            config: Some(config_text.to_string()),
        };
        state.loaded().save_copy(&saved).map_err(state_err)?;
        state.clear_removed().map_err(state_err)?;
        if live.is_some() {
            state.clear_pending().map_err(state_err)?;
            say.info(
                "nfknock: this apply ends the pending `apply --confirm`: its rules are replaced, and nothing will be rolled back",
            );
        }
        hidden(say, cfg);
        if !no_persist {
            state.boot().save_copy(&saved).map_err(|e| {
                Error::failure(anyhow!("the rules are loaded, but not saved for boot: {e}"))
            })?;
            say.detail(&format!("saved to {}", state.path().display()));
        }
        return Ok(());
    };
    let had_rules = match &live {
        Some(p) => p.had_rules,
        None => !state.removed_this_boot() && state.loaded().load().map_err(state_err)?.is_some(),
    };
    let p = Pending {
        deadline: clock::now() + secs,
        token: token(),
        had_rules,
        boot_id: boot_id(),
    };
    // A pending record never exists without a rollback that acts on it.
    let how = schedule(&p, state).map_err(|e| {
        Error::failure(anyhow!(
            "no rollback could be scheduled ({e}); nothing was changed"
        ))
    })?;
    if live.is_none() {
        // The baseline is what was loaded before the first pending apply.
        match state.loaded().load().map_err(state_err)? {
            Some(loaded) if had_rules => state.baseline().save_copy(&loaded),
            _ => state.baseline().forget().map(|_| ()),
        }
        .map_err(state_err)?;
    }
    state.set_pending(&p).map_err(state_err)?;
    let ruleset = match plan_of(cfg, host, state).and_then(|p| load_rules(cfg.backend, &p)) {
        Ok(r) => r,
        Err(e) => {
            // Back to what was pending before, with its own rollback: a
            // second one, in case the first looked in the meantime, saw
            // the new token and left (two do no harm: one acts, under the
            // lock, and the other finds nothing pending).
            match &live {
                Some(old) => {
                    state.set_pending(old).map_err(state_err)?;
                    let _ = schedule(old, state);
                }
                None => state.clear_pending().map_err(state_err)?,
            }
            return Err(e);
        }
    };
    state
        .loaded()
        .save(&record, &ruleset, Some(config_text))
        .map_err(state_err)?;
    state.clear_removed().map_err(state_err)?;
    hidden(say, cfg);
    say.info(&format!(
        "nfknock: run `nfknock confirm` within {}s to keep these rules; otherwise {how} puts the previous ones back",
        p.deadline.saturating_sub(clock::now())
    ));
    // Persistence happens only on confirm.
    Ok(())
}

fn hidden(say: &dyn Say, cfg: &Resolved) {
    say.info(&format!(
        "nfknock: {} door(s) hidden ({} mode, {})",
        cfg.doors.len(),
        cfg.mode,
        cfg.backend
    ));
}

/// Keeps the rules of a pending `apply --confirm` and saves them for boot.
pub fn confirm(say: &dyn Say, state: &StateDir) -> Result<(), Error> {
    let _lock = lock(state)?;
    match confirmation(state) {
        Confirmation::None => Err(Error::failure(anyhow!(
            "nothing to confirm: no `apply --confirm` is pending"
        ))),
        Confirmation::Stale(_) => {
            state.clear_pending().map_err(state_err)?;
            Err(Error::failure(anyhow!(
                "nothing to confirm: the pending `apply --confirm` was made before the last reboot, which ended it (the rules saved for boot were loaded)"
            )))
        }
        Confirmation::Due(p) => {
            roll_back(say, state, &p)?;
            Err(Error::failure(anyhow!(
                "too late to confirm: the deadline passed, and the previous rules are back"
            )))
        }
        Confirmation::Pending(_) => {
            if let Some(loaded) = state.loaded().load().map_err(state_err)? {
                state.boot().save_copy(&loaded).map_err(state_err)?;
            }
            state.clear_pending().map_err(state_err)?;
            say.info("nfknock: confirmed; the rules stay and are saved for boot");
            Ok(())
        }
    }
}

/// Waits for the deadline of the confirmation named `token`; if it is
/// still pending then, puts the baseline back.
pub fn rollback(
    say: &dyn Say,
    state: &StateDir,
    token: &str,
    after: Option<u64>,
) -> Result<(), Error> {
    if !wait_until_due(state, token, after) {
        return Ok(()); // confirmed, or renewed by a later apply --confirm
    }
    let _lock = lock(state)?;
    match confirmation(state) {
        Confirmation::Due(p) if p.token == token => roll_back(say, state, &p),
        // Settled while this waited for the lock.
        _ => Ok(()),
    }
}

/// Loads nfknock's rules again, rendered from the config saved with them:
/// in the boot they were loaded in, what nfknock loaded last (so starting
/// a firewall service that flushed them brings back what was live, and a
/// pending confirmation goes on); else what the last apply saved for
/// boot. Nothing after `remove` in this boot.
pub fn restore(say: &dyn Say, state: &StateDir) -> Result<(), Error> {
    let _lock = lock(state)?;
    settle(say, state)?;
    if state.removed_this_boot() {
        say.info("nfknock: `nfknock remove` ran since boot; nothing to restore");
        return Ok(());
    }
    let loaded = state
        .loaded()
        .load()
        .map_err(state_err)?
        .filter(|l| l.record.boot_id.is_some() && l.record.boot_id == boot_id());
    let source = match loaded {
        Some(l) => Some(l),
        None => state.boot().load().map_err(state_err)?,
    };
    let Some(saved) = source else {
        say.info(&format!(
            "nfknock: nothing saved in {}; nothing to restore",
            state.path().display()
        ));
        return Ok(());
    };
    let now = load_saved(&saved, state)?;
    state.loaded().save_copy(&now).map_err(state_err)?;
    say.info(&format!(
        "nfknock: restored the rules applied at {} from {}",
        saved.record.applied_at,
        saved.record.config.display()
    ));
    if changed_since_applied(&saved.record) {
        say.warn(&format!(
            "{} changed since it was applied; the changes are not loaded: `nfknock apply` loads them",
            saved.record.config.display()
        ));
    }
    Ok(())
}

/// Whether the config file is no longer what was applied.
fn changed_since_applied(record: &Record) -> bool {
    !std::fs::read(&record.config).is_ok_and(|b| state::sha256_hex(&b) == record.config_sha256)
}

/// Loads the current period's sequences of the rotating doors of what
/// was applied, rendered from the config saved with it. Nothing when
/// nothing is loaded or a confirmation is pending; never the config file
/// when it changed since it was applied (it says so).
pub fn rotate(say: &dyn Say, state: &StateDir) -> Result<(), Error> {
    let _lock = lock(state)?;
    if settle(say, state)?.is_some() {
        say.detail(
            "nfknock: an `apply --confirm` is pending; nothing rotates until it is confirmed or rolled back",
        );
        return Ok(());
    }
    let loaded = match state.loaded().load().map_err(state_err)? {
        Some(l) if !state.removed_this_boot() => l,
        _ => {
            say.detail("nfknock: no rules are loaded; nothing to rotate");
            return Ok(());
        }
    };
    let in_kernel = match firewall::backend(loaded.record.backend)?.loaded() {
        Err(firewall::Error::Missing { .. }) => false,
        other => other?,
    };
    if !in_kernel {
        say.detail("nfknock: nfknock's rules are not in the kernel; nothing to rotate");
        return Ok(());
    }
    let (text, cfg) = resolve_saved(&loaded)?;
    if !cfg.rotates() {
        say.detail("nfknock: no door has a rotating sequence; nothing to do");
        return Ok(());
    }
    if changed_since_applied(&loaded.record) {
        say.warn(&format!(
            "{} changed since it was applied at {}; rotating the config that was applied; `nfknock apply` loads the changes",
            loaded.record.config.display(),
            loaded.record.applied_at
        ));
    }
    let plan = plan_of(&cfg, &firewall::host::drops_for(&cfg)?, state)?;
    let rendered = firewall::backend(cfg.backend)?.render(&plan);
    // The timer runs often; most runs find the period unchanged.
    if rendered == loaded.ruleset {
        say.detail("nfknock: the loaded sequences are current");
        return Ok(());
    }
    // A rotation is an apply of the same config: the unchanged slot's
    // sets, the open doors and the other doors keep their state.
    let ruleset = load_rules(cfg.backend, &plan)?;
    let now = Saved {
        record: Record {
            applied_at: clock::rfc3339(),
            boot_id: boot_id(),
            ..loaded.record.clone()
        },
        ruleset,
        config: Some(text),
    };
    state.loaded().save_copy(&now).map_err(state_err)?;
    // Saved for boot only when what was loaded was.
    let boot = state.boot().load().map_err(state_err)?;
    if boot.is_some_and(|b| b.record.config_sha256 == loaded.record.config_sha256) {
        state.boot().save_copy(&now).map_err(state_err)?;
    }
    say.detail("nfknock: loaded the current period's sequences");
    Ok(())
}

/// Removes what any backend loaded. It does not need a valid config (that
/// may be what is broken).
pub fn remove(say: &dyn Say, state: &StateDir, no_persist: bool) -> Result<(), Error> {
    let _lock = lock(state)?;
    if let Confirmation::Pending(_) = confirmation(state) {
        say.info("nfknock: this ends the pending `apply --confirm`: nothing will be rolled back");
    }
    // Nothing is left for a confirmation to go back from.
    state.clear_pending().map_err(state_err)?;
    let removed = remove_all()?;
    say.info(if removed {
        "nfknock: rules removed; the doors are no longer hidden"
    } else {
        "nfknock: no rules were loaded"
    });
    state.loaded().forget().map_err(state_err)?;
    state.set_removed().map_err(state_err)?;
    if !no_persist {
        state.boot().forget().map_err(state_err)?;
    }
    Ok(())
}

fn remove_all() -> Result<bool, Error> {
    let mut removed = false;
    for kind in Backend::ALL {
        removed |= remove_with(kind)?;
    }
    Ok(removed)
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

fn token() -> String {
    let mut b = [0u8; 8];
    // A clash would only make two confirmations share a rollback.
    let _ = getrandom::fill(&mut b);
    crate::hex::encode(&b)
}

/// Arranges for `nfknock rollback` to run at the deadline, outside this
/// process and its session.
fn schedule(p: &Pending, state: &StateDir) -> std::io::Result<String> {
    let exe = std::env::current_exe()?;
    let wait = p.deadline.saturating_sub(clock::now()).max(1);
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

/// Sleeps `after` seconds, then until the deadline of the confirmation
/// named `token`; false when it is no longer the pending one (confirmed,
/// ended, or renewed: the renewal's own rollback acts then). The token is
/// first read after `after`: the record naming it is written once this
/// process is scheduled.
fn wait_until_due(state: &StateDir, token: &str, after: Option<u64>) -> bool {
    if let Some(s) = after {
        std::thread::sleep(Duration::from_secs(s));
    }
    loop {
        let Some(p) = state.pending().filter(|p| p.token == token) else {
            return false;
        };
        let left = p.deadline.saturating_sub(clock::now());
        if left == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_secs(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(deadline: u64, boot: Option<String>) -> Pending {
        Pending {
            deadline,
            token: "t".into(),
            had_rules: true,
            boot_id: boot,
        }
    }

    #[test]
    fn confirmation_states() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(confirmation(&state), Confirmation::None);
        let later = pending(clock::now() + 60, boot_id());
        state.set_pending(&later).unwrap();
        assert_eq!(confirmation(&state), Confirmation::Pending(later));
        assert!(confirmation(&state).within().is_some_and(|s| s > 50));
        let due = pending(clock::now().saturating_sub(1), boot_id());
        state.set_pending(&due).unwrap();
        assert_eq!(confirmation(&state), Confirmation::Due(due));
        assert_eq!(confirmation(&state).within(), None, "never \"within 0s\"");
        let stale = pending(clock::now() + 60, Some("another boot".into()));
        state.set_pending(&stale).unwrap();
        assert_eq!(confirmation(&state), Confirmation::Stale(stale));
        assert_eq!(confirmation(&state).within(), None);
        // Written before nfknock kept the boot: taken as this one.
        let old = pending(clock::now() + 60, None);
        state.set_pending(&old).unwrap();
        assert_eq!(confirmation(&state), Confirmation::Pending(old));
    }

    #[test]
    fn a_rollback_for_another_token_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let p = pending(0, boot_id());
        state.set_pending(&p).unwrap();
        assert!(wait_until_due(&state, "t", None));
        assert!(!wait_until_due(&state, "other", None));
        state.clear_pending().unwrap();
        assert!(!wait_until_due(&state, "t", None));
    }
}
