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
use crate::config::{At, Notify, Problem};

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
    if let (Some(p), Some(port)) = (&e.protocol, e.destination_port) {
        body += &format!("port:        {port}/{}\n", p.to_ascii_lowercase());
    }
    if let Some(i) = &e.interface {
        body += &format!("interface:   {i}\n");
    }
    if let Some(w) = &lookups.whois {
        body += &format!("\nwhois:\n{w}\n");
    }
    body += &format!("\nkernel line:\n{}\n", e.line);
    (subject, body)
}

/// Subject and body of a digest of events that exceeded the hourly budget.
pub fn digest_text(host: &str, events: &[Event]) -> (String, String) {
    let subject = format!("{host}: {} more nfknock events (digest)", events.len());
    let mut body =
        "More events than [notify] max_mails_per_hour allows; here they are together.\n\n"
            .to_string();
    for e in events {
        body += &format!("{}  {}  {}\n", rfc3339(e.time), e.host, e.summary());
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

/// Sends mails one way or another.
pub trait Sender {
    fn send(&self, mail: &Outgoing) -> Result<(), String>;
}

struct Smtp(SmtpTransport);
struct Sendmail(SendmailTransport);

fn envelope(mail: &Outgoing) -> Result<Envelope, String> {
    let from: Address = mail.from.parse().map_err(|e| format!("{e}"))?;
    let to = mail
        .to
        .iter()
        .map(|t| t.parse::<Address>().map_err(|e| format!("{e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| e.to_string())
}

impl Sender for Smtp {
    fn send(&self, mail: &Outgoing) -> Result<(), String> {
        self.0
            .send_raw(&envelope(mail)?, mail.message.as_bytes())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl Sender for Sendmail {
    fn send(&self, mail: &Outgoing) -> Result<(), String> {
        self.0
            .send_raw(&envelope(mail)?, mail.message.as_bytes())
            .map_err(|e| e.to_string())
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
            "port:        27733/tcp",
            "country: ZZ",
            "kernel line:\nnfknock: knock door=ssh",
        ] {
            assert!(body.contains(part), "{part}\n{body}");
        }
        let mail = compose(&notify(), &subject, &body).unwrap();
        assert!(
            mail.message
                .contains("Subject: server1: knock from 192.0.2.2 (door ssh)")
        );
        assert!(mail.message.contains("To: root@localhost"));
    }

    #[test]
    fn digest_lists_every_event() {
        let (subject, body) = digest_text("server1", &[event(), event()]);
        assert_eq!(subject, "server1: 2 more nfknock events (digest)");
        assert_eq!(body.matches("knock from 192.0.2.2").count(), 2);
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
