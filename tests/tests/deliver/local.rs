//! qmail-local end to end: the real binary, a real home directory, the
//! message on a seekable fd 0 and the report on fd 1 = fd 2, as
//! qmail-lspawn runs it. As root, qmail-local runs as nobody (uid 65534)
//! in a home that nobody owns, as qmail-lspawn would run it.

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const NOBODY: u32 = 65534;

const MESSAGE: &[u8] = b"Received: (qmail 1 invoked by uid 0); 3 Jan 2025 10:00:00 -0000\n\
Subject: test\n\
From: alice@example.org\n\
\n\
Hello.\n\
From the body, a line that mbox must quote.\n\
>From one already quoted.\n\
No final newline";

/// A user's home directory owned by the delivery user.
struct Home {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn chown(p: &Path) {
    if e2e::is_root() {
        std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
    }
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("joe");
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        chown(&path);
        Home { _dir: dir, path }
    }

    fn file(&self, name: &str, text: &str) {
        let p = self.path.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        chown(&p);
    }

    fn maildir(&self, name: &str) -> PathBuf {
        let d = self.path.join(name);
        for sub in ["", "tmp", "new", "cur"] {
            fs::create_dir_all(d.join(sub)).unwrap();
            chown(&d.join(sub));
        }
        d
    }

    fn new_files(&self, maildir: &str) -> Vec<Vec<u8>> {
        let mut v: Vec<_> = fs::read_dir(self.path.join(maildir).join("new"))
            .unwrap()
            .map(|e| fs::read(e.unwrap().path()).unwrap())
            .collect();
        v.sort();
        v
    }
}

/// One run of qmail-local.
struct Run {
    code: i32,
    report: String,
}

#[derive(Clone)]
struct Call<'a> {
    local: &'a str,
    dash: &'a str,
    ext: &'a str,
    sender: &'a str,
    aliasempty: &'a str,
    env: Vec<(&'a str, String)>,
    flags: &'a [&'a str],
    limit_blocks: Option<u32>,
    /// How long qmail-local may take before the test calls it hung.
    deadline: std::time::Duration,
}

impl Default for Call<'_> {
    fn default() -> Self {
        Call {
            local: "joe",
            dash: "",
            ext: "",
            sender: "alice@example.org",
            aliasempty: "./Mailbox",
            env: Vec::new(),
            flags: &[],
            limit_blocks: None,
            deadline: std::time::Duration::from_secs(60),
        }
    }
}

fn run(home: &Home, call: Call<'_>, message: &[u8]) -> Run {
    let work = tempfile::tempdir().unwrap();
    let mpath = work.path().join("message");
    fs::write(&mpath, message).unwrap();
    let rpath = work.path().join("report");
    let report = fs::File::create(&rpath).unwrap();
    let bin = e2e::bin("qmail-local");
    let mut cmd = match call.limit_blocks {
        // A file size limit makes writes fail like a full disk; SIGXFSZ
        // is ignored so the write returns EFBIG instead of killing.
        Some(blocks) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!(
                    "ulimit -f {blocks}; trap '' XFSZ; exec \"$0\" \"$@\""
                ))
                .arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    cmd.args(call.flags)
        .arg("--")
        .args([
            "joe",
            home.path.to_str().unwrap(),
            call.local,
            call.dash,
            call.ext,
            "example.com",
            call.sender,
            call.aliasempty,
        ])
        .stdin(fs::File::open(&mpath).unwrap())
        .stdout(report.try_clone().unwrap())
        .stderr(report);
    for (k, v) in &call.env {
        cmd.env(k, v);
    }
    if e2e::is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let mut p = e2e::Proc::spawn(&mut cmd).unwrap();
    let status = p.wait_timeout(call.deadline).expect("qmail-local finished");
    Run {
        code: status.code().expect("exited"),
        report: fs::read_to_string(&rpath).unwrap(),
    }
}

