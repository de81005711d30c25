//! qmail-smtpd end to end: our qmail-smtpd under our tcpserver, rules
//! compiled by our tcprules, talked to over loopback by raw sockets (for
//! byte-exact replies), Python's smtplib and swaks. The queue is a small
//! shell script (via QMAILQUEUE) that records the message and the
//! envelope and exits with the code the test chose.
//!
//! Clients at 127.0.0.1 get `RELAYCLIENT=""` from the rules; clients that
//! bind 127.0.0.2 do not. The accepted domains are `example.com` and
//! subdomains of `example.net`.
//!
//! `SMTPD_E2E_TCPSERVER` and `SMTPD_E2E_TCPRULES` may name other builds
//! of the two tools (e.g. Debian's) to run the same tests against.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::Proc;

const IO_TIMEOUT: Duration = Duration::from_secs(20);

fn tool(name: &str, var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => e2e::bin(name),
    }
}

/// The recording queue: message to q/<pid>.msg, envelope to
/// q/<pid>.env, then the exit code in the file `exitcode` (or a crash).
const QUEUE_SCRIPT: &str = r#"#!/bin/sh
cat > "$QDIR/q/$$.msg"
cat 0<&1 > "$QDIR/q/$$.env"
code=$(cat "$QDIR/exitcode")
if [ "$code" = crash ]; then kill -9 $$; fi
exit "$code"
"#;

struct Server {
    _proc: Proc,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

struct Opts {
    control: Vec<(&'static str, String)>,
    env: Vec<(&'static str, String)>,
    bind: &'static str,
    rules: bool,
    /// Run qmail-smtpd with at most this many open files.
    nofile: Option<u32>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            control: vec![
                ("me", "mx.example.com\n".into()),
                (
                    "rcpthosts",
                    "example.com\n.example.net\nmx.example.com\n".into(),
                ),
                ("badmailfrom", "spammer@example.org\n@bad.example\n".into()),
            ],
            env: vec![],
            bind: "127.0.0.1",
            rules: true,
            nofile: None,
        }
    }
}

impl Server {
    fn start(opts: Opts) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("home/control")).unwrap();
        std::fs::create_dir_all(d.join("q")).unwrap();
        for (name, body) in &opts.control {
            std::fs::write(d.join("home/control").join(name), body).unwrap();
        }
        let script = e2e::script::executable(&d.join("qq.sh"), QUEUE_SCRIPT);
        std::fs::write(d.join("exitcode"), "0").unwrap();

        let mut cmd = Command::new(tool("tcpserver", "SMTPD_E2E_TCPSERVER"));
        cmd.arg("-1");
        if opts.rules {
            let out = e2e::tcprules::run(
                &tool("tcprules", "SMTPD_E2E_TCPRULES"),
                &d.join("rules.cdb"),
                &d.join("rules.tmp"),
                b"127.0.0.1:allow,RELAYCLIENT=\"\"\n:allow\n",
            );
            assert!(out.status.success(), "tcprules failed");
            cmd.arg("-x").arg(d.join("rules.cdb"));
        }
        cmd.args(["-R", "-H", "-l", "0", opts.bind, "0"]);
        if let Some(n) = opts.nofile {
            // Close whatever the test process let through, so the limit
            // counts from fd 3.
            cmd.args([
                "bash",
                "-c",
                &format!(
                    "for f in /proc/$$/fd/*; do n=${{f##*/}}; if [ \"$n\" -gt 2 ]; then eval \"exec $n>&-\"; fi; done; ulimit -n {n} && exec \"$0\""
                ),
            ]);
        }
        cmd.arg(e2e::bin("qmail-smtpd"))
            .env("QMAILHOME", d.join("home"))
            .env("QMAILQUEUE", &script)
            .env("QDIR", d)
            .env_remove("RELAYCLIENT")
            .env_remove("DATABYTES")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(d.join("stderr")).unwrap());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut proc = Proc::spawn(&mut cmd).unwrap();
        let out = proc.child.stdout.take().unwrap();
        let (line, _) = e2e::read_line_from(out, IO_TIMEOUT).expect("tcpserver prints its port");
        let port: u16 = line.trim().parse().expect("a port number");
        let ip: IpAddr = opts.bind.parse().unwrap();
        Server {
            _proc: proc,
            addr: SocketAddr::new(ip, port),
            dir,
        }
    }

    fn set_exit(&self, code: &str) {
        std::fs::write(self.dir.path().join("exitcode"), code).unwrap();
    }

    /// The message and envelope the queue got from qmail-queue pid `qp`.
    fn queued(&self, qp: &str) -> (Vec<u8>, Vec<u8>) {
        let q = self.dir.path().join("q");
        (
            std::fs::read(q.join(format!("{qp}.msg"))).unwrap(),
            std::fs::read(q.join(format!("{qp}.env"))).unwrap(),
        )
    }

    /// Every envelope recorded so far.
    fn envelopes(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = std::fs::read_dir(self.dir.path().join("q"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "env"))
            .map(|e| std::fs::read(e.path()).unwrap())
            .collect();
        v.sort();
        v
    }

    fn connect(&self, from: &str) -> Client {
        Client::connect(self.addr, from)
    }

    /// What tcpserver and qmail-smtpd wrote on stderr so far.
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join("stderr")).unwrap())
            .into_owned()
    }
}

