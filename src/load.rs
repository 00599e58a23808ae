//! The one loader of `nfknock.toml`: the config's own rules and the checks
//! of the modules that use it (the backend's limits, the watcher's mail
//! settings), all reported at once. `config` sits below everything; this
//! sits above `config`, `firewall` and `watch`.

use std::path::Path;

use crate::config::{self, At, Checks, Config, Notify, Problem};
use crate::watch::view::{self, View};
use crate::{firewall, watch};

/// Every check of nfknock.
struct All;

impl Checks for All {
    fn notify(&self, notify: &Notify) -> Vec<Problem> {
        watch::mail::notify_problems(notify)
    }

    fn backend(&self, config: &Config) -> Vec<Problem> {
        firewall::backend(config.backend)
            .map(|b| b.fits(config))
            .unwrap_or_default()
    }
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, config::Error> {
    parse(&read(path)?, path)
}

/// Parses and validates configuration text; `path` only names it in errors.
/// The watcher's view of a config is refused: it opens no door.
pub fn parse(text: &str, path: &Path) -> Result<Config, config::Error> {
    if view::is_view(text) {
        return Err(config::Error::Invalid {
            path: path.to_path_buf(),
            problems: vec![view::refusal()],
        });
    }
    config::parse(text, path, &All)
}

/// What `watch` and `notify-test` read: the watcher's view of a config
/// (nfknock-watch.service's credential), or a full config, of which they
/// take the same part (`nfknock watch` run by hand as root). The full
/// config's warnings come along.
pub fn load_view(path: &Path) -> Result<(View, Vec<String>), config::Error> {
    let text = read(path)?;
    if view::is_view(&text) {
        return Ok((view::parse(&text, path, &All)?, Vec::new()));
    }
    if text.trim().is_empty() {
        // What nfknock-watch.service gets when nfknock-watch-view@.service
        // failed (an invalid config): its error is in the journal.
        return Err(config::Error::Invalid {
            path: path.to_path_buf(),
            problems: vec![Problem::new(
                At::Top,
                "",
                "empty: no config and no watcher's view (under systemd: see `journalctl -u 'nfknock-watch-view@*'` for why `nfknock watch-view` wrote nothing)",
            )],
        });
    }
    let cfg = parse(&text, path)?;
    Ok((View::of(&cfg), cfg.warnings))
}

/// The config file's text, or the error that names it.
pub fn read(path: &Path) -> Result<String, config::Error> {
    std::fs::read_to_string(path).map_err(|error| config::Error::Read {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOOR: &str =
        "[[door]]\nname = \"ssh\"\nport = 22\nsequence = [\"1000\", \"2000/udp\", \"3000\"]\n";

    #[test]
    fn the_watchers_and_the_config_problems_come_together() {
        let e = parse(
            &format!(
                "{DOOR}[log]\nprefix = \"a b\"\n[notify]\nemail_to = [\"nobody\"]\nsmtp = \"gopher://x\"\n"
            ),
            Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[log] prefix"), "{e}");
        assert!(
            e.contains("[notify] email_to: `nobody` is not a mail address"),
            "{e}"
        );
        assert!(e.contains("[notify] smtp: `gopher://x`"), "{e}");
        // The schema alone does not know mail addresses.
        config::parse(
            &format!("{DOOR}[notify]\nemail_to = [\"nobody\"]\n"),
            Path::new("t.toml"),
            &config::OwnChecks,
        )
        .unwrap();
    }
}
