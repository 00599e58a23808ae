//! The promises of the loaded rules (shared/spec/behaviour.md), proved on
//! the real kernel in throwaway network namespaces, for IPv4 and IPv6.
//! Each test names the promise it proves.

mod common;

use std::time::Duration;

use common::{
    Backend, Case, Family, Host, KNOCKS, Lab, Probe, echoes, one_door_config, text, wait_until,
};

const SSH: u16 = 22;
const FAST: &str = "20ms";

fn guard(t: Case, extra: &str) -> String {
    one_door_config(t.backend.name(), extra)
}

fn firewall(t: Case, extra: &str) -> String {
    format!(
        r#"mode = "firewall"
{}
[firewall]
open = ["80/tcp"]
"#,
        guard(t, extra)
    )
}

/// A lab with the given config applied and an echo server on the door.
fn lab_with(family: Family, config: &str) -> Option<Lab> {
    let lab = Lab::new(family)?;
    let path = lab.config("nfknock.toml", config);
    lab.apply(&path);
    lab.listen_tcp(SSH);
    Some(lab)
}

/// Knocks the sequence from the client and connects to `port` through the
/// door it opened: the session, which must echo (`what` says which).
fn knock_and_enter(lab: &Lab, port: u16, what: &str) -> std::net::TcpStream {
    lab.knock(Host::Client, &KNOCKS, FAST);
    let mut session = lab.connect(Host::Client, port);
    assert!(echoes(&mut session), "{what}");
    session
}

/// Makes `host`'s address a transient network on the server.
fn transient_add(lab: &Lab, host: Host) {
    let addr = host.addr(lab.family).to_string();
    let out = lab.nfknock(Host::Server, &["transient", "add", &addr]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

// 1. Knock opens the door for the knocker only.
fn knock_opens_door_for_knocker_only(t: Case) {
    let family = t.family;
    let Some(lab) = lab_with(family, &guard(t, "")) else {
        return;
    };
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Closed,
        "door shut before"
    );
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "open after a knock"
    );
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Closed,
        "not for others"
    );
    assert_eq!(
        lab.probe_tcp_family(Host::Client, SSH, family.other()),
        Probe::Closed,
        "not for the knocker's other address family"
    );
}

// 1 and 5. The door closes after door_timeout; the connection made through
// it keeps running.
fn door_closes_after_timeout_but_established_stays(t: Case) {
    let family = t.family;
    for base in [guard(t, ""), firewall(t, "")] {
        let cfg = base.replace("door_timeout = \"5s\"", "door_timeout = \"2s\"");
        let Some(lab) = lab_with(family, &cfg) else {
            return;
        };
        let mut session = knock_and_enter(&lab, SSH, "through the opened door");
        let shut = Probe::Closed.max_for(&cfg);
        let closed = wait_until(Duration::from_secs(6), || {
            lab.probe_tcp(Host::Client, SSH) == shut
        });
        assert!(closed.is_some(), "the door never closed");
        assert!(echoes(&mut session), "the established session was cut");
    }
}

// 3. A knock out of order does not count.
fn wrong_order_fails(t: Case) {
    let family = t.family;
    let Some(lab) = lab_with(family, &guard(t, "")) else {
        return;
    };
    lab.knock(Host::Client, &["2002/udp", "1001/tcp", "3003/tcp"], FAST);
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Closed);
    lab.knock(
        Host::Client,
        &["1001/tcp", "3003/tcp", "2002/udp", "3003/tcp"],
        FAST,
    );
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Closed);
    // The same client can still get in with the right sequence.
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);
}

// 3. Any other NEW packet in the middle resets the source.
fn other_packet_resets(t: Case) {
    let family = t.family;
    let Some(lab) = lab_with(family, &guard(t, "")) else {
        return;
    };
    for noise in ["4444/tcp", "4444/udp", "1001/udp"] {
        lab.knock(
            Host::Client,
            &["1001/tcp", "2002/udp", noise, "3003/tcp"],
            FAST,
        );
        assert_eq!(
            lab.probe_tcp(Host::Client, SSH),
            Probe::Closed,
            "noise {noise}"
        );
    }
}

// 3. An exact duplicate of the knock just accepted changes nothing.
fn duplicate_knock_is_tolerated(t: Case) {
    let family = t.family;
    let Some(lab) = lab_with(family, &guard(t, "")) else {
        return;
    };
    lab.knock(
        Host::Client,
        &["1001/tcp", "1001/tcp", "2002/udp", "2002/udp", "3003/tcp"],
        FAST,
    );
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);
}

// 1 and 3. A knock later than sequence_timeout does not count.
fn late_knock_fails(t: Case) {
    let family = t.family;
    let cfg = guard(t, "").replace("sequence_timeout = \"5s\"", "sequence_timeout = \"1s\"");
    let Some(lab) = lab_with(family, &cfg) else {
        return;
    };
    // The pause exceeds the timeout on purpose: it is what is tested.
    lab.knock(Host::Client, &KNOCKS, "1500ms");
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Closed,
        "late knocks opened"
    );
    // Each pause within the timeout, the whole sequence longer than it:
    // every knock must renew the source's state, not only the first.
    lab.knock(Host::Client, &KNOCKS, "700ms");
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "timely knocks failed"
    );
}

// 3. A sequential port scan never walks the sequence, even one that
// ascends (1001, 1003, 1005): every port between resets the scanner.
fn port_scan_never_opens(t: Case) {
    let family = t.family;
    let cfg = guard(t, "").replace(
        r#"sequence = ["1001/tcp", "2002/udp", "3003/tcp"]"#,
        r#"sequence = ["1001/tcp", "1003/tcp", "1005/tcp"]"#,
    );
    let Some(lab) = lab_with(family, &cfg) else {
        return;
    };
    let target = lab.server_addr().to_string();
    let mut nmap = vec![
        "nmap",
        "-n",
        "-Pn",
        "-sS",
        "-r",
        "-p",
        "1000-1010",
        "--max-retries",
        "0",
    ];
    if family == Family::V6 {
        nmap.push("-6");
    }
    nmap.push(&target);
    let out = lab.run(Host::Attacker, &nmap);
    assert!(out.status.success(), "nmap: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1003/tcp closed"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Closed,
        "the scan opened the door"
    );
    // The counterfactual: the same ports, sent as a knock, do open it.
    lab.knock(Host::Attacker, &["1001", "1003", "1005"], FAST);
    assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Open);
}

// 4. Guard mode: knock ports and a closed door look like any closed port.
fn guard_is_stealthy(t: Case) {
    let family = t.family;
    let cfg = guard(
        t,
        r#"[[door]]
name = "dns"
port = "5353/udp"
sequence = ["6001/udp", "6002/tcp", "6003/udp"]
"#,
    );
    let Some(lab) = lab_with(family, &cfg) else {
        return;
    };
    lab.listen_udp(5353);
    for port in [SSH, 1001, 3003, 4444] {
        assert_eq!(
            lab.probe_tcp(Host::Attacker, port),
            Probe::Closed,
            "tcp {port}"
        );
    }
    for port in [5353, 2002, 4444] {
        assert_eq!(
            lab.probe_udp(Host::Attacker, port),
            Probe::Closed,
            "udp {port}"
        );
    }
    lab.knock(Host::Client, &["6001/udp", "6002/tcp", "6003/udp"], FAST);
    assert_eq!(
        lab.probe_udp(Host::Client, 5353),
        Probe::Open,
        "udp door after knock"
    );
}

// 4, 5 and 6. Firewall mode drops everything not accepted, silently.
fn firewall_drops_silently(t: Case) {
    let family = t.family;
    let Some(lab) = lab_with(family, &firewall(t, "")) else {
        return;
    };
    lab.listen_tcp(80);
    assert_eq!(
        lab.probe_tcp(Host::Client, 80),
        Probe::Open,
        "an open service"
    );
    for port in [SSH, 1001, 3003, 4444] {
        assert_eq!(
            lab.probe_tcp(Host::Attacker, port),
            Probe::Filtered,
            "tcp {port}"
        );
    }
    assert_eq!(lab.probe_udp(Host::Attacker, 2002), Probe::Filtered);
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);
    assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Filtered);
    // Loopback is never filtered.
    let lo = lab.in_ns(Host::Server, || {
        std::net::TcpStream::connect(("127.0.0.1", SSH)).is_ok()
    });
    assert!(lo, "loopback was filtered");
}

// 6. Allowed networks bypass the doors (guard) or the firewall.
fn allowed_networks_bypass(t: Case) {
    let family = t.family;
    let attacker = Host::Attacker.addr(family).to_string();
    for base in [guard(t, ""), firewall(t, "")] {
        let cfg = base
            .replace(
                "ipv4 = []",
                &format!("ipv4 = [\"{}\"]", Host::Attacker.addr(Family::V4)),
            )
            .replace(
                "ipv6 = []",
                &format!("ipv6 = [\"{}\"]", Host::Attacker.addr(Family::V6)),
            );
        let Some(lab) = lab_with(family, &cfg) else {
            return;
        };
        assert_eq!(
            lab.probe_tcp(Host::Attacker, SSH),
            Probe::Open,
            "{attacker} is allowed"
        );
        assert_eq!(
            lab.probe_tcp(Host::Client, SSH),
            Probe::Closed.max_for(&cfg)
        );
    }
}

trait ExpectClosed {
    fn max_for(self, cfg: &str) -> Probe;
}

impl ExpectClosed for Probe {
    /// What a shut door looks like in the config's mode.
    fn max_for(self, cfg: &str) -> Probe {
        if cfg.contains("mode = \"firewall\"") {
            Probe::Filtered
        } else {
            self
        }
    }
}

