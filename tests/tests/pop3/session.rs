//! The replies byte for byte, as notqmail's pair gives them (reference
//! pop3.md §3, §5, §7), and our additions: CAPA, AUTH PLAIN, login
//! tries, commands pipelined after PASS.

use std::io::Write;
use std::process::{Command, Stdio};

use super::support::{Mailbox, PASS, Pop, USER};

fn greeting_ok(line: &str) -> bool {
    // +OK <PID.TIME@pop.test>
    let Some(inner) = line
        .strip_prefix("+OK <")
        .and_then(|l| l.strip_suffix("@pop.test>\r\n"))
    else {
        return false;
    };
    let Some((pid, time)) = inner.split_once('.') else {
        return false;
    };
    pid.parse::<u32>().is_ok() && time.parse::<u64>().is_ok()
}

#[test]
fn the_observed_session() {
    let mut mb = Mailbox::new();
    let a = mb.put("new", b"12345678", 30);
    let b = mb.put("new", b"123456789", 20);
    let c = mb.put("cur", b"0123456789abcdef", 10);
    let server = mb.serve(&[]);
    let mut p = Pop::connect(server.addr());
    let g = p.line();
    assert!(greeting_ok(&g), "{g:?}");
    assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
    assert_eq!(p.cmd(&format!("PASS {PASS}")), "+OK \r\n");
    assert_eq!(p.cmd("STAT"), "+OK 3 33\r\n");
    p.send("LIST\r\n");
    assert_eq!(p.multi(), "+OK \r\n1 8\r\n2 9\r\n3 16\r\n.\r\n");
    p.send("UIDL\r\n");
    assert_eq!(
        p.multi(),
        format!("+OK \r\n1 {a}\r\n2 {b}\r\n3 {c}\r\n.\r\n")
    );
    assert_eq!(p.cmd("DELE 1"), "+OK \r\n");
    assert_eq!(p.cmd("STAT"), "+OK 3 25\r\n");
    p.send("LIST\r\n");
    assert_eq!(p.multi(), "+OK \r\n2 9\r\n3 16\r\n.\r\n");
    assert_eq!(p.cmd("RETR 1"), "-ERR already deleted\r\n");
    assert_eq!(p.cmd("LAST"), "+OK 1\r\n");
    assert_eq!(p.cmd("LIST 0"), "-ERR messages are counted from 1\r\n");
    assert_eq!(p.cmd("LIST 9"), "-ERR not that many messages\r\n");
    assert_eq!(p.cmd("LIST x"), "-ERR syntax error\r\n");
    assert_eq!(p.cmd("FOO"), "-ERR unimplemented\r\n");
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
    assert_eq!(p.rest(), "");
    // qmail-popup always exits 1.
    server.wait_ends(1);
    assert!(
        server
            .log
            .lines()
            .iter()
            .any(|l| l.ends_with(" status 256")),
        "{:?}",
        server.log.lines()
    );
}

#[test]
fn retr_and_top_send_qmails_bytes() {
    let mut mb = Mailbox::new();
    mb.put("new", b"Subject: hi\n\nbody\n.dot\n", 10);
    mb.put("new", b"A: 1\r\n\r\nb\r\n", 9);
    mb.put("new", b"", 8);
    mb.put("new", b"H: x\n\nl1\nl2\nl3", 7);
    let server = mb.serve(&[]);
    let mut p = Pop::login(server.addr());
    p.send("RETR 1\r\n");
    assert_eq!(
        p.multi(),
        "+OK \r\nSubject: hi\r\n\r\nbody\r\n..dot\r\n\r\n.\r\n"
    );
    p.send("RETR 2\r\n");
    assert_eq!(p.multi(), "+OK \r\nA: 1\r\r\n\r\r\nb\r\r\n\r\n.\r\n");
    p.send("RETR 3\r\n");
    assert_eq!(p.multi(), "+OK \r\n\r\n.\r\n");
    p.send("TOP 4 0\r\n");
    assert_eq!(p.multi(), "+OK \r\nH: x\r\n\r\n\r\n.\r\n");
    p.send("TOP 4 2\r\n");
    assert_eq!(p.multi(), "+OK \r\nH: x\r\n\r\nl1\r\nl2\r\n\r\n.\r\n");
    p.send("top 4\r\n");
    assert_eq!(p.multi(), "+OK \r\nH: x\r\n\r\nl1\r\nl2\r\nl3\r\n\r\n.\r\n");
    p.send("RETR 4 1\r\n");
    assert_eq!(p.multi(), "+OK \r\nH: x\r\n\r\nl1\r\n\r\n.\r\n");
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
}

#[test]
fn before_the_login() {
    let mb = Mailbox::new();
    let server = mb.serve(&[]);
    let mut p = Pop::connect(server.addr());
    p.line();
    assert_eq!(p.cmd("PASS x"), "-ERR USER first\r\n");
    assert_eq!(p.cmd("USER"), "-ERR syntax error\r\n");
    assert_eq!(p.cmd("STAT"), "-ERR authorization first\r\n");
    assert_eq!(p.cmd(""), "-ERR authorization first\r\n");
    assert_eq!(p.cmd("noop"), "+OK \r\n");
    assert_eq!(p.cmd("APOP x"), "-ERR syntax error\r\n");
    assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
    assert_eq!(p.cmd("PASS"), "-ERR syntax error\r\n");
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
    assert_eq!(p.rest(), "");
}

#[test]
fn a_failed_login_closes_the_connection() {
    let mb = Mailbox::new();
    let server = mb.serve(&[]);
    let mut p = Pop::connect(server.addr());
    p.line();
    assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
    assert_eq!(p.cmd("PASS wrong"), "-ERR authorization failed\r\n");
    assert_eq!(p.rest(), "");
}

