//! Port specifications: `22/tcp`, `53/udp`, a bare `22` (TCP), the
//! original nfknock's `t:22` / `u:53` and knockd's client's `53:udp`.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One port of one protocol: a door, a knock or an open service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortSpec {
    pub port: u16,
    pub proto: Proto,
}

impl PortSpec {
    pub fn new(port: u16, proto: Proto) -> PortSpec {
        PortSpec { port, proto }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid port `{0}`: expected PORT, PORT/tcp, PORT/udp, PORT:tcp, PORT:udp, t:PORT or u:PORT with PORT from 1 to 65535"
)]
pub struct ParsePortError(pub String);

impl FromStr for PortSpec {
    type Err = ParsePortError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParsePortError(s.to_string());
        let lower = s.trim().to_ascii_lowercase();
        let (number, proto) = if let Some(n) = lower.strip_prefix("t:") {
            (n, Proto::Tcp)
        } else if let Some(n) = lower.strip_prefix("u:") {
            (n, Proto::Udp)
        } else if let Some((n, p)) = lower.split_once(['/', ':']) {
            match p {
                "tcp" => (n, Proto::Tcp),
                "udp" => (n, Proto::Udp),
                _ => return Err(bad()),
            }
        } else {
            (lower.as_str(), Proto::Tcp)
        };
        // Digits only: u16::from_str would accept a leading `+`.
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match number.parse::<u16>() {
            Ok(port) if port != 0 => Ok(PortSpec { port, proto }),
            _ => Err(bad()),
        }
    }
}

impl Serialize for PortSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Accepts a string (`"22/tcp"`) or an integer (`22`, meaning TCP).
impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl Visitor<'_> for PortVisitor {
            type Value = PortSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port such as \"22/tcp\", \"53/udp\" or 22")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortSpec, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortSpec, E> {
                match u16::try_from(v) {
                    Ok(port) if port != 0 => Ok(PortSpec::new(port, Proto::Tcp)),
                    _ => Err(E::custom(ParsePortError(v.to_string()))),
                }
            }
        }
        d.deserialize_any(PortVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<PortSpec, ParsePortError> {
        s.parse()
    }

    #[test]
    fn accepts_every_documented_form() {
        assert_eq!(p("22/tcp"), Ok(PortSpec::new(22, Proto::Tcp)));
        assert_eq!(p("53/udp"), Ok(PortSpec::new(53, Proto::Udp)));
        assert_eq!(p("22"), Ok(PortSpec::new(22, Proto::Tcp)));
        assert_eq!(p("t:2222"), Ok(PortSpec::new(2222, Proto::Tcp)));
        assert_eq!(p("U:65535"), Ok(PortSpec::new(65535, Proto::Udp)));
        assert_eq!(p("443/TCP"), Ok(PortSpec::new(443, Proto::Tcp)));
        // knockd's client.
        assert_eq!(p("7000:udp"), Ok(PortSpec::new(7000, Proto::Udp)));
        assert_eq!(p("8000:TCP"), Ok(PortSpec::new(8000, Proto::Tcp)));
    }

    #[test]
    fn rejects_out_of_range_and_junk() {
        for bad in [
            "0",
            "65536",
            "22/sctp",
            "",
            "t:",
            "+22",
            "-1",
            "22/",
            "x:22",
            "2 2",
            "22:",
            "22:t",
            "t:22:udp",
            "22/tcp:udp",
        ] {
            assert!(p(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(p("u:53").unwrap().to_string(), "53/udp");
    }
}
