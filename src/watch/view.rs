//! The watcher's view of a config: what `nfknock watch` needs of
//! nfknock.toml and nothing more. The watcher parses untrusted input (kernel
//! log lines, whois and DNS answers) as an unprivileged user, so it must not
//! hold what opens a door: no knock sequence, no rotation (`secret_file`,
//! period), no port. It gets `[log]` (the prefix of the lines it reads),
//! `[notify]` (whom to mail, how) and the doors' names.
//!
//! `nfknock watch-view` prints the view of the config (root reads it);
//! nfknock-watch.service loads that as its credential through
//! nfknock-watch-view.socket, so each start of the watcher gets the view of
//! the config as it is then, and no copy lies on disk. The view is a valid
//! input of `watch` and `notify-test` and of nothing else: every command
//! that reads a config through `crate::load` refuses it ([`refusal`]).

use std::path::Path;

use serde::Deserialize;

use crate::config::{self, At, Config, DoorName, LogPrefix, Notify, Problem};

/// The key that marks a view; its value is the version of the format.
pub const MARK: &str = "watcher_view";
const VERSION: u32 = 1;

/// What the watcher knows of a config.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub log_prefix: LogPrefix,
    /// The doors' names (a line's `door=` is one of these when it comes
    /// from the rules of this config).
    pub doors: Vec<DoorName>,
    pub notify: Option<Notify>,
}

impl View {
    /// The view of a full config (`nfknock watch` run by hand on
    /// nfknock.toml takes this and ignores the rest).
    pub fn of(cfg: &Config) -> View {
        View {
            log_prefix: cfg.log_prefix.clone(),
            doors: cfg.doors.iter().map(|d| d.name.clone()).collect(),
            notify: cfg.notify.clone(),
        }
    }
}

/// Whether `text` is a view (a TOML table with [`MARK`]). Text that is no
/// TOML is not: the config loader says what is wrong with it.
pub fn is_view(text: &str) -> bool {
    text.parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key(MARK))
}