#[test]
fn pop3logintries_allows_more_and_is_bounded() {
    let mut mb = Mailbox::new();
    mb.put("new", b"x\n", 10);
    let server = mb.serve(&[("POP3LOGINTRIES", "3")]);
    let mut p = Pop::connect(server.addr());
    p.line();
    assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
    assert_eq!(p.cmd("PASS wrong"), "-ERR authorization failed\r\n");
    assert_eq!(p.cmd("PASS again"), "-ERR USER first\r\n");
    assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
    assert_eq!(p.cmd(&format!("PASS {PASS}")), "+OK \r\n");
    assert_eq!(p.cmd("STAT"), "+OK 1 2\r\n");
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");

    let mut p = Pop::connect(server.addr());
    p.line();
    for _ in 0..2 {
        assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
        assert_eq!(p.cmd("PASS wrong"), "-ERR authorization failed\r\n");
    }
    assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
    assert_eq!(p.cmd("PASS wrong"), "-ERR authorization failed\r\n");
    assert_eq!(p.rest(), "");
}

#[test]
fn apop_with_the_greetings_timestamp() {
    let mut mb = Mailbox::new();
    mb.put("new", b"x\n", 10);
    let server = mb.serve(&[]);
    let mut p = Pop::connect(server.addr());
    let g = p.line();
    let ts = &g[4..g.len() - 2];
    let mut md5 = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    md5.stdin
        .take()
        .unwrap()
        .write_all(format!("{ts}{PASS}").as_bytes())
        .unwrap();
    let out = md5.wait_with_output().unwrap();
    let digest = String::from_utf8(out.stdout).unwrap()[..32].to_string();
    assert_eq!(p.cmd(&format!("APOP {USER} {digest}")), "+OK \r\n");
    assert_eq!(p.cmd("STAT"), "+OK 1 2\r\n");
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
}

#[test]
fn capa_and_auth_plain() {
    let mut mb = Mailbox::new();
    mb.put("new", b"x\n", 10);
    let server = mb.serve(&[]);
    let mut p = Pop::connect(server.addr());
    p.line();
    p.send("CAPA\r\n");
    assert_eq!(
        p.multi(),
        "+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\n.\r\n"
    );
    // \0pop3t1\0secret1
    assert_eq!(p.cmd("AUTH PLAIN"), "+ \r\n");
    assert_eq!(p.cmd("AHBvcDN0MQBzZWNyZXQx"), "+OK \r\n");
    p.send("CAPA\r\n");
    assert_eq!(p.multi(), "+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\n.\r\n");
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");

    let mut p = Pop::connect(server.addr());
    p.line();
    // \0pop3t1\0wrong
    assert_eq!(
        p.cmd("AUTH PLAIN AHBvcDN0MQB3cm9uZw=="),
        "-ERR authorization failed\r\n"
    );
    assert_eq!(p.rest(), "");
}

#[test]
fn commands_pipelined_after_pass_reach_qmail_pop3d() {
    let mut mb = Mailbox::new();
    mb.put("new", b"abc\n", 10);
    let server = mb.serve(&[]);
    let mut p = Pop::connect(server.addr());
    p.line();
    // One write: qmail-popup 1.03 would swallow STAT and LIST.
    p.send(&format!(
        "USER {USER}\r\nPASS {PASS}\r\nSTAT\r\nLIST\r\nQUIT\r\n"
    ));
    assert_eq!(
        p.rest(),
        "+OK \r\n+OK \r\n+OK 1 4\r\n+OK \r\n1 4\r\n.\r\n+OK \r\n"
    );
}

#[test]
fn usage_and_the_checkpassword_exits() {
    let out = Command::new(e2e::bin("qmail-popup"))
        .arg("pop.test")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"-ERR usage: popup hostname subprogram\r\n");

    // A checkpassword that crashes, and one that fails: the data on fd 3
    // is read first so the reply is not "unable to write pipe".
    let dir = tempfile::tempdir().unwrap();
    let crash = e2e::script::sh(
        &dir.path().join("crash"),
        "cat <&3 >/dev/null; kill -SEGV $$",
    );
    let fail = e2e::script::sh(&dir.path().join("fail"), "cat <&3 > \"$0.fd3\"; exit 111");
    for (prog, reply) in [
        (&crash, "-ERR aack, child crashed\r\n"),
        (&fail, "-ERR authorization failed\r\n"),
    ] {
        let mut child = Command::new(e2e::bin("qmail-popup"))
            .arg("pop.test")
            .arg(prog)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"USER a b\r\nPASS  c d \r\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8(out.stdout).unwrap();
        let (greeting, rest) = text.split_once("\r\n").unwrap();
        assert_eq!(rest, format!("+OK \r\n{reply}"));
        if prog == &fail {
            let ts = &greeting[4..];
            let fd3 = std::fs::read(dir.path().join("fail.fd3")).unwrap();
            assert_eq!(fd3, format!("a b\0c d \0{ts}\0").as_bytes());
        }
    }
}

#[test]
fn sigalrm_ends_qmail_popup_with_exit_1() {
    use std::io::BufRead;
    let mut child = e2e::Proc::spawn(
        Command::new(e2e::bin("qmail-popup"))
            .args(["pop.test", "/bin/false"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    )
    .unwrap();
    let mut out = std::io::BufReader::new(child.child.stdout.take().unwrap());
    let mut greeting = String::new();
    out.read_line(&mut greeting).unwrap();
    assert!(greeting_ok(&greeting), "{greeting:?}");
    child.signal(nix::sys::signal::Signal::SIGALRM);
    let st = child
        .wait_timeout(super::support::T)
        .expect("qmail-popup ended");
    assert_eq!(st.code(), Some(1), "{st:?}");
}
