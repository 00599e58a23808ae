//! Benchmark helper: a steady stream of complete knocks, for the watcher's
//! benchmark (bench/watch.sh).
//!
//!     knock_stream ADDR RATE COUNT KNOCK...
//!
//! Sends the sequence COUNT times, RATE times a second, and prints for each
//! the wall-clock time its last knock left, in microseconds since the Unix
//! epoch, so that the SMTP server's arrival times can be set against them.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nfknock::port::PortSpec;

/// Knocks of one sequence 1 ms apart: they stay in order at any rate here.
const KNOCK_DELAY: Duration = Duration::from_millis(1);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (args.len() >= 4)
        .then(|| {
            let addr: IpAddr = args[0].parse().ok()?;
            let rate: f64 = args[1].parse().ok().filter(|r: &f64| *r > 0.0)?;
            let count: u32 = args[2].parse().ok()?;
            let knocks: Option<Vec<PortSpec>> = args[3..].iter().map(|k| k.parse().ok()).collect();
            Some((addr, rate, count, knocks?))
        })
        .flatten();
    let Some((addr, rate, count, knocks)) = parsed else {
        eprintln!("usage: knock_stream ADDR RATE COUNT KNOCK...");
        std::process::exit(2);
    };
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    for i in 0..count {
        // On a fixed schedule, so a slow send does not lower the rate.
        if let Some(wait) = (start + period * i).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        nfknock::knock::knock(addr, &knocks, KNOCK_DELAY).expect("knock");
        let sent = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
        println!("{}", sent.as_micros());
    }
}
