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

/// Splits `22/tcp`, `t:22`, `22:udp` or a bare `22` (TCP) into the
/// number part and the protocol; `None` for an unknown protocol.
fn split_proto(lower: &str) -> Option<(&str, Proto)> {
    if let Some(n) = lower.strip_prefix("t:") {
        Some((n, Proto::Tcp))
    } else if let Some(n) = lower.strip_prefix("u:") {
        Some((n, Proto::Udp))
    } else if let Some((n, p)) = lower.split_once(['/', ':']) {
        match p {
            "tcp" => Some((n, Proto::Tcp)),
            "udp" => Some((n, Proto::Udp)),
            _ => None,
        }
    } else {
        Some((lower, Proto::Tcp))
    }
}

/// A port number from 1 to 65535, digits only: u16::from_str would
/// accept a leading `+`.
fn port_number(number: &str) -> Option<u16> {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<u16>().ok().filter(|p| *p != 0)
}

impl FromStr for PortSpec {
    type Err = ParsePortError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParsePortError(s.to_string());
        let lower = s.trim().to_ascii_lowercase();
        let (number, proto) = split_proto(&lower).ok_or_else(bad)?;
        let port = port_number(number).ok_or_else(bad)?;
        Ok(PortSpec { port, proto })
    }
}

/// A door's port, or a range of them, of one protocol: `22/tcp`,
/// `60000-61000/udp` (and every form of [`PortSpec`]: `t:22`,
/// `u:60000-61000`, a bare `22`). `low <= high` is checked by the
/// config's validation, which names the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
    pub proto: Proto,
}

impl PortRange {
    /// Whether it is one port.
    pub fn is_single(&self) -> bool {
        self.low == self.high
    }

    /// Its first port.
    pub fn first(&self) -> PortSpec {
        PortSpec::new(self.low, self.proto)
    }

    pub fn contains(&self, p: PortSpec) -> bool {
        p.proto == self.proto && (self.low..=self.high).contains(&p.port)
    }

    pub fn overlaps(&self, other: &PortRange) -> bool {
        self.proto == other.proto && self.low <= other.high && other.low <= self.high
    }

    /// Every port in it, in order.
    pub fn ports(&self) -> impl Iterator<Item = PortSpec> + use<> {
        let proto = self.proto;
        (self.low..=self.high).map(move |p| PortSpec::new(p, proto))
    }
}

impl From<PortSpec> for PortRange {
    fn from(p: PortSpec) -> PortRange {
        PortRange {
            low: p.port,
            high: p.port,
            proto: p.proto,
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            self.first().fmt(f)
        } else {
            write!(f, "{}-{}/{}", self.low, self.high, self.proto.as_str())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid port `{0}`: expected PORT or LOW-HIGH, with /tcp or /udp (or t:, u:), each from 1 to 65535"
)]
pub struct ParseRangeError(pub String);

impl FromStr for PortRange {
    type Err = ParseRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseRangeError(s.to_string());
        let lower = s.trim().to_ascii_lowercase();
        let (number, proto) = split_proto(&lower).ok_or_else(bad)?;
        let (low, high) = match number.split_once('-') {
            Some((low, high)) => (port_number(low), port_number(high)),
            None => (port_number(number), port_number(number)),
        };
        match (low, high) {
            (Some(low), Some(high)) => Ok(PortRange { low, high, proto }),
            _ => Err(bad()),
        }
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Accepts a string (`"22/tcp"`, `"60000-61000/udp"`) or an integer
/// (`22`, meaning TCP).
impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RangeVisitor;
        impl Visitor<'_> for RangeVisitor {
            type Value = PortRange;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port such as \"22/tcp\", \"60000-61000/udp\" or 22")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortRange, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortRange, E> {
                match u16::try_from(v) {
                    Ok(port) if port != 0 => Ok(PortSpec::new(port, Proto::Tcp).into()),
                    _ => Err(E::custom(ParseRangeError(v.to_string()))),
                }
            }
        }
        d.deserialize_any(RangeVisitor)
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

/// A door's `port`: one port spec, or a list of them (ports and ranges).
/// Read through a `toml::Value`, so that a bad item gets its own message
/// (an untagged enum would only say that nothing matched).
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PortRange>, D::Error> {
    match toml::Value::deserialize(d)? {
        toml::Value::Array(items) => items
            .into_iter()
            .map(|v| PortRange::deserialize(v).map_err(de::Error::custom))
            .collect(),
        one => PortRange::deserialize(one)
            .map(|r| vec![r])
            .map_err(de::Error::custom),
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
    fn ranges_take_every_form_of_a_port() {
        let r = |s: &str| s.parse::<PortRange>();
        let udp = PortRange {
            low: 60000,
            high: 61000,
            proto: Proto::Udp,
        };
        assert_eq!(r("60000-61000/udp"), Ok(udp));
        assert_eq!(r("u:60000-61000"), Ok(udp));
        assert_eq!(r("60000-61000:UDP"), Ok(udp));
        assert_eq!(r("22"), Ok(PortSpec::new(22, Proto::Tcp).into()));
        assert_eq!(r("t:22").unwrap().to_string(), "22/tcp");
        assert_eq!(udp.to_string(), "60000-61000/udp");
        for bad in [
            "0-5", "1-65536", "-5", "5-", "1-2-3", "+1-2", "1-2/sctp", "a-b",
        ] {
            assert!(r(bad).is_err(), "{bad:?} was accepted");
        }
        // low > high parses; validation names the door.
        assert!(r("9-1").is_ok());
        assert!(udp.contains(PortSpec::new(60500, Proto::Udp)));
        assert!(!udp.contains(PortSpec::new(60500, Proto::Tcp)));
        assert!(!udp.contains(PortSpec::new(61001, Proto::Udp)));
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(p("u:53").unwrap().to_string(), "53/udp");
    }
}
