//! The state directory and every file in it, and the one way nfknock
//! writes a file ([`write_atomic`]).
//!
//! The directory is `$STATE_DIRECTORY` (systemd's `StateDirectory=`), else
//! /var/lib/nfknock. Every file is root-only (the rulesets hold the knock
//! sequences):
//!
//! | path                           | what                                             |
//! |--------------------------------|--------------------------------------------------|
//! | `lock`                         | held by every command that changes rules or state ([`StateDir::lock`]) |
//! | `ruleset`, `applied.json`, `config.toml` | the rules saved for boot ([`StateDir::boot`]): the backend's own text, which backend, the config's path and SHA-256, when, and a copy of the config applied (what `restore` renders) |
//! | `loaded/ruleset`, `loaded/applied.json` | what nfknock loaded last ([`StateDir::loaded`]) |
//! | `baseline/...`                 | what a pending `apply --confirm` goes back to ([`StateDir::baseline`]) |
//! | `pending.json`                 | that confirmation's deadline, token and boot ([`Pending`]) |
//! | `removed`                      | the boot in which `remove` ran last (`restore` then loads nothing until the next boot) |
//! | `cursor`, `cursor-<fingerprint>` | the watcher's journal cursor, one per journal source (`watch`) |
//! | `spool/*.json`, `digest.jsonl` | the watcher's mails not sent yet, the events of the next digest (`watch::spool`) |
//! | `names.key`                    | the random key of the kernel objects' names ([`StateDir::names_key`]): made by the first `apply` (or `show` as root), kept |

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Backend;

pub const DEFAULT_STATE_DIR: &str = "/var/lib/nfknock";
pub const RULESET_FILE: &str = "ruleset";
pub const RECORD_FILE: &str = "applied.json";
/// The copy of the config a saved ruleset was rendered from.
pub const CONFIG_FILE: &str = "config.toml";
const LOCK_FILE: &str = "lock";
const REMOVED_FILE: &str = "removed";
/// How long a command waits for another one's lock by default.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);
/// Overrides [`LOCK_WAIT`] (whole seconds).
pub const LOCK_WAIT_ENV: &str = "NFKNOCK_LOCK_WAIT";
const LOADED_DIR: &str = "loaded";
const BASELINE_DIR: &str = "baseline";
const PENDING_FILE: &str = "pending.json";
const NAMES_KEY_FILE: &str = "names.key";
/// The mode of every file nfknock writes in the state directory.
const PRIVATE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error(
        "another nfknock command is changing the rules (it holds {path}); waited {}s, gave up; try again when it is done",
        waited.as_secs()
    )]
    Busy { path: PathBuf, waited: Duration },
}

/// Writes a file so that a crash leaves either the old or the new one, and
/// the new one is on disk when this returns: a temporary file created
/// exclusively (with a random name) beside the target, with `mode`,
/// written and fsynced, renamed over the target, then the directory
/// fsynced so the rename is too.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} is not a file", path.display())))?
        .to_string_lossy();
    // Created 0600 (tempfile's default), then given `mode`, so the bytes
    // are never readable by more than the target will be.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The record beside a saved ruleset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub backend: Backend,
    pub config: PathBuf,
    pub config_sha256: String,
    /// RFC 3339, UTC.
    pub applied_at: String,
    /// The boot the rules were loaded in ([`boot_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

/// A saved ruleset, its record and the config it was rendered from
/// (None in a state directory written before nfknock kept it).
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub record: Record,
    pub ruleset: String,
    pub config: Option<String>,
}

/// A pending `apply --confirm`.
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
    /// The boot it was made in ([`boot_id`]): a reboot ends it (restore
    /// loaded the rules saved for boot). None in records written before
    /// nfknock kept it: taken as this boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`).
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The state directory's lock, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(bytes))
}

