//! The SMTP client dialogue for one connection (sans-IO).
//!
//! The caller feeds the server's bytes in with [`Session::feed`], sends
//! whatever [`Session::take_output`] returns, and does what
//! [`Session::want`] asks: read more, start TLS, send the message body,
//! or stop. The session never touches a socket, so it is tested with
//! the server's bytes split at every position.
//!
//! The dialogue is qmail-remote's, with the same reply classes and the
//! same report texts (see `report`), plus:
//! - EHLO first; a 5xx answer to EHLO falls back to HELO on the same
//!   connection (RFC 5321 §4.1.4), so HELO-only servers see qmail's
//!   exact dialogue after one rejected EHLO.
//! - STARTTLS when the server offers it and the caller allows it; any
//!   answer but 220 means "go on without TLS" on this connection
//!   (RFC 3207 leaves that choice to the client). After the handshake
//!   the session forgets what the server said and says EHLO again.
//! - A verified destination (`require_tls`): no STARTTLS offered, or
//!   STARTTLS refused, or no EHLO at all, ends the session with a
//!   deferral before MAIL; the message never goes in the clear.
//! - AUTH (PLAIN when offered, else LOGIN) after the last EHLO when the
//!   route has credentials; only under TLS unless the route allows clear
//!   text. No AUTH offered, or no TLS: a deferral, never mail sent
//!   unauthenticated. The AUTH reply's class decides bounce or deferral.
//! - SIZE (RFC 1870) when offered: `SIZE=n` on MAIL, and a message over
//!   the announced limit bounces before MAIL.
//! - PIPELINING when offered: MAIL, the RCPTs and DATA go in one write
//!   (at most [`WINDOW`] commands in flight), and the replies are taken
//!   in order (RFC 2920). The reports are the same as without it: a
//!   MAIL refusal ends the session before any recipient is reported
//!   (the RCPT refusals that follow it only echo it), and when every
//!   recipient was refused but DATA was accepted anyway, a lone dot
//!   ends the empty transaction before QUIT.

use std::collections::VecDeque;

use crate::auth::{Credentials, base64};
use crate::reply::{Reply, ReplyError, ReplyParser};
use crate::report::{Letter, Report};

/// Commands in flight at once when pipelining. Small enough that the
/// replies to them always fit in the socket buffers, so writing a whole
/// batch before reading can never deadlock.
pub const WINDOW: usize = 32;

/// What the caller must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Read from the server and [`Session::feed`] the bytes.
    Reply,
    /// The server said 220 to STARTTLS: drop any bytes already read,
    /// do the TLS handshake, then call [`Session::tls_started`].
    StartTls,
    /// DATA was accepted: send the message body (see `data`), then call
    /// [`Session::body_sent`].
    Body,
    /// Finished: send the last output (QUIT) and take the report.
    Done,
}

/// What the session needs to know about the delivery.
#[derive(Debug, Clone)]
pub struct Params {
    /// Our name for HELO/EHLO (`control/helohost`).
    pub helo: Vec<u8>,
    /// The envelope sender, quoted.
    pub sender: Vec<u8>,
    /// The envelope recipients, quoted.
    pub recipients: Vec<Vec<u8>>,
    /// The server's address as the reports show it.
    pub partner: String,
    /// Ask for STARTTLS when the server offers it.
    pub try_tls: bool,
    /// A verified destination: TLS or nothing.
    pub require_tls: bool,
    /// AUTH with these before MAIL.
    pub auth: Option<Credentials>,
    /// The message's size as sent (CRLF line ends), for SIZE; `None`
    /// when it is not known (a message on a pipe).
    pub size: Option<u64>,
    /// The server as the policy texts name it (`name (address)`).
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Mail,
    Rcpt(usize),
    Data,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Handshake,
    /// AUTH PLAIN sent, or LOGIN's password: waiting for 235.
    AuthFinal,
    /// AUTH LOGIN sent: waiting for the user name prompt.
    AuthUser,
    /// LOGIN's user name sent: waiting for the password prompt.
    AuthPassword,
    Transaction,
    Body,
    Final,
    Done,
}

/// One SMTP session with one server.
#[derive(Debug)]
pub struct Session {
    params: Params,
    state: State,
    parser: ReplyParser,
    out: Vec<u8>,
    tls_active: bool,
    pipelining: bool,
    /// The EHLO reply that counts (the last one), once it came.
    ehlo: Option<Reply>,
    /// Commands not sent yet, in order.
    queue: VecDeque<Cmd>,
    /// Commands sent and waiting for their replies, in order.
    in_flight: VecDeque<Cmd>,
    /// Some recipient was accepted.
    accepted: bool,
    /// The text of the last reply, until a recipient report uses it
    /// (qmail's `smtptext`).
    last_text: Vec<u8>,
    report: Report,
}

