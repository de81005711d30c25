//! One SMTP session, sans IO: bytes from the client go in through
//! [`Session::feed`], replies come out of [`Session::take_output`]. The
//! message itself goes to a [`Queue`] (qmail-queue in the real server, a
//! recorder in tests). Nothing here touches a socket or a clock, so tests
//! can split the input at every byte.
//!
//! The behaviour is qmail-smtpd's (netqmail 1.06):
//! - A command is a line up to LF; one CR before it is dropped, so bare-LF
//!   command lines work. The verb is the text up to the first space,
//!   matched without regard to case; the argument is the rest after any
//!   spaces. A NUL ends the line early (qmail's lines are C strings),
//!   except that a MAIL or RCPT holding one is refused (below).
//! - MAIL needs no HELO and may be repeated (it replaces the sender and
//!   clears the recipients); HELO, EHLO, RSET and DATA end a transaction.
//! - badmailfrom refuses each RCPT after a listed sender, not the MAIL.
//! - Pipelining: the replies to MAIL, RCPT and RSET wait until the input
//!   runs dry or another command's reply is sent; [`Session::feed`]
//!   returns after every other command so the driver writes then.
//!
//! Additions, each bounding what a client can make us hold or do: command
//! lines of at most [`MAX_LINE`] bytes, at most [`MAX_RECIPIENTS`]
//! recipients a message, `SIZE` in EHLO and `SIZE=` checked at MAIL when
//! databytes is set, `[IPv6:...]` literals, recipients routed through the
//! local part refused for clients without RELAYCLIENT, addresses holding
//! a CR, LF or NUL refused with 501 (queued, a CR would end up in the
//! next server's command line), and after `max_refused` RCPTs answered
//! 5xx the next RCPT gets 421 and the session ends (each refusal may
//! cost a lookup per label of the domain).
//!
//! STARTTLS and AUTH need the driver: the session asks through
//! [`Session::take_action`] and stops taking input until it is answered
//! ([`Session::tls_started`], [`Session::auth_result`]). After STARTTLS
//! the driver drops whatever plain bytes it holds, so commands a client
//! pipelined behind STARTTLS are never run inside TLS (CVE-2011-0411),
//! and the session starts over (RFC 3207: HELO, MAIL and RCPT forgotten).
//!
//! Each transaction (from MAIL to its end) leaves one line in
//! [`Session::take_log`], the format in qmail-smtpd(8) and qmail-log(5).

use std::io;
use std::net::IpAddr;

use control::qmail_queue::{QueueClient, QueueError};

use crate::addr;
use crate::auth::{self, Bad};
use crate::config::{Config, Peer};
use crate::data::{DataReader, Step};
use crate::received::{Fields, received_with};
use crate::reply;

/// The longest command line accepted, CR LF included. RFC 5321 4.5.3.1.4
/// sets 512 as the least a server must take and lets extensions raise
/// it; qmail itself takes addresses of up to 899 bytes, so 2048 (also
/// Postfix's line limit) keeps every address qmail accepts acceptable.
/// A longer line is answered `500 line too long (#5.5.2)`.
pub const MAX_LINE: usize = 2048;

/// The most recipients one message may have; the next RCPT gets
/// `452 too many recipients (#4.5.3)` (RFC 5321 asks servers to take at
/// least 100).
pub const MAX_RECIPIENTS: usize = 1000;

/// Pending output above which [`Session::feed`] stops to let the driver
/// write, so a client that pipelines without reading cannot make us
/// hold its replies.
const OUTPUT_HIGH: usize = 4096;

/// Failed AUTH attempts allowed a session; the next AUTH gets 421 and
/// the session ends.
pub const MAX_AUTH_FAILURES: u32 = 3;

/// Message bytes gathered before they are handed to the queue.
const QUEUE_CHUNK: usize = 64 * 1024;

/// qmail's MAXHOPS: this many Received/Delivered-To lines is a loop.
const MAX_HOPS: u32 = 100;

/// Where messages go: something that can start one queue job per message.
pub trait Queue {
    /// One message on its way in.
    type Job: Job;
    /// Start a job (qmail: fork qmail-queue). An error is answered
    /// `451 qqt failure`.
    fn open(&mut self) -> io::Result<Self::Job>;
}

