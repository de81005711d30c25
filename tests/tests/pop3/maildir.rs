//! What a session does to the Maildir: only QUIT changes it (deleted
//! messages unlinked, the rest of new/ moved to cur/NAME:2,); a client
//! that disconnects or times out loses nothing; a vanished message, a
//! missing or broken Maildir, messages of this second, tmp/ leftovers,
//! and qmail-pop3d's refusal to run as root.

use std::fs::FileTimes;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use super::support::{Mailbox, Pop};

#[test]
fn quit_unlinks_the_deleted_and_moves_new_to_cur() {
    let mut mb = Mailbox::new();
    let a = mb.put("new", b"one\n", 30);
    let b = mb.put("new", b"two\n", 20);
    let c = mb.put("cur", b"three\n", 10);
    let server = mb.serve(&[]);
    let mut p = Pop::login(server.addr());
    assert_eq!(p.cmd("DELE 1"), "+OK \r\n");
    // Nothing happens before QUIT.
    assert_eq!(mb.names("new"), [a.clone(), b.clone()]);
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
    assert_eq!(mb.names("new"), Vec::<String>::new());
    let mut cur = vec![format!("{b}:2,"), format!("{c}:2,S")];
    cur.sort();
    assert_eq!(mb.names("cur"), cur);

    // The ids did not change with the move.
    let mut p = Pop::login(server.addr());
    p.send("UIDL\r\n");
    assert_eq!(p.multi(), format!("+OK \r\n1 {b}\r\n2 {c}\r\n.\r\n"));
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
    assert_eq!(mb.names("cur"), cur, "cur/ is never renamed");
}

#[test]
fn a_client_that_disconnects_loses_nothing() {
    let mut mb = Mailbox::new();
    let a = mb.put("new", b"one\n", 30);
    let big: Vec<u8> = b"0123456789abcdef0123456789abcdef0123456789abcdef012345678\n"
        .iter()
        .copied()
        .cycle()
        .take(8 << 20)
        .collect();
    let b = mb.put("new", &big, 20);
    let server = mb.serve(&[]);
    // After DELE, without QUIT.
    let mut p = Pop::login(server.addr());
    assert_eq!(p.cmd("DELE 1"), "+OK \r\n");
    assert_eq!(p.cmd("DELE 2"), "+OK \r\n");
    drop(p);
    // In the middle of a RETR of 8 MB.
    let mut p = Pop::login(server.addr());
    assert_eq!(p.cmd("DELE 1"), "+OK \r\n");
    assert_eq!(p.cmd("RETR 2"), "+OK \r\n");
    assert_eq!(p.line().len(), 59);
    drop(p);
    server.wait_ends(2);
    assert_eq!(mb.names("new"), [a, b]);
    assert_eq!(mb.names("cur"), Vec::<String>::new());
}

#[test]
fn a_silent_client_times_out_and_changes_nothing() {
    let mut mb = Mailbox::new();
    let a = mb.put("new", b"one\n", 30);
    let server = mb.serve(&[("POP3TIMEOUT", "1")]);
    let mut p = Pop::login(server.addr());
    assert_eq!(p.cmd("DELE 1"), "+OK \r\n");
    // The server closes by itself (the client's read timeout is 60 s).
    assert_eq!(p.rest(), "");
    assert_eq!(mb.names("new"), [a]);
    // Before the login too, silently.
    let mut p = Pop::connect(server.addr());
    assert!(p.line().starts_with("+OK <"));
    assert_eq!(p.rest(), "");
}

#[test]
fn a_vanished_message() {
    let mut mb = Mailbox::new();
    let a = mb.put("new", b"one\n", 30);
    let b = mb.put("new", b"two\n", 20);
    let server = mb.serve(&[]);
    let mut p = Pop::login(server.addr());
    std::fs::remove_file(mb.maildir().join("new").join(&a)).unwrap();
    std::fs::remove_file(mb.maildir().join("new").join(&b)).unwrap();
    assert_eq!(p.cmd("RETR 1"), "-ERR unable to open that message\r\n");
    p.send("LIST\r\n");
    assert_eq!(p.multi(), "+OK \r\n1 4\r\n2 4\r\n.\r\n");
    assert_eq!(p.cmd("DELE 1"), "+OK \r\n");
    assert_eq!(p.cmd("DELE 2"), "+OK \r\n");
    p.send("QUIT\r\n");
    assert_eq!(
        p.rest(),
        "-ERR unable to unlink all deleted messages\r\n\
-ERR unable to unlink all deleted messages\r\n+OK \r\n"
    );
}

#[test]
fn a_missing_or_broken_maildir() {
    let mb = Mailbox::new();
    let server = mb.serve(&[]);
    std::fs::remove_dir(mb.maildir().join("cur")).unwrap();
    let mut p = Pop::connect(server.addr());
    p.line();
    p.cmd(&format!("USER {}", super::support::USER));
    p.send(&format!("PASS {}\r\n", super::support::PASS));
    assert_eq!(p.rest(), "-ERR unable to scan $HOME/Maildir\r\n");
    for sub in ["new", "tmp"] {
        std::fs::remove_dir(mb.maildir().join(sub)).unwrap();
    }
    std::fs::remove_dir(mb.maildir()).unwrap();
    let mut p = Pop::connect(server.addr());
    p.line();
    p.cmd(&format!("USER {}", super::support::USER));
    p.send(&format!("PASS {}\r\n", super::support::PASS));
    assert_eq!(p.rest(), "-ERR this user has no $HOME/Maildir\r\n");
}

#[test]
fn messages_of_this_second_wait_for_the_next_session() {
    let mut mb = Mailbox::new();
    let old = mb.put("new", b"old\n", 30);
    // A future mtime stands for "this second" without a race at the
    // second's boundary: both are "not before now".
    let future = "1999999999.M1P1.pop.test";
    mb.put_named(
        &format!("new/{future}"),
        b"new\n",
        SystemTime::now() + Duration::from_secs(3600),
    );
    mb.put_named(
        "new/.hidden",
        b"dot\n",
        SystemTime::now() - Duration::from_secs(60),
    );
    let server = mb.serve(&[]);
    let mut p = Pop::login(server.addr());
    assert_eq!(p.cmd("STAT"), "+OK 1 4\r\n");
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
    assert_eq!(mb.names("new"), [".hidden".to_string(), future.to_string()]);
    assert_eq!(mb.names("cur"), [format!("{old}:2,")]);
}

#[test]
fn old_tmp_files_are_removed_at_login() {
    let mb = Mailbox::new();
    let now = SystemTime::now();
    mb.put_named("tmp/stale", b"x", now);
    mb.put_named("tmp/fresh", b"x", now);
    mb.put_named("tmp/.keep", b"x", now);
    let old = now - Duration::from_secs(37 * 3600);
    for name in ["stale", ".keep"] {
        std::fs::File::options()
            .write(true)
            .open(mb.maildir().join("tmp").join(name))
            .unwrap()
            .set_times(FileTimes::new().set_accessed(old))
            .unwrap();
    }
    let server = mb.serve(&[]);
    let mut p = Pop::login(server.addr());
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
    assert_eq!(mb.names("tmp"), [".keep".to_string(), "fresh".to_string()]);
}

#[test]
fn qmail_pop3d_refuses_root() {
    if e2e::skip_unless_root("qmail-pop3d as uid 0") {
        return;
    }
    let mb = Mailbox::new();
    let out = Command::new(e2e::bin("qmail-pop3d"))
        .arg(mb.maildir())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"");
    assert_eq!(out.stderr, b"qmail-pop3d invoked as uid 0, terminating\n");
}
