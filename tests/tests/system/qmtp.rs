//! QMTP and QMQP: qmail-qmtpd and qmail-qmqpd under our tcpserver in
//! front of a whole system (qmail-run), with a QMTP client written here
//! (qmail-remote does not speak QMTP) and, for QMQP, a second system
//! with no queue of its own whose qmail-inject queues through
//! qmail-qmqpc; then the framing attacks (a huge length, a truncated
//! netstring, a stalled client) against the real binaries on pipes with
//! a recording qmail-queue.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::support::{QmailRun, T, as_owner, open_tempdir, owner, wait_mail};

fn ns(b: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", b.len()).into_bytes();
    out.extend_from_slice(b);
    out.push(b',');
    out
}

fn qmtp_message(body: &[u8], sender: &str, rcpts: &[&str]) -> Vec<u8> {
    let list: Vec<u8> = rcpts.iter().flat_map(|r| ns(r.as_bytes())).collect();
    let mut out = ns(body);
    out.extend(ns(sender.as_bytes()));
    out.extend(ns(&list));
    out
}

/// Read `count` netstrings from `r`.
fn answers(r: &mut dyn Read, count: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while out.len() < count {
        if r.read(&mut byte).unwrap() == 0 {
            break;
        }
        buf.push(byte[0]);
        if let Some(colon) = buf.iter().position(|&b| b == b':') {
            let len: usize = std::str::from_utf8(&buf[..colon]).unwrap().parse().unwrap();
            if buf.len() == colon + 1 + len + 1 {
                assert_eq!(buf.last(), Some(&b','));
                out.push(String::from_utf8(buf[colon + 1..colon + 1 + len].to_vec()).unwrap());
                buf.clear();
            }
        }
    }
    out
}

