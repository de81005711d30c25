//! qmail-remote's SMTP AUTH to a smarthost:
//! - credentials in `control/remotesecrets` (`relay:user:password`,
//!   mode 0600 or 0640; a file others may read is refused) or, as Tom
//!   Clegg's qmail-remote-auth patch has it, after the relay in
//!   `control/smtproutes` (`domain:relay[:port] user password`);
//! - PLAIN when offered, else LOGIN; only under TLS unless the user is
//!   written `-user`; a server that offers no AUTH, or no TLS, is a
//!   deferral, never mail sent unauthenticated;
//! - the server's reply to AUTH decides bounce (5xx) or deferral;
//! - against Python's aiosmtpd with STARTTLS and AUTH required.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use super::support::{
    Fake, FakeServer, Home, MESSAGE, STEP, Tls, crlf, show, test_cert, tls_server_config,
};
use e2e::Proc;

const ARGS: [&str; 3] = ["example.test", "a@example.org", "b@example.test"];

fn tls_auth_fake(mechanisms: &str) -> Fake {
    Fake {
        tls: Tls::On,
        cert: Some(tls_server_config("relay.test")),
        auth: Some(mechanisms.into()),
        pipelining: true,
        ..Fake::default()
    }
}

fn secrets(home: &Home, body: &str, mode: u32) {
    let p = home.path().join("control/remotesecrets");
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn routes(home: &Home, server: &FakeServer, rest: &str) {
    home.control(
        "smtproutes",
        &format!("example.test:127.0.0.1:{}{rest}\n", server.addr.port()),
    );
}

#[test]
fn plain_under_tls_with_credentials_in_smtproutes() {
    let server = FakeServer::start(tls_auth_fake("LOGIN PLAIN"));
    let home = Home::new();
    routes(&home, &server, " joe secret");
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "r\\0K127.0.0.1 accepted message.\nRemote host said: 250 ok 12345 queued\n\\0"
    );
    let seen = server.wait_for(1);
    assert!(seen[0].tls);
    assert_eq!(
        &seen[0].commands[..5],
        [
            "EHLO me.test",
            "STARTTLS",
            "EHLO me.test",
            "AUTH PLAIN AGpvZQBzZWNyZXQ=",
            "MAIL FROM:<a@example.org>"
        ]
    );
    assert_eq!(seen[0].body.as_deref(), Some(&crlf(MESSAGE)[..]));
}

#[test]
fn login_with_credentials_in_remotesecrets() {
    let server = FakeServer::start(tls_auth_fake("LOGIN"));
    let home = Home::new();
    routes(&home, &server, "");
    // The password may hold colons; the file wins over smtproutes.
    secrets(
        &home,
        "# mine\nother.test:x:y\n127.0.0.1:joe:se:cret\n",
        0o640,
    );
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).starts_with("r\\0K127.0.0.1 accepted message."));
    let seen = server.wait_for(1);
    assert_eq!(
        &seen[0].commands[3..7],
        [
            "AUTH LOGIN",
            "am9l",
            "c2U6Y3JldA==",
            "MAIL FROM:<a@example.org>"
        ]
    );
}

#[test]
fn a_remotesecrets_others_can_read_is_refused() {
    let server = FakeServer::start(tls_auth_fake("PLAIN"));
    let home = Home::new();
    routes(&home, &server, "");
    secrets(&home, "127.0.0.1:joe:secret\n", 0o644);
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "Zcontrol/remotesecrets holds passwords but others may read it; chmod 600 or 640 it. (#4.3.0)\n\\0"
    );
}

#[test]
fn no_password_in_the_clear_unless_the_route_says_so() {
    let plain = || Fake {
        auth: Some("PLAIN LOGIN".into()),
        ..Fake::default()
    };
    let server = FakeServer::start(plain());
    let home = Home::new();
    routes(&home, &server, " joe secret");
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "ZConnected to 127.0.0.1 but it offers no TLS, and I send the password for this route only under TLS. (#4.7.0)\n\\0"
    );
    let seen = server.wait_for(1);
    assert_eq!(seen[0].commands, ["EHLO me.test", "QUIT"]);

    // A TLS handshake that fails: the plain retry still sends no
    // password and no mail.
    let server = FakeServer::start(Fake {
        tls: Tls::Broken,
        ..plain()
    });
    routes(&home, &server, " joe secret");
    let out = home.run(&ARGS, MESSAGE);
    let text = show(&out);
    assert!(
        text.starts_with("ZConnected to 127.0.0.1 but it offers no TLS, and I send the password for this route only under TLS. (#4.7.0)\nTLS with 127.0.0.1 failed ("),
        "{text}"
    );
    let seen = server.wait_for(2);
    assert_eq!(seen[1].commands, ["EHLO me.test", "QUIT"]);

    // "-joe": clear text allowed for this route.
    let server = FakeServer::start(plain());
    routes(&home, &server, " -joe secret");
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).starts_with("r\\0K127.0.0.1 accepted message."));
    assert_eq!(
        server.wait_for(1)[0].commands[1],
        "AUTH PLAIN AGpvZQBzZWNyZXQ="
    );
}

