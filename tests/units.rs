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
fn verify(name: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(
        &path,
        unit(name).replace("/usr/bin/nfknock", common::NFKNOCK),
    )
    .unwrap();
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
    ] {
        assert!(u.lines().any(|l| l == line), "missing `{line}`");
    }
}
