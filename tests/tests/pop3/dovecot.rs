//! Dovecot beside us on the same Maildir: its pop3 and qmail-pop3d give
//! the same messages, the sizes RFC 1939 asks for (Dovecot) and qmail's
//! on-disk sizes (ours), unique ids stable across sessions and across
//! the other server's moves; sessions one after the other lose and
//! duplicate nothing.

use super::support::{Dovecot, Mailbox, PASS, USER, python};

/// One POP3 session with poplib; prints, per message: its id, its size
/// and its text (qmail's extra empty line at the end dropped, so both
/// servers' texts compare). argv: host port user pass dele-first.
const DUMP: &str = r#"
import poplib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
p.user(sys.argv[3]); p.pass_(sys.argv[4])
n, _ = p.stat()
uids = {int(l.split()[0]): l.split()[1].decode() for l in p.uidl()[1]}
sizes = {int(l.split()[0]): int(l.split()[1]) for l in p.list()[1]}
for i in range(1, n + 1):
    lines = p.retr(i)[1]
    if sys.argv[6] == "qmail":
        assert lines[-1] == b"", lines
        lines = lines[:-1]
    print(uids[i], sizes[i], repr(b"\n".join(lines)))
if sys.argv[5] == "1":
    p.dele(1)
p.quit()
"#;

struct Msg {
    uid: String,
    size: u64,
    text: String,
}

fn dump(port: u16, dele_first: bool, who: &str) -> Vec<Msg> {
    let port = port.to_string();
    let dele = if dele_first { "1" } else { "0" };
    python(DUMP, &["127.0.0.1", &port, USER, PASS, dele, who])
        .lines()
        .map(|l| {
            let mut it = l.splitn(3, ' ');
            Msg {
                uid: it.next().unwrap().to_string(),
                size: it.next().unwrap().parse().unwrap(),
                text: it.next().unwrap().to_string(),
            }
        })
        .collect()
}

fn texts(v: &[Msg]) -> Vec<&str> {
    v.iter().map(|m| m.text.as_str()).collect()
}

fn uids(v: &[Msg]) -> Vec<&str> {
    v.iter().map(|m| m.uid.as_str()).collect()
}

#[test]
fn pop3_beside_dovecot_on_one_maildir() {
    if !Dovecot::available() {
        return;
    }
    let mut mb = Mailbox::new();
    let bodies: [&[u8]; 3] = [
        b"Subject: one\n\nbody\n.dot\n",
        b"Subject: two\n\nx\n",
        b"Subject: three\n\n..two dots\nlast line without LF",
    ];
    let raw: Vec<u64> = bodies.iter().map(|b| b.len() as u64).collect();
    for (i, b) in bodies.iter().enumerate() {
        mb.put("new", b, 30 - i as u64);
    }
    let ours = mb.serve(&[]);
    let dove = Dovecot::start(&mb.home());

    // Dovecot first: it moves new/ to cur/ when it opens the mailbox.
    let d1 = dump(dove.pop3, false, "dovecot");
    let q1 = dump(ours.port, false, "qmail");
    assert_eq!(
        texts(&d1),
        texts(&q1),
        "the same messages in the same order"
    );
    for (i, (d, q)) in d1.iter().zip(&q1).enumerate() {
        assert_eq!(q.size, raw[i], "qmail-pop3d: the size on disk");
        // RFC 1939: octets as sent, each LF counted as CRLF (Dovecot
        // adds nothing for a last line without LF).
        let lfs = bodies[i].iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(d.size, raw[i] + lfs, "Dovecot: the CRLF size");
    }
    // Ids: unique in each server, the same in the next session of each,
    // whatever the other did in between.
    for v in [&d1, &q1] {
        let mut u = uids(v);
        u.dedup();
        assert_eq!(u.len(), 3);
    }
    let q2 = dump(ours.port, false, "qmail");
    let d2 = dump(dove.pop3, false, "dovecot");
    assert_eq!(uids(&q2), uids(&q1));
    assert_eq!(uids(&d2), uids(&d1));

    // One after the other, each deleting its first message: nothing
    // lost, nothing twice.
    let q3 = dump(ours.port, true, "qmail");
    assert_eq!(q3.len(), 3);
    let d3 = dump(dove.pop3, true, "dovecot");
    assert_eq!(texts(&d3), texts(&q1)[1..]);
    mb.put("new", b"Subject: four\n\nnew\n", 5);
    let q4 = dump(ours.port, false, "qmail");
    assert_eq!(texts(&q4), [texts(&q1)[2], "b'Subject: four\\n\\nnew'"]);
    assert_eq!(q4[0].uid, q1[2].uid, "the id survived Dovecot's rename");
    let d4 = dump(dove.pop3, false, "dovecot");
    assert_eq!(texts(&d4), texts(&q4));
    assert_eq!(d4[0].uid, d1[2].uid);
    assert_eq!(mb.names("new").len(), 0);
    assert_eq!(mb.names("cur").len(), 2, "{:?}", mb.names("cur"));
}