/// A raw SMTP client.
struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn connect(to: SocketAddr, from: &str) -> Client {
        use nix::sys::socket::{
            AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6, bind, connect, socket,
        };
        let from: IpAddr = from.parse().unwrap();
        let family = if to.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let fd = socket(family, SockType::Stream, SockFlag::empty(), None).unwrap();
        match (from, to) {
            (IpAddr::V4(ip), SocketAddr::V4(to)) => {
                bind(
                    fd.as_raw_fd(),
                    &SockaddrIn::from(std::net::SocketAddrV4::new(ip, 0)),
                )
                .unwrap();
                connect(fd.as_raw_fd(), &SockaddrIn::from(to)).unwrap();
            }
            (IpAddr::V6(ip), SocketAddr::V6(to)) => {
                bind(
                    fd.as_raw_fd(),
                    &SockaddrIn6::from(std::net::SocketAddrV6::new(ip, 0, 0, 0)),
                )
                .unwrap();
                connect(fd.as_raw_fd(), &SockaddrIn6::from(to)).unwrap();
            }
            _ => panic!("address families differ"),
        }
        let s = TcpStream::from(fd);
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    fn send(&mut self, bytes: &str) {
        self.w.write_all(bytes.as_bytes()).unwrap();
    }

    /// One reply, all its lines, CRLFs included.
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).unwrap();
            assert!(n > 0, "EOF while reading a reply (so far {all:?})");
            all += &line;
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.reply()
    }

    /// Everything until the server closes.
    fn rest(&mut self) -> String {
        let mut s = String::new();
        self.r.read_to_string(&mut s).unwrap();
        s
    }
}

/// `250 ok <time> qp <pid>` -> pid.
fn qp(reply: &str) -> String {
    let parts: Vec<&str> = reply.trim_end().split(' ').collect();
    assert_eq!(parts.len(), 5, "{reply:?}");
    assert_eq!(
        (parts[0], parts[1], parts[3]),
        ("250", "ok", "qp"),
        "{reply:?}"
    );
    let t: i64 = parts[2].parse().unwrap();
    let now = control_now();
    assert!((now - 600..=now + 600).contains(&t), "time {t} vs {now}");
    parts[4].to_string()
}

fn control_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const GREETING: &str = "220 mx.example.com ESMTP\r\n";
const NOGW: &str = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n";

#[test]
fn reply_table_byte_for_byte() {
    let srv = Server::start(Opts::default());
    let mut c = srv.connect("127.0.0.2");
    assert_eq!(c.reply(), GREETING);
    let table = [
        ("HELO client.example.org", "250 mx.example.com\r\n"),
        (
            "EHLO client.example.org",
            "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
        ),
        ("NOOP", "250 ok\r\n"),
        ("VRFY root", "252 send some mail, i'll try my best\r\n"),
        (
            "HELP",
            "214 netqmail home page: http://qmail.org/netqmail\r\n",
        ),
        ("RSET", "250 flushed\r\n"),
        ("EXPN list", "502 unimplemented (#5.5.1)\r\n"),
        ("STARTTLS", "502 unimplemented (#5.5.1)\r\n"),
        ("", "502 unimplemented (#5.5.1)\r\n"),
        ("RCPT TO:<a@example.com>", "503 MAIL first (#5.5.1)\r\n"),
        ("DATA", "503 MAIL first (#5.5.1)\r\n"),
        ("MAIL FROM:<joe@example.org>", "250 ok\r\n"),
        ("DATA", "503 RCPT first (#5.5.1)\r\n"),
        ("RCPT TO:<victim@elsewhere.example>", NOGW),
        (
            &format!("RCPT TO:<{}@example.com>", "x".repeat(900)),
            "555 syntax error (#5.5.4)\r\n",
        ),
        ("RCPT TO:<bob@example.com>", "250 ok\r\n"),
        ("DATA", "354 go ahead\r\n"),
    ];
    for (cmd, want) in table {
        assert_eq!(c.cmd(cmd), want, "reply to {cmd:?}");
    }
    c.send("Subject: test\r\n\r\nhello\r\n.\r\n");
    let qp = qp(&c.reply());
    assert_eq!(c.cmd("MAIL FROM:<spammer@EXAMPLE.org>"), "250 ok\r\n");
    assert_eq!(
        c.cmd("RCPT TO:<bob@example.com>"),
        "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n"
    );
    assert_eq!(c.cmd("QUIT"), "221 mx.example.com\r\n");
    assert_eq!(c.rest(), "");

    let (msg, env) = srv.queued(&qp);
    let msg = String::from_utf8(msg).unwrap();
    let (received, rest) = msg.split_once("\n  by 0 with SMTP; ").unwrap();
    assert_eq!(
        received,
        "Received: from unknown (HELO client.example.org) (127.0.0.2)"
    );
    let (date, body) = rest.split_once('\n').unwrap();
    assert!(date.ends_with(" -0000"), "{date}");
    assert_eq!(body, "Subject: test\n\nhello\n");
    assert_eq!(env, b"Fjoe@example.org\0Tbob@example.com\0\0");
}

