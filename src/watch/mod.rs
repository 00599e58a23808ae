//! `nfknock watch`: follows the kernel's messages in the journal and mails
//! every event nfknock's rules log. Only entries the kernel wrote count
//! (`_TRANSPORT=kernel`, facility kern): a user's `logger` line never
//! sends a mail, and nothing from a log line reaches a shell. Of those,
//! only lines that can be of the watcher's own network namespace count
//! (see `netns`). Each event handled is also a journal entry with fields
//! (`log_event`).
//!
//! It blocks on the journal until something arrives. The journal cursor is
//! saved after each event's mail was accepted by the server or spooled, so
//! a restart neither loses nor repeats a mail.

pub mod event;
pub mod limit;
pub mod lookup;
pub mod mail;
pub mod netns;
pub mod spool;
pub mod view;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use systemd::journal::{self, Journal};

use crate::config::Notify;
use event::Event;
use limit::Limiter;
use mail::{Outgoing, Sender};
use spool::{Digest, Spool};
use view::View;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("the journal: {0}")]
    Journal(systemd::Error),
    #[error("the state directory {0}: {1}")]
    State(PathBuf, std::io::Error),
    #[error("{0}")]
    Mail(String),
    #[error("cannot read this network namespace's interfaces and addresses in /proc/self/net: {0}")]
    Netns(std::io::Error),
}

pub struct Options {
    pub journal_dir: Option<PathBuf>,
    pub dry_run: bool,
    pub state_dir: PathBuf,
}

/// Logs the watcher's own messages: to the journal with fields when it
/// runs under systemd (which sets JOURNAL_STREAM), else to stderr.
pub fn log(priority: u8, message: &str, fields: &[(&str, &str)]) {
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        let mut entries = vec![
            format!("MESSAGE={message}"),
            format!("PRIORITY={priority}"),
            "SYSLOG_IDENTIFIER=nfknock".to_string(),
        ];
        entries.extend(fields.iter().map(|(k, v)| format!("NFKNOCK_{k}={v}")));
        let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
        if journal::send(&refs).is_ok() {
            return;
        }
    }
    eprintln!("nfknock watch: {message}");
}

/// Tells systemd (Type=notify) that the watcher is ready.
fn notify_ready() {
    use std::os::unix::net::UnixDatagram;
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let sent = if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .and_then(|addr| sock.send_to_addr(b"READY=1", &addr))
    } else {
        sock.send_to(b"READY=1", &path)
    };
    if let Err(e) = sent {
        log(4, &format!("cannot notify systemd: {e}"), &[]);
    }
}

/// Where the journal cursor is kept: one per journal source.
fn cursor_path(state: &Path, journal_dir: Option<&Path>) -> PathBuf {
    match journal_dir {
        None => state.join("cursor"),
        Some(d) => state.join(format!(
            "cursor-{:08x}",
            crate::firewall::fingerprint(&d.to_string_lossy())
        )),
    }
}

fn save_cursor(path: &Path, cursor: &str) -> std::io::Result<()> {
    crate::state::write_atomic(path, cursor.as_bytes(), 0o600)
}

/// Whether an event can be of the watcher's own network namespace (see
/// `netns`). Interfaces and addresses come and go: when `local` says no,
/// it is read afresh and asked again (a knock costs no read, only a line
/// that does not fit).
fn of_this_netns(local: &mut netns::Local, e: &Event) -> Result<(), String> {
    if local.check(e).is_ok() {
        return Ok(());
    }
    *local = netns::Local::read()
        .map_err(|err| format!("cannot read this namespace's interfaces: {err}"))?;
    local.check(e).map_err(|why| why.to_string())
}

