//! The knock client: sends a sequence to a host. No root needed: a TCP
//! knock is the SYN of a non-blocking connect that is abandoned before any
//! retransmission, a UDP knock one small datagram.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::port::{PortRange, PortSpec, Proto};

/// Short enough for a 4-knock sequence well under 100 ms, long enough that
/// the knocks arrive in order.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(20);
/// What a UDP knock carries: one byte, nothing a service would act on.
const UDP_PAYLOAD: &[u8] = b"\0";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot resolve `{host}`: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot send knock {knock} to {addr}: {source}")]
    Send {
        knock: PortSpec,
        addr: IpAddr,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {reason}")]
    Hosts { path: PathBuf, reason: String },
    #[error("{path}: {}", problems.join("; "))]
    HostsInvalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyChoice {
    Any,
    V4,
    V6,
}

/// The addresses to knock on: the first address of each family `host`
/// has (the first the resolver returns, which follows the system's address
/// preference), in the resolver's order. A name with A and AAAA records
/// gets both knocked, so whichever family ssh then uses finds the door
/// open; `-4`/`-6` keep one.
pub fn resolve_families(host: &str, family: FamilyChoice) -> Result<Vec<IpAddr>, Error> {
    let mut first = Vec::new();
    for a in resolve_all(host, family)? {
        if !first.iter().any(|f: &IpAddr| f.is_ipv4() == a.is_ipv4()) {
            first.push(a);
        }
    }
    Ok(first)
}

/// Every address of `host` of the chosen family, in the resolver's order
/// (the order ssh tries them in), without duplicates; never empty.
pub fn resolve_all(host: &str, family: FamilyChoice) -> Result<Vec<IpAddr>, Error> {
    let err = |reason: String| Error::Resolve {
        host: host.to_string(),
        reason,
    };
    // A literal IPv6 address may come in brackets, as in URLs.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs: Vec<IpAddr> = Vec::new();
    for a in (bare, 0)
        .to_socket_addrs()
        .map_err(|e| err(e.to_string()))?
    {
        let a = a.ip();
        let wanted = match family {
            FamilyChoice::Any => true,
            FamilyChoice::V4 => a.is_ipv4(),
            FamilyChoice::V6 => a.is_ipv6(),
        };
        if wanted && !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    if addrs.is_empty() {
        return Err(err(match family {
            FamilyChoice::V4 => "no IPv4 address".into(),
            FamilyChoice::V6 => "no IPv6 address".into(),
            FamilyChoice::Any => "no address".into(),
        }));
    }
    Ok(addrs)
}

/// Whether `host` is this machine: every address it resolves to is a
/// loopback address or one of this host's own (the kernel routes it to
/// itself: the source it picks to reach it is that very address; a UDP
/// connect sends nothing). Only for this host's own names may the knock
/// client send the sequences of the local config uninvited.
pub fn is_this_host(host: &str) -> bool {
    let Ok(addrs) = resolve_all(host, FamilyChoice::Any) else {
        return false;
    };
    addrs.iter().all(|a| {
        let any: IpAddr = if a.is_ipv4() {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        };
        a.is_loopback()
            || std::net::UdpSocket::bind((any, 0))
                .and_then(|s| s.connect((*a, 9)).and_then(|()| s.local_addr()))
                .is_ok_and(|l| !a.is_unspecified() && l.ip() == *a)
    })
}

/// Sends the knocks in order, `delay` apart.
pub fn knock(addr: IpAddr, sequence: &[PortSpec], delay: Duration) -> Result<(), Error> {
    for (i, k) in sequence.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(delay);
        }
        send(SocketAddr::new(addr, k.port), k.proto).map_err(|source| Error::Send {
            knock: *k,
            addr,
            source,
        })?;
    }
    Ok(())
}

/// Knocks on each address in turn (one per family, from
/// [`resolve_families`]). One that cannot be reached (no IPv6 route, say)
/// is fine as long as another one was knocked; `log` hears about each.
pub fn knock_each(
    addrs: &[IpAddr],
    sequence: &[PortSpec],
    delay: Duration,
    log: impl Fn(String),
) -> Result<(), Error> {
    let knocks: Vec<String> = sequence.iter().map(|k| k.to_string()).collect();
    let mut failed = Vec::new();
    for &addr in addrs {
        log(format!("knocking on {addr}: {}", knocks.join(" ")));
        if let Err(e) = knock(addr, sequence, delay) {
            log(e.to_string());
            failed.push(e);
        }
    }
    if !addrs.is_empty() && failed.len() == addrs.len() {
        return Err(failed.swap_remove(0));
    }
    Ok(())
}

