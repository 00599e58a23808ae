//! The watcher on the real pipeline: rules in a server namespace log to the
//! kernel, journald (standalone is fine) stores it, `nfknock watch` reads
//! it and mails a real SMTP server (aiosmtpd, Debian's python3-aiosmtpd).
//! The watcher, the SMTP server and every responder run inside the server
//! namespace, on its own loopback, as the watcher runs on a real host: in
//! the namespace whose firewall it watches. Nothing leaves the machine: no
//! whois, no reverse DNS, no mail but to loopback.
//!
//! Needs root, a journal socket and net.netfilter.nf_log_all_netns=1 (the
//! kernel logs a namespace other than the host's only then; scripts/test.sh
//! sets all up); without them the tests skip, unless NFKNOCK_REQUIRE_NETNS=1
//! makes that a failure.

mod common;

use std::fs::File;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Family, Host, KNOCKS, Lab, text, wait_until};
use nix::sched::{CloneFlags, setns};

const MAIL_WAIT: Duration = Duration::from_secs(15);
/// The SMTP server's port, on the server namespace's loopback.
const SMTP_PORT: u16 = 25;
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

/// Runs `f` on a thread inside the network namespace `ns`.
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = File::open(&path).expect("open netns");
            setns(fd, CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("thread in namespace")
    })
}

/// An aiosmtpd handler that refuses, as a server refuses a message too
/// big, every message containing a marker, and stores the others.
const REFUSING_HANDLER: &str = r#"
from aiosmtpd.handlers import Mailbox

class Refusing(Mailbox):
    def __init__(self, maildir, marker):
        super().__init__(maildir)
        self.marker = marker.encode()

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0], args[1])

    async def handle_DATA(self, server, session, envelope):
        if self.marker in envelope.original_content:
            return "552 5.3.4 Message refused by the test server"
        return await super().handle_DATA(server, session, envelope)
"#;

/// A real SMTP server writing to a Maildir, on the server namespace's
/// loopback.
struct Smtp {
    child: Option<Child>,
    ns: String,
    dir: PathBuf,
    maildir: PathBuf,
    /// Refuse (552) the messages that contain this.
    refuse: Option<String>,
}

impl Smtp {
    fn new(lab: &Lab) -> Smtp {
        let dir = lab.dir.path().to_path_buf();
        let maildir = dir.join("maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let mut s = Smtp {
            child: None,
            ns: lab.ns(Host::Server),
            dir,
            maildir,
            refuse: None,
        };
        s.start();
        s
    }