fn rp_dt(sender: &str, recipient: &str) -> Vec<u8> {
    format!("Return-Path: <{sender}>\nDelivered-To: {recipient}\n").into_bytes()
}

#[test]
fn maildir_delivery_reads_back_byte_for_byte() {
    let h = Home::new();
    h.maildir("Maildir");
    h.file(".qmail", "./Maildir/\n");
    let r = run(&h, Call::default(), MESSAGE);
    assert_eq!((r.code, r.report.as_str()), (0, "did 1+0+0\n"));
    let mut want = rp_dt("alice@example.org", "joe@example.com");
    want.extend_from_slice(MESSAGE);
    assert_eq!(h.new_files("Maildir"), vec![want]);
    assert_eq!(fs::read_dir(h.path.join("Maildir/tmp")).unwrap().count(), 0);
}

#[test]
fn mbox_delivery_reads_back_byte_for_byte() {
    let h = Home::new();
    h.file(".qmail", "./Mailbox\n");
    h.file("Mailbox", "");
    let call = Call {
        sender: "",
        ..Call::default()
    };
    assert_eq!(run(&h, call.clone(), MESSAGE).code, 0);
    assert_eq!(run(&h, call, b"Subject: 2\n\nsecond\n").code, 0);
    let got = fs::read(h.path.join("Mailbox")).unwrap();
    let text = String::from_utf8(got).unwrap();
    let mut parts = text.split_inclusive('\n');
    let from = parts.next().unwrap();
    assert!(from.starts_with("From MAILER-DAEMON "), "{from}");
    // The date is GMT with a zero-padded day: "Fri Jan 03 10:00:00 2025".
    let date = &from["From MAILER-DAEMON ".len()..from.len() - 1];
    assert_eq!(date.len(), 24, "{date}");
    assert_eq!(&date[3..4], " ");
    let rest: String = parts.collect();
    let first = "Return-Path: <>\nDelivered-To: joe@example.com\n\
                 Received: (qmail 1 invoked by uid 0); 3 Jan 2025 10:00:00 -0000\n\
                 Subject: test\nFrom: alice@example.org\n\nHello.\n\
                 >From the body, a line that mbox must quote.\n\
                 >>From one already quoted.\nNo final newline\n\n";
    let second =
        format!("{from}Return-Path: <>\nDelivered-To: joe@example.com\nSubject: 2\n\nsecond\n\n");
    // Both deliveries in the same second share the From line; compare
    // the rest exactly.
    assert!(rest.starts_with(first), "{rest}");
    let tail = &rest[first.len()..];
    assert_eq!(
        &tail[tail.find('\n').unwrap()..],
        &second[second.find('\n').unwrap()..]
    );
}

#[test]
fn default_delivery_when_there_is_no_dot_qmail() {
    let h = Home::new();
    h.maildir("Maildir");
    let call = Call {
        aliasempty: "./Maildir/",
        ..Call::default()
    };
    let r = run(&h, call, b"x\n");
    assert_eq!((r.code, r.report.as_str()), (0, "did 1+0+0\n"));
    assert_eq!(h.new_files("Maildir").len(), 1);
    // An empty .qmail file means the default too.
    h.file(".qmail", "");
    let call = Call {
        aliasempty: "./Maildir/",
        ..Call::default()
    };
    assert_eq!(run(&h, call, b"x\n").code, 0);
    assert_eq!(h.new_files("Maildir").len(), 2);
}

