//! The commands: each one reads the config, calls the library and prints.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::CommandFactory;

use crate::cli::{
    Cli, Command, ConfigAction, ConfigGetArgs, ConfigSetArgs, ConnectArgs, KnockArgs,
    TransientAction, TransientAddArgs, TransientDelArgs, TransientListArgs,
};
use crate::config::{self, Closed, Config, Mode, Resolved};
use crate::exit::Error;
use crate::firewall::plan::{ClosedAnswer, HostDrops};
use crate::firewall::{self, Plan, Status};
use crate::knock::{self, FamilyChoice};
use crate::lifecycle::{self, Say};
use crate::port::PortSpec;
use crate::state::StateDir;
use crate::{clock, connect, listening, metrics, sequence, state, watch};

/// Writes to stdout. A reader that went away (`nfknock show | head -1`)
/// ends the command quietly, as it ends `cat`: no panic, no message.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("nfknock: cannot write to stdout: {e}");
        std::process::exit(crate::exit::Exit::Failure as i32);
    }
}

/// `println!` that ends quietly on a closed pipe ([`emit`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        emit(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// Where a command prints: quiet mode keeps only errors and warnings.
struct Out {
    quiet: bool,
    verbose: bool,
}

impl Out {
    fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            outln!("{}", msg.as_ref());
        }
    }
    fn detail(&self, msg: impl AsRef<str>) {
        if self.verbose {
            eprintln!("{}", msg.as_ref());
        }
    }
    fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
    }
}

impl Say for Out {
    fn info(&self, msg: &str) {
        Out::info(self, msg);
    }
    fn detail(&self, msg: &str) {
        Out::detail(self, msg);
    }
    fn warn(&self, msg: &str) {
        Out::warn(self, msg);
    }
}

