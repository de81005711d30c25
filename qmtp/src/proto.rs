//! The input side of qmail-qmtpd and qmail-qmqpd, sans IO: feed bytes as
//! they arrive, in pieces of any size; get [`Event`]s.
//!
//! QMTP (cr.yp.to/proto/qmtp.txt), repeated until the client closes:
//! a netstring holding the message (its first byte says whether lines end
//! in LF or CRLF; CRLF is turned into LF), a netstring holding the sender,
//! and a netstring holding one netstring per recipient.
//!
//! QMQP (cr.yp.to/proto/qmqp.html), once: one netstring holding the
//! message, the sender and each recipient as netstrings.
//!
//! Bounds: a message of at most [`Limits::max_message`] bytes (its bytes
//! are streamed, never held), senders and recipients of up to 999 bytes
//! kept (longer ones are skipped and reported as too long), at most
//! [`Limits::max_recipients`] recipients.

use crate::netstring::{Error, LenParser};

/// The longest address kept; 1.03 refuses addresses of 1000 bytes or more.
pub const ADDRESS_MAX: usize = 999;

/// An address from the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Ok(Vec<u8>),
    /// 1000 bytes or more.
    TooLong,
    /// Holds a NUL byte.
    Nul,
}

/// What the input brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A message begins (open qmail-queue now).
    Start,
    /// Message bytes, in order, line ends already LF.
    Body(&'a [u8]),
    Sender(Field),
    Recipient(Field),
    /// The envelope is complete: queue the message and answer.
    End,
}

/// The bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message: u64,
    pub max_recipients: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        // 1.03 gives up on lengths over 200000000 (its `resources`).
        Limits {
            max_message: 200_000_000,
            max_recipients: 100_000,
        }
    }
}

/// An address being read.
#[derive(Debug, Clone)]
struct Addr {
    left: u64,
    buf: Vec<u8>,
    too_long: bool,
}

impl Addr {
    fn new(len: u64) -> Addr {
        Addr {
            left: len,
            buf: Vec::new(),
            too_long: len > ADDRESS_MAX as u64,
        }
    }

    /// Take bytes from `input` (at most what is left); how many.
    fn take(&mut self, input: &[u8]) -> usize {
        let n = input.len().min(self.left as usize);
        if !self.too_long {
            self.buf.extend_from_slice(&input[..n]);
        }
        self.left -= n as u64;
        n
    }

    fn field(self) -> Field {
        if self.too_long {
            Field::TooLong
        } else if self.buf.contains(&0) {
            Field::Nul
        } else {
            Field::Ok(self.buf)
        }
    }
}

#[derive(Debug, Clone)]
enum Qmtp {
    MsgLen(LenParser),
    MsgFirst(u64),
    /// Bytes left, CRLF mode, a CR waiting to see whether LF follows.
    MsgBody(u64, bool, bool),
    MsgComma,
    SenderLen(LenParser),
    Sender(Addr),
    SenderComma(Field),
    ListLen(LenParser),
    /// Bytes left in the list (the length's own bytes count).
    RcptLen(LenParser, u64),
    Rcpt(Addr, u64),
    RcptComma(Field, u64),
    ListComma,
}

/// qmail-qmtpd's reader.
#[derive(Debug, Clone)]
pub struct QmtpReader {
    state: Qmtp,
    limits: Limits,
    recipients: usize,
}

impl QmtpReader {
    pub fn new(limits: Limits) -> QmtpReader {
        QmtpReader {
            state: Qmtp::MsgLen(LenParser::new(limits.max_message)),
            limits,
            recipients: 0,
        }
    }

    /// Between messages: the client may close here without losing
    /// anything.
    pub fn idle(&self) -> bool {
        matches!(self.state, Qmtp::MsgLen(p) if p == LenParser::new(self.limits.max_message))
    }

