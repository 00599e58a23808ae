//! The safety nets of the rules' life (nfknock(8), CONFIRMATION STATES and
//! LOCKING), on the real kernel in throwaway network namespaces, for both
//! backends: a confirmation always has a rollback that acts, and never
//! undoes what the admin did after it; the rotation timer re-renders only
//! what was applied; one command changes the rules at a time.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Backend, Case, Host, Lab, one_door_config, text, wait_until};

fn config(t: Case, second_knock: &str) -> String {
    one_door_config(t.backend.name(), "").replace("\"2002/udp\"", &format!("\"{second_knock}\""))
}

/// A lab and configs A, B, C, D (same door, another second knock each).
struct Setup {
    lab: Lab,
    t: Case,
}

impl Setup {
    fn new(t: Case) -> Option<Setup> {
        let lab = Lab::new(t.family)?;
        for (name, knock) in [
            ("a", "2002/udp"),
            ("b", "2992/udp"),
            ("c", "2882/udp"),
            ("d", "2772/udp"),
        ] {
            lab.config(&format!("{name}.toml"), &config(t, knock));
        }
        Some(Setup { lab, t })
    }

    fn cfg(&self, name: &str) -> PathBuf {
        self.lab.dir.path().join(format!("{name}.toml"))
    }

    fn state(&self) -> PathBuf {
        self.lab.dir.path().join("state")
    }

    /// Runs nfknock on the server with `-c NAME.toml` (when given).
    fn run(&self, name: Option<&str>, args: &[&str]) -> Output {
        self.run_env(name, args, &[])
    }

