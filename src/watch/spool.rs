//! The spool: mails the SMTP server did not take yet, one file each, and
//! the events waiting for the next digest. Written atomically and kept in
//! the state directory, so neither a dead server nor a restart loses one.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::event::Event;
use super::mail::Outgoing;

const FIRST_RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(300);
/// One event a line, appended: under a flood each event costs one short
/// write, not a rewrite of all that wait.
const DIGEST_FILE: &str = "digest.jsonl";

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
    crate::clock::now()
}

/// Doubling from 2 s to 5 min.
pub fn backoff(attempts: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1u32.checked_shl(attempts.min(16)).unwrap_or(u32::MAX))
        .min(MAX_RETRY)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::state::write_atomic(path, bytes, 0o600)
}

impl Spool {
    pub fn open(state: &Path) -> std::io::Result<Spool> {
        let dir = state.join("spool");
        std::fs::create_dir_all(&dir)?;
        let spool = Spool {
            dir,
            digest: state.join(DIGEST_FILE),
        };
        spool.cut_torn_digest_line()?;
        Ok(spool)
    }

    /// A crash in the middle of an append leaves a line without its end;
    /// cut it, or the next event would be appended to it and lost.
    fn cut_torn_digest_line(&self) -> std::io::Result<()> {
        let bytes = match std::fs::read(&self.digest) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if bytes.is_empty() || bytes.ends_with(b"\n") {
            return Ok(());
        }
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        write_atomic(&self.digest, &bytes[..whole])
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

    /// The events waiting for the digest; a line that does not parse is
    /// left out, every other counts.
    pub fn digest_events(&self) -> Vec<Event> {
        std::fs::read_to_string(&self.digest)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Adds one event to the digest, on disk before it returns.
    pub fn append_digest(&self, event: &Event) -> std::io::Result<()> {
        use std::io::Write;
        let mut line = serde_json::to_vec(event).expect("serializes");
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.digest)?;
        f.write_all(&line)?;
        f.sync_data()
    }

    /// Forgets the digest's events once the digest mail is sent or spooled.
    pub fn clear_digest(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.digest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
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

    #[test]
    fn digest_survives_a_torn_append_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let line = |src: &str| {
            super::super::event::parse(
                &format!("nfknock: knock door=ssh SRC={src}"),
                "nfknock",
                "vm",
                UNIX_EPOCH,
            )
            .unwrap()
            .unwrap()
        };
        spool.append_digest(&line("192.0.2.2")).unwrap();
        spool.append_digest(&line("192.0.2.3")).unwrap();
        // A crash in the middle of the next append.
        let mut text = std::fs::read_to_string(&spool.digest).unwrap();
        text.push_str("{\"kind\":\"kno");
        std::fs::write(&spool.digest, text).unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.append_digest(&line("192.0.2.4")).unwrap();
        let events = spool.digest_events();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].source.to_string(), "192.0.2.4");
        spool.clear_digest().unwrap();
        assert!(spool.digest_events().is_empty());
        spool.clear_digest().unwrap();
    }
}
