//! `nfknock import FILE`: an equivalent nfknock.toml from what admins run
//! today: the original Python nfknock's `nfknock.cfg`, or a `knockd.conf`.
//! Every point where the meaning differs gets a comment in the output.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::config::sequence_problems;
use crate::port::{PortRange, PortSpec, Proto};

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
            return Err(Error::Syntax(i + 1, shown(line)));
        }
    }
    Ok(Ini { sections })
}

/// Whether a character may not reach a terminal or a TOML file as it is:
/// control characters (ESC starts terminal escape sequences; CR, DEL, the
/// C1 controls) and the bidirectional overrides that reorder what a reader
/// sees.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text from the imported file as it may appear in a comment of the
/// output or in a message: every unsafe character written as `\u{1b}`,
/// at most 60 characters. Everything the import echoes goes through it.
fn shown(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(60) {
        if c == '\t' {
            out.push(' ');
        } else if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
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

/// A TOML basic string; unsafe characters as `\uXXXX`, so that neither
/// the file nor a terminal showing it gets them raw.
fn quote(s: &str) -> String {
    let mut q = String::from('"');
    for c in s.chars() {
        match c {
            '\\' => q.push_str("\\\\"),
            '"' => q.push_str("\\\""),
            c if unsafe_char(c) => {
                let _ = write!(q, "\\u{:04X}", u32::from(c));
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
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
                    shown(word)
                );
            }
        }
    }
    v
}

/// The `port` line of a door: one port as a string, several as a list.
fn port_line(out: &mut String, ports: &[PortRange]) {
    let all: Vec<String> = ports.iter().map(PortRange::to_string).collect();
    match &all[..] {
        [one] => {
            let _ = writeln!(out, "port = \"{one}\"");
        }
        _ => {
            let _ = writeln!(out, "port = {}", list(&all));
        }
    }
}

/// The sequence line, with a comment when nfknock would refuse it.
fn sequence_line(out: &mut String, seq: &[PortSpec], door_ports: &[PortRange]) {
    let reserved: HashMap<PortSpec, String> = door_ports
        .iter()
        .flat_map(PortRange::ports)
        .map(|p| (p, "a port of the door".to_string()))
        .collect();
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
                shown(value)
            );
        }
    }
}

/// The original's defaults for `[ipv4]` and `[ipv6]` `allow`: what it
/// let in when the key is commented out, as in its own sample.
const ORIGINAL_ALLOW_V4: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
];
const ORIGINAL_ALLOW_V6: [&str; 1] = ["fe80::/10"];
/// The original's timeouts when its keys are commented out, in seconds.
const ORIGINAL_SEQUENCE_TIMEOUT: &str = "10";
const ORIGINAL_DOOR_TIMEOUT: &str = "30";

/// Which firewall the original wrote rules for: the one whose save file is
/// set (`[nftables]`/`[iptables]` `save_file`, or the older `[output]`
/// `nftables_save_file`, `iptables_save_file`, `ip6tables_save_file`).
fn original_backend(ini: &Ini, o: &mut String) -> &'static str {
    let set = |section: &str, key: &str| {
        ini.section(section)
            .and_then(|s| s.get(key))
            .is_some_and(|v| !v.is_empty())
    };
    let nft = set("nftables", "save_file") || set("output", "nftables_save_file");
    let ipt = set("iptables", "save_file")
        || set("output", "iptables_save_file")
        || set("output", "ip6tables_save_file");
    match (nft, ipt) {
        (true, false) => {
            let _ = writeln!(
                o,
                "# The original wrote nftables rules (its nftables save_file is set)."
            );
            "nftables"
        }
        (false, true) => {
            let _ = writeln!(
                o,
                "# The original wrote iptables rules (its iptables save_file is set)."
            );
            "iptables"
        }
        (true, true) => {
            let _ = writeln!(
                o,
                "# The original wrote both nftables and iptables rules; nfknock drives one\n\
                 # firewall: nftables here. Decide which one this host uses."
            );
            "nftables"
        }
        (false, false) => {
            let _ = writeln!(
                o,
                "# No save_file is set: the original only printed its rules. nftables\n\
                 # here; decide which firewall this host uses."
            );
            "nftables"
        }
    }
}

