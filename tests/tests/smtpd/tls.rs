//! STARTTLS and SMTPS in qmail-smtpd, with real clients: swaks,
//! openssl s_client and Python's smtplib and ssl; and the attack of
//! CVE-2011-0411 (commands pipelined behind STARTTLS).

use std::os::unix::fs::PermissionsExt;

use super::support::{Opts, RunWith, Server, have, have_swaks_tls, python, swaks};

#[test]
fn swaks_starttls_delivers_and_received_and_log_say_tls() {
    if !have_swaks_tls() {
        return;
    }
    let srv = Server::start(Opts::default());
    let out = swaks(
        &srv,
        &[
            "--tls",
            "--from",
            "a@example.org",
            "--to",
            "joe@example.com",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("<~  250 ok"), "{text}");
    let q = srv.wait_queued(1);
    let (msg, env) = &q[0];
    assert!(
        msg.starts_with("Received: from unknown (HELO laptop.example.org) (127.0.0.1)\n  by 0 with ESMTPS (TLSv1.3:TLS13_"),
        "{msg}"
    );
    assert!(env.contains("Tjoe@example.com\0"), "{env:?}");
    let line = srv.wait_log(&["qmail-smtpd: tx ", "result=250"]);
    assert!(
        line.starts_with("qmail-smtpd: tx ip=127.0.0.1 helo=laptop.example.org tls=TLSv1.3/TLS13_"),
        "{line}"
    );
    assert!(
        line.contains(" auth=- from=<a@example.org> rcpt=<joe@example.com>:250 size="),
        "{line}"
    );
}

#[test]
fn openssl_s_client_starttls_then_ehlo_again() {
    if !have("openssl") {
        return;
    }
    let srv = Server::start(Opts::default());
    let out = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-starttls",
            "smtp",
            "-ign_eof",
            "-connect",
        ])
        .arg(srv.addr.to_string())
        .stdin_bytes(b"EHLO again.example\r\nQUIT\r\n");
    let text = String::from_utf8_lossy(&out.stdout);
    // Inside TLS: no STARTTLS again, AUTH now offered.
    assert!(
        text.contains("250-mx.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH LOGIN PLAIN\r\n221 mx.example.com\r\n"),
        "{text:?}"
    );
}

/// Python: send `STARTTLS` with commands behind it in one write, then
/// talk TLS. Prints every reply.
const INJECT: &str = r#"
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = s.makefile("rb")
def reply(f):
    out = b""
    while True:
        l = f.readline()
        out += l
        if len(l) < 4 or l[3:4] != b"-":
            return out
print(reply(f))
s.sendall(b"EHLO x\r\n")
print(reply(f))
s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@elsewhere.example>\r\nRSET\r\n")
print(reply(f))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    t = ctx.wrap_socket(s, server_hostname="mx.example.com")
except (ssl.SSLError, OSError) as e:
    print("handshake failed", e)
    sys.exit(0)
g = t.makefile("rb")
t.sendall(b"RCPT TO:<joe@example.com>\r\n")
print(reply(g))
t.sendall(b"QUIT\r\n")
print(reply(g))
"#;

