//! Python's poplib against the chain: a whole session, UIDL stable
//! across sessions, 1,000 messages, and two sessions on one Maildir at
//! once.

use super::support::{Mailbox, PASS, Pop, USER, python};

/// A poplib session that prints what it saw, one fact a line.
const SESSION: &str = r#"
import poplib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
print(p.getwelcome().decode()[:5])
print(sorted(p.capa().keys()))
p.user(sys.argv[3]); p.pass_(sys.argv[4])
n, size = p.stat(); print(n, size)
resp, lines, _ = p.list(); print([l.decode() for l in lines])
resp, lines, _ = p.uidl(); print([l.decode().split()[1] for l in lines])
for i in range(1, n + 1):
    resp, lines, octets = p.retr(i)
    print(repr(b"\n".join(lines)))
resp, lines, _ = p.top(1, 0); print(repr(b"\n".join(lines)))
p.dele(1)
print(p.quit().decode())
"#;

#[test]
fn a_poplib_session() {
    let mut mb = Mailbox::new();
    let a = mb.put("new", b"Subject: one\n\nbody\n.dot\n", 30);
    let b = mb.put("cur", b"Subject: two\n\nx\n", 20);
    let server = mb.serve(&[]);
    let port = server.port.to_string();
    let out = python(SESSION, &["127.0.0.1", &port, USER, PASS]);
    assert_eq!(
        out,
        format!(
            "+OK <\n['PIPELINING', 'SASL', 'TOP', 'UIDL', 'USER']\n2 40\n\
['1 24', '2 16']\n['{a}', '{b}']\n\
b'Subject: one\\n\\nbody\\n.dot\\n'\nb'Subject: two\\n\\nx\\n'\n\
b'Subject: one\\n\\n'\n+OK \n"
        )
    );
    assert_eq!(mb.names("new"), Vec::<String>::new());
    assert_eq!(mb.names("cur"), [format!("{b}:2,S")]);
}

/// UIDL of every session, each on one line.
const UIDLS: &str = r#"
import poplib, sys
for quit in (False, True, True):
    p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
    p.user(sys.argv[3]); p.pass_(sys.argv[4])
    print(" ".join(l.decode() for l in p.uidl()[1]))
    if quit: p.quit()
    else: p.close()
"#;

#[test]
fn uidl_is_stable_across_sessions() {
    let mut mb = Mailbox::new();
    let a = mb.put("new", b"a\n", 30);
    let b = mb.put("cur", b"b\n", 20);
    let server = mb.serve(&[]);
    let port = server.port.to_string();
    let out = python(UIDLS, &["127.0.0.1", &port, USER, PASS]);
    let line = format!("1 {a} 2 {b}\n");
    assert_eq!(out, line.repeat(3));
}

/// 1,000 messages: every one retrieved intact, then all deleted.
const THOUSAND: &str = r#"
import poplib, sys, time
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
p.user(sys.argv[3]); p.pass_(sys.argv[4])
n, size = p.stat()
assert n == 1000, n
assert len(p.list()[1]) == 1000
assert len(set(p.uidl()[1])) == 1000
t = time.time()
for i in range(1, n + 1):
    lines = p.retr(i)[1]
    # qmail's extra empty line comes after each message.
    assert lines[-1] == b"", lines[-3:]
    assert lines[0] == b"Subject: message %d" % i, (i, lines[0])
    assert lines[2] == b".starts with a dot %d" % i, lines[2]
    p.dele(i)
p.quit()
print(n, size)
"#;

#[test]
fn a_session_with_1000_messages() {
    let mut mb = Mailbox::new();
    let mut total = 0;
    for i in 1..=1000u64 {
        let text = format!(
            "Subject: message {i}\n\n.starts with a dot {i}\n{}\n",
            "x".repeat(i as usize)
        );
        total += text.len();
        // One second apart, so the mtime order is the number order.
        mb.put("new", text.as_bytes(), 2000 - i);
    }
    let server = mb.serve(&[]);
    let port = server.port.to_string();
    let out = python(THOUSAND, &["127.0.0.1", &port, USER, PASS]);
    assert_eq!(out, format!("1000 {total}\n"));
    assert_eq!(mb.names("new").len() + mb.names("cur").len(), 0);
}

/// Two sessions at once, with no lock (as qmail): the second sees what
/// the first listed; after the first's QUIT, a message it deleted is
/// gone for the second ("unable to open"), one it moved to cur/ is still
/// read, deleted and counted once. Nothing lost, nothing twice.
#[test]
fn two_sessions_on_one_maildir() {
    let mut mb = Mailbox::new();
    mb.put("new", b"one\n", 30);
    mb.put("new", b"two\n", 20);
    mb.put("new", b"three\n", 10);
    let server = mb.serve(&[]);
    let mut first = Pop::login(server.addr());
    let mut second = Pop::login(server.addr());
    assert_eq!(first.cmd("STAT"), "+OK 3 14\r\n");
    assert_eq!(second.cmd("STAT"), "+OK 3 14\r\n");
    assert_eq!(first.cmd("DELE 1"), "+OK \r\n");
    assert_eq!(first.cmd("QUIT"), "+OK \r\n");
    assert_eq!(mb.names("new").len(), 0);
    assert_eq!(mb.names("cur").len(), 2);

    assert_eq!(second.cmd("RETR 1"), "-ERR unable to open that message\r\n");
    second.send("RETR 2\r\n");
    assert_eq!(second.multi(), "+OK \r\ntwo\r\n\r\n.\r\n");
    assert_eq!(second.cmd("DELE 2"), "+OK \r\n");
    assert_eq!(second.cmd("QUIT"), "+OK \r\n");
    let cur = mb.names("cur");
    assert_eq!(cur.len(), 1, "{cur:?}");
    assert!(cur[0].ends_with(":2,"), "{cur:?}");

    let mut third = Pop::login(server.addr());
    third.send("RETR 1\r\n");
    assert_eq!(third.multi(), "+OK \r\nthree\r\n\r\n.\r\n");
    assert_eq!(third.cmd("QUIT"), "+OK \r\n");
}
