//! Which ports something listens on here, from /proc/net: `check` warns
//! when a knock port is one of them (a knock there would reach a service).

use std::collections::BTreeSet;

use crate::port::{PortSpec, Proto};

const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

/// Ports with a listening TCP socket or a bound UDP socket.
pub fn listening() -> BTreeSet<PortSpec> {
    let mut out = BTreeSet::new();
    for (file, proto, state) in [
        ("/proc/net/tcp", Proto::Tcp, TCP_LISTEN),
        ("/proc/net/tcp6", Proto::Tcp, TCP_LISTEN),
        ("/proc/net/udp", Proto::Udp, UDP_UNCONNECTED),
        ("/proc/net/udp6", Proto::Udp, UDP_UNCONNECTED),
    ] {
        // A missing file (no IPv6) means no such sockets.
        if let Ok(text) = std::fs::read_to_string(file) {
            out.extend(parse(&text, proto, state));
        }
    }
    out
}

/// Parses one /proc/net/{tcp,udp}[6] table.
pub fn parse(text: &str, proto: Proto, state: &str) -> Vec<PortSpec> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let st = fields.nth(1)?;
            if st != state {
                return None;
            }
            let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            Some(PortSpec::new(port, proto))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_tcp() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D1A2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
";
        assert_eq!(
            parse(text, Proto::Tcp, TCP_LISTEN),
            vec![PortSpec::new(22, Proto::Tcp)]
        );
    }
}
