//! What a mail adds about the source: its name (PTR) and a whois summary.
//! Each lookup runs on its own thread with a deadline, so a slow resolver
//! or whois server delays a mail by at most LOOKUP_TIMEOUT.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::event::printable;
use crate::config::{Event as Kind, Notify};

pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
const WHOIS_PORT: u16 = 43;
/// Whois answers can be long; the summary needs the start.
const WHOIS_MAX: u64 = 64 * 1024;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookups {
    pub reverse_dns: Option<String>,
    pub whois: Option<String>,
}

/// Whether an event's source may be looked up on the network. Not for a
/// reset: it is logged only for a source that was inside a sequence, so a
/// PTR query for it reaching the source's own reverse zone (or a whois
/// query its registry sees) would tell a knocker which candidate knock was
/// right, one at a time. A knock, an entry or a transient acceptance tells
/// the source nothing it does not know.
pub fn worth_asking(kind: Kind) -> bool {
    kind != Kind::Reset
}

/// Both lookups at once, each bounded; what did not answer in time is left out.
pub fn lookup(n: &Notify, addr: IpAddr) -> Lookups {
    let deadline = Instant::now() + LOOKUP_TIMEOUT;
    let dns = n.reverse_dns.then(|| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(dns_lookup::lookup_addr(&addr).ok());
        });
        rx
    });
    let who = n.whois.then(|| {
        let (tx, rx) = mpsc::channel();
        let server = n.whois_server.clone();
        std::thread::spawn(move || {
            let _ = tx.send(whois(&server, addr, deadline).ok());
        });
        rx
    });
    let wait = |rx: Option<mpsc::Receiver<Option<String>>>| {
        rx.and_then(|rx| {
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()
                .flatten()
        })
    };
    Lookups {
        reverse_dns: wait(dns).filter(|name| *name != addr.to_string()),
        whois: wait(who),
    }
}

fn query(server: &str, addr: IpAddr, deadline: Instant) -> std::io::Result<String> {
    let target =
        if server.contains(':') && !server.starts_with('[') && server.matches(':').count() == 1 {
            server.to_string()
        } else {
            format!("{server}:{WHOIS_PORT}")
        };
    let sock = target
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let mut s = TcpStream::connect_timeout(&sock, left)?;
    s.set_read_timeout(Some(left))?;
    s.write_all(format!("{addr}\r\n").as_bytes())?;
    let mut out = String::new();
    s.take(WHOIS_MAX).read_to_string(&mut out)?;
    Ok(out)
}

/// Asks `server`, follows one `refer:` to the registry that knows, and
/// keeps the lines that say who holds the address.
fn whois(server: &str, addr: IpAddr, deadline: Instant) -> std::io::Result<String> {
    let mut answer = query(server, addr, deadline)?;
    if let Some(next) = field(&answer, &["refer", "ReferralServer", "whois"]).and_then(referral)
        && next != server
    {
        answer = query(&format!("{next}:{WHOIS_PORT}"), addr, deadline)?;
    }
    let summary = summarize(&answer);
    if summary.is_empty() {
        Err(std::io::Error::other("nothing useful"))
    } else {
        Ok(summary)
    }
}

/// The host a referral names, when it is one to follow: a host name (not
/// an address, whose last label would be digits), on the whois port. The
/// answer comes from whoever runs the first server, or from the path to
/// it in plain text: it must not send the watcher's query to any
/// `host:port` of its choice.
fn referral(value: &str) -> Option<String> {
    let value = value.trim();
    let value = value.strip_prefix("whois://").unwrap_or(value);
    let value = value.strip_suffix('/').unwrap_or(value);
    let host = match value.rsplit_once(':') {
        Some((host, port)) if port.parse() == Ok(WHOIS_PORT) => host,
        Some(_) => return None,
        None => value,
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let top = host.rsplit('.').next().unwrap_or_default();
    (host.len() <= 253
        && host.contains('.')
        && host.split('.').all(label_ok)
        && top.starts_with(|c: char| c.is_ascii_alphabetic()))
    .then(|| host.to_ascii_lowercase())
}

/// The value of the first of `keys` (in that order of preference) found.
fn field<'a>(text: &'a str, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(key) && !v.trim().is_empty()).then(|| v.trim())
        })
    })
}

/// Organisation, country and network, from the usual RIR field names.
pub fn summarize(answer: &str) -> String {
    let mut out = Vec::new();
    for (label, keys) in [
        (
            "organisation",
            &[
                "OrgName",
                "org-name",
                "organisation",
                "organization",
                "owner",
                "descr",
                "netname",
            ][..],
        ),
        ("country", &["Country", "country"][..]),
        (
            "network",
            &["CIDR", "inetnum", "inet6num", "NetRange", "route"][..],
        ),
    ] {
        if let Some(v) = field(answer, keys) {
            // Printable text only: this goes into a mail.
            let clean: String = v.chars().filter(|c| printable(*c)).take(120).collect();
            out.push(format!("{label}: {clean}"));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarizes_ripe_and_arin_answers() {
        let ripe = "% This is the RIPE Database\ninetnum: 192.0.2.0 - 192.0.2.255\nnetname: TEST-NET-1\ndescr: Documentation\ncountry: ZZ\norg-name: Example Org\n";
        assert_eq!(
            summarize(ripe),
            "organisation: Example Org\ncountry: ZZ\nnetwork: 192.0.2.0 - 192.0.2.255"
        );
        let arin = "NetRange: 198.51.100.0 - 198.51.100.255\nCIDR: 198.51.100.0/24\nOrgName: Example\x07 Inc\nCountry: US\n";
        assert_eq!(
            summarize(arin),
            "organisation: Example Inc\ncountry: US\nnetwork: 198.51.100.0/24"
        );
        assert_eq!(summarize("nothing here"), "");
    }

    #[test]
    fn referrals_go_to_port_43_of_a_host_name_only() {
        for (value, host) in [
            ("whois.ripe.net", Some("whois.ripe.net")),
            ("whois://whois.ripe.net", Some("whois.ripe.net")),
            ("whois://whois.arin.net:43/", Some("whois.arin.net")),
            ("Whois.APNIC.net", Some("whois.apnic.net")),
            ("whois.example.net:25", None),
            ("rwhois://rwhois.example.net:4321", None),
            ("127.0.0.1", None),
            ("127.0.0.1:43", None),
            ("0x7f.1", None),
            ("[::1]:43", None),
            ("localhost", None),
            ("evil.example.net:43:25", None),
            ("evil..example.net", None),
            ("-evil.example.net", None),
            ("evil.example.net\r\nQUIT", None),
            ("", None),
        ] {
            assert_eq!(referral(value).as_deref(), host, "{value:?}");
        }
    }

    #[test]
    fn whois_summaries_lose_invisible_characters() {
        let answer =
            "org-name: Evil\u{202e}gro.elpmaxe\u{200b} Ltd\u{2028}\u{feff}\ncountry: Z\u{2066}Z\n";
        assert_eq!(
            summarize(answer),
            "organisation: Evilgro.elpmaxe Ltd\ncountry: ZZ"
        );
    }

    #[test]
    fn resets_are_never_looked_up() {
        assert!(!worth_asking(Kind::Reset));
        for kind in [Kind::Knock, Kind::Enter, Kind::Transient] {
            assert!(worth_asking(kind));
        }
    }

    #[test]
    fn lookups_that_are_off_do_nothing() {
        let n = Notify {
            whois: false,
            reverse_dns: false,
            ..Notify::default()
        };
        let start = Instant::now();
        assert_eq!(lookup(&n, "192.0.2.2".parse().unwrap()), Lookups::default());
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}