fn from_nfknock_cfg(ini: &Ini) -> String {
    let knock = ini.section("knock").expect("checked");
    let mut o = String::from(
        "# Imported from the original nfknock's nfknock.cfg by `nfknock import`.\n\
         # Each comment says where nfknock differs and what to decide.\n\n",
    );
    let backend = original_backend(ini, &mut o);
    let _ = writeln!(o, "backend = \"{backend}\"");
    let _ = writeln!(
        o,
        "\n# The original was this host's whole inbound firewall: it replaced the\n\
         # ruleset with a default-deny one (loopback, established connections,\n\
         # ICMP and the allowed networks in, the door after a knock, nothing else).\n\
         # \"firewall\" is the same. nfknock never deletes other tables, so rules of\n\
         # Docker, ufw or your own stay loaded beside it; the original flushed them.\n\
         # Decide: \"guard\" hides only the door and leaves every other port as\n\
         # your other rules make it (open, on a host with no other firewall).\n\
         mode = \"firewall\""
    );
    let _ = writeln!(
        o,
        "\n# The original's timeouts, with the same meaning: sequence_timeout is the\n\
         # longest pause between two knocks."
    );
    for (key, default) in [
        ("sequence_timeout", ORIGINAL_SEQUENCE_TIMEOUT),
        ("door_timeout", ORIGINAL_DOOR_TIMEOUT),
    ] {
        let v = knock.get(key).map_or(default, String::as_str);
        seconds(&mut o, key, v);
    }
    let _ = writeln!(
        o,
        "\n# The original closed the door after the first connection through it\n\
         # (or door_timeout), as single_use does: established connections stay.\n\
         single_use = true"
    );

    let door = knock
        .get("door")
        .map(|d| ports(d, &mut o))
        .unwrap_or_default();
    let seq = knock
        .get("sequence")
        .map(|s| ports(s, &mut o))
        .unwrap_or_default();
    let door = if door.is_empty() {
        let _ = writeln!(o, "\n# No `door` in [knock]: set the port to hide.");
        vec![PortSpec::new(22, Proto::Tcp)]
    } else {
        door
    };
    // One knock opened every port of `door` in the original: one door
    // of all of them here too.
    let door: Vec<PortRange> = door.into_iter().map(PortRange::from).collect();
    let name = if door[0].first() == PortSpec::new(22, Proto::Tcp) {
        "ssh".to_string()
    } else {
        format!("door-{}", door[0].low)
    };
    o.push('\n');
    let _ = writeln!(o, "[[door]]\nname = \"{name}\"");
    port_line(&mut o, &door);
    sequence_line(&mut o, &seq, &door);

    o.push_str("\n[allow]\n");
    for (family, defaults) in [
        ("ipv4", &ORIGINAL_ALLOW_V4[..]),
        ("ipv6", &ORIGINAL_ALLOW_V6[..]),
    ] {
        let nets = match ini.section(family).and_then(|s| s.get("allow")) {
            Some(a) => words(a),
            None => {
                let _ = writeln!(
                    o,
                    "# [{family}] allow is not set: the original's default, the same as nfknock's."
                );
                defaults.iter().map(|n| n.to_string()).collect()
            }
        };
        let _ = writeln!(o, "{family} = {}", list(&nets));
    }

    o.push_str("\n[firewall]\n");
    let _ = writeln!(
        o,
        "# The original let nothing else in: list public services here, such as\n\
         # \"80/tcp\", or decide on mode = \"guard\" above.\n\
         open = []"
    );
    if backend == "iptables" {
        let _ = writeln!(
            o,
            "# The original's iptables rules accepted no ping, only ICMPv6's neighbour\n\
             # discovery and errors (errors of a connection pass either way).\n\
             icmp = false\n\
             # The original's iptables rules left forwarded traffic alone (FORWARD\n\
             # policy ACCEPT, no rule of its own): \"accept\" is the same. \"drop\" would\n\
             # drop forwarded traffic too, except what this firewall lets in.\n\
             forward = \"accept\""
        );
    } else {
        let _ = writeln!(
            o,
            "# The original accepted all ICMP and ICMPv6.\n\
             icmp = true\n\
             # The original's nftables rules dropped forwarded traffic too (forward\n\
             # policy drop): \"drop\" does so, but lets through what this firewall lets\n\
             # in (established connections, the allowed networks, open ports, the door\n\
             # after a knock), where the original dropped every forwarded packet. If\n\
             # this host runs Docker or libvirt, or routes for a network, decide:\n\
             # \"accept\" leaves forwarding to their rules.\n\
             forward = \"drop\""
        );
    }

    for (section, key) in [
        ("nftables", "save_file"),
        ("iptables", "save_file"),
        ("output", "nftables_save_file"),
        ("output", "iptables_save_file"),
        ("output", "ip6tables_save_file"),
    ] {
        if let Some(f) = ini.section(section).and_then(|s| s.get(key)) {
            let _ = writeln!(
                o,
                "\n# [{section}] {key} = {}: not used.\n\
                 # nfknock saves what it loads in /var/lib/nfknock and nfknock.service\n\
                 # restores it at boot; remove the original's rules from that file, or\n\
                 # they come back at boot.",
                shown(f)
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

/// The ports knockd's command opens: `-p PROTO ... --dport PORT`, or
/// multiport's `--dports A,B:C` (ranges too); empty when it names none
/// nfknock can read.
fn doors_from_command(cmd: &str) -> Vec<PortRange> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let Some(ports) = words
        .windows(2)
        .find(|w| {
            matches!(
                w[0],
                "--dport" | "--destination-port" | "dport" | "--dports" | "--destination-ports"
            )
        })
        .map(|w| w[1])
    else {
        return Vec::new();
    };
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
    // iptables writes a range `A:B`; a reversed or zero one is left out.
    ports
        .split(',')
        .filter_map(|p| {
            let (low, high) = p.split_once(':').unwrap_or((p, p));
            let (low, high) = (low.parse::<u16>().ok()?, high.parse::<u16>().ok()?);
            (low != 0 && low <= high).then_some(PortRange { low, high, proto })
        })
        .collect()
}

/// knockd's `seq_timeout` when a section has none.
const KNOCKD_SEQ_TIMEOUT: u64 = 25;
/// knockd's `cmd_timeout` when a section has none.
const KNOCKD_CMD_TIMEOUT: u64 = 10;

/// knockd's `seq_timeout` is the time from the first knock to the last;
/// nfknock's `sequence_timeout` is the longest pause between two knocks.
/// The same number keeps every knock knockd accepted; the comment says
/// what it lets through besides, and what would be as strict.
fn knockd_seq_timeout(o: &mut String, value: Option<&String>, knocks: usize) {
    let total = match value {
        None => {
            let _ = writeln!(o, "# knockd's default seq_timeout, {KNOCKD_SEQ_TIMEOUT}s.");
            KNOCKD_SEQ_TIMEOUT
        }
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                seconds(o, "sequence_timeout", v);
                return;
            }
        },
    };
    let pauses = knocks.saturating_sub(1).max(1) as u64;
    let _ = writeln!(
        o,
        "# knockd's seq_timeout counts from the first knock: the whole sequence had\n\
         # {total}s. nfknock's sequence_timeout is the pause between two knocks: at\n\
         # {total}s every knock knockd accepted still counts, and the {knocks} knocks may\n\
         # take up to {}s in all. For knockd's strictness, use {}s (clients that knock\n\
         # at once, as `nfknock knock` does, need well under a second).",
        total * pauses,
        total.div_ceil(pauses)
    );
    let _ = writeln!(o, "sequence_timeout = \"{total}s\"");
}

/// knockd's `Interface` (one name; eth0 when not given) as `interfaces`.
fn knockd_interface(o: &mut String, interface: Option<&String>) {
    let Some(name) = interface else {
        let _ = writeln!(
            o,
            "# knockd listened on eth0 only (its default without Interface); nfknock's\n\
             # doors watch every interface. To keep knockd's meaning:\n\
             # interfaces = [\"eth0\"]"
        );
        return;
    };
    match crate::config::Interface::new(name) {
        Ok(i) => {
            let _ = writeln!(
                o,
                "# knockd's Interface: knocks and the door only on it; elsewhere the\n\
                 # door's port is left to the host's rules, as knockd left it.\n\
                 interfaces = {}",
                list(&[i.to_string()])
            );
        }
        Err(why) => {
            let _ = writeln!(
                o,
                "# knockd listened on {}, which nfknock cannot take ({}):\n\
                 # set `interfaces` to the interface's name, or leave it out for every one.",
                shown(name),
                shown(&why)
            );
        }
    }
}

fn from_knockd(ini: &Ini) -> String {
    let mut o = String::from(
        "# Imported from knockd.conf by `nfknock import`.\n\
         # Each comment says where nfknock differs and what to decide.\n",
    );
    let _ = writeln!(
        o,
        "backend = \"nftables\"\n\
         # knockd left the firewall to you and only ran commands. In \"guard\" mode\n\
         # nfknock hides the doors itself and leaves every other port to the rules\n\
         # you have; \"firewall\" would make it the host's default-deny firewall.\n\
         mode = \"guard\""
    );
    knockd_interface(
        &mut o,
        ini.section("options")
            .and_then(|opts| opts.get("interface")),
    );
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
                shown(name),
                shown(&command)
            );
            continue;
        }
        // What every door of this section says after its port.
        let mut body = String::new();
        let ports_opened = doors_from_command(&command);
        let seq = ports(&s["sequence"], &mut body);
        let mut seq_text = String::new();
        knockd_seq_timeout(&mut seq_text, s.get("seq_timeout"), seq.len());
        if s.contains_key("stop_command") {
            let v = s
                .get("cmd_timeout")
                .cloned()
                .unwrap_or_else(|| KNOCKD_CMD_TIMEOUT.to_string());
            seconds(&mut seq_text, "door_timeout", &v);
        } else {
            let _ = writeln!(
                seq_text,
                "# knockd ran `command` and left the port open for good; nfknock's door\n# accepts new connections for door_timeout (default 30s) after each knock."
            );
        }
        if let Some(flags) = s.get("tcpflags").filter(|f| !f.eq_ignore_ascii_case("syn")) {
            let _ = writeln!(
                seq_text,
                "# tcpflags = {}: nfknock counts a TCP knock only as a bare SYN.",
                shown(flags)
            );
        }
        if s.contains_key("one_time_sequences") {
            let _ = writeln!(
                seq_text,
                "# one_time_sequences is not supported; see rotating sequences in nfknock.toml(5)."
            );
        }
        // One knock opened every port the command names: one door of
        // them all.
        let door = door_name(name, &taken);
        taken.push(door.clone());
        let _ = writeln!(o, "\n# knockd section [{}]", shown(name));
        let _ = writeln!(o, "[[door]]\nname = \"{door}\"");
        if ports_opened.is_empty() {
            let _ = writeln!(
                o,
                "# No --dport in the command (`{}`): set the port this door hides.\nport = \"22/tcp\"",
                shown(&command)
            );
        } else {
            port_line(&mut o, &ports_opened);
        }
        o.push_str(&body);
        sequence_line(&mut o, &seq, &ports_opened);
        o.push_str(&seq_text);
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
        let ports = |cmd: &str| -> Vec<String> {
            doors_from_command(cmd)
                .iter()
                .map(|r| r.to_string())
                .collect()
        };
        assert_eq!(
            ports("/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"),
            ["22/tcp"]
        );
        assert_eq!(
            ports("/usr/sbin/iptables -I INPUT -s %IP% -p udp --dport 1194 -j ACCEPT"),
            ["1194/udp"]
        );
        assert_eq!(
            ports("iptables -A INPUT -s %IP% -p tcp -m multiport --dports 22,2222 -j ACCEPT"),
            ["22/tcp", "2222/tcp"]
        );
        assert_eq!(
            ports(
                "iptables -A INPUT -s %IP% -p udp -m multiport --dports 60000:61000,0,9:1 -j ACCEPT"
            ),
            ["60000-61000/udp"]
        );
        assert!(ports("/usr/local/bin/open-door %IP%").is_empty());
    }

    /// One knock opened every port in either tool: the import makes one
    /// door of them all, which nfknock accepts as it stands.
    #[test]
    fn every_port_of_a_door_is_imported() {
        let original =
            import("[knock]\nsequence = t:48211,u:9143,t:27733\ndoor = t:22,t:2222,u:60001\n")
                .unwrap();
        assert!(
            original.contains("port = [\"22/tcp\", \"2222/tcp\", \"60001/udp\"]"),
            "{original}"
        );
        assert_eq!(original.matches("[[door]]").count(), 1, "{original}");
        check(&original).unwrap();
        let knockd = import(
            "[ssh]\nsequence = 48211,9143:udp,27733\ncommand = iptables -A INPUT -s %IP% -p tcp -m multiport --dports 22,2222,8000:8010 -j ACCEPT\n",
        )
        .unwrap();
        assert!(
            knockd.contains("port = [\"22/tcp\", \"2222/tcp\", \"8000-8010/tcp\"]"),
            "{knockd}"
        );
        assert_eq!(knockd.matches("[[door]]").count(), 1, "{knockd}");
        check(&knockd).unwrap();
        // A knock inside a range of the door is refused, with a comment.
        let clash = import(
            "[ssh]\nsequence = 8005,9143:udp,27733\ncommand = iptables -A INPUT -s %IP% -p tcp --dports 8000:8010 -j ACCEPT\n",
        )
        .unwrap();
        assert!(
            clash.contains("knock 8005/tcp is a port of the door"),
            "{clash}"
        );
    }

    #[test]
    fn nothing_from_the_file_reaches_a_terminal_raw() {
        assert_eq!(
            shown("a\x1b[2Jb\tc\r\u{202e}"),
            "a\\u{1b}[2Jb c\\u{d}\\u{202e}"
        );
        assert_eq!(shown(&"x".repeat(100)).len(), 60);
        assert_eq!(quote("a\"\\\x1b\u{9b}"), "\"a\\\"\\\\\\u001B\\u009B\"");
        // A value from the file stays a valid TOML string.
        let out = import("[knock]\nsequence = 1000 u:2000 3000\ndoor = 22\n[ipv4]\nallow = 10.0.0.0/8 \x1b[31m\n")
            .unwrap();
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out}");
        let toml: toml::Table = out.parse().unwrap();
        assert_eq!(
            toml["allow"]["ipv4"].as_array().unwrap()[1].as_str(),
            Some("\x1b[31m")
        );
        let Err(Error::Syntax(1, line)) = import("\x1b[2J two words\n") else {
            panic!("not a syntax error");
        };
        assert_eq!(line, "\\u{1b}[2J two words");
    }

    #[test]
    fn knockd_timeouts_keep_their_meaning() {
        let door = |section: &str| {
            import(&format!(
                "[open]\nsequence = 7000,8000:udp,9000,6000\ncommand = iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n{section}"
            ))
            .unwrap()
        };
        // knockd's default seq_timeout is 25s for the whole sequence.
        let d = door("");
        assert!(d.contains("knockd's default seq_timeout, 25s."), "{d}");
        assert!(d.contains("sequence_timeout = \"25s\""), "{d}");
        assert!(
            d.contains("take up to 75s in all. For knockd's strictness, use 9s"),
            "{d}"
        );
        // cmd_timeout matters only with a stop_command (default 10s).
        assert!(d.contains("left the port open for good"), "{d}");
        let d = door("cmd_timeout = 20\n");
        assert!(!d.contains("door_timeout = "), "{d}");
        let d = door("stop_command = iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n");
        assert!(d.contains("door_timeout = \"10s\""), "{d}");
        let d = door("seq_timeout = 30\ncmd_timeout = 5\nstop_command = x\n");
        assert!(d.contains("sequence_timeout = \"30s\""), "{d}");
        assert!(d.contains("use 10s"), "{d}");
        assert!(d.contains("door_timeout = \"5s\""), "{d}");
    }

    /// The original's nftables rules dropped forwarded traffic (forward
    /// policy drop); its iptables rules left FORWARD at ACCEPT.
    #[test]
    fn forward_follows_the_original_backend() {
        let cfg = |backend: &str| {
            import(&format!(
                "[knock]\nsequence = t:48211 u:9143 t:27733\ndoor = 22\n[{backend}]\nsave_file = /x\n"
            ))
            .unwrap()
        };
        let nft = cfg("nftables");
        assert!(nft.contains("dropped forwarded traffic too"), "{nft}");
        let ipt = cfg("iptables");
        assert!(ipt.contains("FORWARD\n# policy ACCEPT"), "{ipt}");
        for (toml, want) in [(&nft, "drop"), (&ipt, "accept")] {
            let table: toml::Table = toml.parse().unwrap();
            assert_eq!(table["firewall"]["forward"].as_str(), Some(want), "{toml}");
            assert_eq!(table["mode"].as_str(), Some("firewall"), "{toml}");
            let c = crate::load::parse(toml, std::path::Path::new("imported")).unwrap();
            assert_eq!(c.firewall.forward.to_string(), want);
        }
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

    #[test]
    fn knockd_interface_becomes_interfaces() {
        let conf = "[options]\nInterface = eth1\n[open]\nsequence = 7000,8000:udp,9000\ncommand = iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT\n";
        let out = import(conf).unwrap();
        let toml: toml::Table = out.parse().unwrap();
        assert_eq!(
            toml["interfaces"].as_array().unwrap()[0].as_str(),
            Some("eth1")
        );
        check(&out).unwrap();
        // Without Interface, knockd listened on eth0: said, not imposed.
        let out = import(&conf.replace("Interface = eth1\n", "")).unwrap();
        let toml: toml::Table = out.parse().unwrap();
        assert!(!toml.contains_key("interfaces"), "{out}");
        assert!(out.contains("# interfaces = [\"eth0\"]"), "{out}");
        // A name nfknock refuses is a comment, never a broken config.
        let out = import(&conf.replace("eth1", "eth\x1b[2J+")).unwrap();
        assert!(!out.contains("\ninterfaces"), "{out}");
        assert!(out.contains("nfknock cannot take"), "{out}");
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out}");
    }
}
