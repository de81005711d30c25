//! qmail-queue against a caller that lies: CR or LF inside an envelope
//! address, envelopes too large to be reasonable, a `lock/trigger` that is
//! not a fifo, a setuid qmail-queue run through a hard link or copy in a
//! tree of the caller's, and the order of the syncs and links that make
//! an exit 0 durable.
//!
//! Every test runs the real qmail-queue on a queue made by
//! `queue::layout::create`. `QQ_UNDER_TEST=/path/to/qmail-queue` runs them
//! against another build (the code before a fix, to see them fail).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use control::qmail_queue::{QqExit, envelope};
use e2e::Proc;

const T: Duration = Duration::from_secs(30);
const NOBODY: u32 = 65534;

/// The qmail-queue under test: ours, or `QQ_UNDER_TEST`.
fn qmail_queue() -> PathBuf {
    match std::env::var_os("QQ_UNDER_TEST") {
        Some(p) => PathBuf::from(p),
        None => e2e::bin("qmail-queue"),
    }
}

fn other_build() -> bool {
    std::env::var_os("QQ_UNDER_TEST").is_some()
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

#[test]
fn a_trigger_that_is_not_a_fifo_is_not_written() {
    let (_d, home) = home();
    let trigger = home.join("queue/lock/trigger");
    let env = envelope(b"a@b", &[b"c@d"]);

    // A regular file.
    fs::remove_file(&trigger).unwrap();
    fs::write(&trigger, b"").unwrap();
    assert_eq!(qq(&home, b"x\n", &env), 0);
    assert_eq!(
        fs::read(&trigger).unwrap(),
        b"",
        "written into a regular file"
    );

    // A symbolic link to a file the caller wants written.
    let target = home.join("victim");
    fs::write(&target, b"").unwrap();
    fs::remove_file(&trigger).unwrap();
    std::os::unix::fs::symlink(&target, &trigger).unwrap();
    assert_eq!(qq(&home, b"x\n", &env), 0);
    assert_eq!(fs::read(&target).unwrap(), b"", "written through a symlink");

    // A symbolic link to a fifo is not followed either.
    let fifo = home.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622)).unwrap();
    let reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    fs::remove_file(&trigger).unwrap();
    std::os::unix::fs::symlink(&fifo, &trigger).unwrap();
    assert_eq!(qq(&home, b"x\n", &env), 0);
    assert_eq!(pending(&reader), 0, "written through a symlink to a fifo");

    // The real thing: a fifo gets its byte.
    fs::remove_file(&trigger).unwrap();
    nix::unistd::mkfifo(&trigger, nix::sys::stat::Mode::from_bits_truncate(0o622)).unwrap();
    let reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&trigger)
        .unwrap();
    assert_eq!(qq(&home, b"x\n", &env), 0);
    assert_eq!(pending(&reader), 1, "the fifo is pulled");
    assert_eq!(queued(&home), 4);
}

/// Bytes waiting in a non-blocking fifo reader.
fn pending(reader: &fs::File) -> usize {
    use std::io::Read;
    let mut buf = [0u8; 16];
    let mut r = reader;
    match r.read(&mut buf) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(e) => panic!("read fifo: {e}"),
    }
}

/// A copy of qmail-queue with `home` fixed in it, as qmail-setup
/// installs it.
fn installed_copy(to: &Path, home: &Path) {
    let mut bytes = fs::read(qmail_queue()).unwrap();
    let fixed = queue::home::fix(&mut bytes, home);
    if !other_build() {
        fixed.unwrap();
    }
    fs::write(to, &bytes).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn the_home_fixed_at_install_time_serves_when_qmailhome_is_unset() {
    let (d, home) = home();
    let bin = d.path().join("elsewhere/qmail-queue");
    fs::create_dir(bin.parent().unwrap()).unwrap();
    installed_copy(&bin, &home);
    let mut c = Command::new(&bin);
    c.env_remove("QMAILHOME");
    assert_eq!(run(c, b"x\n", &envelope(b"a@b", &[b"c@d"])), 0);
    assert_eq!(queued(&home), 1);
    // Not set-id, QMAILHOME still chooses (the one-folder mode).
    let (_d2, other) = self::home();
    let mut c = Command::new(&bin);
    c.env("QMAILHOME", &other);
    assert_eq!(run(c, b"x\n", &envelope(b"a@b", &[b"c@d"])), 0);
    assert_eq!((queued(&home), queued(&other)), (1, 1));
}

fn chown_r(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
    if fs::symlink_metadata(p).unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap() {
            chown_r(&e.unwrap().path(), uid, gid);
        }
    }
}

