//! The systemd units in systemd/ pass `systemd-analyze verify` and keep the
//! ordering and bindings that make the rules survive boots and nftables
//! restarts.

mod common;

use std::path::Path;
use std::process::Command;

fn unit(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("systemd")
            .join(name),
    )
    .unwrap()
}

/// The unit, pointed at the binary just built (verify checks it exists).
fn built(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(
        &path,
        unit(name).replace("/usr/bin/nfknock", common::NFKNOCK),
    )
    .unwrap();
    (dir, path)
}

fn verify(name: &str) -> (bool, String) {
    let (_dir, path) = built(name);
    // The man page is checked by the package tests, where it is installed.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (package systemd)");
    (
        out.status.success(),
        common::text(&out.stderr) + &common::text(&out.stdout),
    )
}

#[test]
fn restore_unit_verifies() {
    let (ok, output) = verify("nfknock.service");
    assert!(ok && output.trim().is_empty(), "{output}");
}

#[test]
fn restore_unit_runs_before_the_network_and_follows_the_firewall_services() {
    let u = unit("nfknock.service");
    for line in [
        "Before=network-pre.target shutdown.target",
        "Wants=network-pre.target",
        "After=local-fs.target nftables.service netfilter-persistent.service",
        "PartOf=nftables.service netfilter-persistent.service",
        "ReloadPropagatedFrom=nftables.service netfilter-persistent.service",
        "ExecStart=/usr/bin/nfknock restore",
        "ExecReload=/usr/bin/nfknock restore",
        "RemainAfterExit=yes",
        "StateDirectory=nfknock",
        "Documentation=man:nfknock(8)",
        // PartOf= carries stop and restart, not start: starting a firewall
        // service after a stop must start this one too.
        "WantedBy=sysinit.target nftables.service netfilter-persistent.service",
    ] {
        assert!(u.lines().any(|l| l == line), "missing `{line}`");
    }
}

/// The watcher handles untrusted input (log lines, network answers): it
/// must stay hardened. systemd rates exposure from 0 (best) to 10.
#[test]
fn watcher_unit_security_score_is_at_most_1_5() {
    let (_dir, path) = built("nfknock-watch.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&path)
        .output()
        .unwrap();
    let text = common::text(&out.stdout) + &common::text(&out.stderr);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for nfknock-watch.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    assert!(score <= 1.5, "exposure {score} > 1.5:\n{text}");
}

/// The watcher parses untrusted input: its credential is the watcher's
/// view of the config (no knock, no secret), which root prints afresh on
/// a connection to nfknock-watch-view.socket; never the config itself.
#[test]
fn watcher_unit_runs_unprivileged_with_only_its_view_as_a_credential() {
    let u = unit("nfknock-watch.service");
    for line in [
        "Type=notify",
        "Restart=on-failure",
        "DynamicUser=yes",
        "SupplementaryGroups=systemd-journal",
        "Requires=nfknock-watch-view.socket",
        "After=network-online.target nfknock.service nfknock-watch-view.socket",
        "LoadCredential=watch.toml:/run/nfknock/watch-view.sock",
        "ExecStart=/usr/bin/nfknock --config ${CREDENTIALS_DIRECTORY}/watch.toml watch",
        "Documentation=man:nfknock(8)",
    ] {
        assert!(u.lines().any(|l| l == line), "missing `{line}`");
    }
    // Nothing of /etc/nfknock (the config, secret files) reaches it.
    for l in u.lines().filter(|l| !l.starts_with('#')) {
        assert!(!l.contains("/etc/nfknock"), "`{l}`");
        assert!(
            !l.starts_with("LoadCredential") || l.ends_with(":/run/nfknock/watch-view.sock"),
            "`{l}`"
        );
    }
    let socket = unit("nfknock-watch-view.socket");
    for line in [
        "ListenStream=/run/nfknock/watch-view.sock",
        "Accept=yes",
        "SocketUser=root",
        "SocketMode=0600",
        "DirectoryMode=0700",
    ] {
        assert!(
            socket.lines().any(|l| l == line),
            "socket: missing `{line}`"
        );
    }
    let service = unit("nfknock-watch-view@.service");
    for line in [
        "ExecStart=/usr/bin/nfknock watch-view",
        "StandardInput=socket",
        "StandardOutput=socket",
        "CapabilityBoundingSet=",
        "PrivateNetwork=yes",
        "ProtectSystem=strict",
    ] {
        assert!(
            service.lines().any(|l| l == line),
            "view service: missing `{line}`"
        );
    }
}

/// The three units of the watcher together (the watcher requires the
/// socket, the socket spawns the template).
#[test]
fn watcher_view_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "nfknock-watch.service",
        "nfknock-watch-view.socket",
        "nfknock-watch-view@.service",
    ];
    let paths: Vec<_> = names
        .iter()
        .map(|name| {
            let path = dir.path().join(name);
            std::fs::write(
                &path,
                unit(name).replace("/usr/bin/nfknock", common::NFKNOCK),
            )
            .unwrap();
            path
        })
        .collect();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .output()
        .expect("systemd-analyze (package systemd)");
    let output = common::text(&out.stderr) + &common::text(&out.stdout);
    assert!(out.status.success() && output.trim().is_empty(), "{output}");
}