    fn start(&mut self) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .args(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{SMTP_PORT}"));
        match &self.refuse {
            None => {
                cmd.args(["-c", "aiosmtpd.handlers.Mailbox"])
                    .arg(&self.maildir);
            }
            Some(marker) => {
                std::fs::write(self.dir.join("refusing.py"), REFUSING_HANDLER).unwrap();
                cmd.env("PYTHONPATH", &self.dir)
                    .args(["-c", "refusing.Refusing"])
                    .arg(&self.maildir)
                    .arg(marker);
            }
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd (package python3-aiosmtpd)");
        self.child = Some(child);
        let up = wait_until(Duration::from_secs(10), || {
            in_netns(&self.ns, || {
                std::net::TcpStream::connect(("127.0.0.1", SMTP_PORT)).is_ok()
            })
        });
        assert!(up.is_some(), "aiosmtpd did not start");
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// From now on, refuse with 552 every message that contains `marker`.
    fn refuse(&mut self, marker: &str) {
        self.stop();
        self.refuse = Some(marker.to_string());
        self.start();
    }

    /// The mails received, in order (Maildir's names do not sort by time
    /// within a second: their microseconds are not zero-padded).
    fn mails(&self) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(self.maildir.join("new"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .map(|p| (p.metadata().unwrap().modified().unwrap(), p))
                .collect();
        files.sort();
        let files: Vec<PathBuf> = files.into_iter().map(|(_, p)| p).collect();
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

/// `nfknock watch` as systemd would run it (Type=notify, a state
/// directory), inside the server's network namespace.
struct Watcher {
    child: Child,
    log: PathBuf,
}

/// How to start a watcher, beyond the usual.
#[derive(Default)]
struct Start<'a> {
    /// Shell commands run first in a private mount namespace of the
    /// watcher's own (mounts there leave the machine untouched).
    setup: Option<&'a str>,
    /// More environment.
    env: &'a [(&'a str, &'a str)],
    /// In the machine's own network namespace rather than the server's
    /// (the watcher only reads the journal: nothing changes there).
    host_netns: bool,
}

impl Watcher {
    fn start(s: &Setup, extra: &[&str]) -> Watcher {
        Watcher::start_with(s, extra, Start::default())
    }

    fn start_with(s: &Setup, extra: &[&str], how: Start<'_>) -> Watcher {
        let state = &s.state;
        let sock_path = state.with_extension("notify");
        let _ = std::fs::remove_file(&sock_path);
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let log = s
            .lab
            .dir
            .path()
            .join(format!("watch-{}.log", NEXT.fetch_add(1, Ordering::SeqCst)));
        let mut argv: Vec<String> = Vec::new();
        if !how.host_netns {
            argv.extend(["ip", "netns", "exec"].map(String::from));
            argv.push(s.lab.ns(Host::Server));
        }
        if let Some(script) = how.setup {
            argv.extend(["unshare", "--mount", "--propagation", "private"].map(String::from));
            argv.extend([
                "sh".into(),
                "-ec".into(),
                format!("{script}\nexec \"$@\""),
                "sh".into(),
            ]);
        }
        argv.push(common::NFKNOCK.into());
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .arg("-c")
            .arg(&s.config)
            .arg("watch")
            .args(extra)
            .env("STATE_DIRECTORY", state)
            .env("NOTIFY_SOCKET", &sock_path)
            .env_remove("JOURNAL_STREAM")
            .envs(how.env.iter().copied())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut buf = [0u8; 64];
        let n = sock.recv(&mut buf).unwrap_or_else(|e| {
            panic!(
                "the watcher never said READY=1 ({e}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        assert_eq!(&buf[..n], b"READY=1");
        Watcher { child, log }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until it has handled `n` events in all (the cursor is past
    /// them then): a test may stop it without a race.
    fn wait_handled(&self, n: usize) {
        let done = wait_until(MAIL_WAIT, || {
            self.log().matches(" (door ssh): ").count() >= n
        });
        assert!(done.is_some(), "{}", self.log());
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
    let smtp = Smtp::new(&lab);
    let notify = format!(
        r#"[log]
prefix = "{prefix}"
[notify]
events = ["knock", "transient"]
email_to = ["admin@example.org"]
email_from = "nfknock@example.org"
smtp = "smtp://127.0.0.1:{SMTP_PORT}"
whois = false
reverse_dns = false
{notify_extra}
"#
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
    let _w = Watcher::start(&s, &[]);
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
    // Which door opened for whom, never a knock: the last one completed
    // the sequence (neither a `port:` line nor the kernel line's DPT=).
    for k in KNOCKS {
        let port = k.split(['/', ':']).next().unwrap();
        // (The body is quoted-printable: `=` is `=3D`.)
        for quoted in [
            format!("DPT=3D{port}"),
            format!("{port}/"),
            format!(" {port}\n"),
        ] {
            assert!(!mails[0].contains(&quoted), "{k} in:\n{}", mails[0]);
        }
    }
    assert!(mails[0].contains("DPT=3D(hidden)"), "{}", mails[0]);
}

family_tests!(knock_is_mailed_with_source_and_door);

#[test]
fn forged_and_garbage_lines_mail_nothing() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    let mut w = Watcher::start(&s, &[]);
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
    let w = Watcher::start(&s, &[]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    assert_eq!(s.smtp.wait_for(1).len(), 1);
    w.wait_handled(1);
    drop(w);
    // This knock happens while no watcher runs.
    s.lab.knock(Host::Attacker, &KNOCKS, "20ms");
    let _w = Watcher::start(&s, &[]);
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
    let _w = Watcher::start(&s, &[]);
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
    let _w = Watcher::start(&s, &[]);
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
    let _w = Watcher::start(&s, &["--journal-dir", &dir]);
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
    let config = s.config.to_str().unwrap().to_string();
    let run = || s.lab.nfknock(Host::Server, &["-c", &config, "notify-test"]);
    let out = run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(s.smtp.wait_for(1)[0].contains("nfknock test mail"));
    s.smtp.stop();
    let out = run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("did not take the test mail"),
        "{}",
        text(&out.stderr)
    );
}

/// A whois server on the server namespace's loopback at `port`,
/// answering like a RIR with `answer(query)`: the watcher's lookups go
/// there, never outside. Returns the queries it got.
fn whois_responder(
    s: &Setup,
    port: u16,
    answer: fn(&str) -> String,
) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{BufRead, BufReader, Write};
    let listener = in_netns(&s.lab.ns(Host::Server), || {
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap()
    });
    let queries = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = queries.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut query = String::new();
            let _ = BufReader::new(&conn).read_line(&mut query);
            seen.lock().unwrap().push(query.trim().to_string());
            let _ = conn.write_all(answer(query.trim()).as_bytes());
        }
    });
    queries
}

fn rir_answer(query: &str) -> String {
    format!(
        "% test whois for {query}\ninetnum: 192.0.2.0 - 192.0.2.255\norg-name: Documentation Org\ncountry: ZZ\n"
    )
}

/// Changes a line of the setup's config (TOML refuses duplicate keys).
fn edit_config(s: &Setup, from: &str, to: &str) {
    let text = std::fs::read_to_string(&s.config).unwrap();
    assert!(text.contains(from), "{from} not in\n{text}");
    std::fs::write(&s.config, text.replace(from, to)).unwrap();
}

/// Turns the setup's `whois = false` on.
fn whois_on(s: &Setup) {
    edit_config(s, "whois = false", "whois = true");
}

#[test]
fn mails_carry_a_whois_summary() {
    let Some(s) = setup(Family::V4, "whois_server = \"127.0.0.1\"") else {
        return;
    };
    whois_on(&s);
    whois_responder(&s, 43, rir_answer);
    let _w = Watcher::start(&s, &[]);
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
    let _w = Watcher::start(&s, &[]);
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

/// The files in a directory (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// CPU time (user + system) a process used so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name in parentheses: state is field 3, utime 14.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A mail the server refuses for good (552, as for a message too big) is
/// set aside with an error, and the next mail goes at once.
#[test]
fn a_refused_mail_is_set_aside_and_jams_nothing() {
    let Some(mut s) = setup(Family::V4, "") else {
        return;
    };
    s.smtp.refuse("knock from 192.0.2.2 ");
    let mut w = Watcher::start(&s, &[]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let refused = s.state.join("spool/refused");
    let aside = wait_until(MAIL_WAIT, || files(&refused).len() == 1);
    assert!(aside.is_some(), "not set aside:\n{}", w.log());
    assert!(
        std::fs::read_to_string(&files(&refused)[0])
            .unwrap()
            .contains("knock from 192.0.2.2 "),
    );
    assert!(
        w.log().contains("refused the mail") && w.log().contains("552"),
        "{}",
        w.log()
    );
    s.lab.knock(Host::Attacker, &KNOCKS, "20ms");
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "the refused mail jams the next one");
    assert!(mails[0].contains("knock from 192.0.2.3 "), "{}", mails[0]);
    assert!(files(&s.state.join("spool")).is_empty());
    assert!(w.alive());
}

/// While mails wait for a dead server, the watcher sleeps until the first
/// one's retry: a later mail due sooner must not make it spin.
#[test]
fn a_waiting_spool_costs_no_cpu() {
    let Some(mut s) = setup(Family::V4, "") else {
        return;
    };
    s.smtp.stop();
    let w = Watcher::start(&s, &[]);
    let spool = s.state.join("spool");
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let first = wait_until(MAIL_WAIT, || files(&spool).len() == 1);
    assert!(first.is_some(), "nothing was spooled:\n{}", w.log());
    let since_first = std::time::Instant::now();
    s.lab.knock(Host::Attacker, &KNOCKS, "20ms");
    assert!(wait_until(MAIL_WAIT, || files(&spool).len() == 2).is_some());
    // The first retry (after 2 s) fails and waits 4 s more, while the
    // second mail is due: measure in between.
    std::thread::sleep(Duration::from_millis(2500).saturating_sub(since_first.elapsed()));
    let before = cpu_ticks(w.pid());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(w.pid()) - before;
    // Clock ticks are 1/100 s: 3 s of a spin would be ~300.
    assert!(
        used <= 15,
        "the watcher used {used} ticks in 3 s while waiting"
    );
    s.smtp.start();
    let mails = s.smtp.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails[0].contains("knock from 192.0.2.2 "), "in order");
    assert!(mails[1].contains("knock from 192.0.2.3 "), "in order");
}

/// Runs a command in the mount namespace of a process.
fn in_mounts_of(pid: u32, cmd: &[&str]) {
    let run = || {
        Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-m", "--"])
            .args(cmd)
            .output()
            .unwrap()
    };
    let mut out = run();
    // A remount read-only fails (busy) while a file is open for writing:
    // the watcher saves its cursor past other tests' kernel messages too.
    if !out.status.success() && text(&out.stderr).contains("busy") {
        wait_until(Duration::from_secs(5), || {
            out = run();
            out.status.success()
        });
    }
    assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
}

/// The state directory turns read-only (a full disk alike: the cursor
/// cannot be saved) after a mail was sent: the watcher carries on, saves
/// the cursor once it can, and a restart repeats no mail. The mount is
/// the watcher's own (a private mount namespace): the machine is untouched.
#[test]
fn a_read_only_state_directory_repeats_no_mail() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    std::fs::create_dir_all(&s.state).unwrap();
    let state = s.state.to_str().unwrap();
    let setup = format!("mount --bind '{state}' '{state}'");
    let mut w = Watcher::start_with(
        &s,
        &[],
        Start {
            setup: Some(&setup),
            ..Start::default()
        },
    );
    in_mounts_of(w.pid(), &["mount", "-o", "remount,bind,ro", state]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    assert_eq!(s.smtp.wait_for(1).len(), 1);
    let said = wait_until(MAIL_WAIT, || {
        w.log().contains("cannot save the journal cursor")
    });
    assert!(said.is_some(), "{}", w.log());
    assert!(w.log().contains("Read-only file system"), "{}", w.log());
    assert!(w.alive(), "the watcher exited:\n{}", w.log());
    s.lab.knock(Host::Attacker, &KNOCKS, "20ms");
    assert_eq!(s.smtp.wait_for(2).len(), 2);
    assert!(w.alive(), "the watcher exited:\n{}", w.log());
    // The disk comes back: the cursor is saved without a new event.
    in_mounts_of(w.pid(), &["mount", "-o", "remount,bind,rw", state]);
    let saved = wait_until(MAIL_WAIT, || w.log().contains("saved the journal cursor"));
    assert!(saved.is_some(), "{}", w.log());
    drop(w);
    let w = Watcher::start(&s, &[]);
    std::thread::sleep(Duration::from_secs(2));
    let mails = s.smtp.mails();
    assert_eq!(mails.len(), 2, "a restart repeated a mail:\n{}", w.log());
}

/// The hourly budget is kept in the state directory: a restart does not
/// give a new one.
#[test]
fn the_hourly_budget_survives_a_restart() {
    let Some(s) = setup(Family::V4, "max_mails_per_hour = 1\ndigest_delay = \"1s\"") else {
        return;
    };
    let w = Watcher::start(&s, &[]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    assert_eq!(s.smtp.wait_for(1).len(), 1);
    w.wait_handled(1);
    drop(w);
    let _w = Watcher::start(&s, &[]);
    s.lab.knock(Host::Attacker, &KNOCKS, "20ms");
    let mails = s.smtp.wait_for(2);
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1].contains("1 more nfknock events (digest)"),
        "the budget was reset:\n{}",
        mails[1]
    );
}

/// A corrupt cursor file is named, set aside, and the watcher starts at
/// the end of the journal instead of exiting at every start.
#[test]
fn a_corrupt_cursor_is_set_aside() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    std::fs::create_dir_all(&s.state).unwrap();
    let cursor = s.state.join("cursor");
    std::fs::write(&cursor, "s=torn;i=\n").unwrap();
    let mut w = Watcher::start(&s, &[]);
    let log = w.log();
    assert!(
        log.contains(&format!("journal cursor in {}", cursor.display()))
            && log.contains("cursor.bad"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(s.state.join("cursor.bad")).unwrap(),
        "s=torn;i=\n"
    );
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    assert_eq!(s.smtp.wait_for(1).len(), 1);
    assert!(w.alive());
    assert_ne!(std::fs::read_to_string(&cursor).unwrap(), "s=torn;i=\n");
}

/// Lines with nfknock's prefix logged by another network namespace (the
/// client's, standing for any user's own namespace: with
/// nf_log_all_netns=1 they reach the same kernel log) are not the
/// server's: the watcher, which runs in the server's, mails none of them.
#[test]
fn a_line_from_another_network_namespace_mails_nothing() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    let mut w = Watcher::start(&s, &[]);
    let forge = s.lab.config(
        "forge.nft",
        &format!(
            "table inet forge {{\n\tchain input {{\n\t\ttype filter hook input priority -10; policy accept;\n\t\tudp dport {{ 9, 10 }} log prefix \"{}: knock door=ssh \" level info\n\t}}\n}}\n",
            s.prefix
        ),
    );
    let out = s
        .lab
        .run(Host::Client, &["nft", "-f", forge.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // On the client's eth0 (a name the server has too), to the client's
    // address; and on loopback.
    s.lab.in_ns(Host::Attacker, || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.send_to(b"x", "192.0.2.2:9").unwrap();
    });
    s.lab.in_ns(Host::Client, || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(b"x", "127.0.0.1:10").unwrap();
    });
    let ignored = wait_until(MAIL_WAIT, || {
        !s.smtp.mails().is_empty() || w.log().matches("not of this network namespace").count() >= 2
    });
    assert!(
        ignored.is_some(),
        "the forged lines were not seen:\n{}",
        w.log()
    );
    for why in [
        "its destination 192.0.2.2 is not an address of this network namespace",
        "it came in on loopback",
    ] {
        assert!(w.log().contains(why), "{why}:\n{}", w.log());
    }
    // A real knock afterwards proves the watcher read past them.
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    s.smtp.wait_for(1);
    std::thread::sleep(Duration::from_millis(500));
    let mails = s.smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("knock from 192.0.2.2 "), "{}", mails[0]);
    assert!(w.alive());
}

/// With nf_log_all_netns=1 (as the watcher suite needs) a watcher in the
/// machine's first network namespace says so loudly at start; one in a
/// namespace of its own cannot read the sysctl and says nothing.
#[test]
fn the_watcher_warns_when_every_namespace_logs() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    let host = Watcher::start_with(
        &s,
        &[],
        Start {
            host_netns: true,
            ..Start::default()
        },
    );
    let warning = "WARNING: /proc/sys/net/netfilter/nf_log_all_netns is 1";
    assert!(host.log().contains(warning), "{}", host.log());
    drop(host);
    let own = Watcher::start(&s, &[]);
    assert!(!own.log().contains(warning), "{}", own.log());
}

/// A DNS server on the server namespace's loopback (port 53, UDP) that
/// answers every question NXDOMAIN and keeps the names asked.
fn dns_responder(s: &Setup) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let sock = in_netns(&s.lab.ns(Host::Server), || {
        std::net::UdpSocket::bind("127.0.0.1:53").unwrap()
    });
    let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = names.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut labels = Vec::new();
            let mut i = 12;
            while i < n && buf[i] != 0 {
                let len = buf[i] as usize;
                let end = (i + 1 + len).min(n);
                labels.push(String::from_utf8_lossy(&buf[i + 1..end]).into_owned());
                i = end;
            }
            seen.lock().unwrap().push(labels.join("."));
            // The question back, as a response: NXDOMAIN.
            let mut answer = buf[..n].to_vec();
            answer[2] |= 0x80;
            answer[3] = 0x80 | 3;
            let _ = sock.send_to(&answer, from);
        }
    });
    names
}

