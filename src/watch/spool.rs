//! The spool: mails the SMTP server did not take yet, one file each, and
//! the events waiting for the next digest. Written atomically and kept in
//! the state directory, so neither a dead server nor a restart loses one.
//!
//! Everything here is bounded: at most `MAX_MAILS` mails wait, none longer
//! than `MAX_AGE`; a mail the server refuses for good is set aside in
//! `refused/` (the last `MAX_REFUSED` are kept); the digest keeps its first
//! `DIGEST_FULL` events in full and only counts the others.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::event::Event;
use super::mail::Outgoing;

const FIRST_RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(300);
/// How many mails may wait for the server; beyond, new mails are dropped
/// (logged), not the ones that wait.
pub const MAX_MAILS: usize = 1000;
/// How long a mail may wait before it is set aside in `refused/`.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How many set-aside mails `refused/` keeps (the newest).
pub const MAX_REFUSED: usize = 100;
/// How many events a digest lists in full; the rest it counts.
pub const DIGEST_FULL: usize = 50;
/// One event a line, appended: under a flood each event costs one short
/// write, not a rewrite of all that wait.
const DIGEST_FILE: &str = "digest.jsonl";
/// The digest's counts of the events beyond `DIGEST_FULL`: a line each,
/// appended (`"knock (door ssh)"`), as cheap as the events in full; every
/// `COMPACT_AFTER` lines the file is rewritten as one line of counts
/// (`{"knock (door ssh)":1234}`), so it stays small.
const DIGEST_COUNTS: &str = "digest-counts.jsonl";
const COMPACT_AFTER: usize = 1000;
const REFUSED_DIR: &str = "refused";
/// When the mails of the last hour went (the hourly budget).
const BUDGET_FILE: &str = "budget.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spooled {
    pub mail: Outgoing,
    pub attempts: u32,
    /// Seconds since the epoch.
    pub next_attempt: u64,
}

/// The events waiting for the digest mail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Digest {
    /// The first `DIGEST_FULL`, in full.
    pub events: Vec<Event>,
    /// How many more of each kind (`knock (door ssh)`).
    pub more: BTreeMap<String, u64>,
    /// Lines in the counts file.
    lines: usize,
}

impl Digest {
    pub fn len(&self) -> u64 {
        self.events.len() as u64 + self.more.values().sum::<u64>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a digest counts an event beyond its first ones as.
fn count_key(e: &Event) -> String {
    match &e.door {
        Some(d) => format!("{} (door {d})", e.kind.as_str()),
        None => e.kind.as_str().to_string(),
    }
}

pub struct Spool {
    dir: PathBuf,
    digest: PathBuf,
    budget: PathBuf,
    counts: PathBuf,
    /// Retries recorded in memory as well, so that a full disk cannot make
    /// a failed mail due again at once (and the watcher spin).
    retries: std::cell::RefCell<HashMap<PathBuf, (u32, u64)>>,
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

/// The one atomic write (a temporary file that goes on failure: a full
/// disk keeps no half file), root-only as everything of the watcher's.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::state::write_atomic(path, bytes, 0o600)
}

/// Appends one line, on disk before it returns.
fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = line.to_vec();
    line.push(b'\n');
    f.write_all(&line)?;
    f.sync_data()
}

/// When a spool file was written: its name is the time in nanoseconds.
fn created(path: &Path) -> Option<SystemTime> {
    let nanos: u64 = path.file_stem()?.to_str()?.parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_nanos(nanos))
}

impl Spool {
    pub fn open(state: &Path) -> std::io::Result<Spool> {
        let dir = state.join("spool");
        std::fs::create_dir_all(&dir)?;
        let spool = Spool {
            dir,
            digest: state.join(DIGEST_FILE),
            budget: state.join(BUDGET_FILE),
            counts: state.join(DIGEST_COUNTS),
            retries: Default::default(),
        };
        spool.cut_torn_line(&spool.digest)?;
        spool.cut_torn_line(&spool.counts)?;
        Ok(spool)
    }