impl Session {
    /// A session that waits for the greeting.
    pub fn new(params: Params) -> Session {
        Session {
            params,
            state: State::Greeting,
            parser: ReplyParser::new(),
            out: Vec::new(),
            tls_active: false,
            pipelining: false,
            ehlo: None,
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            accepted: false,
            last_text: Vec::new(),
            report: Report::default(),
        }
    }

    /// What the caller must do next.
    pub fn want(&self) -> Want {
        match self.state {
            State::Handshake => Want::StartTls,
            State::Body => Want::Body,
            State::Done => Want::Done,
            _ => Want::Reply,
        }
    }

    /// Bytes to send to the server now.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The message body and its final dot are on their way: wait for
    /// the server's verdict.
    pub fn body_sent(&mut self) {
        debug_assert_eq!(self.state, State::Body);
        self.state = State::Final;
    }

    /// The TLS handshake is done: start over with EHLO (RFC 3207 §4.2).
    pub fn tls_started(&mut self) {
        debug_assert_eq!(self.state, State::Handshake);
        self.tls_active = true;
        self.pipelining = false;
        self.ehlo = None;
        self.parser = ReplyParser::new();
        self.send_ehlo();
    }

    /// TLS is in use on this connection.
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }

    /// The server offered PIPELINING (in the EHLO that counts).
    pub fn pipelining(&self) -> bool {
        self.pipelining
    }

    /// The final dot has gone and its reply has not come: losing the
    /// connection now may mean the message was delivered anyway.
    pub fn critical(&self) -> bool {
        self.state == State::Final
    }

    /// Feed bytes from the server. Returns how many were used: the
    /// session stops after a reply that changes [`Session::want`] away
    /// from [`Want::Reply`], and the rest is the caller's (kept for
    /// later, or thrown away before a TLS handshake).
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut used = 0;
        while used < input.len() && self.want() == Want::Reply {
            let (n, reply) = self.parser.feed(&input[used..]);
            used += n;
            match reply {
                None => {}
                Some(Ok(reply)) => self.on_reply(reply),
                Some(Err(ReplyError::TooLong)) => self.dropped(),
            }
        }
        used
    }

    /// The connection failed (read or write error, timeout, EOF):
    /// report it as qmail does.
    pub fn dropped(&mut self) {
        let dup = if self.critical() {
            "Possible duplicate! "
        } else {
            ""
        };
        let text = format!(
            "Connected to {} but connection died. {dup}(#4.4.2)\n",
            self.params.partner
        );
        self.finish(Letter::Z, text.into_bytes(), false);
    }

    /// A local failure (the message could not be read, or has a partial
    /// final line): the report keeps the recipients reported so far.
    pub fn fail_local(&mut self, letter: Letter, text: &str) {
        self.last_text.clear();
        self.finish(letter, text.as_bytes().to_vec(), false);
    }

    /// The report, once [`Want::Done`].
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Take the report, once [`Want::Done`].
    pub fn into_report(self) -> Report {
        self.report
    }

    fn on_reply(&mut self, reply: Reply) {
        self.last_text = reply.text.clone();
        // A garbled reply counts as a temporary failure: never as
        // success, never as a bounce.
        let code = if reply.malformed { 400 } else { reply.code };
        match self.state {
            State::Greeting => {
                if code != 220 {
                    return self.quit(Letter::Z, "Connected to ", " but greeting failed");
                }
                self.send_ehlo();
            }
            State::Ehlo => {
                if code == 250 {
                    self.pipelining = reply.offers(b"PIPELINING");
                    let starttls = reply.offers(b"STARTTLS");
                    self.ehlo = Some(reply);
                    if self.params.try_tls && !self.tls_active && starttls {
                        self.out.extend_from_slice(b"STARTTLS\r\n");
                        self.state = State::StartTls;
                    } else {
                        self.after_ehlo();
                    }
                } else if (500..600).contains(&code) {
                    self.pipelining = false;
                    self.ehlo = None;
                    self.out.extend_from_slice(b"HELO ");
                    self.out.extend_from_slice(&self.params.helo);
                    self.out.extend_from_slice(b"\r\n");
                    self.state = State::Helo;
                } else {
                    self.quit(Letter::Z, "Connected to ", " but my name was rejected");
                }
            }
            State::Helo => {
                if code != 250 {
                    return self.quit(Letter::Z, "Connected to ", " but my name was rejected");
                }
                self.after_ehlo();
            }
            State::StartTls => {
                if code == 220 {
                    self.state = State::Handshake;
                } else if self.params.require_tls {
                    let text = format!(
                        "{} refused STARTTLS, and this destination gets mail only under verified TLS. (#4.7.0)\n",
                        self.params.label
                    );
                    let mut text = text.into_bytes();
                    append_remote_text(&mut text, &std::mem::take(&mut self.last_text));
                    self.finish(Letter::Z, text, true);
                } else {
                    // Refused (454 and the like): carry on in the clear
                    // with what the EHLO said.
                    self.after_ehlo();
                }
            }
            State::AuthUser | State::AuthPassword if code == 334 => {
                let Some(auth) = &self.params.auth else {
                    return;
                };
                let item = if self.state == State::AuthUser {
                    self.state = State::AuthPassword;
                    &auth.user
                } else {
                    self.state = State::AuthFinal;
                    &auth.password
                };
                self.out.extend_from_slice(&base64(item));
                self.out.extend_from_slice(b"\r\n");
            }
            State::AuthFinal | State::AuthUser | State::AuthPassword => {
                if (200..300).contains(&code) {
                    return self.begin_transaction();
                }
                let letter = if (500..600).contains(&code) {
                    Letter::D
                } else {
                    Letter::Z
                };
                if code == 334 {
                    // A challenge after the last answer: end the
                    // exchange (RFC 4954 §4) before QUIT.
                    self.out.extend_from_slice(b"*\r\n");
                }
                self.quit(letter, "Connected to ", " but authentication was rejected");
            }
            State::Transaction => self.on_transaction_reply(code),
            State::Final => {
                if code >= 500 {
                    self.quit(Letter::D, "", " failed after I sent the message");
                } else if code >= 400 {
                    self.quit(Letter::Z, "", " failed after I sent the message");
                } else {
                    self.quit(Letter::K, "", " accepted message");
                }
            }
            State::Handshake | State::Body | State::Done => {}
        }
    }

    fn on_transaction_reply(&mut self, code: u16) {
        let Some(cmd) = self.in_flight.pop_front() else {
            // A reply to nothing: a confused server. Ignore it, as
            // qmail would read it as the next command's reply anyway.
            return;
        };
        match cmd {
            Cmd::Mail => {
                if code >= 500 {
                    return self.quit(Letter::D, "Connected to ", " but sender was rejected");
                }
                if code >= 400 {
                    return self.quit(Letter::Z, "Connected to ", " but sender was rejected");
                }
            }
            Cmd::Rcpt(i) => {
                let last = i + 1 == self.params.recipients.len();
                if code >= 400 {
                    let letter = if code >= 500 { b'h' } else { b's' };
                    let mut text =
                        format!("{} does not like recipient.\n", self.params.partner).into_bytes();
                    append_remote_text(&mut text, &std::mem::take(&mut self.last_text));
                    self.report.recipients.push((letter, text));
                } else {
                    self.report.recipients.push((b'r', Vec::new()));
                    self.accepted = true;
                }
                if last && !self.accepted && self.queue.front() == Some(&Cmd::Data) {
                    // Every recipient refused and DATA not sent yet.
                    self.last_text.clear();
                    return self.quit(Letter::D, "Giving up on ", "");
                }
            }
            Cmd::Data => {
                if !self.accepted {
                    // Pipelined DATA after refusals only. If the server
                    // said go ahead anyway, end the empty message.
                    if code < 400 {
                        self.out.extend_from_slice(b".\r\n");
                    }
                    self.last_text.clear();
                    return self.quit(Letter::D, "Giving up on ", "");
                }
                if code >= 500 {
                    return self.quit(Letter::D, "", " failed on DATA command");
                }
                if code >= 400 {
                    return self.quit(Letter::Z, "", " failed on DATA command");
                }
                self.state = State::Body;
                return;
            }
        }
        self.send_more();
    }

    fn send_ehlo(&mut self) {
        self.out.extend_from_slice(b"EHLO ");
        self.out.extend_from_slice(&self.params.helo);
        self.out.extend_from_slice(b"\r\n");
        self.state = State::Ehlo;
    }

    /// The last EHLO (or HELO) is done: the policy checks, AUTH, then
    /// the transaction.
    fn after_ehlo(&mut self) {
        if self.params.require_tls && !self.tls_active {
            let text = format!(
                "{} does not offer STARTTLS, and this destination gets mail only under verified TLS. (#4.7.0)\n",
                self.params.label
            );
            return self.refuse(Letter::Z, text);
        }
        let Some(auth) = &self.params.auth else {
            return self.begin_transaction();
        };
        if !self.tls_active && !auth.clear_ok {
            let text = format!(
                "Connected to {} but it offers no TLS, and I send the password for this route only under TLS. (#4.7.0)\n",
                self.params.partner
            );
            return self.refuse(Letter::Z, text);
        }
        let mechanisms = self.ehlo.as_ref().map(auth_mechanisms).unwrap_or_default();
        if mechanisms.iter().any(|m| m == b"PLAIN") {
            self.out.extend_from_slice(b"AUTH PLAIN ");
            self.out.extend_from_slice(&auth.plain());
            self.out.extend_from_slice(b"\r\n");
            self.state = State::AuthFinal;
        } else if mechanisms.iter().any(|m| m == b"LOGIN") {
            self.out.extend_from_slice(b"AUTH LOGIN\r\n");
            self.state = State::AuthUser;
        } else {
            let text = format!(
                "Connected to {} but it offers no AUTH PLAIN or LOGIN, and this route has credentials. (#4.7.0)\n",
                self.params.partner
            );
            self.refuse(Letter::Z, text);
        }
    }

    /// The SIZE limit the last EHLO announced: `Some(0)` for SIZE
    /// without a limit, `None` when SIZE is not offered.
    fn size_limit(&self) -> Option<u64> {
        let ehlo = self.ehlo.as_ref()?;
        ehlo.heads.iter().skip(1).find_map(|h| {
            let mut words = h.split(|&b| b == b' ').filter(|w| !w.is_empty());
            let keyword = words.next()?;
            if !keyword.eq_ignore_ascii_case(b"SIZE") {
                return None;
            }
            Some(words.next().map_or(0, control::file::scan_ulong))
        })
    }

    fn begin_transaction(&mut self) {
        if let (Some(limit), Some(size)) = (self.size_limit(), self.params.size)
            && limit > 0
            && size > limit
        {
            let text = format!(
                "Connected to {} but the message is too big for it: {size} bytes, it takes at most {limit}. (#5.3.4)\n",
                self.params.partner
            );
            return self.refuse(Letter::D, text);
        }
        self.state = State::Transaction;
        self.queue.push_back(Cmd::Mail);
        for i in 0..self.params.recipients.len() {
            self.queue.push_back(Cmd::Rcpt(i));
        }
        self.queue.push_back(Cmd::Data);
        self.send_more();
    }

    /// Send queued commands while the window allows.
    fn send_more(&mut self) {
        let window = if self.pipelining { WINDOW } else { 1 };
        while self.in_flight.len() < window {
            let Some(cmd) = self.queue.pop_front() else {
                break;
            };
            match cmd {
                Cmd::Mail => {
                    self.out.extend_from_slice(b"MAIL FROM:<");
                    self.out.extend_from_slice(&self.params.sender);
                    self.out.extend_from_slice(b">");
                    if let (Some(_), Some(size)) = (self.size_limit(), self.params.size) {
                        self.out
                            .extend_from_slice(format!(" SIZE={size}").as_bytes());
                    }
                    self.out.extend_from_slice(b"\r\n");
                }
                Cmd::Rcpt(i) => {
                    self.out.extend_from_slice(b"RCPT TO:<");
                    self.out.extend_from_slice(&self.params.recipients[i]);
                    self.out.extend_from_slice(b">\r\n");
                }
                Cmd::Data => {
                    if !self.accepted && !self.pipelining {
                        // Without pipelining DATA waits for the last
                        // RCPT reply, and it was handled there.
                        self.queue.push_front(cmd);
                        break;
                    }
                    self.out.extend_from_slice(b"DATA\r\n");
                }
            }
            self.in_flight.push_back(cmd);
        }
    }

    /// qmail's `quit()`: QUIT, then the message report `letter` +
    /// `prefix` + partner + `suffix` + ".\n" + the last reply's text.
    fn quit(&mut self, letter: Letter, prefix: &str, suffix: &str) {
        let mut text = format!("{prefix}{}{suffix}.\n", self.params.partner).into_bytes();
        append_remote_text(&mut text, &std::mem::take(&mut self.last_text));
        self.finish(letter, text, true);
    }

    /// QUIT with a text of ours alone (a policy of this side, not a
    /// reply of the server's, decided it).
    fn refuse(&mut self, letter: Letter, text: String) {
        self.last_text.clear();
        self.finish(letter, text.into_bytes(), true);
    }

    fn finish(&mut self, letter: Letter, text: Vec<u8>, say_quit: bool) {
        if say_quit {
            self.out.extend_from_slice(b"QUIT\r\n");
        }
        self.report.letter = letter;
        self.report.text = text;
        self.state = State::Done;
    }
}

