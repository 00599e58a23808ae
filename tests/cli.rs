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

fn nfknock(args: &[&str]) -> Output {
    Command::new(NFKNOCK)
        .args(args)
        .env_remove("NFKNOCK_CONFIG")
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
    assert!(text(&out.stderr).contains("cannot read /nonexistent/nfknock.toml"));
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
        "name = \"openssh\"\nport = \"22/tcp\"\nsequence = [\"7000/tcp\", \"8000/tcp\", \"9000/tcp\"]\nsequence_timeout = \"5s\"",
        "knockd section [closeSSH] closed a door again",
        "name = \"openvpn\"\nport = \"1194/udp\"\nsequence = [\"31415/udp\", \"27182/tcp\", \"16180/udp\"]",
        "door_timeout = \"20s\"",
        "tcpflags = syn,ack: nfknock counts a TCP knock only as a bare SYN",
        "nfknock refuses this sequence: a port scanner walks it in order",
        "`nfknock gen-sequence`",
        "knockd listened on eth0",
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
        summary.contains("allow: 10.0.0.0/8, 192.168.0.0/16, fe80::/10 pass the doors"),
        "{summary}"
    );
    assert!(
        toml.contains("save_file = /etc/nftables.d/nfknock.nft: not used"),
        "{toml}"
    );
    let out = nfknock(&["import", fixture("bad-syntax.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
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
