//! Benchmark helper: how long from the last knock packet to the first
//! connection the door accepts. Used by bench/run.sh for nfknock and for
//! knockd alike (the same client, the same knocks).
//!
//!     knock_latency ADDR PORT REPS PAUSE_MS KNOCK...
//!
//! Prints one latency in microseconds per line; a repetition whose door
//! never opens within 2 s prints `timeout`.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nfknock::port::PortSpec;

const GIVE_UP: Duration = Duration::from_secs(2);
const TRY: Duration = Duration::from_millis(50);
/// The same pause between knocks as `nfknock knock`'s default.
const KNOCK_DELAY: Duration = Duration::from_millis(20);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!("usage: knock_latency ADDR PORT REPS PAUSE_MS KNOCK...");
        std::process::exit(2);
    }
    let addr: IpAddr = args[0].parse().expect("ADDR");
    let port: u16 = args[1].parse().expect("PORT");
    let reps: usize = args[2].parse().expect("REPS");
    let pause = Duration::from_millis(args[3].parse().expect("PAUSE_MS"));
    let knocks: Vec<PortSpec> = args[4..]
        .iter()
        .map(|k| k.parse().expect("KNOCK"))
        .collect();
    let door = SocketAddr::new(addr, port);
    for _ in 0..reps {
        nfknock::knock::knock(addr, &knocks, KNOCK_DELAY).expect("knock");
        let start = Instant::now();
        let mut opened = None;
        while start.elapsed() < GIVE_UP {
            if TcpStream::connect_timeout(&door, TRY).is_ok() {
                opened = Some(start.elapsed());
                break;
            }
        }
        match opened {
            Some(t) => println!("{}", t.as_micros()),
            None => println!("timeout"),
        }
        // Let the door close again before the next repetition.
        std::thread::sleep(pause);
    }
}