/// imaplib: read, flag and delete what qmail-smtpd accepted and
/// qmail-local delivered. argv: host port user pass.
const IMAP: &str = r#"
import imaplib, sys
m = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=60)
m.login(sys.argv[3], sys.argv[4])
typ, data = m.select("INBOX")
print("exists", data[0].decode())
typ, data = m.search(None, "SUBJECT", "over-imap")
nums = data[0].split()
print("found", len(nums))
typ, data = m.fetch(nums[0], "(RFC822)")
msg = data[0][1]
print("body", b"hello through imap" in msg, b"\r\n" in msg)
m.store(nums[0], "+FLAGS", "(\\Seen \\Flagged)")
typ, data = m.fetch(nums[0], "(FLAGS)")
print("flags", b"\\Seen" in data[0] and b"\\Flagged" in data[0])
sys.stdout.flush()
input()
m.store(nums[0], "+FLAGS", "(\\Deleted)")
m.expunge()
typ, data = m.select("INBOX")
print("exists", data[0].decode())
m.logout()
"#;

#[test]
fn imap_reads_flags_and_deletes_what_qmail_delivered() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    if !Dovecot::available() {
        return;
    }
    let dir = super::system_support::open_tempdir();
    let home = dir.path().join("q");
    let run = super::system_support::QmailRun::start(&home);
    super::system_support::send(
        run.port,
        std::net::Ipv4Addr::LOCALHOST,
        "me@example.test",
        &["you@localhost"],
        "From: me@example.test\r\nTo: you@localhost\r\nSubject: over-imap\r\n\r\nhello through imap\r\n",
    );
    let maildir = run.maildir("you");
    super::system_support::wait_mail(&maildir, "Subject: over-imap");
    let dove = Dovecot::start(maildir.parent().unwrap());

    let mut py = Command::new("python3")
        .arg("-c")
        .arg(IMAP)
        .args(["127.0.0.1", &dove.imap.to_string(), USER, PASS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(py.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim_end().to_string());
    }
    assert_eq!(
        lines,
        ["exists 1", "found 1", "body True True", "flags True"]
    );
    // The flags are in the file name, where every Maildir reader sees them.
    let cur: Vec<String> = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(cur.len(), 1, "{cur:?}");
    assert!(cur[0].ends_with(":2,FS"), "{cur:?}");
    py.stdin.take().unwrap().write_all(b"\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "exists 0\n");
    assert!(py.wait().unwrap().success());
    assert_eq!(std::fs::read_dir(maildir.join("cur")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 0);
}

/// One checkpassword program for both: Dovecot's checkpassword passdb
/// (the boot file's alternative) runs the stand-in qmail-popup runs.
const IMAP_LOGIN: &str = r#"
import imaplib, sys
m = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=60)
try:
    m.login(sys.argv[3], "wrong")
    print("wrong password accepted")
except imaplib.IMAP4.error:
    print("refused")
m.login(sys.argv[3], sys.argv[4])
typ, data = m.select("INBOX")
print("exists", data[0].decode())
m.logout()
"#;

#[test]
fn dovecot_and_qmail_popup_share_one_checkpassword() {
    if !Dovecot::available() {
        return;
    }
    let mut mb = Mailbox::new();
    mb.put("new", b"Subject: shared\n\nx\n", 30);
    let checkpassword = mb.checkpassword();
    let dove = Dovecot::start_with(&mb.home(), Some(&checkpassword));
    let out = python(
        IMAP_LOGIN,
        &["127.0.0.1", &dove.imap.to_string(), USER, PASS],
    );
    assert_eq!(out, "refused\nexists 1\n");
    let ours = mb.serve(&[]);
    let q = dump(ours.port, false, "qmail");
    assert_eq!(texts(&q), ["b'Subject: shared\\n\\nx'"]);
}

/// At the same time: qmail-pop3d listed new/ at login, then Dovecot
/// opened the mailbox (moving everything to cur/) and deleted the first
/// message. qmail-pop3d still reads the second by its unique name,
/// deletes it at QUIT, and the first is reported gone, not found twice.
#[test]
fn qmail_pop3d_and_dovecot_at_the_same_time() {
    if !Dovecot::available() {
        return;
    }
    let mut mb = Mailbox::new();
    mb.put("new", b"Subject: one\n\n1\n", 30);
    mb.put("new", b"Subject: two\n\n2\n", 20);
    mb.put("new", b"Subject: three\n\n3\n", 10);
    let ours = mb.serve(&[]);
    let dove = Dovecot::start(&mb.home());
    let mut p = super::support::Pop::login(ours.addr());
    assert_eq!(p.cmd("STAT"), "+OK 3 50\r\n");
    let d = dump(dove.pop3, true, "dovecot");
    assert_eq!(d.len(), 3);
    assert_eq!(mb.names("new").len(), 0, "Dovecot moved new/ to cur/");
    assert_eq!(p.cmd("RETR 1"), "-ERR unable to open that message\r\n");
    p.send("RETR 2\r\n");
    assert_eq!(p.multi(), "+OK \r\nSubject: two\r\n\r\n2\r\n\r\n.\r\n");
    assert_eq!(p.cmd("DELE 2"), "+OK \r\n");
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
    let left = dump(dove.pop3, false, "dovecot");
    assert_eq!(texts(&left), ["b'Subject: three\\n\\n3'"]);
    let q = dump(ours.port, false, "qmail");
    assert_eq!(texts(&q), texts(&left));
}
