//! qmail 1.03's admin tools, run as binaries: qmail-newmrh (and
//! qmail-smtpd reading what it built), qmail-showctl on a fresh
//! qmail-setup home and a configured one (its report compared with what
//! qmail-smtpd does with the same files), qmail-pw2u, maildir2mbox and
//! maildirwatch.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use super::support::{as_owner, bin, bins, open_tempdir, owner};

/// One qmail-smtpd session over pipes: the commands, then what it said.
fn smtpd(home: &Path, input: &str) -> String {
    let mut c = Command::new(e2e::bin("qmail-smtpd"));
    c.env("QMAILHOME", home)
        .env("QMAILQUEUE", "/bin/true")
        .env_remove("RELAYCLIENT")
        .env_remove("DATABYTES")
        .env("TCPREMOTEIP", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut p = e2e::Proc::spawn(&mut c).unwrap();
    let mut stdin = p.child.stdin.take().unwrap();
    // A client that has gone (EPIPE) just ends the session early.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let mut out = String::new();
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    p.wait_timeout(Duration::from_secs(30))
        .expect("qmail-smtpd ended");
    out
}

fn rcpt(home: &Path, to: &str) -> String {
    let out = smtpd(
        home,
        &format!("HELO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<{to}>\r\nQUIT\r\n"),
    );
    out.lines().nth(3).unwrap_or("").to_string()
}

#[test]
fn qmail_newmrh_builds_what_qmail_smtpd_reads() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    fs::create_dir(home.join("control")).unwrap();
    fs::write(home.join("control/me"), "mx.example.com\n").unwrap();
    fs::write(home.join("control/rcpthosts"), "example.com\n").unwrap();
    fs::write(
        home.join("control/morercpthosts"),
        "# hosted\nMore.Example.NET  \n.sub.example.org\n",
    )
    .unwrap();
    let refused = rcpt(home, "u@more.example.net");
    assert!(refused.starts_with("553 "), "{refused}");

    let out = Command::new(e2e::bin("qmail-newmrh"))
        .env("QMAILHOME", home)
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), out.stderr.as_slice()),
        (Some(0), &b""[..])
    );
    let cdb = home.join("control/morercpthosts.cdb");
    assert_eq!(fs::metadata(&cdb).unwrap().mode() & 0o777, 0o644);
    assert!(!home.join("control/morercpthosts.tmp").exists());
    for ok in [
        "u@more.example.net",
        "u@MORE.example.NET",
        "u@a.sub.example.org",
        "u@example.com",
    ] {
        let r = rcpt(home, ok);
        assert!(r.starts_with("250 "), "{ok}: {r}");
    }
    for no in ["u@sub.example.org", "u@example.net", "u@hosted"] {
        let r = rcpt(home, no);
        assert!(r.starts_with("553 "), "{no}: {r}");
    }

    // No morercpthosts: 111 with djb's words, and the old cdb stays.
    fs::remove_file(home.join("control/morercpthosts")).unwrap();
    let out = Command::new(e2e::bin("qmail-newmrh"))
        .env("QMAILHOME", home)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmail-newmrh: fatal: unable to read control/morercpthosts: file does not exist\n"
    );
    assert!(rcpt(home, "u@more.example.net").starts_with("250 "));
}