/// The mechanisms of the EHLO reply's `AUTH` line (upper case), also
/// in the `AUTH=...` form of old servers.
fn auth_mechanisms(ehlo: &Reply) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for h in ehlo.heads.iter().skip(1) {
        let auth =
            h.len() > 5 && h[..4].eq_ignore_ascii_case(b"AUTH") && (h[4] == b' ' || h[4] == b'=');
        if !auth {
            continue;
        }
        let rest = &h[5..];
        out.extend(
            rest.split(|&b| b == b' ')
                .filter(|w| !w.is_empty())
                .map(<[u8]>::to_ascii_uppercase),
        );
    }
    out
}

/// qmail's `outsmtptext()`: "Remote host said: " and the reply, NULs
/// made `?`; nothing when there is no text.
fn append_remote_text(out: &mut Vec<u8>, text: &[u8]) {
    if text.is_empty() {
        return;
    }
    out.extend_from_slice(b"Remote host said: ");
    out.extend(text.iter().map(|&b| if b == 0 { b'?' } else { b }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(recips: &[&str], try_tls: bool) -> Params {
        Params {
            helo: b"me.example".to_vec(),
            sender: b"s@example.org".to_vec(),
            recipients: recips.iter().map(|r| r.as_bytes().to_vec()).collect(),
            partner: "192.0.2.25".into(),
            try_tls,
            require_tls: false,
            auth: None,
            size: Some(100),
            label: "mx.example (192.0.2.25)".into(),
        }
    }

    /// A scripted run: the server's replies, all at once (which is what
    /// a pipelining server may do), then the session's output and its
    /// report. The server's bytes are fed split at every position; each
    /// split must give the same result.
    fn run(p: Params, server: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let whole = run_split(p.clone(), server, &[]);
        for cut in 0..=server.len() {
            assert_eq!(
                run_split(p.clone(), server, &[cut]),
                whole,
                "split at {cut}"
            );
        }
        let every: Vec<usize> = (0..=server.len()).collect();
        assert_eq!(run_split(p, server, &every), whole, "byte by byte");
        whole
    }

    fn run_split(p: Params, server: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<u8>) {
        let mut s = Session::new(p);
        let mut sent = Vec::new();
        let mut pieces = Vec::new();
        let mut from = 0;
        for &c in cuts {
            pieces.push(&server[from..c]);
            from = c;
        }
        pieces.push(&server[from..]);
        let mut pending: Vec<u8> = Vec::new();
        let mut pieces = pieces.into_iter();
        loop {
            sent.extend(s.take_output());
            match s.want() {
                Want::Done => break,
                Want::Body => {
                    sent.extend_from_slice(b"<body>.\r\n");
                    s.body_sent();
                    continue;
                }
                Want::StartTls => {
                    // The rest of the script is what the server says
                    // under TLS (the driver's clearing of stray bytes
                    // is tested on its own below).
                    sent.extend_from_slice(b"<tls>");
                    s.tls_started();
                    continue;
                }
                Want::Reply => {}
            }
            if pending.is_empty() {
                match pieces.next() {
                    Some(p) => pending.extend_from_slice(p),
                    None => {
                        s.dropped();
                        continue;
                    }
                }
            }
            let n = s.feed(&pending);
            pending.drain(..n);
        }
        sent.extend(s.take_output());
        (sent, s.into_report().to_bytes())
    }

    fn lines(s: &[u8]) -> String {
        String::from_utf8_lossy(s).into_owned()
    }

    #[test]
    fn plain_helo_only_server_sees_qmails_dialogue() {
        let (sent, report) = run(
            params(&["a@x.example"], true),
            b"220 hi\r\n502 what\r\n250 hello\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
        );
        assert_eq!(
            lines(&sent),
            "EHLO me.example\r\nHELO me.example\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@x.example>\r\nDATA\r\n<body>.\r\nQUIT\r\n"
        );
        assert_eq!(
            lines(&report),
            "r\0K192.0.2.25 accepted message.\nRemote host said: 250 queued\n\0"
        );
    }

    #[test]
    fn esmtp_without_extensions_waits_for_each_reply() {
        let (sent, report) = run(
            params(&["a@x", "b@x"], true),
            b"220 hi\r\n250-hello\r\n250 8BITMIME\r\n250 ok\r\n550 no such user\r\n250 ok\r\n354 go\r\n250 queued\r\n",
        );
        assert_eq!(
            lines(&sent),
            "EHLO me.example\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n<body>.\r\nQUIT\r\n"
        );
        assert_eq!(
            lines(&report),
            "h192.0.2.25 does not like recipient.\nRemote host said: 550 no such user\n\0r\0K192.0.2.25 accepted message.\nRemote host said: 250 queued\n\0"
        );
    }

    #[test]
    fn pipelining_sends_the_envelope_in_one_go() {
        let (sent, report) = run(
            params(&["a@x", "b@x"], true),
            b"220 hi\r\n250-hello\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n451 later\r\n354 go\r\n250 queued\r\n",
        );
        assert_eq!(
            lines(&sent),
            "EHLO me.example\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n<body>.\r\nQUIT\r\n"
        );
        assert_eq!(
            lines(&report),
            "r\0s192.0.2.25 does not like recipient.\nRemote host said: 451 later\n\0K192.0.2.25 accepted message.\nRemote host said: 250 queued\n\0"
        );
    }

    #[test]
    fn pipelined_sender_refusal_reports_no_recipient() {
        let (_, report) = run(
            params(&["a@x"], true),
            b"220 hi\r\n250-hello\r\n250 PIPELINING\r\n553 bad sender\r\n503 no mail\r\n503 no rcpt\r\n",
        );
        assert_eq!(
            lines(&report),
            "DConnected to 192.0.2.25 but sender was rejected.\nRemote host said: 553 bad sender\n\0"
        );
    }

    #[test]
    fn pipelined_all_refused_then_data_accepted_ends_with_a_dot() {
        let (sent, report) = run(
            params(&["a@x"], true),
            b"220 hi\r\n250-hello\r\n250 PIPELINING\r\n250 ok\r\n550 no\r\n354 go\r\n",
        );
        assert!(
            lines(&sent).ends_with("DATA\r\n.\r\nQUIT\r\n"),
            "{}",
            lines(&sent)
        );
        assert_eq!(
            lines(&report),
            "h192.0.2.25 does not like recipient.\nRemote host said: 550 no\n\0DGiving up on 192.0.2.25.\n\0"
        );
        let (sent, report2) = run(
            params(&["a@x"], true),
            b"220 hi\r\n250-hello\r\n250 PIPELINING\r\n250 ok\r\n550 no\r\n554 no valid recipients\r\n",
        );
        assert!(lines(&sent).ends_with("DATA\r\nQUIT\r\n"));
        assert_eq!(report2, report);
    }

    #[test]
    fn starttls_then_ehlo_again() {
        let (sent, report) = run(
            params(&["a@x"], true),
            b"220 hi\r\n250-hello\r\n250-STARTTLS\r\n250 PIPELINING\r\n220 go ahead\r\n250-hello again\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
        );
        assert_eq!(
            lines(&sent),
            "EHLO me.example\r\nSTARTTLS\r\n<tls>EHLO me.example\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@x>\r\nDATA\r\n<body>.\r\nQUIT\r\n"
        );
        assert!(lines(&report).starts_with("r\0K"));
    }

    #[test]
    fn bytes_after_the_starttls_go_ahead_are_not_taken_as_replies() {
        // An injected "250" after 220 must not answer our EHLO.
        let mut s = Session::new(params(&["a@x"], true));
        s.take_output();
        let input = b"220 hi\r\n250-hello\r\n250 STARTTLS\r\n220 go\r\n250 injected\r\n";
        let n = s.feed(input);
        assert_eq!(&input[n..], b"250 injected\r\n");
        assert_eq!(s.want(), Want::StartTls);
    }

    #[test]
    fn starttls_refused_goes_on_in_the_clear() {
        let (sent, report) = run(
            params(&["a@x"], true),
            b"220 hi\r\n250-hello\r\n250 STARTTLS\r\n454 not now\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
        );
        assert_eq!(
            lines(&sent),
            "EHLO me.example\r\nSTARTTLS\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@x>\r\nDATA\r\n<body>.\r\nQUIT\r\n"
        );
        assert!(lines(&report).starts_with("r\0K"));
    }

    #[test]
    fn starttls_not_tried_when_not_allowed() {
        let (sent, _) = run(
            params(&["a@x"], false),
            b"220 hi\r\n250-hello\r\n250 STARTTLS\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
        );
        assert!(!lines(&sent).contains("STARTTLS"));
    }

    fn with_auth(clear_ok: bool) -> Params {
        Params {
            auth: Some(crate::auth::tests_credentials(clear_ok)),
            ..params(&["a@x"], true)
        }
    }

    #[test]
    fn auth_login_under_tls_then_size_on_mail() {
        let (sent, report) = run(
            with_auth(false),
            b"220 hi\r\n250-hi\r\n250 STARTTLS\r\n220 go\r\n250-hi\r\n250-AUTH=LOGIN\r\n250 SIZE 1000\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
        );
        assert_eq!(
            lines(&sent),
            "EHLO me.example\r\nSTARTTLS\r\n<tls>EHLO me.example\r\nAUTH LOGIN\r\nam9l\r\nc2VjcmV0\r\nMAIL FROM:<s@example.org> SIZE=100\r\nRCPT TO:<a@x>\r\nDATA\r\n<body>.\r\nQUIT\r\n"
        );
        assert!(lines(&report).starts_with("r\0K"));
    }

    #[test]
    fn no_password_in_the_clear_and_no_mail_without_auth() {
        let (sent, report) = run(with_auth(false), b"220 hi\r\n250-hi\r\n250 AUTH PLAIN\r\n");
        assert_eq!(lines(&sent), "EHLO me.example\r\nQUIT\r\n");
        assert!(lines(&report).starts_with("ZConnected to 192.0.2.25 but it offers no TLS"));
        let (sent, _) = run(with_auth(true), b"220 hi\r\n250-hi\r\n250 AUTH PLAIN\r\n235 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n");
        assert!(lines(&sent).contains("AUTH PLAIN AGpvZQBzZWNyZXQ=\r\nMAIL"));
        let (_, report) = run(with_auth(true), b"220 hi\r\n500 eh\r\n250 hello\r\n");
        assert!(lines(&report).contains("offers no AUTH PLAIN or LOGIN"));
        let (sent, report) = run(with_auth(true), b"220 hi\r\n250-hi\r\n250 AUTH LOGIN\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n334 more?\r\n");
        assert!(
            lines(&sent).ends_with("c2VjcmV0\r\n*\r\nQUIT\r\n"),
            "{}",
            lines(&sent)
        );
        assert!(
            lines(&report).starts_with("ZConnected to 192.0.2.25 but authentication was rejected.")
        );
    }

    #[test]
    fn a_verified_destination_never_gets_mail_in_the_clear() {
        let p = || Params {
            require_tls: true,
            ..params(&["a@x"], true)
        };
        for server in [
            &b"220 hi\r\n250-hi\r\n250 PIPELINING\r\n"[..],
            b"220 hi\r\n502 eh\r\n250 hello\r\n",
            b"220 hi\r\n250-hi\r\n250 STARTTLS\r\n454 no\r\n",
        ] {
            let (sent, report) = run(p(), server);
            assert!(!lines(&sent).contains("MAIL"), "{}", lines(&sent));
            assert!(lines(&report).starts_with("Zmx.example (192.0.2.25) "));
        }
        let (_, report) = run(
            Params {
                try_tls: false,
                ..p()
            },
            b"220 hi\r\n250-hi\r\n250 STARTTLS\r\n",
        );
        assert!(lines(&report).starts_with("Zmx.example (192.0.2.25) does not offer"));
    }

    #[test]
    fn a_message_over_the_size_limit_bounces_before_mail() {
        let (sent, report) = run(
            params(&["a@x"], true),
            b"220 hi\r\n250-hi\r\n250 SIZE 99\r\n",
        );
        assert_eq!(lines(&sent), "EHLO me.example\r\nQUIT\r\n");
        assert_eq!(
            lines(&report),
            "DConnected to 192.0.2.25 but the message is too big for it: 100 bytes, it takes at most 99. (#5.3.4)\n\0"
        );
    }

    #[test]
    fn every_reply_class_maps_as_qmail() {
        let p = || params(&["a@x"], true);
        let cases: &[(&[u8], &str)] = &[
            (
                b"421 busy\r\n",
                "ZConnected to 192.0.2.25 but greeting failed.\nRemote host said: 421 busy\n\0",
            ),
            (
                b"554 go away\r\n",
                "ZConnected to 192.0.2.25 but greeting failed.\nRemote host said: 554 go away\n\0",
            ),
            (
                b"220 hi\r\n421 closing\r\n",
                "ZConnected to 192.0.2.25 but my name was rejected.\nRemote host said: 421 closing\n\0",
            ),
            (
                b"220 hi\r\n500 eh\r\n550 bad name\r\n",
                "ZConnected to 192.0.2.25 but my name was rejected.\nRemote host said: 550 bad name\n\0",
            ),
            (
                b"220 hi\r\n250 hi\r\n451 try later\r\n",
                "ZConnected to 192.0.2.25 but sender was rejected.\nRemote host said: 451 try later\n\0",
            ),
            (
                b"220 hi\r\n250 hi\r\n553 no\r\n",
                "DConnected to 192.0.2.25 but sender was rejected.\nRemote host said: 553 no\n\0",
            ),
            (
                b"220 hi\r\n250 hi\r\n250 ok\r\n450 busy\r\n",
                "s192.0.2.25 does not like recipient.\nRemote host said: 450 busy\n\0DGiving up on 192.0.2.25.\n\0",
            ),
            (
                b"220 hi\r\n250 hi\r\n250 ok\r\n550 unknown\r\n",
                "h192.0.2.25 does not like recipient.\nRemote host said: 550 unknown\n\0DGiving up on 192.0.2.25.\n\0",
            ),
            (
                b"220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n451 no data\r\n",
                "r\0Z192.0.2.25 failed on DATA command.\nRemote host said: 451 no data\n\0",
            ),
            (
                b"220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n554 no data\r\n",
                "r\0D192.0.2.25 failed on DATA command.\nRemote host said: 554 no data\n\0",
            ),
            (
                b"220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n452 full\r\n",
                "r\0Z192.0.2.25 failed after I sent the message.\nRemote host said: 452 full\n\0",
            ),
            (
                b"220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n552 too big\r\n",
                "r\0D192.0.2.25 failed after I sent the message.\nRemote host said: 552 too big\n\0",
            ),
            (
                b"220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250-ok\r\n250 queued as 1\r\n",
                "r\0K192.0.2.25 accepted message.\nRemote host said: 250-ok\n250 queued as 1\n\0",
            ),
        ];
        for (server, want) in cases {
            let (_, report) = run(p(), server);
            assert_eq!(lines(&report), *want, "server {:?}", lines(server));
        }
    }

    #[test]
    fn lost_connections() {
        let p = || params(&["a@x"], true);
        let (_, r) = run(p(), b"220 hi\r\n250 hi\r\n");
        assert_eq!(
            lines(&r),
            "ZConnected to 192.0.2.25 but connection died. (#4.4.2)\n\0"
        );
        let (_, r) = run(p(), b"220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n");
        assert_eq!(
            lines(&r),
            "r\0ZConnected to 192.0.2.25 but connection died. Possible duplicate! (#4.4.2)\n\0"
        );
        // In the middle of a reply.
        let (_, r) = run(p(), b"220 hi\r\n250-hi\r\n25");
        assert_eq!(
            lines(&r),
            "ZConnected to 192.0.2.25 but connection died. (#4.4.2)\n\0"
        );
    }

    #[test]
    fn garbage_is_never_success() {
        let (_, r) = run(params(&["a@x"], true), b"220 hi\r\n250 hi\r\nOK fine\r\n");
        assert!(lines(&r).starts_with("ZConnected to 192.0.2.25 but sender was rejected."));
        let (_, r) = run(
            params(&["a@x"], true),
            b"220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\nthanks\r\n",
        );
        assert!(lines(&r).starts_with("r\0Z192.0.2.25 failed after I sent the message."));
    }

    #[test]
    fn nul_in_a_reply_becomes_a_question_mark() {
        let (_, r) = run(params(&["a@x"], true), b"220 hi\r\n250 hi\r\n550 a\0b\r\n");
        assert_eq!(
            lines(&r),
            "DConnected to 192.0.2.25 but sender was rejected.\nRemote host said: 550 a?b\n\0"
        );
    }

    #[test]
    fn many_recipients_pipeline_in_windows() {
        let recips: Vec<String> = (0..(WINDOW * 2 + 5)).map(|i| format!("r{i}@x")).collect();
        let refs: Vec<&str> = recips.iter().map(String::as_str).collect();
        let mut server = b"220 hi\r\n250-hi\r\n250 PIPELINING\r\n250 ok\r\n".to_vec();
        for _ in &recips {
            server.extend_from_slice(b"250 ok\r\n");
        }
        server.extend_from_slice(b"354 go\r\n250 queued\r\n");
        let mut s = Session::new(params(&refs, true));
        s.feed(b"220 hi\r\n");
        assert_eq!(s.take_output(), b"EHLO me.example\r\n");
        s.feed(b"250-hi\r\n250 PIPELINING\r\n");
        let first = lines(&s.take_output());
        assert_eq!(first.matches("\r\n").count(), WINDOW, "one window at first");
        let (sent, report) = run_split(params(&refs, true), &server, &[]);
        assert_eq!(lines(&sent).matches("RCPT TO:").count(), recips.len());
        assert!(
            lines(&report)
                .ends_with("K192.0.2.25 accepted message.\nRemote host said: 250 queued\n\0")
        );
    }
}