pub fn run(cli: Cli) -> Result<(), Error> {
    let out = Out {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let explicit = cli.config.as_deref();
    let config = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let path = config.as_path();
    let state = StateDir::from_env();
    match cli.command {
        Command::Check(a) => check(&out, path, a.show_secrets),
        Command::Show => show(&out, path),
        Command::Apply(a) => apply(&out, path, a.no_persist, a.confirm),
        Command::Confirm => {
            require_net_admin("confirm")?;
            lifecycle::confirm(&out, &state)
        }
        Command::Rotate => {
            require_net_admin("rotate")?;
            lifecycle::rotate(&out, &state)
        }
        Command::GenSecret(a) => gen_secret(&out, &a.file),
        Command::Rollback(a) => lifecycle::rollback(&out, &state, &a.token, a.after),
        Command::Restore => {
            require_net_admin("restore")?;
            lifecycle::restore(&out, &state)
        }
        Command::Remove(a) => {
            require_net_admin("remove")?;
            lifecycle::remove(&out, &state, a.no_persist)
        }
        Command::Status(a) => status(&out, path, a.json),
        Command::Transient { action } => transient(&out, path, action),
        Command::Metrics(a) => {
            require_net_admin("metrics")?;
            let kind = kernel_backend(path)?;
            let text = metrics::gather(kind, &state).map_err(Error::failure)?;
            match a.textfile {
                None => emit(&text),
                Some(dir) => {
                    let path = metrics::write_textfile(&dir, &text).map_err(Error::failure)?;
                    out.detail(format!("wrote {}", path.display()));
                }
            }
            Ok(())
        }
        Command::Knock(a) => send_knocks(&out, a, explicit),
        Command::Connect(a) => connect_to(&out, a, explicit),
        Command::Watch(a) => {
            let cfg = load_view(&out, path)?;
            let opts = watch::Options {
                journal_dir: a.journal_dir,
                dry_run: a.dry_run,
                state_dir: state.path().to_path_buf(),
            };
            watch::watch(&cfg, &opts).map_err(watch_error)
        }
        Command::NotifyTest => {
            let cfg = load_view(&out, path)?;
            out.info(watch::notify_test(&cfg).map_err(watch_error)?);
            Ok(())
        }
        Command::WatchView => {
            let text = crate::load::read(path)?;
            let cfg = crate::load::parse(&text, path)?;
            emit(&watch::view::render(&cfg, &text, path));
            Ok(())
        }
        Command::GenSequence(a) => gen_sequence(path, a.length),
        Command::Config { action } => config_edit(&out, path, action),
        Command::Import(a) => import_file(&out, &a.file),
        Command::Completions(a) => {
            let mut script = Vec::new();
            clap_complete::generate(
                clap_complete::Shell::from(a.shell),
                &mut Cli::command(),
                "nfknock",
                &mut script,
            );
            emit(&String::from_utf8_lossy(&script));
            Ok(())
        }
    }
}

fn show(out: &Out, path: &Path) -> Result<(), Error> {
    let cfg = resolved(out, path)?;
    // The names' key, as apply makes and keeps it. Without it (not root)
    // a throwaway key: the ruleset is the same but for its names.
    let key = StateDir::from_env()
        .names_key_or_create()
        .unwrap_or_else(|e| {
            out.warn(format!(
                "{e}; the names of sets and lists below differ from what apply loads"
            ));
            let mut b = [0u8; 32];
            let _ = getrandom::fill(&mut b);
            b
        });
    emit(&firewall::backend(cfg.backend)?.render(&Plan::new(&cfg, key)));
    Ok(())
}

fn gen_secret(out: &Out, file: &Path) -> Result<(), Error> {
    crate::rotate::gen_secret(file)
        .map_err(|e| Error::failure(anyhow!("cannot write {}: {e}", file.display())))?;
    out.info(format!(
        "nfknock: wrote a new secret to {} (mode 0600)",
        file.display()
    ));
    Ok(())
}

fn send_knocks(out: &Out, a: KnockArgs, explicit_config: Option<&Path>) -> Result<(), Error> {
    let knocks = match (a.secret_file, a.door_port, a.period, a.door) {
        // clap makes --secret-file come with all three.
        (Some(secret_file), Some(port), Some(period), Some(door)) => {
            let rotating = knock::HostDoor::Rotating(knock::HostRotate {
                port: vec![port.into()],
                avoid: a.avoid,
                secret_file,
                period,
                length: a.length,
            });
            rotating
                .sequence(&door, clock::now())
                .map_err(|e| Error::usage(anyhow!("--secret-file: {e}")))?
        }
        (_, _, _, door) if a.knocks.is_empty() => {
            sequence_for(&a.host, door.as_deref(), None, explicit_config)?
        }
        _ => a.knocks,
    };
    let addrs = knock::resolve_families(&a.host, family(a.ipv4, a.ipv6))?;
    knock::knock_each(&addrs, &knocks, a.delay, |m| out.detail(m))?;
    Ok(())
}

fn connect_to(out: &Out, a: ConnectArgs, explicit_config: Option<&Path>) -> Result<(), Error> {
    let door_port = PortSpec::new(a.port, crate::port::Proto::Tcp);
    let sequence = sequence_for(&a.host, a.door.as_deref(), Some(door_port), explicit_config)?;
    let opts = connect::Options {
        sequence,
        delay: a.delay,
        tries: a.tries,
        timeout: a.timeout,
    };
    let addrs = knock::resolve_all(&a.host, family(a.ipv4, a.ipv6))?;
    let stream = connect::open(&a.host, &addrs, a.port, &opts, |m| out.detail(m))?;
    connect::relay(stream, std::io::stdin(), std::io::stdout())
        .map_err(|e| Error::failure(anyhow!("{} port {}: {e}", a.host, a.port)))
}

fn gen_sequence(path: &Path, length: u8) -> Result<(), Error> {
    // Avoid this host's door and open ports when a config is at hand.
    let reserved = crate::load::load(path)
        .map(|c| c.reserved_ports())
        .unwrap_or_default();
    let seq = sequence::generate(usize::from(length), &reserved).map_err(Error::failure)?;
    outln!("{}", join(&seq));
    Ok(())
}

fn import_file(out: &Out, file: &Path) -> Result<(), Error> {
    let bytes = std::fs::read(file)
        .map_err(|e| Error::failure(anyhow!("cannot read {}: {e}", file.display())))?;
    // A knockd.conf in Latin-1 still imports; what is not UTF-8 becomes U+FFFD.
    let text = String::from_utf8_lossy(&bytes);
    let toml = crate::import::import(&text)
        .map_err(|e| Error::usage(anyhow!("{}: {e}", file.display())))?;
    emit(&toml);
    if let Err(e) = crate::import::check(&toml) {
        out.warn(format!(
            "the result needs editing before nfknock accepts it (see its comments):\n{e}"
        ));
    }
    Ok(())
}

fn config_edit(out: &Out, path: &Path, action: ConfigAction) -> Result<(), Error> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| Error::failure(anyhow!("cannot read {}: {e}", p.display())))
    };
    match action {
        ConfigAction::Get(ConfigGetArgs { key }) => {
            let text = read(path)?;
            let v = crate::edit::get(&text, &key)
                .map_err(|e| Error::usage(anyhow!("{}: {e}", path.display())))?;
            if let Some(v) = v {
                outln!("{v}");
            }
            Ok(())
        }
        ConfigAction::Set(ConfigSetArgs { stdin, mut pairs }) => {
            if pairs.len() % 2 != 0 {
                return Err(Error::usage(anyhow!(
                    "config set takes KEY VALUE pairs; `{}` has no value",
                    pairs[pairs.len() - 1]
                )));
            }
            // Read, change and write under the lock: no edit is lost to
            // another command. A user who may not write the state
            // directory edits a config of their own, which no nfknock
            // command of root's changes.
            let _lock = match StateDir::from_env().lock() {
                Err(state::Error::Write { source, .. })
                    if source.kind() == std::io::ErrorKind::PermissionDenied =>
                {
                    None
                }
                other => Some(other.map_err(|e| Error::failure(anyhow!(e)))?),
            };
            if stdin {
                pairs.extend(stdin_pairs(std::io::stdin().lock())?);
            }
            // A missing file is a new, empty config.
            let mut new = match std::fs::read_to_string(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                _ => read(path)?,
            };
            for p in pairs.chunks(2) {
                let (k, v) = (p[0].as_str(), p[1].as_str());
                new = crate::edit::set(&new, k, v)
                    .map_err(|e| Error::usage(anyhow!("{}: {e}", path.display())))?;
            }
            crate::load::parse(&new, path)?;
            write_config(path, &new)
                .map_err(|e| Error::failure(anyhow!("cannot write {}: {e}", path.display())))?;
            out.detail(format!("{}: changed", path.display()));
            Ok(())
        }
    }
}

