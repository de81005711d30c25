//! Session tests: whole dialogues, each fed whole, one byte at a time and
//! split in two at every byte, with the same replies and the same queued
//! messages every time.

use std::cell::RefCell;
use std::io;
use std::net::IpAddr;
use std::rc::Rc;

use control::ConstMap;
use control::qmail_queue::QueueError;

use crate::config::{Config, Peer};
use crate::rcpthosts::RcptHosts;
use crate::session::{
    Action, AuthResult, Exit, Job, MAX_AUTH_FAILURES, MAX_LINE, MAX_RECIPIENTS, Queue, Session,
};

/// What the fake qmail-queue was given.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Queued {
    message: Vec<u8>,
    failed: bool,
    /// `None` when the job was dropped without close.
    envelope: Option<(Vec<u8>, Vec<Vec<u8>>)>,
}

#[derive(Clone)]
struct FakeQueue {
    log: Rc<RefCell<Vec<Queued>>>,
    /// What close answers when the message was not failed.
    outcome: Result<(), QueueError>,
    open_fails: bool,
}

struct FakeJob {
    log: Rc<RefCell<Vec<Queued>>>,
    index: usize,
    outcome: Result<(), QueueError>,
}

impl Queue for FakeQueue {
    type Job = FakeJob;
    fn open(&mut self) -> io::Result<FakeJob> {
        if self.open_fails {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut log = self.log.borrow_mut();
        log.push(Queued {
            message: Vec::new(),
            failed: false,
            envelope: None,
        });
        Ok(FakeJob {
            log: self.log.clone(),
            index: log.len() - 1,
            outcome: self.outcome.clone(),
        })
    }
}

impl Job for FakeJob {
    fn qp(&self) -> u32 {
        4242
    }
    fn put(&mut self, bytes: &[u8]) {
        let mut log = self.log.borrow_mut();
        if !log[self.index].failed {
            log[self.index].message.extend_from_slice(bytes);
        }
    }
    fn fail(&mut self) {
        self.log.borrow_mut()[self.index].failed = true;
    }
    fn close(self, sender: &[u8], recipients: &[Vec<u8>]) -> Result<(), QueueError> {
        let mut log = self.log.borrow_mut();
        let q = &mut log[self.index];
        q.envelope = Some((sender.to_vec(), recipients.to_vec()));
        if q.failed {
            return Err(QueueError {
                permanent: false,
                text: "qq read error (#4.3.0)".into(),
            });
        }
        self.outcome
    }
}

const NOW: i64 = 1_735_898_400; // 3 Jan 2025 10:00:00 GMT

fn clock() -> i64 {
    NOW
}

fn config() -> Config {
    Config {
        greeting: b"mx.example.com".to_vec(),
        localiphost: Some(b"example.com".to_vec()),
        timeout: 1200,
        rcpthosts: RcptHosts::new(
            Some(vec![b"example.com".to_vec(), b".example.net".to_vec()]),
            "/nonexistent/morercpthosts.cdb".into(),
        ),
        badmailfrom: Some(ConstMap::from_list(&[
            b"spammer@example.org".to_vec(),
            b"@bad.example".to_vec(),
        ])),
        databytes: 0,
        ipme: vec![
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse().unwrap(),
            "0.0.0.0".parse().unwrap(),
        ],
        max_refused: crate::config::DEFAULT_MAX_REFUSED,
        auth: Default::default(),
    }
}

fn peer() -> Peer {
    Peer {
        remote_ip: b"192.0.2.7".to_vec(),
        remote_host: b"client.example.org".to_vec(),
        remote_info: None,
        local: b"mx.example.com".to_vec(),
        relay_client: None,
    }
}

struct Setup {
    cfg: Config,
    peer: Peer,
    outcome: Result<(), QueueError>,
    open_fails: bool,
    /// A certificate is there: EHLO offers STARTTLS.
    tls: bool,
    /// The checkprogram.
    checker: fn(&[u8], &[u8]) -> AuthResult,
}

/// joe's password is "secret"; "tempfail" makes the checkprogram fail.
fn joe_secret(user: &[u8], pass: &[u8]) -> AuthResult {
    match (user, pass) {
        (b"joe", b"secret") => AuthResult::Yes,
        (_, b"tempfail") => AuthResult::Temporary,
        _ => AuthResult::No,
    }
}

impl Setup {
    fn new() -> Setup {
        Setup {
            cfg: config(),
            peer: peer(),
            outcome: Ok(()),
            open_fails: false,
            tls: false,
            checker: joe_secret,
        }
    }

    fn session(&self) -> (Session<FakeQueue>, Rc<RefCell<Vec<Queued>>>) {
        let log = Rc::new(RefCell::new(Vec::new()));
        let q = FakeQueue {
            log: log.clone(),
            outcome: self.outcome.clone(),
            open_fails: self.open_fails,
        };
        (
            Session::new(self.cfg.clone(), self.peer.clone(), q, clock),
            log,
        )
    }

    /// Feed `pieces` in order as the server would (write after each
    /// partial feed); returns everything written, the queue log and how
    /// the session ended.
    fn drive(&self, pieces: &[&[u8]]) -> (Vec<u8>, Vec<Queued>, Option<Exit>) {
        let (out, q, done, _) = self.drive_logged(pieces);
        (out, q, done)
    }

