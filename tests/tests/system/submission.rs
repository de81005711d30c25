//! qmail-run's submission port: the same qmail-smtpd with `SMTPAUTH='!'`.
//! From 127.0.0.1, which may relay by address on the SMTP port, MAIL
//! still gets 530 5.7.0 until the client has logged in (inside
//! STARTTLS); after AUTH a message is delivered.

use std::process::Command;

use super::support::{QmailRun, open_tempdir, wait_mail};

/// Python's smtplib on the submission port: MAIL before TLS, MAIL inside
/// TLS before AUTH, then AUTH PLAIN and one message to you@localhost.
const CLIENT: &str = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo("laptop.example.org")
print("clear", s.mail("you@mail.localhost")[0])
s.starttls(context=ctx)
s.ehlo("laptop.example.org")
code, text = s.mail("you@mail.localhost")
print("tls", code, text.decode())
s.rset()
s.login("you", sys.argv[2])
s.sendmail("you@mail.localhost", ["you@localhost"], "Subject: via submission\r\n\r\nhello\r\n")
s.quit()
print("sent")
"#;

#[test]
fn submission_requires_auth_and_delivers_after_it() {
    super::support::bins();
    let dir = open_tempdir();
    let home = dir.path().join("q");
    let mut a = QmailRun::start(&home);
    let line = a.wait_log("SMTP AUTH user you password ");
    let password = line
        .split("password ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("a password")
        .to_string();
    let sub = a.wait_log("submission on 127.0.0.1:");
    let port: u16 = sub
        .split("submission on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {sub:?}"));
    assert_ne!(port, a.port, "{sub}");
    assert!(sub.contains("AUTH required"), "{sub}");
    let out = Command::new("python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(port.to_string())
        .arg(&password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{:#?}",
        String::from_utf8_lossy(&out.stderr),
        a.log()
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "clear 530\ntls 530 authentication required (#5.7.0)\nsent\n"
    );
    let m = wait_mail(&a.maildir("you"), "Subject: via submission");
    assert!(m.contains(" with ESMTPSA (TLSv1.3:"), "{m}");
    assert!(m.contains("(you@127.0.0.1)"), "{m}");
    assert_eq!(a.interrupt().code(), Some(0));
}

/// Postfix relaying through qmail-run's submission port (encrypt, SASL)
/// into the Maildir of `you`: the issue's Postfix client, end to end.
#[test]
fn postfix_submits_through_the_submission_port_into_the_maildir() {
    super::support::bins();
    if !e2e::postfix::sasl_modules() {
        return;
    }
    let dir = open_tempdir();
    let home = dir.path().join("q");
    let mut a = QmailRun::start(&home);
    let line = a.wait_log("SMTP AUTH user you password ");
    let password = line
        .split("password ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("a password")
        .to_string();
    let sub = a.wait_log("submission on 127.0.0.1:");
    let port: u16 = sub
        .split("submission on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {sub:?}"));
    let Some(pf) = e2e::postfix::Client::start(port, "you", &password) else {
        assert_eq!(a.interrupt().code(), Some(0));
        return;
    };
    pf.send(
        "you@mail.localhost",
        "you@localhost",
        "postfix via submission",
    );
    let m = wait_mail(&a.maildir("you"), "Subject: postfix via submission");
    assert!(m.contains(" with ESMTPSA (TLSv1."), "{m}");
    assert!(m.contains("(you@127.0.0.1)"), "{m}");
    pf.wait_log(&["status=sent"]);
    assert!(
        a.log().iter().any(|l| l.contains("qmail-smtpd: tx ")
            && l.contains(" tls=TLSv1.")
            && l.contains(" auth=you ")),
        "{:#?}",
        a.log()
    );
    drop(pf);
    assert_eq!(a.interrupt().code(), Some(0));
}