#[test]
fn every_queue_exit_code() {
    let srv = Server::start(Opts::default());
    let mut c = srv.connect("127.0.0.1");
    c.reply();
    let table: &[(&str, &str)] = &[
        ("11", "554 envelope address too long for qq (#5.1.3)"),
        ("115", "554 envelope address too long for qq (#5.1.3)"),
        (
            "31",
            "554 mail server permanently rejected message (#5.3.0)",
        ),
        ("51", "451 qq out of memory (#4.3.0)"),
        ("52", "451 qq timeout (#4.3.0)"),
        ("53", "451 qq write error or disk full (#4.3.0)"),
        ("54", "451 qq read error (#4.3.0)"),
        ("55", "451 qq unable to read configuration (#4.3.0)"),
        ("56", "451 qq trouble making network connection (#4.3.0)"),
        ("61", "451 qq trouble in home directory (#4.3.0)"),
        ("62", "451 qq trouble creating files in queue (#4.3.0)"),
        ("63", "451 qq trouble creating files in queue (#4.3.0)"),
        ("64", "451 qq trouble creating files in queue (#4.3.0)"),
        ("65", "451 qq trouble creating files in queue (#4.3.0)"),
        ("66", "451 qq trouble creating files in queue (#4.3.0)"),
        (
            "71",
            "451 mail server temporarily rejected message (#4.3.0)",
        ),
        ("72", "451 connection to mail server timed out (#4.4.1)"),
        ("73", "451 connection to mail server rejected (#4.4.1)"),
        ("74", "451 communication with mail server failed (#4.4.2)"),
        ("81", "451 qq internal bug (#4.3.0)"),
        ("91", "451 qq internal bug (#4.3.0)"),
        ("120", "451 unable to exec qq (#4.3.0)"),
        ("12", "554 qq permanent problem (#5.3.0)"),
        ("40", "554 qq permanent problem (#5.3.0)"),
        ("41", "451 qq temporary problem (#4.3.0)"),
        ("75", "451 qq temporary problem (#4.3.0)"),
        ("100", "451 qq temporary problem (#4.3.0)"),
        ("crash", "451 qq crashed (#4.3.0)"),
    ];
    for (code, want) in table {
        srv.set_exit(code);
        assert_eq!(c.cmd("MAIL FROM:<a@example.org>"), "250 ok\r\n");
        assert_eq!(c.cmd("RCPT TO:<b@example.com>"), "250 ok\r\n");
        assert_eq!(c.cmd("DATA"), "354 go ahead\r\n");
        c.send("x\r\n.\r\n");
        assert_eq!(c.reply(), format!("{want}\r\n"), "exit {code}");
    }
    srv.set_exit("0");
    c.cmd("MAIL FROM:<a@example.org>");
    c.cmd("RCPT TO:<b@example.com>");
    c.cmd("DATA");
    c.send(".\r\n");
    qp(&c.reply());

    // No queue program at all: qmail's child exits 120.
    let mut o = Opts::default();
    o.env
        .push(("QMAILQUEUE", "/nonexistent/qmail-queue".into()));
    let srv = Server::start(o);
    let mut c = srv.connect("127.0.0.1");
    c.reply();
    c.cmd("MAIL FROM:<>");
    c.cmd("RCPT TO:<b@example.com>");
    assert_eq!(c.cmd("DATA"), "354 go ahead\r\n");
    c.send("x\r\n.\r\n");
    assert_eq!(c.reply(), "451 unable to exec qq (#4.3.0)\r\n");
}