    /// [`drive`](Self::drive), also returning the transaction log. A
    /// STARTTLS succeeds at once (the input after it stands for what
    /// the client sends inside TLS); AUTH asks `checker`.
    fn drive_logged(&self, pieces: &[&[u8]]) -> (Vec<u8>, Vec<Queued>, Option<Exit>, String) {
        let (mut s, log) = self.session();
        s.offer_tls(self.tls);
        let mut out = s.take_output();
        let mut txlog = Vec::new();
        'outer: for piece in pieces {
            let mut rest = *piece;
            while !rest.is_empty() {
                let used = s.feed(rest);
                out.extend(s.take_output());
                match s.take_action() {
                    Some(Action::StartTls) => s.tls_started("TLSv1.3", "TLS13_AES_128_GCM_SHA256"),
                    Some(Action::CheckPassword { user, password }) => {
                        let r = (self.checker)(&user, &password);
                        s.auth_result(r, user);
                        out.extend(s.take_output());
                    }
                    None => {}
                }
                txlog.extend(s.take_log());
                if s.done().is_some() {
                    break 'outer;
                }
                assert!(used > 0 || rest.is_empty(), "no progress");
                rest = &rest[used..];
            }
        }
        s.eof();
        txlog.extend(s.take_log());
        let done = s.done();
        drop(s);
        let log = log.borrow().clone();
        (out, log, done, String::from_utf8(txlog).unwrap())
    }

    /// Run `input` whole, byte by byte and split at every byte; all must
    /// agree. Returns the replies as text.
    fn run(&self, input: &[u8]) -> (String, Vec<Queued>, Option<Exit>) {
        let (out, q, done, _) = self.run_logged(input);
        (out, q, done)
    }

