//! The command line (clap derive). The man page and the completions are
//! checked against this definition by the tests.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
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
    Check(CheckArgs),
    /// Print the ruleset that `apply` would load
    Show,
    /// Validate, render and load the rules atomically (root)
    Apply(ApplyArgs),
    /// Keep the rules of a pending `apply --confirm`, and save them for boot (root)
    Confirm,
    /// Load rotating doors' sequences of the previous, current and next period (root; run by nfknock-rotate.timer)
    Rotate,
    /// Write a new random secret for a rotating door (mode 0600; never overwrites)
    GenSecret(GenSecretArgs),
    /// Put back the rules of a pending `apply --confirm` once it is due (internal)
    #[command(hide = true)]
    Rollback(RollbackArgs),
    /// Load the ruleset the last `apply` saved, as at boot (root)
    Restore,
    /// Remove everything nfknock added; other rules stay (root)
    Remove(RemoveArgs),
    /// Show doors, sources mid-sequence, open doors and counters (root)
    Status(StatusArgs),
    /// Print the counters and gauges of `status` for Prometheus (root)
    Metrics(MetricsArgs),
    /// Let networks in without knocking until the next apply or reboot (root)
    Transient {
        #[command(subcommand)]
        action: TransientAction,
    },
    /// Send a knock sequence to HOST (no root needed)
    Knock(KnockArgs),
    /// Knock, connect to HOST PORT once the door opens, relay stdin and stdout
    /// (an ssh ProxyCommand; no root needed)
    Connect(ConnectArgs),
    /// Follow the kernel's messages in the journal and mail every knock
    Watch(WatchArgs),
    /// Send one test mail with the [notify] settings
    NotifyTest,
    /// Print the watcher's view of the config: [log], [notify] and door names, no
    /// knock or secret (root; read by nfknock-watch.service through a socket)
    WatchView,
    /// Print a random strong knock sequence
    GenSequence(GenSequenceArgs),
    /// Read or change one key of the config, keeping comments and layout
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print an nfknock.toml equivalent to the original nfknock's nfknock.cfg or a knockd.conf
    Import(ImportArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
}

// Each command's arguments. (No doc comments on these structs: the
// command's help text is the variant's above.)

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the knock sequences too
    #[arg(long)]
    pub show_secrets: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Do not save the loaded ruleset for `restore` at boot
    #[arg(long)]
    pub no_persist: bool,
    /// Put the previous rules back after SECS unless `nfknock confirm` runs first
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub confirm: Option<u64>,
}