/// Run a Python program with the server's address in argv; returns its
/// stdout.
fn python(srv: &Server, code: &str) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(code)
        .arg(srv.addr.ip().to_string())
        .arg(srv.addr.port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd).expect("python3 is installed");
    let status = p
        .wait_timeout(Duration::from_secs(60))
        .expect("python finished");
    let mut out = String::new();
    let mut err = String::new();
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "python failed: {err}\n{out}");
    out
}

#[test]
fn smtplib_relaying_by_client_address() {
    let srv = Server::start(Opts::default());
    let out = python(
        &srv,
        r#"
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
msg = "Subject: relay\r\n\r\n.leading dot\r\n..two dots\r\nend\r\n"
for src in ("127.0.0.1", "127.0.0.2"):
    s = smtplib.SMTP(host, port, source_address=(src, 0), timeout=20)
    s.ehlo("ws.example.org")
    try:
        refused = s.sendmail("me@example.org", ["friend@elsewhere.example", "bob@example.com"], msg)
        print(src, "refused", sorted(refused.items()))
    except smtplib.SMTPRecipientsRefused as e:
        print(src, "all refused", sorted(e.recipients.items()))
    s.quit()
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "127.0.0.1 refused []");
    assert_eq!(
        lines[1],
        "127.0.0.2 refused [('friend@elsewhere.example', (553, b\"sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\"))]"
    );
    let envs = srv.envelopes();
    assert_eq!(
        envs,
        vec![
            b"Fme@example.org\0Tbob@example.com\0\0".to_vec(),
            b"Fme@example.org\0Tfriend@elsewhere.example\0Tbob@example.com\0\0".to_vec(),
        ]
    );
    // smtplib stuffed the dots; qmail-smtpd took them out again.
    for e in std::fs::read_dir(srv.dir.path().join("q")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "msg") {
            let m = String::from_utf8(std::fs::read(&p).unwrap()).unwrap();
            assert!(
                m.ends_with("\nSubject: relay\n\n.leading dot\n..two dots\nend\n"),
                "{m}"
            );
        }
    }
}

#[test]
fn smtplib_open_relay_tricks_are_refused() {
    let srv = Server::start(Opts::default());
    let out = python(
        &srv,
        r#"
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
tricks = [
    "victim%elsewhere.example@example.com",
    "elsewhere.example!victim@example.com",
    "elsewhere.example!victim",
    "victim%elsewhere.example",
    "victim@elsewhere.example@example.com",
    '"victim@elsewhere.example"@example.com',
    '"victim@elsewhere.example"',
    "@example.com:victim@elsewhere.example",
    "@example.com,@x.example.com:victim@elsewhere.example",
    "victim@[192.0.2.1]",
    "victim@[IPv6:2001:db8::1]",
    "victim@example.com.",
    "victim@elsewhere.example.",
    "victim@ELSEWHERE.EXAMPLE",
    "victim@example.net",
    "victim@example.com.elsewhere.example",
    "victim@notexample.com",
    "victim@elsewhere.example\\@example.com",
]
s = smtplib.SMTP(host, port, source_address=("127.0.0.2", 0), timeout=20)
s.ehlo("x")
s.mail("a@example.org")
for t in tricks:
    code, text = s.docmd("RCPT TO:<%s>" % t)
    print(code, t)
# The same addresses do reach the domain they name when it is ours.
for ok in ["victim@EXAMPLE.COM", "victim@deep.Example.Net", "victim@[127.0.0.1]"]:
    code, text = s.docmd("RCPT TO:<%s>" % ok)
    print(code, ok)
s.quit()
"#,
    );
    let mut accepted = vec![];
    for line in out.lines() {
        let (code, addr) = line.split_once(' ').unwrap();
        if code == "250" {
            accepted.push(addr.to_string());
        } else {
            assert_eq!(code, "553", "{line}");
        }
    }
    assert_eq!(
        accepted,
        [
            "victim@EXAMPLE.COM",
            "victim@deep.Example.Net",
            "victim@[127.0.0.1]"
        ]
    );
}