/// `config set --stdin`: KEY VALUE pairs, one a line (the key, white
/// space, the value, which may be empty or hold spaces). Secrets come
/// this way so that they never show in /proc/PID/cmdline.
fn stdin_pairs(input: impl std::io::BufRead) -> Result<Vec<String>, Error> {
    let mut pairs = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Error::failure(anyhow!("cannot read stdin: {e}")))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let line = line.trim_start();
        let (key, value) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        if key.is_empty() {
            return Err(Error::usage(anyhow!("stdin line {}: no key", n + 1)));
        }
        pairs.push(key.to_string());
        pairs.push(value.trim().to_string());
    }
    Ok(pairs)
}

/// Writes the config atomically, keeping its mode (new files: 0600, as
/// it holds the knock sequences). A symlinked config stays a symlink:
/// the file it points to is replaced.
fn write_config(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let mode = std::fs::metadata(&target).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    state::write_atomic(&target, text.as_bytes(), mode)
}

/// `-4`, `-6` or neither.
fn family(ipv4: bool, ipv6: bool) -> FamilyChoice {
    match (ipv4, ipv6) {
        (true, _) => FamilyChoice::V4,
        (_, true) => FamilyChoice::V6,
        _ => FamilyChoice::Any,
    }
}

fn watch_error(e: watch::Error) -> Error {
    match e {
        watch::Error::Config(_) => Error::usage(e),
        _ => Error::failure(e),
    }
}

