//! Kernel log lines into events. Pure: the journal and mail sit elsewhere.
//!
//! A line nfknock's rules write looks like
//! `nfknock: knock door=ssh IN=eth0 OUT= MAC=... SRC=192.0.2.2 DST=192.0.2.1
//! ... PROTO=TCP SPT=41234 DPT=27733 ...`: the prefix of `firewall::log_prefix`,
//! then the kernel's own `KEY=value` words. Anything else is not an event.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::config::Event as Kind;

/// One thing nfknock's rules logged.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub kind: Kind,
    pub door: Option<String>,
    pub source: IpAddr,
    pub destination: Option<IpAddr>,
    pub protocol: Option<String>,
    pub source_port: Option<u16>,
    pub destination_port: Option<u16>,
    pub interface: Option<String>,
    /// The host whose kernel logged it (`_HOSTNAME`).
    pub host: String,
    pub time: SystemTime,
    /// The kernel's line, as logged.
    pub line: String,
}

/// Why a line with nfknock's prefix is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("unknown event `{0}`")]
    Kind(String),
    #[error("missing or invalid door=")]
    Door,
    #[error("missing or invalid SRC=")]
    Source,
    #[error("invalid {0}=")]
    Field(&'static str),
}

/// Parses one kernel message. `None`: not nfknock's (another prefix);
/// `Some(Err)`: nfknock's prefix but not a line its rules write.
pub fn parse(
    message: &str,
    prefix: &str,
    host: &str,
    time: SystemTime,
) -> Option<Result<Event, Malformed>> {
    let rest = message.strip_prefix(prefix)?.strip_prefix(": ")?;
    Some(parse_rest(rest, host, time, message))
}

fn parse_rest(rest: &str, host: &str, time: SystemTime, line: &str) -> Result<Event, Malformed> {
    let mut words = rest.split_ascii_whitespace().peekable();
    let kind = match words.next().unwrap_or_default() {
        "knock" => Kind::Knock,
        "enter" => Kind::Enter,
        "reset" => Kind::Reset,
        "transient" => Kind::Transient,
        other => return Err(Malformed::Kind(truncate(other))),
    };
    let door = if kind == Kind::Transient {
        None
    } else {
        let name = words
            .next()
            .and_then(|w| w.strip_prefix("door="))
            .filter(|n| crate::config::valid_door_name(n))
            .ok_or(Malformed::Door)?;
        Some(name.to_string())
    };
    let mut e = Event {
        kind,
        door,
        source: IpAddr::from([0, 0, 0, 0]),
        destination: None,
        protocol: None,
        source_port: None,
        destination_port: None,
        interface: None,
        host: clean_host(host),
        time,
        // Printable text only: the line goes into a mail.
        line: line
            .trim_end()
            .chars()
            .map(|c| if printable(c) { c } else { '?' })
            .collect(),
    };
    let mut source = None;
    for w in words {
        let Some((key, value)) = w.split_once('=') else {
            continue;
        };
        match key {
            "SRC" => source = value.parse::<IpAddr>().ok(),
            "DST" => e.destination = Some(value.parse().map_err(|_| Malformed::Field("DST"))?),
            "PROTO" if value.bytes().all(|b| b.is_ascii_alphanumeric()) && !value.is_empty() => {
                e.protocol = Some(value.to_ascii_uppercase())
            }
            "PROTO" => return Err(Malformed::Field("PROTO")),
            "SPT" => e.source_port = Some(value.parse().map_err(|_| Malformed::Field("SPT"))?),
            "DPT" => e.destination_port = Some(value.parse().map_err(|_| Malformed::Field("DPT"))?),
            "IN" if !value.is_empty() => {
                if !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-@:".contains(&b))
                    || value.len() > 15
                {
                    return Err(Malformed::Field("IN"));
                }
                e.interface = Some(value.to_string())
            }
            _ => {}
        }
    }
    e.source = source.ok_or(Malformed::Source)?;
    Ok(e)
}

/// Whether a character may go into a mail as it is: not a control
/// character, and not one of Unicode's invisible format characters (the
/// bidirectional overrides such as U+202E turn text around on screen;
/// zero-width ones hide in it) or line separators.
pub fn printable(c: char) -> bool {
    !c.is_control()
        && !matches!(c,
            '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}')
}