#[test]
fn a_server_without_auth_gets_no_mail_through_this_route() {
    let server = FakeServer::start(Fake {
        auth: None,
        ..tls_auth_fake("")
    });
    let home = Home::new();
    routes(&home, &server, " joe secret");
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "ZConnected to 127.0.0.1 but it offers no AUTH PLAIN or LOGIN, and this route has credentials. (#4.7.0)\n\\0"
    );
    let seen = server.wait_for(1);
    assert!(!seen[0].commands.iter().any(|c| c.starts_with("MAIL")));
    // A server that offers only mechanisms we do not speak.
    let server = FakeServer::start(tls_auth_fake("CRAM-MD5 XOAUTH2"));
    routes(&home, &server, " joe secret");
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).contains("offers no AUTH PLAIN or LOGIN"));
}

#[test]
fn the_servers_reply_decides_bounce_or_deferral() {
    for (reply, letter) in [
        ("535 5.7.8 Authentication credentials invalid", 'D'),
        ("454 4.7.0 Temporary authentication failure", 'Z'),
    ] {
        for mech in ["PLAIN", "LOGIN"] {
            let server = FakeServer::start(Fake {
                auth_reply: reply.into(),
                ..tls_auth_fake(mech)
            });
            let home = Home::new();
            routes(&home, &server, " joe secret");
            let out = home.run(&ARGS, MESSAGE);
            assert_eq!(
                show(&out),
                format!(
                    "{letter}Connected to 127.0.0.1 but authentication was rejected.\nRemote host said: {reply}\n\\0"
                )
            );
            let seen = server.wait_for(1);
            assert!(!seen[0].commands.iter().any(|c| c.starts_with("MAIL")));
        }
    }
}

// ---------------------------------------------------------------- aiosmtpd

const AIOSMTPD_AUTH: &str = r#"
import asyncio, os, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult

outdir = sys.argv[1]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"joe" and auth_data.password == b"s3cret:x"
    # handled=False: aiosmtpd sends its own 235 or 535.
    return AuthResult(success=ok, handled=False, auth_data=auth_data)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(os.path.join(outdir, "0.msg"), "wb") as f:
            f.write(envelope.original_content)
        with open(os.path.join(outdir, "0.tmp"), "w") as f:
            f.write("%s\n%s\n%s\n%s\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos),
                                          "tls" if session.ssl else "plain",
                                          session.auth_data.login.decode()))
        os.rename(os.path.join(outdir, "0.tmp"), os.path.join(outdir, "0.env"))
        return "250 2.0.0 Ok: queued"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), tls_context=ctx, require_starttls=True,
                     authenticator=authenticator, auth_required=True,
                     auth_require_tls=True, hostname="aio.test"),
        "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

fn have_aiosmtpd() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn to_aiosmtpd_with_starttls_and_auth() {
    if !have_aiosmtpd() && e2e::skip_missing("Python's aiosmtpd (pip install aiosmtpd)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("out")).unwrap();
    std::fs::write(d.join("server.py"), AIOSMTPD_AUTH).unwrap();
    let c = test_cert("aio.test");
    std::fs::write(d.join("cert.pem"), c.cert_pem).unwrap();
    std::fs::write(d.join("key.pem"), c.key_pem).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(d.join("server.py"))
        .arg(d.join("out"))
        .arg(d.join("cert.pem"))
        .arg(d.join("key.pem"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut server = Proc::spawn(&mut cmd).unwrap();
    let (line, _) = e2e::read_line_from(server.child.stdout.take().unwrap(), STEP)
        .expect("the aiosmtpd script prints its port");
    let port: u16 = line.trim().parse().unwrap();

    let home = Home::new();
    home.route("example.test", SocketAddr::new([127, 0, 0, 1].into(), port));
    // A wrong password: aiosmtpd's 535 bounces the message.
    secrets(&home, "127.0.0.1:joe:wrong\n", 0o600);
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "DConnected to 127.0.0.1 but authentication was rejected.\nRemote host said: 535 5.7.8 Authentication credentials invalid\n\\0"
    );
    secrets(&home, "127.0.0.1:joe:s3cret:x\n", 0o600);
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok: queued\n\\0"
    );
    let out_dir = d.join("out");
    let env = std::fs::read_to_string(out_dir.join("0.env")).unwrap();
    assert_eq!(env, "a@example.org\nb@example.test\ntls\njoe\n");
    assert_eq!(std::fs::read(out_dir.join("0.msg")).unwrap(), crlf(MESSAGE));
    drop(server);
}