/// Says loudly when the kernel log carries every network namespace's
/// packet logs: then a local user can forge nfknock's lines in a namespace
/// of their own.
fn warn_when_every_netns_logs() {
    if netns::all_netns_logged() == Some(true) {
        log(
            4,
            &format!(
                "WARNING: {} is 1: the kernel log carries the packet logs of every network namespace, so any local user can log lines with nfknock's prefix from a namespace of their own. Lines whose interface (IN=) or destination (DST=) is not of this namespace are ignored, but a forger who copies them is not caught: set net.netfilter.nf_log_all_netns=0 unless containers here need their logs",
                netns::ALL_NETNS_SYSCTL
            ),
            &[],
        );
    }
}

/// Goes back to where the last run stopped; false when there is no saved
/// cursor to go back to. A cursor journald does not take (a torn or
/// corrupt file) is logged and set aside as `<file>.bad`: it must not stop
/// the watcher for good, restart after restart.
fn seek_saved_cursor(j: &mut Journal, file: &Path) -> Result<bool, Error> {
    let cursor = match std::fs::read_to_string(file) {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            set_cursor_aside(file, &e.to_string());
            return Ok(false);
        }
    };
    if let Err(e) = j.seek_cursor(&cursor) {
        set_cursor_aside(file, &e.to_string());
        return Ok(false);
    }
    // The entry at the cursor was handled already.
    if j.next().map_err(Error::Journal)? > 0 && !j.test_cursor(&cursor).unwrap_or(false) {
        j.previous().map_err(Error::Journal)?;
    }
    Ok(true)
}

fn set_cursor_aside(file: &Path, why: &str) {
    let bad = file.with_extension("bad");
    let kept = match std::fs::rename(file, &bad) {
        Ok(()) => format!("set aside as {}", bad.display()),
        Err(e) => format!("cannot set it aside: {e}"),
    };
    log(
        3,
        &format!(
            "the journal cursor in {} is unusable ({why}); {kept}; starting at the end of the journal: events since the last run are not mailed",
            file.display()
        ),
        &[],
    );
}

/// How often at most the hourly budget is written down while mails go.
const BUDGET_SAVE: Duration = Duration::from_secs(1);

/// How often a cursor that could not be saved (full or read-only disk) is
/// tried again while no event comes.
const CURSOR_RETRY: Duration = Duration::from_secs(5);

fn open_journal(dir: Option<&Path>) -> Result<Journal, Error> {
    let mut j = match dir {
        None => journal::OpenOptions::default()
            .system(true)
            .local_only(false)
            .open(),
        Some(d) => {
            journal::OpenDirectoryOptions::default().open_directory(d.to_string_lossy().as_ref())
        }
    }
    .map_err(Error::Journal)?;
    j.match_add("_TRANSPORT", "kernel")
        .map_err(Error::Journal)?;
    Ok(j)
}

/// What became of an event's mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server took it.
    Sent,
    /// It waits in the spool for the server.
    Spooled,
    /// The hourly budget is spent: the event waits for the digest.
    Digest,
    /// The server refused it for good: set aside.
    Refused,
    /// The spool is full: dropped (the journal keeps the event).
    Dropped,
    /// `--dry-run`: printed.
    Printed,
}

impl Outcome {
    /// The value of the journal field `NFKNOCK_MAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Spooled => "spooled",
            Outcome::Digest => "digest",
            Outcome::Refused => "refused",
            Outcome::Dropped => "dropped",
            Outcome::Printed => "printed",
        }
    }

    fn says(self) -> &'static str {
        match self {
            Outcome::Sent => "mailed",
            Outcome::Spooled => "mail spooled until the server takes it",
            Outcome::Digest => "kept for the digest (the hourly budget is spent)",
            Outcome::Refused => "mail refused by the server, set aside",
            Outcome::Dropped => "mail dropped (the spool is full)",
            Outcome::Printed => "printed (dry run)",
        }
    }
}

/// One journal entry for each event handled, with fields, so that
/// `journalctl -u nfknock-watch NFKNOCK_EVENT=knock` answers "who got in"
/// without the mail.
fn log_event(e: &Event, outcome: Outcome) {
    let source = e.source.to_string();
    let mut fields = vec![
        ("EVENT", e.kind.as_str()),
        ("SOURCE", source.as_str()),
        ("HOST", e.host.as_str()),
        ("MAIL", outcome.as_str()),
    ];
    if let Some(door) = &e.door {
        fields.push(("DOOR", door));
    }
    log(5, &format!("{}: {}", e.summary(), outcome.says()), &fields);
}

