//! What `apply` loaded, saved so that `restore` can load exactly that again
//! at boot, without re-reading a config that may have been edited since.
//!
//! Two files in the state directory, each written atomically (write, fsync,
//! rename) and root-only (the ruleset holds the knock sequences):
//! `ruleset` (the backend's own text) and `applied.json` (which backend,
//! the config's path and SHA-256, when).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Backend;

pub const DEFAULT_STATE_DIR: &str = "/var/lib/nfknock";
pub const RULESET_FILE: &str = "ruleset";
pub const RECORD_FILE: &str = "applied.json";

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

/// The record beside the saved ruleset.
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

/// `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`), else
/// /var/lib/nfknock.
pub fn state_dir() -> PathBuf {
    std::env::var_os("STATE_DIRECTORY")
        .and_then(|v| {
            // systemd passes a colon-separated list; nfknock has one.
            v.to_str()
                .and_then(|s| s.split(':').next())
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Saves what was loaded. The ruleset goes first: a crash in between
/// leaves a record that still names the right backend.
pub fn save(dir: &Path, record: &Record, ruleset: &str) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    write_atomic(&dir.join(RULESET_FILE), ruleset.as_bytes())?;
    let mut json = serde_json::to_string_pretty(record).expect("a record serializes");
    json.push('\n');
    write_atomic(&dir.join(RECORD_FILE), json.as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().expect("a file name").to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The saved ruleset, or None when nothing was saved.
pub fn load(dir: &Path) -> Result<Option<Saved>, Error> {
    let record_path = dir.join(RECORD_FILE);
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
    let ruleset_path = dir.join(RULESET_FILE);
    let ruleset = std::fs::read_to_string(&ruleset_path).map_err(|e| Error::Read {
        path: ruleset_path,
        reason: e.to_string(),
    })?;
    Ok(Some(Saved { record, ruleset }))
}

/// Deletes what was saved; false when there was nothing.
pub fn forget(dir: &Path) -> Result<bool, Error> {
    let mut any = false;
    // The record first: without it, a leftover ruleset is never loaded.
    for name in [RECORD_FILE, RULESET_FILE] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => any = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Write { path, source }),
        }
    }
    Ok(any)
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

    #[test]
    fn save_load_forget() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("state");
        assert_eq!(load(&sub).unwrap(), None);
        save(&sub, &record(), "table inet nfknock {}\n").unwrap();
        let saved = load(&sub).unwrap().unwrap();
        assert_eq!(saved.record, record());
        assert_eq!(saved.ruleset, "table inet nfknock {}\n");
        for f in [RULESET_FILE, RECORD_FILE] {
            let mode = std::fs::metadata(sub.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        assert!(forget(&sub).unwrap());
        assert!(!forget(&sub).unwrap());
        assert_eq!(load(&sub).unwrap(), None);
    }

    #[test]
    fn corrupt_record_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RECORD_FILE), "{ not json").unwrap();
        assert!(
            load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("corrupt")
        );
    }

    #[test]
    fn sha256_is_standard() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
