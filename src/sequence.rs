//! `nfknock gen-sequence`: random knock sequences that pass validation.

use std::collections::HashMap;

use crate::config::sequence_problems;
use crate::port::{PortSpec, Proto};

pub const DEFAULT_LENGTH: u8 = 4;

/// Ports that scanners probe first or that common services use: a knock
/// there would be sent by accident or scanned often.
const AVOID: &[u16] = &[
    1080, 1194, 1433, 1521, 1723, 1883, 2049, 2375, 2376, 3000, 3128, 3306, 3389, 4444, 5000, 5060,
    5353, 5432, 5672, 5900, 5938, 6379, 6443, 6667, 8000, 8008, 8080, 8081, 8443, 8888, 9000, 9090,
    9100, 9200, 9418, 11211, 27017, 31337, 51820,
];
/// Knocks come from the registered/dynamic range: no well-known ports.
const LOWEST: u16 = 1024;

#[derive(Debug, thiserror::Error)]
#[error("the system's random number generator failed: {0}")]
pub struct RngError(String);

fn random_u32() -> Result<u32, RngError> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| RngError(e.to_string()))?;
    Ok(u32::from_ne_bytes(b))
}

/// Uniform in 0..n without modulo bias.
fn below(n: u32) -> Result<u32, RngError> {
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let r = random_u32()?;
        if r < zone {
            return Ok(r % n);
        }
    }
}

/// A random sequence of `length` knocks, mixing TCP and UDP, avoiding the
/// `reserved` ports (doors, open services) and passing every rule of
/// `config::sequence_problems`.
pub fn generate(length: usize, reserved: &[PortSpec]) -> Result<Vec<PortSpec>, RngError> {
    let reserved_map: HashMap<PortSpec, String> = reserved
        .iter()
        .map(|p| (*p, "reserved".to_string()))
        .collect();
    loop {
        let mut seq = Vec::with_capacity(length);
        while seq.len() < length {
            let port = LOWEST + below(u32::from(u16::MAX - LOWEST) + 1)? as u16;
            let proto = if below(2)? == 0 {
                Proto::Tcp
            } else {
                Proto::Udp
            };
            let k = PortSpec::new(port, proto);
            if AVOID.contains(&port) || reserved.iter().any(|r| r.port == port) || seq.contains(&k)
            {
                continue;
            }
            seq.push(k);
        }
        let both =
            seq.iter().any(|k| k.proto == Proto::Tcp) && seq.iter().any(|k| k.proto == Proto::Udp);
        if both && sequence_problems(&seq, &reserved_map).is_empty() {
            return Ok(seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sequences_are_valid_mixed_and_avoid_reserved() {
        let reserved = [PortSpec::new(22, Proto::Tcp)];
        for len in [3, 4, 8, 16] {
            let seq = generate(len, &reserved).unwrap();
            assert_eq!(seq.len(), len);
            assert!(
                seq.iter()
                    .all(|k| k.port >= LOWEST && !AVOID.contains(&k.port))
            );
            assert!(seq.iter().any(|k| k.proto == Proto::Udp));
            assert!(seq.iter().any(|k| k.proto == Proto::Tcp));
            assert!(sequence_problems(&seq, &HashMap::new()).is_empty());
        }
        assert_ne!(generate(4, &[]).unwrap(), generate(4, &[]).unwrap());
    }
}