    /// [`run`](Self::run), also returning the transaction log.
    fn run_logged(&self, input: &[u8]) -> (String, Vec<Queued>, Option<Exit>, String) {
        let whole = self.drive_logged(&[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(self.drive_logged(&bytes), whole, "byte by byte");
        for cut in 0..=input.len() {
            let split = self.drive_logged(&[&input[..cut], &input[cut..]]);
            assert_eq!(split, whole, "split at {cut}");
        }
        (
            String::from_utf8(whole.0).unwrap(),
            whole.1,
            whole.2,
            whole.3,
        )
    }
}

fn run(input: &str) -> (String, Vec<Queued>, Option<Exit>) {
    Setup::new().run(input.as_bytes())
}

const GREETING: &str = "220 mx.example.com ESMTP\r\n";
const RECEIVED: &str = "Received: from client.example.org (192.0.2.7)\n  by mx.example.com with SMTP; 3 Jan 2025 10:00:00 -0000\n";

#[test]
fn a_whole_message() {
    let (out, q, end) = run(
        "HELO client.example.org\r\nMAIL FROM:<joe@example.org>\r\nRCPT TO:<bob@example.com>\r\n\
         RCPT TO:<amy@sub.example.net>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(
        out,
        format!(
            "{GREETING}250 mx.example.com\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n\
             250 ok {NOW} qp 4242\r\n221 mx.example.com\r\n"
        )
    );
    assert_eq!(end, Some(Exit::Quit));
    assert_eq!(q.len(), 1);
    assert_eq!(
        String::from_utf8(q[0].message.clone()).unwrap(),
        format!("{RECEIVED}Subject: hi\n\nbody\n.dot\n")
    );
    assert_eq!(
        q[0].envelope,
        Some((
            b"joe@example.org".to_vec(),
            vec![b"bob@example.com".to_vec(), b"amy@sub.example.net".to_vec()]
        ))
    );
}

#[test]
fn every_simple_reply() {
    let (out, _, end) = run(
        "NOOP\r\nVRFY joe\r\nHELP\r\nRSET\r\nEXPN x\r\nSTARTTLS\r\nAUTH LOGIN\r\nBDAT 10\r\n\r\n\
         MAILX FROM:<>\r\nmail\tFROM:<>\r\nnoop with args\r\n",
    );
    assert_eq!(
        out,
        format!(
            "{GREETING}250 ok\r\n252 send some mail, i'll try my best\r\n\
             214 netqmail home page: http://qmail.org/netqmail\r\n250 flushed\r\n\
             502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n\
             502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n\
             502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n\
             502 unimplemented (#5.5.1)\r\n250 ok\r\n"
        )
    );
    assert_eq!(end, None);
}

#[test]
fn ehlo_without_and_with_databytes() {
    let (out, _, _) = run("EHLO x\r\n");
    assert_eq!(
        out,
        format!("{GREETING}250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
    );
    let mut s = Setup::new();
    s.cfg.databytes = 10000;
    let (out, _, _) = s.run(b"ehlo x\n");
    assert_eq!(
        String::from_utf8(out.into_bytes()).unwrap(),
        format!(
            "{GREETING}250-mx.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10000\r\n"
        )
    );
}

#[test]
fn order_of_commands() {
    let (out, q, _) = run(
        "RCPT TO:<a@example.com>\r\nDATA\r\nMAIL FROM:<>\r\nDATA\r\n\
         RCPT TO:<a@example.com>\r\nRSET\r\nRCPT TO:<a@example.com>\r\nDATA\r\n\
         MAIL FROM:<x@y>\r\nRCPT TO:<a@example.com>\r\nMAIL FROM:<z@y>\r\nDATA\r\n",
    );
    assert_eq!(
        out,
        format!(
            "{GREETING}503 MAIL first (#5.5.1)\r\n503 MAIL first (#5.5.1)\r\n250 ok\r\n\
             503 RCPT first (#5.5.1)\r\n250 ok\r\n250 flushed\r\n503 MAIL first (#5.5.1)\r\n\
             503 MAIL first (#5.5.1)\r\n250 ok\r\n250 ok\r\n250 ok\r\n503 RCPT first (#5.5.1)\r\n"
        )
    );
    assert!(q.is_empty());
}

#[test]
fn helo_ends_a_transaction_and_data_ends_it_too() {
    let (out, q, _) = run(
        "MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nEHLO x\r\nDATA\r\n\
         MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n.\r\nDATA\r\n",
    );
    assert!(out.ends_with(&format!(
        "250 ok\r\n250 ok\r\n354 go ahead\r\n250 ok {NOW} qp 4242\r\n503 MAIL first (#5.5.1)\r\n"
    )));
    assert!(out.contains("250 8BITMIME\r\n503 MAIL first"));
    assert_eq!(q.len(), 1);
    assert_eq!(
        q[0].envelope,
        Some((vec![], vec![b"a@example.com".to_vec()]))
    );
}

#[test]
fn bare_lf_commands_and_nul_and_case() {
    // A NUL cuts a line (qmail's C strings); in MAIL or RCPT it is
    // refused (see cr_lf_and_nul_in_addresses_are_refused).
    let (out, q, _) =
        run("mAiL FROM:<a@b>\nrcpt TO:<x@EXAMPLE.COM>\nnoop\0junk\nQU\0IT\ndata\n.\r\n");
    assert!(out.ends_with(&format!(
        "250 ok\r\n250 ok\r\n250 ok\r\n502 unimplemented (#5.5.1)\r\n354 go ahead\r\n250 ok {NOW} qp 4242\r\n"
    )));
    assert_eq!(
        q[0].envelope.as_ref().unwrap().1,
        vec![b"x@EXAMPLE.COM".to_vec()]
    );
}

#[test]
fn addresses() {
    let (out, q, _) = run(
        "MAIL\r\nRCPT TO:<@relay.example,@x:joe@example.com>\r\nRCPT TO:joe2@example.com\r\n\
         RCPT TO:<\"joe smith\"@example.com>\r\nRCPT TO:<joe@[127.0.0.1]>\r\n\
         RCPT TO:<joe@[IPv6:::1]>\r\nRCPT TO:<postmaster>\r\nDATA\r\n.\r\n",
    );
    assert_eq!(out.matches("250 ok\r\n").count(), 7);
    let (from, to) = q[0].envelope.clone().unwrap();
    assert_eq!(from, b"");
    let to: Vec<String> = to
        .into_iter()
        .map(|t| String::from_utf8(t).unwrap())
        .collect();
    assert_eq!(
        to,
        [
            "joe@example.com",
            "joe2@example.com",
            "joe smith@example.com",
            "joe@example.com",
            "joe@example.com",
            "postmaster"
        ]
    );
}

#[test]
fn long_addresses_get_555() {
    let ok = format!("MAIL FROM:<{}@x>\r\n", "a".repeat(897));
    let bad = format!(
        "MAIL FROM:<{}@x>\r\nRCPT TO:<a@example.com>\r\n",
        "a".repeat(898)
    );
    let (out, _, _) = Setup::new().run(format!("{ok}{bad}").as_bytes());
    assert_eq!(
        out,
        format!("{GREETING}250 ok\r\n555 syntax error (#5.5.4)\r\n250 ok\r\n")
    );
}

#[test]
fn relaying() {
    let input = "MAIL FROM:<a@b.example>\r\n\
         RCPT TO:<victim@elsewhere.example>\r\n\
         RCPT TO:<victim@example.com.>\r\n\
         RCPT TO:<victim@EXAMPLE.COM>\r\n\
         RCPT TO:<victim@deep.sub.Example.NET>\r\n\
         RCPT TO:<victim@example.net>\r\n\
         RCPT TO:<victim%elsewhere.example@example.com>\r\n\
         RCPT TO:<elsewhere.example!victim@example.com>\r\n\
         RCPT TO:<elsewhere.example!victim>\r\n\
         RCPT TO:<victim@elsewhere.example@example.com>\r\n\
         RCPT TO:<\"victim@elsewhere.example\"@example.com>\r\n\
         RCPT TO:<\"victim@elsewhere.example\">\r\n\
         RCPT TO:<@example.com:victim@elsewhere.example>\r\n\
         RCPT TO:<victim@[192.0.2.1]>\r\n\
         RCPT TO:<victim@[IPv6:2001:db8::1]>\r\n";
    let (out, _, _) = run(input);
    let nogw = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n";
    let norelay = "553 we don't relay (#5.7.1)\r\n";
    let expect = [
        "250 ok\r\n",
        nogw,
        nogw,
        "250 ok\r\n",
        "250 ok\r\n",
        nogw,
        norelay,
        norelay,
        norelay,
        norelay,
        norelay,
        nogw,
        nogw,
        nogw,
        nogw,
    ];
    assert_eq!(out, format!("{GREETING}{}", expect.concat()));

    // With RELAYCLIENT everything goes, and its value is appended.
    let mut s = Setup::new();
    s.peer.relay_client = Some(b"@fixme".to_vec());
    let (out, q, _) = s.run(
        b"MAIL FROM:<a@b>\r\nRCPT TO:<victim@elsewhere.example>\r\nRCPT TO:<v%x@example.com>\r\nDATA\r\n.\r\n",
    );
    assert!(out.contains("250 ok\r\n250 ok\r\n250 ok\r\n354"));
    assert_eq!(
        q[0].envelope.as_ref().unwrap().1,
        vec![
            b"victim@elsewhere.example@fixme".to_vec(),
            b"v%x@example.com@fixme".to_vec()
        ]
    );

    // No rcpthosts file: every recipient refused, even local ones and
    // addresses without a domain.
    let mut s = Setup::new();
    s.cfg.rcpthosts = RcptHosts::new(None, "/nonexistent".into());
    let (out, _, _) = s.run(
        b"MAIL FROM:<>\r\nRCPT TO:<a@anywhere>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<postmaster>\r\n\
          RCPT TO:<a%b@example.com>\r\n",
    );
    assert_eq!(out, format!("{GREETING}250 ok\r\n{nogw}{nogw}{nogw}{nogw}"));
    // ... but RELAYCLIENT still relays.
    s.peer.relay_client = Some(Vec::new());
    let (out, _, _) = s.run(b"MAIL FROM:<>\r\nRCPT TO:<a@anywhere>\r\n");
    assert_eq!(out, format!("{GREETING}250 ok\r\n250 ok\r\n"));

    // qmail's open default when asked for, tricks included.
    let mut s = Setup::new();
    s.cfg.rcpthosts = RcptHosts::new(None, "/nonexistent".into()).allow_open_relay(true);
    let (out, _, _) = s.run(b"MAIL FROM:<>\r\nRCPT TO:<a@anywhere>\r\nRCPT TO:<a%b@c>\r\n");
    assert_eq!(out, format!("{GREETING}250 ok\r\n250 ok\r\n250 ok\r\n"));
}

#[test]
fn cr_lf_and_nul_in_addresses_are_refused() {
    let bad_from = "501 bad character in address (#5.1.7)\r\n";
    let bad_to = "501 bad character in address (#5.1.3)\r\n";
    let (out, q, _) = run(
        "MAIL FROM:<a@b.example>\r\nMAIL FROM:<a\rRSET@b.example>\r\nRCPT TO:<x@example.com>\r\n\
         MAIL FROM:<a@b\0.example>\r\nMAIL FROM:<\"a\\\r\"@b>\r\nMAIL FROM:<a@b.example>\r\n\
         RCPT TO:<jo\re@example.com>\r\nRCPT TO:<\"jo\\\re\"@example.com>\r\n\
         RCPT TO:<joe@example.com>\0\r\nRCPT TO:jo\re@example.com\r\n\
         RCPT TO:<joe@example.com>\r\nDATA\r\n.\r\n",
    );
    assert_eq!(
        out,
        format!(
            "{GREETING}250 ok\r\n{bad_from}503 MAIL first (#5.5.1)\r\n{bad_from}{bad_from}250 ok\r\n\
             {bad_to}{bad_to}{bad_to}{bad_to}250 ok\r\n354 go ahead\r\n250 ok {NOW} qp 4242\r\n"
        )
    );
    assert_eq!(
        q[0].envelope,
        Some((b"a@b.example".to_vec(), vec![b"joe@example.com".to_vec()]))
    );
    // RELAYCLIENT clients too.
    let mut s = Setup::new();
    s.peer.relay_client = Some(Vec::new());
    let (out, _, _) = s.run(b"MAIL FROM:<>\r\nRCPT TO:<a\r@anywhere>\r\n");
    assert_eq!(out, format!("{GREETING}250 ok\r\n{bad_to}"));
}

#[test]
fn refused_recipients_are_bounded_per_session() {
    let mut s = Setup::new();
    s.cfg.max_refused = 3;
    let (out, _, end) = s.run(
        b"MAIL FROM:<>\r\nRCPT TO:<a@elsewhere>\r\nRCPT TO:<a@example.com>\r\n\
          RCPT TO:<a%b@example.com>\r\nRSET\r\nRCPT TO:<a@example.com>\r\n\
          RCPT TO:<a@example.com>\r\nNOOP\r\n",
    );
    let nogw = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n";
    assert_eq!(
        out,
        format!(
            "{GREETING}250 ok\r\n{nogw}250 ok\r\n553 we don't relay (#5.7.1)\r\n250 flushed\r\n\
             503 MAIL first (#5.5.1)\r\n421 too many refused recipients, closing connection (#4.7.0)\r\n"
        )
    );
    assert_eq!(end, Some(Exit::Abort));
    // 0: no limit.
    let mut s = Setup::new();
    s.cfg.max_refused = 0;
    let input = "MAIL FROM:<>\r\n".to_string() + &"RCPT TO:<a@elsewhere>\r\n".repeat(200);
    let (out, _, end) = s.drive(&[input.as_bytes()]);
    assert_eq!(String::from_utf8(out).unwrap().matches("553 ").count(), 200);
    assert_eq!(end, None);
}

#[test]
fn badmailfrom_refuses_at_rcpt() {
    let (out, q, _) = run(
        "MAIL FROM:<Spammer@Example.ORG>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n\
         MAIL FROM:<anyone@BAD.example>\r\nRCPT TO:<a@example.com>\r\n\
         MAIL FROM:<anyone@sub.bad.example>\r\nRCPT TO:<a@example.com>\r\n",
    );
    let bmf = "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n";
    assert_eq!(
        out,
        format!(
            "{GREETING}250 ok\r\n{bmf}503 RCPT first (#5.5.1)\r\n250 ok\r\n{bmf}250 ok\r\n250 ok\r\n"
        )
    );
    assert!(q.is_empty());
}

#[test]
fn received_line_shows_helo_and_ident() {
    let mut s = Setup::new();
    s.peer.remote_info = Some(b"ident user".to_vec());
    s.peer.remote_ip = b"2001:db8::7".to_vec();
    let (_, q, _) = s.run(
        b"EHLO [evil]\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\nx\r\n.\r\n\
          HELO CLIENT.example.org\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\ny\r\n.\r\n\
          HELO\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\nz\r\n.\r\n",
    );
    let msgs: Vec<String> = q
        .iter()
        .map(|m| String::from_utf8(m.message.clone()).unwrap())
        .collect();
    assert_eq!(
        msgs[0],
        "Received: from client.example.org (HELO ?evil?) (ident?user@2001:db8::7)\n  by mx.example.com with SMTP; 3 Jan 2025 10:00:00 -0000\nx\n"
    );
    assert!(msgs[1].starts_with("Received: from client.example.org (ident?user@2001:db8::7)\n"));
    // An empty HELO differs from the host name: qmail shows `(HELO )`.
    assert!(msgs[2].starts_with("Received: from client.example.org (HELO ) (ident"));
}

#[test]
fn bare_lf_in_data_aborts() {
    let (out, q, end) =
        run("MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\nline\nmore\r\n.\r\nNOOP\r\n");
    assert!(out.ends_with("354 go ahead\r\n451 See http://pobox.com/~djb/docs/smtplf.html.\r\n"));
    assert_eq!(end, Some(Exit::Abort));
    // Never closed: nothing is queued.
    assert_eq!(q[0].envelope, None);
}

#[test]
fn smuggled_end_of_data_is_not_an_end() {
    // `\n.\n` and `\r.\r` never end a message.
    let (out, _, end) =
        run("MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\nx\r.\rMAIL FROM:<>\r\n.\r\n");
    assert!(out.ends_with(&format!("250 ok {NOW} qp 4242\r\n")));
    assert_eq!(end, None);
}

#[test]
fn databytes() {
    let mut s = Setup::new();
    s.cfg.databytes = 10;
    // Exactly 10 bytes after CRLF -> LF: accepted.
    let (out, q, _) =
        s.run(b"MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n123456789\r\n.\r\n");
    assert!(out.ends_with(&format!("250 ok {NOW} qp 4242\r\n")));
    assert!(q[0].message.ends_with(b"\n123456789\n"));
    // 11: refused after the dot, the whole message read first.
    let (out, q, end) = s.run(
        b"MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n1234567890\r\nmore\r\n.\r\nNOOP\r\n",
    );
    assert!(out.ends_with(
        "354 go ahead\r\n552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n250 ok\r\n"
    ));
    assert_eq!(end, None);
    assert!(q[0].failed);
    assert!(q[0].message.ends_with(b"\n1234567890"));
    // SIZE= over the limit is refused at once, and ends the transaction.
    let (out, _, _) = s.run(
        b"MAIL FROM:<a@b> SIZE=11\r\nRCPT TO:<a@example.com>\r\nMAIL FROM:<a@b> SIZE=10 BODY=8BITMIME\r\n",
    );
    assert_eq!(
        out,
        format!(
            "{GREETING}552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n\
             503 MAIL first (#5.5.1)\r\n250 ok\r\n"
        )
    );
    // Without databytes SIZE= is ignored.
    let (out, _, _) = run("MAIL FROM:<a@b> SIZE=999999999999\r\n");
    assert_eq!(out, format!("{GREETING}250 ok\r\n"));
}

#[test]
fn hops() {
    let hops99 = "Received: x\r\n".repeat(98) + "Delivered-To: y\r\n";
    let (out, q, _) = run(&format!(
        "MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n{hops99}\r\n.\r\n"
    ));
    assert!(out.ends_with(&format!("250 ok {NOW} qp 4242\r\n")));
    assert!(!q[0].failed);
    let (out, q, _) = run(&format!(
        "MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n{hops99}received\r\n\r\n.\r\n"
    ));
    assert!(out.ends_with("554 too many hops, this message is looping (#5.4.6)\r\n"));
    assert!(q[0].failed);
    // Hops win over databytes.
    let mut s = Setup::new();
    s.cfg.databytes = 5;
    let (out, _, _) = s.run(
        format!("MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n{hops99}received\r\n.\r\n")
            .as_bytes(),
    );
    assert!(out.ends_with("554 too many hops, this message is looping (#5.4.6)\r\n"));
}

#[test]
fn queue_outcomes() {
    let mut s = Setup::new();
    let tx = b"MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\nx\r\n.\r\n";
    for (code, reply) in [
        (11, "554 envelope address too long for qq (#5.1.3)"),
        (31, "554 mail server permanently rejected message (#5.3.0)"),
        (53, "451 qq write error or disk full (#4.3.0)"),
        (75, "451 qq temporary problem (#4.3.0)"),
        (120, "451 unable to exec qq (#4.3.0)"),
    ] {
        let status = control::qmail_queue::exit_text(code);
        s.outcome = Err(QueueError {
            permanent: status.starts_with('D'),
            text: status[1..].into(),
        });
        let (out, _, _) = s.run(tx);
        assert!(
            out.ends_with(&format!("354 go ahead\r\n{reply}\r\n")),
            "{code}: {out}"
        );
    }
    s.outcome = Ok(());
    s.open_fails = true;
    let (out, _, end) = s.run(b"MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nDATA\r\nNOOP\r\n");
    assert!(out.ends_with("250 ok\r\n451 qqt failure (#4.3.0)\r\n250 ok\r\n"));
    assert_eq!(end, None);
}

#[test]
fn long_lines_are_refused_and_skipped() {
    let long = format!("NOOP {}\r\n", "x".repeat(MAX_LINE - 7));
    assert_eq!(long.len(), MAX_LINE);
    let (out, _, _) = run(&long);
    assert_eq!(out, format!("{GREETING}250 ok\r\n"));
    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(MAX_LINE - 6));
    let (out, _, _) = run(&long);
    assert_eq!(
        out,
        format!("{GREETING}500 line too long (#5.5.2)\r\n250 ok\r\n")
    );
}

#[test]
fn recipients_are_capped() {
    let mut input = String::from("MAIL FROM:<>\r\n");
    for i in 0..=MAX_RECIPIENTS {
        input += &format!("RCPT TO:<u{i}@example.com>\r\n");
    }
    input += "DATA\r\n.\r\n";
    let (out, q, _) = Setup::new().drive(&[input.as_bytes()]);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.matches("250 ok\r\n").count(), MAX_RECIPIENTS + 1);
    assert!(out.contains("250 ok\r\n452 too many recipients (#4.5.3)\r\n354 go ahead"));
    assert_eq!(q[0].envelope.as_ref().unwrap().1.len(), MAX_RECIPIENTS);
}

#[test]
fn pipelining_flush_rule() {
    // MAIL, RCPT and RSET replies wait; the others are written at once.
    let (mut s, _) = Setup::new().session();
    s.take_output();
    let input = b"MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nRSET\r\nNOOP\r\nMAIL FROM:<>\r\n";
    let used = s.feed(input);
    assert_eq!(
        &input[..used],
        b"MAIL FROM:<>\r\nRCPT TO:<a@example.com>\r\nRSET\r\nNOOP\r\n"
    );
    assert_eq!(
        s.take_output(),
        b"250 ok\r\n250 ok\r\n250 flushed\r\n250 ok\r\n"
    );
    assert_eq!(s.feed(&input[used..]), input.len() - used);
    assert_eq!(s.take_output(), b"250 ok\r\n");
    // DATA's 354 comes out before the message is waited for, and the
    // acceptance right after the dot.
    let used = s.feed(b"RCPT TO:<a@example.com>\r\nDATA\r\n");
    assert_eq!(used, 31);
    assert_eq!(s.take_output(), b"250 ok\r\n354 go ahead\r\n");
    let tail = b"x\r\n.\r\nQUIT\r\n";
    assert_eq!(s.feed(tail), 6);
    assert_eq!(
        s.take_output(),
        format!("250 ok {NOW} qp 4242\r\n").as_bytes()
    );
}

#[test]
fn quit_stops_reading() {
    let (out, _, end) = run("QUIT\r\nNOOP\r\n");
    assert_eq!(out, format!("{GREETING}221 mx.example.com\r\n"));
    assert_eq!(end, Some(Exit::Quit));
}

#[test]
fn timeout_reply() {
    let (mut s, _) = Setup::new().session();
    s.take_output();
    s.timeout();
    assert_eq!(s.take_output(), b"451 timeout (#4.4.2)\r\n");
    assert_eq!(s.done(), Some(Exit::Abort));
}

mod random {
    use super::*;
    use proptest::prelude::*;

