//! The watcher on the real pipeline: rules in a server namespace log to the
//! kernel, journald (standalone is fine) stores it, `nfknock watch` reads
//! it and mails a real SMTP server (aiosmtpd, Debian's python3-aiosmtpd)
//! on loopback. Nothing leaves the machine: no whois, no reverse DNS.
//!
//! Needs root, a journal socket and net.netfilter.nf_log_all_netns=1
//! (scripts/test.sh sets all up); without them the tests skip, unless
//! NFKNOCK_REQUIRE_NETNS=1 makes that a failure.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Family, Host, KNOCKS, Lab, text, wait_until};

const MAIL_WAIT: Duration = Duration::from_secs(15);
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn journal_ready() -> bool {
    let socket = Path::new("/run/systemd/journal/socket").exists();
    let all_netns = std::fs::read_to_string("/proc/sys/net/netfilter/nf_log_all_netns")
        .is_ok_and(|v| v.trim() == "1");
    let ok = socket && all_netns && common::netns_available();
    if !ok {
        let why = "needs journald's socket, nf_log_all_netns=1 and network namespaces (see scripts/test.sh)";
        if std::env::var("NFKNOCK_REQUIRE_NETNS").as_deref() == Ok("1") {
            panic!("{why}");
        }
        eprintln!("skipped: {why}");
    }
    ok
}

/// A real SMTP server writing to a Maildir.
struct Smtp {
    child: Option<Child>,
    port: u16,
    maildir: PathBuf,
}