/// The view service runs as root (to read the 0600 config) and parses
/// only root's own config, but it is as tight as the watcher.
#[test]
fn watcher_view_service_security_score_is_at_most_1_5() {
    let (_dir, path) = built("nfknock-watch-view@.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&path)
        .output()
        .unwrap();
    let text = common::text(&out.stdout) + &common::text(&out.stderr);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .and_then(|rest| rest.split(": ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    assert!(score <= 1.5, "exposure {score} > 1.5:\n{text}");
}

/// Not enabled by default; hardened like the rotate unit, writing only the
/// textfile directory.
#[test]
fn metrics_units_verify_and_write_only_the_textfile_directory() {
    for name in ["nfknock-metrics.service", "nfknock-metrics.timer"] {
        let (ok, output) = verify(name);
        assert!(ok && output.trim().is_empty(), "{name}: {output}");
    }
    let u = unit("nfknock-metrics.service");
    for line in [
        "Type=oneshot",
        "ExecStart=/usr/bin/nfknock metrics --textfile /var/lib/prometheus/node-exporter",
        "ReadWritePaths=/var/lib/prometheus/node-exporter -/run/xtables.lock",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW",
        "SystemCallFilter=@system-service",
        "Documentation=man:nfknock(8)",
    ] {
        assert!(u.lines().any(|l| l == line), "missing `{line}`");
    }
    // As hardened as the rotate unit: every setting it has, this has too.
    let rotate = unit("nfknock-rotate.service");
    for line in rotate.lines().filter(|l| {
        !l.starts_with('#')
            && l.contains('=')
            && ![
                "Description=",
                "After=",
                "ExecStart=",
                "StateDirectory",
                "ReadWritePaths=",
            ]
            .iter()
            .any(|k| l.starts_with(k))
            && !l.starts_with("ConditionPathExists=")
    }) {
        assert!(
            u.lines().any(|l| l == line),
            "missing `{line}` (rotate has it)"
        );
    }
    let timer = unit("nfknock-metrics.timer");
    assert!(timer.lines().any(|l| l == "OnCalendar=*-*-* *:*:30"));
}

#[test]
fn rotate_units_verify() {
    for name in ["nfknock-rotate.service", "nfknock-rotate.timer"] {
        let (ok, output) = verify(name);
        assert!(ok && output.trim().is_empty(), "{name}: {output}");
    }
    let timer = unit("nfknock-rotate.timer");
    assert!(timer.lines().any(|l| l == "OnCalendar=*-*-* *:*:00"));
    assert!(timer.lines().any(|l| l == "AccuracySec=1s"));
}
