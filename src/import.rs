//! `nfknock import FILE`: an equivalent nfknock.toml from what admins run
//! today: the original Python nfknock's `nfknock.cfg`, or a `knockd.conf`.
//! Every point where the meaning differs gets a comment in the output.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::config::sequence_problems;
use crate::port::{PortSpec, Proto};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("line {0}: `{1}` is neither a [section], a key = value nor a comment")]
    Syntax(usize, String),
    #[error("found neither a [knock] section (nfknock.cfg) nor a knock sequence (knockd.conf)")]
    Nothing,
}

/// An INI file: sections in order, each with its keys (lower-cased).
struct Ini {
    sections: Vec<(String, HashMap<String, String>)>,
}

fn parse_ini(text: &str) -> Result<Ini, Error> {
    let mut sections: Vec<(String, HashMap<String, String>)> =
        vec![(String::new(), HashMap::new())];
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.trim().to_string(), HashMap::new()));
        } else if let Some((k, v)) = line.split_once('=') {
            let section = &mut sections.last_mut().expect("one section at least").1;
            section.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        } else if line.split_whitespace().count() == 1 {
            // knockd's bare flags, such as UseSyslog.
            let section = &mut sections.last_mut().expect("one section at least").1;
            section.insert(line.to_ascii_lowercase(), String::new());
        } else {
            return Err(Error::Syntax(i + 1, truncate(line)));
        }
    }
    Ok(Ini { sections })
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

impl Ini {
    fn section(&self, name: &str) -> Option<&HashMap<String, String>> {
        self.sections
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, s)| s)
    }
}

/// Converts a file; the output says in comments what does not carry over.
pub fn import(text: &str) -> Result<String, Error> {
    let ini = parse_ini(text)?;
    if ini.section("knock").is_some() {
        Ok(from_nfknock_cfg(&ini))
    } else if ini.sections.iter().any(|(_, s)| s.contains_key("sequence")) {
        Ok(from_knockd(&ini))
    } else {
        Err(Error::Nothing)
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", q.join(", "))
}

/// Parses ports in either tool's syntax: `t:22`, `u:53` (nfknock.cfg),
/// `7000`, `7000:udp` (knockd), `22/tcp`.
fn ports(text: &str, out: &mut String) -> Vec<PortSpec> {
    let mut v = Vec::new();
    for word in text.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
        let normalized = match word.rsplit_once(':') {
            Some((p, proto))
                if proto.eq_ignore_ascii_case("tcp") || proto.eq_ignore_ascii_case("udp") =>
            {
                format!("{p}/{proto}")
            }
            _ => word.to_string(),
        };
        match normalized.parse::<PortSpec>() {
            Ok(p) => v.push(p),
            Err(_) => {
                let _ = writeln!(
                    out,
                    "# `{}` is not a port nfknock understands; left out.",
                    truncate(word)
                );
            }
        }
    }
    v
}

/// The sequence line, with a comment when nfknock would refuse it.
fn sequence_line(out: &mut String, seq: &[PortSpec], door_port: Option<PortSpec>) {
    let mut reserved = HashMap::new();
    if let Some(p) = door_port {
        reserved.insert(p, "the door's port".to_string());
    }
    for problem in sequence_problems(seq, &reserved) {
        let _ = writeln!(
            out,
            "# nfknock refuses this sequence: {problem}. Make a strong one with `nfknock gen-sequence`."
        );
    }
    let s: Vec<String> = seq.iter().map(|k| k.to_string()).collect();
    let _ = writeln!(out, "sequence = {}", list(&s));
}

fn seconds(out: &mut String, key: &str, value: &str) {
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => {
            let _ = writeln!(out, "{key} = \"{n}s\"");
        }
        _ => {
            let _ = writeln!(
                out,
                "# {key}: `{}` is not a number of seconds; left at nfknock's default.",
                truncate(value)
            );
        }
    }
}

fn from_nfknock_cfg(ini: &Ini) -> String {
    let knock = ini.section("knock").expect("checked");
    let mut o =
        String::from("# Imported from the original nfknock's nfknock.cfg by `nfknock import`.\n");
    let backend = if ini.section("iptables").is_some() && ini.section("nftables").is_none() {
        "iptables"
    } else {
        "nftables"
    };
    let _ = writeln!(o, "backend = \"{backend}\"");
    let _ = writeln!(o, "mode = \"guard\"");
    if let Some(v) = knock.get("sequence_timeout") {
        seconds(&mut o, "sequence_timeout", v);
    }
    if let Some(v) = knock.get("door_timeout") {
        seconds(&mut o, "door_timeout", v);
    }
    let _ = writeln!(o, "\n[[door]]\nname = \"ssh\"");
    let door = knock
        .get("door")
        .map(|d| ports(d, &mut o))
        .unwrap_or_default();
    match door.first() {
        Some(p) => {
            let _ = writeln!(o, "port = \"{p}\"");
        }
        None => {
            let _ = writeln!(
                o,
                "# No `door` in [knock]: set the port to hide.\nport = \"22/tcp\""
            );
        }
    }
    let seq = knock
        .get("sequence")
        .map(|s| ports(s, &mut o))
        .unwrap_or_default();
    sequence_line(&mut o, &seq, door.first().copied());
    let v4 = ini
        .section("ipv4")
        .and_then(|s| s.get("allow"))
        .map(|a| words(a))
        .unwrap_or_default();
    let v6 = ini
        .section("ipv6")
        .and_then(|s| s.get("allow"))
        .map(|a| words(a))
        .unwrap_or_default();
    if ini.section("ipv4").is_some() || ini.section("ipv6").is_some() {
        let _ = writeln!(o, "\n[allow]\nipv4 = {}\nipv6 = {}", list(&v4), list(&v6));
    }
    for tool in ["nftables", "iptables"] {
        if let Some(f) = ini.section(tool).and_then(|s| s.get("save_file")) {
            let _ = writeln!(
                o,
                "\n# [{tool}] save_file = {}: not used. nfknock saves what it loads in\n# /var/lib/nfknock and nfknock.service restores it at boot.",
                truncate(f)
            );
        }
    }
    o
}