#[test]
fn extensions_and_the_default_cascade() {
    let h = Home::new();
    let out = h.path.join("env");
    h.file(
        ".qmail-list-default",
        &format!(
            "|echo \"$EXT $EXT2 $DEFAULT $LOCAL $RECIPIENT $HOST2\" > {}\n",
            out.display()
        ),
    );
    chown(&h.path);
    let call = Call {
        local: "joe-list-Foo.Bar",
        dash: "-",
        ext: "list-Foo.Bar",
        ..Call::default()
    };
    let r = run(&h, call, MESSAGE);
    assert_eq!((r.code, r.report.as_str()), (0, "did 0+0+1\n"));
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "list-Foo.Bar Foo.Bar Foo.Bar joe-list-Foo.Bar joe-list-Foo.Bar@example.com example\n"
    );
    // An exact file wins over -default; dots in the extension are colons.
    h.maildir("exact");
    h.file(".qmail-list-foo:bar", "./exact/\n");
    let call = Call {
        local: "joe-list-Foo.Bar",
        dash: "-",
        ext: "list-Foo.Bar",
        ..Call::default()
    };
    assert_eq!(run(&h, call, b"y\n").code, 0);
    assert_eq!(h.new_files("exact").len(), 1);
}

/// A FIFO (or any file that is not a regular file) in the `.qmail`
/// search is skipped, as qmail's open with O_NDELAY and fstat do: a
/// blocking open would wait for a writer forever, and the delivery with it.
#[test]
fn a_fifo_as_dot_qmail_is_skipped_not_waited_on() {
    let h = Home::new();
    h.maildir("Maildir");
    h.file(".qmail-default", "./Maildir/\n");
    let fifo = h.path.join(".qmail-ext");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    chown(&fifo);
    let call = Call {
        local: "joe-ext",
        dash: "-",
        ext: "ext",
        deadline: std::time::Duration::from_secs(10),
        ..Call::default()
    };
    let r = run(&h, call, MESSAGE);
    assert_eq!((r.code, r.report.as_str()), (0, "did 1+0+0\n"));
    assert_eq!(h.new_files("Maildir").len(), 1);
}

/// An mbox that is a FIFO neither hangs (O_NONBLOCK) nor gets the message:
/// the seek to its end fails first and the delivery defers. Devices stay
/// allowed, as in qmail (the full-disk test writes to /dev/full).
#[test]
fn an_mbox_that_is_a_fifo_defers() {
    let h = Home::new();
    h.file(".qmail", "./Mailbox\n");
    let fifo = h.path.join("Mailbox");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    chown(&fifo);
    // A reader, so that an open for writing succeeds and only the type
    // check can refuse it.
    let reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_nonblock())
        .open(&fifo)
        .unwrap();
    let call = Call {
        deadline: std::time::Duration::from_secs(10),
        ..Call::default()
    };
    let r = run(&h, call, MESSAGE);
    drop(reader);
    assert_eq!(
        (r.code, r.report.as_str()),
        (
            111,
            "Unable to write ./Mailbox: unseekable descriptor. (#4.3.0)\n"
        )
    );
}

/// O_NONBLOCK, so the test's own open of the FIFO does not wait.
fn libc_nonblock() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}

#[test]
fn an_unknown_extension_bounces() {
    let h = Home::new();
    h.file(".qmail-known", "./Mailbox\n");
    let call = Call {
        local: "joe-unknown",
        dash: "-",
        ext: "unknown",
        ..Call::default()
    };
    let r = run(&h, call, MESSAGE);
    assert_eq!(
        (r.code, r.report.as_str()),
        (100, "Sorry, no mailbox here by that name. (#5.1.1)\n")
    );
}

#[test]
fn program_exit_codes() {
    let h = Home::new();
    for (code, want) in [
        (0, 0),
        (99, 0),
        (100, 100),
        (64, 100),
        (112, 100),
        (1, 111),
        (111, 111),
    ] {
        h.file(
            ".qmail",
            &format!("|echo said {code}; exit {code}\n./Mailbox\n"),
        );
        let r = run(&h, Call::default(), MESSAGE);
        assert_eq!(r.code, want, "exit {code}: {}", r.report);
        assert!(
            r.report.starts_with(&format!("said {code}\n")),
            "{}",
            r.report
        );
    }
    // 99 stops before ./Mailbox; 0 went on to it once.
    let mbox = fs::read_to_string(h.path.join("Mailbox")).unwrap();
    assert_eq!(mbox.matches("Return-Path:").count(), 1);
    // The program reads the message itself, without added lines.
    let copy = h.path.join("copy");
    h.file(".qmail", &format!("|cat > {}\n", copy.display()));
    assert_eq!(run(&h, Call::default(), MESSAGE).code, 0);
    assert_eq!(fs::read(&copy).unwrap(), MESSAGE);
}