fn join(seq: &[PortSpec]) -> String {
    seq.iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn load(out: &Out, path: &Path) -> Result<Config, Error> {
    let cfg = crate::load::load(path)?;
    for w in &cfg.warnings {
        out.warn(format!("{}: {w}", path.display()));
    }
    Ok(cfg)
}

/// What `watch` and `notify-test` read: the watcher's view, or a full
/// config of which they take the same part.
fn load_view(out: &Out, path: &Path) -> Result<watch::view::View, Error> {
    let (view, warnings) = crate::load::load_view(path)?;
    for w in &warnings {
        out.warn(format!("{}: {w}", path.display()));
    }
    Ok(view)
}

/// The config with rotating doors' sequences derived for now: what
/// show, apply and rotate render.
fn resolved(out: &Out, path: &Path) -> Result<Resolved, Error> {
    let cfg = load(out, path)?;
    crate::rotate::resolve(cfg, clock::now()).map_err(|e| Error::failure(anyhow!(e)))
}

fn check(out: &Out, path: &Path, show_secrets: bool) -> Result<(), Error> {
    let cfg = load(out, path)?;
    warn_exposed(out, path, &cfg);
    // A secret that cannot be read would leave its door shut: an error.
    let cfg = crate::rotate::resolve(cfg, clock::now())
        .map_err(|e| Error::usage(anyhow!("{}: {e}", path.display())))?;
    // A door's sequence now (a rotating door's, this period's).
    let sequence = |d: &config::Door| -> Vec<PortSpec> {
        cfg.door(&d.name)
            .map(|rd| rd.sequence.to_vec())
            .unwrap_or_default()
    };
    out.info(format!(
        "{}: valid; backend {}, mode {}, {} door(s)",
        path.display(),
        cfg.backend,
        cfg.mode,
        cfg.doors.len()
    ));
    for d in &cfg.doors {
        let knocks = sequence(d);
        let seq = if let (Some(r), false) = (d.rotate(), show_secrets) {
            format!("rotating every {}", humantime::format_duration(r.period))
        } else if show_secrets {
            join(&knocks)
        } else {
            "hidden, --show-secrets prints it".to_string()
        };
        let opening: String = d.opening().iter().map(|n| format!("; {n}")).collect();
        out.info(format!(
            "  door {}: {} behind {} knocks ({seq}); knock gap {}, open {}{opening}",
            d.name,
            d.ports,
            knocks.len(),
            humantime::format_duration(d.sequence_timeout),
            humantime::format_duration(d.door_timeout)
        ));
        for line in who_and_where(d, cfg.mode) {
            out.info(format!("    {line}"));
        }
    }
    out.info(format!("  {}", allow_summary(&cfg)));
    warn_allow_all(out, &cfg);
    // `auto` reads the host's rules, when this user may.
    let host = firewall::host::reads_host(&cfg)
        .then(|| firewall::host::drops(cfg.backend))
        .and_then(Result::ok);
    out.info(match host {
        Some(drops) => {
            let closed = ClosedAnswer::decide(cfg.mode, cfg.closed, &drops);
            format!("  closed: {} ({})", answers(&closed), closed.why)
        }
        None if cfg.mode == Mode::Firewall => "  closed: drop (mode = \"firewall\")".to_string(),
        None if cfg.closed == Closed::Auto => {
            "  closed: auto (apply reads this host's input chains; run check as root to see)"
                .to_string()
        }
        None => format!("  closed: {}", cfg.closed),
    });
    if cfg.mode == Mode::Firewall {
        out.info(forward_summary(cfg.firewall.forward));
    }
    let listening = listening::listening();
    for d in &cfg.doors {
        for k in sequence(d).iter().filter(|k| listening.contains(k)) {
            out.warn(format!(
                "door {}: knock {k} is a port this host listens on; knocks will reach that service",
                d.name
            ));
        }
    }
    Ok(())
}

/// What firewall mode does with forwarded traffic, for `check`.
fn forward_summary(forward: config::Forward) -> String {
    match forward {
        config::Forward::Accept => "  forward: accept (routed traffic is left to this host's other rules; a door on a forwarded port stays hidden)".to_string(),
        config::Forward::Drop => "  forward: drop (forwarded traffic is dropped too, unless established, from [allow] or transient networks, to an open port or an opened door, or ICMP as icmp says)".to_string(),
    }
}

/// Warns when the config or a rotating door's secret may be read by
/// others than its owner: either gives the knock sequences away.
fn warn_exposed(out: &Out, path: &Path, cfg: &Config) {
    if let Some(mode) = crate::rotate::readable_by_others(path) {
        out.warn(format!(
            "{} is readable by others (mode {mode:04o}) and holds the knock sequences; chmod 600 it",
            path.display()
        ));
    }
    for d in &cfg.doors {
        if let Some(r) = d.rotate()
            && let Some(mode) = crate::rotate::readable_by_others(&r.secret_file)
        {
            out.warn(format!(
                "door {}: the secret {} is readable by others (mode {mode:04o}); chmod 600 it",
                d.name,
                r.secret_file.display()
            ));
        }
    }
}

/// Firewall commands need CAP_NET_ADMIN; say so before nft does.
fn require_net_admin(what: &str) -> Result<(), Error> {
    const CAP_NET_ADMIN: u32 = 12;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    match eff {
        Some(caps) if caps & (1 << CAP_NET_ADMIN) == 0 => Err(Error::failure(anyhow!(
            "`nfknock {what}` needs root (CAP_NET_ADMIN); try: sudo nfknock {what}"
        ))),
        _ => Ok(()),
    }
}

fn apply(out: &Out, path: &Path, no_persist: bool, confirm: Option<u64>) -> Result<(), Error> {
    // Validation first: a bad config changes nothing, even for non-root.
    // The text read once is what is parsed, applied and kept.
    let text = crate::load::read(path)?;
    let cfg = crate::load::parse(&text, path)?;
    for w in &cfg.warnings {
        out.warn(format!("{}: {w}", path.display()));
    }
    let cfg = crate::rotate::resolve(cfg, clock::now()).map_err(|e| Error::failure(anyhow!(e)))?;
    warn_exposed(out, path, cfg.config());
    warn_allow_all(out, cfg.config());
    require_net_admin("apply")?;
    let state = StateDir::from_env();
    // What the host's own rules mean for the doors: how a closed door
    // answers, and any chain that would still drop an opened one. Read
    // once: nfknock's apply changes no other table.
    let host = firewall::host::read()?;
    let drops = if firewall::host::reads_host(&cfg) {
        firewall::host::drops_beside(&host, cfg.backend)?
    } else {
        HostDrops::default()
    };
    lifecycle::apply(out, &cfg, &drops, path, &text, &state, no_persist, confirm)?;
    out.info(format!("nfknock: {}", allow_summary(cfg.config())));
    let closed = ClosedAnswer::decide(cfg.mode, cfg.closed, &drops);
    out.info(format!(
        "nfknock: a closed door answers {} ({})",
        answers(&closed),
        closed.why
    ));
    for b in host.blockers(&door_ports(&cfg)) {
        out.warn(b);
    }
    Ok(())
}

/// Every door's name and ports: of a range, its two ends (a host's rule
/// that drops some of a range drops one end or the other, mostly).
fn door_ports(cfg: &Config) -> Vec<(String, PortSpec)> {
    cfg.doors
        .iter()
        .flat_map(|d| {
            d.ports.iter().flat_map(move |r| {
                let ends = if r.is_single() {
                    vec![r.first()]
                } else {
                    vec![r.first(), PortSpec::new(r.high, r.proto)]
                };
                ends.into_iter().map(move |p| (d.name.to_string(), p))
            })
        })
        .collect()
}

/// `reset`, `drop`, or `drop (IPv4), reset (IPv6)`.
fn answers(c: &ClosedAnswer) -> String {
    if c.v4 == c.v6 {
        c.v4.as_str().to_string()
    } else {
        format!("{} (IPv4), {} (IPv6)", c.v4.as_str(), c.v6.as_str())
    }
}

/// The `[allow]` networks by name: they pass the doors (guard) or
/// everything (firewall) without knocking, which a count hid.
fn allow_summary(cfg: &Config) -> String {
    let nets: Vec<String> = (cfg.allow.ipv4.iter().map(ToString::to_string))
        .chain(cfg.allow.ipv6.iter().map(ToString::to_string))
        .collect();
    if nets.is_empty() {
        return "allow: no network; every source must knock".to_string();
    }
    let what = match cfg.mode {
        config::Mode::Guard => "the doors",
        config::Mode::Firewall => "the firewall",
    };
    format!("allow: {} pass {what} without knocking", nets.join(", "))
}

/// A /0 in `[allow]` lets a whole address family in without knocking.
fn warn_allow_all(out: &Out, cfg: &Config) {
    let all = (cfg.allow.ipv4.iter().filter(|n| n.prefix_len() == 0))
        .map(|n| (n.to_string(), "IPv4"))
        .chain(
            cfg.allow
                .ipv6
                .iter()
                .filter(|n| n.prefix_len() == 0)
                .map(|n| (n.to_string(), "IPv6")),
        );
    for (net, family) in all {
        out.warn(format!(
            "[allow] {net} lets EVERY {family} source in without knocking: the doors hide nothing over {family}"
        ));
    }
}

/// The backend whose rules are loaded; when none is, the config's (or the
/// default), so that its messages say what is missing.
fn kernel_backend(path: &Path) -> Result<config::Backend, Error> {
    Ok(match firewall::loaded_backend()? {
        Some(kind) => kind,
        None => crate::load::load(path)
            .map(|c| c.backend)
            .unwrap_or_default(),
    })
}

fn status(out: &Out, path: &Path, json: bool) -> Result<(), Error> {
    require_net_admin("status")?;
    let mut status = firewall::backend(kernel_backend(path)?)?.status()?;
    let state = StateDir::from_env();
    let confirmation = lifecycle::confirmation(&state);
    status.confirm_within = confirmation.within();
    match confirmation {
        lifecycle::Confirmation::Due(_) => out.warn(
            "an `apply --confirm` is past its deadline: its rollback, or the next nfknock command that changes rules, puts the previous rules back",
        ),
        lifecycle::Confirmation::Stale(_) => out.warn(
            "an `apply --confirm` from before the last reboot is left over; the reboot ended it, and the next nfknock command that changes rules drops it",
        ),
        _ => {}
    }
    // The doors' ports are the config's; without one, nothing to say.
    let cfg = if status.loaded {
        crate::load::load(path).ok()
    } else {
        None
    };
    if let Some(cfg) = &cfg {
        status.blocked = firewall::host::read()?.blockers(&door_ports(cfg));
        for door in &cfg.doors {
            if let Some(d) = status
                .doors
                .iter_mut()
                .find(|d| d.name == door.name.as_str())
            {
                // How each door opens is the config's, as its ports are.
                d.set_opening(door);
                d.ports = door.ports.iter().map(ToString::to_string).collect();
            }
        }
    }
    if json {
        let text = serde_json::to_string_pretty(&status).map_err(Error::failure)?;
        outln!("{text}");
    } else {
        print_status(out, &status);
        if let Some(cfg) = &cfg {
            print_who_and_where(cfg);
        }
    }
    Ok(())
}

fn transient(out: &Out, path: &Path, action: TransientAction) -> Result<(), Error> {
    require_net_admin("transient")?;
    let state = StateDir::from_env();
    // Listing changes nothing; the others wait for a running apply.
    let _lock = match action {
        TransientAction::List(_) => None,
        _ => Some(lifecycle::lock(&state)?),
    };
    let backend = firewall::backend(kernel_backend(path)?)?;
    match action {
        TransientAction::Add(TransientAddArgs { nets, timeout }) => {
            backend.transient_add(&nets, timeout)?;
            let until = timeout.map_or("the next apply or reboot".to_string(), |t| {
                format!("{} from now", humantime::format_duration(t))
            });
            out.info(format!(
                "nfknock: {} network(s) pass without knocking until {until}",
                nets.len()
            ));
        }
        TransientAction::Del(TransientDelArgs { nets }) => {
            backend.transient_del(&nets)?;
            out.info(format!(
                "nfknock: {} transient network(s) removed",
                nets.len()
            ));
        }
        TransientAction::Flush => {
            backend.transient_flush()?;
            out.info("nfknock: all transient networks removed");
        }
        TransientAction::List(TransientListArgs { json }) => {
            let list = backend.transient_list()?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&list).map_err(Error::failure)?
                );
            } else if list.is_empty() {
                out.info("nfknock: no transient networks");
            } else {
                for t in list {
                    let until = t
                        .expires_in
                        .map_or("until the next apply or reboot".to_string(), |s| {
                            format!("{s:.0}s left")
                        });
                    outln!("{:<43} {until}", t.network.to_string());
                }
            }
        }
    }
    Ok(())
}