// 7. Foreign nftables tables, and a foreign iptables chain and rule, are
// byte-identical after apply, re-apply and remove.
fn foreign_rules_survive(t: Case) {
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    let foreign = r#"table inet admin {
	set friends {
		type ipv4_addr
		elements = { 198.51.100.7 }
	}
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 9999 counter packets 0 bytes 0 accept
	}
}
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
	}
}
"#;
    let path = lab.config("foreign.nft", foreign);
    let out = lab.run(Host::Server, &["nft", "-f", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for tool in ["iptables", "ip6tables"] {
        for rule in [
            vec!["-N", "ADMIN"],
            vec![
                "-A", "ADMIN", "-p", "tcp", "--dport", "9999", "-j", "ACCEPT",
            ],
            vec!["-A", "INPUT", "-j", "ADMIN"],
        ] {
            let mut cmd = vec![tool];
            cmd.extend(rule);
            let out = lab.run(Host::Server, &cmd);
            assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
        }
    }
    let foreign_state = || {
        let mut s = String::new();
        for table in [["inet", "admin"], ["ip", "nat"]] {
            let out = lab.run(Host::Server, &["nft", "list", "table", table[0], table[1]]);
            s += &text(&out.stdout);
        }
        for tool in ["iptables", "ip6tables"] {
            let out = lab.run(Host::Server, &[tool, "-S"]);
            // nfknock's own chains and its one jump are not foreign.
            s += &text(&out.stdout)
                .lines()
                .filter(|l| !l.contains("NFK"))
                .map(|l| format!("{l}\n"))
                .collect::<String>();
        }
        s
    };
    let before = foreign_state();
    assert!(before.contains("-A INPUT -j ADMIN"), "{before}");
    let cfg = lab.config("nfknock.toml", &guard(t, ""));
    lab.apply(&cfg);
    lab.apply(&cfg);
    assert_eq!(foreign_state(), before);
    let out = lab.nfknock(Host::Server, &["remove", "--no-persist"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(foreign_state(), before);
    let all = lab.rules(Backend::Nftables) + &lab.rules(Backend::Iptables);
    assert!(
        !all.contains("nfknock") && !all.contains("NFK"),
        "left behind:\n{all}"
    );
}

// 5 and 8. A re-apply with a new sequence keeps established sessions; the
// old sequence stops working, the new one works.
fn reapply_new_sequence_keeps_session(t: Case) {
    let family = t.family;
    let Some(lab) = lab_with(family, &guard(t, "")) else {
        return;
    };
    lab.knock(Host::Client, &KNOCKS, FAST);
    let mut session = lab.connect(Host::Client, SSH);
    let new = lab.config(
        "new.toml",
        &guard(t, "").replace("\"2002/udp\"", "\"2992/udp\""),
    );
    lab.apply(&new);
    assert!(echoes(&mut session), "re-apply cut the session");
    lab.knock(Host::Attacker, &KNOCKS, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Closed,
        "old sequence"
    );
    lab.knock(Host::Attacker, &["1001/tcp", "2992/udp", "3003/tcp"], FAST);
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Open,
        "new sequence"
    );
}

// 8. Re-applying an unchanged door keeps sources mid-sequence, and gives
// the same ruleset.
fn reapply_keeps_knock_state_and_is_idempotent(t: Case) {
    let family = t.family;
    let Some(lab) = lab_with(family, &guard(t, "")) else {
        return;
    };
    let rules = lab.rules_static(t.backend);
    lab.knock(Host::Client, &KNOCKS[..2], FAST);
    lab.apply(&lab.dir.path().join("nfknock.toml"));
    lab.knock(Host::Client, &KNOCKS[2..], FAST);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "progress was lost"
    );
    assert_eq!(lab.rules_static(t.backend), rules);
}

// 8. A config that fails validation exits 2 and changes nothing.
fn bad_config_changes_nothing(t: Case) {
    let family = t.family;
    let Some(lab) = lab_with(family, &guard(t, "")) else {
        return;
    };
    let before = lab.rules(t.backend);
    for bad in [
        guard(t, "").replace("\"3003/tcp\"", "\"22/tcp\""),
        guard(t, "").replace("door_timeout = \"5s\"", "door_timeout = \"five\""),
        format!("{}\nsurprise = 1\n", guard(t, "")),
    ] {
        let path = lab.config("bad.toml", &bad);
        let out = lab.nfknock(
            Host::Server,
            &["-c", path.to_str().unwrap(), "apply", "--no-persist"],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("bad.toml"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(lab.rules(t.backend), before);
    }
}

// 8. A ruleset the kernel refuses leaves the old one active. The refusal is
// injected by a wrapper ahead on PATH: the nft script with the rules gets
// a last line the kernel rejects; ip6tables-restore fails its real load after the
// IPv4 rules went in (the dry runs pass), so nfknock must put those back.
fn kernel_refusal_changes_nothing(t: Case) {
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    let before = lab.rules(t.backend);
    let bin = lab.dir.path().join("refusing");
    std::fs::create_dir(&bin).unwrap();
    let (tool, wrapper) = match t.backend {
        Backend::Nftables => (
            "nft",
            // Only the script with the rules themselves is refused.
            "case \" $* \" in *\" -f \"*) s=$(cat); case $s in *'chain input'*) s=\"$s\nadd rule inet nfknock no_such_chain accept\" ;; esac; printf '%s\\n' \"$s\" | /usr/sbin/nft \"$@\"; exit ;; esac\nexec /usr/sbin/nft \"$@\"\n",
        ),
        Backend::Iptables => (
            "ip6tables-restore",
            "case \" $* \" in *\" --test \"*) exec /usr/sbin/ip6tables-restore \"$@\" ;; esac\necho 'ip6tables-restore: refused (injected)' >&2\nexit 1\n",
        ),
    };
    let path = bin.join(tool);
    std::fs::write(&path, format!("#!/bin/sh\n{wrapper}")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let changed = lab.config(
        "changed.toml",
        &guard(t, "").replace("\"3003/tcp\"", "\"3333/tcp\""),
    );
    let out = lab
        .command(
            Host::Server,
            &[
                common::NFKNOCK,
                "-c",
                changed.to_str().unwrap(),
                "apply",
                "--no-persist",
            ],
        )
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(lab.rules(t.backend), before, "{}", text(&out.stderr));
}

// 10. status shows a source mid-sequence and one with the door open, with
// per-door counters.
fn status_shows_sources(t: Case) {
    let family = t.family;
    let Some(lab) = lab_with(family, &guard(t, "")) else {
        return;
    };
    lab.knock(Host::Client, &KNOCKS[..2], FAST);
    lab.knock(Host::Attacker, &KNOCKS, FAST);
    assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Open);
    let out = lab.nfknock(Host::Server, &["status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let door = &s["doors"][0];
    assert_eq!(door["name"], "ssh");
    assert_eq!(door["knocks"], 3);
    assert_eq!(
        door["in_progress"][0]["address"],
        Host::Client.addr(family).to_string()
    );
    assert_eq!(door["in_progress"][0]["stage"], 2);
    assert_eq!(
        door["open"][0]["address"],
        Host::Attacker.addr(family).to_string()
    );
    assert!(door["open"][0]["expires_in"].as_f64().unwrap() > 0.0);
    assert_eq!(door["counters"]["knocks"], 1);
    assert_eq!(door["counters"]["entries"], 1);
    let out = lab.nfknock(Host::Server, &["status"]);
    let human = text(&out.stdout);
    assert!(
        human.contains("knocking") && human.contains("sent 2/3"),
        "{human}"
    );
}

// 6. Transient networks pass the doors (guard) or the firewall without
// knocking, until deleted, timed out, or the next apply.
fn transient_networks_bypass(t: Case) {
    let family = t.family;
    let attacker = match family {
        Family::V4 => format!("{}/32", Host::Attacker.addr(family)),
        Family::V6 => format!("{}/128", Host::Attacker.addr(family)),
    };
    for base in [guard(t, ""), firewall(t, "")] {
        let Some(lab) = lab_with(family, &base) else {
            return;
        };
        let shut = Probe::Closed.max_for(&base);
        let nfk = |args: &[&str]| {
            let out = lab.nfknock(Host::Server, args);
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
            text(&out.stdout)
        };
        nfk(&["transient", "add", &attacker, "198.51.100.0/24"]);
        assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Open, "transient");
        assert_eq!(lab.probe_tcp(Host::Client, SSH), shut, "not transient");
        let list: serde_json::Value =
            serde_json::from_str(&nfk(&["transient", "list", "--json"])).unwrap();
        let entry = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["network"] == attacker.as_str())
            .unwrap_or_else(|| panic!("{attacker} not in {list}"));
        assert_eq!(entry["expires_in"], serde_json::Value::Null);
        nfk(&["transient", "del", &attacker]);
        assert_eq!(lab.probe_tcp(Host::Attacker, SSH), shut, "deleted");
        assert!(nfk(&["transient", "list"]).contains("198.51.100.0/24"));

        nfk(&["transient", "add", &attacker, "--timeout", "1s"]);
        assert_eq!(
            lab.probe_tcp(Host::Attacker, SSH),
            Probe::Open,
            "with a timeout"
        );
        let gone = common::wait_until(Duration::from_secs(4), || {
            lab.probe_tcp(Host::Attacker, SSH) == shut
        });
        assert!(gone.is_some(), "the timeout did not expire");

        nfk(&["transient", "add", &attacker]);
        lab.apply(&lab.dir.path().join("nfknock.toml"));
        assert_eq!(
            lab.probe_tcp(Host::Attacker, SSH),
            shut,
            "apply keeps no transient"
        );
        nfk(&["transient", "add", &attacker]);
        nfk(&["transient", "flush"]);
        assert_eq!(lab.probe_tcp(Host::Attacker, SSH), shut, "flushed");
    }
}

backend_tests!(
    transient_networks_bypass,
    knock_opens_door_for_knocker_only,
    door_closes_after_timeout_but_established_stays,
    wrong_order_fails,
    other_packet_resets,
    duplicate_knock_is_tolerated,
    late_knock_fails,
    port_scan_never_opens,
    guard_is_stealthy,
    firewall_drops_silently,
    allowed_networks_bypass,
    foreign_rules_survive,
    reapply_new_sequence_keeps_session,
    reapply_keeps_knock_state_and_is_idempotent,
    bad_config_changes_nothing,
    kernel_refusal_changes_nothing,
    status_shows_sources,
    restore_after_flush_brings_the_doors_back,
);

// 1. An independent client (knockd's `knock`) opens the door too.
fn knockd_client_opens_the_door(t: Case) {
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    let target = lab.server_addr().to_string();
    let out = lab.run(
        Host::Client,
        &["knock", &target, "1001:tcp", "2002:udp", "3003:tcp"],
    );
    assert!(out.status.success(), "knock: {}", text(&out.stderr));
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);
}

#[test]
fn knockd_client_opens_the_door_nftables() {
    knockd_client_opens_the_door(Case::NFT_V4)
}

#[test]
fn knockd_client_opens_the_door_iptables() {
    knockd_client_opens_the_door(Case::IPT_V4)
}

// The iptables backend works with iptables-legacy too (Debian's
// `update-alternatives --set iptables /usr/sbin/iptables-legacy`).
#[test]
fn legacy_iptables_works_too() {
    let t = Case::IPT_V4;
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    lab.listen_tcp(SSH);
    // What update-alternatives would do, for nfknock's eyes only.
    let bin = lab.dir.path().join("legacy");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["iptables", "ip6tables"] {
        for suffix in ["", "-save", "-restore"] {
            let target = format!("/usr/sbin/{tool}-legacy{suffix}");
            std::os::unix::fs::symlink(&target, bin.join(format!("{tool}{suffix}"))).unwrap();
        }
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cfg = lab.config("nfknock.toml", &guard(t, ""));
    let nfknock = |args: &[&str]| {
        let mut cmd = vec![common::NFKNOCK, "-c", cfg.to_str().unwrap()];
        cmd.extend_from_slice(args);
        let out = lab
            .command(Host::Server, &cmd)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    };
    nfknock(&["apply", "--no-persist"]);
    let legacy = lab.run(Host::Server, &["iptables-legacy", "-S", "INPUT"]);
    assert!(
        text(&legacy.stdout).contains(" -j NFKNOCK"),
        "{}",
        text(&legacy.stdout)
    );
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Closed);
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);
    nfknock(&["remove", "--no-persist"]);
    let legacy = lab.run(Host::Server, &["iptables-legacy", "-S"]);
    assert!(
        !text(&legacy.stdout).contains("NFK"),
        "{}",
        text(&legacy.stdout)
    );
}

// 2 and 9. Knock state is in kernel sets, each bounded.
#[test]
fn state_lives_in_bounded_kernel_sets() {
    let t = Case::NFT_V4;
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    lab.knock(Host::Client, &KNOCKS[..1], FAST);
    let out = lab.run(
        Host::Server,
        &["nft", "list", "set", "inet", "nfknock", "stage1_ssh_v4"],
    );
    let set = text(&out.stdout);
    assert!(set.contains("192.0.2.2"), "{set}");
    let out = lab.run(
        Host::Server,
        &["nft", "list", "set", "inet", "nfknock", "knocking_v4"],
    );
    assert!(
        text(&out.stdout).contains("192.0.2.2"),
        "{}",
        text(&out.stdout)
    );
    let rules = lab.ruleset();
    let sets: Vec<&str> = rules.split("\tset ").skip(1).collect();
    let dynamic: Vec<&&str> = sets
        .iter()
        .filter(|s| s.contains("flags dynamic"))
        .collect();
    // Two stages and the open set, per family; and per family the set of
    // sources in the middle of any sequence.
    assert_eq!(dynamic.len(), 8, "{rules}");
    for set in dynamic {
        assert!(set.contains("size 65536"), "an unbounded set: {set}");
    }
}

// 2. With iptables, knock state is in the kernel's `recent` lists.
#[test]
fn state_lives_in_recent_lists() {
    let t = Case::IPT_V4;
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    lab.knock(Host::Client, &KNOCKS[..1], FAST);
    let out = lab.run(
        Host::Server,
        &[
            "sh",
            "-c",
            "grep -H . /proc/net/xt_recent/nfknock_ssh_1_v4_*",
        ],
    );
    assert!(
        text(&out.stdout).contains("src=192.0.2.2 "),
        "{}",
        text(&out.stdout)
    );
}

// /proc/net/xt_recent shows every user the lists' names, and (the module's
// default mode 0644) who knocked how far. As nobody: the names carry a
// fingerprint keyed with the install's names.key (the same across
// re-applies, so knock state survives; another on another install), and
// no list can be read.
#[test]
fn recent_lists_are_root_only_and_their_names_keyed() {
    let t = Case::IPT_V4;
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    lab.knock(Host::Client, &KNOCKS[..1], FAST);
    let as_nobody = |cmd: &str| {
        lab.run(
            Host::Server,
            &[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
                cmd,
            ],
        )
    };
    let names = || {
        let out = as_nobody("ls /proc/net/xt_recent");
        let mut v: Vec<String> = text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("nfknock_"))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    let out = as_nobody("cat /proc/net/xt_recent/nfknock_ssh_1_v4_*");
    assert!(
        !out.status.success() && !text(&out.stdout).contains("src="),
        "nobody read a recent list: {}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("Permission denied"));
    let first = names();
    assert_eq!(first.len(), 8, "{first:?}");
    let cfg = lab.dir.path().join("nfknock.toml");
    lab.apply(&cfg);
    assert_eq!(names(), first, "a re-apply renamed the lists");
    // The source that sent knock 1 is still there, for root only.
    let out = lab.run(
        Host::Server,
        &["sh", "-c", "cat /proc/net/xt_recent/nfknock_ssh_1_v4_*"],
    );
    assert!(text(&out.stdout).contains("src=192.0.2.2 "));
    // Another install of the same config: another key, other names.
    let out = lab.nfknock(Host::Server, &["remove", "--no-persist"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = lab
        .command(
            Host::Server,
            &[
                common::NFKNOCK,
                "-c",
                cfg.to_str().unwrap(),
                "apply",
                "--no-persist",
            ],
        )
        .env("STATE_DIRECTORY", lab.dir.path().join("other-install"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let other = names();
    assert_eq!(other.len(), 8, "{other:?}");
    assert!(
        other.iter().all(|n| !first.contains(n)),
        "{first:?} {other:?}"
    );
    let key = lab.dir.path().join("other-install/names.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

// nftables: an unprivileged user cannot list the ruleset at all (the
// kernel asks for CAP_NET_ADMIN), so no set name or comment reaches them.
#[test]
fn nobody_cannot_list_the_nftables_sets() {
    let t = Case::NFT_V4;
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    lab.knock(Host::Client, &KNOCKS[..1], FAST);
    let out = lab.run(
        Host::Server,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "nft",
            "list",
            "ruleset",
        ],
    );
    assert!(!out.status.success());
    assert!(
        !text(&out.stdout).contains("stage1"),
        "{}",
        text(&out.stdout)
    );
}

// The client takes the sequence from ~/.config/nfknock/hosts.toml, or from
// a server config's --door; both open the door.
#[test]
fn client_reads_hosts_file_and_config() {
    let t = Case::NFT_V4;
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    let target = lab.server_addr().to_string();
    let home = lab.dir.path().join("home");
    std::fs::create_dir_all(home.join(".config/nfknock")).unwrap();
    std::fs::write(
        home.join(".config/nfknock/hosts.toml"),
        format!("[\"{target}\"]\nssh = [\"1001/tcp\", \"u:2002\", \"3003\"]\n"),
    )
    .unwrap();
    let home_env = format!("HOME={}", home.display());
    let out = lab.run(
        Host::Client,
        &[
            "env",
            &home_env,
            "--unset=XDG_CONFIG_HOME",
            common::NFKNOCK,
            "knock",
            &target,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);

    let cfg = lab.dir.path().join("nfknock.toml");
    let out = lab.nfknock(
        Host::Attacker,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "knock",
            &target,
            "--door",
            "ssh",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Open);
}

// apply saves what it loaded unless --no-persist; remove forgets it; both
// say plainly when there is nothing to do.
fn apply_persists_and_remove_cleans_up(t: Case) {
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    let state = lab.dir.path().join("state");
    let out = lab.nfknock(Host::Server, &["status"]);
    assert!(
        text(&out.stdout).contains("no rules loaded"),
        "{}",
        text(&out.stdout)
    );
    let cfg = lab.config("nfknock.toml", &guard(t, ""));
    let out = lab.nfknock(Host::Server, &["-c", cfg.to_str().unwrap(), "apply"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = lab.nfknock(Host::Server, &["-c", cfg.to_str().unwrap(), "show"]);
    assert_eq!(
        std::fs::read_to_string(state.join("ruleset")).unwrap(),
        text(&shown.stdout)
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("applied.json")).unwrap())
            .unwrap();
    assert_eq!(record["backend"], t.backend.name());
    assert_eq!(record["config"], cfg.to_str().unwrap());
    assert_eq!(record["config_sha256"].as_str().unwrap().len(), 64);
    let out = lab.nfknock(Host::Server, &["remove"]);
    assert!(
        text(&out.stdout).contains("rules removed"),
        "{}",
        text(&out.stdout)
    );
    assert!(!state.join("ruleset").exists() && !state.join("applied.json").exists());
    assert!(!lab.rules(t.backend).contains("nfknock"));
    let out = lab.nfknock(Host::Server, &["remove"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("no rules were loaded"));
    let out = lab.nfknock(Host::Server, &["restore"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("nothing to restore"),
        "{}",
        text(&out.stdout)
    );
    assert!(!lab.ruleset().contains("nfknock"));
}

// Persistence: after a reboot or `systemctl restart nftables` (whose
// config starts with `flush ruleset`), restore brings back exactly what was
// applied, once, however often it runs.
fn restore_after_flush_brings_the_doors_back(t: Case) {
    let family = t.family;
    let Some(lab) = Lab::new(family) else { return };
    lab.listen_tcp(SSH);
    let cfg = lab.config("nfknock.toml", &guard(t, ""));
    let out = lab.nfknock(Host::Server, &["-c", cfg.to_str().unwrap(), "apply"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let applied = lab.rules(t.backend);
    // The config changes after apply: restore must not read it.
    lab.config("nfknock.toml", "this is not toml");
    let out = lab.run(Host::Server, &["nft", "flush", "ruleset"]);
    assert!(out.status.success());
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Open,
        "flush left rules"
    );
    for _ in 0..2 {
        let out = lab.nfknock(Host::Server, &["restore"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            lab.rules(t.backend),
            applied,
            "restore must give one copy of the rules"
        );
    }
    assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Closed);
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);
    if t.backend == Backend::Iptables {
        // netfilter-persistent saved nfknock's chains with the rest and put
        // them back at boot before nfknock.service ran: still one copy.
        let saved = lab.dir.path().join("rules");
        for (save, restore, ext) in [
            ("iptables-save", "iptables-restore", "v4"),
            ("ip6tables-save", "ip6tables-restore", "v6"),
        ] {
            let out = lab.run(Host::Server, &[save]);
            std::fs::write(saved.with_extension(ext), &out.stdout).unwrap();
            let file = saved.with_extension(ext);
            let out = lab.run(Host::Server, &[restore, file.to_str().unwrap()]);
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let out = lab.nfknock(Host::Server, &["restore"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            lab.rules(t.backend),
            applied,
            "doubled by netfilter-persistent"
        );
    }
}

// 7, 8. `restore` loads only what nfknock renders: the rules are rendered
// again from the copy of the config saved with them, never loaded from the
// saved text, so a saved file that says `flush ruleset` or declares
// another table (behind a `{` in a comment, which fooled a brace count)
// loads nothing of it. A saved config that is corrupt is refused with exit
// 1, and the kernel keeps what it had.
fn restore_loads_only_what_nfknock_renders(t: Case) {
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    let cfg = lab.config("nfknock.toml", &guard(t, ""));
    let out = lab.nfknock(Host::Server, &["-c", cfg.to_str().unwrap(), "apply"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let admin = "table ip admin {\n\tchain input {\n\t\ttype filter hook input priority 10; policy accept;\n\t\ttcp dport 9 accept\n\t}\n}\n";
    let out = lab
        .command(Host::Server, &["nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(admin.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = lab.rules_sorted(t.backend);
    let with_admin = lab.ruleset();
    let state = lab.dir.path().join("state");
    let evil = match t.backend {
        Backend::Nftables => "table inet nfknock {\n} # {\nflush ruleset\ntable ip evil {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\n# }\n".to_string(),
        Backend::Iptables => "*filter\n-A INPUT -j DROP\nCOMMIT\n".to_string(),
    };
    for dir in [state.clone(), state.join("loaded")] {
        std::fs::write(dir.join("ruleset"), &evil).unwrap();
    }
    let out = lab.nfknock(Host::Server, &["restore"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(lab.ruleset(), with_admin, "restore loaded the saved text");
    assert_eq!(lab.rules_sorted(t.backend), before);
    // A broken copy of the config: refused, nothing changes.
    for dir in [state.clone(), state.join("loaded")] {
        std::fs::write(dir.join("config.toml"), "backend = [").unwrap();
    }
    let out = lab.nfknock(Host::Server, &["restore"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the config saved with the rules"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(lab.ruleset(), with_admin);
}

mod once_per_backend {
    use super::common::{Backend, Case, Family};

    fn cases() -> [Case; 2] {
        [Backend::Nftables, Backend::Iptables].map(|backend| Case {
            backend,
            family: Family::V4,
        })
    }

    #[test]
    fn apply_persists_and_remove_cleans_up() {
        cases()
            .into_iter()
            .for_each(super::apply_persists_and_remove_cleans_up);
    }

    #[test]
    fn restore_loads_only_what_nfknock_renders() {
        cases()
            .into_iter()
            .for_each(super::restore_loads_only_what_nfknock_renders);
    }
}

// Anti-lockout: `apply --confirm SECS` puts the previous rules back unless
// `nfknock confirm` runs in time, even when the admin's session is gone.
fn confirm_or_roll_back(t: Case) {
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    let cfg = lab.dir.path().join("nfknock.toml");
    // A (the baseline) is applied and saved for boot.
    let out = lab.nfknock(Host::Server, &["-c", cfg.to_str().unwrap(), "apply"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a_rules = lab.rules_sorted(t.backend);
    let saved = lab.dir.path().join("state/ruleset");
    let a_saved = std::fs::read_to_string(&saved).unwrap();
    let b = lab.config(
        "b.toml",
        &guard(t, "").replace("\"2002/udp\"", "\"2992/udp\""),
    );
    let c = lab.config(
        "c.toml",
        &guard(t, "").replace("\"2002/udp\"", "\"2882/udp\""),
    );

    // B with a short window, applied from a session that then dies.
    let mut session = std::process::Command::new("setsid")
        .args([
            "--wait",
            "ip",
            "netns",
            "exec",
            &lab.ns(Host::Server),
            "sh",
            "-c",
        ])
        .arg(format!(
            "{} -c {} apply --confirm 2 && exec sleep 60",
            common::NFKNOCK,
            b.display()
        ))
        .env("STATE_DIRECTORY", lab.dir.path().join("state"))
        .spawn()
        .unwrap();
    let applied = wait_until(Duration::from_secs(5), || {
        lab.rules_sorted(t.backend) != a_rules
    });
    assert!(applied.is_some(), "B was never loaded");
    let out = lab.nfknock(Host::Server, &["status"]);
    assert!(
        text(&out.stdout).contains("pending: `nfknock confirm` within"),
        "{}",
        text(&out.stdout)
    );
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", session.id())])
        .status();
    let _ = session.wait();
    // A second apply --confirm renews the deadline, not the baseline.
    let out = lab.nfknock(
        Host::Server,
        &["-c", c.to_str().unwrap(), "apply", "--confirm", "2"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let back = wait_until(Duration::from_secs(8), || {
        lab.rules_sorted(t.backend) == a_rules
    });
    assert!(back.is_some(), "the baseline never came back");
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        a_saved,
        "saved without confirm"
    );
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "A's sequence"
    );

    // Confirmed in time: B stays, and is what boots.
    let out = lab.nfknock(
        Host::Server,
        &["-c", b.to_str().unwrap(), "apply", "--confirm", "2"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let b_rules = lab.rules_static(t.backend);
    let out = lab.nfknock(Host::Server, &["confirm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_secs(3)); // past the deadline, on purpose
    assert_eq!(
        lab.rules_static(t.backend),
        b_rules,
        "a confirmed apply was rolled back"
    );
    assert_ne!(
        std::fs::read_to_string(&saved).unwrap(),
        a_saved,
        "confirm did not save"
    );
    let out = lab.nfknock(Host::Server, &["confirm"]);
    assert_eq!(out.status.code(), Some(1), "nothing left to confirm");
}

mod confirm_or_roll_back {
    use super::common::{Backend, Case, Family};

    #[test]
    fn nftables() {
        super::confirm_or_roll_back(Case {
            backend: Backend::Nftables,
            family: Family::V4,
        })
    }

    #[test]
    fn iptables() {
        super::confirm_or_roll_back(Case {
            backend: Backend::Iptables,
            family: Family::V4,
        })
    }
}

/// A lab with a listener on the door and the config of one rotating door
/// (a fresh secret in `ssh.secret` of the lab's directory, 60 s periods, 4
/// knocks); nothing applied yet.
fn rotating_lab(t: Case) -> Option<(Lab, std::path::PathBuf)> {
    let lab = Lab::new(t.family)?;
    lab.listen_tcp(SSH);
    let secret = lab.dir.path().join("ssh.secret");
    let out = lab.nfknock(Host::Server, &["gen-secret", secret.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cfg = lab.config(
        "rotate.toml",
        &format!(
            r#"backend = "{}"
sequence_timeout = "5s"
door_timeout = "2s"
[allow]
ipv4 = []
ipv6 = []
[[door]]
name = "ssh"
port = "22/tcp"
rotate = {{ secret_file = "{}", period = "60s", length = 4 }}
"#,
            t.backend.name(),
            secret.display()
        ),
    );
    Some((lab, cfg))
}

// Rotating sequences: the sequence comes from a shared secret and the
// period; the kernel takes the previous, the current and the next period's. A
// recorded knock stops working two periods later; sources in the middle of
// a sequence keep their progress across a rotation. The clock is faked
// (NFKNOCK_FAKE_TIME) so the periods pass at once.
fn rotating_sequences_close_the_replay_window(t: Case) {
    let Some((lab, cfg)) = rotating_lab(t) else {
        return;
    };
    let c = cfg.to_str().unwrap();
    let t0: u64 = 1_800_000_000; // a period boundary
    let at = |host: Host, time: u64, args: &[&str]| {
        let mut cmd = vec![common::NFKNOCK, "-v", "-c", c];
        cmd.extend_from_slice(args);
        let out = lab
            .command(host, &cmd)
            .env(nfknock::rotate::FAKE_TIME_ENV, time.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stderr)
    };
    let target = lab.server_addr().to_string();
    let knock_now = |host: Host, time: u64| -> Vec<String> {
        let said = at(
            host,
            time,
            &["knock", &target, "--door", "ssh", "--delay", "20ms"],
        );
        let line = said
            .lines()
            .find(|l| l.starts_with("knocking on "))
            .unwrap_or_else(|| panic!("{said}"));
        let seq = line.rsplit(": ").next().unwrap_or_default().trim();
        seq.split_whitespace().map(str::to_string).collect()
    };
    let shut = || {
        wait_until(Duration::from_secs(5), || {
            lab.probe_tcp(Host::Attacker, SSH) == Probe::Closed
        })
    };

    at(Host::Server, t0, &["apply", "--no-persist"]);
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Closed);
    let recorded = knock_now(Host::Client, t0);
    assert_eq!(recorded.len(), 4, "{recorded:?}");
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "the current sequence"
    );

    // One period on: the recorded sequence is the previous one, still good.
    at(Host::Server, t0 + 60, &["rotate"]);
    let recorded_refs: Vec<&str> = recorded.iter().map(String::as_str).collect();
    lab.knock(Host::Attacker, &recorded_refs, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Open,
        "previous period"
    );
    assert!(shut().is_some());

    // A source half-way through the current sequence keeps its progress.
    let seq_now: Vec<String> = {
        // What the client would knock at t0 + 60, without knocking.
        let out = lab
            .command(
                Host::Server,
                &[common::NFKNOCK, "-c", c, "check", "--show-secrets"],
            )
            .env(nfknock::rotate::FAKE_TIME_ENV, (t0 + 60).to_string())
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.contains("door ssh:"))
            .unwrap_or_default();
        let inside = line.split('(').nth(1).unwrap_or_default();
        inside
            .split(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(seq_now.len(), 4, "{seq_now:?}");
    let half: Vec<&str> = seq_now[..2].iter().map(String::as_str).collect();
    let rest: Vec<&str> = seq_now[2..].iter().map(String::as_str).collect();
    lab.knock(Host::Client, &half, FAST);
    at(Host::Server, t0 + 120, &["rotate"]);
    lab.knock(Host::Client, &rest, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "progress lost in a rotation"
    );

    // Two periods after it was recorded, a replay fails...
    at(Host::Server, t0 + 180, &["rotate"]);
    assert!(shut().is_some());
    lab.knock(Host::Attacker, &recorded_refs, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Closed,
        "a replay opened the door"
    );
    // ...and the current sequence works, here derived from the secret alone
    // (`--secret-file`, no config, no hosts.toml).
    let secret = lab.dir.path().join("ssh.secret");
    let out = lab
        .command(
            Host::Attacker,
            &[
                common::NFKNOCK,
                "knock",
                &target,
                "--door",
                "ssh",
                "--door-port",
                "22/tcp",
                "--period",
                "60s",
                "--secret-file",
                secret.to_str().unwrap(),
            ],
        )
        .env(nfknock::rotate::FAKE_TIME_ENV, (t0 + 180).to_string())
        .env("HOME", lab.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Open,
        "the current sequence"
    );
}

mod rotating_sequences_close_the_replay_window {
    use super::common::{Backend, Case, Family};

    #[test]
    fn nftables() {
        super::rotating_sequences_close_the_replay_window(Case {
            backend: Backend::Nftables,
            family: Family::V4,
        })
    }

    #[test]
    fn iptables() {
        super::rotating_sequences_close_the_replay_window(Case {
            backend: Backend::Iptables,
            family: Family::V4,
        })
    }
}

// 4. Stealth: every TCP probe nmap has (SYN, connect, FIN, NULL, Xmas,
// ACK, Maimon, window) finds the hidden door exactly as a closed port; in
// firewall mode both are filtered whatever the probe.
fn every_probe_finds_a_closed_port(t: Case) {
    const CLOSED: u16 = 5555;
    for cfg in [guard(t, ""), firewall(t, "")] {
        let Some(lab) = lab_with(t.family, &cfg) else {
            return;
        };
        for scan in ["-sS", "-sT", "-sF", "-sN", "-sX", "-sA", "-sM", "-sW"] {
            let states = lab.nmap(Host::Attacker, scan, &[SSH, CLOSED]);
            assert_eq!(
                states[0], states[1],
                "{scan}: the door is {}, a closed port {}",
                states[0], states[1]
            );
            if cfg.contains("mode = \"firewall\"") {
                assert!(states[0].contains("filtered"), "{scan}: {states:?}");
            }
        }
        // The door still opens, for the knocker.
        lab.knock(Host::Client, &KNOCKS, FAST);
        assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);
    }
}

// 4. A `notrack` rule (a raw table exempting packets from conntrack) does
// not let anything past a door: untracked packets are treated as new.
fn untracked_packets_do_not_skip_the_door(t: Case) {
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    lab.nft_file(
        Host::Server,
        "raw.nft",
        "table inet busy {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tnotrack\n\t}\n}\n",
    );
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Closed,
        "an untracked SYN reached the door"
    );
    let states = lab.nmap(Host::Attacker, "-sF", &[SSH, 5555]);
    assert_eq!(states[0], states[1], "FIN scan: {states:?}");
    let _session = knock_and_enter(&lab, SSH, "an untracked connection through the door");
    assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Closed);
}

backend_tests!(
    every_probe_finds_a_closed_port,
    untracked_packets_do_not_skip_the_door,
);

// 4. A door on a port the host forwards (DNAT to a host behind it, as
// Docker's `-p 2222:22` or a router's port forward) is hidden as a local
// one, whatever the probe, and opens after a knock for the knocker only.
fn forwarded_door_is_hidden(t: Case) {
    const FORWARDED: u16 = 2222;
    for base in [guard(t, ""), firewall(t, "")] {
        let cfg = base.replace("port = \"22/tcp\"", "port = \"2222/tcp\"");
        let Some(lab) = Lab::new(t.family) else {
            return;
        };
        lab.forward(FORWARDED, SSH);
        lab.listen_tcp_on(Host::Behind, SSH);
        assert_eq!(
            lab.probe_tcp(Host::Attacker, FORWARDED),
            Probe::Open,
            "the port forward works"
        );
        let path = lab.config("nfknock.toml", &cfg);
        lab.apply(&path);
        let shut = Probe::Closed.max_for(&cfg);
        assert_eq!(lab.probe_tcp(Host::Attacker, FORWARDED), shut, "hidden");
        for scan in ["-sS", "-sF", "-sA"] {
            let states = lab.nmap(Host::Attacker, scan, &[FORWARDED, 5555]);
            assert_eq!(states[0], states[1], "{scan}: {states:?}");
        }
        let _session = knock_and_enter(&lab, FORWARDED, "through the opened door");
        assert_eq!(
            lab.probe_tcp(Host::Attacker, FORWARDED),
            shut,
            "not for others"
        );
        // Transient and [allow] networks pass a forwarded door too (a
        // re-apply keeps the client's open door: only the attacker tells).
        transient_add(&lab, Host::Attacker);
        assert_eq!(
            lab.probe_tcp(Host::Attacker, FORWARDED),
            Probe::Open,
            "transient"
        );
        let allowed = cfg
            .replace(
                "ipv4 = []",
                &format!("ipv4 = [\"{}\"]", Host::Attacker.addr(Family::V4)),
            )
            .replace(
                "ipv6 = []",
                &format!("ipv6 = [\"{}\"]", Host::Attacker.addr(Family::V6)),
            );
        lab.apply(&lab.config("allowed.toml", &allowed));
        assert_eq!(
            lab.probe_tcp(Host::Attacker, FORWARDED),
            Probe::Open,
            "allowed"
        );
    }
}

// 4. In firewall mode the open ports are matched by the port a packet
// arrives on, ahead of the doors: a door's port that the host redirects
// to an open port (here 2222 to 80, a local DNAT) must stay the door's,
// hidden until a knock, while the open port itself stays open.
fn a_door_redirected_to_an_open_port_stays_hidden(t: Case) {
    let cfg = firewall(t, "").replace("port = \"22/tcp\"", "port = \"2222/tcp\"");
    let Some(lab) = lab_with(t.family, &cfg) else {
        return;
    };
    lab.listen_tcp(WEB);
    lab.nft_file(
        Host::Server,
        "redirect.nft",
        "table inet local_nat {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport 2222 redirect to :80\n\t}\n}\n",
    );
    assert_eq!(lab.probe_tcp(Host::Attacker, WEB), Probe::Open, "open port");
    assert_eq!(
        lab.probe_tcp(Host::Attacker, FORWARDED),
        Probe::Filtered,
        "the door's port, redirected to an open one"
    );
    let _session = knock_and_enter(&lab, FORWARDED, "through the opened door");
    // A transient network passes it, as it passes every door.
    transient_add(&lab, Host::Attacker);
    assert_eq!(
        lab.probe_tcp(Host::Attacker, FORWARDED),
        Probe::Open,
        "transient"
    );
}

backend_tests!(
    forwarded_door_is_hidden,
    a_door_redirected_to_an_open_port_stays_hidden,
);

/// A server that routes to `Host::Behind` (reached routed by the client,
/// and through port forwards: 2222 to its 22, 80 to its 80, 5555 to its
/// 5555) and runs `cfg`: the firewall config of door "ssh" on 2222/tcp
/// and open port 80/tcp, with `forward` in [firewall].
fn forwarding_lab(t: Case, forward: &str) -> Option<(Lab, String)> {
    let cfg = firewall(t, "").replace("port = \"22/tcp\"", "port = \"2222/tcp\"")
        + &format!("forward = \"{forward}\"\n");
    let lab = Lab::new(t.family)?;
    lab.forward(FORWARDED, SSH);
    lab.forward_also(WEB, WEB);
    lab.forward_also(OTHER, OTHER);
    lab.route_behind(Host::Client);
    for port in [SSH, WEB, OTHER] {
        lab.listen_tcp_on(Host::Behind, port);
    }
    Some((lab, cfg))
}

const FORWARDED: u16 = 2222;
const WEB: u16 = 80;
const OTHER: u16 = 5555;

// 5 and firewall mode's forward = "drop": a host behind the server is
// out of reach through it (routed or port-forwarded), except an open port
// by the port the client connected to, and a forwarded door after a knock;
// nothing established is cut by the apply.
fn forward_drop_filters_forwarded_traffic(t: Case) {
    let Some((lab, cfg)) = forwarding_lab(t, "drop") else {
        return;
    };
    let mut routed = lab.connect_behind(Host::Client, OTHER);
    let mut forwarded = lab.connect(Host::Client, OTHER);
    assert!(echoes(&mut routed) && echoes(&mut forwarded), "before");
    lab.apply(&lab.config("nfknock.toml", &cfg));
    assert!(
        echoes(&mut routed),
        "the established routed connection was cut"
    );
    assert!(
        echoes(&mut forwarded),
        "the established forwarded one was cut"
    );
    assert_eq!(
        lab.probe_behind(Host::Client, OTHER),
        Probe::Filtered,
        "routed"
    );
    assert_eq!(
        lab.probe_tcp(Host::Client, OTHER),
        Probe::Filtered,
        "DNAT'd"
    );
    assert_eq!(
        lab.probe_tcp(Host::Client, WEB),
        Probe::Open,
        "open, DNAT'd"
    );
    assert_eq!(
        lab.probe_behind(Host::Client, WEB),
        Probe::Open,
        "open, routed"
    );
    assert_eq!(
        lab.probe_tcp(Host::Client, FORWARDED),
        Probe::Filtered,
        "door"
    );
    assert_eq!(
        lab.probe_behind(Host::Client, SSH),
        Probe::Filtered,
        "22 routed"
    );
    let _session = knock_and_enter(&lab, FORWARDED, "through the opened door");
    assert_eq!(
        lab.probe_tcp(Host::Attacker, FORWARDED),
        Probe::Filtered,
        "not for others"
    );
    assert_eq!(
        lab.probe_behind(Host::Client, OTHER),
        Probe::Filtered,
        "only the door"
    );
    let status = lab.nfknock(Host::Server, &["status"]);
    assert!(
        text(&status.stdout).contains("forwarded traffic: dropped"),
        "{}",
        text(&status.stdout)
    );
    // ICMP as `icmp` says (true here; then false).
    let pings = || {
        let behind = Host::Behind.addr(t.family).to_string();
        let mut cmd = vec!["nmap", "-n", "-sn", "-PE", "--max-retries", "1", &behind];
        if t.family == Family::V6 {
            cmd.push("-6");
        }
        let out = lab.run(Host::Client, &cmd);
        assert!(out.status.success(), "nmap: {}", text(&out.stderr));
        text(&out.stdout).contains("Host is up")
    };
    assert!(pings(), "icmp = true: ping passes");
    let no_icmp = cfg.replace("forward = \"drop\"", "forward = \"drop\"\nicmp = false");
    lab.apply(&lab.config("no-icmp.toml", &no_icmp));
    assert!(!pings(), "icmp = false: ping dropped");
    // Back to "accept": the same routed connection passes again.
    let accept = cfg.replace("forward = \"drop\"", "forward = \"accept\"");
    lab.apply(&lab.config("accept.toml", &accept));
    assert_eq!(lab.probe_behind(Host::Client, OTHER), Probe::Open, "accept");
    assert!(echoes(&mut routed), "re-apply cut the routed connection");
}

// With forward = "accept" (the default) firewall mode leaves routed
// traffic to the host's rules; a forwarded door stays hidden.
fn forward_accept_leaves_routed_traffic_alone(t: Case) {
    let Some((lab, cfg)) = forwarding_lab(t, "accept") else {
        return;
    };
    lab.apply(&lab.config("nfknock.toml", &cfg));
    assert_eq!(lab.probe_behind(Host::Client, OTHER), Probe::Open, "routed");
    assert_eq!(lab.probe_tcp(Host::Client, OTHER), Probe::Open, "DNAT'd");
    assert_eq!(
        lab.probe_tcp(Host::Client, FORWARDED),
        Probe::Filtered,
        "door"
    );
    let status = lab.nfknock(Host::Server, &["status"]);
    assert!(
        !text(&status.stdout).contains("forwarded traffic"),
        "{}",
        text(&status.stdout)
    );
}

backend_tests!(
    forward_drop_filters_forwarded_traffic,
    forward_accept_leaves_routed_traffic_alone
);

// 4 and 11. Beside a host firewall whose input policy is drop (ufw,
// firewalld's drop zone), a door is as silent as every closed port,
// whatever the probe (`closed = "auto"`); apply and status say while the
// host's rules would drop an opened door; once the host accepts the
// port, the door opens after a knock, for the knocker only.
fn beside_a_drop_policy_host_firewall(t: Case) {
    const CLOSED: u16 = 5555;
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    lab.listen_tcp(SSH);
    lab.nft_file(
        Host::Server,
        "hostfw.nft",
        "table inet hostfw {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t\tiif \"lo\" accept\n\t\tmeta l4proto { icmp, ipv6-icmp } accept\n\t}\n}\n",
    );
    let cfg = lab.config("nfknock.toml", &guard(t, ""));
    let out = lab.nfknock(
        Host::Server,
        &["-c", cfg.to_str().unwrap(), "apply", "--no-persist"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("a closed door answers drop"),
        "{}",
        text(&out.stdout)
    );
    let warned = "door ssh: table inet hostfw chain input drops 22/tcp (policy drop)";
    assert!(text(&out.stderr).contains(warned), "{}", text(&out.stderr));
    let status = |json: bool| {
        let mut args = vec!["-c", cfg.to_str().unwrap(), "status"];
        if json {
            args.push("--json");
        }
        let out = lab.nfknock(Host::Server, &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        out
    };
    assert!(text(&status(false).stderr).contains(warned));
    let s: serde_json::Value = serde_json::from_slice(&status(true).stdout).unwrap();
    assert_eq!(s["closed"], serde_json::json!(["drop"]));
    assert_eq!(s["blocked"].as_array().map(Vec::len), Some(1), "{s}");

    for scan in ["-sS", "-sF", "-sA"] {
        let states = lab.nmap(Host::Attacker, scan, &[SSH, CLOSED]);
        assert_eq!(states[0], states[1], "{scan}: {states:?}");
    }
    // The admin accepts the door's port, as the warning said.
    let out = lab.run(
        Host::Server,
        &[
            "nft", "insert", "rule", "inet", "hostfw", "input", "tcp", "dport", "22", "accept",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&status(true).stdout).unwrap();
    assert_eq!(s.get("blocked"), None, "{s}");
    for scan in ["-sS", "-sF", "-sA", "-sN"] {
        let states = lab.nmap(Host::Attacker, scan, &[SSH, CLOSED]);
        assert_eq!(states[0], states[1], "{scan}: {states:?}");
        assert!(states[0].contains("filtered"), "{scan}: {states:?}");
    }
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);
    assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Filtered);
}

backend_tests!(beside_a_drop_policy_host_firewall);

// 4. Beside a drop-policy host firewall that accepts the door's port
// statelessly and a `notrack` rule, the door is as silent as a closed
// port and a knocker's untracked connection still works.
fn untracked_beside_a_drop_policy_host_firewall(t: Case) {
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    lab.listen_tcp(SSH);
    lab.nft_file(
        Host::Server,
        "hostfw.nft",
        "table inet hostfw {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tnotrack\n\t}\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tiif \"lo\" accept\n\t\tmeta l4proto { icmp, ipv6-icmp } accept\n\t\ttcp dport 22 accept\n\t}\n}\n",
    );
    let cfg = lab.config("nfknock.toml", &guard(t, ""));
    lab.apply(&cfg);
    for scan in ["-sS", "-sF", "-sA"] {
        let states = lab.nmap(Host::Attacker, scan, &[SSH, 5555]);
        assert_eq!(states[0], states[1], "{scan}: {states:?}");
    }
    let _session = knock_and_enter(&lab, SSH, "an untracked connection through the door");
    assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Filtered);
}

backend_tests!(untracked_beside_a_drop_policy_host_firewall);

// 4. A host firewall of one family only (an `ip` table: iptables without
// ip6tables) makes the doors silent for that family and leaves the other
// answering as its closed ports do.
fn closed_answer_follows_each_family(t: Case) {
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    lab.listen_tcp(SSH);
    lab.listen_udp(60005);
    lab.nft_file(
        Host::Server,
        "hostfw.nft",
        "table ip hostfw {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t\ttcp dport 22 accept\n\t\tudp dport 60000-60010 accept\n\t}\n}\n",
    );
    // A door of both protocols: each answers as its family's closed ports.
    let door = guard(t, "").replace(
        "port = \"22/tcp\"",
        r#"port = ["22/tcp", "60000-60010/udp"]"#,
    );
    let cfg = lab.config("nfknock.toml", &door);
    lab.apply(&cfg);
    let out = lab.nfknock(Host::Server, &["status", "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut closed: Vec<String> = serde_json::from_value(s["closed"].clone()).unwrap();
    closed.sort();
    assert_eq!(closed, ["drop", "reset"], "{s}");
    for (family, shut) in [(Family::V4, Probe::Filtered), (Family::V6, Probe::Closed)] {
        assert_eq!(
            lab.probe_tcp_family(Host::Attacker, SSH, family),
            shut,
            "{family:?}"
        );
    }
    let udp = match t.family {
        Family::V4 => Probe::Filtered,
        Family::V6 => Probe::Closed,
    };
    assert_eq!(lab.probe_udp(Host::Attacker, 60005), udp, "udp");
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open);
    assert_eq!(lab.probe_udp(Host::Client, 60005), Probe::Open);
}

mod closed_answer_follows_each_family {
    use super::common::Case;

    #[test]
    fn nftables() {
        super::closed_answer_follows_each_family(Case::NFT_V4)
    }

    #[test]
    fn iptables() {
        super::closed_answer_follows_each_family(Case::IPT_V4)
    }
}

// Rotating sequences accept the previous, the current and the next
// period's sequence: a client whose clock is a little ahead gets in as
// well as one a little behind, and so does a knock just across a boundary
// before the rotate timer ran; two periods off in either direction does
// not. The server's and the clients' clocks are faked apart with
// NFKNOCK_FAKE_TIME.
fn rotating_sequences_accept_clock_skew_both_ways(t: Case) {
    let Some((lab, cfg)) = rotating_lab(t) else {
        return;
    };
    let c = cfg.to_str().unwrap();
    let t0: u64 = 1_800_000_000; // a period boundary: period n starts here
    let at = |host: Host, time: u64, args: &[&str]| -> String {
        let mut cmd = vec![common::NFKNOCK, "-v", "-c", c];
        cmd.extend_from_slice(args);
        let out = lab
            .command(host, &cmd)
            .env(nfknock::rotate::FAKE_TIME_ENV, time.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    };
    // The sequence a client whose clock says `time` knocks.
    let sequence_at = |time: u64| -> Vec<String> {
        let said = at(Host::Client, time, &["check", "--show-secrets"]);
        let line = said.lines().find(|l| l.contains("door ssh:")).unwrap();
        let inside = line.split('(').nth(1).unwrap().split(')').next().unwrap();
        inside.split_whitespace().map(str::to_string).collect()
    };
    let knock_at = |host: Host, time: u64| {
        let seq = sequence_at(time);
        assert_eq!(seq.len(), 4, "{seq:?}");
        let refs: Vec<&str> = seq.iter().map(String::as_str).collect();
        lab.knock(host, &refs, FAST);
    };
    let shut = |host: Host| {
        let closed = wait_until(Duration::from_secs(6), || {
            lab.probe_tcp(host, SSH) == Probe::Closed
        });
        assert!(closed.is_some(), "the door never closed again");
    };

    // The server at :30 of period n.
    at(Host::Server, t0 + 30, &["apply", "--no-persist"]);
    assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Closed);

    // A client ahead, at :61 (period n + 1): in.
    knock_at(Host::Client, t0 + 61);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "a client 31 s ahead, in the next period, was refused"
    );
    shut(Host::Client);

    // A client behind, at -29 (period n - 1): in.
    knock_at(Host::Client, t0 - 29);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "a client 59 s behind, in the previous period, was refused"
    );
    shut(Host::Client);

    // Two periods ahead or behind: shut, for the attacker who never got in.
    for (time, what) in [(t0 + 150, "two periods ahead"), (t0 - 90, "two behind")] {
        knock_at(Host::Attacker, time);
        assert_eq!(
            lab.probe_tcp(Host::Attacker, SSH),
            Probe::Closed,
            "a sequence {what} opened the door"
        );
    }

    // The boundary: the timer has not run yet at the server's :59, a
    // client already at :00 of the next period knocks... (`rotate` finds
    // nothing to do within the period)
    let said = at(Host::Server, t0 + 59, &["rotate"]);
    assert!(said.contains("the loaded sequences are current"), "{said}");
    knock_at(Host::Client, t0 + 60);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "a knock just after the boundary, before the timer ran"
    );
    shut(Host::Client);
    // ...and once the timer ran, a client still at :59 gets in too.
    let said = at(Host::Server, t0 + 60, &["rotate"]);
    assert!(!said.contains("the loaded sequences are current"), "{said}");
    knock_at(Host::Client, t0 + 59);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "a knock just before the boundary, after the timer ran"
    );
    shut(Host::Client);

    // `status` sees a source half-way through the next period's sequence
    // (now period n + 2), and the source keeps its progress when the
    // timer makes that period the current one.
    let next = sequence_at(t0 + 120);
    let half: Vec<&str> = next[..2].iter().map(String::as_str).collect();
    let rest: Vec<&str> = next[2..].iter().map(String::as_str).collect();
    lab.knock(Host::Client, &half, FAST);
    let out = lab.nfknock(Host::Server, &["-c", c, "status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = text(&out.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&status).unwrap_or_else(|e| panic!("{e}: {status}"));
    let client = Host::Client.addr(t.family).to_string();
    let in_progress = &json["doors"][0]["in_progress"];
    assert!(
        in_progress
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["address"] == client.as_str() && s["stage"] == 2),
        "{status}"
    );
    at(Host::Server, t0 + 120, &["rotate"]);
    lab.knock(Host::Client, &rest, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "progress on the next period's sequence lost in a rotation"
    );
}

backend_tests!(rotating_sequences_accept_clock_skew_both_ways);

// 1 and 4. A door of several ports (issue 17: two TCP ports and a UDP
// range, ssh plus mosh): before the knock every listed port is hidden as
// a closed port (guard) or filtered (firewall), whatever the probe; one
// knock opens them all, for the knocker only; the ports just outside the
// range, and the range's numbers in the other protocol, are not the
// door's.
fn a_door_of_several_ports_opens_them_all(t: Case) {
    const TCP: [u16; 2] = [2222, 8022];
    const UDP: [u16; 3] = [60000, 60005, 60010];
    const OUTSIDE: u16 = 60011;
    const CLOSED: u16 = 5555;
    let door = r#"[[door]]
name = "multi"
port = ["2222/tcp", "t:8022", "60000-60010/udp"]
sequence = ["7001/udp", "7003/tcp", "7005/udp"]
"#;
    for cfg in [guard(t, door), firewall(t, door)] {
        let firewall_mode = cfg.contains("mode = \"firewall\"");
        let hidden = if firewall_mode {
            Probe::Filtered
        } else {
            Probe::Closed
        };
        let Some(lab) = lab_with(t.family, &cfg) else {
            return;
        };
        for port in TCP.into_iter().chain([60005]) {
            lab.listen_tcp(port);
        }
        for port in UDP.into_iter().chain([OUTSIDE]) {
            lab.listen_udp(port);
        }
        let untouched = |from: Host, what: &str| {
            // Not the door's: as any port (firewall mode: not in `open`).
            let want = if firewall_mode {
                Probe::Filtered
            } else {
                Probe::Open
            };
            assert_eq!(lab.probe_udp(from, OUTSIDE), want, "udp {OUTSIDE} {what}");
            assert_eq!(lab.probe_tcp(from, 60005), want, "tcp 60005 {what}");
        };
        for from in [Host::Client, Host::Attacker] {
            for port in TCP {
                assert_eq!(lab.probe_tcp(from, port), hidden, "tcp {port} before");
            }
            for port in UDP {
                assert_eq!(lab.probe_udp(from, port), hidden, "udp {port} before");
            }
            untouched(from, "before");
        }
        for scan in ["-sS", "-sA", "-sF"] {
            let states = lab.nmap(Host::Attacker, scan, &[TCP[0], TCP[1], CLOSED]);
            assert!(
                states[0] == states[2] && states[1] == states[2],
                "{scan}: the door's ports are {states:?}, the last a closed port"
            );
        }
        lab.knock(Host::Client, &["7001/udp", "7003/tcp", "7005/udp"], FAST);
        // status names every port of the door, and the knocker it is open for
        // (at once: the door closes after 5 s, and filtered probes are slow).
        let config = lab.config("nfknock.toml", &cfg);
        let c = config.to_str().unwrap();
        let out = lab.nfknock(Host::Server, &["-c", c, "status", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let multi = json["doors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "multi")
            .unwrap_or_else(|| panic!("no door multi: {json}"));
        assert_eq!(
            multi["ports"],
            serde_json::json!(["2222/tcp", "8022/tcp", "60000-60010/udp"])
        );
        assert_eq!(
            multi["open"][0]["address"],
            Host::Client.addr(t.family).to_string(),
            "{json}"
        );
        let human = text(&lab.nfknock(Host::Server, &["-c", c, "status"]).stdout);
        assert!(
            human.contains("door multi on 2222/tcp, 8022/tcp, 60000-60010/udp (3 knocks)"),
            "{human}"
        );
        // The knocker first: filtered probes of the attacker are slow.
        for port in TCP {
            assert_eq!(lab.probe_tcp(Host::Client, port), Probe::Open, "tcp {port}");
        }
        for port in UDP {
            assert_eq!(lab.probe_udp(Host::Client, port), Probe::Open, "udp {port}");
        }
        for port in TCP {
            assert_eq!(lab.probe_tcp(Host::Attacker, port), hidden, "tcp {port}");
        }
        for port in UDP {
            assert_eq!(lab.probe_udp(Host::Attacker, port), hidden, "udp {port}");
        }
        untouched(Host::Client, "after the knock");
        untouched(Host::Attacker, "after the knock");
        // The door on 22 is another door: still shut to this knocker.
        assert_eq!(lab.probe_tcp(Host::Client, SSH), hidden, "door ssh");
    }
}

backend_tests!(a_door_of_several_ports_opens_them_all);

// 4. Every port of a door's range is hidden as a single door port is: a
// forwarded one (DNAT) by its original destination, and an untracked one
// (`notrack`) whatever the probe; the knock opens them for the knocker.
fn a_door_range_hides_forwarded_and_untracked_ports(t: Case) {
    const FORWARDED: u16 = 2222;
    const LOCAL: u16 = 2250;
    let ports = r#"port = ["8022/tcp", "2200-2300/tcp"]"#;
    for base in [guard(t, ""), firewall(t, "")] {
        let cfg = base.replace("port = \"22/tcp\"", ports);
        let Some(lab) = Lab::new(t.family) else {
            return;
        };
        lab.forward(FORWARDED, SSH);
        lab.listen_tcp_on(Host::Behind, SSH);
        lab.apply(&lab.config("nfknock.toml", &cfg));
        let shut = Probe::Closed.max_for(&cfg);
        assert_eq!(lab.probe_tcp(Host::Attacker, FORWARDED), shut, "forwarded");
        for scan in ["-sS", "-sA"] {
            let states = lab.nmap(Host::Attacker, scan, &[FORWARDED, 5555]);
            assert_eq!(states[0], states[1], "{scan}: {states:?}");
        }
        let _session = knock_and_enter(&lab, FORWARDED, "through the opened forwarded port");
        assert_eq!(lab.probe_tcp(Host::Attacker, FORWARDED), shut, "others");
    }
    let cfg = guard(t, "").replace("port = \"22/tcp\"", ports);
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    lab.apply(&lab.config("nfknock.toml", &cfg));
    lab.listen_tcp(LOCAL);
    lab.nft_file(
        Host::Server,
        "raw.nft",
        "table inet busy {\n\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tnotrack\n\t}\n}\n",
    );
    assert_eq!(
        lab.probe_tcp(Host::Attacker, LOCAL),
        Probe::Closed,
        "an untracked SYN reached a port of the range"
    );
    let states = lab.nmap(Host::Attacker, "-sF", &[LOCAL, 5555]);
    assert_eq!(states[0], states[1], "FIN scan: {states:?}");
    let _session = knock_and_enter(&lab, LOCAL, "an untracked connection to the range");
    assert_eq!(lab.probe_tcp(Host::Attacker, LOCAL), Probe::Closed);
}

backend_tests!(a_door_range_hides_forwarded_and_untracked_ports);

// Who may knock: a correct knock from a source outside the door's `from`
// opens nothing; one from inside opens it. A family `from` names no
// network of cannot knock at all.
fn only_sources_in_from_may_knock(t: Case) {
    let family = t.family;
    let other_net = match family {
        Family::V4 => "2001:db8::/64",
        Family::V6 => "192.0.2.0/24",
    };
    let from = format!(
        "from = [\"{}\", \"{other_net}\"]",
        Host::Client.addr(family)
    );
    let Some(lab) = lab_with(family, &guard(t, &from)) else {
        return;
    };
    lab.knock(Host::Attacker, &KNOCKS, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Closed,
        "a knock from outside `from` opened the door"
    );
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Open,
        "a knock from inside `from` did not open the door"
    );
    assert_eq!(lab.probe_tcp(Host::Attacker, SSH), Probe::Closed);
    let cfg = lab.dir.path().join("nfknock.toml");
    let out = lab.nfknock(Host::Server, &["-c", cfg.to_str().unwrap(), "status"]);
    let human = text(&out.stdout);
    let shown = human
        .lines()
        .find(|l| l.starts_with("door ssh may knock: only from "))
        .unwrap_or_else(|| panic!("status does not say who may knock:\n{human}"));
    assert!(
        shown.contains(&format!("{}/", Host::Client.addr(family))),
        "{shown}"
    );
    // Networks of the other family only: nobody of this one may knock.
    let path = lab.config(
        "only-other.toml",
        &guard(t, &format!("from = [\"{other_net}\"]")),
    );
    lab.apply(&path);
    lab.knock(Host::Attacker, &KNOCKS, FAST);
    assert_eq!(
        lab.probe_tcp(Host::Attacker, SSH),
        Probe::Closed,
        "a door whose `from` has no {family:?} network opened over {family:?}"
    );
}

// Interfaces: a door with `interfaces` takes knocks and hides its port on
// those only. The client reaches the server on eth0 (listed) and lan0 (not
// listed) from the same address.
fn doors_only_on_their_interfaces(t: Case) {
    let family = t.family;
    // Guard mode (top-level `interfaces`): elsewhere the port is untouched.
    let guard_cfg = format!("interfaces = [\"eth0\"]\n{}", guard(t, ""));
    // Firewall mode (the door's own): elsewhere it is dropped like any
    // port not in `open`.
    let firewall_cfg = firewall(t, "interfaces = [\"eth0\"]");
    for (cfg, elsewhere) in [(guard_cfg, Probe::Open), (firewall_cfg, Probe::Filtered)] {
        let Some(lab) = lab_with(family, &cfg) else {
            return;
        };
        let side = std::net::SocketAddr::new(lab.second_link(), SSH);
        let shut = Probe::Closed.max_for(&cfg);
        assert_eq!(
            lab.probe_tcp_to(Host::Client, side),
            elsewhere,
            "the door's port on an unlisted interface, before a knock"
        );
        assert_eq!(lab.probe_tcp(Host::Client, SSH), shut, "hidden on eth0");
        lab.knock_to(Host::Client, side.ip(), &KNOCKS, FAST);
        assert_eq!(
            lab.probe_tcp(Host::Client, SSH),
            shut,
            "a knock on an unlisted interface opened the door"
        );
        lab.knock(Host::Client, &KNOCKS, FAST);
        assert_eq!(
            lab.probe_tcp(Host::Client, SSH),
            Probe::Open,
            "a knock on the listed interface did not open the door"
        );
        assert_eq!(
            lab.probe_tcp_to(Host::Client, side),
            elsewhere,
            "the door's port on an unlisted interface, after a knock"
        );
    }
}

backend_tests!(
    only_sources_in_from_may_knock,
    doors_only_on_their_interfaces
);

// Interfaces on the forward hook: a forwarded (DNAT) door is hidden only
// from clients whose packets came in on one of its interfaces.
fn forwarded_door_only_on_its_interfaces(t: Case) {
    const FORWARDED: u16 = 2222;
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    lab.forward(FORWARDED, SSH);
    lab.listen_tcp_on(Host::Behind, SSH);
    let cfg = |on: &str| {
        guard(t, &format!("interfaces = [\"{on}\"]"))
            .replace("port = \"22/tcp\"", "port = \"2222/tcp\"")
    };
    // The client's side is eth0; a door on lan0 only leaves it alone.
    lab.apply(&lab.config("lan0.toml", &cfg("lan0")));
    assert_eq!(
        lab.probe_tcp(Host::Attacker, FORWARDED),
        Probe::Open,
        "a forwarded door not on the client's interface hid the port"
    );
    lab.apply(&lab.config("eth0.toml", &cfg("eth0")));
    assert_eq!(
        lab.probe_tcp(Host::Attacker, FORWARDED),
        Probe::Closed,
        "a forwarded door on the client's interface is hidden"
    );
    let _session = knock_and_enter(&lab, FORWARDED, "through the opened door");
}

backend_tests!(forwarded_door_only_on_its_interfaces);

// Single-use doors: the first NEW connection through the open door closes
// it for that source; that connection stays up, a second one is refused,
// and a new knock opens the door again. With an open prefix, the first
// connection closes the door for the whole network it was opened for.
fn single_use_door_lets_one_connection_in(t: Case) {
    let near = match t.family {
        Family::V4 => "192.0.2.77/24",
        Family::V6 => "2001:db8::77/64",
    };
    let widths = "single_use = true\nopen_prefix_v4 = 24\nopen_prefix_v6 = 64";
    for extra in ["single_use = true", widths] {
        let Some(lab) = lab_with(t.family, &guard(t, extra)) else {
            return;
        };
        lab.add_address(Host::Client, near);
        let near = near.split('/').next().unwrap().parse().unwrap();
        lab.knock(Host::Client, &KNOCKS, FAST);
        let mut first = lab.connect(Host::Client, SSH);
        assert!(echoes(&mut first), "the first connection, {extra:?}");
        assert_eq!(
            lab.probe_tcp(Host::Client, SSH),
            Probe::Closed,
            "a second connection after the first, {extra:?}"
        );
        assert_eq!(
            lab.probe_tcp_from(Host::Client, near, SSH),
            Probe::Closed,
            "{near} after the first connection, {extra:?}"
        );
        assert!(
            echoes(&mut first),
            "the first connection was cut by the second attempt, {extra:?}"
        );
        lab.knock(Host::Client, &KNOCKS, FAST);
        assert_eq!(
            lab.probe_tcp(Host::Client, SSH),
            Probe::Open,
            "a new knock, {extra:?}"
        );
        assert_eq!(
            lab.probe_tcp(Host::Client, SSH),
            Probe::Closed,
            "and once, {extra:?}"
        );
    }
}

// Open for a prefix: with open_prefix_v4 = 24 / open_prefix_v6 = 64 a knock
// opens the door for every address of the knocker's network, and for none
// outside it; with the default /32 and /128 only for the knocker.
fn door_opens_for_the_knockers_prefix(t: Case) {
    let (near, far) = match t.family {
        Family::V4 => ("192.0.2.77/24", "203.0.113.2/24"),
        Family::V6 => ("2001:db8::77/64", "2001:db8:5::2/64"),
    };
    let widths = "open_prefix_v4 = 24\nopen_prefix_v6 = 64";
    for (extra, near_opens) in [(widths, true), ("", false)] {
        let Some(lab) = lab_with(t.family, &guard(t, extra)) else {
            return;
        };
        lab.add_address(Host::Client, near);
        lab.add_address(Host::Client, far);
        let addr = |net: &str| net.split('/').next().unwrap().parse().unwrap();
        let (near, far) = (addr(near), addr(far));
        // From the knocker's own address first: a neighbour solicitation
        // from it in the middle of the knocks would start them over.
        assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Closed);
        lab.knock(Host::Client, &KNOCKS, FAST);
        let want = if near_opens {
            Probe::Open
        } else {
            Probe::Closed
        };
        assert_eq!(
            lab.probe_tcp_from(Host::Client, near, SSH),
            want,
            "{near} after a knock from the knocker's network, {extra:?}"
        );
        assert_eq!(
            lab.probe_tcp_from(Host::Client, far, SSH),
            Probe::Closed,
            "{far} is outside the knocker's network, {extra:?}"
        );
        assert_eq!(lab.probe_tcp(Host::Client, SSH), Probe::Open, "the knocker");
        // status shows the door's width and the network it is open for.
        let config = lab.dir.path().join("nfknock.toml");
        let out = lab.nfknock(Host::Server, &["-c", config.to_str().unwrap(), "status"]);
        let human = text(&out.stdout);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let (width, open) = match t.family {
            Family::V4 => ("/24 (IPv4)", "open      192.0.2.0/24 "),
            Family::V6 => ("/64 (IPv6)", "open      2001:db8::/64 "),
        };
        let shown = human.contains(width) && human.contains(open);
        assert_eq!(shown, near_opens, "{extra:?}:\n{human}");
    }
}

backend_tests!(
    single_use_door_lets_one_connection_in,
    door_opens_for_the_knockers_prefix
);

// A re-apply that changes a door's open prefix makes a new open set (or
// `recent` list, whose mask the kernel fixes when it creates the list):
// the next knock opens for the new width, and nothing of the old width is
// kept.
fn a_changed_open_prefix_takes_effect_on_reapply(t: Case) {
    let near = match t.family {
        Family::V4 => "192.0.2.77/24",
        Family::V6 => "2001:db8::77/64",
    };
    let Some(lab) = lab_with(t.family, &guard(t, "")) else {
        return;
    };
    lab.add_address(Host::Client, near);
    let near = near.split('/').next().unwrap().parse().unwrap();
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(lab.probe_tcp_from(Host::Client, near, SSH), Probe::Closed);
    let wide = guard(t, "open_prefix_v4 = 24\nopen_prefix_v6 = 64");
    lab.apply(&lab.config("wide.toml", &wide));
    assert_eq!(
        lab.probe_tcp(Host::Client, SSH),
        Probe::Closed,
        "a /32 or /128 opening is not kept as a network"
    );
    lab.knock(Host::Client, &KNOCKS, FAST);
    assert_eq!(
        lab.probe_tcp_from(Host::Client, near, SSH),
        Probe::Open,
        "{near} after a knock with the new prefix"
    );
}

backend_tests!(a_changed_open_prefix_takes_effect_on_reapply);

// A single-use door lets in the rest of the connection it let in, even
// before the answer makes it established: a second UDP datagram of the
// same flow (or a TCP SYN sent again). Another flow from the same source
// needs a new knock.
fn single_use_door_keeps_the_flow_it_let_in(t: Case) {
    use std::net::{SocketAddr, UdpSocket};
    const PORT: u16 = 5353;
    let knocks = ["4001/tcp", "4002/udp", "4003/tcp"];
    let extra = format!(
        "[[door]]\nname = \"udp\"\nport = \"{PORT}/udp\"\nsequence = {knocks:?}\nsingle_use = true\n"
    );
    let Some(lab) = lab_with(t.family, &guard(t, &extra)) else {
        return;
    };
    // A server that never answers: every datagram is NEW to conntrack.
    let server = lab.in_ns(Host::Server, || UdpSocket::bind(("::", PORT)).unwrap());
    server
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let received = || {
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while let Ok(n) = server.recv(&mut buf) {
            got.push(text(&buf[..n]));
        }
        got
    };
    let to = SocketAddr::new(lab.server_addr(), PORT);
    let flow = || {
        lab.in_ns(Host::Client, || {
            let s = UdpSocket::bind(match to {
                SocketAddr::V4(_) => "0.0.0.0:0",
                SocketAddr::V6(_) => "[::]:0",
            })
            .unwrap();
            s.connect(to).unwrap();
            s
        })
    };
    lab.knock(Host::Client, &knocks, FAST);
    let first = flow();
    first.send(b"one").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let _ = first.send(b"two");
    assert_eq!(received(), ["one", "two"], "the flow the door let in");
    let other = flow();
    let _ = other.send(b"three");
    assert!(received().is_empty(), "another flow without a knock");
}

backend_tests!(single_use_door_keeps_the_flow_it_let_in);