fn send(to: SocketAddr, proto: Proto) -> std::io::Result<()> {
    match proto {
        Proto::Tcp => {
            let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_nonblocking(true)?;
            match socket.connect(&SockAddr::from(to)) {
                Ok(()) => {}
                // The SYN is on its way; the socket is dropped (closed)
                // right after, so the kernel never retransmits it.
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                // A reset arriving before we return is also fine.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
            Ok(())
        }
        Proto::Udp => {
            let bind: SocketAddr = match to {
                SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("literal"),
                SocketAddr::V6(_) => "[::]:0".parse().expect("literal"),
            };
            let socket = UdpSocket::bind(bind)?;
            socket.send_to(UDP_PAYLOAD, to)?;
            Ok(())
        }
    }
}

/// `~/.config/nfknock/hosts.toml`: knock sequences per host, for clients
/// that have no server config. One table per host name (as typed on the
/// command line), one key per door:
///
/// ```toml
/// ["server.example.org"]
/// ssh = ["48211/tcp", "9143/udp", "27733/tcp"]
/// ```
///
/// With its port too, so that `nfknock connect HOST PORT` finds the door
/// by its port (`ssh = { port = "22/tcp", sequence = [...] }`). A door
/// with a rotating sequence names its secret instead:
///
/// ```toml
/// ["server.example.org"]
/// ssh = { port = "22/tcp", secret_file = "~/.config/nfknock/ssh.secret", period = "60s", length = 4 }
/// ```
pub type Hosts = BTreeMap<String, BTreeMap<String, HostDoor>>;

#[derive(Debug, Clone, PartialEq)]
pub enum HostDoor {
    Fixed(Vec<PortSpec>),
    OnPort(HostFixed),
    Rotating(HostRotate),
}

/// By shape, so that a bad port in a list is reported as such.
impl<'de> serde::Deserialize<'de> for HostDoor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let v = toml::Value::deserialize(d)?;
        match v {
            toml::Value::Array(_) => Vec::<PortSpec>::deserialize(v)
                .map(HostDoor::Fixed)
                .map_err(D::Error::custom),
            toml::Value::Table(ref t) if t.contains_key("sequence") => HostFixed::deserialize(v)
                .map(HostDoor::OnPort)
                .map_err(D::Error::custom),
            toml::Value::Table(_) => HostRotate::deserialize(v)
                .map(HostDoor::Rotating)
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "a door is a list of ports, { port, sequence } or { port, secret_file, period, length }",
            )),
        }
    }
}

/// A fixed sequence with the door's port.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFixed {
    /// The door's port, or its ports and ranges (as in the server's config).
    #[serde(deserialize_with = "crate::port::one_or_many")]
    pub port: Vec<PortRange>,
    pub sequence: Vec<PortSpec>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRotate {
    /// The door's hidden port, or its ports and ranges: the first is part
    /// of what the sequence is derived from, the others are avoided.
    #[serde(deserialize_with = "crate::port::one_or_many")]
    pub port: Vec<PortRange>,
    /// The server's other door ports and open ports, which its knocks
    /// avoid (as the server's config makes them).
    #[serde(default)]
    pub avoid: Vec<PortSpec>,
    pub secret_file: PathBuf,
    pub period: String,
    #[serde(default = "default_length")]
    pub length: usize,
}

fn default_length() -> usize {
    crate::rotate::DEFAULT_LENGTH
}

impl HostDoor {
    /// The door's hidden ports, as far as the entry says them.
    pub fn ports(&self) -> &[PortRange] {
        match self {
            HostDoor::Fixed(_) => &[],
            HostDoor::OnPort(f) => &f.port,
            HostDoor::Rotating(r) => &r.port,
        }
    }

    /// Whether `port` is one of the door's, by what the entry says.
    pub fn is_on(&self, port: PortSpec) -> bool {
        self.ports().iter().any(|r| r.contains(port))
    }

