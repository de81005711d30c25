//! qmail-inject and sendmail end to end, with a qmail-queue stand-in (a
//! shell script in the test's qmail home) that records the message and
//! the envelope it is given.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct QmailHome {
    dir: tempfile::TempDir,
}

impl QmailHome {
    /// A home with control/me, our qmail-inject in bin/, and a recording
    /// bin/qmail-queue that exits `qq_exit`.
    fn new(qq_exit: i32) -> QmailHome {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("control")).unwrap();
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("control/me"), "mail.example.com\n").unwrap();
        fs::write(root.join("control/defaultdomain"), "example.com\n").unwrap();
        std::os::unix::fs::symlink(e2e::bin("qmail-inject"), root.join("bin/qmail-inject"))
            .unwrap();
        e2e::script::sh(
            &root.join("bin/qmail-queue"),
            &format!("cat > queued-mess\ncat <&1 > queued-env\nexit {qq_exit}"),
        );
        QmailHome { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn message(&self) -> String {
        String::from_utf8(fs::read(self.root().join("queued-mess")).unwrap()).unwrap()
    }

    fn envelope(&self) -> Vec<u8> {
        fs::read(self.root().join("queued-env")).unwrap()
    }

    fn command(&self, bin: &Path) -> Command {
        let mut c = Command::new(bin);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("QMAILHOME", self.root())
            .env("USER", "joe");
        c
    }

    fn run(&self, mut c: Command, input: &str) -> Output {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        // A program that refuses its arguments exits without reading.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        child.wait_with_output().unwrap()
    }
}

fn inject() -> PathBuf {
    e2e::bin("qmail-inject")
}

fn sendmail() -> PathBuf {
    e2e::bin("sendmail")
}

/// The header lines qmail-inject generates carry the time and its pid;
/// check their shapes and give back the rest.
fn strip_generated(msg: &str) -> String {
    let mut lines = msg.split_inclusive('\n');
    let date = lines.next().unwrap();
    assert!(
        date.starts_with("Date: ") && date.ends_with(" -0000\n"),
        "{date}"
    );
    let id = lines.next().unwrap();
    assert!(
        id.starts_with("Message-ID: <") && id.ends_with(".qmail@mail.example.com>\n"),
        "{id}"
    );
    let stamp = &id["Message-ID: <".len()..];
    assert!(stamp[..14].bytes().all(|b| b.is_ascii_digit()), "{id}");
    lines.collect()
}

#[test]
fn echo_to_user_pipe_qmail_inject() {
    let h = QmailHome::new(0);
    let out = h.run(h.command(&inject()), "to: user\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        h.envelope(),
        b"Fjoe@mail.example.com\0Tuser@mail.example.com\0\0"
    );
    assert_eq!(
        strip_generated(&h.message()),
        "From: joe@mail.example.com\nto: user@mail.example.com\n"
    );
}

#[test]
fn qmail_queue_is_found_through_qmailqueue_too() {
    let h = QmailHome::new(0);
    let other = h.root().join("other-qq");
    e2e::script::sh(&other, "cat > other-mess\ncat <&1 > other-env");
    let mut c = h.command(&inject());
    c.env("QMAILQUEUE", "other-qq").arg("a@x.org");
    let out = h.run(c, "Subject: s\n\nbody");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        fs::read(h.root().join("other-env")).unwrap(),
        b"Fjoe@mail.example.com\0Ta@x.org\0\0"
    );
    let msg = String::from_utf8(fs::read(h.root().join("other-mess")).unwrap()).unwrap();
    assert_eq!(
        strip_generated(&msg),
        "From: joe@mail.example.com\nCc: recipient list not shown: ;\nSubject: s\n\nbody\n"
    );
    assert!(!h.root().join("queued-mess").exists());
}

