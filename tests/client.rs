//! The client in daily use, on the real kernel in throwaway namespaces:
//! `nfknock connect` as ssh's ProxyCommand (a real sshd behind the door),
//! a lost knock that the retry makes up for, and names with both address
//! families. The client always runs as an unprivileged user.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Backend, Case, Family, Host, KNOCKS, Lab, NFKNOCK, one_door_config, text, wait_until,
};

const SSH: u16 = 22;

/// A lab with the one-door config applied (nftables) and an echo server
/// behind the door.
fn lab_with_door(family: Family) -> Option<Lab> {
    lab_with_door_on(Case {
        backend: Backend::Nftables,
        family,
    })
}

fn lab_with_door_on(t: Case) -> Option<Lab> {
    let lab = Lab::new(t.family)?;
    let path = lab.config("nfknock.toml", &one_door_config(t.backend.name(), ""));
    lab.apply(&path);
    lab.listen_tcp(SSH);
    Some(lab)
}

/// A client's home that the unprivileged user can read, with a hosts.toml
/// giving the door "ssh" for each of `names`.
fn client_home(names: &[&str]) -> tempfile::TempDir {
    let seq: Vec<String> = KNOCKS.iter().map(|k| format!("\"{k}\"")).collect();
    let text: String = names
        .iter()
        .map(|n| format!("[\"{n}\"]\nssh = [{}]\n", seq.join(", ")))
        .collect();
    client_home_with(&text)
}

/// A client's home with this hosts.toml.
fn client_home_with(hosts_toml: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("nfknock");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("hosts.toml"), hosts_toml).unwrap();
    for p in [home.path(), &dir, &dir.join("hosts.toml")] {
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    home
}

