//! The state directory and every file in it, and the one way nfknock
//! writes a file ([`write_atomic`]).
//!
//! The directory is `$STATE_DIRECTORY` (systemd's `StateDirectory=`), else
//! /var/lib/nfknock. Every file is root-only (the rulesets hold the knock
//! sequences):
//!
//! | path                           | what                                             |
//! |--------------------------------|--------------------------------------------------|
//! | `ruleset`, `applied.json`      | the rules saved for boot ([`StateDir::boot`]): the backend's own text, and which backend, the config's path and SHA-256, when |
//! | `loaded/ruleset`, `loaded/applied.json` | what nfknock loaded last ([`StateDir::loaded`]) |
//! | `baseline/...`                 | what a pending `apply --confirm` goes back to ([`StateDir::baseline`]) |
//! | `pending.json`                 | that confirmation's deadline and token ([`Pending`]) |
//! | `cursor`, `cursor-<fingerprint>` | the watcher's journal cursor, one per journal source (`watch`) |
//! | `spool/*.json`, `digest.jsonl` | the watcher's mails not sent yet, the events of the next digest (`watch::spool`) |
//! | `names.key`                    | the random key of the kernel objects' names ([`StateDir::names_key`]): made by the first `apply` (or `show` as root), kept |

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Backend;

pub const DEFAULT_STATE_DIR: &str = "/var/lib/nfknock";
pub const RULESET_FILE: &str = "ruleset";
pub const RECORD_FILE: &str = "applied.json";
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
}

/// A saved ruleset and its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub record: Record,
    pub ruleset: String,
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
        std::fs::create_dir_all(&self.root).map_err(err)?;
        let json = serde_json::to_string_pretty(p).expect("serializes");
        write_atomic(&path, json.as_bytes(), PRIVATE).map_err(err)
    }

    /// Forgets the pending confirmation and its baseline.
    pub fn clear_pending(&self) -> Result<(), Error> {
        self.baseline().forget()?;
        let path = self.pending_file();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::Write { path, source: e })
            }
            _ => Ok(()),
        }
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

    /// Saves what was loaded. The ruleset goes first: a crash in between
    /// leaves a record that still names the right backend.
    pub fn save(&self, record: &Record, ruleset: &str) -> Result<(), Error> {
        let write = |path: PathBuf, bytes: &[u8]| {
            write_atomic(&path, bytes, PRIVATE).map_err(|source| Error::Write { path, source })
        };
        std::fs::create_dir_all(&self.dir).map_err(|source| Error::Write {
            path: self.dir.clone(),
            source,
        })?;
        write(self.dir.join(RULESET_FILE), ruleset.as_bytes())?;
        let mut json = serde_json::to_string_pretty(record).expect("a record serializes");
        json.push('\n');
        write(self.dir.join(RECORD_FILE), json.as_bytes())
    }

    /// Saves a copy of another saved ruleset.
    pub fn save_copy(&self, saved: &Saved) -> Result<(), Error> {
        self.save(&saved.record, &saved.ruleset)
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
        Ok(Some(Saved { record, ruleset }))
    }

    /// Deletes what was saved; false when there was nothing.
    pub fn forget(&self) -> Result<bool, Error> {
        let mut any = false;
        // The record first: without it, a leftover ruleset is never loaded.
        for name in [RECORD_FILE, RULESET_FILE] {
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
        boot.save(&record(), "table inet nfknock {}\n").unwrap();
        let saved = boot.load().unwrap().unwrap();
        assert_eq!(saved.record, record());
        assert_eq!(saved.ruleset, "table inet nfknock {}\n");
        for f in [RULESET_FILE, RECORD_FILE] {
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
        };
        state.set_pending(&p).unwrap();
        state.baseline().save(&record(), "A").unwrap();
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
    fn sha256_is_standard() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
