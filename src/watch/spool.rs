//! The spool: mails the SMTP server did not take yet, one file each, and
//! the events waiting for the next digest. Written atomically and kept in
//! the state directory, so neither a dead server nor a restart loses one.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::event::Event;
use super::mail::Outgoing;

const FIRST_RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(300);
const DIGEST_FILE: &str = "digest.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spooled {
    pub mail: Outgoing,
    pub attempts: u32,
    /// Seconds since the epoch.
    pub next_attempt: u64,
}

pub struct Spool {
    dir: PathBuf,
    digest: PathBuf,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Doubling from 2 s to 5 min.
pub fn backoff(attempts: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1u32.checked_shl(attempts.min(16)).unwrap_or(u32::MAX))
        .min(MAX_RETRY)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Spool {
    pub fn open(state: &Path) -> std::io::Result<Spool> {
        let dir = state.join("spool");
        std::fs::create_dir_all(&dir)?;
        Ok(Spool {
            dir,
            digest: state.join(DIGEST_FILE),
        })
    }

    /// The spooled mails, oldest first.
    pub fn list(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        Ok(files)
    }

    pub fn is_empty(&self) -> bool {
        self.list().map(|l| l.is_empty()).unwrap_or(true)
    }

    pub fn add(&self, mail: &Outgoing) -> std::io::Result<()> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let entry = Spooled {
            mail: mail.clone(),
            attempts: 0,
            next_attempt: now_secs() + FIRST_RETRY.as_secs(),
        };
        let path = self.dir.join(format!("{nanos:020}.json"));
        write_atomic(&path, &serde_json::to_vec(&entry).expect("serializes"))
    }

    pub fn read(&self, path: &Path) -> std::io::Result<Spooled> {
        let bytes = std::fs::read(path)?;
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)
    }

    /// Records a failed attempt and when to try again.
    pub fn failed(&self, path: &Path, mut entry: Spooled) -> std::io::Result<()> {
        entry.attempts += 1;
        entry.next_attempt = now_secs() + backoff(entry.attempts).as_secs();
        write_atomic(path, &serde_json::to_vec(&entry).expect("serializes"))
    }

    pub fn due(entry: &Spooled) -> bool {
        entry.next_attempt <= now_secs()
    }

    /// Seconds until the earliest retry, if any mail waits.
    pub fn next_retry(&self) -> Option<Duration> {
        let files = self.list().ok()?;
        files
            .iter()
            .filter_map(|p| self.read(p).ok())
            .map(|e| Duration::from_secs(e.next_attempt.saturating_sub(now_secs())))
            .min()
    }

    pub fn digest_events(&self) -> Vec<Event> {
        std::fs::read(&self.digest)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save_digest(&self, events: &[Event]) -> std::io::Result<()> {
        if events.is_empty() {
            return match std::fs::remove_file(&self.digest) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        write_atomic(
            &self.digest,
            &serde_json::to_vec(events).expect("serializes"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops() {
        assert_eq!(backoff(0), Duration::from_secs(2));
        assert_eq!(backoff(1), Duration::from_secs(4));
        assert_eq!(backoff(20), MAX_RETRY);
    }

    #[test]
    fn spool_keeps_mails_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert!(spool.is_empty());
        for subject in ["one", "two"] {
            let mail = Outgoing {
                from: "a@b".into(),
                to: vec!["c@d".into()],
                subject: subject.into(),
                message: "x".into(),
            };
            spool.add(&mail).unwrap();
        }
        let files = spool.list().unwrap();
        assert_eq!(spool.read(&files[0]).unwrap().mail.subject, "one");
        assert_eq!(spool.read(&files[1]).unwrap().mail.subject, "two");
        let e = spool.read(&files[0]).unwrap();
        assert!(!Spool::due(&e));
        spool.failed(&files[0], e).unwrap();
        assert_eq!(spool.read(&files[0]).unwrap().attempts, 1);
    }
}
