//! `nfknock connect`: knock, connect as soon as the door lets us in, then
//! relay stdin and stdout to the connection, so that ssh can use it as its
//! `ProxyCommand`. A knock lost on the way shows as a connect that is
//! refused or times out: knock again, a few times, with a short backoff.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::knock;
use crate::port::PortSpec;

/// How many times to knock and connect before giving up.
pub const DEFAULT_TRIES: u32 = 3;
/// How long one connect may take: a closed door that drops (rather than
/// resets) shows as a timeout, so this is also how long a lost knock costs.
pub const DEFAULT_TIMEOUT: &str = "3s";
/// The pause before the second try; it doubles with every further try.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

pub struct Options {
    /// The door's knock sequence.
    pub sequence: Vec<PortSpec>,
    /// The pause between two knocks, and between the last knock and the
    /// connect.
    pub delay: Duration,
    pub tries: u32,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Resolve(#[from] knock::Error),
    #[error(
        "cannot connect to {host} port {port} after {tries} knock(s): {failures}; is the knock sequence right, and the service running?"
    )]
    GaveUp {
        host: String,
        port: u16,
        tries: u32,
        failures: Failures,
    },
}

/// What happened to the last try on each address.
#[derive(Debug, Default)]
pub struct Failures(Vec<(IpAddr, String)>);

impl Failures {
    fn record(&mut self, addr: IpAddr, why: String) {
        match self.0.iter_mut().find(|(a, _)| *a == addr) {
            Some(entry) => entry.1 = why,
            None => self.0.push((addr, why)),
        }
    }
}

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (addr, why)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{addr}: {why}")?;
        }
        Ok(())
    }
}

/// The pause before try `n` (counting from 1; none before the first).
pub fn backoff(n: u32) -> Duration {
    if n <= 1 {
        return Duration::ZERO;
    }
    FIRST_BACKOFF
        .saturating_mul(1u32 << (n - 2).min(8))
        .min(MAX_BACKOFF)
}

/// Knocks on each of `addrs` in turn (the resolver's order, as ssh tries
/// them) and connects to the address just knocked on; the first connection
/// that succeeds is returned. Up to `tries` rounds, with a backoff between
/// rounds. `log` hears about each step (for `-v`).
pub fn open(
    host: &str,
    addrs: &[IpAddr],
    port: u16,
    opts: &Options,
    log: impl Fn(String),
) -> Result<TcpStream, Error> {
    let mut failures = Failures::default();
    for n in 1..=opts.tries {
        let pause = backoff(n);
        if !pause.is_zero() {
            log(format!("try {n} of {} in {pause:?}", opts.tries));
            std::thread::sleep(pause);
        }
        for &addr in addrs {
            let to = SocketAddr::new(addr, port);
            if !opts.sequence.is_empty() {
                log(format!("knocking on {addr}"));
                if let Err(e) = knock::knock(addr, &opts.sequence, opts.delay) {
                    failures.record(addr, e.to_string());
                    continue;
                }
                // The door opens with the last knock; let it get there first.
                std::thread::sleep(opts.delay);
            }
            match TcpStream::connect_timeout(&to, opts.timeout) {
                Ok(stream) => {
                    log(format!("connected to {to}"));
                    return Ok(stream);
                }
                Err(e) => {
                    let why = describe(&e);
                    log(format!("{to}: {why}"));
                    failures.record(addr, why);
                }
            }
        }
    }
    Err(Error::GaveUp {
        host: host.to_string(),
        port,
        tries: opts.tries,
        failures,
    })
}

/// A connect error in words, without the `(os error 111)`.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_lowercase(),
                None => text,
            }
        }
    }
}

/// Copies `input` to the connection and the connection to `output` until
/// the connection ends. The end of `input` half-closes the connection (the
/// server sees EOF and may still answer); the end of the connection ends
/// the relay, whether or not `input` has ended. An `output` that went away
/// (ssh exited) ends it too, without an error.
pub fn relay(
    stream: TcpStream,
    mut input: impl Read + Send + 'static,
    mut output: impl Write,
) -> io::Result<()> {
    let mut up = stream.try_clone()?;
    // Not joined: once the connection ends, a read of stdin that may never
    // return must not keep the process alive.
    std::thread::spawn(move || {
        let _ = pump(&mut input, &mut up);
        let _ = up.shutdown(Shutdown::Write);
    });
    let mut down = stream;
    match pump(&mut down, &mut output) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Copies until EOF, flushing every chunk: the other side waits for it.
fn pump(from: &mut impl Read, to: &mut impl Write) -> io::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn backoff_is_short_and_grows() {
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_millis(250));
        assert_eq!(backoff(3), Duration::from_millis(500));
        assert_eq!(backoff(100), MAX_BACKOFF);
    }

    /// The end of the input half-closes: the server still answers after
    /// it, and its close ends the relay.
    #[test]
    fn relay_half_closes_and_ends_with_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            conn.read_to_end(&mut got).unwrap();
            // After the client's EOF: the answer still reaches it.
            conn.write_all(b"got: ").unwrap();
            conn.write_all(&got).unwrap();
        });
        let stream = TcpStream::connect(addr).unwrap();
        let mut output = Vec::new();
        relay(stream, io::Cursor::new(b"hello".to_vec()), &mut output).unwrap();
        server.join().unwrap();
        assert_eq!(output, b"got: hello");
    }

    #[test]
    fn gives_up_with_one_line_per_address() {
        // A port nothing listens on: refused at once.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = Options {
            sequence: Vec::new(),
            delay: Duration::ZERO,
            tries: 2,
            timeout: Duration::from_secs(1),
        };
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        let e = open("localhost", &[addr], port, &opts, |_| {}).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot connect to localhost port {port} after 2 knock(s): 127.0.0.1: connection refused;"
            )),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }
}