/// One message being queued.
pub trait Job {
    /// The number shown as `qp` in the acceptance (qmail-queue's pid).
    fn qp(&self) -> u32;
    /// Append message bytes.
    fn put(&mut self, bytes: &[u8]);
    /// Make sure the message is not queued, whatever follows.
    fn fail(&mut self);
    /// Send the envelope and learn the outcome. `Ok` means queued.
    fn close(self, sender: &[u8], recipients: &[Vec<u8>]) -> Result<(), QueueError>;
}

/// qmail-queue (or `$QMAILQUEUE`) in a qmail home.
#[derive(Debug, Clone)]
pub struct QmailQueue(pub control::Home);

impl Queue for QmailQueue {
    type Job = QueueClient;
    fn open(&mut self) -> io::Result<QueueClient> {
        QueueClient::open(&self.0)
    }
}

impl Job for QueueClient {
    fn qp(&self) -> u32 {
        self.pid()
    }
    fn put(&mut self, bytes: &[u8]) {
        QueueClient::put(self, bytes);
    }
    fn fail(&mut self) {
        QueueClient::fail(self);
    }
    fn close(self, sender: &[u8], recipients: &[Vec<u8>]) -> Result<(), QueueError> {
        QueueClient::close(self, sender, recipients)
    }
}

/// What the session needs the driver to do before it takes more input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `220 ready for tls` is in the output: write it, drop every byte
    /// read but not fed, run the handshake, then call
    /// [`Session::tls_started`] (or end the session if it fails).
    StartTls,
    /// Ask the checkprogram, then call [`Session::auth_result`].
    CheckPassword { user: Vec<u8>, password: Vec<u8> },
}

/// What the checkprogram said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    /// Exit 0: the password is right.
    Yes,
    /// Exit 1 (or any other permanent refusal).
    No,
    /// Exit 111, a crash, a timeout, or it could not be run.
    Temporary,
}

/// Where an AUTH dialogue stands: the next line is a response.
#[derive(Debug, Clone)]
enum AuthStep {
    Plain,
    LoginUser,
    LoginPass(Vec<u8>),
}

/// The transaction being logged: MAIL and the RCPTs so far.
struct Tx {
    from: Vec<u8>,
    rcpts: Vec<(Vec<u8>, [u8; 3])>,
}

/// How a finished session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// After QUIT: exit 0.
    Quit,
    /// After a fatal reply (bare LF, timeout, unreadable controls):
    /// exit 1.
    Abort,
}

impl Exit {
    /// The process exit code qmail-smtpd uses.
    pub fn code(self) -> i32 {
        match self {
            Exit::Quit => 0,
            Exit::Abort => 1,
        }
    }
}

/// A message between `354` and the final dot.
struct Message<J> {
    job: J,
    qp: u32,
    reader: DataReader,
    /// Message bytes not yet given to the job.
    buf: Vec<u8>,
    /// Message bytes produced so far (after unstuffing, without the
    /// Received line): what databytes limits.
    size: u64,
    /// The message went over databytes; the rest is read and dropped.
    too_big: bool,
    /// Bytes read after 354, the final dot line included: the size the
    /// log shows.
    wire: u64,
}

enum Phase<J> {
    Commands,
    Data(Box<Message<J>>),
    Done(Exit),
}

/// One SMTP session.
pub struct Session<Q: Queue> {
    cfg: Config,
    peer: Peer,
    queue: Q,
    clock: fn() -> i64,
    out: Vec<u8>,
    phase: Phase<Q::Job>,
    /// The command line being read (without its LF), at most MAX_LINE.
    line: Vec<u8>,
    line_too_long: bool,
    seen_mail: bool,
    /// The sender is in badmailfrom: refuse every RCPT.
    barf: bool,
    /// RCPTs answered 5xx in this session.
    refused: u64,
    /// The command line held a NUL (and was cut there).
    had_nul: bool,
    mail_from: Vec<u8>,
    rcpts: Vec<Vec<u8>>,
    helo: Vec<u8>,
    /// The HELO name differs from TCPREMOTEHOST, so the Received line
    /// shows it.
    fake_helo: bool,
    /// EHLO offers STARTTLS (a certificate was read at session start).
    tls_offered: bool,
    /// TLS is on: protocol version and cipher suite.
    tls: Option<(String, String)>,
    /// The user a successful AUTH named.
    auth_user: Option<Vec<u8>>,
    auth_failures: u32,
    auth_step: Option<AuthStep>,
    action: Option<Action>,
    /// An action was asked for and not yet answered: take no input.
    waiting: bool,
    /// Transaction log lines not yet taken.
    log: Vec<u8>,
    tx: Option<Tx>,
}