    fn run_env(&self, name: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Output {
        let cfg = name.map(|n| self.cfg(n));
        let mut cmd = vec![common::NFKNOCK];
        if let Some(c) = &cfg {
            cmd.extend(["-c", c.to_str().unwrap()]);
        }
        cmd.extend_from_slice(args);
        let mut c = self.lab.command(Host::Server, &cmd);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn ok(&self, name: Option<&str>, args: &[&str]) -> String {
        let out = self.run(name, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout) + &text(&out.stderr)
    }

    /// The rules config NAME loads, read back from the kernel.
    fn rules_of(&self, name: &str) -> Vec<String> {
        self.ok(Some(name), &["apply", "--no-persist"]);
        self.rules()
    }

    fn rules(&self) -> Vec<String> {
        self.lab.rules_sorted(self.t.backend)
    }

    /// The ruleset saved for boot, or "" when none is.
    fn boot_copy(&self) -> String {
        std::fs::read_to_string(self.state().join("ruleset")).unwrap_or_default()
    }

    fn shown(&self, name: &str) -> String {
        text(&self.run(Some(name), &["show"]).stdout)
    }

    fn pending(&self) -> bool {
        self.state().join("pending.json").exists()
    }

    /// PATH with stand-ins for the firewall tools, first, that refuse any
    /// ruleset with config C's knock 2882 and pass everything else on.
    fn failing_tools(&self) -> String {
        let bin = self.lab.dir.path().join("failing-bin");
        std::fs::create_dir_all(&bin).unwrap();
        for tool in ["nft", "iptables-restore"] {
            let script = format!(
                "#!/bin/sh\ninput=$(cat)\n\
                 case \"$input\" in *2882*) echo '{tool}: refused (test)' >&2; exit 1;; esac\n\
                 printf '%s\\n' \"$input\" | exec /usr/sbin/{tool} \"$@\"\n"
            );
            write_script(&bin.join(tool), &script);
        }
        format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// PATH with a `setsid` that starts nothing: a rollback that was
    /// scheduled and then killed.
    fn no_rollback(&self) -> String {
        let bin = self.lab.dir.path().join("dead-rollback-bin");
        std::fs::create_dir_all(&bin).unwrap();
        write_script(&bin.join("setsid"), "#!/bin/sh\nexit 0\n");
        format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// Rewrites a JSON file of the state directory.
    fn edit_json(&self, file: &str, f: impl FnOnce(&mut serde_json::Value)) {
        let path = self.state().join(file);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, v.to_string()).unwrap();
    }
}

fn write_script(path: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// Item 1: a renewal that fails to load leaves the pending confirmation as
// it was, with its rollback: the lock-out B goes, A comes back.
fn a_failed_renewal_keeps_the_rollback(t: Case) {
    let Some(s) = Setup::new(t) else { return };
    let b_rules = s.rules_of("b");
    let a_rules = s.rules_of("a");
    s.ok(Some("a"), &["apply"]);
    let a_boot = s.boot_copy();
    s.ok(Some("b"), &["apply", "--confirm", "3"]);
    assert_eq!(s.rules(), b_rules);
    let path = s.failing_tools();
    let out = s.run_env(Some("c"), &["apply", "--confirm", "3"], &[("PATH", &path)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("refused (test)"),
        "{}",
        text(&out.stderr)
    );
    let back = wait_until(Duration::from_secs(10), || {
        s.rules() == a_rules && !s.pending()
    });
    assert!(
        back.is_some(),
        "B stayed: no rollback acted after the failed renewal"
    );
    assert_eq!(s.boot_copy(), a_boot);
    let status = s.ok(None, &["status"]);
    assert!(!status.contains("pending"), "{status}");
}

// Item 3: each state and transition of a confirmation.
fn confirmation_states_and_transitions(t: Case) {
    let Some(s) = Setup::new(t) else { return };
    let a_rules = s.rules_of("a");
    let b_rules = s.rules_of("b");
    let c_rules = s.rules_of("c");
    let d_rules = s.rules_of("d");

    // pending → none by a plain apply: its rules stay, and boot has them.
    s.ok(Some("a"), &["apply"]);
    s.ok(Some("b"), &["apply", "--confirm", "2"]);
    let said = s.ok(Some("c"), &["apply"]);
    assert!(said.contains("ends the pending"), "{said}");
    assert!(!s.pending());
    std::thread::sleep(Duration::from_secs(4)); // past B's deadline, on purpose
    assert_eq!(s.rules(), c_rules, "a plain apply was rolled back");
    assert_eq!(s.boot_copy(), s.shown("c"));

    // pending → none by remove: nothing comes back.
    s.ok(Some("b"), &["apply", "--confirm", "2"]);
    s.ok(None, &["remove"]);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !s.lab.rules(t.backend).contains("nfknock"),
        "remove was undone"
    );
    assert!(!s.pending());

    // due, its rollback gone: the next command puts the baseline back, and
    // confirm says it is too late.
    s.ok(Some("a"), &["apply"]);
    let out = s.run_env(
        Some("b"),
        &["apply", "--confirm", "1"],
        &[("PATH", &s.no_rollback())],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(s.rules(), b_rules, "the stand-in setsid ran a rollback");
    let status = s.ok(None, &["status"]);
    assert!(!status.contains("within 0s"), "{status}");
    assert!(status.contains("past its deadline"), "{status}");
    let out = s.run(None, &["confirm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("too late"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(s.rules(), a_rules, "the due rollback did not happen");
    assert!(!s.pending());

    // A baseline that went missing: the rules stay (never "every rule
    // removed"), and it says why.
    let out = s.run_env(
        Some("b"),
        &["apply", "--confirm", "1"],
        &[("PATH", &s.no_rollback())],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::remove_dir_all(s.state().join("baseline")).unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    let out = s.run(Some("d"), &["apply"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("missing"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        s.rules(),
        b_rules,
        "a rollback without a baseline removed the rules"
    );
    assert!(!s.pending());

    // pending → stale by a reboot (faked: another boot id, the kernel
    // emptied, restore run as at boot): the rules saved for boot load, the
    // old window is gone, and a new --confirm goes back to what is loaded
    // now, not to the stale baseline.
    s.ok(Some("a"), &["apply"]);
    s.ok(Some("b"), &["apply", "--confirm", "60"]);
    s.edit_json("pending.json", |p| {
        p["boot_id"] = "an-earlier-boot".into();
        p["deadline"] = (now() - 10).into();
    });
    s.edit_json("loaded/applied.json", |r| {
        r["boot_id"] = "an-earlier-boot".into()
    });
    s.ok(None, &["restore"]);
    assert_eq!(
        s.rules(),
        a_rules,
        "boot did not load the rules saved for boot"
    );
    let status = s.ok(None, &["status"]);
    assert!(!status.contains("pending"), "{status}");
    assert!(!s.pending(), "a stale confirmation stayed");
    s.ok(Some("d"), &["apply"]);
    s.ok(Some("c"), &["apply", "--confirm", "2"]);
    let back = wait_until(Duration::from_secs(8), || s.rules() == d_rules);
    assert!(back.is_some(), "rolled back to a stale baseline");

    // none: nothing to confirm.
    let out = s.run(None, &["confirm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nothing to confirm"));
}

// Item 2: the rotation timer re-renders only what was applied: nothing
// when nothing is loaded or a confirmation is pending, and never a config
// file edited since apply (it says so).
fn rotate_renders_only_what_was_applied(t: Case) {
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    let secret = lab.dir.path().join("ssh.secret");
    let out = lab.nfknock(Host::Server, &["gen-secret", secret.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rotating = |door_timeout: &str| {
        format!(
            "backend = \"{}\"\nsequence_timeout = \"5s\"\ndoor_timeout = \"{door_timeout}\"\n[allow]\nipv4 = []\nipv6 = []\n\
             [[door]]\nname = \"ssh\"\nport = \"22/tcp\"\nrotate = {{ secret_file = \"{}\", period = \"60s\" }}\n",
            t.backend.name(),
            secret.display()
        )
    };
    let cfg = lab.config("nfknock.toml", &rotating("7s"));
    let c = cfg.to_str().unwrap();
    let applied = lab.config("applied.toml", &rotating("7s"));
    let at = |time: u64, config: &Path, cmd: &str| -> Output {
        let out = lab
            .command(
                Host::Server,
                &[common::NFKNOCK, "-c", config.to_str().unwrap(), cmd],
            )
            .env(nfknock::rotate::FAKE_TIME_ENV, time.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        out
    };
    let rotate_at = |offset: u64| at(now() + offset, &cfg, "rotate");
    let loaded = || lab.rules(t.backend);
    let nfk = |args: &[&str]| {
        let mut all = vec!["-c", c];
        all.extend_from_slice(args);
        let out = lab.nfknock(Host::Server, &all);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    };

    // Nothing loaded: nothing rotates in.
    rotate_at(120);
    assert!(
        !loaded().contains("nfknock"),
        "rotate loaded rules nobody applied"
    );
    // Removed: stays removed.
    nfk(&["apply", "--no-persist"]);
    nfk(&["remove"]);
    rotate_at(120);
    assert!(!loaded().contains("nfknock"), "rotate undid remove");

    // Pending: nothing rotates, nothing is saved for boot.
    // Past the faked time of the rotations below.
    nfk(&["apply", "--confirm", "200"]);
    let pending_rules = loaded();
    rotate_at(120);
    assert_eq!(loaded(), pending_rules, "rotate changed unconfirmed rules");
    let boot = lab.dir.path().join("state/ruleset");
    assert!(!boot.exists(), "rotate saved unconfirmed rules for boot");
    nfk(&["confirm"]);
    rotate_at(120);
    assert_ne!(
        loaded(),
        pending_rules,
        "a confirmed rotating door did not rotate"
    );
    let rotated = std::fs::read_to_string(&boot).unwrap();

    // An edit not applied: the period rotates, the edit is not loaded.
    let edited = lab.config("nfknock.toml", &rotating("9s"));
    let time = now() + 240;
    let out = at(time, &cfg, "rotate");
    assert!(
        text(&out.stderr).contains("changed since it was applied"),
        "{}",
        text(&out.stderr)
    );
    let state_ruleset = lab.dir.path().join("state/loaded/ruleset");
    let now_loaded = std::fs::read_to_string(&state_ruleset).unwrap();
    assert_eq!(
        now_loaded,
        text(&at(time, &applied, "show").stdout),
        "not what was applied"
    );
    assert_ne!(
        now_loaded,
        text(&at(time, &edited, "show").stdout),
        "the edit was loaded"
    );
    assert_ne!(
        std::fs::read_to_string(&boot).unwrap(),
        rotated,
        "not saved for boot"
    );
}

// Item 4: every command that changes rules or state waits for the state
// directory's lock a bounded time, then fails clearly and changes nothing.
fn one_writer_at_a_time(t: Case) {
    let Some(s) = Setup::new(t) else { return };
    s.ok(Some("a"), &["apply"]);
    let before = s.rules();
    let boot = s.boot_copy();
    let config_a = std::fs::read_to_string(s.cfg("a")).unwrap();
    let lock = s.state().join("lock");
    let mut holder = Command::new("flock")
        .args([lock.to_str().unwrap(), "sleep", "30"])
        .spawn()
        .unwrap();
    let held = wait_until(Duration::from_secs(5), || {
        !Command::new("flock")
            .args(["-n", lock.to_str().unwrap(), "true"])
            .status()
            .unwrap()
            .success()
    });
    assert!(held.is_some());
    for args in [
        &["apply"][..],
        &["apply", "--confirm", "30"],
        &["confirm"],
        &["rotate"],
        &["restore"],
        &["remove"],
        &["transient", "add", "198.51.100.0/24"],
        &["config", "set", "door_timeout", "9s"],
    ] {
        let config = if args[0] == "config" { "a" } else { "b" };
        let out = s.run_env(Some(config), args, &[("NFKNOCK_LOCK_WAIT", "1")]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("another nfknock command is changing the rules"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(s.rules(), before);
    assert_eq!(s.boot_copy(), boot);
    assert_eq!(std::fs::read_to_string(s.cfg("a")).unwrap(), config_a);
    // Waiting is bounded, not failing at once: released in time, it runs.
    let _ = holder.kill();
    let _ = holder.wait();
    s.ok(Some("b"), &["apply"]);

    // Two applies at once, one per backend: one wins, whole, and the
    // kernel, what nfknock recorded and the boot copy agree.
    let other = match t.backend {
        Backend::Nftables => Backend::Iptables,
        Backend::Iptables => Backend::Nftables,
    };
    s.lab
        .config("other.toml", &one_door_config(other.name(), ""));
    for _ in 0..4 {
        let spawn = |name: &str| {
            let cfg = s.cfg(name);
            s.lab
                .command(
                    Host::Server,
                    &[common::NFKNOCK, "-q", "-c", cfg.to_str().unwrap(), "apply"],
                )
                .spawn()
                .unwrap()
        };
        let (mut x, mut y) = (spawn("a"), spawn("other"));
        assert!(x.wait().unwrap().success() && y.wait().unwrap().success());
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(s.state().join("applied.json")).unwrap())
                .unwrap();
        let winner = if record["backend"] == "nftables" {
            Backend::Nftables
        } else {
            Backend::Iptables
        };
        let loser = if winner == Backend::Nftables {
            Backend::Iptables
        } else {
            Backend::Nftables
        };
        assert!(
            s.lab.rules(winner).contains(match winner {
                Backend::Nftables => "table inet nfknock",
                Backend::Iptables => "NFKNOCK",
            }),
            "the recorded backend has no rules"
        );
        assert!(
            !s.lab.rules(loser).contains(match loser {
                Backend::Nftables => "table inet nfknock",
                Backend::Iptables => "-j NFKNOCK",
            }),
            "both backends' rules loaded"
        );
        assert_eq!(
            std::fs::read_to_string(s.state().join("loaded/ruleset")).unwrap(),
            s.boot_copy(),
            "kernel record and boot copy disagree"
        );
    }
}

// Item 8: a transient timeout means what it says on either backend; the
// ipset of the iptables backend counts whole seconds, so anything else is
// refused, not rounded.
fn transient_timeouts_are_exact(t: Case) {
    let Some(s) = Setup::new(t) else { return };
    s.ok(Some("a"), &["apply", "--no-persist"]);
    let out = s.run(
        None,
        &["transient", "add", "198.51.100.0/24", "--timeout", "1500ms"],
    );
    match t.backend {
        Backend::Nftables => {
            assert!(out.status.success(), "{}", text(&out.stderr));
            let list = s.ok(None, &["transient", "list", "--json"]);
            let v: serde_json::Value = serde_json::from_str(&list).unwrap();
            let left = v[0]["expires_in"].as_f64().unwrap();
            assert!(left <= 1.5 && left > 0.5, "{list}");
        }
        Backend::Iptables => {
            assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
            assert!(
                text(&out.stderr).contains("whole seconds"),
                "{}",
                text(&out.stderr)
            );
            assert!(s.ok(None, &["transient", "list"]).contains("no transient"));
        }
    }
    s.ok(
        None,
        &["transient", "add", "203.0.113.0/24", "--timeout", "2s"],
    );
    let list = s.ok(None, &["transient", "list"]);
    assert!(list.contains("203.0.113.0/24"), "{list}");
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::common::{Backend, Case, Family};
                #[test]
                fn nftables() {
                    super::$name(Case { backend: Backend::Nftables, family: Family::V4 })
                }
                #[test]
                fn iptables() {
                    super::$name(Case { backend: Backend::Iptables, family: Family::V4 })
                }
            }
        )*
    };
}

both_backends!(
    a_failed_renewal_keeps_the_rollback,
    confirmation_states_and_transitions,
    rotate_renders_only_what_was_applied,
    one_writer_at_a_time,
    transient_timeouts_are_exact,
);