/// A uid no account has, to own the setuid program and the real queue
/// (qmailq's role) without creating users on the machine.
fn free_uid() -> u32 {
    (60000..65000)
        .find(|&u| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(u))
                .ok()
                .flatten()
                .is_none()
        })
        .expect("a free uid")
}

#[test]
fn a_setuid_link_or_copy_in_the_callers_tree_does_not_write_there() {
    if e2e::skip_unless_root("setuid qmail-queue run by nobody") {
        return;
    }
    let qmailq = free_uid();
    // The real installation: HOME/bin/qmail-queue setuid "qmailq", its
    // home fixed in it, the queue owned by "qmailq".
    let (d, home) = home();
    fs::create_dir(home.join("bin")).unwrap();
    let installed = home.join("bin/qmail-queue");
    installed_copy(&installed, &home);
    chown_r(&home.join("queue"), qmailq, qmailq);
    std::os::unix::fs::chown(&installed, Some(qmailq), Some(qmailq)).unwrap();
    fs::set_permissions(&installed, fs::Permissions::from_mode(0o4711)).unwrap();

    // nobody's own tree, a queue in it everyone may write, and a trigger
    // that is a symlink to a file nobody cannot write but qmailq can.
    let evil = d.path().join("evil");
    fs::create_dir_all(evil.join("bin")).unwrap();
    queue::layout::create(&evil.join("queue"), None).unwrap();
    let victim = d.path().join("victim");
    fs::write(&victim, b"").unwrap();
    std::os::unix::fs::chown(&victim, Some(qmailq), Some(qmailq)).unwrap();
    let trigger = evil.join("queue/lock/trigger");
    fs::remove_file(&trigger).unwrap();
    std::os::unix::fs::symlink(&victim, &trigger).unwrap();
    chown_r(&evil, NOBODY, NOBODY);
    for dir in [
        "queue",
        "queue/pid",
        "queue/intd",
        "queue/todo",
        "queue/lock",
    ]
    .iter()
    .map(|p| evil.join(p))
    .chain((0..23).map(|i| evil.join(format!("queue/mess/{i}"))))
    .chain([evil.join("queue/mess")])
    {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    }
    // A hard link (a host without protected hardlinks lets nobody make
    // it; root makes it here) and a copy left setuid.
    let link = evil.join("bin/qmail-queue");
    fs::hard_link(&installed, &link).unwrap();
    let copy = evil.join("bin/qmail-queue-copy");
    fs::copy(&installed, &copy).unwrap();
    std::os::unix::fs::chown(&copy, Some(qmailq), Some(qmailq)).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o4711)).unwrap();

    for prog in [&link, &copy] {
        let mut c = Command::new(prog);
        c.env("QMAILHOME", &evil)
            .current_dir(&evil)
            .uid(NOBODY)
            .gid(NOBODY);
        let code = run(c, b"Subject: x\n\nhi\n", &envelope(b"a@b", &[b"c@d"]));
        assert_eq!(
            files(&evil.join("queue")),
            Vec::<PathBuf>::new(),
            "{} wrote as qmailq into nobody's tree",
            prog.display()
        );
        assert_eq!(fs::read(&victim).unwrap(), b"", "the trigger symlink");
        // It queued where it is installed, which anyone may do.
        assert_eq!(code, 0, "{}", prog.display());
    }
    let mess = files(&home.join("queue/mess"));
    assert_eq!(mess.len(), 2);
    for m in mess {
        assert_eq!(fs::metadata(&m).unwrap().uid(), qmailq);
    }
    assert_eq!(queued(&home), 2);
}

