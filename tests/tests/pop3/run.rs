//! qmail-run serves POP3 for its user `you` on the SMTP address's host
//! (port 0 here, as the SMTP port): mail qmail-smtpd accepted and
//! qmail-local delivered is read with Python's poplib, with the password
//! qmail-run wrote in etc/pop3.password, as README says.

use super::support::python;
use super::system_support::{QmailRun, open_tempdir, send, wait_mail};

const POP3_ON: &str = "POP3 on 127.0.0.1:";

const READ: &str = r#"
import poplib, ssl, sys
ctx = ssl._create_unverified_context()
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=60)
# qmail-run's control/servercert.pem: STLS, and no password before it.
try:
    p.user("you")
    print("USER accepted in clear text")
except poplib.error_proto as e:
    print(e)
p.stls(ctx)
p.user("you")
try:
    p.pass_("wrong")
    print("wrong password accepted")
except poplib.error_proto as e:
    print(e)
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=60)
p.stls(ctx)
p.user("you"); p.pass_(open(sys.argv[2]).read().strip())
n, _ = p.stat()
print(n)
print(b"Subject: read me by POP3" in b"\n".join(p.retr(1)[1]))
p.dele(1)
p.quit()
"#;

#[test]
fn qmail_run_serves_pop3_for_its_user() {
    let dir = open_tempdir();
    let home = dir.path().join("q");
    let mut run = QmailRun::start(&home);
    let line = run.wait_log(POP3_ON);
    let port: u16 = line
        .split(POP3_ON)
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no POP3 port in {line:?}"));
    send(
        run.port,
        std::net::Ipv4Addr::LOCALHOST,
        "me@example.test",
        &["you@localhost"],
        "Subject: read me by POP3\r\n\r\nhello\r\n",
    );
    let maildir = run.maildir("you");
    wait_mail(&maildir, "Subject: read me by POP3");
    // qmail-pop3d lists a message from the second after its delivery.
    let mtime = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().modified().unwrap())
        .max()
        .unwrap();
    let later =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    e2e::poll_until(super::support::T, || {
        (later(std::time::SystemTime::now()) > later(mtime)).then_some(())
    })
    .unwrap();
    let password = home.join("etc/pop3.password");
    let out = python(READ, &[&port.to_string(), &password.display().to_string()]);
    assert_eq!(
        out,
        "b'-ERR [AUTH] STLS first: no password in clear text'\nb'-ERR authorization failed'\n1\nTrue\n"
    );
    for sub in ["new", "cur"] {
        assert_eq!(std::fs::read_dir(maildir.join(sub)).unwrap().count(), 0);
    }
    // The password file is the user's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&password).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(run.interrupt().success(), "{:#?}", run.log());
}