/// A door's `from` and `interfaces`, in words, for `check` and `status`;
/// nothing for a door anyone may knock on anywhere.
fn who_and_where(d: &crate::config::Door, mode: Mode) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(from) = &d.from {
        let nets: Vec<String> = (from.ipv4.iter().map(ToString::to_string))
            .chain(from.ipv6.iter().map(ToString::to_string))
            .collect();
        let mut line = format!("may knock: only from {}", nets.join(", "));
        for (family, none) in [
            ("IPv4", from.ipv4.is_empty()),
            ("IPv6", from.ipv6.is_empty()),
        ] {
            if none {
                line += &format!("; not over {family}");
            }
        }
        lines.push(line);
    }
    if !d.interfaces.is_empty() {
        let names: Vec<&str> = d.interfaces.iter().map(|i| &**i).collect();
        lines.push(format!(
            "interfaces: only {}; elsewhere {} {}",
            names.join(", "),
            d.ports,
            match (mode, d.ports.is_single()) {
                (Mode::Guard, true) => "is untouched (as without nfknock)",
                (Mode::Guard, false) => "are untouched (as without nfknock)",
                (Mode::Firewall, true) => "is dropped like any port not in `open`",
                (Mode::Firewall, false) => "are dropped like any port not in `open`",
            }
        ));
    }
    lines
}