fn showctl(home: &Path) -> (i32, String) {
    let mut c = Command::new(bin("qmail-showctl"));
    c.env("QMAILHOME", home);
    as_owner(&mut c);
    let out = c.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn qmail_showctl_on_a_fresh_and_a_configured_home() {
    let bins = bins();
    let dir = open_tempdir();
    let (uid, gid) = owner();
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    let home = dir.path().join("qmail");
    let mut c = Command::new(bin("qmail-setup"));
    c.arg("-b").arg(&bins).arg(&home);
    as_owner(&mut c);
    assert_eq!(c.status().unwrap().code(), Some(0));
    // qmail 1.03's programs are installed with hier.c's modes.
    for (name, mode) in [
        ("qmail-newmrh", 0o700),
        ("qmail-pw2u", 0o711),
        ("qmail-showctl", 0o755),
        ("maildir2mbox", 0o755),
        ("maildirwatch", 0o755),
        ("bouncesaying", 0o755),
        ("condredirect", 0o755),
        ("except", 0o755),
        ("forward", 0o755),
        ("predate", 0o755),
        ("datemail", 0o755),
        ("mailsubj", 0o755),
        ("qreceipt", 0o755),
        ("qbiff", 0o755),
        ("qmail-qmtpd", 0o755),
        ("qmail-qmqpd", 0o755),
        ("qmail-qmqpc", 0o755),
    ] {
        let m = fs::metadata(home.join("bin").join(name)).unwrap();
        assert_eq!((m.mode() & 0o7777, m.uid()), (mode, uid), "bin/{name}");
    }
    for page in [
        "man/man5/qmail-control.5",
        "man/man8/qmail-showctl.8",
        "man/man1/bouncesaying.1",
        "man/man7/qmail-limits.7",
    ] {
        assert!(home.join(page).is_file(), "{page}");
    }

    // Fresh: every file at its default; no control/me, so qmail-smtpd
    // cannot greet.
    let (code, text) = showctl(&home);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with(&format!("qmail home directory: {}.\n", home.display())),
        "{text}"
    );
    for want in [
        "user-ext delimiter: -.\n",
        "subdirectory split: 23.\n",
        "\nme: (Default.) My name is undefined! Uh-oh.\n",
        "\nrcpthosts: (Default.) SMTP clients may send messages to any recipient.\n",
        "\nmorercpthosts: (Default.) No rcpthosts; morercpthosts is irrelevant.\n",
        "\ndatabytes: (Default.) SMTP DATA limit is 0 bytes.\n",
        "\nsmtpgreeting: (Default.) SMTP greeting: 220 smtpgreeting.\n",
        "\nconcurrencyremote: (Default.) Remote concurrency is 20.\n",
        "\nqueuelifetime: (Default.) Message lifetime in the queue is 604800 seconds.\n",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    assert!(!text.contains("I have no idea"), "{text}");
    assert!(smtpd(&home, "QUIT\r\n").starts_with("421 "));

    // Configured: config-fast, then a greeting, a size limit and a
    // stray file.
    let mut c = Command::new(home.join("bin/config-fast"));
    c.arg("mail.example.com").env("QMAILHOME", &home);
    as_owner(&mut c);
    assert_eq!(c.output().unwrap().status.code(), Some(0));
    let ctl = home.join("control");
    fs::write(ctl.join("smtpgreeting"), "gate.example.com welcome\n").unwrap();
    fs::write(ctl.join("databytes"), "200\n").unwrap();
    fs::write(ctl.join("rcpthost"), "typo.example\n").unwrap();
    let (code, text) = showctl(&home);
    assert_eq!(code, 0);
    for want in [
        "\nme: My name is mail.example.com.\n",
        "\nbouncehost: (Default.) Bounce host name is mail.example.com.\n",
        "\nlocals: \nMessages for mail.example.com are delivered locally.\n",
        "\nrcpthosts: \nSMTP clients may send messages to recipients at mail.example.com.\n",
        "\nmorercpthosts: (Default.) No effect.\n",
        "\ndatabytes: SMTP DATA limit is 200 bytes.\n",
        "\nsmtpgreeting: SMTP greeting: 220 gate.example.com welcome.\n",
        "\nrcpthost: I have no idea what this file does.\n",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    // What qmail-smtpd does with the same files.
    let big = "x".repeat(300);
    let out = smtpd(
        &home,
        &format!(
            "HELO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<joe@mail.example.com>\r\n\
             RCPT TO:<joe@elsewhere.example>\r\nDATA\r\nSubject: big\r\n\r\n{big}\r\n.\r\nQUIT\r\n"
        ),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "220 gate.example.com welcome ESMTP", "{out}");
    assert!(lines[3].starts_with("250 "), "{out}");
    assert!(lines[4].starts_with("553 "), "{out}");
    assert!(lines[6].starts_with("552 "), "{out}");
}

#[test]
fn qmail_pw2u_writes_users_assign() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = "root:x:0:0:root:/root:/bin/sh\nalias:x:7790:2108::/var/qmail/alias:/bin/true\n\
                  joe:x:1000:100:Joe:/home/joe:/bin/sh\n";
    let run = |args: &[&str]| {
        let mut c = Command::new(e2e::bin("qmail-pw2u"))
            .args(args)
            .env("QMAILHOME", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A usage error exits before reading: the pipe may be closed
        // by then, which is not what this test is about.
        let _ = c.stdin.take().unwrap().write_all(passwd.as_bytes());
        let o = c.wait_with_output().unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8(o.stdout).unwrap(),
            String::from_utf8(o.stderr).unwrap(),
        )
    };
    let (code, out, _) = run(&["-H"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "+:alias:7790:2108:/var/qmail/alias:-::\n=alias:alias:7790:2108:/var/qmail/alias:::\n\
         +alias-:alias:7790:2108:/var/qmail/alias:-::\n=joe:joe:1000:100:/home/joe:::\n\
         +joe-:joe:1000:100:/home/joe:-::\n.\n"
    );
    // What it writes is what qmail-newu compiles.
    fs::create_dir(dir.path().join("users")).unwrap();
    fs::write(dir.path().join("users/assign"), &out).unwrap();
    let st = Command::new(e2e::bin("qmail-newu"))
        .env("QMAILHOME", dir.path())
        .arg(dir.path())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    // The homes do not exist here: by default those accounts are skipped.
    let (code, _, err) = run(&[]);
    assert_eq!(
        (code, err.as_str()),
        (111, "qmail-pw2u: fatal: unable to find alias user\n")
    );
    let (code, _, _) = run(&["-Z"]);
    assert_eq!(code, 100);
}

/// A Maildir message whose mtime is `age` seconds ago (scanners skip
/// the current second).
fn old_message(path: &Path, text: &str, age: u64) {
    fs::write(path, text).unwrap();
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(age))
        .unwrap();
}

fn maildir(d: &Path) {
    for s in ["tmp", "new", "cur"] {
        fs::create_dir_all(d.join(s)).unwrap();
    }
}

#[test]
fn maildir2mbox_moves_messages_into_the_mbox() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    maildir(&md);
    old_message(
        &md.join("new/1.a.host"),
        "Return-Path: <al@x.example>\nSubject: one\n\nFrom me\n",
        100,
    );
    old_message(
        &md.join("cur/2.b.host:2,S"),
        "Return-Path: <>\nSubject: two\n\nbounce",
        50,
    );
    let mbox = dir.path().join("Mailbox");
    fs::write(
        &mbox,
        "From old Thu Jan 02 10:00:00 2025\nSubject: old\n\nold\n\n",
    )
    .unwrap();
    let run = |env: &[(&str, &Path)]| {
        let mut c = Command::new(e2e::bin("maildir2mbox"));
        c.env_remove("MAILDIR")
            .env_remove("MAIL")
            .env_remove("MAILTMP");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let all = [
        ("MAILDIR", md.as_path()),
        ("MAIL", mbox.as_path()),
        ("MAILTMP", &dir.path().join("Mailbox.tmp")),
    ];
    let o = run(&all[..2]);
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(o.stderr, b"maildir2mbox: fatal: MAILTMP not set\n");
    // A temporary file that cannot be made: nothing moves.
    let nowhere = dir.path().join("no/such/dir/tmp");
    let o = run(&[all[0], all[1], ("MAILTMP", nowhere.as_path())]);
    assert_eq!(o.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "maildir2mbox: fatal: unable to create {}: file does not exist\n",
            nowhere.display()
        )
    );
    assert_eq!(fs::read_dir(md.join("new")).unwrap().count(), 1);
    assert!(fs::read_to_string(&mbox).unwrap().ends_with("\nold\n\n"));
    let o = run(&all);
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
        (Some(0), "")
    );
    let text = fs::read_to_string(&mbox).unwrap();
    let parts: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(
        parts[..5].concat(),
        "From old Thu Jan 02 10:00:00 2025\nSubject: old\n\nold\n\n"
    );
    assert!(parts[5].starts_with("From al@x.example "), "{text}");
    assert_eq!(
        parts[6..11].concat(),
        "Return-Path: <al@x.example>\nSubject: one\n\n>From me\n\n"
    );
    assert!(parts[11].starts_with("From MAILER-DAEMON "), "{text}");
    assert_eq!(
        parts[12..].concat(),
        "Return-Path: <>\nSubject: two\n\nbounce\n\n"
    );
    assert_eq!(fs::read_dir(md.join("new")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(md.join("cur")).unwrap().count(), 0);
    assert!(!dir.path().join("Mailbox.tmp").exists());
    assert_eq!(fs::metadata(&mbox).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn maildirwatch_shows_new_messages() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("Maildir");
    maildir(&md);
    old_message(
        &md.join("new/1.a.host"),
        "Return-Path: <al@x.example>\nDelivered-To: joe@example.com\nFrom: Al <al@x.example>\nSubject: lunch\n\nnoon?\n",
        10,
    );
    let mut c = Command::new(e2e::bin("maildirwatch"));
    c.env("MAILDIR", &md).stdout(Stdio::piped());
    let mut p = e2e::Proc::spawn(&mut c).unwrap();
    let want = "\x1b[;H\x1b[;JFROM <al@x.example> TO <joe@example.com>\n\x1b[1mFrom: Al <al@x.example>\x1b[0m\nlunch//noon?/\n\n";
    let mut out = p.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; want.len()];
        let _ = tx.send(out.read_exact(&mut buf).map(|()| buf));
    });
    let got = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a screen from maildirwatch")
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
    drop(p);
    let out = Command::new(e2e::bin("maildirwatch"))
        .env_remove("MAILDIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(out.stderr, b"maildirwatch: fatal: MAILDIR not set\n");
}
