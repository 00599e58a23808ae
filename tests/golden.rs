//! The rendered rulesets of the sample and a few edge configs, compared
//! with tests/golden/*.nft. After an intended change, regenerate them with
//!     NFKNOCK_BLESS=1 cargo test --test golden
//! and review the diff. Where a network namespace can be made, `nft -c`
//! must accept each one too.

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
        let nft = t.with_extension("nft");
        cases.push((t, nft));
    }
    cases
}

fn show(config: &Path) -> String {
    let out = Command::new(common::NFKNOCK)
        .args(["-c", config.to_str().unwrap(), "show"])
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

#[test]
fn golden_rulesets_pass_nft_check() {
    if !common::netns_available() {
        return;
    }
    for (_, golden) in cases() {
        let out = Command::new("unshare")
            .args(["-n", "nft", "-c", "-f", golden.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            golden.display(),
            common::text(&out.stderr)
        );
    }
}
