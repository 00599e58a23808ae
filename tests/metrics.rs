//! `nfknock metrics` on the real kernel, parsed by a real Prometheus
//! parser (Debian's python3-prometheus-client): the families are there,
//! well formed, and the counters and gauges move with knocks.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{Case, Host, KNOCKS, Lab, one_door_config, text};

const SSH: u16 = 22;

/// Parses exposition text with prometheus_client's parser; returns each
/// sample as `name{label="value",...}` => value, and `TYPE name` => type.
fn parse(exposition: &str) -> BTreeMap<String, serde_json::Value> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    out["TYPE " + family.name] = family.type
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        out[s.name + ("{%s}" % labels if labels else "")] = s.value
print(json.dumps(out))
"#;
    // Debian's python3, where python3-prometheus-client is installed (the
    // `python3` on PATH may be another build).
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused:\n{exposition}\n{}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn metrics(lab: &Lab) -> BTreeMap<String, serde_json::Value> {
    let out = lab.nfknock(Host::Server, &["metrics"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    parse(&text(&out.stdout))
}

fn value(m: &BTreeMap<String, serde_json::Value>, key: &str) -> f64 {
    m.get(key)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("no {key} in {m:#?}"))
}

// The counters and gauges of `status`, as Prometheus reads them, before
// and after a knock, an entry and half a sequence; --textfile writes the
// same, atomically.
fn metrics_follow_the_knocks(t: Case) {
    let Some(lab) = Lab::new(t.family) else {
        return;
    };
    let backend = t.backend.name();
    let config = lab.config("nfknock.toml", &one_door_config(backend, ""));
    // Nothing loaded yet: a 0, and no door.
    let out = lab.nfknock(Host::Server, &["-c", config.to_str().unwrap(), "metrics"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let m = parse(&text(&out.stdout));
    assert_eq!(
        value(
            &m,
            &format!("nfknock_rules_loaded{{backend=\"{backend}\"}}")
        ),
        0.0
    );
    assert!(!m.keys().any(|k| k.contains("door=")), "{m:#?}");

    lab.apply(&config);
    lab.listen_tcp(SSH);
    let before = metrics(&lab);
    let loaded = format!("nfknock_rules_loaded{{backend=\"{backend}\"}}");
    assert_eq!(value(&before, &loaded), 1.0);
    assert_eq!(
        before.get("TYPE nfknock_knocks").and_then(|v| v.as_str()),
        Some("counter"),
        "{before:#?}"
    );
    for key in [
        "nfknock_knocks_total{door=\"ssh\"}",
        "nfknock_entries_total{door=\"ssh\"}",
        "nfknock_sources_knocking{door=\"ssh\"}",
        "nfknock_sources_open{door=\"ssh\"}",
        "nfknock_transient_networks",
    ] {
        assert_eq!(value(&before, key), 0.0, "{key}");
    }
    let applied = value(&before, "nfknock_last_apply_timestamp_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - applied).abs() < 120.0,
        "applied at {applied}, now {now}"
    );

    lab.knock(Host::Client, &KNOCKS, "20ms");
    let mut session = lab.connect(Host::Client, SSH);
    assert!(common::echoes(&mut session));
    // Half a sequence from the attacker: a source mid-sequence.
    lab.knock(Host::Attacker, &KNOCKS[..1], "20ms");
    let out = lab.nfknock(Host::Server, &["transient", "add", "198.51.100.0/24"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let after = metrics(&lab);
    for (key, want) in [
        ("nfknock_knocks_total{door=\"ssh\"}", 1.0),
        ("nfknock_entries_total{door=\"ssh\"}", 1.0),
        ("nfknock_sources_open{door=\"ssh\"}", 1.0),
        ("nfknock_sources_knocking{door=\"ssh\"}", 1.0),
        ("nfknock_transient_networks", 1.0),
    ] {
        assert_eq!(value(&after, key), want, "{key}: {after:#?}");
    }

    // --textfile: the same text, in DIR/nfknock.prom, nothing else left.
    let dir = lab.dir.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let out = lab.nfknock(
        Host::Server,
        &["metrics", "--textfile", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["nfknock.prom"]);
    let file = parse(&std::fs::read_to_string(dir.join("nfknock.prom")).unwrap());
    assert_eq!(value(&file, "nfknock_knocks_total{door=\"ssh\"}"), 1.0);
    assert_eq!(value(&file, &loaded), 1.0);
}

backend_tests!(metrics_follow_the_knocks);

/// Like `status`, metrics reads the kernel: it says it needs root.
#[test]
fn metrics_say_they_need_root() {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args([common::NFKNOCK, "metrics"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("`nfknock metrics` needs root (CAP_NET_ADMIN)"),
        "{}",
        text(&out.stderr)
    );
}