#[test]
fn commands_pipelined_after_starttls_are_never_run() {
    let srv = Server::start(Opts::default());
    let out = python(INJECT, &[&srv.port()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The plain bytes after STARTTLS reach the TLS layer as garbage
    // (handshake failure) or are dropped; either way none is a command:
    // no 250 for the injected MAIL, and inside TLS no sender exists.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[2], "b'220 ready for tls\\r\\n'", "{text}");
    if lines.len() > 3 && !lines[3].starts_with("handshake failed") {
        assert_eq!(lines[3], "b'503 MAIL first (#5.5.1)\\r\\n'", "{text}");
    }
    assert!(!text.contains("250 ok"), "{text}");
    assert!(srv.queued().is_empty());
    assert!(!srv.stderr().contains("evil@"), "{}", srv.stderr());
}

/// Python: STARTTLS, then stay silent; print what the server says.
const IDLE: &str = r#"
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = s.makefile("rb")
f.readline()
s.sendall(b"STARTTLS\r\n")
f.readline()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s, server_hostname="mx.example.com")
print(t.version())
print(t.makefile("rb").readline())
"#;

#[test]
fn a_silent_client_times_out_inside_tls_too() {
    let srv = Server::start(Opts {
        control: vec![("timeoutsmtpd", "1\n".into())],
        ..Opts::default()
    });
    let out = python(IDLE, &[&srv.port()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        "TLSv1.3\nb'451 timeout (#4.4.2)\\r\\n'\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn smtps_with_swaks_tlsc() {
    if !have_swaks_tls() {
        return;
    }
    let srv = Server::start(Opts {
        env: vec![("SMTPS", "1".into())],
        ..Opts::default()
    });
    let out = swaks(
        &srv,
        &[
            "--tlsc",
            "--from",
            "a@example.org",
            "--to",
            "joe@example.com",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // TLS from the first byte: EHLO offers no STARTTLS.
    assert!(!text.contains("STARTTLS"), "{text}");
    let q = srv.wait_queued(1);
    assert!(q[0].0.contains(" with ESMTPS (TLSv1.3:"), "{}", q[0].0);
}

#[test]
fn smtplib_starttls_and_a_renewed_certificate_needs_no_restart() {
    const GET: &str = r#"
import smtplib, ssl, sys, hashlib
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo("laptop.example.org")
assert s.has_extn("starttls")
s.starttls(context=ctx)
print(hashlib.sha256(s.sock.getpeercert(binary_form=True)).hexdigest())
s.ehlo("laptop.example.org")
assert not s.has_extn("starttls")
s.sendmail("a@example.org", ["joe@example.com"], "Subject: hi\r\n\r\nhello\r\n")
s.quit()
"#;
    let srv = Server::start(Opts::default());
    let first = python(GET, &[&srv.port()]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    std::fs::write(srv.control("servercert.pem"), super::support::servercert()).unwrap();
    let second = python(GET, &[&srv.port()]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_ne!(first.stdout, second.stdout, "the new certificate is used");
    assert_eq!(srv.wait_queued(2).len(), 2);
}

#[test]
fn a_broken_certificate_means_no_starttls_and_a_log_line() {
    for pem in [
        "garbage\n".to_string(),
        super::support::servercert()
            .split("-----BEGIN PRIVATE KEY")
            .next()
            .unwrap()
            .to_string(),
    ] {
        let srv = Server::start(Opts {
            cert: Some(pem),
            ..Opts::default()
        });
        let mut c = std::net::TcpStream::connect(srv.addr).unwrap();
        c.set_read_timeout(Some(super::support::T)).unwrap();
        use std::io::{Read, Write};
        c.write_all(b"EHLO x\r\nSTARTTLS\r\nQUIT\r\n").unwrap();
        let mut all = String::new();
        c.read_to_string(&mut all).unwrap();
        assert_eq!(
            all,
            "220 mx.example.com ESMTP\r\n250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n\
             502 unimplemented (#5.5.1)\r\n221 mx.example.com\r\n"
        );
        let line = srv.wait_log(&["servercert.pem"]);
        assert!(
            line.starts_with("qmail-smtpd: warning: unable to use control/servercert.pem: "),
            "{line}"
        );
    }
}

#[test]
fn boot_files_for_465_and_587() {
    // Each starts qmail-smtpd with checkpassword for AUTH, the right
    // variable and port, and refuses to start without rcpthosts or a
    // certificate.
    let boot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../boot");
    let files: &[(&str, &[&str])] = &[
        (
            "service/qmail-smtps/run",
            &[
                "PORT:-465",
                "SMTPS=1",
                "if [ ! -f /var/qmail/control/rcpthosts ]; then",
                "if [ ! -f /var/qmail/control/servercert.pem ]; then",
            ],
        ),
        (
            "service/qmail-submission/run",
            &[
                "PORT:-587",
                "SMTPAUTH='!'",
                "if [ ! -f /var/qmail/control/rcpthosts ]; then",
                "if [ ! -f /var/qmail/control/servercert.pem ]; then",
            ],
        ),
        (
            "systemd/qmail-smtps.socket",
            &[
                "ListenStream=0.0.0.0:465\n",
                "AssertPathExists=/var/qmail/control/servercert.pem\n",
            ],
        ),
        (
            "systemd/qmail-smtps.service",
            &[
                "\nEnvironment=SMTPS=1\n",
                "AssertPathExists=/var/qmail/control/rcpthosts\n",
                " 465 /var/qmail/bin/qmail-smtpd 0 /var/qmail/bin/checkpassword /bin/true\n",
            ],
        ),
        (
            "systemd/qmail-submission.socket",
            &[
                "ListenStream=0.0.0.0:587\n",
                "AssertPathExists=/var/qmail/control/servercert.pem\n",
            ],
        ),
        (
            "systemd/qmail-submission.service",
            &[
                "\nEnvironment=SMTPAUTH=!\n",
                "AssertPathExists=/var/qmail/control/rcpthosts\n",
                " 587 /var/qmail/bin/qmail-smtpd 0 /var/qmail/bin/checkpassword /bin/true\n",
            ],
        ),
    ];
    for (file, needles) in files {
        let text = std::fs::read_to_string(boot.join(file)).unwrap();
        for n in *needles {
            assert!(text.contains(n), "{file} lacks {n:?}");
        }
    }
    for run in ["service/qmail-smtps/run", "service/qmail-submission/run"] {
        let st = std::process::Command::new("sh")
            .arg("-n")
            .arg(boot.join(run))
            .status()
            .unwrap();
        assert!(st.success(), "{run} is not valid sh");
        assert!(
            boot.join(run).metadata().unwrap().permissions().mode() & 0o111 != 0,
            "{run} is not executable"
        );
    }
}