/// A qmail-queue stand-in that records what it was given.
struct FakeQueue {
    dir: tempfile::TempDir,
}

impl FakeQueue {
    fn new(exit: i32) -> FakeQueue {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let d = dir.path().display();
        e2e::script::sh(
            &dir.path().join("qq"),
            &format!("cat > {d}/mess\ncat <&1 > {d}/env\nexit {exit}"),
        );
        FakeQueue { dir }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "QMAILQUEUE",
                self.dir.path().join("qq").display().to_string(),
            ),
            ("QMAILHOME", self.dir.path().display().to_string()),
        ]
    }

    fn message(&self) -> Vec<u8> {
        fs::read(self.dir.path().join("mess")).unwrap()
    }

    fn envelope(&self) -> Vec<u8> {
        fs::read(self.dir.path().join("env")).unwrap()
    }
}

#[test]
fn forwards_are_queued_once_with_the_delivered_to_line() {
    let h = Home::new();
    h.file(".qmail-fwd", "# forward\n&fred@example.net\nbob\n");
    let q = FakeQueue::new(0);
    let call = Call {
        local: "joe-fwd",
        dash: "-",
        ext: "fwd",
        env: q.env(),
        ..Call::default()
    };
    let r = run(&h, call, MESSAGE);
    assert_eq!(r.code, 0, "{}", r.report);
    assert!(r.report.starts_with("did 0+2+0\nqp "), "{}", r.report);
    let mut want = b"Delivered-To: joe-fwd@example.com\n".to_vec();
    want.extend_from_slice(MESSAGE);
    assert_eq!(q.message(), want);
    assert_eq!(
        q.envelope(),
        b"Falice@example.org\0Tfred@example.net\0Tbob\0\0"
    );
}

#[test]
fn an_owner_file_changes_the_forwarding_sender() {
    let h = Home::new();
    h.file(".qmail-list", "&a@example.net\n");
    h.file(".qmail-list-owner", "&boss@example.net\n");
    let q = FakeQueue::new(0);
    let call = Call {
        local: "joe-list",
        dash: "-",
        ext: "list",
        env: q.env(),
        ..Call::default()
    };
    assert_eq!(run(&h, call.clone(), b"m\n").code, 0);
    assert_eq!(
        q.envelope(),
        b"Fjoe-list-owner@example.com\0Ta@example.net\0\0"
    );
    h.file(".qmail-list-owner-default", "&boss@example.net\n");
    assert_eq!(run(&h, call.clone(), b"m\n").code, 0);
    assert_eq!(
        q.envelope(),
        b"Fjoe-list-owner-@example.com-@[]\0Ta@example.net\0\0"
    );
    // Bounces keep their empty sender.
    let bounce = Call { sender: "", ..call };
    assert_eq!(run(&h, bounce, b"m\n").code, 0);
    assert_eq!(q.envelope(), b"F\0Ta@example.net\0\0");
}

#[test]
fn queue_failures_map_to_permanent_and_temporary() {
    let h = Home::new();
    h.file(".qmail", "&a@example.net\n");
    for (exit, code, text) in [
        (
            31,
            100,
            "Unable to forward message: mail server permanently rejected message (#5.3.0).\n",
        ),
        (
            53,
            111,
            "Unable to forward message: qq write error or disk full (#4.3.0).\n",
        ),
    ] {
        let q = FakeQueue::new(exit);
        let call = Call {
            env: q.env(),
            ..Call::default()
        };
        let r = run(&h, call, b"m\n");
        assert_eq!((r.code, r.report.as_str()), (code, text));
    }
}