#[derive(Debug, Args)]
pub struct GenSecretArgs {
    /// Where to write it, e.g. /etc/nfknock/ssh.secret
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[arg(long)]
    pub token: String,
    /// Seconds to wait first
    #[arg(long)]
    pub after: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Keep the saved ruleset
    #[arg(long)]
    pub no_persist: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Write DIR/nfknock.prom atomically instead, for node_exporter's
    /// textfile collector (Debian: /var/lib/prometheus/node-exporter)
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KnockArgs {
    /// Host name or address to knock on
    pub host: String,
    /// Knocks to send (PORT, PORT/tcp, PORT/udp, PORT:udp, t:PORT, u:PORT;
    /// several in one argument with commas: T:10000,U:10001);
    /// default: the door's sequence from hosts.toml or the config
    #[arg(value_name = "PORTSPEC", value_delimiter = ',')]
    pub knocks: Vec<PortSpec>,
    /// Which door's sequence to send [default: the only door]
    #[arg(long, value_name = "NAME")]
    pub door: Option<String>,
    /// Derive a rotating door's sequence from this secret, without a
    /// config or hosts.toml (needs --door and --door-port)
    #[arg(long, value_name = "FILE", requires_all = ["door", "door_port", "period"],
          conflicts_with = "knocks")]
    pub secret_file: Option<PathBuf>,
    /// With --secret-file: the rotating door's hidden port, e.g. 22/tcp
    #[arg(long, value_name = "PORTSPEC", requires = "secret_file")]
    pub door_port: Option<PortSpec>,
    /// With --secret-file: the door's rotation period, e.g. 60s
    #[arg(long, value_name = "DUR", requires = "secret_file")]
    pub period: Option<String>,
    /// With --secret-file: knocks in the sequence
    #[arg(long, value_name = "N", requires = "secret_file",
          default_value_t = crate::rotate::DEFAULT_LENGTH)]
    pub length: usize,
    /// With --secret-file: the server's other door ports and open ports,
    /// which its knocks avoid, e.g. 443/tcp,8443/tcp
    #[arg(
        long,
        value_name = "PORTSPEC",
        value_delimiter = ',',
        requires = "secret_file"
    )]
    pub avoid: Vec<PortSpec>,
    /// Pause between two knocks, e.g. 20ms, 1s
    #[arg(long, value_name = "DUR", default_value = "20ms", value_parser = duration)]
    pub delay: Duration,
    /// Knock on HOST's IPv4 address only [default: the first address of each family]
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Knock on HOST's IPv6 address only
    #[arg(short = '6')]
    pub ipv6: bool,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Host name or address to connect to (ssh's %h)
    pub host: String,
    /// The door's TCP port (ssh's %p)
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Which door's sequence to send [default: the door on PORT, or the only door]
    #[arg(long, value_name = "NAME")]
    pub door: Option<String>,
    /// Knock and connect at most N times before giving up
    #[arg(long, value_name = "N", default_value_t = crate::connect::DEFAULT_TRIES,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub tries: u32,
    /// Give up one connect after DUR, e.g. 3s
    #[arg(long, value_name = "DUR", default_value = crate::connect::DEFAULT_TIMEOUT,
          value_parser = positive_duration)]
    pub timeout: Duration,
    /// Pause between two knocks, e.g. 20ms, 1s
    #[arg(long, value_name = "DUR", default_value = "20ms", value_parser = duration)]
    pub delay: Duration,
    /// Connect over IPv4 only
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Connect over IPv6 only
    #[arg(short = '6')]
    pub ipv6: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Read the journal files of DIR (e.g. from systemd-journal-remote)
    #[arg(long, value_name = "DIR")]
    pub journal_dir: Option<PathBuf>,
    /// Print the mails instead of sending them
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct GenSequenceArgs {
    /// Number of knocks (3 to 16)
    #[arg(long, value_name = "N", default_value_t = crate::sequence::DEFAULT_LENGTH,
          value_parser = clap::value_parser!(u8).range(3..=16))]
    pub length: u8,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to convert
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Subcommand)]
pub enum TransientAction {
    /// Let these networks through the doors (guard) or the firewall
    Add(TransientAddArgs),
    /// Remove these networks (each exactly as added)
    Del(TransientDelArgs),
    /// Remove all transient networks
    Flush,
    /// Show the transient networks
    List(TransientListArgs),
}

#[derive(Debug, Args)]
pub struct TransientAddArgs {
    /// Networks (CIDR) or addresses, IPv4 or IPv6
    #[arg(required = true, value_name = "NET", value_parser = network)]
    pub nets: Vec<IpNet>,
    /// Forget them after this long, e.g. 2h [default: at the next apply or reboot]
    #[arg(long, value_name = "DUR", value_parser = positive_duration)]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct TransientDelArgs {
    #[arg(required = true, value_name = "NET", value_parser = network)]
    pub nets: Vec<IpNet>,
}

#[derive(Debug, Args)]
pub struct TransientListArgs {
    /// Print JSON for scripts
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the value of KEY (lists space-separated; nothing when unset)
    Get(ConfigGetArgs),
    /// Set KEY to VALUE (more KEY VALUE pairs may follow, or come from
    /// stdin with --stdin, applied together); refused, with nothing
    /// written, if the config would be invalid
    Set(ConfigSetArgs),
}

#[derive(Debug, Args)]
pub struct ConfigGetArgs {
    /// KEY, TABLE.KEY or door.NAME.KEY (door.0.KEY: the first door)
    pub key: String,
}

#[derive(Debug, Args)]
pub struct ConfigSetArgs {
    /// Read more KEY VALUE pairs from stdin, one a line (the key, white
    /// space, the value): for secrets, which must not show in argv
    #[arg(long)]
    pub stdin: bool,
    /// KEY VALUE pairs: KEY, TABLE.KEY or door.NAME.KEY (door.0.KEY: the
    /// first door); lists are separated by spaces or commas
    #[arg(
        value_name = "KEY VALUE",
        required_unless_present = "stdin",
        allow_hyphen_values = true
    )]
    pub pairs: Vec<String>,
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
