//! `nfknock config get/set`: read or change one key of nfknock.toml while
//! keeping its comments and layout (toml_edit). The Debian maintainer
//! scripts use it; a change that would make the config invalid is refused
//! and nothing is written.

use toml_edit::{Array, DocumentMut, Item, Table, Value, value};

use crate::config::{KeyKind, TABLES, key_kind};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("the config is not valid TOML: {0}")]
    Parse(String),
    #[error(
        "unknown key `{0}`: use KEY, TABLE.KEY (allow, firewall, log, notify) or door.NAME.KEY (door.0.KEY for the first door)"
    )]
    Key(String),
    #[error("`{key}` takes {what}, not `{value}`")]
    Value {
        key: String,
        what: &'static str,
        value: String,
    },
}

/// Where a key lives.
enum Path<'a> {
    Top(&'a str),
    Table(&'a str, &'a str),
    Door(&'a str, &'a str),
}

fn path(key: &str) -> Result<Path<'_>, Error> {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        [k] if !k.is_empty() && !TABLES.contains(k) && *k != "door" => Ok(Path::Top(k)),
        [t, k] if TABLES.contains(t) && !k.is_empty() => Ok(Path::Table(t, k)),
        ["door", d, k] if !d.is_empty() && !k.is_empty() => Ok(Path::Door(d, k)),
        _ => Err(Error::Key(key.to_string())),
    }
}

fn field(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

fn parse(text: &str) -> Result<DocumentMut, Error> {
    text.parse::<DocumentMut>()
        .map_err(|e| Error::Parse(e.to_string()))
}

fn door<'a>(doc: &'a DocumentMut, sel: &str) -> Option<&'a Table> {
    let doors = doc.get("door")?.as_array_of_tables()?;
    match sel.parse::<usize>() {
        Ok(i) => doors.get(i),
        Err(_) => doors
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(sel)),
    }
}

/// The value of KEY as text (lists space-separated), or None when unset.
pub fn get(text: &str, key: &str) -> Result<Option<String>, Error> {
    let doc = parse(text)?;
    let item = match path(key)? {
        Path::Top(k) => doc.get(k),
        Path::Table(t, k) => doc.get(t).and_then(|t| t.get(k)),
        Path::Door(d, k) => door(&doc, d).and_then(|t| t.get(k)),
    };
    Ok(item.and_then(|i| i.as_value()).map(show))
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.value().clone(),
        Value::Array(a) => a.iter().map(show).collect::<Vec<_>>().join(" "),
        other => other.to_string().trim().to_string(),
    }
}

/// The new config text with KEY set to VALUE; everything else as it was.
pub fn set(text: &str, key: &str, raw: &str) -> Result<String, Error> {
    let mut doc = parse(text)?;
    let name = field(key);
    let bad = |what| Error::Value {
        key: key.to_string(),
        what,
        value: raw.to_string(),
    };
    let new: Item = match key_kind(name) {
        // A list: VALUE split on spaces and commas.
        KeyKind::List => {
            let mut a = Array::new();
            for part in raw.split([' ', ',', '\t']).filter(|p| !p.is_empty()) {
                a.push(part);
            }
            value(a)
        }
        KeyKind::Bool => value(raw.parse::<bool>().map_err(|_| bad("true or false"))?),
        KeyKind::Integer => value(raw.parse::<i64>().map_err(|_| bad("a whole number"))?),
        KeyKind::Text => value(raw),
        // What `get` shows of a list (space-separated) sets it back.
        KeyKind::Ports => {
            let parts: Vec<&str> = raw
                .split([' ', ',', '\t'])
                .filter(|p| !p.is_empty())
                .collect();
            match parts[..] {
                [one] => value(one),
                _ => {
                    let mut a = Array::new();
                    parts.iter().for_each(|p| a.push(*p));
                    value(a)
                }
            }
        }
    };
    match path(key)? {
        Path::Top(k) => set_in(doc.as_table_mut(), k, new),
        Path::Table(t, k) => {
            if doc.get(t).is_none() {
                doc.insert(t, Item::Table(Table::new()));
            }
            let table = doc
                .get_mut(t)
                .and_then(|i| i.as_table_like_mut())
                .ok_or_else(|| Error::Key(key.to_string()))?;
            match table.get_mut(k) {
                Some(item) => keep_decor(item, new),
                None => {
                    table.insert(k, new);
                }
            }
        }
        Path::Door(d, k) => {
            if door(&doc, d).is_none() {
                // A new door by name; an index must exist.
                if d.parse::<usize>().is_ok() {
                    return Err(Error::Key(key.to_string()));
                }
                if doc.get("door").is_none() {
                    doc.insert("door", Item::ArrayOfTables(Default::default()));
                }
                let mut t = Table::new();
                t.insert("name", value(d));
                doc.get_mut("door")
                    .and_then(|i| i.as_array_of_tables_mut())
                    .ok_or_else(|| Error::Key(key.to_string()))?
                    .push(t);
            }
            let doors = doc
                .get_mut("door")
                .and_then(|i| i.as_array_of_tables_mut())
                .ok_or_else(|| Error::Key(key.to_string()))?;
            let table = match d.parse::<usize>() {
                Ok(i) => doors.get_mut(i),
                Err(_) => doors
                    .iter_mut()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(d)),
            }
            .ok_or_else(|| Error::Key(key.to_string()))?;
            set_in(table, k, new);
        }
    }
    Ok(doc.to_string())
}