/// Delivers mails: straight to the server while nothing waits in the
/// spool, else behind what waits, so mails keep their order. A mail the
/// server refuses for good (5xx) is set aside, not retried: it would hold
/// up every later one.
pub struct Mailer<'a> {
    notify: &'a Notify,
    sender: Box<dyn Sender>,
    spool: Spool,
    limiter: Limiter,
    /// The events waiting for the digest, as in the spool's digest files.
    pending: Digest,
    /// Spool files sent (or set aside) that could not be removed (a
    /// read-only disk): never sent again while the watcher runs.
    done: HashSet<PathBuf>,
    /// The budget file could not be written (logged once until it can).
    budget_unsaved: bool,
    /// Mails went since the budget was last written, and when that was.
    budget_dirty: bool,
    budget_saved: Option<Instant>,
    dry_run: bool,
    host: String,
}

impl<'a> Mailer<'a> {
    pub fn new(notify: &'a Notify, state: &Path, dry_run: bool) -> Result<Mailer<'a>, Error> {
        let sender = mail::sender(notify).map_err(Error::Config)?;
        let spool = Spool::open(state).map_err(|e| Error::State(state.to_path_buf(), e))?;
        let mut limiter = Limiter::new(notify.max_mails_per_hour, notify.digest_delay);
        limiter.restore(&spool.budget(), Instant::now(), SystemTime::now());
        Ok(Mailer {
            notify,
            sender,
            pending: spool.digest(),
            spool,
            limiter,
            done: HashSet::new(),
            budget_unsaved: false,
            budget_dirty: false,
            budget_saved: None,
            dry_run,
            host: "localhost".into(),
        })
    }

    /// A mail went: the budget is to be written down, so that a restart
    /// does not reset it. At once when it is spent now (the restart that
    /// matters), else at most once every `BUDGET_SAVE` (a mail must not
    /// wait for it, and a burst of mails needs one write, not one each).
    fn budget_used(&mut self) {
        if self.dry_run {
            return;
        }
        self.budget_dirty = true;
        if !self.limiter.has_room(Instant::now()) {
            self.save_budget();
        }
    }

    /// How long until the budget is to be written, if it waits.
    fn until_budget_save(&self) -> Option<Duration> {
        self.budget_dirty.then(|| {
            self.budget_saved
                .map_or(Duration::ZERO, |t| BUDGET_SAVE.saturating_sub(t.elapsed()))
        })
    }

    /// Writes the hourly budget down. A failure (full disk) is logged, not
    /// fatal: the mails went already.
    fn save_budget(&mut self) {
        let sent = self.limiter.sent_times(Instant::now(), SystemTime::now());
        self.budget_dirty = false;
        self.budget_saved = Some(Instant::now());
        match self.spool.save_budget(&sent) {
            Ok(()) => self.budget_unsaved = false,
            Err(e) if !self.budget_unsaved => {
                self.budget_unsaved = true;
                log(
                    3,
                    &format!("cannot save the hourly mail budget: {e}; carrying on"),
                    &[],
                );
            }
            Err(_) => {}
        }
    }

    /// Mails one event, or keeps it for the digest when the hourly budget
    /// is spent. Returns once the mail is sent, safely spooled or set
    /// aside.
    pub fn event(&mut self, e: &Event) -> Result<Outcome, Error> {
        self.host = e.host.clone();
        if !self.limiter.allow(Instant::now()) {
            if let Err(err) = self.spool.add_to_digest(&mut self.pending, e) {
                // Kept in memory: the digest still goes out, and the
                // journal cursor (not saved either) has the event again
                // after a restart.
                log(
                    3,
                    &format!("cannot save the event for the digest: {err}; kept in memory"),
                    &[],
                );
                self.pending.events.push(e.clone());
            }
            return Ok(Outcome::Digest);
        }
        let lookups = if lookup::worth_asking(e.kind) {
            lookup::lookup(self.notify, e.source)
        } else {
            lookup::Lookups::default()
        };
        let (subject, body) = mail::event_text(e, &lookups);
        let outcome =
            self.deliver(mail::compose(self.notify, &subject, &body).map_err(Error::Mail)?)?;
        self.budget_used();
        Ok(outcome)
    }

    fn deliver(&mut self, m: Outgoing) -> Result<Outcome, Error> {
        if self.dry_run {
            println!("{}\n", m.message);
            return Ok(Outcome::Printed);
        }
        if self.nothing_waits() {
            match self.sender.send(&m) {
                Ok(()) => return Ok(Outcome::Sent),
                Err(e) if e.permanent => {
                    self.refused(&m, &e, None);
                    return Ok(Outcome::Refused);
                }
                Err(e) => log(4, &format!("mail server refused, spooling: {e}"), &[]),
            }
        }
        if self.spool.is_full() {
            log(
                3,
                &format!(
                    "the spool holds {} mails already: dropped the mail \"{}\" (the journal still has the event)",
                    spool::MAX_MAILS,
                    m.subject
                ),
                &[],
            );
            return Ok(Outcome::Dropped);
        }
        self.spool
            .add(&m)
            .map_err(|e| Error::State(PathBuf::from("spool"), e))?;
        Ok(Outcome::Spooled)
    }

    /// Whether no spooled mail waits to go first.
    fn nothing_waits(&self) -> bool {
        self.spool
            .list()
            .map(|l| l.iter().all(|p| self.done.contains(p)))
            .unwrap_or(true)
    }

    /// A mail the server will never take: logged at error and kept in
    /// `spool/refused/` for the admin, out of the way of the others.
    fn refused(&mut self, m: &Outgoing, why: &dyn std::fmt::Display, spooled: Option<&Path>) {
        let kept = match spooled {
            Some(path) => self.spool.set_aside(path),
            None => self.spool.refused(m),
        };
        let kept = match kept {
            Ok(path) => format!("kept in {}", path.display()),
            Err(e) => {
                if let Some(path) = spooled {
                    self.done.insert(path.to_path_buf());
                }
                format!("and cannot be kept: {e}")
            }
        };
        // A mail of an event that just came is logged with the event (see
        // `log_event`); one from the spool on its own.
        let fields: &[(&str, &str)] = if spooled.is_some() {
            &[("MAIL", "refused")]
        } else {
            &[]
        };
        log(
            3,
            &format!(
                "the mail server refused the mail \"{}\" for good ({why}); it is {kept}",
                m.subject
            ),
            fields,
        );
    }

    /// Retries due spooled mails in order, sends a due digest, writes the
    /// budget down when it is time.
    pub fn tick(&mut self) -> Result<(), Error> {
        if self.until_budget_save().is_some_and(|d| d.is_zero()) {
            self.save_budget();
        }
        if !self.dry_run {
            for path in self.spool.list().unwrap_or_default() {
                if self.done.contains(&path) {
                    continue;
                }
                let Ok(entry) = self.spool.read(&path) else {
                    log(
                        3,
                        &format!("unreadable spool file {} left aside", path.display()),
                        &[],
                    );
                    if std::fs::rename(&path, path.with_extension("bad")).is_err() {
                        self.done.insert(path);
                    }
                    continue;
                };
                if Spool::expired(&path) {
                    let why = format!(
                        "it waited more than {}",
                        humantime::format_duration(spool::MAX_AGE)
                    );
                    self.refused(&entry.mail, &why, Some(&path));
                    continue;
                }
                if !Spool::due(&entry) {
                    break;
                }
                match self.sender.send(&entry.mail) {
                    Ok(()) => {
                        log(
                            6,
                            &format!("mailed from the spool: {}", entry.mail.subject),
                            &[("MAIL", "sent")],
                        );
                        if let Err(e) = std::fs::remove_file(&path) {
                            log(
                                3,
                                &format!(
                                    "cannot remove the sent mail {}: {e}; it is not sent again while the watcher runs",
                                    path.display()
                                ),
                                &[],
                            );
                            self.done.insert(path);
                        }
                    }
                    Err(e) if e.permanent => self.refused(&entry.mail, &e, Some(&path)),
                    Err(e) => {
                        log(4, &format!("still cannot mail: {e}"), &[]);
                        let _ = self.spool.failed(&path, entry);
                        break;
                    }
                }
            }
        }
        if !self.pending.is_empty() && self.limiter.digest_due(Instant::now()) {
            let (subject, body) = mail::digest_text(&self.host, &self.pending);
            let m = mail::compose(self.notify, &subject, &body).map_err(Error::Mail)?;
            let outcome = self.deliver(m)?;
            log(
                6,
                &format!(
                    "the digest of {} events: {}",
                    self.pending.len(),
                    outcome.says()
                ),
                &[("MAIL", outcome.as_str())],
            );
            self.limiter.digest_sent(Instant::now());
            self.budget_used();
            if let Err(e) = self.spool.clear_digest() {
                log(
                    3,
                    &format!(
                        "cannot remove the digest's events, which are mailed: {e}; a restart now would mail them again"
                    ),
                    &[],
                );
            }
            self.pending = Digest::default();
        }
        Ok(())
    }

    /// How long the journal wait may block before `tick` has work.
    pub fn next_deadline(&self) -> Option<Duration> {
        let retry = if self.dry_run {
            None
        } else {
            self.spool.next_retry(&self.done)
        };
        let digest = (!self.pending.is_empty()).then(|| self.limiter.until_digest(Instant::now()));
        [retry, digest, self.until_budget_save()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Reads the fields nfknock needs of the current journal entry.
fn field(j: &mut Journal, name: &str) -> Option<String> {
    j.get_data(name)
        .ok()
        .flatten()
        .and_then(|f| f.value().map(|v| String::from_utf8_lossy(v).into_owned()))
}

/// Watches with what the watcher knows of a config ([`View`]): it never
/// holds a knock sequence.
pub fn watch(cfg: &View, opts: &Options) -> Result<(), Error> {
    let notify = cfg
        .notify
        .as_ref()
        .ok_or_else(|| Error::Config("the config has no [notify] table: nothing to do".into()))?;
    if notify.email_to.is_empty() && !opts.dry_run {
        return Err(Error::Config(
            "[notify] email_to is empty: nobody to mail".into(),
        ));
    }
    std::fs::create_dir_all(&opts.state_dir)
        .map_err(|e| Error::State(opts.state_dir.clone(), e))?;
    let mut mailer = Mailer::new(notify, &opts.state_dir, opts.dry_run)?;
    let mut j = open_journal(opts.journal_dir.as_deref())?;
    let cursor_file = cursor_path(&opts.state_dir, opts.journal_dir.as_deref());
    if !seek_saved_cursor(&mut j, &cursor_file)? {
        // First start (or an unusable cursor): no mail storm of old history.
        j.seek_tail().map_err(Error::Journal)?;
        j.previous().map_err(Error::Journal)?;
        if let Ok(c) = j.cursor() {
            let _ = save_cursor(&cursor_file, &c);
        }
    }
    warn_when_every_netns_logs();
    // Fails here, at start, rather than at the first knock.
    let mut local = netns::Local::read().map_err(Error::Netns)?;
    let machine_id = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|m| m.trim().to_string());
    notify_ready();
    log(6, "watching the journal for nfknock's kernel messages", &[]);
    // The cursor is saved (with an fsync) right after each mail is sent or
    // spooled, so that a restart repeats none; past any other entry it only
    // needs saving once the journal is drained, not once per entry. When it
    // cannot be saved (full or read-only disk) the watcher carries on and
    // tries again: exiting would have systemd restart it from the old
    // cursor and mail the same event again, every 5 s.
    let mut cursor_error: Option<String> = None;
    let mut save = |j: &mut Journal| -> Result<bool, Error> {
        if opts.dry_run {
            return Ok(true);
        }
        let c = j.cursor().map_err(Error::Journal)?;
        match save_cursor(&cursor_file, &c) {
            Ok(()) => {
                if cursor_error.take().is_some() {
                    log(
                        5,
                        &format!(
                            "saved the journal cursor to {} again",
                            cursor_file.display()
                        ),
                        &[],
                    );
                }
                Ok(true)
            }
            Err(e) => {
                let e = e.to_string();
                if cursor_error.as_deref() != Some(&e) {
                    log(
                        3,
                        &format!(
                            "cannot save the journal cursor to {}: {e}; carrying on and trying again (a restart now would mail the last events again)",
                            cursor_file.display()
                        ),
                        &[],
                    );
                    cursor_error = Some(e);
                }
                Ok(false)
            }
        }
    };
    let mut unsaved = false;
    loop {
        while j.next().map_err(Error::Journal)? > 0 {
            let message = field(&mut j, "MESSAGE").unwrap_or_default();
            // The kernel's own messages have facility kern (0); lines
            // written to /dev/kmsg by a user program do not.
            let facility = field(&mut j, "SYSLOG_FACILITY");
            let host = field(&mut j, "_HOSTNAME").unwrap_or_default();
            let machine = field(&mut j, "_MACHINE_ID");
            let time = j.timestamp().unwrap_or_else(|_| SystemTime::now());
            unsaved = true;
            if facility.as_deref().is_none_or(|f| f == "0") {
                match event::parse(&message, &cfg.log_prefix, &host, time) {
                    Some(Ok(e)) if notify.events.contains(&e.kind) => {
                        // Another machine's (--journal-dir): its own
                        // namespaces are not ours to check.
                        let ours =
                            machine.is_none() || machine_id.is_none() || machine == machine_id;
                        if ours && let Err(why) = of_this_netns(&mut local, &e) {
                            log(
                                4,
                                &format!(
                                    "ignored an nfknock line that is not of this network namespace ({why}): {}",
                                    e.line
                                ),
                                &[],
                            );
                            continue;
                        }
                        let outcome = mailer.event(&e)?;
                        unsaved = !save(&mut j)?;
                        // Once the cursor is past it: a restart from here
                        // does not handle it again.
                        log_event(&e, outcome);
                    }
                    Some(Ok(_)) | None => {}
                    Some(Err(why)) => {
                        log(4, &format!("ignored a malformed nfknock line: {why}"), &[])
                    }
                }
            }
        }
        if unsaved {
            unsaved = !save(&mut j)?;
        }
        mailer.tick()?;
        let mut deadline = mailer.next_deadline();
        if unsaved {
            deadline = Some(deadline.map_or(CURSOR_RETRY, |d| d.min(CURSOR_RETRY)));
        }
        j.wait(deadline).map_err(Error::Journal)?;
    }
}

/// `nfknock notify-test`: one mail now, or the SMTP error.
pub fn notify_test(cfg: &View) -> Result<String, Error> {
    let notify = cfg
        .notify
        .as_ref()
        .ok_or_else(|| Error::Config("the config has no [notify] table".into()))?;
    if notify.email_to.is_empty() {
        return Err(Error::Config(
            "[notify] email_to is empty: nobody to mail".into(),
        ));
    }
    let host = dns_lookup::get_hostname().unwrap_or_else(|_| "this host".into());
    let subject = format!("{host}: nfknock test mail");
    let body = format!(
        "This is a test of nfknock's notifications from {host}.\nEvents mailed: {}.\n",
        notify
            .events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let m = mail::compose(notify, &subject, &body).map_err(Error::Mail)?;
    mail::sender(notify)
        .map_err(Error::Config)?
        .send(&m)
        .map_err(|e| Error::Mail(format!("the mail server did not take the test mail: {e}")))?;
    Ok(format!(
        "sent a test mail to {}",
        notify.email_to.join(", ")
    ))
}