#[test]
fn smtplib_databytes_and_size() {
    let mut o = Opts::default();
    o.control.push(("databytes", "200\n".into()));
    let srv = Server::start(o);
    let out = python(
        &srv,
        r#"
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
s = smtplib.SMTP(host, port, timeout=20)
code, text = s.ehlo("x")
print(code, text.decode().replace("\n", "|"))
# smtplib declares SIZE= itself when the server offers SIZE.
try:
    s.sendmail("a@example.org", ["b@example.com"], "x" * 300)
except smtplib.SMTPSenderRefused as e:
    print("sender refused", e.smtp_code, e.smtp_error.decode())
s.rset()
# Without SIZE= the message is read to its end, then refused.
s.mail("a@example.org")
s.rcpt("b@example.com")
print(*s.data("y" * 300))
s.mail("a@example.org")
s.rcpt("b@example.com")
code, text = s.data("z" * 198)
print(code)
s.quit()
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "250 mx.example.com|PIPELINING|8BITMIME|SIZE 200");
    assert_eq!(
        lines[1],
        "sender refused 552 sorry, that message size exceeds my databytes limit (#5.3.4)"
    );
    assert_eq!(
        lines[2],
        "552 b'sorry, that message size exceeds my databytes limit (#5.3.4)'"
    );
    assert_eq!(lines[3], "250");
}

/// swaks, or `None` after saying the swaks tests are skipped (a failure
/// under REQUIRE_ORIGINALS, as in CI, which installs Debian's swaks).
fn have_swaks() -> Option<std::path::PathBuf> {
    let found = e2e::which("swaks");
    if found.is_none() {
        e2e::skip_missing("swaks");
    }
    found
}

fn swaks(srv: &Server, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(have_swaks().expect("swaks is installed"));
    cmd.args(["--server", &srv.addr.ip().to_string()])
        .args(["--port", &srv.addr.port().to_string()])
        .args(["--timeout", "20"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd).expect("run swaks");
    let status = p
        .wait_timeout(Duration::from_secs(60))
        .expect("swaks finished");
    let mut out = String::new();
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status.success(), out)
}