    /// Bytes a client can make us hold: line, envelope (capped
    /// recipients), message chunk, output high-water mark, with room for
    /// Vec growth.
    fn bound() -> usize {
        2 * (MAX_LINE + 4096 + 2 * 1024) + MAX_RECIPIENTS * 2 * 1024 + 4 * 64 * 1024
    }

    fn tokens() -> impl Strategy<Value = Vec<u8>> {
        let words = prop::sample::select(vec![
            &b"MAIL FROM:<a@b>\r\n"[..],
            b"RCPT TO:<x@example.com>\r\n",
            b"RCPT TO:<x@elsewhere>\r\n",
            b"DATA\r\n",
            b"\r\n.\r\n",
            b".\r\n",
            b"\n",
            b"\r",
            b".",
            b"Received: x\r\n",
            b"EHLO x\r\n",
            b"RSET\r\n",
            b"QUIT\r\n",
        ]);
        let piece = prop_oneof![
            words.prop_map(|w| w.to_vec()),
            prop::collection::vec(any::<u8>(), 0..64),
        ];
        prop::collection::vec(piece, 0..64).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..4096),
                                       cut in 1usize..97) {
            let setup = Setup::new();
            let (mut s, _) = setup.session();
            for chunk in input.chunks(cut) {
                let mut rest = chunk;
                while !rest.is_empty() && s.done().is_none() {
                    let used = s.feed(rest);
                    s.take_output();
                    prop_assert!(s.buffered() <= bound());
                    rest = &rest[used..];
                }
            }
        }

