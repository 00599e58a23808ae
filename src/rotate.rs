//! Time-rotating sequences: a door may take its sequence from a shared
//! secret instead of a fixed list. The sequence of period
//! `n = floor(unix_time / period)` is HMAC-SHA256(secret, door, n) turned
//! into knocks under the same rules as a fixed sequence. The kernel accepts
//! the previous, the current and the next period's sequence, so a client
//! whose clock is behind or ahead by up to a period, a knock at a period's
//! edge and a knock in the moments before `nfknock-rotate.timer` loaded a
//! new period all work. An eavesdropped sequence stops working two periods
//! after it was used: loading the next period's too widens no replay
//! window, since a sequence can be recorded only once someone knocks it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::{Config, Resolved, Rotation, sequence_problems};
use crate::port::{PortSpec, Proto};

pub use crate::clock::{FAKE_TIME_ENV, now};
pub use crate::config::{
    DEFAULT_ROTATE_LENGTH as DEFAULT_LENGTH, MIN_PERIOD, Rotate, rotate_problems,
};

/// Secrets shorter than this are refused: they could be guessed.
pub const MIN_SECRET: usize = 16;
/// Knocks come from the registered/dynamic range (a rotating knock may
/// land on a service's port of 1024 and up; it is still only a knock).
const LOWEST: u16 = 1024;

pub fn period_index(now: u64, period: Duration) -> u64 {
    now / period.as_secs().max(1)
}

/// Secrets longer than this are refused: a secret is a line of hex, and a
/// file without end (`/dev/zero`) must not eat the memory.
pub const MAX_SECRET: u64 = 4096;

/// Reads a secret file: its bytes, trailing white space dropped. Only a
/// regular file of at most [`MAX_SECRET`] bytes: it is opened without
/// blocking, so a FIFO or a device is refused instead of hanging.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |what: String| format!("cannot read the secret {}: {what}", path.display());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| err(e.to_string()))?;
    let meta = file.metadata().map_err(|e| err(e.to_string()))?;
    if !meta.is_file() {
        return Err(err("not a regular file".into()));
    }
    if meta.len() > MAX_SECRET {
        return Err(err(format!("longer than {MAX_SECRET} bytes")));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > MAX_SECRET {
        return Err(err(format!("longer than {MAX_SECRET} bytes")));
    }
    let trimmed = bytes.trim_ascii_end().to_vec();
    if trimmed.len() < MIN_SECRET {
        return Err(format!(
            "the secret {} is shorter than {MIN_SECRET} bytes; make one with `nfknock gen-secret`",
            path.display()
        ));
    }
    Ok(trimmed)
}

/// Whether a file others than its owner may read (a secret or the config
/// should not be): the mode bits, when the file can be seen.
pub fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then_some(mode & 0o7777)
}

/// Writes a new random secret (64 hex characters), mode 0600; an
/// existing file is never overwritten.
pub fn gen_secret(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    let hex = crate::hex::encode(&b);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{hex}\n").as_bytes())?;
    f.sync_all()
}

/// The sequence of `door` (whose hidden port is `door_port`) for period
/// `n`: deterministic for a secret, so a client with the same secret
/// derives the same one, and valid by the rules of fixed sequences. No
/// knock is on the door's port, nor on one of `avoid` (the host's other
/// door ports and open ports, as fixed sequences; a client derives the
/// same only when it avoids the same ports: the server's config, or
/// `avoid` in hosts.toml). A knock skipped for `avoid` changes nothing
/// else: without a clash the sequence is the same whatever `avoid` is.
pub fn derive(
    secret: &[u8],
    door: &str,
    door_port: PortSpec,
    avoid: &[PortSpec],
    n: u64,
    length: usize,
) -> Vec<PortSpec> {
    let reserved = [door_port];
    let reserved_map: HashMap<PortSpec, String> = reserved
        .iter()
        .map(|p| (*p, "the door's port".to_string()))
        .chain(avoid.iter().map(|p| (*p, "a port to avoid".to_string())))
        .collect();
    let mut counter: u32 = 0;
    loop {
        let mut seq: Vec<PortSpec> = Vec::with_capacity(length);
        while seq.len() < length {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key size");
            mac.update(b"nfknock-rotate-v1\0");
            mac.update(door.as_bytes());
            mac.update(&[0]);
            mac.update(&n.to_be_bytes());
            mac.update(&counter.to_be_bytes());
            counter += 1;
            let block = mac.finalize().into_bytes();
            for c in block.chunks_exact(3) {
                let raw = u16::from_be_bytes([c[0], c[1]]);
                let port = LOWEST + raw % (u16::MAX - LOWEST + 1);
                let proto = if c[2] & 1 == 0 {
                    Proto::Tcp
                } else {
                    Proto::Udp
                };
                let k = PortSpec::new(port, proto);
                if seq.len() < length
                    && !reserved.iter().any(|r| r.port == port)
                    && !reserved_map.contains_key(&k)
                    && !seq.contains(&k)
                {
                    seq.push(k);
                }
            }
        }
        if sequence_problems(&seq, &reserved_map).is_empty() {
            return seq;
        }
    }
}