impl<Q: Queue> Session<Q> {
    /// A session whose greeting is already in the output. `clock` gives
    /// the Unix time for the Received line and the acceptance.
    pub fn new(cfg: Config, peer: Peer, queue: Q, clock: fn() -> i64) -> Session<Q> {
        let mut s = Session {
            out: Vec::with_capacity(1024),
            phase: Phase::Commands,
            line: Vec::new(),
            line_too_long: false,
            seen_mail: false,
            barf: false,
            refused: 0,
            had_nul: false,
            mail_from: Vec::new(),
            rcpts: Vec::new(),
            helo: Vec::new(),
            fake_helo: false,
            tls_offered: false,
            tls: None,
            auth_user: None,
            auth_failures: 0,
            auth_step: None,
            action: None,
            waiting: false,
            log: Vec::new(),
            tx: None,
            cfg,
            peer,
            queue,
            clock,
        };
        let remote = s.peer.remote_host.clone();
        s.do_helo(&remote);
        s.out.extend_from_slice(b"220 ");
        s.out.extend_from_slice(&s.cfg.greeting);
        s.out.extend_from_slice(b" ESMTP\r\n");
        s
    }

    /// Replies waiting to be written.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Offer STARTTLS in EHLO (the driver has a usable certificate).
    pub fn offer_tls(&mut self, yes: bool) {
        self.tls_offered = yes;
    }

    /// What the driver must do before feeding more input, if anything.
    pub fn take_action(&mut self) -> Option<Action> {
        self.action.take()
    }

    /// The handshake is done (after STARTTLS, or before the greeting
    /// with SMTPS): start over as RFC 3207 asks, knowing nothing the
    /// client said before.
    pub fn tls_started(&mut self, version: &str, cipher: &str) {
        self.waiting = false;
        self.end_tx(b"starttls", None, None);
        self.tls = Some((version.to_string(), cipher.to_string()));
        self.tls_offered = false;
        self.seen_mail = false;
        self.rcpts.clear();
        self.mail_from.clear();
        self.auth_user = None;
        self.auth_step = None;
        self.line.clear();
        self.line_too_long = false;
        let remote = self.peer.remote_host.clone();
        self.do_helo(&remote);
    }

    /// The checkprogram's answer to [`Action::CheckPassword`].
    pub fn auth_result(&mut self, result: AuthResult, user: Vec<u8>) {
        self.waiting = false;
        match result {
            AuthResult::Yes => {
                self.auth_user = Some(user);
                self.out.extend_from_slice(reply::AUTH_OK);
            }
            AuthResult::No => {
                self.auth_failures += 1;
                self.out.extend_from_slice(reply::AUTH_FAILED);
            }
            AuthResult::Temporary => self.out.extend_from_slice(reply::AUTH_TEMPORARY),
        }
    }

    /// Failed AUTH attempts so far (the driver delays each failure's
    /// reply by more as they grow).
    pub fn auth_failures(&self) -> u32 {
        self.auth_failures
    }

    /// The user a successful AUTH named.
    pub fn auth_user(&self) -> Option<&[u8]> {
        self.auth_user.as_deref()
    }