        #[test]
        fn smtp_like_input_is_the_same_however_split(input in tokens(), cut in 0usize..4096) {
            let setup = Setup::new();
            let whole = setup.drive(&[&input]);
            let cut = cut.min(input.len());
            prop_assert_eq!(setup.drive(&[&input[..cut], &input[cut..]]), whole);
        }
    }

    #[test]
    fn a_flood_stays_bounded() {
        let mut setup = Setup::new();
        // Refusals are bounded on their own; here the recipients are.
        setup.cfg.max_refused = 0;
        let (mut s, _) = setup.session();
        // A huge line without LF, many recipients, a big message.
        let junk = vec![b'x'; 1 << 20];
        s.feed(&junk);
        assert!(s.buffered() <= bound());
        s.feed(b"\r\nMAIL FROM:<>\r\n");
        s.take_output();
        let rcpt = format!("RCPT TO:<{}@example.com>\r\n", "r".repeat(880));
        for _ in 0..3 * MAX_RECIPIENTS {
            let mut rest = rcpt.as_bytes();
            while !rest.is_empty() {
                let used = s.feed(rest);
                s.take_output();
                rest = &rest[used..];
            }
        }
        assert!(s.buffered() <= bound(), "{}", s.buffered());
        s.feed(b"DATA\r\n");
        for _ in 0..64 {
            s.feed(&junk);
            assert!(s.buffered() <= bound());
        }
    }
}