/// Derives the sequences of rotating doors for the time `now` from their
/// secret files: the config the firewall can render. Each avoids the
/// config's other door ports and open ports.
pub fn resolve(cfg: Config, now: u64) -> Result<Resolved, String> {
    let reserved = cfg.reserved_ports();
    Resolved::new(cfg, |d, r| {
        // A door of several ports derives from its first; the others are
        // avoided like any other door's.
        let first = d.ports.first();
        let avoid: Vec<PortSpec> = reserved.iter().copied().filter(|p| *p != first).collect();
        let secret =
            read_secret(&r.secret_file).map_err(|e| format!("door \"{}\": rotate: {e}", d.name))?;
        let n = period_index(now, r.period);
        let at = |n: u64| derive(&secret, &d.name, first, &avoid, n, r.length);
        let sequences = [at(n.saturating_sub(1)), at(n), at(n.saturating_add(1))];
        Rotation::new(n, sequences, &d.ports)
            .map_err(|e| format!("door \"{}\": rotate: {e}", d.name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_same_sequence_other_period_other_sequence() {
        let s = b"0123456789abcdef0123456789abcdef";
        let door = PortSpec::new(22, Proto::Tcp);
        let a = derive(s, "ssh", door, &[], 100, 4);
        assert_eq!(a, derive(s, "ssh", door, &[], 100, 4));
        assert_ne!(a, derive(s, "ssh", door, &[], 101, 4));
        assert_ne!(a, derive(s, "web", door, &[], 100, 4));
        assert_ne!(
            a,
            derive(
                b"another secret, 32 bytes long!!!",
                "ssh",
                door,
                &[],
                100,
                4
            )
        );
        for n in 0..200 {
            let seq = derive(s, "ssh", door, &[], n, 3);
            assert_eq!(seq.len(), 3);
            assert!(seq.iter().all(|k| k.port >= LOWEST && k.port != 22));
            assert!(sequence_problems(&seq, &HashMap::new()).is_empty());
        }
    }

    #[test]
    fn knocks_avoid_the_hosts_other_ports_and_nothing_else_changes() {
        let s = b"0123456789abcdef0123456789abcdef";
        let door = PortSpec::new(22, Proto::Tcp);
        for n in 0..50 {
            let free = derive(s, "ssh", door, &[], n, 4);
            let unrelated = [PortSpec::new(443, Proto::Tcp)];
            assert_eq!(derive(s, "ssh", door, &unrelated, n, 4), free);
            let clash = [free[1]];
            let avoided = derive(s, "ssh", door, &clash, n, 4);
            assert!(!avoided.contains(&free[1]), "{n}: {avoided:?}");
            assert_eq!(avoided[0], free[0]);
        }
    }

    /// A rotating door of several ports derives from its first port; no
    /// knock of any period lands on one of its ports or in its ranges, and
    /// a door of its first port alone derives the same where nothing
    /// clashed.
    #[test]
    fn a_rotating_door_of_several_ports_avoids_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("ssh.secret");
        std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
        let cfg = |port: &str| {
            crate::load::parse(
                &format!(
                    "[[door]]\nname = \"ssh\"\nport = {port}\nrotate = {{ secret_file = \"{}\", period = \"60s\", length = 6 }}\n",
                    secret.display()
                ),
                Path::new("t.toml"),
            )
            .unwrap()
        };
        let many = cfg(r#"["22/tcp", "10000-40000/udp", "t:50000-52000"]"#);
        let ports = many.doors[0].ports.clone();
        let mut same = 0;
        for n in 0..20u64 {
            let r = resolve(many.clone(), n * 60).unwrap();
            let d = r.door("ssh").unwrap();
            let (_, rotation) = d.rotation.unwrap();
            for seq in [rotation.previous(), rotation.current(), rotation.next()] {
                assert!(!seq.iter().any(|k| ports.contains(*k)), "{n}: {seq:?}");
            }
            // A client told the same ports derives the same sequence.
            let client = crate::knock::HostDoor::Rotating(crate::knock::HostRotate {
                port: ports.to_vec(),
                avoid: Vec::new(),
                secret_file: secret.clone(),
                period: "60s".into(),
                length: 6,
            });
            assert_eq!(client.sequence("ssh", n * 60).unwrap(), d.sequence.to_vec());
            let one = resolve(cfg("\"22/tcp\""), n * 60).unwrap();
            if one.door("ssh").unwrap().sequence == d.sequence {
                same += 1;
            }
        }
        assert!(same > 0, "the first port is what a sequence derives from");
    }

    #[test]
    fn periods_and_secrets() {
        assert_eq!(period_index(119, Duration::from_secs(60)), 1);
        assert_eq!(period_index(120, Duration::from_secs(60)), 2);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh.secret");
        gen_secret(&path).unwrap();
        assert_eq!(read_secret(&path).unwrap().len(), 64);
        assert!(gen_secret(&path).is_err(), "never overwritten");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&path, "short\n").unwrap();
        assert!(read_secret(&path).unwrap_err().contains("shorter than 16"));
        std::fs::write(&path, "x".repeat(MAX_SECRET as usize + 1)).unwrap();
        assert!(read_secret(&path).unwrap_err().contains("longer than 4096"));
    }

    // A device without end, or a FIFO nobody writes to, is refused at
    // once instead of eating the memory or hanging.
    #[test]
    fn only_a_regular_file_is_a_secret() {
        let e = read_secret(Path::new("/dev/zero")).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let e = read_secret(&fifo).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
