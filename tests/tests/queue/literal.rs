//! The queue's on-disk format pinned with literal paths and bytes, not
//! computed by `queue::layout` (the code under test): a site's tools and
//! qmail's own (qmail-qread, qmail-qstat, scripts that count `todo/`)
//! read these files, so their names and records are part of the format.
//!
//! Mode: one-folder (non-root); qmail-queue alone, then qmail-send's
//! preprocessing with deliveries that defer.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::Stdio;
use std::time::Duration;

use super::support::System;

const T: Duration = Duration::from_secs(30);

/// The single entry of `dir`, as a number.
fn only_id(dir: &std::path::Path) -> u64 {
    let names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{}: {names:?}", dir.display());
    names[0].parse().expect("a numeric name")
}

#[test]
fn qmail_queue_writes_qmails_files_under_qmails_names() {
    let s = System::new();
    let (er, mut ew) = std::io::pipe().unwrap();
    let mut c = s.command("qmail-queue");
    c.stdin(Stdio::piped()).stdout(Stdio::from(er));
    let mut p = e2e::Proc::spawn(&mut c).unwrap();
    let pid = p.pid();
    let mut stdin = p.child.stdin.take().unwrap();
    stdin.write_all(b"Subject: x\n\nbody\n").unwrap();
    drop(stdin);
    ew.write_all(b"Falice@x.example\0Tbob@y.example\0Tcarol@z.example\0\0")
        .unwrap();
    drop(ew);
    let st = p.wait_timeout(T).expect("qmail-queue exits");
    assert_eq!(st.code(), Some(0));

    let q = s.queue();
    // The message id is the inode number of the message file.
    let id = only_id(&q.join("todo"));
    assert_eq!(only_id(&q.join("intd")), id);
    let mess = q.join(format!("mess/{}/{id}", id % 23));
    assert_eq!(
        fs::metadata(&mess).unwrap().ino(),
        id,
        "mess/{}/{id}",
        id % 23
    );
    // Nothing else in mess/, pid/ left empty.
    let in_mess: usize = (0..23)
        .map(|n| fs::read_dir(q.join(format!("mess/{n}"))).unwrap().count())
        .sum();
    assert_eq!(in_mess, 1);
    assert_eq!(fs::read_dir(q.join("pid")).unwrap().count(), 0);

    // mess: qmail-queue's Received line, then the message as given.
    let text = fs::read(&mess).unwrap();
    let uid = s.uid.unwrap_or_else(|| nix::unistd::getuid().as_raw());
    let head = format!("Received: (qmail {pid} invoked by uid {uid}); ");
    assert!(
        text.starts_with(head.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&text)
    );
    assert!(text.ends_with(b" -0000\nSubject: x\n\nbody\n"));

    // intd and todo: the same file (a hard link), u/p/F/T records, the
    // final \0 of the envelope not written.
    let envelope = format!("u{uid}\0p{pid}\0Falice@x.example\0Tbob@y.example\0Tcarol@z.example\0");
    assert_eq!(
        fs::read(q.join(format!("todo/{id}"))).unwrap(),
        envelope.as_bytes()
    );
    assert_eq!(
        fs::metadata(q.join(format!("todo/{id}"))).unwrap().ino(),
        fs::metadata(q.join(format!("intd/{id}"))).unwrap().ino()
    );
}

#[test]
fn qmail_send_splits_the_envelope_into_info_local_and_remote() {
    let mut s = System::new();
    s.control("locals", "y.example\n");
    // Both deliveries defer, so the files stay for the test to read: the
    // stand-in qmail-local defers `soft*`, and the real qmail-remote finds
    // nothing listening on the route's port.
    s.standin_delivery();
    s.real("qmail-remote");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    s.control("smtproutes", &format!("z.example:127.0.0.1:{port}\n"));
    assert_eq!(
        s.inject(
            "alice@x.example",
            &["softbob@y.example", "carol@z.example"],
            b"\n"
        ),
        0
    );
    let q = s.queue();
    let id = only_id(&q.join("todo"));
    s.start("./Maildir/");
    assert!(
        s.wait_log_n("deferral:", 2, T),
        "no two deferrals: {:#?}",
        s.log_lines()
    );
    assert_eq!(fs::read_dir(q.join("todo")).unwrap().count(), 0);
    assert!(!q.join(format!("intd/{id}")).exists());
    let n = id % 23;
    assert_eq!(
        fs::read(q.join(format!("info/{n}/{id}"))).unwrap(),
        b"Falice@x.example\0"
    );
    assert_eq!(
        fs::read(q.join(format!("local/{n}/{id}"))).unwrap(),
        b"Tsoftbob@y.example\0"
    );
    assert_eq!(
        fs::read(q.join(format!("remote/{n}/{id}"))).unwrap(),
        b"Tcarol@z.example\0"
    );
}