    /// A crash in the middle of an append leaves a line without its end;
    /// cut it, or the next event would be appended to it and lost.
    fn cut_torn_line(&self, file: &Path) -> std::io::Result<()> {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if bytes.is_empty() || bytes.ends_with(b"\n") {
            return Ok(());
        }
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        write_atomic(file, &bytes[..whole])
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

    pub fn is_full(&self) -> bool {
        self.list().is_ok_and(|l| l.len() >= MAX_MAILS)
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
        let mut entry: Spooled = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
        if let Some((attempts, next)) = self.retries.borrow().get(path)
            && *attempts > entry.attempts
        {
            (entry.attempts, entry.next_attempt) = (*attempts, *next);
        }
        Ok(entry)
    }

    /// Records a failed attempt and when to try again: in memory always,
    /// on disk when it can.
    pub fn failed(&self, path: &Path, mut entry: Spooled) -> std::io::Result<()> {
        entry.attempts += 1;
        entry.next_attempt = now_secs() + backoff(entry.attempts).as_secs();
        self.retries
            .borrow_mut()
            .insert(path.to_path_buf(), (entry.attempts, entry.next_attempt));
        write_atomic(path, &serde_json::to_vec(&entry).expect("serializes"))
    }

    pub fn due(entry: &Spooled) -> bool {
        entry.next_attempt <= now_secs()
    }

    /// Whether the mail of `path` waited longer than `MAX_AGE`.
    pub fn expired(path: &Path) -> bool {
        created(path)
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > MAX_AGE)
    }

    /// Moves a mail the server refused for good (or that waited too long)
    /// out of the way, into `refused/`, keeping the newest `MAX_REFUSED`.
    pub fn set_aside(&self, path: &Path) -> std::io::Result<PathBuf> {
        let refused = self.dir.join(REFUSED_DIR);
        std::fs::create_dir_all(&refused)?;
        let to = refused.join(path.file_name().unwrap_or_default());
        std::fs::rename(path, &to)?;
        self.retries.borrow_mut().remove(path);
        let mut kept: Vec<PathBuf> = std::fs::read_dir(&refused)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        kept.sort();
        let too_many = kept.len().saturating_sub(MAX_REFUSED);
        for old in &kept[..too_many] {
            let _ = std::fs::remove_file(old);
        }
        Ok(to)
    }

    /// Writes a mail the server refused for good straight into `refused/`.
    pub fn refused(&self, mail: &Outgoing) -> std::io::Result<PathBuf> {
        self.add(mail)?;
        let newest = self.list()?.pop().expect("just added");
        self.set_aside(&newest)
    }

    /// How long until the first mail in line may be tried again; `skip`:
    /// files already dealt with that could not be removed. `tick` stops at
    /// the first mail that is not due, so only that one's time counts.
    pub fn next_retry(&self, skip: &std::collections::HashSet<PathBuf>) -> Option<Duration> {
        let files = self.list().ok()?;
        let head = files.iter().find(|p| !skip.contains(*p))?;
        let Ok(entry) = self.read(head) else {
            // Unreadable: `tick` sets it aside at once.
            return Some(Duration::ZERO);
        };
        if Spool::expired(head) {
            return Some(Duration::ZERO);
        }
        Some(Duration::from_secs(
            entry.next_attempt.saturating_sub(now_secs()),
        ))
    }

    /// The events waiting for the digest; a line that does not parse is
    /// left out, every other counts.
    pub fn digest(&self) -> Digest {
        let events = std::fs::read_to_string(&self.digest)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let mut more = BTreeMap::new();
        let mut lines = 0;
        for line in std::fs::read_to_string(&self.counts)
            .unwrap_or_default()
            .lines()
        {
            lines += 1;
            match serde_json::from_str(line) {
                Ok(serde_json::Value::String(what)) => *more.entry(what).or_default() += 1,
                Ok(serde_json::Value::Object(counts)) => {
                    for (what, n) in counts {
                        *more.entry(what).or_default() += n.as_u64().unwrap_or(0);
                    }
                }
                _ => {}
            }
        }
        Digest {
            events,
            more,
            lines,
        }
    }

    /// Adds one event to the digest, on disk before it returns: the first
    /// `DIGEST_FULL` appended in full, the others counted.
    pub fn add_to_digest(&self, digest: &mut Digest, event: &Event) -> std::io::Result<()> {
        if digest.events.len() < DIGEST_FULL {
            self.append_digest(event)?;
            digest.events.push(event.clone());
            return Ok(());
        }
        let key = count_key(event);
        if digest.lines >= COMPACT_AFTER {
            let mut more = digest.more.clone();
            *more.entry(key).or_default() += 1;
            let mut line = serde_json::to_vec(&more).expect("serializes");
            line.push(b'\n');
            write_atomic(&self.counts, &line)?;
            (digest.more, digest.lines) = (more, 1);
        } else {
            append_line(&self.counts, &serde_json::to_vec(&key).expect("serializes"))?;
            *digest.more.entry(key).or_default() += 1;
            digest.lines += 1;
        }
        Ok(())
    }