/// `status`: who may knock on each door and where, from the config.
fn print_who_and_where(cfg: &Config) {
    for d in &cfg.doors {
        for line in who_and_where(d, cfg.mode) {
            outln!("door {} {line}", d.name);
        }
    }
}

fn print_status(out: &Out, s: &Status) {
    if !s.loaded {
        out.info(format!("nfknock: no rules loaded ({})", s.backend));
        return;
    }
    let mut text = format!("nfknock: rules loaded ({})\n", s.backend);
    if !s.closed.is_empty() {
        text += &format!("a closed door answers: {}\n", s.closed.join(", "));
    }
    if s.forward_dropped {
        text += "forwarded traffic: dropped unless let through (forward = \"drop\")\n";
    }
    for b in &s.blocked {
        out.warn(b);
    }
    if let Some(left) = s.confirm_within {
        text += &format!(
            "pending: `nfknock confirm` within {left}s, or the previous rules come back\n"
        );
    }
    for d in &s.doors {
        let opening: String = config::opening(d.single_use, d.open_prefix_v4, d.open_prefix_v6)
            .iter()
            .map(|n| format!("; {n}"))
            .collect();
        let on = if d.ports.is_empty() {
            String::new()
        } else {
            format!(" on {}", d.ports.join(", "))
        };
        text += &format!(
            "door {}{on} ({} knocks): {} completed, {} entries, {} resets{opening}\n",
            d.name, d.knocks, d.counters.knocks, d.counters.entries, d.counters.resets
        );
        for src in &d.in_progress {
            text += &format!(
                "  knocking  {:<39} sent {}/{}, {:.0}s left\n",
                src.address.to_string(),
                src.stage.unwrap_or(0),
                d.knocks,
                src.expires_in
            );
        }
        for src in &d.open {
            text += &format!(
                "  open      {:<39} {:.0}s left\n",
                d.opened_for(src.address),
                src.expires_in
            );
        }
    }
    for t in &s.transient {
        text += &format!(
            "transient {:<39} {}\n",
            t.network.to_string(),
            t.expires_in
                .map_or("until the next apply or reboot".to_string(), |e| format!(
                    "{e:.0}s left"
                ))
        );
    }
    if !out.quiet {
        emit(&text);
    }
}