/// A reset is logged only for a source inside a sequence: looking its
/// source up (PTR to the source's own reverse zone, whois) would tell a
/// knocker which candidate knock was right. Resets are mailed without any
/// lookup; knocks still get theirs.
#[test]
fn a_reset_asks_no_lookup() {
    let Some(s) = setup(Family::V4, "whois_server = \"127.0.0.1\"") else {
        return;
    };
    whois_on(&s);
    edit_config(&s, "reverse_dns = false", "reverse_dns = true");
    edit_config(
        &s,
        "events = [\"knock\", \"transient\"]",
        "events = [\"knock\", \"reset\"]",
    );
    let whois = whois_responder(&s, 43, rir_answer);
    let dns = dns_responder(&s);
    let resolv = s.lab.config("resolv.conf", "nameserver 127.0.0.1\n");
    let setup = format!("mount --bind '{}' /etc/resolv.conf", resolv.display());
    let _w = Watcher::start_with(
        &s,
        &[],
        Start {
            setup: Some(&setup),
            ..Start::default()
        },
    );
    // The first knock, then a wrong one: a reset.
    s.lab
        .knock(Host::Attacker, &[KNOCKS[0], "4444/tcp"], "20ms");
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("knock sequence reset by 192.0.2.3 "),
        "{}",
        mails[0]
    );
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let mails = s.smtp.wait_for(2);
    assert_eq!(mails.len(), 2);
    assert!(mails[1].contains("country: ZZ"), "{}", mails[1]);
    let asked = dns.lock().unwrap().clone();
    assert!(
        asked.iter().any(|n| n == "2.2.0.192.in-addr.arpa"),
        "the knock was not looked up: {asked:?}"
    );
    assert!(
        !asked.iter().any(|n| n.contains("3.2.0.192")),
        "the reset was looked up: {asked:?}"
    );
    let whois = whois.lock().unwrap().clone();
    assert_eq!(whois, ["192.0.2.2"]);
}

