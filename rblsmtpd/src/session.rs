//! The SMTP dialogue with a blocked client, sans-IO: bytes in, replies
//! out. As 0.88 (djb's `commands`): a line ends at LF, a CR before it is
//! dropped, the verb is everything before the first space, matched
//! without case; QUIT gets 221 and ends, HELO, EHLO, MAIL, RSET and NOOP
//! get 250, anything else the blocking message. Only the start of a line
//! is kept (0.88 keeps it all), so a client cannot make us grow.

/// Bytes of a line kept to find its verb: more than the longest verb
/// plus a space and a CR.
const KEEP: usize = 16;

pub const GREETING: &[u8] = b"220 rblsmtpd.local\r\n";
const OK: &[u8] = b"250 rblsmtpd.local\r\n";
const BYE: &[u8] = b"221 rblsmtpd.local\r\n";

#[derive(Debug)]
pub struct Session {
    /// The blocking reply, `451 text\r\n` or `553 text\r\n`.
    reject: Vec<u8>,
    line: Vec<u8>,
    /// The line was longer than [`KEEP`].
    long: bool,
}

impl Session {
    pub fn new(reject: Vec<u8>) -> Session {
        Session {
            reject,
            line: Vec::with_capacity(KEEP),
            long: false,
        }
    }

    /// Feed client bytes; replies are appended to `out`. True once the
    /// client has quit (what follows QUIT is never read).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if b != b'\n' {
                if self.line.len() < KEEP {
                    self.line.push(b);
                } else {
                    self.long = true;
                }
                continue;
            }
            let mut line = &self.line[..];
            if !self.long && line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let verb = match line.iter().position(|&c| c == b' ') {
                Some(i) => &line[..i],
                None if self.long => b"-",
                None => line,
            };
            let quit = verb.eq_ignore_ascii_case(b"quit");
            let ok = [&b"helo"[..], b"ehlo", b"mail", b"rset", b"noop"]
                .iter()
                .any(|v| verb.eq_ignore_ascii_case(v));
            self.line.clear();
            self.long = false;
            if quit {
                out.extend_from_slice(BYE);
                return true;
            }
            out.extend_from_slice(if ok { OK } else { &self.reject });
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialogue_at_every_split() {
        let input = b"helo x\r\nMAIL FROM:<a>\r\nrcpt to:<b>\r\ndata\nNoOp\r\nrsetx\r\nEHLO\r\nhelo-this-is-long-and-spaceless\r\nQUIT\r\nhelo\r\n";
        let want = b"250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n451 no\r\n451 no\r\n250 rblsmtpd.local\r\n451 no\r\n250 rblsmtpd.local\r\n451 no\r\n221 rblsmtpd.local\r\n";
        for cut in 0..=input.len() {
            let mut s = Session::new(b"451 no\r\n".to_vec());
            let mut out = Vec::new();
            let (a, b) = input.split_at(cut);
            let quit = s.feed(a, &mut out) || s.feed(b, &mut out);
            assert!(quit);
            assert_eq!(out, want, "cut at {cut}");
        }
    }
}