fn words(text: &str) -> Vec<String> {
    text.split([',', ' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A knockd section name as a door name: `[a-z0-9_-]{1,16}`.
fn door_name(section: &str, taken: &[String]) -> String {
    let mut n: String = section
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(16)
        .collect();
    if n.is_empty() {
        n = "door".into();
    }
    let base = n.clone();
    let mut i = 2;
    while taken.contains(&n) {
        n = format!("{}{i}", &base[..base.len().min(14)]);
        i += 1;
    }
    n
}

/// The door knockd opens: `-p PROTO ... --dport PORT` in its command.
fn door_from_command(cmd: &str) -> Option<PortSpec> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let port = words
        .windows(2)
        .find(|w| w[0] == "--dport" || w[0] == "--destination-port" || w[0] == "dport")
        .and_then(|w| w[1].parse::<u16>().ok())?;
    let proto = words
        .windows(2)
        .find(|w| w[0] == "-p" || w[0] == "--protocol")
        .map_or(Proto::Tcp, |w| {
            if w[1] == "udp" {
                Proto::Udp
            } else {
                Proto::Tcp
            }
        });
    (port != 0).then_some(PortSpec::new(port, proto))
}

fn from_knockd(ini: &Ini) -> String {
    let mut o = String::from("# Imported from knockd.conf by `nfknock import`.\n");
    let _ = writeln!(o, "backend = \"nftables\"\nmode = \"guard\"");
    if let Some(i) = ini
        .section("options")
        .and_then(|opts| opts.get("interface"))
    {
        let _ = writeln!(
            o,
            "# knockd listened on {}; nfknock's rules apply to every interface.",
            truncate(i)
        );
    }
    let mut taken = Vec::new();
    for (name, s) in &ini.sections {
        if name.eq_ignore_ascii_case("options") || !s.contains_key("sequence") {
            continue;
        }
        let command = s
            .get("start_command")
            .or_else(|| s.get("command"))
            .cloned()
            .unwrap_or_default();
        if command
            .split_whitespace()
            .any(|w| w == "-D" || w == "--delete")
        {
            let _ = writeln!(
                o,
                "\n# knockd section [{}] closed a door again (`{}`): nfknock's doors\n# close by themselves after door_timeout, so it is not imported.",
                truncate(name),
                truncate(&command)
            );
            continue;
        }
        let door = door_name(name, &taken);
        taken.push(door.clone());
        let _ = writeln!(o, "\n# knockd section [{}]", truncate(name));
        let _ = writeln!(o, "[[door]]\nname = \"{door}\"");
        let port = door_from_command(&command);
        match port {
            Some(p) => {
                let _ = writeln!(o, "port = \"{p}\"");
            }
            None => {
                let _ = writeln!(
                    o,
                    "# No --dport in the command (`{}`): set the port this door hides.\nport = \"22/tcp\"",
                    truncate(&command)
                );
            }
        }
        let seq = ports(&s["sequence"], &mut o);
        sequence_line(&mut o, &seq, port);
        if let Some(v) = s.get("seq_timeout") {
            seconds(&mut o, "sequence_timeout", v);
        }
        match (s.get("cmd_timeout"), s.contains_key("stop_command")) {
            (Some(v), _) => seconds(&mut o, "door_timeout", v),
            (None, _) => {
                let _ = writeln!(
                    o,
                    "# knockd ran `command` and left the port open for good; nfknock's door\n# accepts new connections for door_timeout (default 30s) after each knock."
                );
            }
        }
        if let Some(flags) = s.get("tcpflags").filter(|f| !f.eq_ignore_ascii_case("syn")) {
            let _ = writeln!(
                o,
                "# tcpflags = {}: nfknock counts a TCP knock only as a bare SYN.",
                truncate(flags)
            );
        }
        if s.contains_key("one_time_sequences") {
            let _ = writeln!(
                o,
                "# one_time_sequences is not supported; see rotating sequences in nfknock.toml(5)."
            );
        }
    }
    o
}

/// Whether an imported config is valid as it stands (for the CLI's note).
pub fn check(text: &str) -> Result<(), String> {
    crate::load::parse(text, std::path::Path::new("imported"))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn door_from_knockd_commands() {
        assert_eq!(
            door_from_command("/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"),
            Some(PortSpec::new(22, Proto::Tcp))
        );
        assert_eq!(
            door_from_command("/usr/sbin/iptables -I INPUT -s %IP% -p udp --dport 1194 -j ACCEPT"),
            Some(PortSpec::new(1194, Proto::Udp))
        );
        assert_eq!(door_from_command("/usr/local/bin/open-door %IP%"), None);
    }

    #[test]
    fn names_are_made_valid_and_unique() {
        assert_eq!(door_name("openSSH", &[]), "openssh");
        assert_eq!(door_name("open SSH!", &["openssh".into()]), "openssh2");
        assert_eq!(door_name("***", &[]), "door");
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(
            import("hello world\n"),
            Err(Error::Syntax(1, "hello world".into()))
        );
        assert_eq!(import("[options]\nUseSyslog\n"), Err(Error::Nothing));
    }
}
