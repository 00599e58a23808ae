//! A throwaway lab for tests that load rules: a server, a client and an
//! attacker, each in its own network namespace, on one bridge (itself in a
//! fourth namespace), with TEST-NET addresses. Nothing touches the
//! machine's own network namespace; everything is deleted on drop, even
//! when the test fails. Labs are independent, so tests run in parallel.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

pub const NFKNOCK: &str = env!("CARGO_BIN_EXE_nfknock");
/// The sequence of the door "ssh" (22/tcp) in `one_door_config`.
pub const KNOCKS: [&str; 3] = ["1001/tcp", "2002/udp", "3003/tcp"];

/// The config most tests start from: one door "ssh" on 22/tcp behind
/// `KNOCKS`, 5 s timeouts, nothing allowed without knocking, then `extra`
/// (more doors, tables) as given.
pub fn one_door_config(backend: &str, extra: &str) -> String {
    format!(
        r#"backend = "{backend}"
sequence_timeout = "5s"
door_timeout = "5s"
[allow]
ipv4 = []
ipv6 = []
[[door]]
name = "ssh"
port = "22/tcp"
sequence = ["{}", "{}", "{}"]
{extra}"#,
        KNOCKS[0], KNOCKS[1], KNOCKS[2]
    )
}

/// How long a probe waits before calling a port filtered.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn other(self) -> Family {
        match self {
            Family::V4 => Family::V6,
            Family::V6 => Family::V4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Server,
    Client,
    Attacker,
    /// A host behind the server, on a link of its own, reached only
    /// through the server's port forward (`Lab::forward`).
    Behind,
}

impl Host {
    const ALL: [Host; 3] = [Host::Server, Host::Client, Host::Attacker];

    fn short(self) -> &'static str {
        match self {
            Host::Server => "srv",
            Host::Client => "cli",
            Host::Attacker => "atk",
            Host::Behind => "bhd",
        }
    }

    fn index(self) -> u8 {
        match self {
            Host::Server => 1,
            Host::Client => 2,
            Host::Attacker => 3,
            Host::Behind => 2,
        }
    }

    pub fn addr(self, family: Family) -> IpAddr {
        if self == Host::Behind {
            return match family {
                Family::V4 => "198.51.100.2".parse().unwrap(),
                Family::V6 => "2001:db8:1::2".parse().unwrap(),
            };
        }
        match family {
            Family::V4 => format!("192.0.2.{}", self.index()).parse().unwrap(),
            Family::V6 => format!("2001:db8::{}", self.index()).parse().unwrap(),
        }
    }
}

/// What a scanner sees on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Connected (TCP) or answered (UDP echo).
    Open,
    /// TCP reset, or ICMP port unreachable for UDP.
    Closed,
    /// No answer at all.
    Filtered,
}