    /// Take `input` (all of it), reporting events through `f`.
    pub fn feed(&mut self, mut input: &[u8], f: &mut dyn FnMut(Event<'_>)) -> Result<(), Error> {
        let max = self.limits.max_message;
        while let Some(&b) = input.first() {
            let mut used = 1;
            self.state = match std::mem::replace(&mut self.state, Qmtp::MsgComma) {
                Qmtp::MsgLen(mut p) => match p.byte(b)? {
                    None => Qmtp::MsgLen(p),
                    Some(0) => return Err(Error::BadProto),
                    Some(len) => {
                        f(Event::Start);
                        Qmtp::MsgFirst(len)
                    }
                },
                Qmtp::MsgFirst(len) => match b {
                    b'\n' => Qmtp::MsgBody(len - 1, false, false),
                    b'\r' => Qmtp::MsgBody(len - 1, true, false),
                    _ => return Err(Error::BadProto),
                },
                Qmtp::MsgBody(0, _, cr) => {
                    if cr {
                        f(Event::Body(b"\r"));
                    }
                    used = 0;
                    Qmtp::MsgComma
                }
                Qmtp::MsgBody(left, false, _) => {
                    let n = input.len().min(left as usize);
                    f(Event::Body(&input[..n]));
                    used = n;
                    Qmtp::MsgBody(left - n as u64, false, false)
                }
                Qmtp::MsgBody(left, true, cr) => {
                    if cr {
                        // The CR before this byte: dropped before LF.
                        used = 1;
                        if b != b'\n' {
                            f(Event::Body(b"\r"));
                            if b == b'\r' {
                                Qmtp::MsgBody(left - 1, true, true)
                            } else {
                                f(Event::Body(&input[..1]));
                                Qmtp::MsgBody(left - 1, true, false)
                            }
                        } else {
                            f(Event::Body(b"\n"));
                            Qmtp::MsgBody(left - 1, true, false)
                        }
                    } else {
                        let n = input.len().min(left as usize);
                        let run = input[..n].iter().position(|&c| c == b'\r').unwrap_or(n);
                        if run > 0 {
                            f(Event::Body(&input[..run]));
                            used = run;
                            Qmtp::MsgBody(left - run as u64, true, false)
                        } else {
                            used = 1;
                            Qmtp::MsgBody(left - 1, true, true)
                        }
                    }
                }
                Qmtp::MsgComma => {
                    if b != b',' {
                        return Err(Error::BadProto);
                    }
                    Qmtp::SenderLen(LenParser::new(max))
                }
                Qmtp::SenderLen(mut p) => match p.byte(b)? {
                    None => Qmtp::SenderLen(p),
                    Some(len) => {
                        used = 1;
                        Qmtp::Sender(Addr::new(len))
                    }
                },
                Qmtp::Sender(mut a) => {
                    if a.left == 0 {
                        used = 0;
                        Qmtp::SenderComma(a.field())
                    } else {
                        used = a.take(input);
                        Qmtp::Sender(a)
                    }
                }
                Qmtp::SenderComma(field) => {
                    if b != b',' {
                        return Err(Error::BadProto);
                    }
                    f(Event::Sender(field));
                    Qmtp::ListLen(LenParser::new(max))
                }
                Qmtp::ListLen(mut p) => match p.byte(b)? {
                    None => Qmtp::ListLen(p),
                    Some(0) => Qmtp::ListComma,
                    Some(big) => Qmtp::RcptLen(LenParser::new(max), big),
                },
                Qmtp::RcptLen(mut p, big) => {
                    let big = big - 1;
                    match p.byte(b)? {
                        None if big == 0 => return Err(Error::BadProto),
                        None => Qmtp::RcptLen(p, big),
                        Some(len) if len >= big => return Err(Error::BadProto),
                        Some(len) => {
                            self.recipients += 1;
                            if self.recipients > self.limits.max_recipients {
                                return Err(Error::TooBig);
                            }
                            Qmtp::Rcpt(Addr::new(len), big - len - 1)
                        }
                    }
                }
                Qmtp::Rcpt(mut a, big) => {
                    if a.left == 0 {
                        used = 0;
                        Qmtp::RcptComma(a.field(), big)
                    } else {
                        used = a.take(input);
                        Qmtp::Rcpt(a, big)
                    }
                }
                Qmtp::RcptComma(field, big) => {
                    if b != b',' {
                        return Err(Error::BadProto);
                    }
                    f(Event::Recipient(field));
                    if big == 0 {
                        Qmtp::ListComma
                    } else {
                        Qmtp::RcptLen(LenParser::new(max), big)
                    }
                }
                Qmtp::ListComma => {
                    if b != b',' {
                        return Err(Error::BadProto);
                    }
                    f(Event::End);
                    self.recipients = 0;
                    Qmtp::MsgLen(LenParser::new(max))
                }
            };
            input = &input[used..];
        }
        // A body, sender or recipient whose last byte has arrived is
        // complete without waiting for the next byte.
        match std::mem::replace(&mut self.state, Qmtp::MsgComma) {
            Qmtp::Sender(a) if a.left == 0 => self.state = Qmtp::SenderComma(a.field()),
            Qmtp::Rcpt(a, big) if a.left == 0 => self.state = Qmtp::RcptComma(a.field(), big),
            Qmtp::MsgBody(0, _, cr) => {
                if cr {
                    f(Event::Body(b"\r"));
                }
                self.state = Qmtp::MsgComma;
            }
            s => self.state = s,
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
enum Qmqp {
    Outer(LenParser),
    MsgLen(LenParser),
    MsgBody(u64),
    MsgComma,
    ItemLen(LenParser),
    Item(Addr),
    ItemComma(Field),
    OuterComma,
    Done,
}

/// qmail-qmqpd's reader.
#[derive(Debug, Clone)]
pub struct QmqpReader {
    state: Qmqp,
    limits: Limits,
    /// Bytes of the outer netstring not yet read.
    left: u64,
    /// The next item is the sender.
    sender: bool,
    recipients: usize,
}

impl QmqpReader {
    pub fn new(limits: Limits) -> QmqpReader {
        QmqpReader {
            state: Qmqp::Outer(LenParser::new(limits.max_message)),
            limits,
            left: 0,
            sender: true,
            recipients: 0,
        }
    }

    /// The request is complete (the answer has been asked for).
    pub fn done(&self) -> bool {
        matches!(self.state, Qmqp::Done)
    }

    /// Count one byte against the outer netstring.
    fn spend(&mut self, n: u64) -> Result<(), Error> {
        self.left = self.left.checked_sub(n).ok_or(Error::BadProto)?;
        Ok(())
    }

    /// Take `input` (all of it; bytes after the request are ignored).
    pub fn feed(&mut self, mut input: &[u8], f: &mut dyn FnMut(Event<'_>)) -> Result<(), Error> {
        let max = self.limits.max_message;
        while let Some(&b) = input.first() {
            let mut used = 1;
            let inner = !matches!(self.state, Qmqp::Outer(_) | Qmqp::OuterComma | Qmqp::Done);
            let state = std::mem::replace(&mut self.state, Qmqp::Done);
            // Items that are complete need no byte of their own.
            let zero = matches!(&state, Qmqp::MsgBody(0))
                || matches!(&state, Qmqp::Item(a) if a.left == 0);
            if inner && !zero {
                self.spend(1)?;
            }
            self.state = match state {
                Qmqp::Done => {
                    used = input.len();
                    Qmqp::Done
                }
                Qmqp::Outer(mut p) => match p.byte(b)? {
                    None => Qmqp::Outer(p),
                    Some(len) => {
                        self.left = len;
                        Qmqp::MsgLen(LenParser::new(max))
                    }
                },
                Qmqp::MsgLen(mut p) => match p.byte(b)? {
                    None => Qmqp::MsgLen(p),
                    Some(len) => {
                        f(Event::Start);
                        Qmqp::MsgBody(len)
                    }
                },
                Qmqp::MsgBody(0) => {
                    used = 0;
                    Qmqp::MsgComma
                }
                Qmqp::MsgBody(left) => {
                    let n = input.len().min(left as usize);
                    // One byte was spent above.
                    self.spend(n as u64 - 1)?;
                    f(Event::Body(&input[..n]));
                    used = n;
                    Qmqp::MsgBody(left - n as u64)
                }
                Qmqp::MsgComma => {
                    if b != b',' {
                        return Err(Error::BadProto);
                    }
                    Qmqp::ItemLen(LenParser::new(max))
                }
                Qmqp::ItemLen(mut p) => match p.byte(b)? {
                    None => Qmqp::ItemLen(p),
                    Some(len) => {
                        if !self.sender {
                            self.recipients += 1;
                            if self.recipients > self.limits.max_recipients {
                                return Err(Error::TooBig);
                            }
                        }
                        Qmqp::Item(Addr::new(len))
                    }
                },
                Qmqp::Item(mut a) => {
                    if a.left == 0 {
                        used = 0;
                        Qmqp::ItemComma(a.field())
                    } else {
                        let n = a.take(input);
                        self.spend(n as u64 - 1)?;
                        used = n;
                        Qmqp::Item(a)
                    }
                }
                Qmqp::ItemComma(field) => {
                    if b != b',' {
                        return Err(Error::BadProto);
                    }
                    if std::mem::replace(&mut self.sender, false) {
                        f(Event::Sender(field));
                    } else {
                        f(Event::Recipient(field));
                    }
                    if self.left == 0 {
                        Qmqp::OuterComma
                    } else {
                        Qmqp::ItemLen(LenParser::new(max))
                    }
                }
                Qmqp::OuterComma => {
                    if b != b',' {
                        return Err(Error::BadProto);
                    }
                    if self.sender {
                        // No sender at all: 1.03 reads past the end and
                        // gives up (exit 100).
                        return Err(Error::BadProto);
                    }
                    f(Event::End);
                    Qmqp::Done
                }
            };
            input = &input[used..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netstring::encode;

    /// Events as owned values, with body bytes joined.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Seen {
        log: Vec<String>,
        body: Vec<u8>,
    }

    fn record(seen: &mut Seen, e: Event<'_>) {
        match e {
            Event::Body(b) => seen.body.extend_from_slice(b),
            other => {
                if !seen.body.is_empty() {
                    seen.log
                        .push(format!("body {:?}", String::from_utf8_lossy(&seen.body)));
                    seen.body.clear();
                }
                seen.log.push(format!("{other:?}"));
            }
        }
    }

    fn qmtp_in_pieces(input: &[u8], split: &[usize]) -> Result<Seen, Error> {
        let mut r = QmtpReader::new(Limits::default());
        let mut seen = Seen::default();
        let mut last = 0;
        for &at in split.iter().chain(std::iter::once(&input.len())) {
            r.feed(&input[last..at], &mut |e| record(&mut seen, e))?;
            last = at;
        }
        Ok(seen)
    }

    fn qmqp_in_pieces(input: &[u8], split: &[usize]) -> Result<Seen, Error> {
        let mut r = QmqpReader::new(Limits::default());
        let mut seen = Seen::default();
        let mut last = 0;
        for &at in split.iter().chain(std::iter::once(&input.len())) {
            r.feed(&input[last..at], &mut |e| record(&mut seen, e))?;
            last = at;
        }
        Ok(seen)
    }

    fn qmtp_message(body: &[u8], sender: &[u8], rcpts: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for r in rcpts {
            list.extend(encode(r));
        }
        let mut out = encode(body);
        out.extend(encode(sender));
        out.extend(encode(&list));
        out
    }

    #[test]
    fn qmtp_split_at_every_byte_and_every_pair() {
        let mut input = qmtp_message(
            b"\rSubject: x\r\n\r\nline\r\nbare\rcr\r",
            b"a@b",
            &[b"c@d", b"", b"e@f"],
        );
        input.extend(qmtp_message(b"\nSubject: 2\n\nunix\r\n", b"", &[b"g@h"]));
        let whole = qmtp_in_pieces(&input, &[]).unwrap();
        assert_eq!(
            whole.log,
            [
                "Start",
                "body \"Subject: x\\n\\nline\\nbare\\rcr\\r\"",
                "Sender(Ok([97, 64, 98]))",
                "Recipient(Ok([99, 64, 100]))",
                "Recipient(Ok([]))",
                "Recipient(Ok([101, 64, 102]))",
                "End",
                "Start",
                "body \"Subject: 2\\n\\nunix\\r\\n\"",
                "Sender(Ok([]))",
                "Recipient(Ok([103, 64, 104]))",
                "End",
            ]
        );
        for i in 0..=input.len() {
            assert_eq!(qmtp_in_pieces(&input, &[i]).unwrap(), whole, "split at {i}");
        }
        for i in 0..=input.len() {
            for j in i..=input.len() {
                assert_eq!(
                    qmtp_in_pieces(&input, &[i, j]).unwrap(),
                    whole,
                    "split at {i},{j}"
                );
            }
        }
        let bytes: Vec<usize> = (0..=input.len()).collect();
        assert_eq!(
            qmtp_in_pieces(&input, &bytes).unwrap(),
            whole,
            "byte by byte"
        );
    }

    #[test]
    fn qmtp_refuses_what_is_not_qmtp() {
        let bad = |input: &[u8]| qmtp_in_pieces(input, &[]).unwrap_err();
        assert_eq!(bad(b"0:,"), Error::BadProto);
        assert_eq!(bad(b"3:xab,"), Error::BadProto);
        assert_eq!(bad(b"2:\nab"), Error::BadProto);
        assert_eq!(bad(b"999999999999:"), Error::TooBig);
        // A recipient longer than its list.
        assert_eq!(bad(b"2:\na,0:,4:9:ab,,"), Error::BadProto);
        // Long addresses are skipped, not kept.
        let long = vec![b'x'; 5000];
        let seen = qmtp_in_pieces(&qmtp_message(b"\nx", &long, &[&long, b"ok"]), &[]).unwrap();
        assert_eq!(
            seen.log[2..],
            [
                "Sender(TooLong)",
                "Recipient(TooLong)",
                "Recipient(Ok([111, 107]))",
                "End"
            ]
        );
        let seen = qmtp_in_pieces(&qmtp_message(b"\nx", b"a\0b", &[b"c\0"]), &[]).unwrap();
        assert_eq!(seen.log[2..], ["Sender(Nul)", "Recipient(Nul)", "End"]);
    }

    #[test]
    fn qmqp_split_at_every_byte() {
        let mut inner = encode(b"Subject: q\n\nbody\n");
        inner.extend(encode(b"a@b"));
        inner.extend(encode(b"c@d"));
        inner.extend(encode(b"e@f"));
        let input = encode(&inner);
        let whole = qmqp_in_pieces(&input, &[]).unwrap();
        assert_eq!(
            whole.log,
            [
                "Start",
                "body \"Subject: q\\n\\nbody\\n\"",
                "Sender(Ok([97, 64, 98]))",
                "Recipient(Ok([99, 64, 100]))",
                "Recipient(Ok([101, 64, 102]))",
                "End",
            ]
        );
        for i in 0..=input.len() {
            for j in i..=input.len() {
                assert_eq!(
                    qmqp_in_pieces(&input, &[i, j]).unwrap(),
                    whole,
                    "split at {i},{j}"
                );
            }
        }
    }

    #[test]
    fn qmqp_lengths_must_agree() {
        let mut inner = encode(b"m");
        inner.extend(encode(b"a@b"));
        // The outer length is one short or one long.
        let mut short = format!("{}:", inner.len() - 1).into_bytes();
        short.extend(&inner);
        short.push(b',');
        assert_eq!(qmqp_in_pieces(&short, &[]).unwrap_err(), Error::BadProto);
        let mut long = format!("{}:", inner.len() + 1).into_bytes();
        long.extend(&inner);
        long.extend(b",,");
        assert_eq!(qmqp_in_pieces(&long, &[]).unwrap_err(), Error::BadProto);
        assert_eq!(
            qmqp_in_pieces(b"99999999999999:", &[]).unwrap_err(),
            Error::TooBig
        );
        // No sender.
        assert_eq!(
            qmqp_in_pieces(&encode(&encode(b"m")), &[]).unwrap_err(),
            Error::BadProto
        );
    }
}
