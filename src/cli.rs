//! The command line (clap derive). The man page and the completions are
//! checked against this definition by the tests.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use ipnet::IpNet;

use crate::port::PortSpec;

#[derive(Debug, Parser)]
#[command(
    name = "nfknock",
    version,
    about = "Port knocking in the kernel: hide ports behind secret knock sequences",
    long_about = "Port knocking in the kernel: hide ports behind secret knock sequences.\n\n\
        Knock state lives in nftables sets with timeouts, so knocking works with no \
        daemon and no packet ever goes to user space. See nfknock(8) and nfknock.toml(5)."
)]
pub struct Cli {
    /// Configuration file [default: /etc/nfknock/nfknock.toml]
    #[arg(
        short,
        long,
        global = true,
        env = "NFKNOCK_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Print only errors and warnings
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more about what is done
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and validate the configuration; print a summary
    Check {
        /// Print the knock sequences too
        #[arg(long)]
        show_secrets: bool,
    },
    /// Print the ruleset that `apply` would load
    Show,
    /// Validate, render and load the rules atomically (root)
    Apply {
        /// Do not save the loaded ruleset for `restore` at boot
        #[arg(long)]
        no_persist: bool,
        /// Put the previous rules back after SECS unless `nfknock confirm` runs first
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
        confirm: Option<u64>,
    },
    /// Keep the rules of a pending `apply --confirm`, and save them for boot (root)
    Confirm,
    /// Load the current period's sequences of rotating doors (root; run by nfknock-rotate.timer)
    Rotate,
    /// Write a new random secret for a rotating door (mode 0600; never overwrites)
    GenSecret {
        /// Where to write it, e.g. /etc/nfknock/ssh.secret
        file: PathBuf,
    },
    /// Put back the rules of a pending `apply --confirm` once it is due (internal)
    #[command(hide = true)]
    Rollback {
        #[arg(long)]
        token: String,
        /// Seconds to wait first
        #[arg(long)]
        after: Option<u64>,
    },
    /// Load the ruleset the last `apply` saved, as at boot (root)
    Restore,
    /// Remove everything nfknock added; other rules stay (root)
    Remove {
        /// Keep the saved ruleset
        #[arg(long)]
        no_persist: bool,
    },
    /// Show doors, sources mid-sequence, open doors and counters (root)
    Status {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Let networks in without knocking until the next apply or reboot (root)
    Transient {
        #[command(subcommand)]
        action: TransientAction,
    },
    /// Send a knock sequence to HOST (no root needed)
    Knock {
        /// Host name or address to knock on
        host: String,
        /// Knocks to send (PORT, PORT/tcp, PORT/udp, t:PORT, u:PORT);
        /// default: the door's sequence from hosts.toml or the config
        #[arg(value_name = "PORTSPEC")]
        knocks: Vec<PortSpec>,
        /// Which door's sequence to send [default: the only door]
        #[arg(long, value_name = "NAME")]
        door: Option<String>,
        /// Derive a rotating door's sequence from this secret, without a
        /// config or hosts.toml (needs --door and --door-port)
        #[arg(long, value_name = "FILE", requires_all = ["door", "door_port", "period"],
              conflicts_with = "knocks")]
        secret_file: Option<PathBuf>,
        /// With --secret-file: the rotating door's hidden port, e.g. 22/tcp
        #[arg(long, value_name = "PORTSPEC", requires = "secret_file")]
        door_port: Option<PortSpec>,
        /// With --secret-file: the door's rotation period, e.g. 60s
        #[arg(long, value_name = "DUR", requires = "secret_file")]
        period: Option<String>,
        /// With --secret-file: knocks in the sequence
        #[arg(long, value_name = "N", requires = "secret_file",
              default_value_t = crate::rotate::DEFAULT_LENGTH)]
        length: usize,
        /// Pause between two knocks, e.g. 20ms, 1s
        #[arg(long, value_name = "DUR", default_value = "20ms", value_parser = duration)]
        delay: Duration,
        /// Knock on an IPv4 address of HOST
        #[arg(short = '4', conflicts_with = "ipv6")]
        ipv4: bool,
        /// Knock on an IPv6 address of HOST
        #[arg(short = '6')]
        ipv6: bool,
    },
    /// Follow the kernel's messages in the journal and mail every knock
    Watch {
        /// Read the journal files of DIR (e.g. from systemd-journal-remote)
        #[arg(long, value_name = "DIR")]
        journal_dir: Option<PathBuf>,
        /// Print the mails instead of sending them
        #[arg(long)]
        dry_run: bool,
    },
    /// Send one test mail with the [notify] settings
    NotifyTest,
    /// Print a random strong knock sequence
    GenSequence {
        /// Number of knocks (3 to 16)
        #[arg(long, value_name = "N", default_value_t = crate::sequence::DEFAULT_LENGTH,
              value_parser = clap::value_parser!(u8).range(3..=16))]
        length: u8,
    },
    /// Read or change one key of the config, keeping comments and layout
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print an nfknock.toml equivalent to the original nfknock's nfknock.cfg or a knockd.conf
    Import {
        /// The file to convert
        file: PathBuf,
    },
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum TransientAction {
    /// Let these networks through the doors (guard) or the firewall
    Add {
        /// Networks (CIDR) or addresses, IPv4 or IPv6
        #[arg(required = true, value_name = "NET", value_parser = network)]
        nets: Vec<IpNet>,
        /// Forget them after this long, e.g. 2h [default: at the next apply or reboot]
        #[arg(long, value_name = "DUR", value_parser = positive_duration)]
        timeout: Option<Duration>,
    },
    /// Remove these networks (each exactly as added)
    Del {
        #[arg(required = true, value_name = "NET", value_parser = network)]
        nets: Vec<IpNet>,
    },
    /// Remove all transient networks
    Flush,
    /// Show the transient networks
    List {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the value of KEY (lists space-separated; nothing when unset)
    Get {
        /// KEY, TABLE.KEY or door.NAME.KEY (door.0.KEY: the first door)
        key: String,
    },
    /// Set KEY to VALUE (more KEY VALUE pairs may follow, applied together);
    /// refused, with nothing written, if the config would be invalid
    Set {
        /// KEY, TABLE.KEY or door.NAME.KEY (door.0.KEY: the first door)
        key: String,
        /// The value; lists are separated by spaces or commas
        value: String,
        /// More KEY VALUE pairs
        #[arg(value_name = "KEY VALUE")]
        more: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl From<Shell> for clap_complete::Shell {
    fn from(s: Shell) -> Self {
        match s {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() || d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!("`{s}` must be more than 0, in whole milliseconds"));
    }
    Ok(d)
}

/// A network in CIDR notation, or a single address.
fn network(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not a network (CIDR) or an address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