/// The syscalls of one qmail-queue run, from strace's output file.
fn trace(home: &Path) -> Option<Vec<String>> {
    if !Path::new("/usr/bin/strace").exists() {
        e2e::skip_missing("strace");
        return None;
    }
    let out = home.join("strace.out");
    let mut c = Command::new("/usr/bin/strace");
    c.args(["-f", "-y", "-qq", "-o"])
        .arg(&out)
        .args([
            "-e",
            "trace=fsync,fdatasync,sync_file_range,syncfs,link,linkat,rename,renameat,renameat2,openat,write,exit_group",
            "--",
        ])
        .arg(qmail_queue())
        .env("QMAILHOME", home);
    let code = run(c, b"Subject: x\n\nhi\n", &envelope(b"a@b", &[b"c@d"]));
    // The dynamic loader's opens are noise here.
    let lines: Vec<String> = fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("openat(") || l.contains("lock/trigger"))
        .map(str::to_string)
        .collect();
    assert_eq!(code, 0, "{lines:#?}");
    Some(lines)
}

#[test]
fn syncs_and_links_come_in_the_order_that_makes_exit_0_durable() {
    let (_d, home) = home();
    let Some(lines) = trace(&home) else { return };
    let q = fs::canonicalize(home.join("queue")).unwrap();
    let q = q.display().to_string();
    let id = files(&home.join("queue/todo"))[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let n: u64 = id.parse().unwrap();
    let mess_dir = format!("{q}/mess/{}", n % 23);
    let find = |what: &str, pred: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .position(|l| pred(l))
            .unwrap_or_else(|| panic!("no {what} in {lines:#?}"))
    };
    let sync_of = |path: String| {
        move |l: &str| {
            (l.contains("fsync(") || l.contains("fdatasync("))
                && l.contains(&format!("<{path}>"))
                && l.ends_with("= 0")
        }
    };
    let mess_link = find("link to mess", &|l| {
        l.contains("link") && l.contains(&format!("\"mess/{}/{id}\"", n % 23))
    });
    // The message's fd still shows the pid name it was created under.
    let write = find("the Received line", &|l| l.contains("\"Received: (qmail"));
    let fd = lines[write]
        .split_once("write(")
        .and_then(|(_, r)| r.split_once('<'))
        .map(|(fd, _)| format!("fsync({fd}<"))
        .unwrap();
    let mess_sync = find("fsync of the message", &|l: &str| {
        l.contains(&fd) && l.ends_with("= 0")
    });
    let intd_sync = find("fsync of intd", &sync_of(format!("{q}/intd/{id}")));
    let mess_dir_sync = find("fsync of mess/N/", &sync_of(mess_dir));
    let todo_link = find("link into todo", &|l| {
        l.contains("link")
            && l.contains(&format!("\"intd/{id}\""))
            && l.contains(&format!("\"todo/{id}\""))
    });
    let todo_sync = find("fsync of todo/", &sync_of(format!("{q}/todo")));
    let trigger = find("open of lock/trigger", &|l| {
        l.contains("openat(") && l.contains("lock/trigger")
    });
    let exit = find("exit", &|l| l.contains("exit_group(0)"));
    // The message's name, its bytes and the envelope's bytes are on disk
    // before todo/ names the message; todo/ is on disk before exit 0.
    assert!(mess_link < mess_dir_sync, "{lines:#?}");
    assert!(mess_sync < todo_link && intd_sync < todo_link, "{lines:#?}");
    assert!(mess_dir_sync < todo_link, "{lines:#?}");
    assert!(todo_link < todo_sync && todo_sync < exit, "{lines:#?}");
    // The trigger is pulled after the message is queued, never through a
    // symlink, and without blocking.
    assert!(todo_sync < trigger, "{lines:#?}");
    assert!(
        lines[trigger].contains("O_NOFOLLOW") && lines[trigger].contains("O_NONBLOCK"),
        "{}",
        lines[trigger]
    );
    // Nothing is renamed, and no other directory is synced (intd/'s name
    // is not needed once todo/ links the same inode).
    assert!(!lines.iter().any(|l| l.contains("rename")), "{lines:#?}");
    let syncs = lines.iter().filter(|l| l.contains("sync")).count();
    assert_eq!(syncs, 4, "{lines:#?}");
}
