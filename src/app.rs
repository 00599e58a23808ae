//! The commands: each one reads the config, calls the library and prints.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::CommandFactory;

use crate::cli::{Cli, Command, ConfigAction, TransientAction};
use crate::config::{self, Config, Knocks, Resolved};
use crate::exit::Error;
use crate::firewall::{self, Plan, Status};
use crate::knock::{self, FamilyChoice};
use crate::port::PortSpec;
use crate::{confirm, listening, persist, sequence, watch};

/// Where a command prints: quiet mode keeps only errors and warnings.
struct Out {
    quiet: bool,
    verbose: bool,
}

impl Out {
    fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            println!("{}", msg.as_ref());
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

pub fn run(cli: Cli) -> Result<(), Error> {
    let out = Out {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let explicit_config = cli.config.clone();
    let config_path = cli
        .config
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    match cli.command {
        Command::Check { show_secrets } => check(&out, &config_path, show_secrets),
        Command::Show => {
            let cfg = resolved(&out, &config_path)?;
            print!(
                "{}",
                firewall::backend(cfg.backend)?.render(&Plan::new(&cfg))
            );
            Ok(())
        }
        Command::Apply {
            no_persist,
            confirm,
        } => apply(&out, &config_path, no_persist, confirm),
        Command::Confirm => confirm_pending(&out),
        Command::Rotate => {
            let cfg = resolved(&out, &config_path)?;
            if !cfg.rotates() {
                out.detail("nfknock: no door has a rotating sequence; nothing to do");
                return Ok(());
            }
            // The timer runs often; most runs find the period unchanged.
            let rendered = firewall::backend(cfg.backend)?.render(&Plan::new(&cfg));
            let loaded = persist::load(&confirm::loaded_dir(&persist::state_dir()))
                .ok()
                .flatten();
            if loaded.is_some_and(|l| l.ruleset == rendered) {
                out.detail("nfknock: the loaded sequences are current");
                return Ok(());
            }
            // A rotation is an apply: the unchanged slot's sets, the open
            // doors and the other doors keep their state.
            let quiet = Out {
                quiet: !out.verbose,
                verbose: out.verbose,
            };
            apply(&quiet, &config_path, false, None)
        }
        Command::GenSecret { file } => {
            crate::rotate::gen_secret(&file)
                .map_err(|e| Error::failure(anyhow!("cannot write {}: {e}", file.display())))?;
            out.info(format!(
                "nfknock: wrote a new secret to {} (mode 0600)",
                file.display()
            ));
            Ok(())
        }
        Command::Rollback { token, after } => rollback(&out, &token, after),
        Command::Restore => restore(&out),
        Command::Remove { no_persist } => remove(&out, no_persist),
        Command::Status { json } => status(&out, &config_path, json),
        Command::Transient { action } => transient(&out, &config_path, action),
        Command::Knock {
            host,
            knocks,
            door,
            secret_file,
            door_port,
            period,
            length,
            delay,
            ipv4,
            ipv6,
        } => {
            let family = match (ipv4, ipv6) {
                (true, _) => FamilyChoice::V4,
                (_, true) => FamilyChoice::V6,
                _ => FamilyChoice::Any,
            };
            let knocks = match (secret_file, door_port, period, door) {
                // clap makes --secret-file come with all three.
                (Some(secret_file), Some(port), Some(period), Some(door)) => {
                    let rotating = knock::HostDoor::Rotating(knock::HostRotate {
                        port,
                        secret_file,
                        period,
                        length,
                    });
                    rotating
                        .sequence(&door, crate::rotate::now())
                        .map_err(|e| Error::usage(anyhow!("--secret-file: {e}")))?
                }
                (_, _, _, door) if knocks.is_empty() => {
                    sequence_for(&host, door.as_deref(), explicit_config.as_deref())?
                }
                _ => knocks,
            };
            let addr = knock::resolve(&host, family)?;
            out.detail(format!("knocking on {addr}: {}", join(&knocks)));
            knock::knock(addr, &knocks, delay)?;
            Ok(())
        }
        Command::Watch {
            journal_dir,
            dry_run,
        } => {
            let cfg = load(&out, &config_path)?;
            let opts = watch::Options {
                journal_dir,
                dry_run,
                state_dir: persist::state_dir(),
            };
            watch::watch(&cfg, &opts).map_err(watch_error)
        }
        Command::NotifyTest => {
            let cfg = load(&out, &config_path)?;
            out.info(watch::notify_test(&cfg).map_err(watch_error)?);
            Ok(())
        }
        Command::GenSequence { length } => {
            // Avoid this host's door and open ports when a config is at hand.
            let reserved = crate::load::load(&config_path)
                .map(|c| c.reserved_ports())
                .unwrap_or_default();
            let seq = sequence::generate(usize::from(length), &reserved).map_err(Error::failure)?;
            println!("{}", join(&seq));
            Ok(())
        }
        Command::Config { action } => config_edit(&out, &config_path, action),
        Command::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::failure(anyhow!("cannot read {}: {e}", file.display())))?;
            let toml = crate::import::import(&text)
                .map_err(|e| Error::usage(anyhow!("{}: {e}", file.display())))?;
            print!("{toml}");
            if let Err(e) = crate::import::check(&toml) {
                out.warn(format!(
                    "the result needs editing before nfknock accepts it (see its comments):\n{e}"
                ));
            }
            Ok(())
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(
                clap_complete::Shell::from(shell),
                &mut cmd,
                "nfknock",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

fn config_edit(out: &Out, path: &Path, action: ConfigAction) -> Result<(), Error> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| Error::failure(anyhow!("cannot read {}: {e}", p.display())))
    };
    match action {
        ConfigAction::Get { key } => {
            let text = read(path)?;
            let v = crate::edit::get(&text, &key)
                .map_err(|e| Error::usage(anyhow!("{}: {e}", path.display())))?;
            if let Some(v) = v {
                println!("{v}");
            }
            Ok(())
        }
        ConfigAction::Set { key, value, more } => {
            if more.len() % 2 != 0 {
                return Err(Error::usage(anyhow!(
                    "config set takes KEY VALUE pairs; `{}` has no value",
                    more[more.len() - 1]
                )));
            }
            // A missing file is a new, empty config.
            let mut new = match std::fs::read_to_string(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                _ => read(path)?,
            };
            let pairs = std::iter::once((key.as_str(), value.as_str()))
                .chain(more.chunks(2).map(|p| (p[0].as_str(), p[1].as_str())));
            for (k, v) in pairs {
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

/// Writes the config atomically, keeping its mode (new files: 0600, as
/// it holds the knock sequences).
fn write_config(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
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

/// The config with rotating doors' sequences derived for now: what
/// show, apply and rotate render.
fn resolved(out: &Out, path: &Path) -> Result<Resolved, Error> {
    let cfg = load(out, path)?;
    crate::rotate::resolve(cfg, crate::rotate::now()).map_err(|e| Error::failure(anyhow!(e)))
}

fn check(out: &Out, path: &Path, show_secrets: bool) -> Result<(), Error> {
    let cfg = load(out, path)?;
    let resolved = crate::rotate::resolve(cfg.clone(), crate::rotate::now())
        .inspect_err(|e| out.warn(format!("{}: {e}", path.display())))
        .ok();
    // A rotating door's sequence, when its secret could be read.
    let sequence = |d: &config::Door| -> Vec<PortSpec> {
        match (&d.knocks, &resolved) {
            (Knocks::Fixed(s), _) => s.clone(),
            (Knocks::Rotating(_), Some(r)) => r
                .door(&d.name)
                .map(|rd| rd.sequence.to_vec())
                .unwrap_or_default(),
            (Knocks::Rotating(_), None) => Vec::new(),
        }
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
        out.info(format!(
            "  door {}: {} behind {} knocks ({seq}); knock gap {}, open {}",
            d.name,
            d.port,
            knocks.len(),
            humantime::format_duration(d.sequence_timeout),
            humantime::format_duration(d.door_timeout)
        ));
    }
    out.info(format!(
        "  allow: {} IPv4 and {} IPv6 network(s)",
        cfg.allow.ipv4.len(),
        cfg.allow.ipv6.len()
    ));
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
    let cfg = resolved(out, path)?;
    require_net_admin("apply")?;
    let state = persist::state_dir();
    let state_err = |e| Error::failure(anyhow!("the state directory: {e}"));
    // The baseline is taken before anything changes.
    let pending = match confirm {
        Some(secs) => Some(confirm::begin(&state, secs).map_err(state_err)?),
        None => None,
    };
    let plan = Plan::new(&cfg);
    let ruleset = match firewall::backend(cfg.backend).and_then(|b| b.apply(&plan)) {
        Ok(r) => r,
        Err(e) => {
            if let Some((_, true)) = pending {
                confirm::clear(&state).map_err(state_err)?;
            }
            return Err(e.into());
        }
    };
    // Moving to another backend: the old one's rules must not stay behind.
    for other in other_backends(cfg.backend) {
        remove_with(other)?;
    }
    let bytes = std::fs::read(path).unwrap_or_default();
    let record = persist::Record {
        backend: cfg.backend,
        config: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        config_sha256: persist::sha256_hex(&bytes),
        applied_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    persist::save(&confirm::loaded_dir(&state), &record, &ruleset).map_err(state_err)?;
    out.info(format!(
        "nfknock: {} door(s) hidden ({} mode, {})",
        cfg.doors.len(),
        cfg.mode,
        cfg.backend
    ));
    if let Some((p, _)) = pending {
        let how = confirm::schedule(&p, &state).map_err(|e| {
            Error::failure(anyhow!(
                "the rules are loaded but no rollback could be scheduled ({e}); run `nfknock confirm` to keep them"
            ))
        })?;
        out.info(format!(
            "nfknock: run `nfknock confirm` within {}s to keep these rules; otherwise {how} puts the previous ones back",
            p.deadline.saturating_sub(confirm::now())
        ));
        // Persistence happens only on confirm.
        return Ok(());
    }
    if !no_persist {
        persist::save(&state, &record, &ruleset).map_err(|e| {
            Error::failure(anyhow!("the rules are loaded, but not saved for boot: {e}"))
        })?;
        out.detail(format!("saved to {}", state.display()));
    }
    Ok(())
}

fn confirm_pending(out: &Out) -> Result<(), Error> {
    require_net_admin("confirm")?;
    let state = persist::state_dir();
    let state_err = |e| Error::failure(anyhow!("the state directory: {e}"));
    if confirm::load_pending(&state).is_none() {
        return Err(Error::failure(anyhow!(
            "nothing to confirm: no `apply --confirm` is pending"
        )));
    }
    confirm::clear(&state).map_err(state_err)?;
    if let Some(loaded) = persist::load(&confirm::loaded_dir(&state)).map_err(state_err)? {
        persist::save(&state, &loaded.record, &loaded.ruleset).map_err(state_err)?;
    }
    out.info("nfknock: confirmed; the rules stay and are saved for boot");
    Ok(())
}

fn rollback(out: &Out, token: &str, after: Option<u64>) -> Result<(), Error> {
    let state = persist::state_dir();
    let state_err = |e| Error::failure(anyhow!("the state directory: {e}"));
    let Some(pending) = confirm::wait_until_due(&state, token, after) else {
        return Ok(()); // confirmed, or renewed by a later apply --confirm
    };
    let baseline = confirm::baseline(&state).map_err(state_err)?;
    // Claim it before acting: a later `apply --confirm` starts a new one.
    confirm::clear(&state).map_err(state_err)?;
    match baseline.filter(|_| pending.had_rules) {
        Some(saved) => {
            firewall::backend(saved.record.backend)?.restore(&saved.ruleset)?;
            for other in other_backends(saved.record.backend) {
                remove_with(other)?;
            }
            persist::save(&confirm::loaded_dir(&state), &saved.record, &saved.ruleset)
                .map_err(state_err)?;
        }
        None => {
            for kind in [config::Backend::Nftables, config::Backend::Iptables] {
                remove_with(kind)?;
            }
            persist::forget(&confirm::loaded_dir(&state)).map_err(state_err)?;
        }
    }
    watch::log(
        4,
        "apply --confirm was not confirmed in time: the previous rules are back",
        &[],
    );
    out.detail("rolled back");
    Ok(())
}

fn restore(out: &Out) -> Result<(), Error> {
    require_net_admin("restore")?;
    let dir = persist::state_dir();
    let Some(saved) = persist::load(&dir).map_err(Error::failure)? else {
        out.info(format!(
            "nfknock: nothing saved in {}; nothing to restore",
            dir.display()
        ));
        return Ok(());
    };
    firewall::backend(saved.record.backend)?.restore(&saved.ruleset)?;
    persist::save(&confirm::loaded_dir(&dir), &saved.record, &saved.ruleset)
        .map_err(|e| Error::failure(anyhow!("the state directory: {e}")))?;
    out.info(format!(
        "nfknock: restored the rules applied at {} from {}",
        saved.record.applied_at,
        saved.record.config.display()
    ));
    Ok(())
}

fn remove(out: &Out, no_persist: bool) -> Result<(), Error> {
    require_net_admin("remove")?;
    // Removal does not need a valid config (it may be what is broken): it
    // removes what any backend loaded.
    let mut removed = false;
    for kind in [config::Backend::Nftables, config::Backend::Iptables] {
        removed |= remove_with(kind)?;
    }
    out.info(if removed {
        "nfknock: rules removed; the doors are no longer hidden"
    } else {
        "nfknock: no rules were loaded"
    });
    let state = persist::state_dir();
    persist::forget(&confirm::loaded_dir(&state)).map_err(Error::failure)?;
    // Nothing is left for a pending confirmation to go back from.
    confirm::clear(&state).map_err(Error::failure)?;
    if !no_persist {
        persist::forget(&state).map_err(Error::failure)?;
    }
    Ok(())
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

fn other_backends(kind: config::Backend) -> Vec<config::Backend> {
    [config::Backend::Nftables, config::Backend::Iptables]
        .into_iter()
        .filter(|k| *k != kind)
        .collect()
}

/// Removes one backend's rules; a backend whose tools are not installed
/// cannot have loaded any.
fn remove_with(kind: config::Backend) -> Result<bool, Error> {
    match firewall::backend(kind)?.remove() {
        Err(firewall::Error::Missing { .. }) => Ok(false),
        other => Ok(other?),
    }
}

fn status(out: &Out, path: &Path, json: bool) -> Result<(), Error> {
    require_net_admin("status")?;
    let mut status = firewall::backend(kernel_backend(path)?)?.status()?;
    status.confirm_within = confirm::load_pending(&persist::state_dir())
        .map(|p| p.deadline.saturating_sub(confirm::now()));
    if json {
        let text = serde_json::to_string_pretty(&status).map_err(Error::failure)?;
        println!("{text}");
    } else {
        print_status(out, &status);
    }
    Ok(())
}

fn transient(out: &Out, path: &Path, action: TransientAction) -> Result<(), Error> {
    require_net_admin("transient")?;
    let backend = firewall::backend(kernel_backend(path)?)?;
    match action {
        TransientAction::Add { nets, timeout } => {
            backend.transient_add(&nets, timeout)?;
            let until = timeout.map_or("the next apply or reboot".to_string(), |t| {
                format!("{} from now", humantime::format_duration(t))
            });
            out.info(format!(
                "nfknock: {} network(s) pass without knocking until {until}",
                nets.len()
            ));
        }
        TransientAction::Del { nets } => {
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
        TransientAction::List { json } => {
            let list = backend.transient_list()?;
            if json {
                println!(
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
                    println!("{:<43} {until}", t.network);
                }
            }
        }
    }
    Ok(())
}

fn print_status(out: &Out, s: &Status) {
    if !s.loaded {
        out.info(format!("nfknock: no rules loaded ({})", s.backend));
        return;
    }
    let mut text = format!("nfknock: rules loaded ({})\n", s.backend);
    if let Some(left) = s.confirm_within {
        text += &format!(
            "pending: `nfknock confirm` within {left}s, or the previous rules come back\n"
        );
    }
    for d in &s.doors {
        text += &format!(
            "door {} ({} knocks): {} completed, {} entries, {} resets\n",
            d.name, d.knocks, d.counters.knocks, d.counters.entries, d.counters.resets
        );
        for src in &d.in_progress {
            text += &format!(
                "  knocking  {:<39} sent {}/{}, {:.0}s left\n",
                src.address,
                src.stage.unwrap_or(0),
                d.knocks,
                src.expires_in
            );
        }
        for src in &d.open {
            text += &format!(
                "  open      {:<39} {:.0}s left\n",
                src.address, src.expires_in
            );
        }
    }
    for t in &s.transient {
        text += &format!(
            "transient {:<39} {}\n",
            t.network,
            t.expires_in
                .map_or("until the next apply or reboot".to_string(), |e| format!(
                    "{e:.0}s left"
                ))
        );
    }
    if !out.quiet {
        let _ = std::io::stdout().write_all(text.as_bytes());
    }
}

/// The sequence to knock when none is given on the command line: from the
/// config named with -c (or NFKNOCK_CONFIG), else from the client file's
/// entry for HOST, else from the default config when it is readable.
fn sequence_for(
    host: &str,
    door: Option<&str>,
    explicit: Option<&Path>,
) -> Result<Vec<PortSpec>, Error> {
    let from_config = |path: &Path| -> Result<Vec<PortSpec>, Error> {
        let cfg = crate::rotate::resolve(crate::load::load(path)?, crate::rotate::now())
            .map_err(|e| Error::failure(anyhow!(e)))?;
        let d = match door {
            Some(name) => cfg.door(name).ok_or_else(|| {
                Error::usage(anyhow!("{}: no door named \"{name}\"", path.display()))
            })?,
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
    if let Some(path) = explicit {
        return from_config(path);
    }
    if let Some(hosts_path) = knock::hosts_path() {
        let hosts = knock::load_hosts(&hosts_path).map_err(Error::usage)?;
        if let Some(doors) = hosts.get(host) {
            let chosen = match door {
                Some(name) => doors.get_key_value(name),
                None if doors.len() == 1 => doors.iter().next(),
                None => None,
            };
            if let Some((name, entry)) = chosen {
                return entry.sequence(name, crate::rotate::now()).map_err(|e| {
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
    let default = Path::new(config::DEFAULT_PATH);
    if default.exists() {
        return from_config(default);
    }
    Err(Error::usage(anyhow!(
        "no knock sequence for {host}: give PORTSPECs, -c CONFIG, or an entry in ~/.config/nfknock/hosts.toml"
    )))
}