/// `prog` of the installed system under tcpserver on 127.0.0.1, a port
/// the kernel picks; the process and the port.
fn serve(home: &Path, prog: &str) -> (e2e::Proc, u16) {
    let mut c = Command::new(home.join("bin/tcpserver"));
    c.args(["-1", "-R", "-H", "-l", "0", "127.0.0.1", "0"])
        .arg(home.join("bin").join(prog))
        .env("QMAILHOME", home)
        .env_remove("RELAYCLIENT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    as_owner(&mut c);
    let mut p = e2e::Proc::spawn(&mut c).unwrap();
    let out = p.child.stdout.take().unwrap();
    let (line, _) = e2e::read_line_from(out, T).expect("tcpserver prints its port");
    (p, line.trim().parse().unwrap())
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

fn home_with(dir: &Path, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let (uid, gid) = owner();
    let home = dir.join(name);
    std::fs::create_dir_all(home.join("control")).unwrap();
    for (f, text) in files {
        std::fs::write(home.join("control").join(f), text).unwrap();
    }
    for p in [&home, &home.join("control")] {
        std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
    }
    home
}

#[test]
fn qmtp_and_qmqp_between_two_systems() {
    super::support::bins();
    let dir = open_tempdir();
    let (uid, gid) = owner();
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    let b_home = home_with(
        dir.path(),
        "b",
        &[
            ("me", "remote.test\n"),
            ("locals", "remote.test\n"),
            ("rcpthosts", "remote.test\n"),
        ],
    );
    let b = QmailRun::start(&b_home);

    // QMTP: two messages in one connection, one with CRLF lines; a
    // recipient outside rcpthosts is refused on its own.
    let (_qmtpd, port) = serve(&b_home, "qmail-qmtpd");
    let mut s = connect(port);
    let mut req = qmtp_message(
        b"\nSubject: by qmtp\n\nhello\n",
        "al@client.test",
        &["you@remote.test", "someone@elsewhere.test"],
    );
    req.extend(qmtp_message(
        b"\rSubject: dos\r\n\r\nline\r\n",
        "",
        &["you@REMOTE.test"],
    ));
    s.write_all(&req).unwrap();
    let a = answers(&mut s, 3);
    assert!(a[0].starts_with("Kok ") && a[0].contains(" qp "), "{a:?}");
    assert_eq!(
        a[1],
        "Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
    );
    assert!(a[2].starts_with("Kok "), "{a:?}");
    drop(s);
    let m = wait_mail(&b.maildir("you"), "Subject: by qmtp");
    assert!(
        m.starts_with("Return-Path: <al@client.test>\nDelivered-To: you@remote.test\n"),
        "{m}"
    );
    assert!(
        m.contains("Received: from unknown (127.0.0.1)\n  by 0 with QMTP; "),
        "{m}"
    );
    assert!(m.ends_with("Subject: by qmtp\n\nhello\n"), "{m}");
    let m = wait_mail(&b.maildir("you"), "Subject: dos");
    assert!(m.starts_with("Return-Path: <>\n"), "{m}");
    assert!(m.ends_with("Subject: dos\n\nline\n"), "{m}");

    // QMQP: system A has no queue; its qmail-inject queues through
    // qmail-qmqpc to B's qmail-qmqpd.
    let (_qmqpd, qport) = serve(&b_home, "qmail-qmqpd");
    let a_home = home_with(
        dir.path(),
        "a",
        &[
            ("me", "client.test\n"),
            ("qmqpservers", &format!("127.0.0.1:{qport}\n")),
        ],
    );
    let mut c = Command::new(b_home.join("bin/qmail-inject"));
    c.env("QMAILHOME", &a_home)
        .env("QMAILQUEUE", b_home.join("bin/qmail-qmqpc"))
        .env("USER", "al")
        .arg("you@remote.test")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    as_owner(&mut c);
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: by qmqp\n\nhub\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = wait_mail(&b.maildir("you"), "Subject: by qmqp");
    assert!(m.starts_with("Return-Path: <al@client.test>\n"), "{m}");
    assert!(m.contains("  by 0 with QMQP; "), "{m}");
    assert!(m.ends_with("Subject: by qmqp\n\nhub\n"), "{m}");

    // A server that is not there: qmail-inject reports qmail-qmqpc's
    // "connection refused" as qmail-queue's.
    std::fs::write(a_home.join("control/qmqpservers"), "127.0.0.1:1\n").unwrap();
    let mut c = Command::new(b_home.join("bin/qmail-inject"));
    c.env("QMAILHOME", &a_home)
        .env("QMAILQUEUE", b_home.join("bin/qmail-qmqpc"))
        .arg("you@remote.test")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    as_owner(&mut c);
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: lost\n\nx\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("connection to mail server rejected (#4.4.1)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A home for qmail-qmtpd/qmail-qmqpd on pipes, with a qmail-queue that
/// records complete messages only (mess + env) and refuses the rest.
struct Pipes {
    dir: tempfile::TempDir,
}

impl Pipes {
    fn new(control: &[(&str, &str)]) -> Pipes {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("control")).unwrap();
        for (f, t) in control {
            std::fs::write(dir.path().join("control").join(f), t).unwrap();
        }
        e2e::script::sh(
            &dir.path().join("qq"),
            "cat > mess.tmp; cat <&1 > env.tmp; \
             case \"$(tail -c 2 env.tmp | od -An -c | tr -d ' ')\" in '\\0\\0') ;; *) exit 54;; esac; \
             n=$(ls | grep -c '^env\\.[0-9]'); mv mess.tmp mess.$n; mv env.tmp env.$n",
        );
        Pipes { dir }
    }

    fn spawn(&self, prog: &str, env: &[(&str, &str)]) -> e2e::Proc {
        let mut c = Command::new(e2e::bin(prog));
        c.env("QMAILHOME", self.dir.path())
            .env("QMAILQUEUE", self.dir.path().join("qq"))
            .env_remove("RELAYCLIENT")
            .env_remove("DATABYTES")
            .env("TCPREMOTEIP", "192.0.2.9")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        e2e::Proc::spawn(&mut c).unwrap()
    }

    /// Send `input`, close, and collect (exit code, output).
    fn run(&self, prog: &str, env: &[(&str, &str)], input: &[u8]) -> (i32, Vec<u8>) {
        let mut p = self.spawn(prog, env);
        let _ = p.child.stdin.take().unwrap().write_all(input);
        let mut out = Vec::new();
        p.child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        let st = p.wait_timeout(T).expect("the server ended");
        (st.code().unwrap(), out)
    }

    fn queued(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for n in 0.. {
            let (m, e) = (
                self.dir.path().join(format!("mess.{n}")),
                self.dir.path().join(format!("env.{n}")),
            );
            if !e.exists() {
                break;
            }
            v.push((
                std::fs::read_to_string(m).unwrap(),
                std::fs::read_to_string(e).unwrap(),
            ));
        }
        v
    }
}

#[test]
fn qmtpd_relayclient_rcpthosts_and_databytes() {
    let p = Pipes::new(&[("rcpthosts", "example.com\n"), ("databytes", "40\n")]);
    let mut req = qmtp_message(
        b"\nshort\n",
        "a@b",
        &["x@example.com", "y@other.test", &"z".repeat(1200)],
    );
    req.extend(qmtp_message(
        &[b"\n".to_vec(), vec![b'x'; 100]].concat(),
        "a@b",
        &["x@example.com"],
    ));
    let (code, out) = p.run("qmail-qmtpd", &[], &req);
    assert_eq!(code, 0);
    let a = answers(&mut &out[..], 4);
    assert!(a[0].starts_with("Kok "), "{a:?}");
    assert_eq!(
        a[1],
        "Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
    );
    assert_eq!(a[2], "Dsorry, I can't handle that recipient (#5.1.3)");
    assert_eq!(
        a[3],
        "Dsorry, that message size exceeds my databytes limit (#5.3.4)"
    );
    let q = p.queued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].1, "Fa@b\0Tx@example.com\0\0");
    assert!(
        q[0].0
            .starts_with("Received: from unknown (192.0.2.9)\n  by unknown with QMTP; "),
        "{}",
        q[0].0
    );
    assert!(q[0].0.ends_with(" -0000\nshort\n"), "{}", q[0].0);

    // RELAYCLIENT: rcpthosts is not consulted, the value is appended.
    let (code, out) = p.run(
        "qmail-qmtpd",
        &[("RELAYCLIENT", "@fixme")],
        &qmtp_message(b"\nm\n", "a@b", &["y@other.test"]),
    );
    assert_eq!(code, 0);
    assert!(answers(&mut &out[..], 1)[0].starts_with("Kok "));
    assert_eq!(p.queued()[1].1, "Fa@b\0Ty@other.test@fixme\0\0");
}

#[test]
fn framing_attacks_end_the_session_and_queue_nothing() {
    let p = Pipes::new(&[]);
    // A huge length: refused at once, before any of the promised bytes.
    let (code, out) = p.run(
        "qmail-qmtpd",
        &[],
        b"99999999999999999999999:\nSubject: x\n",
    );
    assert_eq!((code, out.len()), (111, 0));
    let (code, _) = p.run("qmail-qmqpd", &[], b"300000000:");
    assert_eq!(code, 111);
    // Truncated: the client goes away inside the message.
    let (code, out) = p.run("qmail-qmtpd", &[], b"100:\nSubject: cut\n\nonly part");
    assert_eq!((code, out.len()), (0, 0));
    let mut inner = ns(b"Subject: cut\n\nx\n");
    inner.extend(ns(b"a@b"));
    let whole = ns(&[inner.clone(), ns(b"c@d")].concat());
    let (code, out) = p.run("qmail-qmqpd", &[], &whole[..whole.len() - 5]);
    assert_eq!((code, out.len()), (0, 0));
    // Not netstrings: a missing comma, lengths that do not add up.
    let (code, _) = p.run("qmail-qmtpd", &[], b"2:\nx;");
    assert_eq!(code, 100);
    let (code, _) = p.run(
        "qmail-qmqpd",
        &[],
        &ns(&[inner, b"9:c@d,".to_vec()].concat()),
    );
    assert_eq!(code, 100);
    assert!(p.queued().is_empty());
    // And a complete QMQP request still works.
    let (code, out) = p.run("qmail-qmqpd", &[], &whole);
    assert_eq!(code, 0);
    assert!(answers(&mut &out[..], 1)[0].starts_with("Kok "));
    assert_eq!(p.queued()[0].1, "Fa@b\0Tc@d\0\0");
}

#[test]
fn a_stalled_client_hits_the_timeout() {
    let p = Pipes::new(&[("timeoutqmtpd", "1\n"), ("timeoutqmqpd", "1\n")]);
    for prog in ["qmail-qmtpd", "qmail-qmqpd"] {
        let mut s = p.spawn(prog, &[]);
        // Half a length, then nothing; stdin stays open.
        let mut stdin = s.child.stdin.take().unwrap();
        stdin.write_all(b"10").unwrap();
        let st = s
            .wait_timeout(Duration::from_secs(30))
            .expect("the server gave up on the client");
        assert_eq!(st.code(), Some(111), "{prog}");
        drop(stdin);
    }
    assert!(p.queued().is_empty());
}

#[test]
fn qmqpc_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("control")).unwrap();
    let run = |envelope: &[u8]| {
        let (r, mut w) = std::io::pipe().unwrap();
        let mut c = Command::new(e2e::bin("qmail-qmqpc"));
        c.env("QMAILHOME", dir.path())
            .stdin(Stdio::piped())
            .stdout(r);
        let mut child = c.spawn().unwrap();
        // Without qmqpservers qmail-qmqpc exits before reading (as 1.03
        // does): a broken pipe here is part of that.
        let _ = child.stdin.take().unwrap().write_all(b"Subject: x\n\n");
        let _ = w.write_all(envelope);
        drop(w);
        child.wait().unwrap().code().unwrap()
    };
    assert_eq!(run(b"Fa@b\0Tc@d\0\0"), 55, "no qmqpservers");
    std::fs::write(dir.path().join("control/qmqpservers"), "127.0.0.1:1\n").unwrap();
    assert_eq!(run(b"Fa@b\0Tc@d\0\0"), 73, "connection refused");
    assert_eq!(run(b"Fa@b\0Tc@d\0"), 91, "a truncated envelope");
}
