//! Benchmark helper: the rate of NEW TCP connections a server takes. Used
//! by bench/packet.sh, the same way with and without rules.
//!
//!     conn_rate serve ADDR:PORT
//!     conn_rate connect ADDR:PORT SECONDS THREADS
//!
//! `serve` accepts and closes at once. `connect` opens and closes
//! connections for SECONDS from THREADS threads and prints, for each half
//! second, the rate of completed handshakes per second. The client closes with a reset
//! (linger 0) so that TIME_WAIT does not run it out of ports: each
//! connection is still a full handshake through the server's rules.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

const INTERVAL: Duration = Duration::from_millis(500);

fn serve(addr: SocketAddr) {
    // A deep accept queue: an overflow drops a SYN, and the client's
    // retransmission a second later would be measured instead of the rules.
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.bind(&addr.into()).expect("bind");
    socket.listen(4096).expect("listen");
    let listener: Arc<TcpListener> = Arc::new(socket.into());
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let l = Arc::clone(&listener);
            std::thread::spawn(move || {
                loop {
                    // Dropping the stream closes it.
                    let _ = l.accept();
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}

fn connect(addr: SocketAddr, seconds: f64, threads: usize) {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (done, failed, stop) = (done.clone(), failed.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                        Ok(s) => {
                            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    // One rate per interval: the bench takes the median, so a moment of
    // interference from elsewhere on the machine does not decide a figure.
    let mut last = 0;
    let intervals = (seconds / INTERVAL.as_secs_f64()).round().max(1.0) as u32;
    for i in 1..=intervals {
        if let Some(wait) = (start + INTERVAL * i).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = done.load(Ordering::Relaxed);
        println!("{:.0}", (now - last) as f64 / INTERVAL.as_secs_f64());
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("conn_rate: {failed} connections failed");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!("usage: conn_rate serve ADDR:PORT | connect ADDR:PORT SECONDS THREADS");
        std::process::exit(2)
    };
    let addr: SocketAddr = match args.get(1).map(|a| a.parse()) {
        Some(Ok(a)) => a,
        _ => usage(),
    };
    match (args[0].as_str(), args.len()) {
        ("serve", 2) => serve(addr),
        ("connect", 4) => match (args[2].parse(), args[3].parse()) {
            (Ok(s), Ok(t)) => connect(addr, s, t),
            _ => usage(),
        },
        _ => usage(),
    }
}
