//! SMTP replies from the server, parsed as bytes arrive (sans-IO).
//!
//! As qmail's `smtpcode()`: the code is the first three bytes of the
//! first line; a line whose fourth byte is `-` is followed by another
//! line of the same reply; every CR is dropped from the text and the
//! text keeps at most [`HUGE_TEXT`] bytes (qmail's `HUGESMTPTEXT`).
//!
//! Memory stays bounded whatever the server sends: the parser never
//! holds a whole line, only the kept text, and a reply longer than
//! [`MAX_REPLY`] bytes is an error rather than a buffer that grows.
//! Two deliberate differences from qmail, both about garbage: a reply
//! that does not start with three digits gets code 0 and is flagged
//! malformed (qmail made a number out of whatever bytes came, so a
//! garbled reply could read as success), and an endless reply ends the
//! session instead of being read forever.

/// Bytes of reply text kept for the report (qmail's `HUGESMTPTEXT`).
pub const HUGE_TEXT: usize = 5000;

/// A reply longer than this is an error: no real server sends one.
pub const MAX_REPLY: usize = 64 * 1024;

/// Leading bytes of each line kept for EHLO keyword parsing.
const HEAD_LEN: usize = 64;

/// At most this many line heads are kept (EHLO lists are short).
const MAX_HEADS: usize = 64;

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The code of the first line; 0 when it was not three digits.
    pub code: u16,
    /// The first line did not start with three digits.
    pub malformed: bool,
    /// All lines, CRs removed, LFs kept, cut at [`HUGE_TEXT`] bytes.
    pub text: Vec<u8>,
    /// The first bytes of each line after the code and separator
    /// (for EHLO keywords), without CR or LF.
    pub heads: Vec<Vec<u8>>,
}

impl Reply {
    /// The EHLO keywords: the first word of every line but the first,
    /// upper-cased.
    pub fn keywords(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.heads.iter().skip(1).map(|h| {
            let end = h.iter().position(|&b| b == b' ').unwrap_or(h.len());
            h[..end].to_ascii_uppercase()
        })
    }

    /// The server offers the EHLO keyword `word` (upper case).
    pub fn offers(&self, word: &[u8]) -> bool {
        self.keywords().any(|k| k == word)
    }
}

/// Errors the parser can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// The reply went past [`MAX_REPLY`] bytes.
    TooLong,
}

/// Incremental parser for one reply at a time.
#[derive(Debug, Default)]
pub struct ReplyParser {
    /// Position in the current line (0 = at the start).
    col: usize,
    /// The current line is a continuation (fourth byte was `-`).
    more: bool,
    /// Code digits of the first line.
    code: u16,
    digits_ok: bool,
    first_line: bool,
    total: usize,
    head: Vec<u8>,
    reply: Reply,
    started: bool,
}

impl ReplyParser {
    /// A parser waiting for the first byte of a reply.
    pub fn new() -> ReplyParser {
        ReplyParser {
            first_line: true,
            digits_ok: true,
            ..ReplyParser::default()
        }
    }

