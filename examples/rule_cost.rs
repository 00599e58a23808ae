//! Benchmark helper: what a server's rules cost a NEW connection and an
//! established round trip, measured against a twin server without them,
//! one connection at a time, the two servers in turn. Used by
//! bench/packet.sh.
//!
//!     rule_cost serve ADDR:PORT
//!     rule_cost measure new|established ADDR_A:PORT ADDR_B:PORT SECONDS
//!
//! `serve` accepts and closes connections on PORT, and echoes every byte
//! back on PORT+1. `measure new` opens and closes (with a reset) one
//! connection to A, then one to B, and so on; `measure established`
//! sends one byte over a connection to A's echo port and waits for it to
//! come back, then the same to B, and so on. Both print, for each block of
//! `BLOCK` pairs, the median time of A's and of B's, in nanoseconds.
//!
//! Why in turn, and not two rates one after the other: on a shared
//! virtual machine the speed of the whole machine drifts by tens of
//! percent within seconds (other guests), far more than the rules cost.
//! Two connections a few microseconds apart meet the same machine, so
//! the drift falls out of the ratio of A's time to B's.
//!
//! With the client on one core, the kernel handles the SYN, the SYN-ACK,
//! the ACK and the reset in the client's own system calls (veth hands a
//! packet to the peer on the sending core), so a connection's time holds
//! every rule the server runs for it. It does not hold the server's accept
//! and close, done on another core: the ratio overstates what the rules
//! cost a whole connection, never understates it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

/// Pairs a block: enough for a stable median, few enough that the
/// machine does not drift within one.
const BLOCK: usize = 500;

fn listener(addr: SocketAddr) -> TcpListener {
    // A deep accept queue: an overflow drops a SYN, and the client's
    // retransmission a second later would be measured instead of the rules.
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.bind(&addr.into()).expect("bind");
    socket.listen(4096).expect("listen");
    socket.into()
}

fn serve(addr: SocketAddr) {
    let closer = listener(addr);
    let echo = listener(SocketAddr::new(addr.ip(), addr.port() + 1));
    std::thread::spawn(move || {
        for stream in echo.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let (mut r, mut w) = (&stream, &stream);
                let mut byte = [0u8; 1];
                while r.read_exact(&mut byte).is_ok() && w.write_all(&byte).is_ok() {}
            });
        }
    });
    loop {
        // Dropping the stream closes it.
        let _ = closer.accept();
    }
}

/// One NEW connection, handshake to reset.
fn connect_once(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).expect("connect");
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
    start.elapsed()
}

/// One byte there and back over an established connection.
fn round_trip(stream: &mut TcpStream) -> Duration {
    let mut byte = [7u8; 1];
    let start = Instant::now();
    stream.write_all(&byte).expect("write");
    stream.read_exact(&mut byte).expect("read");
    start.elapsed()
}

fn echo_stream(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(SocketAddr::new(addr.ip(), addr.port() + 1)).expect("connect");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
}

fn median(v: &mut [Duration]) -> u128 {
    v.sort_unstable();
    v[v.len() / 2].as_nanos()
}

fn measure(kind: &str, a: SocketAddr, b: SocketAddr, seconds: f64) {
    let mut streams = match kind {
        "new" => None,
        "established" => Some((echo_stream(a), echo_stream(b))),
        _ => usage(),
    };
    let mut once = |first: bool| match &mut streams {
        None => connect_once(if first { a } else { b }),
        Some((sa, sb)) => round_trip(if first { sa } else { sb }),
    };
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut block = 0usize;
    while Instant::now() < end {
        let (mut ta, mut tb) = (Vec::with_capacity(BLOCK), Vec::with_capacity(BLOCK));
        for i in 0..BLOCK {
            // Each block alternates which goes first, so that neither
            // always meets the caches the other just warmed.
            if (i + block).is_multiple_of(2) {
                ta.push(once(true));
                tb.push(once(false));
            } else {
                tb.push(once(false));
                ta.push(once(true));
            }
        }
        println!("{} {}", median(&mut ta), median(&mut tb));
        block += 1;
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: rule_cost serve ADDR:PORT | measure new|established ADDR_A:PORT ADDR_B:PORT SECONDS"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = |i: usize| -> SocketAddr {
        match args.get(i).map(|a| a.parse()) {
            Some(Ok(a)) => a,
            _ => usage(),
        }
    };
    match (args.first().map(String::as_str), args.len()) {
        (Some("serve"), 2) => serve(addr(1)),
        (Some("measure"), 5) => match args[4].parse() {
            Ok(s) => measure(&args[1], addr(2), addr(3), s),
            Err(_) => usage(),
        },
        _ => usage(),
    }
}