impl Smtp {
    fn new(dir: &Path) -> Smtp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = dir.join("maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let mut s = Smtp {
            child: None,
            port,
            maildir,
        };
        s.start();
        s
    }

    fn start(&mut self) {
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd (package python3-aiosmtpd)");
        self.child = Some(child);
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
        assert!(up.is_some(), "aiosmtpd did not start");
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn mails(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.maildir.join("new"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    }

    fn wait_for(&self, n: usize) -> Vec<String> {
        wait_until(MAIL_WAIT, || self.mails().len() >= n);
        self.mails()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `nfknock watch` as systemd would run it: Type=notify, a state directory.
struct Watcher {
    child: Child,
}

impl Watcher {
    fn start(config: &Path, state: &Path, extra: &[&str]) -> Watcher {
        let sock_path = state.with_extension("notify");
        let _ = std::fs::remove_file(&sock_path);
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let child = Command::new(common::NFKNOCK)
            .arg("-c")
            .arg(config)
            .arg("watch")
            .args(extra)
            .env("STATE_DIRECTORY", state)
            .env("NOTIFY_SOCKET", &sock_path)
            .spawn()
            .unwrap();
        let mut buf = [0u8; 64];
        let n = sock.recv(&mut buf).expect("the watcher never said READY=1");
        assert_eq!(&buf[..n], b"READY=1");
        Watcher { child }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup {
    lab: Lab,
    smtp: Smtp,
    config: PathBuf,
    state: PathBuf,
    prefix: String,
}

/// A lab whose rules log with a prefix of this test's own, and the
/// watcher's config for it.
fn setup(family: Family, notify_extra: &str) -> Option<Setup> {
    if !journal_ready() {
        return None;
    }
    let lab = Lab::new(family)?;
    let prefix = format!(
        "nfkw{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let smtp = Smtp::new(lab.dir.path());
    let notify = format!(
        r#"[log]
prefix = "{prefix}"
[notify]
events = ["knock", "transient"]
email_to = ["admin@example.org"]
email_from = "nfknock@example.org"
smtp = "smtp://127.0.0.1:{port}"
whois = false
reverse_dns = false
{notify_extra}
"#,
        port = smtp.port
    );
    let text = common::one_door_config("nftables", &notify);
    let config = lab.config("nfknock.toml", &text);
    lab.apply(&config);
    let state = lab.dir.path().join("watch-state");
    Some(Setup {
        lab,
        smtp,
        config,
        state,
        prefix,
    })
}

fn knock_is_mailed_with_source_and_door(family: Family) {
    let Some(s) = setup(family, "") else { return };
    let _w = Watcher::start(&s.config, &s.state, &[]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:?}");
    // IPv6 sources come out compressed (the kernel prints them in full).
    let source = Host::Client.addr(family).to_string();
    assert!(
        mails[0].contains(&format!("knock from {source} (door ssh)")),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains("To: admin@example.org"));
}

family_tests!(knock_is_mailed_with_source_and_door);

#[test]
fn forged_and_garbage_lines_mail_nothing() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    let mut w = Watcher::start(&s.config, &s.state, &[]);
    let forged = format!(
        "{}: knock door=ssh IN=eth0 SRC=198.51.100.66 DST=192.0.2.1",
        s.prefix
    );
    let out = Command::new("logger")
        .args(["-t", "kernel", &forged])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = Command::new("systemd-cat")
        .args(["-t", "kernel", "echo", &forged])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Garbage with the prefix, straight into the kernel's log.
    for junk in [
        format!("{}: knock door=ssh", s.prefix),
        format!("{}: \u{1}\u{2} door=../../etc SRC=$(reboot)", s.prefix),
        format!("<0>{}: knock door=ssh SRC=198.51.100.67", s.prefix),
    ] {
        std::fs::write("/dev/kmsg", junk.as_bytes()).unwrap();
    }
    // A real knock afterwards proves the watcher read past all of it.
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let mails = s.smtp.wait_for(1);
    std::thread::sleep(Duration::from_millis(500));
    let mails_after = s.smtp.mails();
    assert_eq!(mails_after.len(), 1, "{mails:?}");
    assert!(
        mails_after[0].contains("knock from 192.0.2.2"),
        "{}",
        mails_after[0]
    );
    assert!(w.alive(), "the watcher died");
}

#[test]
fn restart_neither_loses_nor_repeats_a_mail() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    let w = Watcher::start(&s.config, &s.state, &[]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    assert_eq!(s.smtp.wait_for(1).len(), 1);
    drop(w);
    // This knock happens while no watcher runs.
    s.lab.knock(Host::Attacker, &KNOCKS, "20ms");
    let _w = Watcher::start(&s.config, &s.state, &[]);
    let mails = s.smtp.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails.iter().any(|m| m.contains("knock from 192.0.2.3")));
    // And nothing comes twice.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(s.smtp.mails().len(), 2);
}

#[test]
fn mail_waits_in_the_spool_while_the_server_is_down() {
    let Some(mut s) = setup(Family::V4, "") else {
        return;
    };
    s.smtp.stop();
    let _w = Watcher::start(&s.config, &s.state, &[]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let spool = s.state.join("spool");
    let spooled = wait_until(MAIL_WAIT, || {
        std::fs::read_dir(&spool).is_ok_and(|d| d.count() > 0)
    });
    assert!(spooled.is_some(), "nothing was spooled");
    s.smtp.start();
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "the spooled mail never arrived");
    assert!(mails[0].contains("knock from 192.0.2.2"));
    let emptied = wait_until(MAIL_WAIT, || {
        std::fs::read_dir(&spool).is_ok_and(|d| d.count() == 0)
    });
    assert!(emptied.is_some(), "the spool kept a sent mail");
}

#[test]
fn a_flood_stays_within_the_budget_plus_a_digest() {
    let Some(s) = setup(Family::V4, "max_mails_per_hour = 2\ndigest_delay = \"2s\"") else {
        return;
    };
    let _w = Watcher::start(&s.config, &s.state, &[]);
    for _ in 0..5 {
        s.lab.knock(Host::Client, &KNOCKS, "20ms");
    }
    let mails = s.smtp.wait_for(3);
    std::thread::sleep(Duration::from_secs(1));
    let mails_after = s.smtp.mails();
    assert_eq!(mails_after.len(), 3, "{mails:?}");
    let digest = mails_after
        .iter()
        .find(|m| m.contains("(digest)"))
        .expect("a digest");
    assert!(digest.contains("3 more nfknock events"), "{digest}");
}

#[test]
fn journal_dir_reads_a_directory_of_journal_files() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    let machine = std::fs::read_to_string("/etc/machine-id").unwrap();
    let dir = format!("/run/log/journal/{}", machine.trim());
    if !Path::new(&dir).exists() {
        panic!("no runtime journal directory {dir}");
    }
    let _w = Watcher::start(&s.config, &s.state, &["--journal-dir", &dir]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1);
    // Mails name the host the event came from.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        mails[0].contains(&format!("Subject: {}: knock from", host.trim())),
        "{}",
        mails[0]
    );
}

#[test]
fn notify_test_sends_or_says_why_not() {
    let Some(mut s) = setup(Family::V4, "") else {
        return;
    };
    let run = || {
        Command::new(common::NFKNOCK)
            .arg("-c")
            .arg(&s.config)
            .arg("notify-test")
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(s.smtp.wait_for(1)[0].contains("nfknock test mail"));
    s.smtp.stop();
    let out = Command::new(common::NFKNOCK)
        .arg("-c")
        .arg(&s.config)
        .arg("notify-test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("did not take the test mail"),
        "{}",
        text(&out.stderr)
    );
}

/// A whois server on loopback, answering like a RIR: the watcher's
/// lookup goes there, never outside.
fn whois_responder() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut query = String::new();
            let _ = BufReader::new(&conn).read_line(&mut query);
            let answer = format!(
                "% test whois for {}\ninetnum: 192.0.2.0 - 192.0.2.255\norg-name: Documentation Org\ncountry: ZZ\n",
                query.trim()
            );
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn mails_carry_a_whois_summary() {
    let port = whois_responder();
    let extra = format!("whois_server = \"127.0.0.1:{port}\"");
    // TOML refuses duplicate keys: turn the setup's `whois = false` on.
    let Some(s) = setup(Family::V4, &extra) else {
        return;
    };
    let text = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("whois = false", "whois = true");
    std::fs::write(&s.config, text).unwrap();
    let _w = Watcher::start(&s.config, &s.state, &[]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1);
    for part in [
        "organisation: Documentation Org",
        "country: ZZ",
        "network: 192.0.2.0 - 192.0.2.255",
    ] {
        assert!(mails[0].contains(part), "{part}:\n{}", mails[0]);
    }
}

#[test]
fn transient_acceptances_are_mailed() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    let _w = Watcher::start(&s.config, &s.state, &[]);
    let out = s
        .lab
        .nfknock(Host::Server, &["transient", "add", "192.0.2.3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    s.lab.listen_tcp(22);
    assert_eq!(s.lab.probe_tcp(Host::Attacker, 22), common::Probe::Open);
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("transient network: 192.0.2.3 connected to port 22"),
        "{}",
        mails[0]
    );
}