/// The sequence to knock when none is given on the command line: from the
/// config named with -c (or NFKNOCK_CONFIG), else from the client file's
/// entry for HOST, else from the default config when it is readable and
/// HOST is this host. With -c and another host, the door must be named.
/// Without `door`, the door on `port` (when known) or the only door.
fn sequence_for(
    host: &str,
    door: Option<&str>,
    port: Option<PortSpec>,
    explicit: Option<&Path>,
) -> Result<Vec<PortSpec>, Error> {
    let from_config = |path: &Path| -> Result<Vec<PortSpec>, Error> {
        let cfg = crate::rotate::resolve(crate::load::load(path)?, clock::now())
            .map_err(|e| Error::failure(anyhow!(e)))?;
        let on_port = port.and_then(|p| cfg.doors.iter().find(|d| d.ports.contains(p)));
        let d = match door {
            Some(name) => cfg.door(name).ok_or_else(|| {
                Error::usage(anyhow!("{}: no door named \"{name}\"", path.display()))
            })?,
            None if on_port.is_some() => {
                let name = &on_port.expect("just checked").name;
                cfg.door(name).expect("its own door")
            }
            None if cfg.doors.len() == 1 => cfg.door(&cfg.doors[0].name).expect("its own door"),
            None => {
                return Err(Error::usage(anyhow!(
                    "{} has {} doors; pick one with --door",
                    path.display(),
                    cfg.doors.len()
                )));
            }
        };
        Ok(d.sequence.to_vec())
    };
    // The config's sequences go to another host only when the door is
    // named (--door, or the door on connect's PORT): a typo in HOST must
    // not send this server's sequence to whoever answers there.
    if let Some(path) = explicit {
        if door.is_none() && port.is_none() && !knock::is_this_host(host) {
            return Err(Error::usage(anyhow!(
                "{host} is not this host: name the door of {} to knock with --door, or give PORTSPECs",
                path.display()
            )));
        }
        return from_config(path);
    }
    if let Some(hosts_path) = knock::hosts_path() {
        let hosts = knock::load_hosts(&hosts_path).map_err(Error::usage)?;
        if let Some(doors) = hosts.get(host) {
            let on_port = doors.iter().find(|(_, e)| port.is_some_and(|p| e.is_on(p)));
            let chosen = match door {
                Some(name) => doors.get_key_value(name),
                None if on_port.is_some() => on_port,
                None if doors.len() == 1 => doors.iter().next(),
                None => None,
            };
            if let Some((name, entry)) = chosen {
                return entry.sequence(name, clock::now()).map_err(|e| {
                    Error::failure(anyhow!("{}: door \"{name}\": {e}", hosts_path.display()))
                });
            }
            let which = match door {
                Some(d) => format!("\"{d}\""),
                None => "chosen (pick one with --door)".to_string(),
            };
            let names: Vec<&str> = doors.keys().map(String::as_str).collect();
            return Err(Error::usage(anyhow!(
                "{}: host \"{host}\" has no door {which}; doors: {}",
                hosts_path.display(),
                names.join(", ")
            )));
        }
    }
    // This server's own config, but only to knock on this server.
    let default = Path::new(config::DEFAULT_PATH);
    if default.exists() && knock::is_this_host(host) {
        return from_config(default);
    }
    Err(Error::usage(anyhow!(
        "no knock sequence for {host}: give PORTSPECs, -c CONFIG with --door, or an entry in ~/.config/nfknock/hosts.toml{}",
        if default.exists() {
            format!(
                " ({} is used only for this host's own names and addresses)",
                default.display()
            )
        } else {
            String::new()
        }
    )))
}