#[test]
fn swaks_pipelining_relay_and_refusal() {
    if have_swaks().is_none() {
        return;
    }
    let srv = Server::start(Opts::default());
    let (ok, out) = swaks(
        &srv,
        &[
            "--pipeline",
            "--local-interface",
            "127.0.0.1",
            "--ehlo",
            "ws.example.org",
            "--from",
            "me@example.org",
            "--to",
            "friend@elsewhere.example,bob@example.com",
            "--header",
            "Subject: piped",
            "--body",
            ".dot first\n..two\nlast",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("<-  250-PIPELINING"), "{out}");
    // One pipelined group: MAIL, both RCPTs and DATA, answered together.
    let qpline = out
        .lines()
        .find(|l| l.contains("250 ok ") && l.contains(" qp "))
        .unwrap();
    let qp = qpline.rsplit(' ').next().unwrap();
    let (msg, env) = srv.queued(qp);
    assert_eq!(
        env,
        b"Fme@example.org\0Tfriend@elsewhere.example\0Tbob@example.com\0\0"
    );
    let msg = String::from_utf8(msg).unwrap();
    assert!(
        msg.starts_with(
            "Received: from unknown (HELO ws.example.org) (127.0.0.1)\n  by 0 with SMTP; "
        ),
        "{msg}"
    );
    assert!(msg.contains("Subject: piped\n"));
    assert!(
        msg.trim_end().ends_with("\n.dot first\n..two\nlast"),
        "{msg}"
    );

    let (ok, out) = swaks(
        &srv,
        &[
            "--pipeline",
            "--local-interface",
            "127.0.0.2",
            "--from",
            "me@example.org",
            "--to",
            "friend@elsewhere.example",
        ],
    );
    assert!(!ok);
    assert!(
        out.contains("<** 553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"),
        "{out}"
    );
    assert!(out.contains("<** 503 RCPT first (#5.5.1)"), "{out}");

    let (ok, out) = swaks(
        &srv,
        &[
            "--local-interface",
            "127.0.0.2",
            "--from",
            "me@example.org",
            "--to",
            "victim%elsewhere.example@example.com",
        ],
    );
    assert!(!ok);
    assert!(out.contains("<** 553 we don't relay (#5.7.1)"), "{out}");
}

#[test]
fn raw_pipelining_in_one_write() {
    let srv = Server::start(Opts::default());
    let mut c = srv.connect("127.0.0.1");
    c.reply();
    c.send(
        "EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@elsewhere.example>\r\nDATA\r\n",
    );
    assert_eq!(
        c.reply(),
        "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    );
    for want in ["250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "354 go ahead\r\n"] {
        assert_eq!(c.reply(), want);
    }
    c.send("Received: x\r\n\r\n..\r\n.\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n.\r\nQUIT\r\n");
    let first = qp(&c.reply());
    assert_eq!(c.reply(), "250 flushed\r\n");
    assert_eq!(c.reply(), "250 ok\r\n");
    assert_eq!(c.reply(), "250 ok\r\n");
    assert_eq!(c.reply(), "354 go ahead\r\n");
    let second = qp(&c.reply());
    assert_eq!(c.reply(), "221 mx.example.com\r\n");
    assert_eq!(c.rest(), "");
    let (msg, env) = srv.queued(&first);
    assert!(msg.ends_with(b" -0000\nReceived: x\n\n.\n"));
    assert_eq!(
        env,
        b"Fa@example.org\0Tb@example.com\0Tc@elsewhere.example\0\0"
    );
    let (msg, env) = srv.queued(&second);
    assert!(msg.ends_with(b" -0000\n"));
    assert_eq!(env, b"F\0Td@example.com\0\0");
}

#[test]
fn bare_lf_in_data_closes_the_connection() {
    let srv = Server::start(Opts::default());
    let mut c = srv.connect("127.0.0.1");
    c.reply();
    // Bare LF in commands is fine.
    c.send("MAIL FROM:<a@example.org>\nRCPT TO:<b@example.com>\n");
    assert_eq!(c.reply(), "250 ok\r\n");
    assert_eq!(c.reply(), "250 ok\r\n");
    assert_eq!(c.cmd("DATA"), "354 go ahead\r\n");
    c.send("Subject: x\r\n\r\nbare\nlf\r\n.\r\n");
    assert_eq!(
        c.reply(),
        "451 See http://pobox.com/~djb/docs/smtplf.html.\r\n"
    );
    assert_eq!(c.rest(), "");
    // Nothing was queued.
    assert!(srv.envelopes().iter().all(|e| e.is_empty()));
}

#[test]
fn timeout_after_timeoutsmtpd() {
    let mut o = Opts::default();
    o.control.push(("timeoutsmtpd", "1\n".into()));
    let srv = Server::start(o);
    let mut c = srv.connect("127.0.0.1");
    let start = Instant::now();
    assert_eq!(c.reply(), GREETING);
    c.send("MAIL FROM:<a@example.org>\r\n");
    assert_eq!(c.reply(), "250 ok\r\n");
    assert_eq!(c.rest(), "451 timeout (#4.4.2)\r\n");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(10),
        "{took:?}"
    );

    // In the middle of a message too.
    let mut c = srv.connect("127.0.0.1");
    c.reply();
    c.cmd("MAIL FROM:<a@example.org>");
    c.cmd("RCPT TO:<b@example.com>");
    c.cmd("DATA");
    c.send("half a line");
    assert_eq!(c.rest(), "451 timeout (#4.4.2)\r\n");
}

#[test]
fn long_lines_and_missing_controls() {
    let srv = Server::start(Opts::default());
    let mut c = srv.connect("127.0.0.1");
    c.reply();
    assert_eq!(
        c.cmd(&format!("NOOP {}", "x".repeat(5000))),
        "500 line too long (#5.5.2)\r\n"
    );
    assert_eq!(c.cmd("NOOP"), "250 ok\r\n");

    // Neither smtpgreeting nor me: 421 and close.
    let o = Opts {
        control: vec![],
        ..Opts::default()
    };
    let srv = Server::start(o);
    let mut c = srv.connect("127.0.0.1");
    assert_eq!(c.rest(), "421 unable to read controls (#4.3.0)\r\n");
}

#[test]
fn smtpgreeting_and_localiphost() {
    let mut o = Opts::default();
    o.control
        .push(("smtpgreeting", "greeting.example.com Hi there\n".into()));
    o.control.push(("localiphost", "example.com\n".into()));
    let srv = Server::start(o);
    let mut c = srv.connect("127.0.0.2");
    assert_eq!(c.reply(), "220 greeting.example.com Hi there ESMTP\r\n");
    c.cmd("MAIL FROM:<>");
    assert_eq!(c.cmd("RCPT TO:<joe@[127.0.0.1]>"), "250 ok\r\n");
    c.cmd("DATA");
    c.send(".\r\n");
    let qp = qp(&c.reply());
    assert_eq!(srv.queued(&qp).1, b"F\0Tjoe@example.com\0\0");
    assert_eq!(c.cmd("QUIT"), "221 greeting.example.com Hi there\r\n");
}

#[test]
fn ipv6_client_in_received_line() {
    let o = Opts {
        bind: "::1",
        rules: false,
        ..Opts::default()
    };
    let srv = Server::start(o);
    let mut c = srv.connect("::1");
    c.reply();
    c.cmd("HELO [IPv6:::1]");
    c.cmd("MAIL FROM:<>");
    assert_eq!(c.cmd("RCPT TO:<joe@[IPv6:::1]>"), "250 ok\r\n");
    c.cmd("DATA");
    c.send(".\r\n");
    let qp = qp(&c.reply());
    let (msg, env) = srv.queued(&qp);
    let msg = String::from_utf8(msg).unwrap();
    assert!(
        msg.starts_with("Received: from unknown (HELO ?IPv6:::1?) (::1)\n"),
        "{msg}"
    );
    assert_eq!(env, b"F\0Tjoe@mx.example.com\0\0");
}

#[test]
fn many_sessions_leave_nothing_behind() {
    let srv = Server::start(Opts::default());
    for _ in 0..20 {
        let mut c = srv.connect("127.0.0.1");
        c.reply();
        c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
        c.reply();
        c.reply();
        c.reply();
        c.send("hi\r\n.\r\nQUIT\r\n");
        qp(&c.reply());
        assert_eq!(c.reply(), "221 mx.example.com\r\n");
    }
    assert_eq!(srv.envelopes().len(), 20);
}

#[test]
fn loops_and_qmail_queue_that_cannot_start() {
    let srv = Server::start(Opts::default());
    let mut c = srv.connect("127.0.0.1");
    c.reply();
    c.cmd("MAIL FROM:<a@example.org>");
    c.cmd("RCPT TO:<b@example.com>");
    assert_eq!(c.cmd("DATA"), "354 go ahead\r\n");
    let mut hops = "Received: from x\r\n".repeat(99);
    hops += "Delivered-To: b@example.com\r\n\r\nbody\r\n.\r\n";
    c.send(&hops);
    assert_eq!(
        c.reply(),
        "554 too many hops, this message is looping (#5.4.6)\r\n"
    );
    // 99 hops are still fine.
    c.cmd("MAIL FROM:<a@example.org>");
    c.cmd("RCPT TO:<b@example.com>");
    c.cmd("DATA");
    c.send(&("Received: from x\r\n".repeat(99) + "\r\n.\r\n"));
    qp(&c.reply());

    // With no file descriptor left for the pipes to qmail-queue.
    let o = Opts {
        nofile: Some(4),
        ..Opts::default()
    };
    let srv = Server::start(o);
    let mut c = srv.connect("127.0.0.1");
    assert_eq!(c.reply(), GREETING);
    c.cmd("MAIL FROM:<a@example.org>");
    c.cmd("RCPT TO:<b@example.com>");
    assert_eq!(c.cmd("DATA"), "451 qqt failure (#4.3.0)\r\n");
    assert_eq!(c.cmd("NOOP"), "250 ok\r\n");
}

#[test]
fn cr_lf_and_nul_inside_addresses_are_refused() {
    let srv = Server::start(Opts::default());
    let mut c = srv.connect("127.0.0.1");
    c.reply();
    // A CR inside the address would reach qmail-queue and, quoted, the
    // next server's command line.
    assert_eq!(
        c.cmd("MAIL FROM:<a\rRSET@b.example>"),
        "501 bad character in address (#5.1.7)\r\n"
    );
    // The refused MAIL leaves no sender behind.
    assert_eq!(
        c.cmd("RCPT TO:<b@example.com>"),
        "503 MAIL first (#5.5.1)\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a\0b@b.example>"),
        "501 bad character in address (#5.1.7)\r\n"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@b.example>"), "250 ok\r\n");
    assert_eq!(
        c.cmd("RCPT TO:<jo\re@example.com>"),
        "501 bad character in address (#5.1.3)\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<\"jo\\\re\"@example.com>"),
        "501 bad character in address (#5.1.3)\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<joe@example.com\0>"),
        "501 bad character in address (#5.1.3)\r\n"
    );
    assert_eq!(c.cmd("RCPT TO:<joe@example.com>"), "250 ok\r\n");
    c.cmd("DATA");
    c.send(".\r\n");
    let qp = qp(&c.reply());
    assert_eq!(srv.queued(&qp).1, b"Fa@b.example\0Tjoe@example.com\0\0");
}