// STARTTLS, AUTH and the transaction log.

const EHLO_PLAIN: &str = "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
const EHLO_TLS: &str = "250-mx.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n";
const EHLO_AUTH: &str =
    "250-mx.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH LOGIN PLAIN\r\n";

/// A server with a certificate and a checkprogram.
fn tls_auth() -> Setup {
    let mut s = Setup::new();
    s.tls = true;
    s.cfg.auth = crate::auth::Policy::new(true, None, None);
    s
}

fn b64(s: &str) -> String {
    String::from_utf8(crate::auth::encode(s.as_bytes())).unwrap()
}

#[test]
fn starttls_is_offered_with_a_certificate_and_auth_only_inside_tls() {
    let (out, _, _) = tls_auth()
        .run(b"EHLO x\r\nAUTH PLAIN AGpvZQBzZWNyZXQ=\r\nSTARTTLS\r\nEHLO x\r\nSTARTTLS\r\n");
    assert_eq!(
        out,
        format!(
            "{GREETING}{EHLO_TLS}538 encryption required for requested authentication mechanism (#5.7.11)\r\n\
             220 ready for tls\r\n{EHLO_AUTH}503 TLS already active (#5.5.1)\r\n"
        )
    );
    // No certificate: no STARTTLS, as qmail; no checkprogram: no AUTH.
    let (out, _, _) = Setup::new().run(b"EHLO x\r\nSTARTTLS\r\nAUTH PLAIN\r\n");
    assert_eq!(
        out,
        format!(
            "{GREETING}{EHLO_PLAIN}502 unimplemented (#5.5.1)\r\n502 unimplemented (#5.5.1)\r\n"
        )
    );
    // AUTH_CLEARTEXT=1 offers AUTH without TLS.
    let mut s = Setup::new();
    s.cfg.auth = crate::auth::Policy::new(true, None, Some(b"1"));
    let (out, _, _) = s.run(b"EHLO x\r\n");
    assert_eq!(out, format!("{GREETING}{EHLO_AUTH}"));
    assert!(
        tls_auth()
            .run(b"STARTTLS now\r\n")
            .0
            .contains("501 syntax error")
    );
}