    /// Transaction log lines, each ending in LF, for stderr.
    pub fn take_log(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.log)
    }

    /// The client went away: log the transaction it left open.
    pub fn eof(&mut self) {
        self.end_tx(b"eof", None, None);
    }

    /// `Some` once the session is over: write the remaining output, then
    /// exit with [`Exit::code`].
    pub fn done(&self) -> Option<Exit> {
        match self.phase {
            Phase::Done(e) => Some(e),
            _ => None,
        }
    }

    /// The client was silent for timeoutsmtpd seconds: `451 timeout`,
    /// and the session is over.
    pub fn timeout(&mut self) {
        self.end_tx(b"timeout", None, None);
        self.abort(reply::TIMEOUT);
    }

    /// Bytes held for this client (line, envelope, message buffer,
    /// output): bounded whatever the client sends.
    pub fn buffered(&self) -> usize {
        let msg = match &self.phase {
            Phase::Data(m) => m.buf.capacity(),
            _ => 0,
        };
        self.out.capacity()
            + self.line.capacity()
            + self.mail_from.capacity()
            + self.helo.capacity()
            + self.rcpts.iter().map(Vec::capacity).sum::<usize>()
            + msg
    }

    /// Take bytes from the client. Returns how many were used: fewer than
    /// given when a reply should be written before going on (the pipelining
    /// flush rule, or much output pending) or when the session is over.
    /// Feed the rest after writing [`take_output`](Self::take_output).
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut i = 0;
        while i < input.len() {
            if self.waiting {
                break;
            }
            match &mut self.phase {
                Phase::Done(_) => break,
                Phase::Data(_) => {
                    let (used, finished) = self.feed_data(&input[i..]);
                    i += used;
                    if finished {
                        break;
                    }
                }
                Phase::Commands => {
                    let rest = &input[i..];
                    match rest.iter().position(|&b| b == b'\n') {
                        None => {
                            self.add_to_line(rest);
                            i = input.len();
                        }
                        Some(k) => {
                            self.add_to_line(&rest[..k]);
                            i += k + 1;
                            let flush = self.command();
                            if flush || self.out.len() >= OUTPUT_HIGH {
                                break;
                            }
                        }
                    }
                }
            }
        }
        i
    }

    fn add_to_line(&mut self, bytes: &[u8]) {
        // The LF is the line's last byte, so MAX_LINE - 1 may come before.
        let room = (MAX_LINE - 1).saturating_sub(self.line.len());
        if bytes.len() > room {
            self.line_too_long = true;
        }
        if !self.line_too_long {
            self.line.extend_from_slice(bytes);
        }
    }

    fn abort(&mut self, text: &[u8]) {
        self.out.extend_from_slice(text);
        self.phase = Phase::Done(Exit::Abort);
    }

    /// Run the command in `self.line`; true when its reply is flushed at
    /// once.
    fn command(&mut self) -> bool {
        let mut line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.line_too_long) {
            self.line = line;
            self.line.clear();
            self.out.extend_from_slice(reply::LINE_TOO_LONG);
            return true;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        self.had_nul = false;
        if let Some(nul) = line.iter().position(|&b| b == 0) {
            line.truncate(nul);
            self.had_nul = true;
        }
        if let Some(step) = self.auth_step.take() {
            self.auth_response(step, &line);
            line.clear();
            self.line = line;
            return true;
        }
        let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let mut arg = &line[verb_end..];
        while let [b' ', tail @ ..] = arg {
            arg = tail;
        }
        let verb = line[..verb_end].to_ascii_lowercase();
        let flush = match verb.as_slice() {
            b"rcpt" => {
                self.rcpt(arg);
                false
            }
            b"mail" => {
                self.end_tx(b"mail", None, None);
                let start = self.out.len();
                self.mail(arg);
                if self.out[start..].starts_with(b"250") {
                    self.tx = Some(Tx {
                        from: self.mail_from.clone(),
                        rcpts: Vec::new(),
                    });
                } else {
                    let code = reply_code(&self.out[start..]);
                    self.tx = Some(Tx {
                        from: addr::parse(arg).0,
                        rcpts: Vec::new(),
                    });
                    self.end_tx(&code, None, None);
                }
                false
            }
            b"data" => {
                let start = self.out.len();
                self.data();
                if !matches!(self.phase, Phase::Data(_)) {
                    let code = reply_code(&self.out[start..]);
                    self.end_tx(&code, None, None);
                }
                true
            }
            b"starttls" => {
                self.starttls(arg);
                true
            }
            b"auth" => {
                self.auth(arg);
                true
            }
            b"quit" => {
                self.end_tx(b"quit", None, None);
                self.out.extend_from_slice(b"221 ");
                self.out.extend_from_slice(&self.cfg.greeting);
                self.out.extend_from_slice(b"\r\n");
                self.phase = Phase::Done(Exit::Quit);
                true
            }
            b"helo" => {
                self.out.extend_from_slice(b"250 ");
                self.out.extend_from_slice(&self.cfg.greeting);
                self.out.extend_from_slice(b"\r\n");
                self.end_tx(b"helo", None, None);
                self.seen_mail = false;
                self.do_helo(arg);
                true
            }
            b"ehlo" => {
                self.end_tx(b"ehlo", None, None);
                self.ehlo_reply();
                self.seen_mail = false;
                self.do_helo(arg);
                true
            }
            b"rset" => {
                self.end_tx(b"rset", None, None);
                self.seen_mail = false;
                self.out.extend_from_slice(reply::FLUSHED);
                false
            }
            b"help" => {
                self.out.extend_from_slice(reply::HELP);
                true
            }
            b"noop" => {
                self.out.extend_from_slice(reply::OK);
                true
            }
            b"vrfy" => {
                self.out.extend_from_slice(reply::VRFY);
                true
            }
            _ => {
                self.out.extend_from_slice(reply::UNIMPLEMENTED);
                true
            }
        };
        // Keep the line's allocation for the next command.
        line.clear();
        self.line = line;
        flush
    }

    fn ehlo_reply(&mut self) {
        let mut lines: Vec<Vec<u8>> = vec![
            self.cfg.greeting.clone(),
            b"PIPELINING".to_vec(),
            b"8BITMIME".to_vec(),
        ];
        if self.cfg.databytes > 0 {
            lines.push(format!("SIZE {}", self.cfg.databytes).into_bytes());
        }
        if self.tls_offered && self.tls.is_none() {
            lines.push(b"STARTTLS".to_vec());
        }
        if self.auth_allowed() {
            lines.push(b"AUTH LOGIN PLAIN".to_vec());
        }
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            self.out
                .extend_from_slice(if i == last { b"250 " } else { b"250-" });
            self.out.extend_from_slice(l);
            self.out.extend_from_slice(b"\r\n");
        }
    }

    /// AUTH is offered here and now: a checkprogram, and TLS (or clear
    /// text allowed).
    fn auth_allowed(&self) -> bool {
        let a = self.cfg.auth;
        a.offered && (self.tls.is_some() || a.cleartext)
    }

    fn starttls(&mut self, arg: &[u8]) {
        if self.tls.is_some() {
            self.out.extend_from_slice(reply::TLS_AGAIN);
        } else if !self.tls_offered {
            self.out.extend_from_slice(reply::UNIMPLEMENTED);
        } else if !arg.is_empty() {
            self.out.extend_from_slice(reply::TLS_SYNTAX);
        } else {
            self.out.extend_from_slice(reply::TLS_READY);
            self.action = Some(Action::StartTls);
            self.waiting = true;
        }
    }

    fn auth(&mut self, arg: &[u8]) {
        if !self.cfg.auth.offered {
            self.out.extend_from_slice(reply::UNIMPLEMENTED);
            return;
        }
        if !self.auth_allowed() {
            self.out.extend_from_slice(reply::AUTH_NEEDS_TLS);
            return;
        }
        if self.auth_user.is_some() {
            self.out.extend_from_slice(reply::AUTH_AGAIN);
            return;
        }
        if self.seen_mail {
            self.out.extend_from_slice(reply::AUTH_IN_MAIL);
            return;
        }
        if self.auth_failures >= MAX_AUTH_FAILURES {
            self.abort(reply::AUTH_TOO_MANY);
            return;
        }
        let mech_end = arg.iter().position(|&b| b == b' ').unwrap_or(arg.len());
        let mut initial = &arg[mech_end..];
        while let [b' ', tail @ ..] = initial {
            initial = tail;
        }
        match arg[..mech_end].to_ascii_lowercase().as_slice() {
            b"plain" if initial.is_empty() => {
                self.out.extend_from_slice(reply::PLAIN_GO);
                self.auth_step = Some(AuthStep::Plain);
            }
            // RFC 4954: `=` is an empty initial response.
            b"plain" => self.auth_response(AuthStep::Plain, initial),
            b"login" if initial.is_empty() => {
                self.out.extend_from_slice(reply::LOGIN_USER);
                self.auth_step = Some(AuthStep::LoginUser);
            }
            b"login" => self.auth_response(AuthStep::LoginUser, initial),
            _ => self.out.extend_from_slice(reply::AUTH_MECHANISM),
        }
    }

    fn auth_response(&mut self, step: AuthStep, line: &[u8]) {
        let decoded = if line == b"=" {
            Ok(Vec::new())
        } else {
            auth::response(line)
        };
        let outcome = decoded.and_then(|d| match step {
            AuthStep::Plain => auth::plain(&d).map(Some),
            AuthStep::LoginUser => auth::login_field(d).map(|user| {
                self.out.extend_from_slice(reply::LOGIN_PASS);
                self.auth_step = Some(AuthStep::LoginPass(user));
                None
            }),
            AuthStep::LoginPass(user) => auth::login_field(d).map(|pass| Some((user, pass))),
        });
        match outcome {
            Ok(Some((user, password))) => {
                self.action = Some(Action::CheckPassword { user, password });
                self.waiting = true;
            }
            Ok(None) => {}
            Err(Bad::Cancelled) => self.out.extend_from_slice(reply::AUTH_CANCELLED),
            Err(Bad::Malformed) => self.out.extend_from_slice(reply::AUTH_MALFORMED),
        }
    }

    /// Close the open transaction, if any, with one log line.
    fn end_tx(&mut self, result: &[u8], size: Option<u64>, qp: Option<u32>) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        let l = &mut self.log;
        l.extend_from_slice(b"qmail-smtpd: tx ip=");
        log_put(l, &self.peer.remote_ip);
        l.extend_from_slice(b" helo=");
        log_put(l, &self.helo);
        l.extend_from_slice(b" tls=");
        match &self.tls {
            Some((v, c)) => {
                log_put(l, v.as_bytes());
                l.push(b'/');
                log_put(l, c.as_bytes());
            }
            None => l.push(b'-'),
        }
        l.extend_from_slice(b" auth=");
        log_put(l, self.auth_user.as_deref().unwrap_or(b"-"));
        l.extend_from_slice(b" from=<");
        log_put(l, &tx.from);
        l.push(b'>');
        for (a, code) in &tx.rcpts {
            l.extend_from_slice(b" rcpt=<");
            log_put(l, a);
            l.extend_from_slice(b">:");
            l.extend_from_slice(code);
        }
        l.extend_from_slice(b" size=");
        l.extend_from_slice(size.map_or("-".into(), |n| n.to_string()).as_bytes());
        l.extend_from_slice(b" qp=");
        l.extend_from_slice(qp.map_or("-".into(), |n| n.to_string()).as_bytes());
        l.extend_from_slice(b" result=");
        log_put(l, result);
        l.push(b'\n');
    }

    fn do_helo(&mut self, arg: &[u8]) {
        self.helo.clear();
        self.helo.extend_from_slice(arg);
        self.fake_helo = !self.peer.remote_host.eq_ignore_ascii_case(arg);
    }

    /// qmail's addrparse: the address, localiphost applied, or `None`
    /// (and `555`) when it is too long, or (and `bad_char`) when the
    /// command held a NUL or the address holds a CR or LF: no program
    /// after us can carry those (qmail-queue's envelope ends addresses
    /// at NUL; a CR or LF in an SMTP command splits it in two).
    fn address<'a>(
        &mut self,
        arg: &'a [u8],
        bad_char: &'static [u8],
    ) -> Option<(Vec<u8>, &'a [u8])> {
        let (mut a, params) = addr::parse(arg);
        if self.had_nul || a.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
            self.out.extend_from_slice(bad_char);
            return None;
        }
        if let Some(lip) = &self.cfg.localiphost {
            let ipme = &self.cfg.ipme;
            addr::rewrite_local_literal(&mut a, lip, |ip: IpAddr| ipme.contains(&ip));
        }
        if a.len() >= addr::MAX_ADDRESS {
            self.out.extend_from_slice(reply::SYNTAX);
            return None;
        }
        Some((a, params))
    }

    fn bad_mail_from(&self, a: &[u8]) -> bool {
        let Some(bmf) = &self.cfg.badmailfrom else {
            return false;
        };
        if bmf.contains(a) {
            return true;
        }
        match a.iter().rposition(|&b| b == b'@') {
            Some(at) => bmf.contains(&a[at..]),
            None => false,
        }
    }

    fn mail(&mut self, arg: &[u8]) {
        if self.cfg.auth.required && self.auth_user.is_none() {
            self.seen_mail = false;
            self.out.extend_from_slice(reply::AUTH_REQUIRED);
            return;
        }
        if self.had_nul || arg.contains(&b'\r') {
            // Checked before parsing so that the sender of an earlier
            // MAIL does not stay in place for the RCPTs that follow.
            self.seen_mail = false;
        }
        let Some((a, params)) = self.address(arg, reply::BAD_SENDER_CHAR) else {
            return;
        };
        if self.cfg.databytes > 0
            && addr::declared_size(params).is_some_and(|n| n > self.cfg.databytes)
        {
            self.seen_mail = false;
            self.out.extend_from_slice(reply::TOO_BIG);
            return;
        }
        self.barf = self.bad_mail_from(&a);
        self.seen_mail = true;
        self.rcpts.clear();
        self.mail_from = a;
        self.out.extend_from_slice(reply::OK);
    }

    /// RCPT, counting refusals: every 5xx answer counts, and once
    /// `max_refused` were given the next RCPT ends the session.
    fn rcpt(&mut self, arg: &[u8]) {
        let max = self.cfg.max_refused;
        if max > 0 && self.refused >= max {
            self.abort(reply::TOO_MANY_REFUSED);
            return;
        }
        let start = self.out.len();
        self.rcpt_reply(arg);
        if self.out.get(start) == Some(&b'5') {
            self.refused += 1;
        }
        let code = reply_code(&self.out[start..]);
        // Bounded as the recipients are (refusals end the session).
        if let Some(tx) = &mut self.tx
            && tx.rcpts.len() <= MAX_RECIPIENTS
        {
            tx.rcpts.push((addr::parse(arg).0, code));
        }
        if matches!(self.phase, Phase::Done(_)) {
            self.end_tx(&code, None, None);
        }
    }

    fn rcpt_reply(&mut self, arg: &[u8]) {
        if !self.seen_mail {
            self.out.extend_from_slice(reply::WANT_MAIL);
            return;
        }
        let Some((mut a, _)) = self.address(arg, reply::BAD_RCPT_CHAR) else {
            return;
        };
        if self.barf {
            self.out.extend_from_slice(reply::BAD_MAIL_FROM);
            return;
        }
        // A successful AUTH relays as RELAYCLIENT="" does.
        let authed: Option<&[u8]> = self.auth_user.as_ref().map(|_| &b""[..]);
        if let Some(rc) = self.peer.relay_client.as_deref().or(authed) {
            a.extend_from_slice(rc);
        } else {
            if self.cfg.rcpthosts.restricted() && addr::routes_through_local_part(&a) {
                self.out.extend_from_slice(reply::NO_RELAY);
                return;
            }
            match self.cfg.rcpthosts.allows(&a) {
                Ok(true) => {}
                Ok(false) => {
                    self.out.extend_from_slice(reply::NO_GATEWAY);
                    return;
                }
                Err(_) => {
                    self.abort(reply::CONTROLS);
                    return;
                }
            }
        }
        if self.rcpts.len() >= MAX_RECIPIENTS {
            self.out.extend_from_slice(reply::TOO_MANY_RECIPIENTS);
            return;
        }
        self.rcpts.push(a);
        self.out.extend_from_slice(reply::OK);
    }

    fn data(&mut self) {
        if !self.seen_mail {
            self.out.extend_from_slice(reply::WANT_MAIL);
            return;
        }
        if self.rcpts.is_empty() {
            self.out.extend_from_slice(reply::WANT_RCPT);
            return;
        }
        self.seen_mail = false;
        let mut job = match self.queue.open() {
            Ok(j) => j,
            Err(_) => {
                self.out.extend_from_slice(reply::QQT_FAILURE);
                return;
            }
        };
        let qp = job.qp();
        self.out.extend_from_slice(reply::GO_AHEAD);
        let helo = self.fake_helo.then_some(self.helo.as_slice());
        // RFC 3848's names, with the cipher as netqmail's TLS patch
        // shows it; plain SMTP stays qmail's `SMTP`. The AUTH user
        // stands where the ident answer would (qmail-smtpd-auth).
        let with = match (&self.tls, self.auth_user.is_some()) {
            (None, false) => "SMTP".to_string(),
            (None, true) => "ESMTPA".to_string(),
            (Some((v, c)), a) => format!("ESMTPS{} ({v}:{c} encrypted)", if a { "A" } else { "" }),
        };
        job.put(&received_with(
            &Fields {
                remote_host: &self.peer.remote_host,
                remote_ip: &self.peer.remote_ip,
                remote_info: self
                    .auth_user
                    .as_deref()
                    .or(self.peer.remote_info.as_deref()),
                local: &self.peer.local,
                helo,
            },
            with.as_bytes(),
            (self.clock)(),
        ));
        self.phase = Phase::Data(Box::new(Message {
            job,
            qp,
            reader: DataReader::new(),
            buf: Vec::with_capacity(QUEUE_CHUNK),
            size: 0,
            too_big: false,
            wire: 0,
        }));
    }

    /// Message bytes; returns (bytes used, message over).
    fn feed_data(&mut self, input: &[u8]) -> (usize, bool) {
        let Phase::Data(m) = &mut self.phase else {
            return (0, true);
        };
        let before = m.buf.len();
        let step = m.reader.feed(input, &mut m.buf);
        m.wire += match step {
            Step::More => input.len(),
            Step::StrayNewline(k) => k + 1,
            Step::End(k) => k,
        } as u64;
        let databytes = self.cfg.databytes;
        if m.too_big {
            m.buf.truncate(before);
        } else {
            let added = (m.buf.len() - before) as u64;
            m.size += added;
            if databytes > 0 && m.size > databytes {
                // Keep exactly databytes bytes, as qmail writes them
                // before it gives up on the message.
                let over = (m.size - databytes) as usize;
                m.buf.truncate(m.buf.len() - over);
                m.job.put(&m.buf);
                m.buf.clear();
                m.job.fail();
                m.too_big = true;
            }
        }
        match step {
            Step::More => {
                if m.buf.len() >= QUEUE_CHUNK {
                    m.job.put(&m.buf);
                    m.buf.clear();
                }
                (input.len(), false)
            }
            Step::StrayNewline(k) => {
                self.end_tx(b"451", None, None);
                self.abort(reply::STRAY_NEWLINE);
                (k + 1, true)
            }
            Step::End(k) => {
                let Phase::Data(m) = std::mem::replace(&mut self.phase, Phase::Commands) else {
                    unreachable!("checked above");
                };
                self.finish(*m);
                (k, true)
            }
        }
    }

    fn finish(&mut self, mut m: Message<Q::Job>) {
        if !m.buf.is_empty() {
            m.job.put(&m.buf);
        }
        let looping = m.reader.hops() >= MAX_HOPS;
        if looping {
            m.job.fail();
        }
        let qp = m.qp;
        let start = self.out.len();
        match m.job.close(&self.mail_from, &self.rcpts) {
            Ok(()) => {
                let now = (self.clock)();
                self.out
                    .extend_from_slice(format!("250 ok {now} qp {qp}\r\n").as_bytes());
            }
            Err(_) if looping => self.out.extend_from_slice(reply::TOO_MANY_HOPS),
            Err(_) if m.too_big => self.out.extend_from_slice(reply::TOO_BIG),
            Err(e) => {
                self.out
                    .extend_from_slice(if e.permanent { b"554 " } else { b"451 " });
                self.out.extend_from_slice(e.text.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
        }
        let code = reply_code(&self.out[start..]);
        self.end_tx(&code, Some(m.wire), Some(qp));
    }
}

/// The three digits a reply starts with.
fn reply_code(r: &[u8]) -> [u8; 3] {
    let mut c = *b"---";
    for (d, s) in c.iter_mut().zip(r) {
        *d = *s;
    }
    c
}

/// A log field: printable ASCII but space passes, the rest becomes `?`,
/// so a line is one line and its fields split at spaces.
fn log_put(out: &mut Vec<u8>, s: &[u8]) {
    if s.is_empty() {
        out.push(b'-');
    }
    out.extend(
        s.iter()
            .map(|&b| if (0x21..0x7f).contains(&b) { b } else { b'?' }),
    );
}
