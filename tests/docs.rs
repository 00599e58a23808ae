//! The documentation tells the truth about the code: the man pages name
//! every command, flag and config key, pass `mandoc -T lint`, and the
//! committed completions are what the clap definition generates. After a
//! change to the command line, regenerate the completions with
//!     NFKNOCK_BLESS=1 cargo test --test docs

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use nfknock::cli::Cli;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap()
}

/// How a man page source writes `--flag`.
fn man_flag(long: &str) -> String {
    format!("\\-\\-{}", long.replace('-', "\\-"))
}

#[test]
fn man_page_names_every_command_and_flag() {
    let man = read("man/nfknock.8");
    let mut missing = Vec::new();
    fn walk(cmd: &clap::Command, man: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long()
                && !man.contains(&man_flag(long))
            {
                missing.push(format!("{} --{long}", cmd.get_name()));
            }
            if let Some(short) = arg.get_short()
                && !man.contains(&format!("\\-{short}"))
            {
                missing.push(format!("{} -{short}", cmd.get_name()));
            }
        }
        // Hidden commands are nfknock's own plumbing, not the user's.
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_name().replace('-', "\\-");
            if !man.contains(&format!(".B {name}")) && !man.contains(&format!("{name} ")) {
                missing.push(format!("command {}", sub.get_name()));
            }
            walk(sub, man, missing);
        }
    }
    walk(&Cli::command(), &man, &mut missing);
    assert!(missing.is_empty(), "not in man/nfknock.8: {missing:?}");
}

#[test]
fn config_man_page_names_every_key_of_the_sample() {
    let man = read("man/nfknock.toml.5");
    let sample: toml::Table = read("cfg-sample/nfknock.toml").parse().unwrap();
    let mut keys: Vec<String> = vec!["open".into(), "icmp".into(), "[firewall]".into()];
    for (k, v) in &sample {
        match v {
            toml::Value::Table(t) => {
                keys.push(format!("[{k}]"));
                keys.extend(t.keys().cloned());
            }
            toml::Value::Array(a) if a.iter().all(|x| x.is_table()) => {
                keys.push(format!("[[{k}]]"));
                for t in a.iter().filter_map(|x| x.as_table()) {
                    keys.extend(t.keys().cloned());
                }
            }
            _ => keys.push(k.clone()),
        }
    }
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !man.contains(&k.replace('-', "\\-")))
        .collect();
    assert!(missing.is_empty(), "not in man/nfknock.toml.5: {missing:?}");
}

#[test]
fn man_pages_pass_mandoc_lint() {
    for page in ["man/nfknock.8", "man/nfknock.toml.5"] {
        let out = Command::new("mandoc")
            .args(["-T", "lint", "-W", "warning"])
            .arg(root().join(page))
            .output()
            .expect("mandoc (package mandoc)");
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "{page}: {}{}",
            common::text(&out.stdout),
            common::text(&out.stderr)
        );
    }
}

#[test]
fn committed_completions_match_the_command_line() {
    let bless = std::env::var_os("NFKNOCK_BLESS").is_some();
    for (shell, file) in [
        ("bash", "nfknock.bash"),
        ("zsh", "_nfknock"),
        ("fish", "nfknock.fish"),
    ] {
        let out = Command::new(common::NFKNOCK)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let path: PathBuf = root().join("completions").join(file);
        if bless {
            std::fs::write(&path, &out.stdout).unwrap();
        } else {
            assert!(
                std::fs::read(&path).unwrap() == out.stdout,
                "completions/{file} is stale: NFKNOCK_BLESS=1 cargo test --test docs"
            );
        }
    }
}