    /// The sequence to knock now.
    pub fn sequence(&self, door: &str, now: u64) -> Result<Vec<PortSpec>, String> {
        match self {
            HostDoor::Fixed(seq) => Ok(seq.clone()),
            HostDoor::OnPort(f) => Ok(f.sequence.clone()),
            HostDoor::Rotating(r) => {
                let period = crate::config::parse_duration(&r.period)?;
                let problems = crate::rotate::rotate_problems(period, r.length);
                if !problems.is_empty() {
                    return Err(problems.join("; "));
                }
                let Some(first) = r.port.first() else {
                    return Err("port: an empty list: give at least one port".to_string());
                };
                let secret = crate::rotate::read_secret(&expand_home(&r.secret_file))?;
                let n = crate::rotate::period_index(now, period);
                // As the server: the door's other ports are avoided.
                let avoid: Vec<PortSpec> = (r.port.iter().flat_map(PortRange::ports))
                    .filter(|p| *p != first.first())
                    .chain(r.avoid.iter().copied())
                    .collect();
                Ok(crate::rotate::derive(
                    &secret,
                    door,
                    first.first(),
                    &avoid,
                    n,
                    r.length,
                ))
            }
        }
    }
}

/// `~/x` in the client file means the user's home.
fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// The default client file: `$XDG_CONFIG_HOME/nfknock/hosts.toml` or
/// `~/.config/nfknock/hosts.toml`.
pub fn hosts_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("nfknock").join("hosts.toml"))
}

/// Everything wrong with the client file, by the rules of the config: a
/// fixed sequence as `config::sequence_problems` says (an empty list is an
/// error, not a silent knock of nothing), a rotating door's period and
/// length as `rotate::rotate_problems` says.
pub fn hosts_problems(hosts: &Hosts) -> Vec<String> {
    let mut problems = Vec::new();
    for (host, doors) in hosts {
        for (door, entry) in doors {
            let at = format!("host \"{host}\", door \"{door}\"");
            if !entry.ports().is_empty() || !matches!(entry, HostDoor::Fixed(_)) {
                // The rules of a door's ports in the server's config.
                let ports = crate::config::DoorPorts::new(entry.ports().to_vec());
                for p in ports.err().unwrap_or_default() {
                    problems.push(format!("{at}: port: {p}"));
                }
            }
            match entry {
                HostDoor::Fixed(seq) => {
                    for p in crate::config::sequence_problems(seq, &Default::default()) {
                        problems.push(format!("{at}: sequence: {p}"));
                    }
                }
                HostDoor::OnPort(f) => {
                    let reserved = (f.port.iter().flat_map(PortRange::ports))
                        .map(|p| (p, "the door's port".to_string()))
                        .collect();
                    for p in crate::config::sequence_problems(&f.sequence, &reserved) {
                        problems.push(format!("{at}: sequence: {p}"));
                    }
                }
                HostDoor::Rotating(r) => match crate::config::parse_duration(&r.period) {
                    Ok(period) => {
                        for p in crate::rotate::rotate_problems(period, r.length) {
                            problems.push(format!("{at}: {p}"));
                        }
                    }
                    Err(e) => problems.push(format!("{at}: period: {e}")),
                },
            }
        }
    }
    problems
}