#[test]
fn no_rcpthosts_refuses_to_relay_and_says_why() {
    let mut o = Opts::default();
    o.control.retain(|(n, _)| *n != "rcpthosts");
    let srv = Server::start(o);
    // No RELAYCLIENT: every recipient is refused, and the log says why.
    let mut c = srv.connect("127.0.0.2");
    c.reply();
    c.cmd("MAIL FROM:<a@example.org>");
    assert_eq!(c.cmd("RCPT TO:<victim@elsewhere.example>"), NOGW);
    assert_eq!(c.cmd("RCPT TO:<joe@example.com>"), NOGW);
    assert_eq!(c.cmd("QUIT"), "221 mx.example.com\r\n");
    let line = e2e::poll_until(IO_TIMEOUT, || {
        let e = srv.stderr();
        e.lines()
            .find(|l| l.starts_with("qmail-smtpd: "))
            .map(str::to_string)
    })
    .expect("a log line");
    assert!(
        line.contains("control/rcpthosts") && line.contains("ALLOW_OPEN_RELAY"),
        "{line}"
    );
    // RELAYCLIENT still relays.
    let mut c = srv.connect("127.0.0.1");
    c.reply();
    c.cmd("MAIL FROM:<a@example.org>");
    assert_eq!(c.cmd("RCPT TO:<victim@elsewhere.example>"), "250 ok\r\n");

    // qmail's old open default, only when asked for.
    let mut o = Opts::default();
    o.control.retain(|(n, _)| *n != "rcpthosts");
    o.env.push(("ALLOW_OPEN_RELAY", "1".into()));
    let srv = Server::start(o);
    let mut c = srv.connect("127.0.0.2");
    c.reply();
    c.cmd("MAIL FROM:<a@example.org>");
    assert_eq!(c.cmd("RCPT TO:<victim@elsewhere.example>"), "250 ok\r\n");
}