    /// Feed bytes; returns how many were used and, when a reply ended
    /// within them, the reply. Bytes after the end of a reply are left
    /// for the caller (they belong to the next reply, or must be
    /// thrown away after a STARTTLS go-ahead).
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<Result<Reply, ReplyError>>) {
        for (i, &b) in input.iter().enumerate() {
            self.started = true;
            self.total += 1;
            if self.total > MAX_REPLY {
                *self = ReplyParser::new();
                return (i + 1, Some(Err(ReplyError::TooLong)));
            }
            if b != b'\r' && self.reply.text.len() < HUGE_TEXT {
                self.reply.text.push(b);
            }
            if b == b'\n' {
                if self.reply.heads.len() < MAX_HEADS {
                    self.reply.heads.push(std::mem::take(&mut self.head));
                }
                self.head.clear();
                if self.first_line {
                    self.first_line = false;
                    self.reply.code = if self.digits_ok && self.col >= 3 {
                        self.code
                    } else {
                        self.reply.malformed = true;
                        0
                    };
                }
                let more = self.more && self.col >= 4;
                self.col = 0;
                self.more = false;
                if !more {
                    let reply = std::mem::take(&mut self.reply);
                    *self = ReplyParser::new();
                    return (i + 1, Some(Ok(reply)));
                }
                continue;
            }
            match self.col {
                0..=2 => {
                    if self.first_line {
                        if b.is_ascii_digit() {
                            self.code = self.code * 10 + u16::from(b - b'0');
                        } else {
                            self.digits_ok = false;
                        }
                    }
                }
                3 => self.more = b == b'-',
                _ => {
                    if b != b'\r' && self.head.len() < HEAD_LEN {
                        self.head.push(b);
                    }
                }
            }
            self.col += 1;
        }
        (input.len(), None)
    }

    /// Some bytes of a reply have arrived but not its end.
    pub fn in_progress(&self) -> bool {
        self.started
    }

    /// The text received so far (for a report when the connection dies
    /// in the middle of a reply).
    pub fn partial_text(&self) -> &[u8] {
        &self.reply.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Vec<Reply> {
        let mut p = ReplyParser::new();
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let (n, r) = p.feed(rest);
            rest = &rest[n..];
            if let Some(r) = r {
                out.push(r.unwrap());
            }
        }
        out
    }

    /// Feed `input` split at every byte position, in two parts, and
    /// one byte at a time: the replies must not depend on the split.
    fn every_split(input: &[u8]) -> Vec<Reply> {
        let whole = parse_all(input);
        for cut in 0..=input.len() {
            let mut p = ReplyParser::new();
            let mut got = Vec::new();
            for part in [&input[..cut], &input[cut..]] {
                let mut rest = part;
                while !rest.is_empty() {
                    let (n, r) = p.feed(rest);
                    rest = &rest[n..];
                    if let Some(r) = r {
                        got.push(r.unwrap());
                    }
                }
            }
            assert_eq!(got, whole, "split at {cut}");
        }
        let mut p = ReplyParser::new();
        let mut got = Vec::new();
        for b in input {
            let (n, r) = p.feed(std::slice::from_ref(b));
            assert_eq!(n, 1);
            if let Some(r) = r {
                got.push(r.unwrap());
            }
        }
        assert_eq!(got, whole, "byte by byte");
        whole
    }

    #[test]
    fn single_and_multi_line_replies() {
        let r = every_split(b"220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].code, 220);
        assert_eq!(r[0].text, b"220 mx.example ESMTP\n");
        assert_eq!(r[1].code, 250);
        assert_eq!(
            r[1].text,
            b"250-mx.example\n250-PIPELINING\n250-STARTTLS\n250 8BITMIME\n"
        );
        assert!(r[1].offers(b"PIPELINING"));
        assert!(r[1].offers(b"STARTTLS"));
        assert!(r[1].offers(b"8BITMIME"));
        assert!(
            !r[1].offers(b"MX.EXAMPLE"),
            "the first line is the greeting"
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_take_the_first_word() {
        let r = every_split(b"250-hi\r\n250-size 1000\r\n250 starttls\r\n");
        assert_eq!(
            r[0].keywords().collect::<Vec<_>>(),
            vec![b"SIZE".to_vec(), b"STARTTLS".to_vec()]
        );
    }

    #[test]
    fn bare_lf_ends_lines_and_every_cr_is_dropped() {
        let r = every_split(b"550 no\rsuch user\n");
        assert_eq!(r[0].code, 550);
        assert_eq!(r[0].text, b"550 nosuch user\n");
    }

    #[test]
    fn the_code_comes_from_the_first_line() {
        let r = every_split(b"451-first\r\n250 second\r\n");
        assert_eq!(r[0].code, 451);
    }

    #[test]
    fn short_and_garbled_lines() {
        let r = every_split(b"25\r\n");
        assert_eq!((r[0].code, r[0].malformed), (0, true));
        let r = every_split(b"abc hello\r\n");
        assert_eq!((r[0].code, r[0].malformed), (0, true));
        // A code alone on its line is fine.
        let r = every_split(b"250\r\n");
        assert_eq!((r[0].code, r[0].malformed), (250, false));
        // "250-" then the line ends: a continuation follows.
        let r = every_split(b"250-\r\n250 ok\r\n");
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn bytes_after_a_reply_are_left_alone() {
        let mut p = ReplyParser::new();
        let (n, r) = p.feed(b"220 go ahead\r\n\x16\x03\x01");
        assert_eq!(n, 14);
        assert_eq!(r.unwrap().unwrap().code, 220);
    }

    #[test]
    fn text_is_capped_and_endless_replies_are_refused() {
        let mut input = Vec::new();
        for _ in 0..200 {
            input.extend_from_slice(b"250-");
            input.extend_from_slice(&[b'x'; 60]);
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"250 end\r\n");
        let r = parse_all(&input);
        assert_eq!(r[0].text.len(), HUGE_TEXT);
        assert!(r[0].heads.len() <= MAX_HEADS);

        let mut p = ReplyParser::new();
        let line = [b'y'; 1000];
        let mut fed = 0;
        let mut result = None;
        p.feed(b"250-");
        while fed < 10 * MAX_REPLY {
            let (n, r) = p.feed(&line);
            fed += n;
            if r.is_some() {
                result = r;
                break;
            }
        }
        assert_eq!(result, Some(Err(ReplyError::TooLong)));
        assert!(fed <= MAX_REPLY);
    }

    #[test]
    fn nul_bytes_are_kept_for_the_report_to_replace() {
        let r = every_split(b"250 a\0b\r\n");
        assert_eq!(r[0].text, b"250 a\0b\n");
    }
}
