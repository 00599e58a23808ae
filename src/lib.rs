//! nfknock: port knocking with the knock state in the kernel.
//!
//! `main.rs` only parses the command line and calls [`app::run`]; each
//! module below is one concern.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connect;
pub mod edit;
pub mod exit;
pub mod firewall;
pub mod hex;
pub mod import;
pub mod knock;
pub mod lifecycle;
pub mod listening;
pub mod load;
pub mod metrics;
pub mod port;
pub mod rotate;
pub mod sequence;
pub mod state;
pub mod watch;