#[test]
fn nothing_pipelined_after_starttls_is_fed() {
    // The driver must drop what follows the STARTTLS line: the session
    // takes exactly the bytes up to its LF, and then nothing until the
    // handshake is done.
    let setup = tls_auth();
    let first = b"EHLO x\r\nSTARTTLS\r\n";
    let input = [
        &first[..],
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<victim@elsewhere.example>\r\n",
    ]
    .concat();
    let (mut s, _) = setup.session();
    s.offer_tls(true);
    let mut used = 0;
    while s.take_action().is_none() {
        let n = s.feed(&input[used..]);
        assert!(n > 0);
        used += n;
    }
    assert_eq!(used, first.len());
    assert_eq!(
        s.feed(&input[used..]),
        0,
        "nothing more before the handshake"
    );
    s.tls_started("TLSv1.3", "TLS13_AES_128_GCM_SHA256");
    // A fresh start: no sender survives.
    s.take_output();
    s.feed(b"RCPT TO:<joe@example.com>\r\nQUIT\r\n");
    assert_eq!(
        String::from_utf8(s.take_output()).unwrap(),
        "503 MAIL first (#5.5.1)\r\n221 mx.example.com\r\n"
    );
}

#[test]
fn starttls_forgets_the_transaction_and_received_says_esmtps() {
    let (out, q, _, log) = tls_auth().run_logged(
        b"EHLO a\r\nMAIL FROM:<a@example.org>\r\nSTARTTLS\r\nRCPT TO:<b@example.com>\r\n\
          EHLO b\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nx\r\n.\r\n",
    );
    assert!(
        out.contains("220 ready for tls\r\n503 MAIL first (#5.5.1)\r\n"),
        "{out}"
    );
    assert_eq!(
        String::from_utf8(q[0].message.clone()).unwrap(),
        "Received: from client.example.org (HELO b) (192.0.2.7)\n  by mx.example.com with ESMTPS \
         (TLSv1.3:TLS13_AES_128_GCM_SHA256 encrypted); 3 Jan 2025 10:00:00 -0000\nx\n"
    );
    assert_eq!(
        log,
        "qmail-smtpd: tx ip=192.0.2.7 helo=a tls=- auth=- from=<a@example.org> size=- qp=- result=starttls\n\
         qmail-smtpd: tx ip=192.0.2.7 helo=b tls=TLSv1.3/TLS13_AES_128_GCM_SHA256 auth=- \
         from=<a@example.org> rcpt=<b@example.com>:250 size=6 qp=4242 result=250\n"
    );
}

