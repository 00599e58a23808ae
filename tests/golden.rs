//! The rendered rulesets of the sample and a few edge configs, compared
//! with tests/golden/*.nft (nftables) and *.ipt (iptables). After an
//! intended change, regenerate them with
//!     NFKNOCK_BLESS=1 cargo test --test golden
//! and review the diff. Where a network namespace can be made, each config
//! is also applied for real in an empty one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases() -> Vec<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let golden = root.join("tests/golden");
    let mut cases = vec![(
        root.join("cfg-sample/nfknock.toml"),
        golden.join("sample.nft"),
    )];
    let mut tomls: Vec<PathBuf> = std::fs::read_dir(&golden)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    tomls.sort();
    for t in tomls {
        let text = std::fs::read_to_string(&t).unwrap();
        let ext = if text.contains("backend = \"iptables\"") {
            "ipt"
        } else {
            "nft"
        };
        let golden = t.with_extension(ext);
        cases.push((t, golden));
    }
    cases
}

/// Rotating doors derive their sequences from the time: fix it.
const FAKE_TIME: &str = "1800000000";

fn show(config: &Path) -> String {
    let out = Command::new(common::NFKNOCK)
        .args(["-c", config.to_str().unwrap(), "show"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(nfknock::rotate::FAKE_TIME_ENV, FAKE_TIME)
        // A fixed names key (tests/golden/state/names.key), so that the
        // names' fingerprints are the same on every run.
        .env(
            "STATE_DIRECTORY",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/state"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        config.display(),
        common::text(&out.stderr)
    );
    common::text(&out.stdout)
}

#[test]
fn rendered_rulesets_match_golden_files() {
    let bless = std::env::var_os("NFKNOCK_BLESS").is_some();
    let mut stale = Vec::new();
    for (config, golden) in cases() {
        let got = show(&config);
        if bless {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if got != want {
            let diff = Command::new("diff")
                .args(["-u", golden.to_str().unwrap(), "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(got.as_bytes())?;
                    c.wait_with_output()
                })
                .map(|o| common::text(&o.stdout))
                .unwrap_or_default();
            stale.push(format!("{}:\n{diff}", golden.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "rendered rulesets differ (NFKNOCK_BLESS=1 regenerates):\n{}",
        stale.join("\n")
    );
}

/// Each config applies for real in an empty network namespace: what the
/// golden files show is what the kernel accepts.
#[test]
fn golden_configs_apply_in_an_empty_namespace() {
    if !common::netns_available() {
        return;
    }
    // apply keeps a record of what it loaded: in a directory of the test's.
    let state = tempfile::tempdir().unwrap();
    for (config, _) in cases() {
        let out = Command::new("unshare")
            .args([
                "-n",
                common::NFKNOCK,
                "-c",
                config.to_str().unwrap(),
                "apply",
                "--no-persist",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env(nfknock::rotate::FAKE_TIME_ENV, FAKE_TIME)
            .env("STATE_DIRECTORY", state.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            config.display(),
            common::text(&out.stderr)
        );
    }
}
