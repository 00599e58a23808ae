//! Mails: what an event's mail says, and sending it with lettre over SMTP
//! (plain, STARTTLS, implicit TLS, AUTH) or the local sendmail.

use std::path::Path;
use std::time::{Duration, SystemTime};

use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, Message, SendmailTransport, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

use super::event::Event;
use super::lookup::Lookups;
use super::spool::Digest;
use crate::config::{At, Event as Kind, Notify, Problem};

/// How long one SMTP conversation may take before the mail is spooled.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
pub const SENDMAIL: &str = "sendmail";

/// A mail ready to go: its envelope and its RFC 5322 bytes, so that what
/// is spooled is exactly what is sent later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub message: String,
}

/// Checks an `smtp` setting without connecting.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    if url == SENDMAIL {
        return Ok(());
    }
    SmtpTransport::from_url(url)
        .map(|_| ())
        .map_err(|e| format!("`{url}`: {e}"))
}

/// What is wrong with the addresses and the server of `[notify]`; the
/// loader adds these to the config's own problems.
pub fn notify_problems(n: &Notify) -> Vec<Problem> {
    let problem = |key, message| Problem::new(At::Table("notify"), key, message);
    let mut problems = Vec::new();
    for to in &n.email_to {
        if to.parse::<Address>().is_err() {
            problems.push(problem("email_to", format!("`{to}` is not a mail address")));
        }
    }
    if n.email_from.parse::<Address>().is_err() {
        problems.push(problem(
            "email_from",
            format!("`{}` is not a mail address", n.email_from),
        ));
    }
    if let Err(e) = check_smtp_url(&n.smtp) {
        problems.push(problem("smtp", e));
    }
    problems
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Subject and body of one event's mail.
pub fn event_text(e: &Event, lookups: &Lookups) -> (String, String) {
    let subject = format!("{}: {}", e.host, e.summary());
    let mut body = format!(
        "{}\n\nevent:       {}\ntime:        {}\nhost:        {}\n",
        e.summary(),
        e.kind.as_str(),
        rfc3339(e.time),
        e.host
    );
    if let Some(d) = &e.door {
        body += &format!("door:        {d}\n");
    }
    body += &format!("source:      {}\n", e.source);
    if let Some(name) = &lookups.reverse_dns {
        body += &format!("source name: {name}\n");
    }
    if let Some(d) = e.destination {
        body += &format!("destination: {d}\n");
    }
    if let (Some(p), Some(port), false) = (&e.protocol, e.destination_port, quotes_a_knock(e)) {
        body += &format!("port:        {port}/{}\n", p.to_ascii_lowercase());
    }
    if let Some(i) = &e.interface {
        body += &format!("interface:   {i}\n");
    }
    if let Some(w) = &lookups.whois {
        body += &format!("\nwhois:\n{w}\n");
    }
    let line = if quotes_a_knock(e) {
        hide_port(&e.line)
    } else {
        e.line.clone()
    };
    body += &format!("\nkernel line:\n{line}\n");
    (subject, body)
}

/// Whether the event's destination port may be a knock: a completed
/// sequence's last one, or the packet that reset a sequence (perhaps a
/// knock out of order). Mails say which door opened for whom, never a
/// knock: a mailbox is read in more places than the server.
fn quotes_a_knock(e: &Event) -> bool {
    matches!(e.kind, Kind::Knock | Kind::Reset)
}

/// The kernel line with `DPT=` emptied.
fn hide_port(line: &str) -> String {
    line.split(' ')
        .map(|f| {
            if f.starts_with("DPT=") {
                "DPT=(hidden)"
            } else {
                f
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Subject and body of a digest of events that exceeded the hourly budget:
/// the first events in full, then only counts, so that a flood of any size
/// makes a mail of bounded size (a server refuses one too big).
pub fn digest_text(host: &str, digest: &Digest) -> (String, String) {
    let subject = format!("{host}: {} more nfknock events (digest)", digest.len());
    let mut body =
        "More events than [notify] max_mails_per_hour allows; here they are together.\n\n"
            .to_string();
    for e in &digest.events {
        body += &format!("{}  {}  {}\n", rfc3339(e.time), e.host, e.summary());
    }
    if !digest.more.is_empty() {
        body += &format!(
            "\nand {} more, counted (the journal has each one):\n",
            digest.more.values().sum::<u64>()
        );
        for (what, n) in &digest.more {
            body += &format!("{n:>8}  {what}\n");
        }
    }
    (subject, body)
}

pub fn compose(n: &Notify, subject: &str, body: &str) -> Result<Outgoing, String> {
    let from: Mailbox = n
        .email_from
        .parse()
        .map_err(|e| format!("[notify] email_from: {e}"))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &n.email_to {
        builder = builder.to(to.parse().map_err(|e| format!("[notify] email_to: {e}"))?);
    }
    let message = builder
        .body(body.to_string())
        .map_err(|e| format!("cannot build the mail: {e}"))?;
    Ok(Outgoing {
        from: n.email_from.clone(),
        to: n.email_to.clone(),
        subject: subject.to_string(),
        message: String::from_utf8_lossy(&message.formatted()).into_owned(),
    })
}

/// Why a mail did not go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The server refused this mail for good (SMTP 5xx, or a mail lettre
    /// cannot even address): sending it again is no use.
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    fn permanent(message: String) -> SendError {
        SendError {
            permanent: true,
            message,
        }
    }
}

/// Sends mails one way or another.
pub trait Sender {
    fn send(&self, mail: &Outgoing) -> Result<(), SendError>;
}

struct Smtp(SmtpTransport);
struct Sendmail(SendmailTransport);

fn envelope(mail: &Outgoing) -> Result<Envelope, SendError> {
    let from: Address = mail
        .from
        .parse()
        .map_err(|e| SendError::permanent(format!("{e}")))?;
    let to = mail
        .to
        .iter()
        .map(|t| {
            t.parse::<Address>()
                .map_err(|e| SendError::permanent(format!("{e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| SendError::permanent(e.to_string()))
}

impl Sender for Smtp {
    fn send(&self, mail: &Outgoing) -> Result<(), SendError> {
        self.0
            .send_raw(&envelope(mail)?, mail.message.as_bytes())
            .map(|_| ())
            .map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            })
    }
}

impl Sender for Sendmail {
    /// sendmail's exit status does not say whether trying again helps:
    /// every failure counts as temporary.
    fn send(&self, mail: &Outgoing) -> Result<(), SendError> {
        self.0
            .send_raw(&envelope(mail)?, mail.message.as_bytes())
            .map_err(|e| SendError {
                permanent: false,
                message: e.to_string(),
            })
    }
}

/// The transport `[notify] smtp` names. A password comes from
/// `password_file`, or from the credential `smtp-password` that systemd's
/// `LoadCredential=` passes.
pub fn sender(n: &Notify) -> Result<Box<dyn Sender>, String> {
    if n.smtp == SENDMAIL {
        return Ok(Box::new(Sendmail(SendmailTransport::new())));
    }
    let mut builder = SmtpTransport::from_url(&n.smtp)
        .map_err(|e| format!("[notify] smtp: `{}`: {e}", n.smtp))?
        .timeout(Some(SMTP_TIMEOUT));
    if let Some(password) = password(n)? {
        let user = n
            .smtp
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map(|(user, _)| user.split(':').next().unwrap_or(user).to_string())
            .ok_or("[notify] smtp: a password needs a user in the URL (smtps://user@host)")?;
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(Box::new(Smtp(builder.build())))
}

fn password(n: &Notify) -> Result<Option<String>, String> {
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|d| Path::new(&d).join("smtp-password"))
        .filter(|p| p.exists());
    let Some(path) = credential.or_else(|| n.password_file.clone()) else {
        return Ok(None);
    };
    std::fs::read_to_string(&path)
        .map(|p| Some(p.trim_end_matches(['\n', '\r']).to_string()))
        .map_err(|e| format!("cannot read the SMTP password from {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify() -> Notify {
        Notify {
            email_to: vec!["root@localhost".into()],
            ..Notify::default()
        }
    }

    fn event() -> Event {
        super::super::event::parse(
            "nfknock: knock door=ssh IN=eth0 SRC=192.0.2.2 DST=192.0.2.1 PROTO=TCP SPT=1 DPT=27733",
            "nfknock",
            "server1",
            SystemTime::UNIX_EPOCH,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn event_mail_says_who_where_and_when() {
        let lookups = Lookups {
            reverse_dns: Some("client.example.org".into()),
            whois: Some("organisation: Example\ncountry: ZZ".into()),
        };
        let (subject, body) = event_text(&event(), &lookups);
        assert_eq!(subject, "server1: knock from 192.0.2.2 (door ssh)");
        for part in [
            "time:        1970-01-01T00:00:00Z",
            "door:        ssh",
            "source name: client.example.org",
            "country: ZZ",
            "kernel line:\nnfknock: knock door=ssh",
            "SPT=1 DPT=(hidden)",
        ] {
            assert!(body.contains(part), "{part}\n{body}");
        }
        // The last knock completed the sequence: no mail quotes it.
        assert!(!body.contains("27733"), "{body}");
        let mail = compose(&notify(), &subject, &body).unwrap();
        assert!(
            mail.message
                .contains("Subject: server1: knock from 192.0.2.2 (door ssh)")
        );
        assert!(mail.message.contains("To: root@localhost"));
    }

    #[test]
    fn digest_lists_every_event() {
        let mut digest = Digest::default();
        digest.events = vec![event(), event()];
        let (subject, body) = digest_text("server1", &digest);
        assert_eq!(subject, "server1: 2 more nfknock events (digest)");
        assert_eq!(body.matches("knock from 192.0.2.2").count(), 2);
    }

    #[test]
    fn a_digest_of_a_flood_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let spool = super::super::spool::Spool::open(dir.path()).unwrap();
        let mut digest = Digest::default();
        for _ in 0..1200 {
            spool.add_to_digest(&mut digest, &event()).unwrap();
        }
        let (subject, body) = digest_text("server1", &digest);
        assert_eq!(subject, "server1: 1200 more nfknock events (digest)");
        assert!(body.len() < 8 * 1024, "{} bytes", body.len());
        assert!(body.contains("and 1150 more, counted"), "{body}");
        assert!(body.contains("    1150  knock (door ssh)"), "{body}");
        // On disk too: the full events and at most COMPACT_AFTER lines of
        // counts.
        let on_disk: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(on_disk < 64 * 1024, "{on_disk} bytes");
        let again = spool.digest();
        assert_eq!(again.len(), 1200);
        assert_eq!(digest_text("server1", &again), (subject, body));
    }

    #[test]
    fn smtp_urls() {
        for ok in [
            "smtp://localhost:25",
            "smtps://user@mail.example.org:465",
            "smtp://h:587?tls=required",
            "sendmail",
        ] {
            assert_eq!(check_smtp_url(ok), Ok(()), "{ok}");
        }
        assert!(check_smtp_url("carrier-pigeon://x").is_err());
    }
}