/// A whois answer is plain text anyone on the path can write: its
/// referral is followed only to port 43 of a host name (not to any
/// `host:port`), and invisible Unicode format characters (U+202E turns
/// text around on screen) never reach the mail.
#[test]
fn whois_answers_cannot_steer_the_watcher() {
    let Some(s) = setup(Family::V4, "whois_server = \"127.0.0.1\"") else {
        return;
    };
    whois_on(&s);
    whois_responder(&s, 43, |_| {
        "refer: 127.0.0.1:4343\norg-name: Evil\u{202e}gro.elpmaxe\u{200b} Ltd\ncountry: ZZ\n".into()
    });
    let referred = whois_responder(&s, 4343, rir_answer);
    let _w = Watcher::start(&s, &[]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1);
    assert!(
        referred.lock().unwrap().is_empty(),
        "the referral to 127.0.0.1:4343 was followed"
    );
    assert!(
        mails[0].contains("organisation: Evilgro.elpmaxe Ltd\n"),
        "{}",
        mails[0]
    );
}

/// Each event handled is a journal entry of the watcher's own, with fields:
/// `journalctl NFKNOCK_EVENT=knock` says who got in without the mail.
#[test]
fn each_event_is_a_journal_entry_with_fields() {
    let Some(mut s) = setup(Family::V4, "") else {
        return;
    };
    s.smtp.refuse("knock from 192.0.2.3 ");
    // As under systemd: the watcher logs to the journal.
    let w = Watcher::start_with(
        &s,
        &[],
        Start {
            env: &[("JOURNAL_STREAM", "0:0")],
            ..Start::default()
        },
    );
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    s.lab.knock(Host::Attacker, &KNOCKS, "20ms");
    assert_eq!(s.smtp.wait_for(1).len(), 1);
    let pid = format!("_PID={}", w.pid());
    let entries = || {
        let out = Command::new("journalctl")
            .args(["--no-pager", "-o", "json", &pid, "NFKNOCK_EVENT=knock"])
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    wait_until(MAIL_WAIT, || entries().len() >= 2);
    let entries = entries();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let field = |i: usize, name: &str| entries[i][name].as_str().unwrap_or_default().to_string();
    for (i, source, mail) in [(0, "192.0.2.2", "sent"), (1, "192.0.2.3", "refused")] {
        assert_eq!(field(i, "NFKNOCK_SOURCE"), source, "{entries:?}");
        assert_eq!(field(i, "NFKNOCK_DOOR"), "ssh");
        assert_eq!(field(i, "NFKNOCK_MAIL"), mail);
        assert_eq!(field(i, "SYSLOG_IDENTIFIER"), "nfknock");
        assert!(
            field(i, "MESSAGE").starts_with(&format!("knock from {source} (door ssh): ")),
            "{entries:?}"
        );
    }
}

/// A full state directory (a 256 kB tmpfs of the watcher's own, filled up)
/// after a mail was sent: the watcher carries on and mails the next event
/// once, and saves the cursor when space comes back.
#[test]
fn a_full_state_directory_repeats_no_mail() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    std::fs::create_dir_all(&s.state).unwrap();
    let state = s.state.to_str().unwrap();
    let setup = format!("mount -t tmpfs -o size=256k nfknock-test '{state}'");
    let mut w = Watcher::start_with(
        &s,
        &[],
        Start {
            setup: Some(&setup),
            ..Start::default()
        },
    );
    let fill = format!("cat /dev/zero > '{state}/fill' 2>/dev/null || true");
    in_mounts_of(w.pid(), &["sh", "-c", &fill]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    assert_eq!(s.smtp.wait_for(1).len(), 1);
    let said = wait_until(MAIL_WAIT, || w.log().contains("No space left on device"));
    assert!(said.is_some(), "{}", w.log());
    assert!(w.alive(), "the watcher exited:\n{}", w.log());
    s.lab.knock(Host::Attacker, &KNOCKS, "20ms");
    assert_eq!(s.smtp.wait_for(2).len(), 2);
    in_mounts_of(w.pid(), &["rm", &format!("{state}/fill")]);
    let saved = wait_until(MAIL_WAIT, || w.log().contains("saved the journal cursor"));
    assert!(saved.is_some(), "{}", w.log());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.smtp.mails().len(), 2, "a mail came twice");
    assert!(w.alive());
}