pub struct Lab {
    id: String,
    pub family: Family,
    pub dir: tempfile::TempDir,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this process may build namespaces. Without, the network tests
/// skip with a reason, unless NFKNOCK_REQUIRE_NETNS=1 (CI) makes it fatal.
pub fn netns_available() -> bool {
    let ok = Command::new("unshare")
        .args(["-n", "nft", "list", "ruleset"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        let why = "cannot create a network namespace and run nft in it (needs root, iproute2 and nftables)";
        if std::env::var("NFKNOCK_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("{why}, and NFKNOCK_REQUIRE_NETNS=1");
        }
        eprintln!("skipped: {why}");
    }
    ok
}

impl Lab {
    /// A new lab, or None (test skipped) when namespaces are not available.
    pub fn new(family: Family) -> Option<Lab> {
        if !netns_available() {
            return None;
        }
        let id = format!(
            "nfk{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab {
            id,
            family,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let lan = lab.ns_lan();
        ip(&["netns", "add", &lan]);
        ip(&["-n", &lan, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lan, "link", "set", "br0", "up"]);
        for host in Host::ALL {
            let ns = lab.ns(host);
            let port = format!("p-{}", host.short());
            ip(&["netns", "add", &ns]);
            ip(&[
                "-n", &lan, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ]);
            ip(&["-n", &lan, "link", "set", &port, "master", "br0", "up"]);
            let v4 = format!("{}/24", host.addr(Family::V4));
            let v6 = format!("{}/64", host.addr(Family::V6));
            ip(&["-n", &ns, "addr", "add", &v4, "dev", "eth0"]);
            ip(&["-n", &ns, "addr", "add", &v6, "dev", "eth0", "nodad"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        Some(lab)
    }

    pub fn ns(&self, host: Host) -> String {
        format!("{}-{}", self.id, host.short())
    }

    fn ns_lan(&self) -> String {
        format!("{}-lan", self.id)
    }

    pub fn server_addr(&self) -> IpAddr {
        Host::Server.addr(self.family)
    }

    /// Runs a command inside a host's namespace.
    pub fn run(&self, host: Host, cmd: &[&str]) -> Output {
        self.command(host, cmd).output().expect("run in namespace")
    }

    /// The command `run` runs, to add to.
    pub fn command(&self, host: Host, cmd: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host)])
            .args(cmd)
            .env("STATE_DIRECTORY", self.dir.path().join("state"))
            .env_remove("NFKNOCK_CONFIG");
        c
    }

    /// Runs nfknock inside a host's namespace.
    pub fn nfknock(&self, host: Host, args: &[&str]) -> Output {
        let mut cmd = vec![NFKNOCK];
        cmd.extend_from_slice(args);
        self.run(host, &cmd)
    }

    /// Writes a config file into the lab's directory.
    pub fn config(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// `nfknock apply --no-persist` on the server; panics when it fails.
    pub fn apply(&self, config: &Path) {
        let out = self.nfknock(
            Host::Server,
            &["-c", config.to_str().unwrap(), "apply", "--no-persist"],
        );
        assert!(out.status.success(), "apply failed: {}", text(&out.stderr));
    }

    /// What one backend has loaded on the server, without counters or
    /// timestamps: `nft list ruleset`, or iptables-save for both families.
    pub fn rules(&self, backend: Backend) -> String {
        match backend {
            Backend::Nftables => self.ruleset(),
            Backend::Iptables => ["iptables-save", "ip6tables-save"]
                .iter()
                .map(|tool| {
                    let out = self.run(Host::Server, &[tool]);
                    assert!(out.status.success(), "{}", text(&out.stderr));
                    text(&out.stdout)
                        .lines()
                        .filter(|l| !l.starts_with('#'))
                        .map(|l| {
                            if l.starts_with(':') {
                                // `:OUTPUT ACCEPT [1:96]`: policy counters move.
                                let chain: Vec<&str> = l.split_whitespace().take(2).collect();
                                format!("{}\n", chain.join(" "))
                            } else {
                                format!("{l}\n")
                            }
                        })
                        .collect::<String>()
                })
                .collect(),
        }
    }

    /// `rules` without what traffic changes (set elements, counters): the
    /// rules themselves.
    pub fn rules_static(&self, backend: Backend) -> String {
        self.rules(backend)
            .lines()
            .filter(|l| !l.contains("elements =") && !l.contains("packets "))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// `rules_static` with its lines sorted: the same rules, whatever
    /// order the kernel lists sets that a re-apply kept in.
    pub fn rules_sorted(&self, backend: Backend) -> Vec<String> {
        let mut lines: Vec<String> = self
            .rules_static(backend)
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }

    /// The server's whole ruleset.
    pub fn ruleset(&self) -> String {
        let out = self.run(Host::Server, &["nft", "list", "ruleset"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    }

    /// Knocks with nfknock's own client, as an unprivileged user (the
    /// client must not need root).
    pub fn knock(&self, from: Host, knocks: &[&str], delay: &str) {
        self.knock_to(from, self.server_addr(), knocks, delay);
    }

    /// Knocks as `knock` does, at one of the server's addresses.
    pub fn knock_to(&self, from: Host, to: IpAddr, knocks: &[&str], delay: &str) {
        let target = to.to_string();
        let mut cmd = vec![
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            NFKNOCK,
            "knock",
            &target,
            "--delay",
            delay,
        ];
        cmd.extend_from_slice(knocks);
        let out = self.run(from, &cmd);
        assert!(out.status.success(), "knock failed: {}", text(&out.stderr));
    }

    /// Runs `f` on a thread inside a host's namespace.
    pub fn in_ns<T: Send>(&self, host: Host, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.ns(host));
        std::thread::scope(|s| {
            s.spawn(|| {
                let fd = File::open(&path).expect("open netns");
                setns(fd, CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("thread in namespace")
        })
    }

    /// An echo server on a TCP port of the server (both families).
    pub fn listen_tcp(&self, port: u16) {
        let listener = self.in_ns(Host::Server, || {
            TcpListener::bind(("::", port)).expect("bind tcp")
        });
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 || conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
    }

    /// An echo server on a UDP port of the server (both families).
    pub fn listen_udp(&self, port: u16) {
        let socket = self.in_ns(Host::Server, || {
            UdpSocket::bind(("::", port)).expect("bind udp")
        });
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], from);
            }
        });
    }

    /// The server's second link, `lan0` (198.51.100.1/24, 2001:db8:1::1/64,
    /// up): a veth whose other end is `peer_dev` in namespace `peer`.
    fn server_lan(&self, peer: &str, peer_dev: &str) {
        let srv = self.ns(Host::Server);
        ip(&[
            "-n", &srv, "link", "add", "lan0", "type", "veth", "peer", "name", peer_dev, "netns",
            peer,
        ]);
        ip(&["-n", &srv, "addr", "add", "198.51.100.1/24", "dev", "lan0"]);
        ip(&[
            "-n",
            &srv,
            "addr",
            "add",
            "2001:db8:1::1/64",
            "dev",
            "lan0",
            "nodad",
        ]);
        ip(&["-n", &srv, "link", "set", "lan0", "up"]);
    }

    /// Waits until no IPv6 address of `hosts` is tentative: neighbour
    /// discovery waits for the link-local addresses.
    fn wait_ipv6_settled(&self, hosts: &[Host]) {
        let settled = wait_until(Duration::from_secs(5), || {
            hosts.iter().all(|h| {
                let out = self.run(*h, &["ip", "-6", "addr", "show", "tentative"]);
                out.stdout.is_empty()
            })
        });
        assert!(settled.is_some(), "IPv6 addresses stayed tentative");
    }

    /// Puts `Host::Behind` behind the server (198.51.100.2, 2001:db8:1::2
    /// on a link of its own) and forwards the server's `port`/tcp to its
    /// port `to` (DNAT, both families), as Docker's `-p port:to` or a
    /// router's port forward does.
    pub fn forward(&self, port: u16, to: u16) {
        let ns = self.ns(Host::Behind);
        ip(&["netns", "add", &ns]);
        self.server_lan(&ns, "eth0");
        ip(&["-n", &ns, "addr", "add", "198.51.100.2/24", "dev", "eth0"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            "2001:db8:1::2/64",
            "dev",
            "eth0",
            "nodad",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "route", "add", "default", "via", "198.51.100.1"]);
        ip(&[
            "-n",
            &ns,
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:1::1",
        ]);
        for key in ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"] {
            let out = self.run(Host::Server, &["sysctl", "-qw", key]);
            assert!(out.status.success(), "{key}: {}", text(&out.stderr));
        }
        let nat = format!(
            "table ip portfwd {{\n\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport {port} dnat to 198.51.100.2:{to}\n\t}}\n}}\n\
             table ip6 portfwd {{\n\tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport {port} dnat to [2001:db8:1::2]:{to}\n\t}}\n}}\n"
        );
        self.nft_file(Host::Server, "portfwd.nft", &nat);
        self.wait_ipv6_settled(&[Host::Server, Host::Behind]);
    }

    /// Gives the client a second link to the server: its `eth1` to the
    /// server's `lan0` (198.51.100.1, 2001:db8:1::1), the server's address
    /// there is returned. The client sends to that address over `eth1`
    /// from its usual address (192.0.2.2, 2001:db8::2), so one source
    /// reaches the server on two interfaces; the answers come back over
    /// `eth0` (reverse-path filtering is off for that).
    pub fn second_link(&self) -> IpAddr {
        let cli = self.ns(Host::Client);
        self.server_lan(&cli, "eth1");
        for (host, dev) in [(Host::Server, "lan0"), (Host::Client, "eth1")] {
            for key in ["all", "default", "eth0", dev] {
                let key = format!("net.ipv4.conf.{key}.rp_filter=0");
                let out = self.run(host, &["sysctl", "-qw", &key]);
                assert!(out.status.success(), "{key}: {}", text(&out.stderr));
            }
        }
        ip(&["-n", &cli, "link", "set", "eth1", "up"]);
        ip(&[
            "-n",
            &cli,
            "route",
            "add",
            "198.51.100.1/32",
            "dev",
            "eth1",
            "src",
            "192.0.2.2",
        ]);
        ip(&[
            "-n",
            &cli,
            "-6",
            "route",
            "add",
            "2001:db8:1::1/128",
            "dev",
            "eth1",
            "src",
            "2001:db8::2",
        ]);
        self.wait_ipv6_settled(&[Host::Server, Host::Client]);
        match self.family {
            Family::V4 => "198.51.100.1".parse().unwrap(),
            Family::V6 => "2001:db8:1::1".parse().unwrap(),
        }
    }

    /// Forwards one more of the server's TCP ports to `Host::Behind`'s
    /// port `to` (after `forward`).
    pub fn forward_also(&self, port: u16, to: u16) {
        for (family, target) in [
            ("ip", "198.51.100.2".to_string()),
            ("ip6", "[2001:db8:1::2]".to_string()),
        ] {
            let rule = format!("tcp dport {port} dnat to {target}:{to}");
            let mut cmd = vec!["nft", "add", "rule", family, "portfwd", "prerouting"];
            cmd.extend(rule.split(' '));
            let out = self.run(Host::Server, &cmd);
            assert!(out.status.success(), "{rule}: {}", text(&out.stderr));
        }
    }

    /// Lets `from` reach `Host::Behind` through the server, routed (no
    /// NAT), as a router's LAN is reached (after `forward`).
    pub fn route_behind(&self, from: Host) {
        let ns = self.ns(from);
        ip(&[
            "-n",
            &ns,
            "route",
            "add",
            "198.51.100.0/24",
            "via",
            "192.0.2.1",
        ]);
        ip(&[
            "-n",
            &ns,
            "-6",
            "route",
            "add",
            "2001:db8:1::/64",
            "via",
            "2001:db8::1",
        ]);
    }

    /// What `from` sees on a TCP port of `Host::Behind`, reached routed
    /// (see `route_behind`).
    pub fn probe_behind(&self, from: Host, port: u16) -> Probe {
        let to = SocketAddr::new(Host::Behind.addr(self.family), port);
        self.in_ns(from, || {
            match TcpStream::connect_timeout(&to, PROBE_TIMEOUT) {
                Ok(_) => Probe::Open,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Probe::Closed,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Probe::Filtered,
                Err(e) => panic!("probe of {to}: {e}"),
            }
        })
    }

    /// A routed connection from `from` to `Host::Behind`'s echo server on
    /// `port`.
    pub fn connect_behind(&self, from: Host, port: u16) -> TcpStream {
        let to = SocketAddr::new(Host::Behind.addr(self.family), port);
        let s = self.in_ns(from, || {
            TcpStream::connect_timeout(&to, PROBE_TIMEOUT).expect("connect")
        });
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    }

    /// Loads an nftables file into a host's namespace.
    pub fn nft_file(&self, host: Host, name: &str, rules: &str) {
        let path = self.config(name, rules);
        let out = self.run(host, &["nft", "-f", path.to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    }

    /// An echo server on a TCP port of any host (both families).
    pub fn listen_tcp_on(&self, host: Host, port: u16) {
        let listener = self.in_ns(host, || TcpListener::bind(("::", port)).expect("bind tcp"));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 || conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
    }

    /// What nmap's `scan` (`-sS`, `-sF`, ...) from `from` says of each of
    /// the server's TCP `ports` (`closed`, `filtered`, `open|filtered`,
    /// `unfiltered`...), in order.
    pub fn nmap(&self, from: Host, scan: &str, ports: &[u16]) -> Vec<String> {
        let target = self.server_addr().to_string();
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        let list = list.join(",");
        let mut cmd = vec![
            "nmap",
            "-n",
            "-Pn",
            scan,
            "-p",
            &list,
            "--max-retries",
            "1",
            "--initial-rtt-timeout",
            "100ms",
            "--max-rtt-timeout",
            "300ms",
            "--reason",
        ];
        if self.family == Family::V6 {
            cmd.push("-6");
        }
        cmd.push(&target);
        let out = self.run(from, &cmd);
        assert!(out.status.success(), "nmap: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        ports
            .iter()
            .map(|p| {
                let prefix = format!("{p}/tcp ");
                stdout
                    .lines()
                    .find_map(|l| l.strip_prefix(&prefix))
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_string)
                    // Ports that all answer alike may be summed up as
                    // "Not shown: 2 closed tcp ports (reset)".
                    .or_else(|| {
                        let hidden: Vec<&str> = stdout
                            .lines()
                            .filter_map(|l| l.strip_prefix("Not shown: "))
                            .collect();
                        match hidden[..] {
                            [one] => one.split_whitespace().nth(1).map(str::to_string),
                            _ => None,
                        }
                    })
                    .unwrap_or_else(|| panic!("port {p} not in nmap's answer:\n{stdout}"))
            })
            .collect()
    }

    /// What `from` sees on a TCP port of the server.
    pub fn probe_tcp(&self, from: Host, port: u16) -> Probe {
        self.probe_tcp_family(from, port, self.family)
    }

    pub fn probe_tcp_family(&self, from: Host, port: u16, family: Family) -> Probe {
        self.probe_tcp_to(from, SocketAddr::new(Host::Server.addr(family), port))
    }

    /// What `from` sees on a TCP port at one of the server's addresses.
    pub fn probe_tcp_to(&self, from: Host, to: SocketAddr) -> Probe {
        self.in_ns(from, || {
            match TcpStream::connect_timeout(&to, PROBE_TIMEOUT) {
                Ok(_) => Probe::Open,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Probe::Closed,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Probe::Filtered,
                Err(e) => panic!("probe of {to}: {e}"),
            }
        })
    }

    /// Gives `host` another address, `net` (`addr/len`), on its link, and
    /// the server a route back to that network on the same link when it
    /// is not the lab's own: a second address in the host's network, or
    /// one outside it. The host's own address stays the one it sends from
    /// unless a socket binds to this one (IPv6 would prefer the newer
    /// address: it is added deprecated).
    pub fn add_address(&self, host: Host, net: &str) {
        let (ns, srv) = (self.ns(host), self.ns(Host::Server));
        let mut args = vec!["-n", &ns, "addr", "add", net, "dev", "eth0"];
        if net.contains(':') {
            args.extend(["nodad", "preferred_lft", "0"]);
        }
        ip(&args);
        let lan = ["192.0.2.0/24", "2001:db8::/64"];
        let network: ipnet::IpNet = net.parse().expect("addr/len");
        if !lan.contains(&network.trunc().to_string().as_str()) {
            let to = network.trunc().to_string();
            ip(&["-n", &srv, "route", "add", &to, "dev", "eth0"]);
        }
    }

    /// What `from` sees on a TCP port of the server, connecting from its
    /// address `source` (see [`Lab::add_address`]).
    pub fn probe_tcp_from(&self, from: Host, source: IpAddr, port: u16) -> Probe {
        use socket2::{Domain, SockAddr, Socket, Type};
        let to = SocketAddr::new(self.server_addr(), port);
        self.in_ns(from, || {
            let s = Socket::new(Domain::for_address(to), Type::STREAM, None).unwrap();
            s.bind(&SockAddr::from(SocketAddr::new(source, 0)))
                .unwrap_or_else(|e| panic!("bind {source}: {e}"));
            match s.connect_timeout(&SockAddr::from(to), PROBE_TIMEOUT) {
                Ok(()) => Probe::Open,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Probe::Closed,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Probe::Filtered,
                Err(e) => panic!("probe of {to} from {source}: {e}"),
            }
        })
    }

    /// What `from` sees on a UDP port of the server.
    pub fn probe_udp(&self, from: Host, port: u16) -> Probe {
        let to = SocketAddr::new(self.server_addr(), port);
        self.in_ns(from, || {
            let bind: SocketAddr = match to {
                SocketAddr::V4(_) => "0.0.0.0:0".parse().unwrap(),
                SocketAddr::V6(_) => "[::]:0".parse().unwrap(),
            };
            let s = UdpSocket::bind(bind).unwrap();
            s.connect(to).unwrap();
            s.set_read_timeout(Some(PROBE_TIMEOUT)).unwrap();
            s.send(b"probe").unwrap();
            let mut buf = [0u8; 16];
            match s.recv(&mut buf) {
                Ok(_) => Probe::Open,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Probe::Closed,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    Probe::Filtered
                }
                Err(e) => panic!("udp probe of {to}: {e}"),
            }
        })
    }

    /// A connection from `from` to the server's echo server on `port`.
    pub fn connect(&self, from: Host, port: u16) -> TcpStream {
        let to = SocketAddr::new(self.server_addr(), port);
        let s = self.in_ns(from, || {
            TcpStream::connect_timeout(&to, PROBE_TIMEOUT).expect("connect")
        });
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in Host::ALL
            .map(|h| self.ns(h))
            .into_iter()
            .chain([self.ns(Host::Behind), self.ns_lan()])
        {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// True when an established connection still carries data both ways.
pub fn echoes(stream: &mut TcpStream) -> bool {
    let msg = b"still here";
    if stream.write_all(msg).is_err() {
        return false;
    }
    let mut buf = [0u8; 10];
    stream.read_exact(&mut buf).is_ok() && &buf == msg
}

/// Polls `f` until it is true or `deadline` passes; returns the elapsed time.
pub fn wait_until(deadline: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Declares a test once per address family: `family_tests!(name);` runs
/// `fn name(family: Family)` as `name::ipv4` and `name::ipv6`.
#[macro_export]
macro_rules! family_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn ipv4() {
                    super::$name(super::Family::V4)
                }
                #[test]
                fn ipv6() {
                    super::$name(super::Family::V6)
                }
            }
        )*
    };
}

/// The firewall backends the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Nftables,
    Iptables,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Nftables => "nftables",
            Backend::Iptables => "iptables",
        }
    }
}

/// One run of a behaviour test: a backend and an address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub backend: Backend,
    pub family: Family,
}

impl Case {
    pub const NFT_V4: Case = Case {
        backend: Backend::Nftables,
        family: Family::V4,
    };
    pub const IPT_V4: Case = Case {
        backend: Backend::Iptables,
        family: Family::V4,
    };
}

/// Declares a test once per backend and address family: `backend_tests!(name);`
/// runs `fn name(t: Case)` as `name::nftables_ipv4`, `name::iptables_ipv6`...
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::common::{Backend, Case, Family};
                #[test]
                fn nftables_ipv4() {
                    super::$name(Case { backend: Backend::Nftables, family: Family::V4 })
                }
                #[test]
                fn nftables_ipv6() {
                    super::$name(Case { backend: Backend::Nftables, family: Family::V6 })
                }
                #[test]
                fn iptables_ipv4() {
                    super::$name(Case { backend: Backend::Iptables, family: Family::V4 })
                }
                #[test]
                fn iptables_ipv6() {
                    super::$name(Case { backend: Backend::Iptables, family: Family::V6 })
                }
            }
        )*
    };
}