/// Why a command that opens doors does not take a view.
pub fn refusal() -> Problem {
    Problem::new(
        At::Top,
        MARK,
        "this is the watcher's view of a config (written by `nfknock watch-view` for nfknock-watch.service): it has no knock sequence and opens no door; give nfknock.toml itself",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct RawView {
    watcher_view: u32,
    #[serde(default)]
    doors: Vec<String>,
    log: RawLog,
    notify: Option<Notify>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    prefix: String,
}

/// Parses and checks a view by the rules of the config it was made from;
/// `path` only names it in errors.
pub fn parse(text: &str, path: &Path, checks: &dyn config::Checks) -> Result<View, config::Error> {
    let raw: RawView = toml::from_str(text).map_err(|e| config::Error::Parse {
        path: path.to_path_buf(),
        error: Box::new(e),
    })?;
    let mut problems = Vec::new();
    if raw.watcher_view != VERSION {
        problems.push(Problem::new(
            At::Top,
            MARK,
            format!(
                "version {} is not the one this nfknock writes ({VERSION}): run `nfknock watch-view` of this version",
                raw.watcher_view
            ),
        ));
    }
    let mut doors = Vec::new();
    for name in &raw.doors {
        match DoorName::new(name) {
            Some(n) => doors.push(n),
            None => problems.push(Problem::door(name, "name", "is not a door's name")),
        }
    }
    let prefix = config::log_prefix(&raw.log.prefix)
        .map_err(|p| problems.push(p))
        .ok();
    if let Some(n) = &raw.notify {
        problems.extend(config::notify_problems(n, checks));
    }
    match prefix {
        Some(log_prefix) if problems.is_empty() => Ok(View {
            log_prefix,
            doors,
            notify: raw.notify,
        }),
        _ => Err(config::Error::Invalid {
            path: path.to_path_buf(),
            problems,
        }),
    }
}

/// The view of `cfg`, as TOML that [`parse`] reads back. `text` is the
/// config `cfg` was parsed from: `[notify]` is copied as written (its
/// durations, its paths), with nothing else of the file. `source` names
/// the config in the header.
pub fn render(cfg: &Config, text: &str, source: &Path) -> String {
    let notify = text
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("notify"));
    let mut view = toml::Table::new();
    view.insert(MARK.into(), toml::Value::Integer(VERSION.into()));
    view.insert(
        "doors".into(),
        toml::Value::Array(
            cfg.doors
                .iter()
                .map(|d| toml::Value::String(d.name.to_string()))
                .collect(),
        ),
    );
    let mut log = toml::Table::new();
    log.insert(
        "prefix".into(),
        toml::Value::String(cfg.log_prefix.to_string()),
    );
    view.insert("log".into(), toml::Value::Table(log));
    if let Some(notify) = notify {
        view.insert("notify".into(), notify);
    }
    format!(
        "# The watcher's view of {}, written by `nfknock watch-view`:\n\
         # [log], [notify] and the doors' names; no knock sequence, no secret,\n\
         # no port. `nfknock watch` reads it; nothing that opens a door does.\n{}",
        source.display(),
        toml::to_string(&view).expect("a TOML table serializes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
sequence_timeout = "7s"
[[door]]
name = "ssh"
port = 22
sequence = ["31337/udp", "4242/tcp", "50505/udp"]
[[door]]
name = "web"
port = "8443/tcp"
rotate = { secret_file = "/etc/nfknock/web.secret", period = "1h" }
[allow]
ipv4 = ["198.51.100.0/24"]
[log]
prefix = "knk"
[notify]
email_to = ["admin@example.org"]
digest_delay = "90s"
max_mails_per_hour = 7
"#;

    fn config() -> Config {
        config::parse(CONFIG, Path::new("t.toml"), &config::OwnChecks).unwrap()
    }

    #[test]
    fn the_view_has_the_watchers_part_and_no_secret() {
        let cfg = config();
        let text = render(&cfg, CONFIG, Path::new("/etc/nfknock/nfknock.toml"));
        for secret in [
            "31337",
            "4242",
            "50505",
            "web.secret",
            "secret_file",
            "1h",
            "22",
            "8443",
        ] {
            assert!(!text.contains(secret), "`{secret}` in the view:\n{text}");
        }
        let view = parse(&text, Path::new("view"), &config::OwnChecks).unwrap();
        assert_eq!(view, View::of(&cfg));
        assert_eq!(view.doors, ["ssh", "web"]);
        assert_eq!(view.log_prefix, "knk");
        let n = view.notify.unwrap();
        assert_eq!(n.max_mails_per_hour, 7);
        assert_eq!(n.digest_delay, std::time::Duration::from_secs(90));
        assert!(is_view(&text));
        assert!(!is_view(CONFIG));
        assert!(!is_view("not = toml = at all"));
    }

    #[test]
    fn a_view_is_checked_like_the_config() {
        let bad = format!(
            "{MARK} = 1\ndoors = [\"ssh;rm\"]\n[log]\nprefix = \"a b\"\n[notify]\nmax_mails_per_hour = 0\n"
        );
        let e = parse(&bad, Path::new("v"), &config::OwnChecks)
            .unwrap_err()
            .to_string();
        assert!(e.contains("door \"ssh;rm\": name"), "{e}");
        assert!(e.contains("[log] prefix"), "{e}");
        assert!(e.contains("max_mails_per_hour"), "{e}");
        // A view takes no door's keys.
        let e = parse(
            &format!("{MARK} = 1\nsequence = [\"1\"]\n[log]\nprefix = \"x\"\n"),
            Path::new("v"),
            &config::OwnChecks,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `sequence`"), "{e}");
        let e = parse(
            &format!("{MARK} = 2\n[log]\nprefix = \"x\"\n"),
            Path::new("v"),
            &config::OwnChecks,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("version 2"), "{e}");
    }
}