#[test]
fn dash_n_prints_instead_of_queueing() {
    let h = QmailHome::new(0);
    let mut c = h.command(&inject());
    c.env("QMAILNAME", "Joe Q. Public")
        .env("QMAILHOST", "example.net")
        .args(["-n", "-f", "bounces"]);
    let out = h.run(
        c,
        "To: fred, \"Ann\" <ann@x.org> (friend)\nBcc: hidden@x.org\nSubject: hi\n\nbody\n",
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let (rp, rest) = text.split_at(text.find('\n').unwrap() + 1);
    assert_eq!(rp, "Return-Path: <bounces@mail.example.com>\n");
    // qmail writes no space between > and a comment.
    assert_eq!(
        strip_generated(rest),
        "From: \"Joe Q. Public\" <joe@example.net>\n\
         To: fred@mail.example.com, \"Ann\" <ann@x.org>(friend)\n\
         Subject: hi\n\nbody\n"
    );
    assert!(!h.root().join("queued-mess").exists());
}

#[test]
fn queue_exit_codes_become_inject_exit_codes() {
    for (qq, code, text) in [
        (
            31,
            100,
            "qmail-inject: fatal: mail server permanently rejected message (#5.3.0)\n",
        ),
        (
            53,
            111,
            "qmail-inject: fatal: qq write error or disk full (#4.3.0)\n",
        ),
        (
            71,
            111,
            "qmail-inject: fatal: mail server temporarily rejected message (#4.3.0)\n",
        ),
    ] {
        let h = QmailHome::new(qq);
        let out = h.run(h.command(&inject()), "To: a@x.org\n\nb\n");
        assert_eq!(out.status.code(), Some(code));
        assert_eq!(String::from_utf8_lossy(&out.stderr), text);
    }
    // No qmail-queue at all.
    let h = QmailHome::new(0);
    fs::remove_file(h.root().join("bin/qmail-queue")).unwrap();
    let out = h.run(h.command(&inject()), "To: a@x.org\n\nb\n");
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmail-inject: fatal: unable to exec qq (#4.3.0)\n"
    );
}

#[test]
fn bad_addresses_and_options() {
    let h = QmailHome::new(0);
    let mut c = h.command(&inject());
    c.arg("a@b(c");
    let out = h.run(c, "Subject: x\n\n");
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmail-inject: fatal: unable to parse address: a@b(c\n"
    );
    let mut c = h.command(&inject());
    c.arg("-x");
    assert_eq!(h.run(c, "").status.code(), Some(100));
    let out = h.run(h.command(&inject()), "From: (unbalanced\n\n");
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmail-inject: fatal: unable to parse this line:\nFrom: (unbalanced\n\n"
    );
}

#[test]
fn sendmail_dash_t_takes_recipients_from_the_header() {
    let h = QmailHome::new(0);
    let mut c = h.command(&sendmail());
    c.args(["-t", "-oi", "-f", "boss@example.org", "-F", "The Boss"]);
    let out = h.run(
        c,
        "To: a@x.org\nCc: b@x.org\nBcc: secret@x.org\nSubject: report\n\nnumbers\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        h.envelope(),
        b"Fboss@example.org\0Ta@x.org\0Tb@x.org\0Tsecret@x.org\0\0"
    );
    assert_eq!(
        strip_generated(&h.message()),
        "From: \"The Boss\" <boss@example.org>\n\
         To: a@x.org\nCc: b@x.org\nSubject: report\n\nnumbers\n"
    );
}

#[test]
fn sendmail_without_t_uses_the_arguments_only() {
    let h = QmailHome::new(0);
    let mut c = h.command(&sendmail());
    c.args(["-i", "-odi", "-v", "rcpt@x.org"]);
    let out = h.run(c, "To: other@x.org\nSubject: s\n\n.\nafter the dot\n");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(h.envelope(), b"Fjoe@mail.example.com\0Trcpt@x.org\0\0");
    // A lone dot does not end the message.
    assert!(h.message().ends_with("\n\n.\nafter the dot\n"));
}

#[test]
fn sendmail_bs_bp_and_names() {
    let h = QmailHome::new(0);
    let root = h.root();
    e2e::script::sh(
        &root.join("bin/qmail-smtpd"),
        "env | grep -E '^(RELAYCLIENT|DATABYTES|PROTO|TCPREMOTEIP|TCPREMOTEINFO)=' | sort > smtpd-env",
    );
    e2e::script::sh(&root.join("bin/qmail-qread"), "echo queue listing");
    let out = h.run(
        {
            let mut c = h.command(&sendmail());
            c.arg("-bs");
            c
        },
        "",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        fs::read_to_string(root.join("smtpd-env")).unwrap(),
        "DATABYTES=0\nPROTO=TCP\nRELAYCLIENT=\nTCPREMOTEINFO=sendmail-bs\nTCPREMOTEIP=127.0.0.1\n"
    );
    let mut c = h.command(&sendmail());
    c.arg("-bp");
    let out = h.run(c, "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "queue listing\n");

    let links = tempfile::tempdir().unwrap();
    for name in ["mailq", "newaliases"] {
        std::os::unix::fs::symlink(sendmail(), links.path().join(name)).unwrap();
    }
    let out = h.run(h.command(&links.path().join("mailq")), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "queue listing\n");
    let out = h.run(h.command(&links.path().join("newaliases")), "");
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sendmail: fatal: please use fastforward/newaliases instead\n"
    );
    let mut c = h.command(&sendmail());
    c.arg("-bz");
    let out = h.run(c, "");
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sendmail: usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]\n"
    );
}

