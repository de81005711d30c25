//! qmail-inject and sendmail through the real qmail-queue: the message and
//! envelope land in the queue as qmail-send will read them.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A qmail home with control files, our programs in bin/, and an empty
/// queue in qmail's layout (split 23).
fn home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("control")).unwrap();
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::write(root.join("control/me"), "mail.example.com\n").unwrap();
    for name in ["qmail-queue", "qmail-inject"] {
        std::os::unix::fs::symlink(e2e::bin(name), root.join("bin").join(name)).unwrap();
    }
    queue::layout::create(&root.join("queue"), None).unwrap();
    dir
}

/// The one queued message: its todo record and its mess file.
fn queued(root: &Path) -> (Vec<u8>, String) {
    let todo: Vec<_> = fs::read_dir(root.join("queue/todo"))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(todo.len(), 1, "one message queued");
    let id: u64 = todo[0].file_name().to_str().unwrap().parse().unwrap();
    let record = fs::read(todo[0].path()).unwrap();
    let mess = root.join("queue").join(queue::layout::mess(id));
    (record, fs::read_to_string(mess).unwrap())
}

fn run(root: &Path, prog: &str, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(e2e::bin(prog))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("QMAILHOME", root)
        .env("USER", "joe")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

/// The envelope part of a todo record: after `u<uid>\0p<pid>\0`.
fn envelope(record: &[u8]) -> &[u8] {
    let mut nuls = record.iter().enumerate().filter(|(_, b)| **b == 0);
    let (second, _) = nuls.nth(1).unwrap();
    assert!(record.starts_with(b"u"));
    &record[second + 1..]
}

#[test]
fn echo_to_user_pipe_qmail_inject_is_queued() {
    let h = home();
    let out = run(h.path(), "qmail-inject", &[], "to: user\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (record, mess) = queued(h.path());
    assert_eq!(
        envelope(&record),
        b"Fjoe@mail.example.com\0Tuser@mail.example.com\0"
    );
    let uid = nix::unistd::getuid().as_raw();
    let first = mess.lines().next().unwrap();
    assert!(
        first.starts_with("Received: (qmail ")
            && first.contains(&format!(" invoked by uid {uid}); ")),
        "{first}"
    );
    assert!(mess.contains("\nMessage-ID: <"));
    assert!(
        mess.ends_with("\nFrom: joe@mail.example.com\nto: user@mail.example.com\n"),
        "{mess}"
    );
}

#[test]
fn sendmail_t_is_queued() {
    let h = home();
    let out = run(
        h.path(),
        "sendmail",
        &["-t", "-i", "-f", "list-owner@example.org"],
        "To: a@example.net, b@example.net\nBcc: c@example.net\nSubject: s\n\nbody\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (record, mess) = queued(h.path());
    assert_eq!(
        envelope(&record),
        // Within one field qmail-inject collects addresses right to left,
        // as qmail does: b before a.
        b"Flist-owner@example.org\0Tb@example.net\0Ta@example.net\0Tc@example.net\0"
    );
    assert!(!mess.contains("Bcc"));
    assert!(mess.ends_with("Subject: s\n\nbody\n"));
}