#[test]
fn a_message_that_was_here_before_is_a_loop() {
    let h = Home::new();
    h.file(".qmail", "./Mailbox\n");
    let msg = b"Subject: x\nDelivered-To: joe@example.com\n\nbody\n";
    let r = run(&h, Call::default(), msg);
    assert_eq!(
        (r.code, r.report.as_str()),
        (
            100,
            "This message is looping: it already has my Delivered-To line. (#5.4.6)\n"
        )
    );
    assert!(!h.path.join("Mailbox").exists());
    // The same line in the body is no loop.
    let msg = b"Subject: x\n\nDelivered-To: joe@example.com\n";
    assert_eq!(run(&h, Call::default(), msg).code, 0);
}

#[test]
fn permission_checks() {
    let h = Home::new();
    h.file(".qmail", "./Mailbox\n");
    fs::set_permissions(h.path.join(".qmail"), fs::Permissions::from_mode(0o666)).unwrap();
    let r = run(&h, Call::default(), b"m\n");
    assert_eq!(
        (r.code, r.report.as_str()),
        (111, "Uh-oh: .qmail file is writable. (#4.7.0)\n")
    );
    fs::set_permissions(h.path.join(".qmail"), fs::Permissions::from_mode(0o744)).unwrap();
    let r = run(&h, Call::default(), b"m\n");
    assert_eq!(
        (r.code, r.report.as_str()),
        (
            111,
            "Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)\n"
        )
    );
    fs::set_permissions(h.path.join(".qmail"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(&h.path, fs::Permissions::from_mode(0o1755)).unwrap();
    let r = run(&h, Call::default(), b"m\n");
    assert_eq!(
        (r.code, r.report.as_str()),
        (
            111,
            "Home directory is sticky: user is editing his .qmail file. (#4.2.1)\n"
        )
    );
    fs::set_permissions(&h.path, fs::Permissions::from_mode(0o757)).unwrap();
    let r = run(&h, Call::default(), b"m\n");
    assert_eq!(
        (r.code, r.report.as_str()),
        (111, "Uh-oh: home directory is writable. (#4.7.0)\n")
    );
    assert!(!h.path.join("Mailbox").exists());
}

#[test]
fn malformed_lines_are_clear_errors_and_deliver_nothing() {
    let h = Home::new();
    h.maildir("Maildir");
    h.file(".qmail", "./Maildir/\njoe smith@example.net\n");
    let r = run(&h, Call::default(), b"m\n");
    assert_eq!(
        (r.code, r.report.as_str()),
        (
            100,
            ".qmail line 2 is malformed: forward address contains a space. (#5.2.0)\n"
        )
    );
    assert!(h.new_files("Maildir").is_empty());
    h.file(".qmail", "\n./Maildir/\n");
    let r = run(&h, Call::default(), b"m\n");
    assert_eq!(
        (r.code, r.report.as_str()),
        (111, "Uh-oh: first line of .qmail file is blank. (#4.2.1)\n")
    );
}

#[test]
fn dash_n_prints_the_instructions() {
    let h = Home::new();
    h.file(
        ".qmail",
        "# c\n./Maildir/\n/var/mail/joe\n|preline procmail\n&a@b.c\nd@e.f\n",
    );
    let call = Call {
        flags: &["-n"],
        ..Call::default()
    };
    let r = run(&h, call, b"m\n");
    assert_eq!(r.code, 0);
    assert_eq!(
        r.report,
        "maildir ./Maildir/\nmbox /var/mail/joe\nprogram preline procmail\nforward a@b.c\nforward d@e.f\ndid 2+2+1\n"
    );
}

#[test]
fn a_full_disk_leaves_no_partial_message() {
    let h = Home::new();
    h.maildir("Maildir");
    h.file(".qmail", "./Maildir/\n");
    let big: Vec<u8> = b"Subject: big\n\n"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'x', 200_000))
        .collect();
    let call = Call {
        limit_blocks: Some(8),
        ..Call::default()
    };
    let r = run(&h, call, &big);
    assert_eq!(r.code, 111, "{}", r.report);
    assert_eq!(
        r.report,
        "Temporary error on maildir delivery: file too big. (#4.3.0)\n"
    );
    assert!(h.new_files("Maildir").is_empty());
    assert_eq!(fs::read_dir(h.path.join("Maildir/tmp")).unwrap().count(), 0);

    // mbox: truncated back to where the message started.
    h.file(".qmail", "./Mailbox\n");
    let before = "From x Thu Jan 01 00:00:00 1970\nSubject: old\n\nold\n\n";
    h.file("Mailbox", before);
    let call = Call {
        limit_blocks: Some(8),
        ..Call::default()
    };
    let r = run(&h, call, &big);
    assert_eq!(
        (r.code, r.report.as_str()),
        (111, "Unable to write ./Mailbox: file too big. (#4.3.0)\n")
    );
    assert_eq!(fs::read_to_string(h.path.join("Mailbox")).unwrap(), before);

    // A device that is full.
    h.file(".qmail", "/dev/full\n");
    let r = run(&h, Call::default(), b"m\n");
    assert_eq!(
        (r.code, r.report.as_str()),
        (
            111,
            "Unable to write /dev/full: out of disk space. (#4.3.0)\n"
        )
    );
}