/// Reads and checks the client file; a missing file is an empty one.
pub fn load_hosts(path: &Path) -> Result<Hosts, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Hosts::new()),
        Err(e) => {
            return Err(Error::Hosts {
                path: path.into(),
                reason: e.to_string(),
            });
        }
    };
    let hosts: Hosts = toml::from_str(&text).map_err(|e| Error::Hosts {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let problems = hosts_problems(&hosts);
    if !problems.is_empty() {
        return Err(Error::HostsInvalid {
            path: path.into(),
            problems,
        });
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.toml");
        std::fs::write(
            &path,
            "[\"server.example.org\"]\nssh = [\"48211/tcp\", \"u:9143\", 27733]\n",
        )
        .unwrap();
        let hosts = load_hosts(&path).unwrap();
        let seq = hosts["server.example.org"]["ssh"]
            .sequence("ssh", 0)
            .unwrap();
        assert_eq!(seq[1], PortSpec::new(9143, Proto::Udp));
        assert_eq!(seq[2], PortSpec::new(27733, Proto::Tcp));
        assert!(hosts["server.example.org"]["ssh"].ports().is_empty());
        std::fs::write(
            &path,
            "[\"h\"]\nweb = { port = \"8443/tcp\", sequence = [\"31337/udp\", 4242, \"50505/udp\"] }\n",
        )
        .unwrap();
        let hosts = load_hosts(&path).unwrap();
        let web = &hosts["h"]["web"];
        assert!(web.is_on(PortSpec::new(8443, Proto::Tcp)));
        assert!(!web.is_on(PortSpec::new(8443, Proto::Udp)));
        // A door of several ports, as in the server's config.
        std::fs::write(
            &path,
            "[\"h\"]\nweb = { port = [\"8443/tcp\", \"60000-61000/udp\"], sequence = [\"31337/udp\", 4242, \"50505/udp\"] }\n",
        )
        .unwrap();
        let hosts = load_hosts(&path).unwrap();
        assert!(hosts["h"]["web"].is_on(PortSpec::new(60500, Proto::Udp)));
        assert!(!hosts["h"]["web"].is_on(PortSpec::new(61001, Proto::Udp)));
        std::fs::write(
            &path,
            "[\"h\"]\nbad = { port = [], sequence = [\"31337/udp\", 4242, \"50505/udp\"] }\n\
             clash = { port = [\"4000-5000\"], sequence = [\"31337/udp\", 4242, \"50505/udp\"] }\n",
        )
        .unwrap();
        let problems = load_hosts(&path).unwrap_err().to_string();
        assert!(
            problems.contains("host \"h\", door \"bad\": port: an empty list"),
            "{problems}"
        );
        assert!(
            problems.contains("door \"clash\": sequence: knock 4242/tcp is the door's port"),
            "{problems}"
        );
        assert_eq!(
            web.sequence("web", 0).unwrap()[1],
            PortSpec::new(4242, Proto::Tcp)
        );
        assert!(
            load_hosts(&dir.path().join("none.toml"))
                .unwrap()
                .is_empty()
        );
        std::fs::write(&path, "[\"x\"]\nssh = [\"99999\"]\n").unwrap();
        assert!(
            load_hosts(&path)
                .unwrap_err()
                .to_string()
                .contains("invalid port")
        );
    }

    #[test]
    fn hosts_sequences_are_validated_like_the_configs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.toml");
        for (text, problem) in [
            (
                "ssh = []",
                "host \"h\", door \"ssh\": sequence: missing or empty",
            ),
            (
                "ssh = [1001, 2002]",
                "sequence: 2 knocks; at least 3 are needed",
            ),
            ("ssh = [1001, 1002, 1003]", "a port scanner walks it"),
            (
                "ssh = [1001, 1001, 2002]",
                "knock 1001/tcp is repeated back to back",
            ),
            (
                "ssh = { port = 22, secret_file = \"s\", period = \"soon\" }",
                "door \"ssh\": period: ",
            ),
        ] {
            std::fs::write(&path, format!("[\"h\"]\n{text}\n")).unwrap();
            let e = load_hosts(&path).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{}: ", path.display())), "{e}");
            assert!(e.contains(problem), "{text}: {e}");
        }
        std::fs::write(
            &path,
            "[\"h\"]\nssh = { port = 22, sequence = [1001, 22, 3003] }\n",
        )
        .unwrap();
        let e = load_hosts(&path).unwrap_err().to_string();
        assert!(
            e.contains("sequence: knock 22/tcp is the door's port"),
            "{e}"
        );
        std::fs::write(&path, "[\"h\"]\nssh = [\"1001:tcp\", \"U:2002\", 3003]\n").unwrap();
        assert!(load_hosts(&path).is_ok());
    }

    #[test]
    fn rotating_hosts_entry_derives_the_servers_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("s");
        std::fs::write(&secret, "0123456789abcdef0123\n").unwrap();
        let path = dir.path().join("hosts.toml");
        std::fs::write(
            &path,
            format!(
                "[\"h\"]\nssh = {{ port = \"22/tcp\", secret_file = \"{}\", period = \"60s\" }}\n",
                secret.display()
            ),
        )
        .unwrap();
        let hosts = load_hosts(&path).unwrap();
        let seq = hosts["h"]["ssh"].sequence("ssh", 1_800_000_000).unwrap();
        let want = crate::rotate::derive(
            b"0123456789abcdef0123",
            "ssh",
            PortSpec::new(22, Proto::Tcp),
            &[],
            30_000_000,
            4,
        );
        assert_eq!(seq, want);
    }

    #[test]
    fn resolves_literals_per_family() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            resolve_families("192.0.2.1", FamilyChoice::Any).unwrap(),
            [v4]
        );
        assert_eq!(
            resolve_families("[2001:db8::1]", FamilyChoice::V6).unwrap(),
            [v6]
        );
        assert!(resolve_families("192.0.2.1", FamilyChoice::V6).is_err());
        assert!(resolve_all("[2001:db8::1]", FamilyChoice::V4).is_err());
    }

    #[test]
    fn localhost_is_knocked_once_per_family() {
        // A second address of one family is never knocked.
        let addrs = resolve_families("localhost", FamilyChoice::Any).unwrap();
        assert!(!addrs.is_empty() && addrs.len() <= 2);
        assert!(addrs.len() < 2 || addrs[0].is_ipv4() != addrs[1].is_ipv4());
    }
}
