//! Which kernel log lines are this host's own. The kernel log does not say
//! which network namespace a packet log came from, and with
//! `net.netfilter.nf_log_all_netns=1` every namespace's logs reach it: any
//! user may make a user and network namespace, log a line with nfknock's
//! prefix there and send it a packet. So a line counts only when it could
//! be of the watcher's own namespace: its interface (`IN=`) exists here and
//! is not loopback (nfknock's rules never log loopback), and its
//! destination (`DST=`) is one of the addresses here. This stops a forger
//! who does not know or cannot copy this host's interface names and
//! addresses; one who copies them exactly is stopped only by
//! `nf_log_all_netns=0`, hence the warning at start.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::event::Event;

/// The sysctl that lets every namespace's packet logs into the kernel log.
pub const ALL_NETNS_SYSCTL: &str = "/proc/sys/net/netfilter/nf_log_all_netns";

/// The interfaces and local addresses of the watcher's network namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Local {
    interfaces: HashSet<String>,
    /// IPv4: local address and prefix length (`127.0.0.0/8` is local as a
    /// whole); IPv6: one address each, length 128.
    addresses: Vec<(IpAddr, u8)>,
}

/// Why a line is not of this namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Foreign {
    #[error("it names no interface (IN=)")]
    NoInterface,
    #[error("it came in on loopback, which nfknock's rules never log")]
    Loopback,
    #[error("its interface {0} does not exist in this network namespace")]
    Interface(String),
    #[error("it names no destination (DST=)")]
    NoDestination,
    #[error("its destination {0} is not an address of this network namespace")]
    Destination(IpAddr),
}

impl Local {
    /// Reads them from `/proc/self/net`, which shows the namespace of the
    /// reading process whatever `/proc` or `/sys` are mounted from.
    pub fn read() -> std::io::Result<Local> {
        let read = |name: &str| std::fs::read_to_string(format!("/proc/self/net/{name}"));
        // No IPv6 (disabled): no if_inet6.
        let inet6 = match read("if_inet6") {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            other => other?,
        };
        Ok(Local::parse(&read("dev")?, &inet6, &read("fib_trie")?))
    }

    /// From the texts of `/proc/net/dev`, `/proc/net/if_inet6` and
    /// `/proc/net/fib_trie`.
    pub fn parse(dev: &str, if_inet6: &str, fib_trie: &str) -> Local {
        let interfaces = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split_once(':'))
            .map(|(name, _)| name.trim().to_string())
            .collect();
        let mut addresses: Vec<(IpAddr, u8)> = if_inet6
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter_map(|hex| u128::from_str_radix(hex, 16).ok())
            .map(|n| (IpAddr::V6(Ipv6Addr::from(n)), 128))
            .collect();
        // `|-- 192.0.2.1` then, below it, `/32 host LOCAL`.
        let mut last: Option<Ipv4Addr> = None;
        for line in fib_trie.lines() {
            let line = line.trim();
            if let Some(addr) = line.strip_prefix("|-- ") {
                last = addr.parse().ok();
            } else if let (Some(addr), Some(rest)) = (last, line.strip_prefix('/'))
                && rest.ends_with(" host LOCAL")
                && let Some(Ok(len)) = rest.split_whitespace().next().map(str::parse::<u8>)
                && !addresses.contains(&(IpAddr::V4(addr), len))
            {
                addresses.push((IpAddr::V4(addr), len.min(32)));
            }
        }
        Local {
            interfaces,
            addresses,
        }
    }

    fn is_local(&self, addr: IpAddr) -> bool {
        self.addresses.iter().any(|(a, len)| match (a, addr) {
            (IpAddr::V4(a), IpAddr::V4(d)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                u32::from(*a) & mask == u32::from(d) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(d)) => *a == d,
            _ => false,
        })
    }

    /// Whether `e` can be of this namespace.
    pub fn check(&self, e: &Event) -> Result<(), Foreign> {
        let interface = e.interface.as_deref().ok_or(Foreign::NoInterface)?;
        if interface == "lo" {
            return Err(Foreign::Loopback);
        }
        if !self.interfaces.contains(interface) {
            return Err(Foreign::Interface(interface.to_string()));
        }
        let destination = e.destination.ok_or(Foreign::NoDestination)?;
        if destination.is_loopback() {
            return Err(Foreign::Loopback);
        }
        if !self.is_local(destination) {
            return Err(Foreign::Destination(destination));
        }
        Ok(())
    }
}

/// What `nf_log_all_netns` says: `Some(true)` when every namespace's
/// packet logs reach the kernel log; `None` when it cannot be read (the
/// file exists only in the host's first network namespace).
pub fn all_netns_logged() -> Option<bool> {
    std::fs::read_to_string(ALL_NETNS_SYSCTL)
        .ok()
        .map(|v| v.trim() != "0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    const DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0:     180       2    0    0    0     0          0         0      286       3    0    0    0     0       0          0
";
    const INET6: &str = "fe80000000000000401fb2fffe4e17b4 03 40 20 c0     eth0
20010db8000000000000000000000001 03 40 00 82     eth0
00000000000000000000000000000001 01 80 10 80       lo
";
    const FIB: &str = "Main:
  +-- 0.0.0.0/0 2 0 2
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.2.0/24 2 0 2
        +-- 192.0.2.0/28 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.1
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 2 0 2
           |-- 192.0.2.1
              /32 host LOCAL
";

    fn line(rest: &str) -> Event {
        super::super::event::parse(
            &format!("nfknock: knock door=ssh {rest}"),
            "nfknock",
            "server1",
            SystemTime::UNIX_EPOCH,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn only_lines_of_this_namespace_count() {
        let local = Local::parse(DEV, INET6, FIB);
        let ok = [
            "IN=eth0 OUT= SRC=192.0.2.2 DST=192.0.2.1 PROTO=TCP DPT=22",
            "IN=eth0 OUT= SRC=2001:db8::2 DST=2001:0db8:0000:0000:0000:0000:0000:0001",
        ];
        for l in ok {
            assert_eq!(local.check(&line(l)), Ok(()), "{l}");
        }
        let bad = [
            ("SRC=192.0.2.2 DST=192.0.2.1", Foreign::NoInterface),
            ("IN=lo SRC=127.0.0.1 DST=127.0.0.1", Foreign::Loopback),
            ("IN=eth0 SRC=192.0.2.2 DST=127.0.0.1", Foreign::Loopback),
            (
                "IN=veth7 SRC=192.0.2.2 DST=192.0.2.1",
                Foreign::Interface("veth7".into()),
            ),
            ("IN=eth0 SRC=192.0.2.2", Foreign::NoDestination),
            (
                "IN=eth0 SRC=192.0.2.3 DST=192.0.2.2",
                Foreign::Destination("192.0.2.2".parse().unwrap()),
            ),
            (
                "IN=eth0 SRC=192.0.2.3 DST=192.0.2.255",
                Foreign::Destination("192.0.2.255".parse().unwrap()),
            ),
            (
                "IN=eth0 SRC=2001:db8::3 DST=2001:db8::2",
                Foreign::Destination("2001:db8::2".parse().unwrap()),
            ),
        ];
        for (l, why) in bad {
            assert_eq!(local.check(&line(l)), Err(why), "{l}");
        }
    }

    #[test]
    fn reads_its_own_namespace() {
        let local = Local::read().unwrap();
        assert!(local.interfaces.contains("lo"), "{local:?}");
    }
}