#[test]
fn many_refused_recipients_close_the_session() {
    let srv = Server::start(Opts::default());
    let d = srv.dir.path().join("home/control");
    let mut w = cdb::CDBWriter::create(d.join("morercpthosts.cdb").display().to_string()).unwrap();
    w.add(b"more.example", b"").unwrap();
    w.finish().unwrap();
    let mut c = srv.connect("127.0.0.2");
    c.reply();
    c.cmd("MAIL FROM:<a@example.org>");
    assert_eq!(c.cmd("RCPT TO:<joe@more.example>"), "250 ok\r\n");
    // The default limit is 100 refused recipients a session.
    let domain = "a.".repeat(440) + "example";
    for i in 0..100 {
        assert_eq!(c.cmd(&format!("RCPT TO:<x@{domain}>")), NOGW, "RCPT {i}");
    }
    assert_eq!(
        c.cmd("RCPT TO:<joe@example.com>"),
        "421 too many refused recipients, closing connection (#4.7.0)\r\n"
    );
    assert_eq!(c.rest(), "");
    assert!(srv.envelopes().is_empty());
}

#[test]
fn boot_files_do_not_start_smtp_without_rcpthosts() {
    // Each boot file that starts tcpserver with qmail-smtpd refuses to
    // start without control/rcpthosts; the inetd ones (which cannot)
    // say that qmail-smtpd then refuses every outside recipient.
    let boot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../boot");
    let guards: &[(&str, &str)] = &[
        (
            "service/qmail-smtpd/run",
            "if [ ! -f /var/qmail/control/rcpthosts ]; then",
        ),
        (
            "systemd/qmail-smtpd.service",
            "\nAssertPathExists=/var/qmail/control/rcpthosts\n",
        ),
        (
            "systemd/qmail-smtpd.socket",
            "\nAssertPathExists=/var/qmail/control/rcpthosts\n",
        ),
        (
            "inetd.conf",
            "# Without control/rcpthosts qmail-smtpd refuses",
        ),
        (
            "xinetd.d/smtp",
            "# Without control/rcpthosts qmail-smtpd refuses",
        ),
    ];
    for (file, guard) in guards {
        let text = std::fs::read_to_string(boot.join(file)).unwrap();
        assert!(text.contains(guard), "{file} lacks {guard:?}");
        assert!(text.contains("qmail-smtpd"), "{file}");
    }
}

#[test]
fn the_rcpthosts_warning_never_reaches_the_client() {
    // Under inetd fds 0, 1 and 2 are all the client's socket: the log
    // line must not be written there.
    use std::os::unix::net::UnixStream;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("control")).unwrap();
    std::fs::write(dir.path().join("control/me"), "mx.example.com\n").unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let fd = |s: &UnixStream| Stdio::from(std::os::fd::OwnedFd::from(s.try_clone().unwrap()));
    let mut cmd = Command::new(e2e::bin("qmail-smtpd"));
    cmd.env("QMAILHOME", dir.path())
        .env_remove("RELAYCLIENT")
        .env_remove("ALLOW_OPEN_RELAY")
        .stdin(fd(&theirs))
        .stdout(fd(&theirs))
        .stderr(fd(&theirs));
    let _proc = Proc::spawn(&mut cmd).unwrap();
    // Only the child may hold its end, so that its exit is our EOF.
    drop(cmd);
    drop(theirs);
    ours.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    (&ours)
        .write_all(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nQUIT\r\n")
        .unwrap();
    let mut all = String::new();
    (&ours).read_to_string(&mut all).unwrap();
    assert_eq!(
        all,
        format!("{GREETING}250 ok\r\n{NOGW}221 mx.example.com\r\n")
    );
}
