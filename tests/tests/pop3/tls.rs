//! STLS and POP3S: Python's poplib (`stls()`, `POP3_SSL`), openssl
//! s_client, commands pipelined after STLS (never run inside TLS), a
//! silent client inside TLS, USER refused in clear text until STLS, and
//! a broken certificate (no STLS, one log line).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use super::support::{Mailbox, PASS, Pop, Server, T, USER, python};

/// A qmail home whose `control/servercert.pem` is `pem`.
fn home_with(pem: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join("control")).unwrap();
    std::fs::write(home.path().join("control/servercert.pem"), pem).unwrap();
    home
}

fn servercert() -> String {
    let c = rcgen::generate_simple_self_signed(vec!["pop.test".into()]).unwrap();
    format!("{}{}", c.cert.pem(), c.signing_key.serialize_pem())
}

fn serve(mb: &Mailbox, home: &tempfile::TempDir, env: &[(&str, &str)]) -> Server {
    let qhome = home.path().display().to_string();
    let mut all: Vec<(&str, &str)> = vec![("QMAILHOME", &qhome)];
    all.extend_from_slice(env);
    mb.serve(&all)
}

const STLS: &str = r#"
import poplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
print(sorted(p.capa().keys()))
try:
    p.user(sys.argv[3])
except poplib.error_proto as e:
    print(e.args[0].decode())
print(p.stls(ctx).decode())
print(sorted(p.capa().keys()))
p.user(sys.argv[3]); p.pass_(sys.argv[4])
print(p.stat())
resp, lines, _ = p.retr(1); print(repr(b"\n".join(lines)))
p.dele(1)
print(p.quit().decode())
"#;

#[test]
fn poplib_stls_and_no_user_in_clear_text() {
    let mut mb = Mailbox::new();
    mb.put("new", b"Subject: tls\n\nsecret body\n", 30);
    let home = home_with(&servercert());
    let server = serve(&mb, &home, &[]);
    let port = server.port.to_string();
    let out = python(STLS, &["127.0.0.1", &port, USER, PASS]);
    assert_eq!(
        out,
        "['PIPELINING', 'STLS', 'TOP', 'UIDL']\n\
-ERR [AUTH] STLS first: no password in clear text\n+OK \n\
['PIPELINING', 'SASL', 'TOP', 'UIDL', 'USER']\n(1, 26)\n\
b'Subject: tls\\n\\nsecret body\\n'\n+OK \n"
    );
    server.wait_ends(1);
    assert_eq!(mb.names("new"), Vec::<String>::new());
    assert_eq!(mb.names("cur"), Vec::<String>::new());
}

#[test]
fn pop3_cleartext_allows_user_before_stls() {
    let mb = Mailbox::new();
    let home = home_with(&servercert());
    let server = serve(&mb, &home, &[("POP3_CLEARTEXT", "1")]);
    let mut p = Pop::connect(server.addr());
    assert!(p.line().starts_with("+OK <"));
    p.send("CAPA\r\n");
    assert_eq!(
        p.multi(),
        "+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\nSTLS\r\n.\r\n"
    );
    assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
    assert_eq!(p.cmd(&format!("PASS {PASS}")), "+OK \r\n");
    assert_eq!(p.cmd("STAT"), "+OK 0 0\r\n");
}

const POP3S: &str = r#"
import poplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3_SSL(sys.argv[1], int(sys.argv[2]), timeout=60, context=ctx)
print(p.getwelcome().decode()[:5])
print(sorted(p.capa().keys()))
p.user(sys.argv[3]); p.pass_(sys.argv[4])
print(p.stat())
print(p.quit().decode())
"#;

#[test]
fn poplib_pop3s() {
    let mut mb = Mailbox::new();
    mb.put("new", b"a\n", 30);
    let home = home_with(&servercert());
    let server = serve(&mb, &home, &[("POP3S", "1")]);
    let port = server.port.to_string();
    let out = python(POP3S, &["127.0.0.1", &port, USER, PASS]);
    assert_eq!(
        out,
        "+OK <\n['PIPELINING', 'SASL', 'TOP', 'UIDL', 'USER']\n(1, 2)\n+OK \n"
    );
}

#[test]
fn pop3s_without_a_certificate_is_fatal() {
    let mb = Mailbox::new();
    let home = tempfile::tempdir().unwrap();
    let server = serve(&mb, &home, &[("POP3S", "1")]);
    let p = Pop::connect(server.addr());
    assert_eq!(p.rest(), "");
    server.log.wait(T, |l| {
        l.iter()
            .any(|l| l.contains("qmail-popup: fatal: POP3S is set but there is no usable control/servercert.pem"))
            .then_some(())
    }).expect("no fatal line");
}