fn set_in(table: &mut Table, key: &str, new: Item) {
    match table.get_mut(key) {
        Some(item) => keep_decor(item, new),
        None => {
            table.insert(key, new);
        }
    }
}

/// Replaces a value but keeps the comment and spacing around it.
fn keep_decor(item: &mut Item, new: Item) {
    let decor = item.as_value().map(|v| v.decor().clone());
    *item = new;
    if let (Some(decor), Some(v)) = (decor, item.as_value_mut()) {
        *v.decor_mut() = decor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# my comment stays
mode = "guard"   # and this one
[[door]]
name = "ssh"
port = "22/tcp"
sequence = ["1000/tcp", "2000/udp", "3000/tcp"]  # secret
[notify]
email_to = ["a@example.org"]
"#;

    #[test]
    fn gets_values() {
        assert_eq!(get(TEXT, "mode").unwrap().as_deref(), Some("guard"));
        assert_eq!(
            get(TEXT, "door.ssh.sequence").unwrap().as_deref(),
            Some("1000/tcp 2000/udp 3000/tcp")
        );
        assert_eq!(get(TEXT, "door.0.port").unwrap().as_deref(), Some("22/tcp"));
        assert_eq!(
            get(TEXT, "notify.email_to").unwrap().as_deref(),
            Some("a@example.org")
        );
        assert_eq!(get(TEXT, "backend").unwrap(), None);
        assert_eq!(get(TEXT, "door.web.port").unwrap(), None);
        assert!(matches!(get(TEXT, "a.b.c.d"), Err(Error::Key(_))));
        assert!(matches!(get(TEXT, "notify"), Err(Error::Key(_))));
    }

    #[test]
    fn sets_values_and_keeps_comments() {
        let t = set(TEXT, "door.0.sequence", "4000/udp 5000/tcp 6000/udp").unwrap();
        assert!(t.contains("# my comment stays"));
        assert!(t.contains("# secret"), "{t}");
        assert!(
            t.contains(r#"sequence = ["4000/udp", "5000/tcp", "6000/udp"]"#),
            "{t}"
        );
        let t = set(&t, "mode", "firewall").unwrap();
        assert!(t.contains("mode = \"firewall\"   # and this one"), "{t}");
        let t = set(&t, "backend", "iptables").unwrap();
        assert_eq!(get(&t, "backend").unwrap().as_deref(), Some("iptables"));
        let t = set(&t, "notify.email_to", "x@example.org, y@example.org").unwrap();
        assert_eq!(
            get(&t, "notify.email_to").unwrap().as_deref(),
            Some("x@example.org y@example.org")
        );
        let t = set(&t, "notify.email_to", "").unwrap();
        assert_eq!(get(&t, "notify.email_to").unwrap().as_deref(), Some(""));
        let t = set(&t, "notify.whois", "false").unwrap();
        assert!(t.contains("whois = false"));
        assert!(matches!(
            set(&t, "notify.whois", "maybe"),
            Err(Error::Value { .. })
        ));
    }

    #[test]
    fn new_tables_and_doors() {
        let t = set("", "door.ssh.port", "22/tcp").unwrap();
        let t = set(&t, "door.ssh.sequence", "1 2/udp 3").unwrap();
        assert!(
            t.contains("[[door]]\nname = \"ssh\"\nport = \"22/tcp\""),
            "{t}"
        );
        let t = set(&t, "log.prefix", "nfk").unwrap();
        assert!(t.contains("[log]\nprefix = \"nfk\""), "{t}");
        assert!(matches!(set(&t, "door.3.port", "22"), Err(Error::Key(_))));
        // A door of several ports reads back as it was, and one port is a
        // string again.
        let t = set(&t, "door.ssh.port", "22/tcp, 60000-61000/udp").unwrap();
        assert!(t.contains(r#"port = ["22/tcp", "60000-61000/udp"]"#), "{t}");
        let shown = get(&t, "door.ssh.port").unwrap().unwrap();
        assert_eq!(shown, "22/tcp 60000-61000/udp");
        assert_eq!(set(&t, "door.ssh.port", &shown).unwrap(), t);
        let t = set(&t, "door.ssh.port", "2222/tcp").unwrap();
        assert!(t.contains("port = \"2222/tcp\""), "{t}");
    }
}
