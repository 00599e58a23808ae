//! The command line as a user meets it: exit codes, messages, output.
//! Nothing here loads rules (see behaviour.rs for that).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{NFKNOCK, text};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sample() -> PathBuf {
    root().join("cfg-sample/nfknock.toml")
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// A state directory of the tests' own (`config set` takes its lock), in
/// the scratch directory cargo keeps for tests.
fn state_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-state")
}

fn nfknock(args: &[&str]) -> Output {
    Command::new(NFKNOCK)
        .args(args)
        .env_remove("NFKNOCK_CONFIG")
        .env("STATE_DIRECTORY", state_dir())
        .output()
        .unwrap()
}

fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", NFKNOCK])
        .args(args)
        .env_remove("NFKNOCK_CONFIG")
        .output()
        .unwrap()
}

/// A copy of `from` that only its owner may read, as a config should be.
fn private_copy(from: &Path, dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let to = dir.join(from.file_name().unwrap());
    std::fs::copy(from, &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    to
}

#[test]
fn check_accepts_the_sample_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = private_copy(&sample(), dir.path());
    let out = nfknock(&["-c", cfg.to_str().unwrap(), "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("valid; backend nftables, mode guard, 2 door(s)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("48211"),
        "a sequence was printed:\n{stdout}"
    );
    // How a closed door answers: read from the host's rules as root, else
    // left to apply.
    assert!(
        stdout.contains("  closed: reset (")
            || stdout.contains("  closed: drop (")
            || stdout.contains("  closed: auto ("),
        "{stdout}"
    );
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    let out = nfknock(&["-c", sample().to_str().unwrap(), "check", "--show-secrets"]);
    assert!(text(&out.stdout).contains("48211/tcp 9143/udp 27733/tcp"));
}

#[test]
fn config_errors_exit_2_with_file_line_and_key() {
    let cases = [
        ("bad-syntax.toml", "line 2, column"),
        ("bad-unknown-key.toml", "unknown field `timeout`"),
        (
            "bad-walkable.toml",
            "door \"ssh\": sequence: a port scanner walks it",
        ),
    ];
    for (file, message) in cases {
        let path = fixture(file);
        for cmd in ["check", "show", "apply"] {
            let out = nfknock(&["-c", path.to_str().unwrap(), cmd]);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{file} {cmd}: {stderr}");
            assert!(stderr.starts_with("nfknock: "), "{stderr}");
            assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
            assert!(stderr.contains(message), "{file} {cmd}: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
    let out = nfknock(&["-c", "/nonexistent/nfknock.toml", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot read /nonexistent/nfknock.toml"));
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
}

#[test]
fn errors_say_their_cause_once() {
    let path = fixture("bad-syntax.toml");
    for cmd in ["check", "show", "apply"] {
        let out = nfknock(&["-c", path.to_str().unwrap(), cmd]);
        let stderr = text(&out.stderr);
        assert_eq!(
            stderr.matches("line 2, column").count(),
            1,
            "{cmd}: {stderr}"
        );
    }
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    // `nfknock show | head -1`, with head gone before nfknock writes. The
    // sample as an admin keeps it (0600: no warning on stderr).
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nfknock.toml");
    std::fs::copy(sample(), &cfg).unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    for args in [&["show"][..], &["check"], &["completions", "bash"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(NFKNOCK)
            .args(["-c", cfg.to_str().unwrap()])
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn config_comes_from_the_environment_too() {
    let out = Command::new(NFKNOCK)
        .arg("check")
        .env("NFKNOCK_CONFIG", fixture("bad-walkable.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bad-walkable.toml"));
}

#[test]
fn check_warns_about_a_listening_knock_port() {
    // Bind a knock port on loopback: check must notice it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!("[[door]]\nname = \"ssh\"\nport = 22\nsequence = [\"{port}/tcp\", \"9/udp\", \"7/tcp\"]\n"),
    )
    .unwrap();
    let out = nfknock(&["-c", cfg.to_str().unwrap(), "check"]);
    assert!(out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: door ssh: knock {port}/tcp is a port this host listens on"
        )),
        "{stderr}"
    );
}

#[test]
fn show_prints_the_ruleset_without_root() {
    let out = as_nobody(&["-c", sample().to_str().unwrap(), "show"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("table inet nfknock {"));
    // The names' key is root's: said, not hidden.
    assert!(
        text(&out.stderr).contains("differ from what apply loads"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn firewall_commands_say_they_need_root() {
    for cmd in ["apply", "remove", "status"] {
        let out = as_nobody(&["-c", sample().to_str().unwrap(), cmd]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("`nfknock {cmd}` needs root (CAP_NET_ADMIN)")),
            "{cmd}: {stderr}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    for line in [
        "frobnicate",
        "-q -v check",
        "knock 127.0.0.1 99999/tcp",
        "knock 127.0.0.1 1/sctp",
        "knock -4 -6 127.0.0.1 1",
        // A rotating door from flags: all of them, sane, and no PORTSPECs.
        "knock 127.0.0.1 --door ssh --secret-file /dev/null",
        "knock 127.0.0.1 --door ssh --door-port 22 --period 60s --length 0 --secret-file /dev/null",
        "knock 127.0.0.1 1/tcp --door ssh --door-port 22 --period 60s --secret-file /dev/null",
        "connect 127.0.0.1 0",
        "connect 127.0.0.1 22 --tries 0",
        "connect 127.0.0.1 22 --timeout 0s",
        "connect -4 -6 127.0.0.1 22",
        "gen-sequence --length 2",
        "completions powershell",
        "transient add 192.0.2.0/33",
        "transient add",
        "transient add 192.0.2.1 --timeout 0s",
    ] {
        let args: Vec<&str> = line.split_whitespace().collect();
        let out = nfknock(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn knock_failures_are_clear() {
    // In an empty network namespace nothing can leave the machine.
    let run = |args: &[&str], home: &Path| {
        Command::new("unshare")
            .arg("-n")
            .arg(NFKNOCK)
            .args(args)
            .env("HOME", home)
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("NFKNOCK_CONFIG")
            .output()
            .unwrap()
    };
    if !common::netns_available() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let out = run(&["knock", "-6", "192.0.2.1", "1000"], home.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot resolve `192.0.2.1`: no IPv6 address"));
    let out = run(&["knock", "192.0.2.1", "1000"], home.path());
    assert_eq!(out.status.code(), Some(1), "no route must fail the send");
    assert!(
        text(&out.stderr).contains("cannot send knock 1000/tcp to 192.0.2.1"),
        "{}",
        text(&out.stderr)
    );
    if !Path::new("/etc/nfknock/nfknock.toml").exists() {
        let out = run(&["knock", "192.0.2.1"], home.path());
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains("no knock sequence for 192.0.2.1"));
    }
    let out = run(
        &["-c", sample().to_str().unwrap(), "knock", "192.0.2.1"],
        home.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("192.0.2.1 is not this host: name the door"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "-c",
            sample().to_str().unwrap(),
            "knock",
            "192.0.2.1",
            "--door",
            "web",
        ],
        home.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no door named \"web\""));
}

#[test]
fn gen_sequence_prints_a_valid_sequence() {
    let out = nfknock(&[
        "-c",
        sample().to_str().unwrap(),
        "gen-sequence",
        "--length",
        "5",
    ]);
    assert!(out.status.success());
    let seq = text(&out.stdout);
    let knocks: Vec<&str> = seq.split_whitespace().collect();
    assert_eq!(knocks.len(), 5, "{seq}");
    // The printed sequence must pass `check` as a door's sequence.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let quoted: Vec<String> = knocks.iter().map(|k| format!("\"{k}\"")).collect();
    std::fs::write(
        &cfg,
        format!(
            "[[door]]\nname = \"ssh\"\nport = 22\nsequence = [{}]\n",
            quoted.join(", ")
        ),
    )
    .unwrap();
    let out = nfknock(&["-c", cfg.to_str().unwrap(), "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = nfknock(&["completions", shell]);
        assert!(out.status.success());
        let script = text(&out.stdout);
        assert!(
            script.contains("gen-sequence") && script.contains("no-persist"),
            "{shell}"
        );
    }
}

#[test]
fn config_set_keeps_comments_and_refuses_invalid_values() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nfknock.toml");
    std::fs::copy(sample(), &cfg).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "# added by hand\n{}",
            std::fs::read_to_string(&cfg).unwrap()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = cfg.to_str().unwrap();
    let out = nfknock(&[
        "-c",
        c,
        "config",
        "set",
        "door.ssh.sequence",
        "40001/udp 40003/tcp 40005/udp",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = nfknock(&["-c", c, "config", "get", "door.ssh.sequence"]);
    assert_eq!(text(&out.stdout), "40001/udp 40003/tcp 40005/udp\n");
    let now = std::fs::read_to_string(&cfg).unwrap();
    assert!(now.starts_with("# added by hand\n"));
    assert!(now.contains("# Which firewall nfknock drives"));
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Several keys at once: checked together (a door needs both).
    let out = nfknock(&[
        "-c",
        c,
        "config",
        "set",
        "door.web.port",
        "8080/tcp",
        "door.web.sequence",
        "7001/udp 7005/tcp 7003/udp",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let now = std::fs::read_to_string(&cfg).unwrap();
    assert!(now.contains("name = \"web\""));
    let out = nfknock(&["-c", c, "config", "set", "mode", "guard", "backend"]);
    assert_eq!(out.status.code(), Some(2));
    for (key, bad, why) in [
        ("door.ssh.sequence", "1/tcp 2/tcp 3/tcp", "scanner"),
        ("door.ssh.sequence", "1/tcp", "at least 3"),
        ("mode", "paranoid", "unknown variant"),
        ("door.ssh.port", "99999", "invalid port"),
        ("no.such.key.here", "1", "unknown key"),
    ] {
        let out = nfknock(&["-c", c, "config", "set", key, bad]);
        assert_eq!(out.status.code(), Some(2), "{key} {bad}");
        assert!(
            text(&out.stderr).contains(why),
            "{key}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&cfg).unwrap(),
            now,
            "{key} {bad} changed the file"
        );
    }
}

#[test]
fn import_converts_knockd_conf_and_says_what_differs() {
    let out = nfknock(&["import", fixture("knockd.conf").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    for part in [
        "name = \"openssh\"\nport = \"22/tcp\"\nsequence = [\"7000/tcp\", \"8000/tcp\", \"9000/tcp\"]\n",
        "take up to 10s in all. For knockd's strictness, use 3s",
        "sequence_timeout = \"5s\"",
        "knockd section [closeSSH] closed a door again",
        "name = \"openvpn\"\nport = \"1194/udp\"\nsequence = [\"31415/udp\", \"27182/tcp\", \"16180/udp\"]",
        "door_timeout = \"20s\"",
        "tcpflags = syn,ack: nfknock counts a TCP knock only as a bare SYN",
        "nfknock refuses this sequence: a port scanner walks it in order",
        "`nfknock gen-sequence`",
        "knockd's Interface: knocks and the door only on it",
        "\ninterfaces = [\"eth0\"]\n",
    ] {
        assert!(toml.contains(part), "missing {part:?} in:\n{toml}");
    }
    // The walkable sequence is kept for the admin to replace: check says so.
    assert!(
        text(&out.stderr).contains("needs editing"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn import_converts_the_original_nfknock_cfg_into_a_valid_config() {
    let out = nfknock(&["import", fixture("nfknock.cfg").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nfknock.toml");
    std::fs::write(&cfg, &toml).unwrap();
    let out = nfknock(&["-c", cfg.to_str().unwrap(), "check", "--show-secrets"]);
    assert!(out.status.success(), "{}\n{toml}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains("door ssh: 22/tcp behind 3 knocks (48211/tcp 9143/udp 27733/tcp)"),
        "{summary}"
    );
    assert!(
        summary.contains("allow: 10.0.0.0/8, 192.168.0.0/16, fe80::/10 pass the firewall"),
        "{summary}"
    );
    assert!(
        toml.contains("save_file = /etc/nftables.d/nfknock.nft: not used"),
        "{toml}"
    );
    let out = nfknock(&["import", fixture("bad-syntax.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// Imports `text` written to a file; (exit code, stdout, stderr).
fn import_text(text: &[u8]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.conf");
    std::fs::write(&file, text).unwrap();
    let out = nfknock(&["import", file.to_str().unwrap()]);
    (
        out.status.code(),
        text_of(&out.stdout),
        text_of(&out.stderr),
    )
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("UTF-8")
}

/// `nfknock check --show-secrets` on an imported config: (exit, stdout, stderr).
fn check_imported(toml: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nfknock.toml");
    std::fs::write(&cfg, toml).unwrap();
    let out = nfknock(&["-c", cfg.to_str().unwrap(), "check", "--show-secrets"]);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

// The original nfknock's own sample: allow lists commented out mean its
// private and link-local defaults; it was a default-deny firewall; its
// backend is the one whose save_file is set; its door closed after one
// connection. The import keeps that meaning, or says in a comment what
// differs and what to decide, and `check` accepts it as it stands.
#[test]
fn import_keeps_the_meaning_of_the_original_nfknock_sample() {
    let out = nfknock(&["import", fixture("nfknock-sample.cfg").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    for part in [
        "backend = \"nftables\"",
        "its nftables save_file is set",
        // Default-deny, as the original; guard is the admin's decision.
        "mode = \"firewall\"",
        "Decide: \"guard\" hides only the door",
        "open = []",
        "icmp = true",
        "dropped forwarded traffic too",
        "forward = \"drop\"",
        // The defaults of a commented-out allow, not nothing.
        "ipv4 = [\"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\", \"169.254.0.0/16\"]",
        "ipv6 = [\"fe80::/10\"]",
        "[ipv4] allow is not set: the original's default",
        // The original's timeouts, and its single-use door.
        "sequence_timeout = \"10s\"",
        "door_timeout = \"30s\"",
        "closed the door after the first connection",
        "as single_use does: established connections stay.\nsingle_use = true\n",
        "[nftables] save_file = /etc/nftables.conf: not used",
        "they come back at boot",
    ] {
        assert!(toml.contains(part), "missing {part:?} in:\n{toml}");
    }
    assert!(!toml.contains("ipv4 = []"), "{toml}");
    let (code, summary, stderr) = check_imported(&toml);
    assert_eq!(code, Some(0), "{stderr}\n{toml}");
    for part in [
        "valid; backend nftables, mode firewall, 1 door(s)",
        "forward: drop (forwarded traffic is dropped too",
        "door ssh: 22/tcp behind 3 knocks (48211/tcp 9143/udp 27733/tcp); knock gap 10s, open 30s; single use: the first connection closes it",
        "allow: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, fe80::/10 pass the firewall without knocking",
    ] {
        assert!(summary.contains(part), "missing {part:?} in:\n{summary}");
    }
}

// The iptables flavour, with two door ports: iptables because its
// save_file is set (though an [nftables] section exists), an explicitly
// empty allow list stays empty, and both ports are the one door's, as one
// knock opened both in the original; `check` accepts it as it stands.
#[test]
fn import_of_the_original_nfknock_picks_the_backend_and_keeps_every_door_port() {
    let out = nfknock(&["import", fixture("nfknock-iptables.cfg").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let toml = text(&out.stdout);
    for part in [
        "backend = \"iptables\"",
        "mode = \"firewall\"",
        "icmp = false",
        "left forwarded traffic alone",
        "forward = \"accept\"",
        "sequence_timeout = \"15s\"",
        "door_timeout = \"20s\"",
        "name = \"ssh\"\nport = [\"22/tcp\", \"2222/tcp\"]\nsequence = [\"31337/udp\", \"4242/tcp\", \"50505/udp\"]",
        "ipv4 = [\"192.168.1.0/24\"]",
        "ipv6 = []",
        "[iptables] save_file = /etc/iptables/rules.v4: not used",
    ] {
        assert!(toml.contains(part), "missing {part:?} in:\n{toml}");
    }
    assert!(!toml.contains("door-2222"), "{toml}");
    assert!(
        !text(&out.stderr).contains("needs editing"),
        "{}",
        text(&out.stderr)
    );
    let (code, summary, stderr) = check_imported(&toml);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        summary.contains("door ssh: 22/tcp, 2222/tcp behind 3 knocks"),
        "{summary}"
    );
}

// knockd.conf is not trusted with the terminal: control characters (a
// screen-clearing escape, a carriage return that hides text, a bidi
// override) never reach stdout or stderr raw, whether in a comment, a
// value or an error. seq_timeout counts from the first knock and is
// converted with a comment; multiport's --dports keeps every port.
#[test]
fn import_of_knockd_conf_never_echoes_control_characters() {
    let conf = "[options]\n\tInterface = eth0\x1b]0;owned\x07\n\
        [open\x1b[2JSSH]\n\
        \tsequence = 7000,8000:udp,9000\n\
        \tseq_timeout = 10\n\
        \ttcpflags = x\x1b[2J\x1b[H\rfake\u{202e}txt\n\
        \tcommand = /sbin/iptables -A INPUT -s %IP% -p tcp -m multiport --dports 22,2222 -j ACCEPT \x1b[31m\n\
        [close\u{9b}SSH]\n\
        \tsequence = 9000,8000,7000\n\
        \tcommand = /sbin/iptables -D INPUT -s %IP% \x1b[8m -j ACCEPT\n";
    let (code, stdout, stderr) = import_text(conf.as_bytes());
    assert_eq!(code, Some(0), "{stderr}");
    let raw = |s: &str| {
        s.chars()
            .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
    };
    assert!(!raw(&stdout), "raw control characters in:\n{stdout:?}");
    assert!(!raw(&stderr), "raw control characters in:\n{stderr:?}");
    for part in [
        "tcpflags = x\\u{1b}[2J\\u{1b}[H\\u{d}fake\\u{202e}txt",
        "knockd listened on eth0\\u{1b}]0;owned\\u{7}",
        "# knockd section [open\\u{1b}[2JSSH]",
        "name = \"open2jssh\"\nport = [\"22/tcp\", \"2222/tcp\"]",
        "the whole sequence had\n# 10s",
        "sequence_timeout = \"10s\"",
        "[close\\u{9b}SSH] closed a door again",
    ] {
        assert!(stdout.contains(part), "missing {part:?} in:\n{stdout}");
    }
    // One door of both ports, as one knock opened both: valid as it stands.
    assert!(!stderr.contains("needs editing"), "{stderr}");
    // A line that is not INI at all: the error shows it escaped, exit 2.
    let (code, stdout, stderr) = import_text(b"\x1b[2J\x1b]0;owned\x07 not ini\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert!(!raw(&stderr), "{stderr:?}");
    assert!(stderr.contains("\\u{1b}[2J"), "{stderr}");
    // A knockd.conf in Latin-1 (a comment by an admin named José) imports.
    let (code, stdout, stderr) =
        import_text(b"# Jos\xe9\n[openSSH]\nsequence = 7000,8000:udp,9000\n");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("name = \"openssh\""), "{stdout}");
}

#[test]
fn a_door_cannot_take_the_names_of_a_rotating_doors_slots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clash.toml");
    std::fs::write(
        &path,
        "[[door]]\nname = \"x\"\nport = 22\nrotate = { secret_file = \"/nonexistent\", period = \"60s\" }\n\
         [[door]]\nname = \"x_a\"\nport = 80\nsequence = [\"1000\", \"2000/udp\", \"3000\"]\n",
    )
    .unwrap();
    let out = nfknock(&["-c", path.to_str().unwrap(), "check"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("door \"x_a\": name: its rules would share names with rotating door \"x\""),
        "{stderr}"
    );
}

// Secrets come on stdin, never in argv (which /proc shows every user); a
// value may start with `-`; a symlinked config stays a symlink.
#[test]
fn config_set_takes_secrets_on_stdin_and_keeps_a_symlink() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.toml");
    std::fs::copy(sample(), &real).unwrap();
    let link = dir.path().join("nfknock.toml");
    std::os::unix::fs::symlink("real.toml", &link).unwrap();
    let link_s = link.to_str().unwrap();
    let mut child = Command::new(NFKNOCK)
        .args(["-c", link_s, "config", "set", "--stdin", "mode", "guard"])
        .env_remove("NFKNOCK_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"door.ssh.sequence 31338/udp 4242/tcp  50505/udp\n\nnotify.email_to \n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a file"
    );
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .contains("31338/udp")
    );
    let out = nfknock(&["-c", link_s, "config", "get", "door.ssh.sequence"]);
    assert_eq!(text(&out.stdout), "31338/udp 4242/tcp 50505/udp\n");
    // A value starting with `-` is a value, not an option.
    let out = nfknock(&["-c", link_s, "config", "set", "door.ssh.port", "-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !text(&out.stderr).contains("unexpected argument"),
        "{}",
        text(&out.stderr)
    );
    // A key without a value on stdin is refused, nothing written.
    let before = std::fs::read_to_string(&real).unwrap();
    let mut child = Command::new(NFKNOCK)
        .args(["-c", link_s, "config", "set", "--stdin"])
        .env_remove("NFKNOCK_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"door.ssh.sequence 1000/tcp 1001/tcp 1002/tcp\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&real).unwrap(), before);
}

// This server's own config gives its sequence only to this server: a
// typo in HOST must not send the secret to whoever answers there. In a
// private mount and network namespace, with a config at the default path
// (an overlay on /etc) and only loopback up.
#[test]
fn knock_sends_the_local_sequence_only_to_this_host() {
    if !common::netns_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let one_door = "[[door]]\nname = \"ssh\"\nport = 22\nsequence = [\"48211/tcp\", \"9143/udp\", \"27733/tcp\"]\n";
    std::fs::write(dir.path().join("one.toml"), one_door).unwrap();
    for d in ["upper", "work", "home"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    let script = r#"set -e
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$D/upper,workdir=$D/work" /etc
mkdir -p /etc/nfknock
cp "$D/one.toml" /etc/nfknock/nfknock.toml
ip link set lo up
set +e
"$NFKNOCK" knock 192.0.2.1; echo "foreign=$?"
"$NFKNOCK" -c "$D/one.toml" knock 192.0.2.1; echo "explicit=$?"
"$NFKNOCK" -v knock 127.0.0.1; echo "loopback=$?"
"$NFKNOCK" -v knock localhost -4; echo "localhost=$?"
"#;
    let out = Command::new("unshare")
        .args(["--mount", "--net", "sh", "-c", script])
        .env("D", dir.path())
        .env("NFKNOCK", NFKNOCK)
        .env("HOME", dir.path().join("home"))
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("NFKNOCK_CONFIG")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("foreign=2\n"), "{stdout}{stderr}");
    assert!(
        stderr.contains("no knock sequence for 192.0.2.1")
            && stderr.contains("used only for this host's own names"),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot send knock"), "{stderr}");
    assert!(stdout.contains("explicit=2\n"), "{stdout}{stderr}");
    assert!(stderr.contains("192.0.2.1 is not this host"), "{stderr}");
    assert!(stdout.contains("loopback=0\n"), "{stdout}{stderr}");
    assert!(stdout.contains("localhost=0\n"), "{stdout}{stderr}");
    assert!(stderr.contains("48211/tcp"), "{stderr}");
}

// A secret must be a small regular file that can be read: /dev/zero ate
// the memory, a FIFO hung, a missing secret passed `check`. A config or a
// secret others may read is worth a warning.
#[test]
fn check_refuses_secrets_that_are_not_small_readable_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("ssh.secret");
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let cfg = dir.path().join("nfknock.toml");
    let write_cfg = |secret: &Path| {
        std::fs::write(
            &cfg,
            format!(
                "[[door]]\nname = \"ssh\"\nport = 22\nrotate = {{ secret_file = \"{}\", period = \"60s\" }}\n",
                secret.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let check = || {
        let mut child = Command::new(NFKNOCK)
            .args(["-c", cfg.to_str().unwrap(), "check"])
            .env_remove("NFKNOCK_CONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("check hangs");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    for (bad, why) in [
        (Path::new("/nonexistent/ssh.secret"), "No such file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (fifo.as_path(), "not a regular file"),
    ] {
        write_cfg(bad);
        let out = check();
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(why), "{}", text(&out.stderr));
    }
    // Unreadable to the user who checks: an error too.
    let out = Command::new(NFKNOCK)
        .args(["gen-secret", secret.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    write_cfg(&secret);
    let out = check();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_nobody(&["-c", cfg.to_str().unwrap(), "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
    // Readable by others: a warning naming the file and its mode.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = check();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{} is readable by others (mode 0644)",
            cfg.display()
        )) && stderr.contains("door ssh: the secret")
            && stderr.contains("(mode 0640)"),
        "{stderr}"
    );
}

#[test]
fn rotating_knocks_avoid_the_hosts_other_ports_on_server_and_client_alike() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("ssh.secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    let rotating = format!(
        "[allow]\nipv4 = []\nipv6 = []\n[[door]]\nname = \"ssh\"\nport = \"22/tcp\"\n\
         rotate = {{ secret_file = \"{}\", period = \"60s\" }}\n",
        secret.display()
    );
    let time = "1800000000";
    let sequence_of = |config: &str| -> Vec<String> {
        let path = dir.path().join("nfknock.toml");
        std::fs::write(&path, config).unwrap();
        let out = Command::new(NFKNOCK)
            .args(["-c", path.to_str().unwrap(), "check", "--show-secrets"])
            .env("NFKNOCK_FAKE_TIME", time)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let line = stdout.lines().find(|l| l.contains("door ssh:")).unwrap();
        let inside = line.split('(').nth(1).unwrap().split(')').next().unwrap();
        inside.split_whitespace().map(str::to_string).collect()
    };
    let free = sequence_of(&rotating);
    assert_eq!(free.len(), 4, "{free:?}");
    // Another door on the port of the second knock.
    let clash = &free[1];
    let with_web = format!(
        "{rotating}[[door]]\nname = \"web\"\nport = \"{clash}\"\nsequence = [\"1000/tcp\", \"2000/udp\", \"3000/tcp\"]\n"
    );
    let avoided = sequence_of(&with_web);
    assert!(!avoided.contains(clash), "{clash} in {avoided:?}");
    assert_eq!(avoided[0], free[0], "more changed than the clash");

    // A client told to avoid that port derives the same sequence.
    let knocked = |extra: &[&str], home: &Path| -> Vec<String> {
        let out = Command::new(NFKNOCK)
            .args(["-v", "knock", "127.0.0.1", "--door", "ssh"])
            .args(extra)
            .env("NFKNOCK_FAKE_TIME", time)
            .env("HOME", home)
            .env_remove("NFKNOCK_CONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        let line = stderr
            .lines()
            .find(|l| l.starts_with("knocking on "))
            .unwrap();
        line.rsplit(": ")
            .next()
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let flags = [
        "--door-port",
        "22/tcp",
        "--period",
        "60s",
        "--secret-file",
        secret.to_str().unwrap(),
        "--avoid",
        clash,
    ];
    assert_eq!(knocked(&flags, dir.path()), avoided);
    let hosts = dir.path().join(".config/nfknock/hosts.toml");
    std::fs::create_dir_all(hosts.parent().unwrap()).unwrap();
    std::fs::write(
        &hosts,
        format!(
            "[\"127.0.0.1\"]\nssh = {{ port = \"22/tcp\", secret_file = \"{}\", period = \"60s\", avoid = [\"{clash}\"] }}\n",
            secret.display()
        ),
    )
    .unwrap();
    assert_eq!(knocked(&[], dir.path()), avoided);
}

// `check` and `apply` name the networks that pass without knocking (the
// defaults let containers, a cloud VPC and the whole link in), and warn
// loudly about a /0.
#[test]
fn check_and_apply_name_the_networks_that_skip_the_doors() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = dir.path().join("nfknock.toml");
    let door = "[[door]]\nname = \"ssh\"\nport = 22\nsequence = [\"48211/tcp\", \"9143/udp\", \"27733/tcp\"]\n";
    let check = |allow: &str| {
        std::fs::write(&cfg, format!("{door}{allow}")).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = nfknock(&["-c", cfg.to_str().unwrap(), "check"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        (text(&out.stdout), text(&out.stderr))
    };
    let (stdout, stderr) = check("");
    assert!(
        stdout.contains(
            "allow: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, fe80::/10 pass the doors without knocking"
        ),
        "{stdout}"
    );
    assert!(stderr.is_empty(), "{stderr}");
    let (stdout, _) = check("[allow]\nipv4 = []\nipv6 = []\n");
    assert!(
        stdout.contains("allow: no network; every source must knock"),
        "{stdout}"
    );
    let (stdout, stderr) = check("[allow]\nipv4 = [\"0.0.0.0/0\"]\nipv6 = [\"::/0\"]\n");
    assert!(
        stdout.contains("allow: 0.0.0.0/0, ::/0 pass the doors"),
        "{stdout}"
    );
    for family in ["IPv4", "IPv6"] {
        assert!(
            stderr.contains(&format!("lets EVERY {family} source in without knocking")),
            "{stderr}"
        );
    }
    // apply says it too, before it finds that it needs root.
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = as_nobody(&["-c", cfg.to_str().unwrap(), "apply"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("[allow] 0.0.0.0/0 lets EVERY IPv4 source in"),
        "{}",
        text(&out.stderr)
    );
}

// The temporary file of `config set` has a random name, is created
// exclusively and follows no link: a local user who plants the old
// predictable `.<name>.tmp` beside the config (say in /tmp) reads nothing
// and breaks nothing.
#[test]
fn config_set_writes_through_no_planted_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = private_copy(&sample(), dir.path());
    let stolen = dir.path().join("stolen");
    std::fs::write(&stolen, "").unwrap();
    std::fs::set_permissions(&stolen, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::os::unix::fs::symlink(&stolen, dir.path().join(".nfknock.toml.tmp")).unwrap();
    let out = nfknock(&[
        "-c",
        cfg.to_str().unwrap(),
        "config",
        "set",
        "notify.email_to",
        "admin@example.org",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&stolen).unwrap(), "");
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != ".nfknock.toml.tmp")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// single_use and the open prefixes: check shows them beside each door,
// warns about a door opened for more than a site, and refuses a length
// out of range naming the door and the key, exit 2.
#[test]
fn check_shows_single_use_and_open_prefixes() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nfknock.toml");
    let write = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let door = "[[door]]\nname = \"ssh\"\nport = \"22/tcp\"\nsequence = [\"48211/tcp\", \"9143/udp\", \"27733/tcp\"]\n";
    write(&format!(
        "single_use = true\nopen_prefix_v4 = 16\n{door}open_prefix_v6 = 64\n"
    ));
    let out = nfknock(&["-c", cfg.to_str().unwrap(), "check"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(
            "open 30s; opens for the knocker's /16 (IPv4) and /64 (IPv6); single use: the first connection closes it"
        ),
        "{stdout}"
    );
    assert!(
        stderr.starts_with("warning: ")
            && stderr
                .contains(": open_prefix_v4: /16 opens the door for more than the knocker's site"),
        "{stderr}"
    );
    assert!(!stderr.contains("open_prefix_v6"), "{stderr}");
    write(&format!("{door}open_prefix_v6 = 0\n"));
    for cmd in ["check", "show", "apply"] {
        let out = nfknock(&["-c", cfg.to_str().unwrap(), cmd]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {stderr}");
        assert!(
            stderr.contains("door \"ssh\": open_prefix_v6: 0 is out of range (1 to 128)"),
            "{cmd}: {stderr}"
        );
    }
}