/// A host name fit for a mail subject: letters, digits, dots and dashes.
fn clean_host(host: &str) -> String {
    let clean: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .take(64)
        .collect();
    if clean.is_empty() {
        "unknown-host".into()
    } else {
        clean
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

impl Event {
    /// `knock from 192.0.2.2 (door ssh)`: what a subject line says.
    pub fn summary(&self) -> String {
        let door = self.door.as_deref().unwrap_or("?");
        match self.kind {
            Kind::Knock => format!("knock from {} (door {door})", self.source),
            Kind::Enter => format!("{} entered door {door}", self.source),
            Kind::Reset => format!("knock sequence reset by {} (door {door})", self.source),
            Kind::Transient => match self.destination_port {
                Some(p) => format!("transient network: {} connected to port {p}", self.source),
                None => format!("transient network: {} connected", self.source),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: SystemTime = SystemTime::UNIX_EPOCH;

    fn p(line: &str) -> Option<Result<Event, Malformed>> {
        parse(line, "nfknock", "server1", T)
    }

    #[test]
    fn parses_a_knock() {
        let e = p("nfknock: knock door=ssh IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC=192.0.2.2 DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=41234 DPT=27733 WINDOW=64240 RES=0x00 SYN URGP=0 ")
            .unwrap()
            .unwrap();
        assert_eq!(e.kind, Kind::Knock);
        assert_eq!(e.door.as_deref(), Some("ssh"));
        assert_eq!(e.source.to_string(), "192.0.2.2");
        assert_eq!(e.destination.unwrap().to_string(), "192.0.2.1");
        assert_eq!(e.protocol.as_deref(), Some("TCP"));
        assert_eq!(
            (e.source_port, e.destination_port),
            (Some(41234), Some(27733))
        );
        assert_eq!(e.interface.as_deref(), Some("eth0"));
        assert_eq!(e.host, "server1");
        assert!(!e.line.ends_with(' '));
        assert_eq!(e.summary(), "knock from 192.0.2.2 (door ssh)");
    }

    #[test]
    fn compresses_ipv6_addresses() {
        let e = p("nfknock: enter door=a-b IN=eth0 OUT= SRC=2001:0db8:0000:0000:0000:0000:0000:0002 DST=2001:0db8:0000:0000:0000:0000:0000:0001 LEN=80 PROTO=TCP SPT=1 DPT=22")
            .unwrap()
            .unwrap();
        assert_eq!(e.source.to_string(), "2001:db8::2");
        assert_eq!(e.destination.unwrap().to_string(), "2001:db8::1");
    }

    #[test]
    fn transient_has_no_door() {
        let e =
            p("nfknock: transient IN=eth0 SRC=198.51.100.7 DST=192.0.2.1 PROTO=UDP SPT=5 DPT=53")
                .unwrap()
                .unwrap();
        assert_eq!(e.door, None);
        assert_eq!(
            e.summary(),
            "transient network: 198.51.100.7 connected to port 53"
        );
    }

    #[test]
    fn other_prefixes_are_not_ours() {
        assert!(p("nfknockx: knock door=ssh SRC=192.0.2.2").is_none());
        assert!(p("ufw: BLOCK SRC=192.0.2.2").is_none());
        assert!(p("").is_none());
    }

    #[test]
    fn hostile_lines_are_rejected_not_trusted() {
        let bad = [
            (
                "nfknock: party door=ssh SRC=192.0.2.2",
                Malformed::Kind("party".into()),
            ),
            ("nfknock: knock SRC=192.0.2.2", Malformed::Door),
            ("nfknock: knock door=ssh;rm SRC=192.0.2.2", Malformed::Door),
            (
                "nfknock: knock door=$(reboot) SRC=192.0.2.2",
                Malformed::Door,
            ),
            ("nfknock: knock door=ssh", Malformed::Source),
            ("nfknock: knock door=ssh SRC=`id`", Malformed::Source),
            ("nfknock: knock door=ssh SRC=999.1.1.1", Malformed::Source),
            (
                "nfknock: knock door=ssh SRC=192.0.2.2 DPT=70000",
                Malformed::Field("DPT"),
            ),
            (
                "nfknock: knock door=ssh SRC=192.0.2.2 IN=a\u{0}b",
                Malformed::Field("IN"),
            ),
            ("nfknock: ", Malformed::Kind(String::new())),
        ];
        for (line, why) in bad {
            assert_eq!(p(line), Some(Err(why)), "{line:?}");
        }
        let e = p("nfknock: knock door=ssh SRC=192.0.2.2 PROTO=TCP\r\nBcc: x")
            .unwrap()
            .unwrap();
        assert_eq!(
            e.line,
            "nfknock: knock door=ssh SRC=192.0.2.2 PROTO=TCP??Bcc: x"
        );
        let e = p("nfknock: knock door=ssh SRC=192.0.2.2 X=\u{202e}gnp.exe\u{200b}")
            .unwrap()
            .unwrap();
        assert_eq!(e.line, "nfknock: knock door=ssh SRC=192.0.2.2 X=?gnp.exe?");
        let long = format!(
            "nfknock: knock door=ssh SRC=192.0.2.2 {}",
            "A=".repeat(100_000)
        );
        assert!(p(&long).unwrap().is_ok());
    }

    #[test]
    fn host_names_are_cleaned() {
        let e = parse(
            "nfknock: knock door=ssh SRC=192.0.2.2",
            "nfknock",
            "evil\r\nBcc: x",
            T,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.host, "evilBccx");
    }
}
