//! What `apply` loaded, saved so it can be loaded again at boot.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

pub const DEFAULT_STATE_DIR: &str = "/var/lib/nfknock";
pub const RULESET_FILE: &str = "ruleset.nft";

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

/// Writes the ruleset atomically (write, fsync, rename), root-only: it holds
/// the knock sequences.
pub fn save(dir: &Path, ruleset: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(RULESET_FILE);
    let tmp = dir.join(format!(".{RULESET_FILE}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(ruleset.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Deletes the saved ruleset; false when there was none.
pub fn forget(dir: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(dir.join(RULESET_FILE)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn save_is_private_and_forget_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("state");
        let path = save(&sub, "table inet nfknock {}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "table inet nfknock {}\n"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(forget(&sub).unwrap());
        assert!(!forget(&sub).unwrap());
    }
}