/// `nfknock ARGS` from the client namespace as nobody, with `home` as its
/// XDG_CONFIG_HOME and `input` on stdin (then closed); killed after 20 s.
fn client(lab: &Lab, home: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = vec![
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        NFKNOCK,
    ];
    cmd.extend_from_slice(args);
    let child = lab
        .command(Host::Client, &cmd)
        .env("XDG_CONFIG_HOME", home)
        .env("HOME", "/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, input)
}

/// Writes `input`, closes stdin and waits (at most 20 s) for the output.
fn finish(mut child: Child, input: &[u8]) -> Output {
    child.stdin.take().unwrap().write_all(input).unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

// The door opens for `connect`, which relays both ways and half-closes:
// the echo server sees the end of stdin, answers, closes, and connect exits 0.
fn connect_relays_through_the_door(family: Family) {
    let Some(lab) = lab_with_door(family) else {
        return;
    };
    let server = lab.server_addr().to_string();
    let home = client_home(&[&server]);
    let out = client(
        &lab,
        home.path(),
        &["connect", &server, "22"],
        b"hello through the door\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello through the door\n");
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}

// With several doors on a host, connect takes the one on PORT: from a
// hosts.toml entry that names its port, as from a config.
fn connect_finds_the_door_by_its_port(family: Family) {
    let Some(lab) = Lab::new(family) else {
        return;
    };
    let web = r#"
[[door]]
name = "web"
port = "8080/tcp"
sequence = ["4004/udp", "5005/tcp", "6006/udp"]
"#;
    let config = lab.config("nfknock.toml", &one_door_config("nftables", web));
    lab.apply(&config);
    lab.listen_tcp(SSH);
    lab.listen_tcp(8080);
    let server = lab.server_addr().to_string();
    let home = client_home_with(&format!(
        "[\"{server}\"]\n\
         web = {{ port = \"8080/tcp\", sequence = [\"4004:udp\", \"5005\", \"u:6006\"] }}\n\
         ssh = {{ port = 22, sequence = [\"{}\", \"{}\", \"{}\"] }}\n",
        KNOCKS[0], KNOCKS[1], KNOCKS[2]
    ));
    for port in ["8080", "22"] {
        let out = client(
            &lab,
            home.path(),
            &["connect", &server, port, "--tries", "1"],
            b"which door\n",
        );
        assert!(out.status.success(), "{port}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "which door\n");
    }
    // No door on that port, and two doors: say so, exit 2.
    let out = client(&lab, home.path(), &["connect", &server, "2222"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("has no door chosen (pick one with --door); doors: ssh, web"),
        "{}",
        text(&out.stderr)
    );
}

/// A table in the client namespace that drops the first knock (1001/tcp)
/// once: the set remembers it was dropped. `nft flush set inet lossy seen`
/// arms it again.
const LOSE_FIRST_KNOCK: &str = r#"table inet lossy {
    set seen {
        type inet_service
        flags dynamic
    }
    chain out {
        type filter hook output priority 0; policy accept;
        tcp dport @seen accept
        tcp dport 1001 add @seen { tcp dport } counter drop
    }
}
"#;

fn dropped_knocks(lab: &Lab) -> String {
    let out = lab.run(
        Host::Client,
        &["nft", "list", "chain", "inet", "lossy", "out"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    listing
        .lines()
        .find_map(|l| l.split("counter packets ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no counter in {listing}"))
        .to_string()
}

// A knock lost on the way: the connect is refused, connect knocks again
// and gets in. With --tries 1 it gives up: exit 1, one line on stderr.
fn connect_knocks_again_when_a_knock_is_lost(t: Case) {
    let Some(lab) = lab_with_door_on(t) else {
        return;
    };
    let rules = lab.config("lossy.nft", LOSE_FIRST_KNOCK);
    let out = lab.run(Host::Client, &["nft", "-f", rules.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let server = lab.server_addr().to_string();
    let home = client_home(&[&server]);

    let out = client(
        &lab,
        home.path(),
        &["connect", &server, "22", "--tries", "1"],
        b"x",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "nfknock: cannot connect to {server} port 22 after 1 knock(s): {server}: connection refused; is the knock sequence right, and the service running?\n"
        )
    );
    assert!(out.stdout.is_empty());
    assert_eq!(dropped_knocks(&lab), "1");

    let out = lab.run(
        Host::Client,
        &["nft", "flush", "set", "inet", "lossy", "seen"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = client(
        &lab,
        home.path(),
        &["-v", "connect", &server, "22"],
        b"second try\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "second try\n");
    assert_eq!(dropped_knocks(&lab), "2", "the first knock was not lost");
    let stderr = text(&out.stderr);
    let to = SocketAddr::new(lab.server_addr(), SSH);
    assert!(
        stderr.contains(&format!("{to}: connection refused")) && stderr.contains("try 2 of 3"),
        "{stderr}"
    );
}

// The last knock lost: the source waits mid-sequence on the server; the
// next try's first knock starts it over, and connect still gets in.
fn connect_gets_in_when_the_last_knock_is_lost(t: Case) {
    let Some(lab) = lab_with_door_on(t) else {
        return;
    };
    let rules = lab.config("lossy.nft", &LOSE_FIRST_KNOCK.replace("1001", "3003"));
    let out = lab.run(Host::Client, &["nft", "-f", rules.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let server = lab.server_addr().to_string();
    let home = client_home(&[&server]);
    let out = client(
        &lab,
        home.path(),
        &["-v", "connect", &server, "22"],
        b"last knock lost\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "last knock lost\n");
    assert_eq!(dropped_knocks(&lab), "1");
    // The second try's first knock restarts the sequence: no third try.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("try 2 of 3") && !stderr.contains("try 3 of 3"),
        "{stderr}"
    );
}

/// An sshd in the server namespace, on port 22 of both families, with a
/// throwaway host key; root logs in with the key `dir/user_key`. Killed on
/// drop.
struct Sshd {
    child: Child,
    dir: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "nfknock-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen (package openssh-client)");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn sshd(lab: &Lab) -> Option<Sshd> {
    if !Path::new("/usr/sbin/sshd").exists() {
        let why = "no /usr/sbin/sshd (package openssh-server)";
        if std::env::var("NFKNOCK_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("{why}, and NFKNOCK_REQUIRE_NETNS=1");
        }
        eprintln!("skipped: {why}");
        return None;
    }
    let dir = lab.dir.path().join("ssh");
    std::fs::create_dir(&dir).unwrap();
    keygen(&dir.join("host_key"));
    keygen(&dir.join("user_key"));
    std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port 22\nListenAddress 0.0.0.0\nListenAddress ::\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile none\nUsePAM no\nStrictModes no\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n",
            d = dir.display()
        ),
    )
    .unwrap();
    // sshd's privilege separation directory (the package makes it at boot).
    std::fs::create_dir_all("/run/sshd").unwrap();
    let child = lab
        .command(
            Host::Server,
            &["/usr/sbin/sshd", "-D", "-e", "-f", config.to_str().unwrap()],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sshd = Sshd { child, dir };
    // Loopback is never behind a door: ready once it accepts there.
    let up = wait_until(Duration::from_secs(10), || {
        lab.in_ns(Host::Server, || {
            TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], SSH)),
                Duration::from_millis(200),
            )
            .is_ok()
        })
    });
    assert!(up.is_some(), "sshd did not start");
    Some(sshd)
}

// ssh with `ProxyCommand nfknock connect %h %p` (run unprivileged) logs
// in through the hidden door, with no separate knock; plain ssh cannot.
fn ssh_logs_in_through_connect_as_proxy_command(family: Family) {
    let Some(lab) = Lab::new(family) else {
        return;
    };
    let path = lab.config("nfknock.toml", &one_door_config("nftables", ""));
    lab.apply(&path);
    let Some(sshd) = sshd(&lab) else {
        return;
    };
    let server = lab.server_addr().to_string();
    let home = client_home(&[&server]);
    let key = sshd.dir.join("user_key");
    let proxy = format!(
        "ProxyCommand=setpriv --reuid=65534 --regid=65534 --clear-groups {NFKNOCK} connect %h %p"
    );
    let ssh = |proxy: Option<&str>| {
        let mut cmd = vec![
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            key.to_str().unwrap(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=3",
        ];
        if let Some(p) = proxy {
            cmd.extend(["-o", p]);
        }
        let target = format!("root@{server}");
        cmd.extend([target.as_str(), "echo", "logged in over", "$SSH_CONNECTION"]);
        let child = lab
            .command(Host::Client, &cmd)
            .env("XDG_CONFIG_HOME", home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        finish(child, b"")
    };
    let out = ssh(None);
    assert!(!out.status.success(), "ssh got in without knocking");
    let out = ssh(Some(&proxy));
    assert!(out.status.success(), "ssh: {}", text(&out.stderr));
    let client = Host::Client.addr(family).to_string();
    assert!(
        text(&out.stdout).starts_with(&format!("logged in over {client} ")),
        "{}",
        text(&out.stdout)
    );
}

// The door is the one on PORT when none is named; the knock of an
// unreachable host counts as a failed try. In an empty namespace nothing
// leaves the machine.
#[test]
fn connect_picks_the_door_on_its_port() {
    if !common::netns_available() {
        return;
    }
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("cfg-sample/nfknock.toml");
    let run = |args: &[&str]| {
        Command::new("unshare")
            .args(["-n", NFKNOCK, "-c", sample.to_str().unwrap(), "connect"])
            .args(args)
            .env_remove("NFKNOCK_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["192.0.2.1", "22", "--tries", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "nfknock: cannot connect to 192.0.2.1 port 22 after 2 knock(s): 192.0.2.1: cannot send knock 48211/tcp to 192.0.2.1"
        ) && stderr.lines().count() == 1,
        "{stderr}"
    );
    let out = run(&["192.0.2.1", "8443"]);
    assert!(text(&out.stderr).contains("cannot send knock 31337/udp"));
    let out = run(&["192.0.2.1", "2222"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("has 2 doors; pick one with --door"));
}

// A door of several ports is the door on each of them, a range's ports
// included; a port of no door still asks for --door. In an empty namespace
// nothing leaves the machine.
#[test]
fn connect_finds_a_door_by_any_of_its_ports() {
    if !common::netns_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nfknock.toml");
    std::fs::write(
        &config,
        r#"[[door]]
name = "ssh"
port = "22/tcp"
sequence = ["48211/tcp", "9143/udp", "27733/tcp"]
[[door]]
name = "multi"
port = ["2222/tcp", "9000-9010/tcp", "60000-61000/udp"]
sequence = ["31337/udp", "4242/tcp", "50505/udp"]
"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new("unshare")
            .args(["-n", NFKNOCK, "-c", config.to_str().unwrap(), "connect"])
            .args(args)
            .env_remove("NFKNOCK_CONFIG")
            .output()
            .unwrap()
    };
    for port in ["2222", "9000", "9005", "9010"] {
        let out = run(&["192.0.2.1", port, "--tries", "1"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{port}: {stderr}");
        assert!(
            stderr.contains("cannot send knock 31337/udp"),
            "{port}: {stderr}"
        );
    }
    // The UDP range is not a TCP door; 9011 is just outside the range.
    for port in ["60000", "9011"] {
        let out = run(&["192.0.2.1", port]);
        assert_eq!(out.status.code(), Some(2), "{port}");
        assert!(text(&out.stderr).contains("has 2 doors; pick one with --door"));
    }
}

// knockd's client's `PORT:proto` and the original knock.sh's comma lists
// send the same knocks as `PORT/proto`.
fn knock_accepts_the_syntax_users_bring(family: Family) {
    let Some(lab) = lab_with_door(family) else {
        return;
    };
    lab.knock(Host::Client, &["1001:tcp,U:2002", "3003:TCP"], "20ms");
    assert_eq!(lab.probe_tcp(Host::Client, SSH), common::Probe::Open);
}

// A hosts.toml sequence is checked like the config's: an empty or short
// list is a usage error naming the host and door, not a silent exit 0.
#[test]
fn hosts_toml_sequences_are_validated() {
    if !common::netns_available() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("nfknock");
    std::fs::create_dir(&dir).unwrap();
    for (entry, problem) in [
        ("ssh = []", "sequence: missing or empty"),
        (
            "ssh = [\"1001:tcp\"]",
            "sequence: 1 knocks; at least 3 are needed",
        ),
    ] {
        std::fs::write(
            dir.join("hosts.toml"),
            format!("[\"192.0.2.1\"]\n{entry}\n"),
        )
        .unwrap();
        for cmd in ["knock", "connect"] {
            let mut args = vec!["-n", NFKNOCK, cmd, "192.0.2.1"];
            if cmd == "connect" {
                args.push("22");
            }
            let out = Command::new("unshare")
                .args(&args)
                .env("XDG_CONFIG_HOME", home.path())
                .env_remove("NFKNOCK_CONFIG")
                .output()
                .unwrap();
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {entry}: {stderr}");
            assert!(
                stderr.contains("hosts.toml: host \"192.0.2.1\", door \"ssh\": ")
                    && stderr.contains(problem),
                "{cmd} {entry}: {stderr}"
            );
        }
    }
}

/// A host name for the client namespace: `ip netns exec` puts the files
/// of /etc/netns/NS/ over /etc/, so this `hosts` is the client's only.
/// Removed on drop.
struct ClientHosts(PathBuf);

impl ClientHosts {
    fn new(lab: &Lab, lines: &str) -> ClientHosts {
        let dir = Path::new("/etc/netns").join(lab.ns(Host::Client));
        // Another lab's drop may remove /etc/netns in between: try again.
        let made = wait_until(Duration::from_secs(2), || {
            std::fs::create_dir_all(&dir).is_ok()
                && std::fs::write(dir.join("hosts"), lines).is_ok()
        });
        assert!(made.is_some(), "cannot write {}/hosts", dir.display());
        ClientHosts(dir)
    }
}

impl Drop for ClientHosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // The parent only when no other lab uses it.
        let _ = std::fs::remove_dir("/etc/netns");
    }
}

/// `server.test` with both of the server's addresses.
fn dual_stack_name(lab: &Lab) -> ClientHosts {
    ClientHosts::new(
        lab,
        &format!(
            "{} server.test\n{} server.test\n",
            Host::Server.addr(Family::V4),
            Host::Server.addr(Family::V6)
        ),
    )
}

// A name with A and AAAA records is knocked on both families, so the
// door is open whichever one ssh then takes; -6 (or -4) knocks one only.
#[test]
fn knock_opens_every_family_of_a_name() {
    let Some(lab) = lab_with_door(Family::V4) else {
        return;
    };
    let _hosts = dual_stack_name(&lab);
    let home = client_home(&[]);
    let knock = |extra: &[&str]| {
        let mut args = vec!["knock", "server.test", "--delay", "20ms"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&KNOCKS);
        let out = client(&lab, home.path(), &args, b"");
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    let door = |family| lab.probe_tcp_family(Host::Client, SSH, family);
    knock(&["-6"]);
    assert_eq!(door(Family::V6), common::Probe::Open, "-6 knocked IPv6");
    assert_eq!(
        door(Family::V4),
        common::Probe::Closed,
        "-6 knocked IPv4 too"
    );
    knock(&[]);
    assert_eq!(door(Family::V4), common::Probe::Open, "IPv4 not knocked");
    assert_eq!(door(Family::V6), common::Probe::Open);
}

// A family that cannot be reached (here: an IPv6 address with no route)
// does not fail the knock when another family was knocked.
#[test]
fn knock_skips_an_unreachable_family() {
    let Some(lab) = lab_with_door(Family::V4) else {
        return;
    };
    let _hosts = ClientHosts::new(
        &lab,
        &format!(
            "2001:db8:ffff::1 server.test\n{} server.test\n",
            Host::Server.addr(Family::V4)
        ),
    );
    let home = client_home(&[]);
    let mut args = vec!["-v", "knock", "server.test"];
    args.extend_from_slice(&KNOCKS);
    let out = client(&lab, home.path(), &args, b"");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot send knock 1001/tcp to 2001:db8:ffff::1"),
        "{stderr}"
    );
    assert_eq!(
        lab.probe_tcp_family(Host::Client, SSH, Family::V4),
        common::Probe::Open
    );
    // -6 leaves only the unreachable one: that fails.
    args.insert(2, "-6");
    let out = client(&lab, home.path(), &args, b"");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

/// A rule in the client namespace that refuses TCP to the server's port
/// 22 over one family: a path to the server that does not work.
fn refuse_family(lab: &Lab, family: Family) {
    let (ip, addr) = match family {
        Family::V4 => ("ip", Host::Server.addr(family)),
        Family::V6 => ("ip6", Host::Server.addr(family)),
    };
    let rules = lab.config(
        "broken.nft",
        &format!(
            "table inet broken {{\n chain out {{\n  type filter hook output priority 0; policy accept;\n  \
             {ip} daddr {addr} tcp dport 22 reject with tcp reset\n }}\n}}\n"
        ),
    );
    let out = lab.run(Host::Client, &["nft", "-f", rules.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

// connect tries the name's addresses in the resolver's order, as ssh
// does, knocking on each just before: when one family's path is broken it
// gets in over the other. Run with each family broken, so that whichever
// comes first in the resolver's order, the fallback is exercised.
#[test]
fn connect_falls_back_to_the_other_family() {
    for broken in [Family::V6, Family::V4] {
        let Some(lab) = lab_with_door(Family::V4) else {
            return;
        };
        let _hosts = dual_stack_name(&lab);
        refuse_family(&lab, broken);
        let home = client_home(&["server.test"]);
        let out = client(
            &lab,
            home.path(),
            &["-v", "connect", "server.test", "22", "--tries", "1"],
            b"over the other family\n",
        );
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{broken:?} broken: {stderr}");
        assert_eq!(text(&out.stdout), "over the other family\n");
        let good = SocketAddr::new(Host::Server.addr(broken.other()), SSH);
        assert!(
            stderr.contains(&format!("connected to {good}")),
            "{broken:?} broken: {stderr}"
        );
    }
}

backend_tests!(
    connect_knocks_again_when_a_knock_is_lost,
    connect_gets_in_when_the_last_knock_is_lost,
);

family_tests!(
    connect_finds_the_door_by_its_port,
    knock_accepts_the_syntax_users_bring,
    connect_relays_through_the_door,
    ssh_logs_in_through_connect_as_proxy_command,
);