/// openssl s_client with `args`, these commands on its stdin; its output.
fn s_client(args: &[&str], input: &str) -> String {
    // s_client waits for the server's close; `timeout` bounds it.
    let mut cmd = Command::new("timeout");
    cmd.args(["30", "openssl", "s_client"])
        .args(args)
        .args(["-quiet", "-ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut proc = e2e::Proc::spawn(&mut cmd).expect("run openssl");
    proc.child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let mut out = String::new();
    proc.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

// s_client sends its first line with the handshake's last flight: the
// relay must pass on what rustls already holds (it hung before).
#[test]
fn openssl_starttls_pop3_and_pop3s() {
    let mut mb = Mailbox::new();
    mb.put("new", b"hello\n", 30);
    let home = home_with(&servercert());
    let session = format!("USER {USER}\r\nPASS {PASS}\r\nSTAT\r\nQUIT\r\n");
    let server = serve(&mb, &home, &[]);
    let addr = server.addr().to_string();
    let out = s_client(&["-connect", &addr, "-starttls", "pop3"], &session);
    assert_eq!(out, "+OK \r\n+OK \r\n+OK 1 6\r\n+OK \r\n", "{out:?}");
    let server = serve(&mb, &home, &[("POP3S", "1")]);
    let addr = server.addr().to_string();
    let out = s_client(&["-connect", &addr], &session);
    assert!(out.starts_with("+OK <"), "{out:?}");
    assert!(
        out.ends_with("\r\n+OK \r\n+OK \r\n+OK 1 6\r\n+OK \r\n"),
        "{out:?}"
    );
}

#[test]
fn commands_pipelined_after_stls_are_not_run() {
    let mb = Mailbox::new();
    let home = home_with(&servercert());
    let server = serve(&mb, &home, &[("POP3_CLEARTEXT", "1")]);
    let mut p = Pop::connect(server.addr());
    assert!(p.line().starts_with("+OK <"));
    p.send(&format!("STLS\r\nUSER {USER}\r\nCAPA\r\n"));
    assert_eq!(p.line(), "+OK \r\n");
    let rest = p.rest();
    // A TLS alert at most: the pipelined lines reached the handshake.
    assert!(!rest.contains("+OK") && !rest.contains("TOP"), "{rest:?}");
    server.wait_ends(1);
    assert!(
        server
            .log
            .lines()
            .iter()
            .any(|l| l.contains("qmail-popup: TLS handshake failed")),
        "{:?}",
        server.log.lines()
    );
}

const SILENT: &str = r#"
import poplib, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
p.stls(ctx)
start = time.monotonic()
print(repr(p.sock.recv(100)))
print(time.monotonic() - start < 30)
"#;

#[test]
fn a_silent_client_inside_tls_times_out() {
    let mb = Mailbox::new();
    let home = home_with(&servercert());
    let server = serve(&mb, &home, &[("POP3TIMEOUT", "2")]);
    let port = server.port.to_string();
    let out = python(SILENT, &["127.0.0.1", &port]);
    assert_eq!(out, "b''\nTrue\n");
    server.wait_ends(1);
}

#[test]
fn a_broken_certificate_means_no_stls_and_a_log_line() {
    let mb = Mailbox::new();
    let home = home_with("not a certificate\n");
    let server = serve(&mb, &home, &[]);
    let mut p = Pop::connect(server.addr());
    assert!(p.line().starts_with("+OK <"));
    p.send("CAPA\r\n");
    assert_eq!(
        p.multi(),
        "+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\n.\r\n"
    );
    assert_eq!(p.cmd("STLS"), "-ERR authorization first\r\n");
    assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
    let line = server
        .log
        .wait(T, |l| {
            l.iter().find(|l| l.contains("servercert.pem")).cloned()
        })
        .expect("no log line");
    assert!(
        line.starts_with("qmail-popup: warning: unable to use control/servercert.pem: "),
        "{line}"
    );
}

#[test]
fn the_pop3s_run_script_serves_pop3s() {
    let mut mb = Mailbox::new();
    mb.put("new", b"a\n", 30);
    let home = mb.dir.path().join("qmail");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::create_dir_all(home.join("control")).unwrap();
    std::fs::write(home.join("control/me"), "pop.test\n").unwrap();
    std::fs::write(home.join("control/servercert.pem"), servercert()).unwrap();
    for b in ["tcpserver", "qmail-popup", "qmail-pop3d"] {
        std::os::unix::fs::symlink(e2e::bin(b), home.join("bin").join(b)).unwrap();
    }
    let script = mb.dir.path().join("run");
    let text = std::fs::read_to_string(e2e::workspace().join("boot/service/qmail-pop3ds/run"))
        .unwrap()
        .replace("/var/qmail", &home.display().to_string())
        .replace(
            "/bin/checkpassword",
            &mb.checkpassword().display().to_string(),
        );
    e2e::script::executable(&script, &text);
    // A port the kernel chose and released, retried if taken meanwhile.
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(&script);
        cmd.env("IP", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RULES", mb.dir.path().join("none.cdb"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut proc = e2e::Proc::spawn(&mut cmd).unwrap();
        let log = e2e::log::Log::new();
        log.follow(proc.child.stdout.take().unwrap(), None);
        let up = log.wait(T, |l| {
            l.iter()
                .find(|l| l.contains("status: 0/40") || l.contains("fatal"))
                .cloned()
        });
        if up.as_deref().is_some_and(|l| l.contains("status: 0/40")) {
            let out = python(POP3S, &["127.0.0.1", &port.to_string(), USER, PASS]);
            assert_eq!(
                out,
                "+OK <\n['PIPELINING', 'SASL', 'TOP', 'UIDL', 'USER']\n(1, 2)\n+OK \n"
            );
            return;
        }
        drop(proc);
    }
    panic!("the run script did not start tcpserver");
}