/// nfknock's state directory.
#[derive(Debug, Clone, PartialEq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// `$STATE_DIRECTORY`, else /var/lib/nfknock.
    pub fn from_env() -> StateDir {
        let root = std::env::var_os("STATE_DIRECTORY")
            .and_then(|v| {
                // systemd passes a colon-separated list; nfknock has one.
                v.to_str()
                    .and_then(|s| s.split(':').next())
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        StateDir { root }
    }

    /// The key that the fingerprints in kernel object names are made
    /// with (`recent` lists, set comments), so that no name can be worked
    /// out from the knock sequence without it; None before the first
    /// apply. 32 bytes: the SHA-256 of the file.
    pub fn names_key(&self) -> Result<Option<[u8; 32]>, Error> {
        let path = self.root.join(NAMES_KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(Sha256::digest(bytes.trim_ascii()).into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Read {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// [`StateDir::names_key`], made (random, mode 0600) when there is
    /// none yet, and then kept: the names stay the same across applies, so
    /// the knock state in the kernel survives them.
    pub fn names_key_or_create(&self) -> Result<[u8; 32], Error> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(key) = self.names_key()? {
            return Ok(key);
        }
        let path = self.root.join(NAMES_KEY_FILE);
        let write_err = |source| Error::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.root).map_err(write_err)?;
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(format!("{}\n", crate::hex::encode(&b)).as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(write_err)?;
            }
            // Another apply made it first: use that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(write_err(e)),
        }
        self.names_key()?.ok_or_else(|| Error::Read {
            path: path.clone(),
            reason: "vanished".into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The rules saved for boot, which `restore` loads.
    pub fn boot(&self) -> Rules {
        Rules {
            dir: self.root.clone(),
        }
    }

    /// What nfknock loaded last (kept by every apply, restore and remove).
    pub fn loaded(&self) -> Rules {
        Rules {
            dir: self.root.join(LOADED_DIR),
        }
    }

    /// What a pending confirmation goes back to.
    pub fn baseline(&self) -> Rules {
        Rules {
            dir: self.root.join(BASELINE_DIR),
        }
    }

    /// Takes the exclusive lock of the state directory, which every
    /// command that changes rules or state holds while it does: waits
    /// for another holder up to [`LOCK_WAIT`] (or `NFKNOCK_LOCK_WAIT`
    /// seconds), then fails with [`Error::Busy`]. The kernel drops the
    /// lock when the process ends, however it ends.
    pub fn lock(&self) -> Result<Lock, Error> {
        let path = self.root.join(LOCK_FILE);
        let err = |source| Error::Write {
            path: path.clone(),
            source,
        };
        create_private_dir(&self.root).map_err(err)?;
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(PRIVATE)
                .open(&path)
                .map_err(err)?
        };
        let wait = std::env::var(LOCK_WAIT_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(LOCK_WAIT, Duration::from_secs);
        let start = Instant::now();
        let mut file = file;
        loop {
            use nix::fcntl::{Flock, FlockArg};
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(Lock { _lock: lock }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < wait => {
                    file = f;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                    return Err(Error::Busy { path, waited: wait });
                }
                Err((_, e)) => return Err(err(e.into())),
            }
        }
    }

    fn removed_file(&self) -> PathBuf {
        self.root.join(REMOVED_FILE)
    }

    /// Notes that `remove` ran in this boot.
    pub fn set_removed(&self) -> Result<(), Error> {
        let path = self.removed_file();
        let id = boot_id().unwrap_or_default();
        create_private_dir(&self.root).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, id.as_bytes(), PRIVATE).map_err(|source| Error::Write { path, source })
    }

    /// Whether `remove` ran in this boot (and nothing was loaded since).
    pub fn removed_this_boot(&self) -> bool {
        let id = std::fs::read_to_string(self.removed_file()).unwrap_or_default();
        !id.is_empty() && Some(id) == boot_id()
    }

    pub fn clear_removed(&self) -> Result<(), Error> {
        remove_if_there(&self.removed_file())
    }

    fn pending_file(&self) -> PathBuf {
        self.root.join(PENDING_FILE)
    }

    /// The pending confirmation, if any (an unreadable one is none).
    pub fn pending(&self) -> Option<Pending> {
        let text = std::fs::read_to_string(self.pending_file()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn set_pending(&self, p: &Pending) -> Result<(), Error> {
        let path = self.pending_file();
        let err = |source| Error::Write {
            path: path.clone(),
            source,
        };
        create_private_dir(&self.root).map_err(err)?;
        let json = serde_json::to_string_pretty(p).expect("serializes");
        write_atomic(&path, json.as_bytes(), PRIVATE).map_err(err)
    }

    /// Forgets the pending confirmation and its baseline.
    pub fn clear_pending(&self) -> Result<(), Error> {
        self.baseline().forget()?;
        remove_if_there(&self.pending_file())
    }
}

/// Creates a directory (and its parents) that only root reads.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Removes a file; one that is not there is fine.
fn remove_if_there(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Write {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// A saved ruleset in one directory: `ruleset` (the backend's own text)
/// and `applied.json` (its [`Record`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    dir: PathBuf,
}

impl Rules {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Saves what was loaded and the config it was rendered from. The
    /// record goes last: a crash in between leaves the old record, or a
    /// ruleset and config that match the new one.
    pub fn save(&self, record: &Record, ruleset: &str, config: Option<&str>) -> Result<(), Error> {
        let write = |path: PathBuf, bytes: &[u8]| {
            write_atomic(&path, bytes, PRIVATE).map_err(|source| Error::Write { path, source })
        };
        create_private_dir(&self.dir).map_err(|source| Error::Write {
            path: self.dir.clone(),
            source,
        })?;
        write(self.dir.join(RULESET_FILE), ruleset.as_bytes())?;
        match config {
            Some(text) => write(self.dir.join(CONFIG_FILE), text.as_bytes())?,
            None => remove_if_there(&self.dir.join(CONFIG_FILE))?,
        }
        let mut json = serde_json::to_string_pretty(record).expect("a record serializes");
        json.push('\n');
        write(self.dir.join(RECORD_FILE), json.as_bytes())
    }

    /// Saves a copy of another saved ruleset.
    pub fn save_copy(&self, saved: &Saved) -> Result<(), Error> {
        self.save(&saved.record, &saved.ruleset, saved.config.as_deref())
    }

    /// The saved ruleset, or None when nothing was saved.
    pub fn load(&self) -> Result<Option<Saved>, Error> {
        let record_path = self.dir.join(RECORD_FILE);
        let record_text = match std::fs::read_to_string(&record_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Read {
                    path: record_path,
                    reason: e.to_string(),
                });
            }
        };
        let record: Record = serde_json::from_str(&record_text).map_err(|e| Error::Read {
            path: record_path,
            reason: format!("corrupt: {e}"),
        })?;
        let ruleset_path = self.dir.join(RULESET_FILE);
        let ruleset = std::fs::read_to_string(&ruleset_path).map_err(|e| Error::Read {
            path: ruleset_path,
            reason: e.to_string(),
        })?;
        let config_path = self.dir.join(CONFIG_FILE);
        let config = match std::fs::read_to_string(&config_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::Read {
                    path: config_path,
                    reason: e.to_string(),
                });
            }
        };
        Ok(Some(Saved {
            record,
            ruleset,
            config,
        }))
    }

    /// Deletes what was saved; false when there was nothing.
    pub fn forget(&self) -> Result<bool, Error> {
        let mut any = false;
        // The record first: without it, a leftover ruleset is never loaded.
        for name in [RECORD_FILE, RULESET_FILE, CONFIG_FILE] {
            let path = self.dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => any = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Write { path, source }),
            }
        }
        Ok(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn record() -> Record {
        Record {
            backend: Backend::Nftables,
            config: "/etc/nfknock/nfknock.toml".into(),
            config_sha256: sha256_hex(b"abc"),
            applied_at: "2026-11-24T01:00:00Z".into(),
            boot_id: None,
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn save_load_forget() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        let boot = state.boot();
        assert_eq!(boot.load().unwrap(), None);
        boot.save(
            &record(),
            "table inet nfknock {}\n",
            Some("mode = \"guard\"\n"),
        )
        .unwrap();
        let saved = boot.load().unwrap().unwrap();
        assert_eq!(saved.record, record());
        assert_eq!(saved.ruleset, "table inet nfknock {}\n");
        assert_eq!(saved.config.as_deref(), Some("mode = \"guard\"\n"));
        for f in [RULESET_FILE, RECORD_FILE, CONFIG_FILE] {
            assert_eq!(mode(&state.path().join(f)), 0o600, "{f}");
        }
        state.loaded().save_copy(&saved).unwrap();
        assert_eq!(state.loaded().load().unwrap(), Some(saved));
        assert!(state.path().join("loaded").join(RULESET_FILE).exists());
        assert!(boot.forget().unwrap());
        assert!(!boot.forget().unwrap());
        assert_eq!(boot.load().unwrap(), None);
    }

    #[test]
    fn corrupt_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RECORD_FILE), "{ not json").unwrap();
        let e = StateDir::new(dir.path()).boot().load().unwrap_err();
        assert!(e.to_string().contains("corrupt"), "{e}");
    }

    #[test]
    fn pending_round_trips_and_clears_with_its_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(state.pending(), None);
        let p = Pending {
            deadline: 7,
            token: "ab".into(),
            had_rules: true,
            boot_id: boot_id(),
        };
        state.set_pending(&p).unwrap();
        state.baseline().save(&record(), "A", None).unwrap();
        assert_eq!(state.pending(), Some(p));
        state.clear_pending().unwrap();
        assert_eq!(state.pending(), None);
        assert_eq!(state.baseline().load().unwrap(), None);
    }

    #[test]
    fn write_atomic_replaces_keeps_the_mode_asked_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomic(&path, b"one", 0o644).unwrap();
        assert_eq!(mode(&path), 0o644);
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(mode(&path), 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
        assert!(write_atomic(&dir.path().join("no/such/dir/f"), b"x", 0o600).is_err());
    }

    #[test]
    fn one_lock_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        let held = state.lock().unwrap();
        assert_eq!(mode(&state.path().join(LOCK_FILE)), 0o600);
        let other = StateDir::new(state.path());
        let start = Instant::now();
        let waiter = std::thread::spawn(move || other.lock().map(|_| start.elapsed()));
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
        let waited = waiter.join().unwrap().unwrap();
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
    }

    #[test]
    fn sha256_is_standard() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