#[test]
fn auth_plain_and_login_relay_and_name_the_user() {
    let user = b64("joe");
    let pass = b64("secret");
    let plain_inline = "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n".to_string();
    let plain_asked = "AUTH PLAIN\r\nAGpvZQBzZWNyZXQ=\r\n".to_string();
    let login = format!("AUTH LOGIN\r\n{user}\r\n{pass}\r\n");
    let login_inline = format!("auth login {user}\r\n{pass}\r\n");
    for (auth, prompts) in [
        (plain_inline, ""),
        (plain_asked, "334 \r\n"),
        (login, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"),
        (login_inline, "334 UGFzc3dvcmQ6\r\n"),
    ] {
        let input = format!(
            "STARTTLS\r\nEHLO x\r\n{auth}AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n\
             MAIL FROM:<joe@example.com>\r\nRCPT TO:<friend@elsewhere.example>\r\nDATA\r\nhi\r\n.\r\n"
        );
        let (out, q, _, log) = tls_auth().run_logged(input.as_bytes());
        assert_eq!(
            out,
            format!(
                "{GREETING}220 ready for tls\r\n{EHLO_AUTH}{prompts}235 ok, go ahead (#2.0.0)\r\n\
                 503 you're already authenticated (#5.5.0)\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n\
                 250 ok {NOW} qp 4242\r\n"
            ),
            "{input}"
        );
        let msg = String::from_utf8(q[0].message.clone()).unwrap();
        assert!(msg.starts_with("Received: from client.example.org (HELO x) (joe@192.0.2.7)\n  by mx.example.com with ESMTPSA (TLSv1.3:"), "{msg}");
        assert!(log.contains(" auth=joe from=<joe@example.com> rcpt=<friend@elsewhere.example>:250 size=7 qp=4242 result=250\n"), "{log}");
        assert!(!log.contains("secret"));
    }
}

#[test]
fn auth_refusals_each_with_its_reply() {
    let cases = [
        (
            "AUTH PLAIN ***\r\n",
            "501 malformed auth input (#5.5.4)\r\n",
        ),
        (
            "AUTH PLAIN\r\nnot base64!\r\n",
            "334 \r\n501 malformed auth input (#5.5.4)\r\n",
        ),
        // An empty user, an empty password, no NULs at all.
        (
            "AUTH PLAIN AABzZWNyZXQ=\r\n",
            "501 malformed auth input (#5.5.4)\r\n",
        ),
        (
            "AUTH PLAIN AGpvZQA=\r\n",
            "501 malformed auth input (#5.5.4)\r\n",
        ),
        ("AUTH PLAIN =\r\n", "501 malformed auth input (#5.5.4)\r\n"),
        (
            "AUTH LOGIN\r\n=\r\n",
            "334 VXNlcm5hbWU6\r\n501 malformed auth input (#5.5.4)\r\n",
        ),
        (
            "AUTH LOGIN\r\n*\r\n",
            "334 VXNlcm5hbWU6\r\n501 auth exchange cancelled (#5.0.0)\r\n",
        ),
        (
            "AUTH PLAIN\r\n*\r\n",
            "334 \r\n501 auth exchange cancelled (#5.0.0)\r\n",
        ),
        (
            "AUTH CRAM-MD5\r\n",
            "504 auth type unimplemented (#5.5.1)\r\n",
        ),
        (
            "AUTH PLAIN AGpvZQB0ZW1wZmFpbA==\r\n",
            "454 temporary authentication failure (#4.3.0)\r\n",
        ),
        (
            "MAIL FROM:<a@example.org>\r\nAUTH PLAIN AGpvZQBzZWNyZXQ=\r\n",
            "250 ok\r\n503 no auth during mail transaction (#5.5.0)\r\n",
        ),
    ];
    for (input, expect) in cases {
        let (out, _, end) = tls_auth().run(format!("STARTTLS\r\n{input}").as_bytes());
        assert_eq!(
            out,
            format!("{GREETING}220 ready for tls\r\n{expect}"),
            "{input}"
        );
        assert_eq!(end, None);
    }
}

#[test]
fn failed_auth_does_not_relay_and_failures_are_limited() {
    let bad = "AUTH PLAIN AGpvZQB3cm9uZw==\r\n"; // joe / wrong
    let (out, _, _) = tls_auth().run(
        format!(
            "STARTTLS\r\n{bad}MAIL FROM:<a@example.org>\r\nRCPT TO:<victim@elsewhere.example>\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(
        out,
        format!(
            "{GREETING}220 ready for tls\r\n535 authorization failed (#5.7.0)\r\n250 ok\r\n\
             553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n"
        )
    );
    let tries = bad.repeat(MAX_AUTH_FAILURES as usize + 2);
    let (out, _, end) = tls_auth().run(format!("STARTTLS\r\n{tries}").as_bytes());
    let failed = "535 authorization failed (#5.7.0)\r\n".repeat(MAX_AUTH_FAILURES as usize);
    assert_eq!(
        out,
        format!(
            "{GREETING}220 ready for tls\r\n{failed}\
             421 too many authentication failures, closing connection (#4.7.0)\r\n"
        )
    );
    assert_eq!(end, Some(Exit::Abort));
}

#[test]
fn smtpauth_bang_requires_auth_before_mail() {
    let mut s = tls_auth();
    s.cfg.auth = crate::auth::Policy::new(true, Some(b"!"), None);
    let (out, _, _, log) = s.run_logged(
        b"STARTTLS\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n\
          AUTH PLAIN AGpvZQBzZWNyZXQ=\r\nMAIL FROM:<a@example.org>\r\n",
    );
    assert_eq!(
        out,
        format!(
            "{GREETING}220 ready for tls\r\n530 authentication required (#5.7.0)\r\n\
             503 MAIL first (#5.5.1)\r\n235 ok, go ahead (#2.0.0)\r\n250 ok\r\n"
        )
    );
    assert!(log.starts_with("qmail-smtpd: tx ip=192.0.2.7 helo=client.example.org tls=TLSv1.3/TLS13_AES_128_GCM_SHA256 auth=- from=<a@example.org> size=- qp=- result=530\n"), "{log}");
    assert!(
        log.ends_with(" auth=joe from=<a@example.org> size=- qp=- result=eof\n"),
        "{log}"
    );
}

#[test]
fn the_transaction_log_gives_each_verdict() {
    let (_, _, _, log) = Setup::new().run_logged(
        b"HELO he lo\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n\
          RCPT TO:<c@elsewhere.example>\r\nRSET\r\nMAIL FROM:<spammer@example.org>\r\n\
          RCPT TO:<b@example.com>\r\nDATA\r\nQUIT\r\n",
    );
    assert_eq!(
        log,
        "qmail-smtpd: tx ip=192.0.2.7 helo=he?lo tls=- auth=- from=<a@example.org> \
         rcpt=<b@example.com>:250 rcpt=<c@elsewhere.example>:553 size=- qp=- result=rset\n\
         qmail-smtpd: tx ip=192.0.2.7 helo=he?lo tls=- auth=- from=<spammer@example.org> \
         rcpt=<b@example.com>:553 size=- qp=- result=503\n"
    );
}