#[test]
fn cr_lf_and_nul_never_reach_the_envelope() {
    // Each way an address reaches the envelope, with a CR, LF or NUL in
    // it: refused with exit 100 before qmail-queue runs (a NUL would
    // split one recipient in two in the envelope, a CR or LF would end
    // up on qmail-remote's command line).
    let h = QmailHome::new(0);
    // (program, arguments, environment, input, which address)
    type Case<'a> = (
        &'a str,
        Vec<&'a str>,
        Vec<(&'a str, &'a str)>,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "qmail-inject",
            vec!["-f", "a\rb@x.org", "c@x.org"],
            vec![],
            "\n",
            "sender",
        ),
        (
            "qmail-inject",
            vec!["b\nRSET@x.org"],
            vec![],
            "\n",
            "recipient",
        ),
        (
            "qmail-inject",
            vec!["\"b\rc\"@x.org"],
            vec![],
            "\n",
            "recipient",
        ),
        (
            "qmail-inject",
            vec!["c@x.org"],
            vec![("QMAILUSER", "jo\re")],
            "\n",
            "sender",
        ),
        (
            "qmail-inject",
            vec!["c@x.org"],
            vec![("QMAILSUSER", "jo\ne")],
            "\n",
            "sender",
        ),
        (
            "qmail-inject",
            vec!["c@x.org"],
            vec![("QMAILHOST", "h\rx")],
            "\n",
            "sender",
        ),
        (
            "qmail-inject",
            vec![],
            vec![],
            "To: \"a\rb\"@x.org\n\n",
            "recipient",
        ),
        (
            "qmail-inject",
            vec![],
            vec![],
            "To: \"a\n b\"@x.org\n\n",
            "recipient",
        ),
        (
            "qmail-inject",
            vec![],
            vec![],
            "To: a\0b@x.org\n\n",
            "recipient",
        ),
        (
            "qmail-inject",
            vec![],
            vec![],
            "Return-Path: <\"a\rb\"@x.org>\nTo: c@x.org\n\n",
            "sender",
        ),
        (
            "sendmail",
            vec!["-f", "a\rb@x.org", "c@x.org"],
            vec![],
            "\n",
            "sender",
        ),
        ("sendmail", vec!["c\r@x.org"], vec![], "\n", "recipient"),
        (
            "sendmail",
            vec!["-t"],
            vec![],
            "To: \"a\rb\"@x.org\n\n",
            "recipient",
        ),
    ];
    for (prog, args, env, input, which) in cases {
        let _ = fs::remove_file(h.root().join("queued-env"));
        let mut c = h.command(&if prog == "sendmail" {
            sendmail()
        } else {
            inject()
        });
        c.args(&args);
        for (k, v) in &env {
            c.env(k, v);
        }
        let out = h.run(c, input);
        let err = String::from_utf8_lossy(&out.stderr);
        let case = format!("{prog} {args:?} {env:?} {input:?}");
        assert_eq!(out.status.code(), Some(100), "{case}: {err}");
        assert!(
            err.starts_with(&format!(
                "qmail-inject: fatal: {which} address holds a CR, LF or NUL: "
            )),
            "{case}: {err}"
        );
        assert!(
            !h.root().join("queued-env").exists(),
            "{case}: queued anyway"
        );
    }
}
