//! qmail-queue against a caller that lies: CR or LF inside an envelope
//! address, envelopes too large to be reasonable.
//!
//! Every test runs the real qmail-queue on a queue made by
//! `queue::layout::create`. `QQ_UNDER_TEST=/path/to/qmail-queue` runs them
//! against another build (the code before a fix, to see them fail).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use control::qmail_queue::{QqExit, envelope};
use e2e::Proc;

const T: Duration = Duration::from_secs(30);

/// The qmail-queue under test: ours, or `QQ_UNDER_TEST`.
fn qmail_queue() -> PathBuf {
    match std::env::var_os("QQ_UNDER_TEST") {
        Some(p) => PathBuf::from(p),
        None => e2e::bin("qmail-queue"),
    }
}

/// A home with an empty queue.
fn home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix("qqhard").tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("qmail");
    fs::create_dir(&home).unwrap();
    queue::layout::create(&home.join("queue"), None).unwrap();
    (dir, home)
}

/// Run `cmd` as qmail-queue: the message on fd 0, `env` on fd 1. Its
/// exit code.
fn run(mut cmd: Command, msg: &[u8], env: &[u8]) -> i32 {
    let (er, mut ew) = std::io::pipe().unwrap();
    cmd.stdin(Stdio::piped()).stdout(Stdio::from(er));
    let mut p = Proc::spawn(&mut cmd).unwrap();
    let mut stdin = p.child.stdin.take().unwrap();
    let msg = msg.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&msg);
    });
    let _ = w.join();
    // qmail-queue may stop reading early (a refused envelope): a failed
    // write is its answer, not ours.
    let _ = ew.write_all(env);
    drop(ew);
    let st = p.wait_timeout(T).expect("qmail-queue exits");
    st.code().unwrap_or(-1)
}

fn qq(home: &Path, msg: &[u8], env: &[u8]) -> i32 {
    let mut c = Command::new(qmail_queue());
    c.env("QMAILHOME", home);
    run(c, msg, env)
}

/// Files below `dir`, recursively, but for `lock/` (which always holds
/// its three).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if e.file_name() == "lock" {
            continue;
        }
        if t.is_dir() {
            out.extend(files(&e.path()));
        } else if !t.is_fifo() {
            out.push(e.path());
        }
    }
    out
}

fn queued(home: &Path) -> usize {
    files(&home.join("queue/todo")).len()
}

#[test]
fn cr_or_lf_in_an_envelope_address_is_91_and_leaves_nothing() {
    let (_d, home) = home();
    for env in [
        envelope(b"a\rRSET@b.example", &[b"c@d.example"]),
        envelope(b"a@b.example", &[b"jo\re@example.com"]),
        envelope(
            b"a@b.example",
            &[&b"ok@d.example"[..], b"b\nRSET@victim.example"],
        ),
        envelope(b"send\r\ner@x", &[b"c@d.example"]),
    ] {
        assert_eq!(
            qq(&home, b"Subject: x\n\nbody\n", &env),
            QqExit::Envelope.code(),
            "{env:?}"
        );
    }
    assert_eq!(files(&home.join("queue")), Vec::<PathBuf>::new());
    // A NUL cannot be inside an address: it ends it, and what follows is
    // then a record that is neither T nor the end.
    assert_eq!(qq(&home, b"x\n", b"Fa@b\0c@d\0\0"), 91);
    assert_eq!(files(&home.join("queue")), Vec::<PathBuf>::new());
    // Still fine: an ordinary envelope.
    assert_eq!(qq(&home, b"x\n", &envelope(b"a@b", &[b"c@d"])), 0);
    assert_eq!(queued(&home), 1);
}

#[test]
fn too_many_recipients_or_bytes_are_refused_and_leave_nothing() {
    let (_d, home) = home();
    let rcpts: Vec<String> = (0..=queue::records::RCPT_MAX)
        .map(|i| format!("r{i}@example.com"))
        .collect();
    assert_eq!(
        qq(&home, b"x\n", &envelope(b"a@b", &rcpts)),
        QqExit::TooManyRecipients.code()
    );
    assert_eq!(files(&home.join("queue")), Vec::<PathBuf>::new());
    // Exactly the limit is fine.
    assert_eq!(
        qq(
            &home,
            b"x\n",
            &envelope(b"a@b", &rcpts[..queue::records::RCPT_MAX])
        ),
        0
    );
    assert_eq!(queued(&home), 1);
    // Long addresses run into the byte limit first.
    let long: Vec<String> = (0..queue::records::ENVELOPE_MAX / 1000 + 1)
        .map(|i| format!("{i:0>990}@example.com"))
        .collect();
    assert_eq!(
        qq(&home, b"x\n", &envelope(b"a@b", &long)),
        QqExit::EnvelopeTooBig.code()
    );
    assert_eq!(queued(&home), 1);
    assert_eq!(files(&home.join("queue/intd")).len(), 1);
    assert_eq!(files(&home.join("queue/mess")).len(), 1);
    // Both are permanent for the programs that run qmail-queue.
    for e in [QqExit::TooManyRecipients, QqExit::EnvelopeTooBig] {
        assert!(control::qmail_queue::exit_text(e.code()).starts_with('D'));
    }
}