/// Addresses come and go: a knock to an address the server got after the
/// watcher started is its own, and mailed.
#[test]
fn a_knock_to_an_address_added_later_is_mailed() {
    let Some(s) = setup(Family::V4, "") else {
        return;
    };
    let _w = Watcher::start(&s, &[]);
    let out = s.lab.run(
        Host::Server,
        &["ip", "addr", "add", "192.0.2.10/24", "dev", "eth0"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut cmd = vec![common::NFKNOCK, "knock", "192.0.2.10", "--delay", "20ms"];
    cmd.extend_from_slice(&KNOCKS);
    let out = s.lab.run(Host::Client, &cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("destination: 192.0.2.10"), "{}", mails[0]);
}

/// What nfknock-watch.service's credential is: `nfknock watch-view`'s
/// output, handed over a socket connection as systemd's LoadCredential=
/// of nfknock-watch-view.socket reads it (systemd-socket-activate runs
/// the command on the connection, as the socket's Accept=yes does).
fn view_over_a_socket(s: &Setup, config: &Path) -> String {
    use std::io::Read;
    let sock = s.lab.dir.path().join("watch-view.sock");
    let mut server = Command::new("systemd-socket-activate")
        .args(["--accept", "--inetd", "-l"])
        .arg(&sock)
        .args([
            common::NFKNOCK,
            "-c",
            config.to_str().unwrap(),
            "watch-view",
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (package systemd)");
    let mut stream = None;
    wait_until(Duration::from_secs(10), || {
        stream = std::os::unix::net::UnixStream::connect(&sock).ok();
        stream.is_some()
    });
    let stream = stream.expect("the socket listens");
    let mut view = String::new();
    (&stream).read_to_string(&mut view).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    view
}

/// The watcher parses untrusted input: nfknock-watch.service gives it
/// only the watcher's view of the config. The view holds no knock, no
/// door port, no rotation secret or its path, yet the watcher mails a
/// knock from it alone; and nothing that opens a door takes it.
#[test]
fn the_watcher_works_from_a_view_that_holds_no_secret() {
    let Some(mut s) = setup(Family::V4, "") else {
        return;
    };
    // A rotating door besides: its secret file is what `rotate` derives
    // every sequence from.
    let secret = s.lab.dir.path().join("web.secret");
    let out = s
        .lab
        .nfknock(Host::Server, &["gen-secret", secret.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let full = std::fs::read_to_string(&s.config).unwrap()
        + &format!(
            "[[door]]\nname = \"web\"\nport = \"8443/tcp\"\nrotate = {{ secret_file = \"{}\", period = \"1h\" }}\n",
            secret.display()
        );
    let full_path = s.lab.config("full.toml", &full);
    let view = view_over_a_socket(&s, &full_path);
    let secret_text = std::fs::read_to_string(&secret).unwrap();
    let mut forbidden: Vec<String> = KNOCKS
        .iter()
        .map(|k| k.split('/').next().unwrap().to_string())
        .collect();
    forbidden.extend(
        [
            "sequence =",
            "rotate",
            "secret_file",
            "web.secret",
            "period",
            "port =",
            "8443",
            "22/tcp",
            secret_text.trim(),
        ]
        .map(String::from),
    );
    // (The prefix has this process's id, whose digits may be anything.)
    let checked = view.replace(&s.prefix, "PREFIX");
    for f in &forbidden {
        assert!(!checked.contains(f.as_str()), "`{f}` in the view:\n{view}");
    }
    assert!(view.contains("doors = [\"ssh\", \"web\"]"), "{view}");
    s.config = s.lab.config("watch.toml", &view);

    let _w = Watcher::start(&s, &[]);
    s.lab.knock(Host::Client, &KNOCKS, "20ms");
    let mails = s.smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:?}");
    let source = Host::Client.addr(Family::V4).to_string();
    assert!(
        mails[0].contains(&format!("knock from {source} (door ssh)")),
        "{}",
        mails[0]
    );

    // The rules, without what the knock above changes as time goes.
    let rules = || {
        s.lab
            .ruleset()
            .lines()
            .filter(|l| !l.contains("expires") && !l.contains("packets"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = rules();
    let view_path = s.config.to_str().unwrap();
    for cmd in [&["apply", "--no-persist"][..], &["check"], &["show"]] {
        let mut args = vec!["-c", view_path];
        args.extend_from_slice(cmd);
        let out = s.lab.nfknock(Host::Server, &args);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("the watcher's view of a config"),
            "{cmd:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(rules(), before, "a refused view changed the rules");
}
