//! The one loader of `nfknock.toml`: the config's own rules and the checks
//! of the modules that use it (the backend's limits, the watcher's mail
//! settings), all reported at once. `config` sits below everything; this
//! sits above `config`, `firewall` and `watch`.

use std::path::Path;

use crate::config::{self, Checks, Config, Notify, Problem};
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
    config::load(path, &All)
}

/// Parses and validates configuration text; `path` only names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Config, config::Error> {
    config::parse(text, path, &All)
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