    fn append_digest(&self, event: &Event) -> std::io::Result<()> {
        append_line(
            &self.digest,
            &serde_json::to_vec(event).expect("serializes"),
        )
    }

    /// When the mails of the last hour went (seconds since the epoch). The
    /// file keeps a count a minute; each counts as sent at its minute's
    /// end (never later than now), so a restart never widens the budget.
    pub fn budget(&self) -> Vec<u64> {
        let minutes: Vec<(u64, u32)> = std::fs::read(&self.budget)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let now = now_secs();
        minutes
            .iter()
            .flat_map(|(minute, n)| std::iter::repeat_n((minute * 60 + 59).min(now), *n as usize))
            .collect()
    }

    /// Writes the budget down: at most one line a minute of the last hour
    /// however many mails went. Not synced to disk: a budget lost with
    /// the power lets a mail or two more through, and the mail must not
    /// wait for an fsync.
    pub fn save_budget(&self, sent: &[u64]) -> std::io::Result<()> {
        let mut minutes: BTreeMap<u64, u32> = BTreeMap::new();
        for secs in sent {
            *minutes.entry(secs / 60).or_default() += 1;
        }
        let minutes: Vec<(u64, u32)> = minutes.into_iter().collect();
        let tmp = self.budget.with_extension("tmp");
        let written = std::fs::write(&tmp, serde_json::to_vec(&minutes).expect("serializes"))
            .and_then(|()| std::fs::rename(&tmp, &self.budget));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// Forgets the digest's events once the digest mail is sent or spooled.
    pub fn clear_digest(&self) -> std::io::Result<()> {
        for path in [&self.digest, &self.counts] {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
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
    fn only_the_first_in_line_sets_the_next_retry() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mail = |subject: &str| Outgoing {
            from: "a@b".into(),
            to: vec!["c@d".into()],
            subject: subject.into(),
            message: "x".into(),
        };
        spool.add(&mail("one")).unwrap();
        let files = spool.list().unwrap();
        let head = spool.read(&files[0]).unwrap();
        spool.failed(&files[0], head).unwrap();
        spool.add(&mail("two")).unwrap();
        // "two" is due sooner, but waits behind "one": no busy loop.
        let skip = Default::default();
        let wait = spool.next_retry(&skip).unwrap();
        assert!(wait >= Duration::from_secs(3), "{wait:?}");
        // A mail refused for good goes aside and the next one is first.
        let aside = spool.set_aside(&files[0]).unwrap();
        assert!(aside.starts_with(dir.path().join("spool/refused")));
        assert_eq!(spool.list().unwrap().len(), 1);
        assert!(spool.next_retry(&skip).unwrap() <= Duration::from_secs(2));
        for _ in 0..MAX_REFUSED + 5 {
            spool.refused(&mail("no")).unwrap();
        }
        let refused = std::fs::read_dir(dir.path().join("spool/refused")).unwrap();
        assert_eq!(refused.count(), MAX_REFUSED);
        assert_eq!(spool.list().unwrap().len(), 1);
    }

    #[test]
    fn the_budget_file_stays_small_and_never_widens() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert!(spool.budget().is_empty());
        let now = now_secs();
        let sent: Vec<u64> = (0..10_000).map(|i| now - 3000 + i % 3000).collect();
        spool.save_budget(&sent).unwrap();
        let size = std::fs::metadata(dir.path().join(BUDGET_FILE))
            .unwrap()
            .len();
        assert!(size < 2048, "{size} bytes");
        let again = spool.budget();
        assert_eq!(again.len(), sent.len());
        // Each restored time is at or after the real one, never in the future.
        let mut sorted = sent.clone();
        sorted.sort();
        let mut restored = again.clone();
        restored.sort();
        assert!(
            sorted
                .iter()
                .zip(&restored)
                .all(|(a, b)| a <= b && *b <= now)
        );
    }

    #[test]
    fn mails_older_than_the_limit_expire() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let old = SystemTime::now() - MAX_AGE - Duration::from_secs(60);
        let nanos = old.duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let path = spool.dir.join(format!("{nanos:020}.json"));
        assert!(Spool::expired(&path));
        spool
            .add(&Outgoing {
                from: "a@b".into(),
                to: vec!["c@d".into()],
                subject: "new".into(),
                message: "x".into(),
            })
            .unwrap();
        assert!(!Spool::expired(&spool.list().unwrap()[0]));
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
        let events = spool.digest().events;
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].source.to_string(), "192.0.2.4");
        spool.clear_digest().unwrap();
        assert!(spool.digest().is_empty());
        spool.clear_digest().unwrap();
    }
}
