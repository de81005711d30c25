//! `sendmail -bs`: SMTP on stdin and stdout through the real
//! qmail-smtpd (sendmail execs bin/qmail-smtpd in the qmail home), as a
//! trusted local client: relaying allowed, no size limit, and the
//! Received line names sendmail-bs. And `newaliases`: the clear refusal.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

#[test]
fn sendmail_bs_speaks_smtp_through_qmail_smtpd() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    std::fs::create_dir_all(home.join("control")).unwrap();
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::write(home.join("control/me"), "mail.example.com\n").unwrap();
    // Relaying is closed to outsiders: only example.com is accepted.
    std::fs::write(home.join("control/rcpthosts"), "example.com\n").unwrap();
    std::fs::write(home.join("control/databytes"), "10\n").unwrap();
    std::os::unix::fs::symlink(e2e::bin("qmail-smtpd"), home.join("bin/qmail-smtpd")).unwrap();
    e2e::script::sh(&home.join("bin/qmail-queue"), "cat > mess; cat <&1 > env");
    let mut c = Command::new(e2e::bin("sendmail"));
    c.arg("-bs")
        .env("QMAILHOME", home)
        .env_remove("PROTO")
        .env_remove("RELAYCLIENT")
        .env_remove("QMAILQUEUE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut p = e2e::Proc::spawn(&mut c).unwrap();
    p.child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"HELO me\r\nMAIL FROM:<joe@mail.example.com>\r\nRCPT TO:<friend@elsewhere.test>\r\n\
              DATA\r\nSubject: from a script\r\n\r\nlonger than databytes\r\n.\r\nQUIT\r\n",
        )
        .unwrap();
    let mut out = String::new();
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    p.wait_timeout(std::time::Duration::from_secs(30))
        .expect("sendmail -bs ended");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "220 mail.example.com ESMTP", "{out}");
    // RELAYCLIENT="" and DATABYTES=0: relaying and any size are fine.
    assert!(lines[3].starts_with("250 "), "{out}");
    assert!(lines[5].starts_with("250 ok "), "{out}");
    assert_eq!(
        std::fs::read(home.join("env")).unwrap(),
        b"Fjoe@mail.example.com\0Tfriend@elsewhere.test\0\0"
    );
    let mess = std::fs::read_to_string(home.join("mess")).unwrap();
    assert!(
        mess.starts_with(
            "Received: from localhost (HELO me) (sendmail-bs@127.0.0.1)\n  by localhost with SMTP; "
        ),
        "{mess}"
    );
    assert!(
        mess.ends_with("Subject: from a script\n\nlonger than databytes\n"),
        "{mess}"
    );
}

#[test]
fn newaliases_names_the_alternative() {
    let links = tempfile::tempdir().unwrap();
    let na = links.path().join("newaliases");
    std::os::unix::fs::symlink(e2e::bin("sendmail"), &na).unwrap();
    let out = Command::new(&na)
        .env("QMAILHOME", links.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        out.stderr,
        b"sendmail: fatal: please use fastforward/newaliases instead\n"
    );
}
