//! `nfknock metrics`: what `status` reads from the kernel, in the
//! Prometheus text exposition format (version 0.0.4), for a scraper or for
//! node_exporter's textfile collector.
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::Backend as BackendKind;
use crate::firewall::{self, Status};
use crate::state::{self, StateDir};

/// The file node_exporter's textfile collector reads in `--textfile DIR`.
pub const TEXTFILE: &str = "nfknock.prom";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Firewall(#[from] firewall::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} is not a directory (node_exporter's --collector.textfile.directory)")]
    NotADirectory(PathBuf),
}

/// Reads the kernel's state with the backend `kind` (that `status` reads
/// with), and the time of the last apply from the state directory.
pub fn gather(kind: BackendKind, state_dir: &StateDir) -> Result<String, Error> {
    let status = firewall::backend(kind)?.status()?;
    // Only what the rules now loaded were loaded from.
    let last_apply = state_dir
        .loaded()
        .load()
        .ok()
        .flatten()
        .and_then(|saved| humantime::parse_rfc3339(&saved.record.applied_at).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    Ok(render(&status, last_apply.filter(|_| status.loaded)))
}

/// Writes `text` to `dir/nfknock.prom` atomically (node_exporter never
/// reads half a file; the temporary file does not end in `.prom`), mode
/// 0644 so that node_exporter's user can read it.
pub fn write_textfile(dir: &Path, text: &str) -> Result<PathBuf, Error> {
    if !dir.is_dir() {
        return Err(Error::NotADirectory(dir.to_path_buf()));
    }
    let path = dir.join(TEXTFILE);
    state::write_atomic(&path, text.as_bytes(), 0o644).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// One metric family: its help, type and samples (labels, value).
struct Family<'a> {
    name: &'a str,
    help: &'a str,
    kind: &'a str,
    samples: Vec<(Vec<(&'a str, String)>, u64)>,
}

/// The exposition text of `status`; `last_apply` in seconds since the
/// epoch. Pure: the tests feed it a `Status` by hand.
pub fn render(status: &Status, last_apply: Option<u64>) -> String {
    let door = |name: &str| vec![("door", name.to_string())];
    let per_door = |f: &dyn Fn(&firewall::DoorStatus) -> u64| {
        status
            .doors
            .iter()
            .map(|d| (door(&d.name), f(d)))
            .collect::<Vec<_>>()
    };
    let distinct = |sources: &[firewall::Source]| {
        sources
            .iter()
            .map(|s| &s.address)
            .collect::<BTreeSet<_>>()
            .len() as u64
    };
    let mut families = vec![
        Family {
            name: "nfknock_rules_loaded",
            help: "Whether nfknock's rules are in the kernel (1) or not (0), by backend.",
            kind: "gauge",
            samples: vec![(
                vec![("backend", status.backend.to_string())],
                u64::from(status.loaded),
            )],
        },
        Family {
            name: "nfknock_knocks_total",
            help: "Completed knock sequences, per door, since the rules were loaded.",
            kind: "counter",
            samples: per_door(&|d| d.counters.knocks),
        },
        Family {
            name: "nfknock_entries_total",
            help: "New connections through an open door, per door, since the rules were loaded.",
            kind: "counter",
            samples: per_door(&|d| d.counters.entries),
        },
        Family {
            name: "nfknock_resets_total",
            help: "Sources that lost their progress in a sequence by sending something else, per door.",
            kind: "counter",
            samples: per_door(&|d| d.counters.resets),
        },
        Family {
            name: "nfknock_sources_knocking",
            help: "Sources in the middle of a door's sequence now.",
            kind: "gauge",
            samples: per_door(&|d| distinct(&d.in_progress)),
        },
        Family {
            name: "nfknock_sources_open",
            help: "Sources for which a door is open now.",
            kind: "gauge",
            samples: per_door(&|d| distinct(&d.open)),
        },
        Family {
            name: "nfknock_transient_networks",
            help: "Networks let in without knocking (nfknock transient).",
            kind: "gauge",
            samples: vec![(Vec::new(), status.transient.len() as u64)],
        },
    ];
    if let Some(t) = last_apply {
        families.push(Family {
            name: "nfknock_last_apply_timestamp_seconds",
            help: "When the rules now loaded were applied, in seconds since the epoch.",
            kind: "gauge",
            samples: vec![(Vec::new(), t)],
        });
    }
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, value) in f.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", f.name);
            } else {
                let _ = writeln!(out, "{}{{{}}} {value}", f.name, labels.join(","));
            }
        }
    }
    out
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::{Counters, DoorStatus, Source, Transient};

    fn source(address: &str, stage: Option<usize>) -> Source {
        Source {
            address: address.parse().expect("an address"),
            stage,
            expires_in: 3.0,
        }
    }

    #[test]
    fn renders_every_family_with_help_and_type() {
        let status = Status {
            backend: BackendKind::Nftables,
            loaded: true,
            doors: vec![DoorStatus {
                name: "ssh".into(),
                ports: vec!["22/tcp".into()],
                knocks: 3,
                counters: Counters {
                    knocks: 5,
                    entries: 4,
                    resets: 2,
                },
                // One source seen in two stage sets counts once.
                in_progress: vec![
                    source("192.0.2.7", Some(1)),
                    source("192.0.2.7", Some(2)),
                    source("2001:db8::7", Some(1)),
                ],
                open: vec![source("192.0.2.8", None)],
                ..DoorStatus::default()
            }],
            transient: vec![Transient {
                network: "198.51.100.0/24".parse().expect("a network"),
                expires_in: None,
            }],
            confirm_within: None,
            ..Status::default()
        };
        let text = render(&status, Some(1_800_000_000));
        for line in [
            "# TYPE nfknock_rules_loaded gauge",
            "nfknock_rules_loaded{backend=\"nftables\"} 1",
            "# TYPE nfknock_knocks_total counter",
            "nfknock_knocks_total{door=\"ssh\"} 5",
            "nfknock_entries_total{door=\"ssh\"} 4",
            "nfknock_resets_total{door=\"ssh\"} 2",
            "nfknock_sources_knocking{door=\"ssh\"} 2",
            "nfknock_sources_open{door=\"ssh\"} 1",
            "nfknock_transient_networks 1",
            "nfknock_last_apply_timestamp_seconds 1800000000",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // Every family has its HELP and TYPE before its samples.
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!((helps, types), (8, 8));
    }

    #[test]
    fn nothing_loaded_is_a_zero_and_no_doors() {
        let status = Status {
            backend: BackendKind::Iptables,
            ..Status::default()
        };
        let text = render(&status, None);
        assert!(text.contains("nfknock_rules_loaded{backend=\"iptables\"} 0\n"));
        assert!(!text.contains("door="));
        assert!(!text.contains("nfknock_last_apply_timestamp_seconds"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn textfile_is_written_whole_and_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = write_textfile(dir.path(), "x 1\n").unwrap();
        assert_eq!(path, dir.path().join("nfknock.prom"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x 1\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["nfknock.prom"], "a temporary file was left");
        assert!(matches!(
            write_textfile(&dir.path().join("none"), ""),
            Err(Error::NotADirectory(_))
        ));
    }
}