#[test]
fn a_missing_maildir_is_temporary() {
    let h = Home::new();
    h.file(".qmail", "./Maildir/\n");
    let r = run(&h, Call::default(), b"m\n");
    assert_eq!(
        (r.code, r.report.as_str()),
        (111, "Unable to chdir to maildir. (#4.2.1)\n")
    );
}

#[test]
fn usage() {
    let out = Command::new(e2e::bin("qmail-local"))
        .args(["joe", "relative", "l", "", "", "d", "s", "a"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain sender aliasempty\n"
    );
}

#[test]
fn procmail_through_preline() {
    let Some(procmail) = e2e::original("/usr/bin/procmail") else {
        return;
    };
    let h = Home::new();
    let mbox = h.path.join("procmail-box");
    let rc = h.path.join("procmailrc");
    h.file(
        "procmailrc",
        &format!(
            "MAILDIR={home}\nDEFAULT={mbox}\nLOGFILE={home}/procmail.log\nVERBOSE=off\n",
            home = h.path.display(),
            mbox = mbox.display()
        ),
    );
    // preline must be found on PATH, as in `|preline procmail`.
    let bindir = e2e::bin("preline").parent().unwrap().to_path_buf();
    h.file(
        ".qmail",
        &format!("|preline {} {}\n", procmail.display(), rc.display()),
    );
    let call = Call {
        env: vec![("PATH", format!("{}:/usr/bin:/bin", bindir.display()))],
        ..Call::default()
    };
    let msg = b"Subject: via procmail\n\nline one\nFrom inside the body\n";
    let r = run(&h, call, msg);
    // procmail may complain on stderr that nobody's passwd home does not
    // exist; the delivery itself must succeed.
    assert_eq!(r.code, 0, "{}", r.report);
    assert!(r.report.ends_with("did 0+0+1\n"), "{}", r.report);
    let got = fs::read_to_string(&mbox).unwrap();
    let first = got.lines().next().unwrap();
    assert!(first.starts_with("From alice@example.org "), "{got}");
    let rest = &got[first.len() + 1..];
    assert_eq!(
        rest,
        "Return-Path: <alice@example.org>\nDelivered-To: joe@example.com\n\
         Subject: via procmail\n\nline one\n>From inside the body\n\n"
    );
}
