//! qmail-run's first start makes a self-signed certificate (STARTTLS on
//! its SMTP port) and one AUTH user with a password it says once; a
//! client from 127.0.0.2 (which may not relay by address) logs in inside
//! TLS and relays; the second start keeps both files and says no
//! password. As README shows it with swaks.

use std::process::Command;

use super::support::{QmailRun, open_tempdir, wait_mail};

/// Python's smtplib: STARTTLS from 127.0.0.2, AUTH LOGIN, one message to
/// a recipient outside rcpthosts (only a logged-in client may relay).
const CLIENT: &str = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), source_address=("127.0.0.2", 0), timeout=20)
s.ehlo("laptop.example.org")
s.starttls(context=ctx)
s.ehlo("laptop.example.org")
try:
    s.sendmail("you@mail.localhost", ["friend@elsewhere.example"], "Subject: x\r\n\r\nx\r\n")
    print("relayed without auth")
except smtplib.SMTPRecipientsRefused:
    print("refused without auth")
s.rset()
s.login("you", sys.argv[2])
s.mail("you@mail.localhost")
print(s.rcpt("friend@elsewhere.example")[0])
s.rset()
s.sendmail("you@mail.localhost", ["you@localhost"], "Subject: over tls with auth\r\n\r\nhello\r\n")
s.quit()
"#;

#[test]
fn qmail_run_offers_starttls_and_auth_from_its_first_start() {
    super::support::bins();
    let dir = open_tempdir();
    let home = dir.path().join("q");
    let mut a = QmailRun::start(&home);
    a.wait_log("made a self-signed certificate");
    let line = a.wait_log("SMTP AUTH user you password ");
    let password = line
        .split("password ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("a password")
        .to_string();
    assert_eq!(password.len(), 16, "{line}");
    let out = Command::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(a.port.to_string())
        .arg(&password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Logged in, the outside recipient is accepted (no DATA: nothing is
    // queued for a host that does not exist).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "refused without auth\n250\n"
    );
    let m = wait_mail(&a.maildir("you"), "Subject: over tls with auth");
    assert!(m.contains(" with ESMTPSA (TLSv1.3:"), "{m}");
    assert!(m.contains("(you@127.0.0.2)"), "{m}");
    assert!(
        !a.log()
            .iter()
            .any(|l| l.contains(&password) && !l.contains("shown only now"))
    );
    assert_eq!(a.interrupt().code(), Some(0));

    // The second start keeps the files and tells no password.
    let cert = std::fs::read(home.join("control/servercert.pem")).unwrap();
    let mut b = QmailRun::start(&home);
    assert_eq!(
        std::fs::read(home.join("control/servercert.pem")).unwrap(),
        cert
    );
    assert!(
        // POP3's start line names the file its password is in; no line
        // says one.
        !b.log()
            .iter()
            .any(|l| l.contains("shown only now") || l.contains("AUTH user")),
        "{:#?}",
        b.log()
    );
    assert_eq!(b.interrupt().code(), Some(0));
}
