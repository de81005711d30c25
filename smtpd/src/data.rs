//! The message after `354 go ahead` (qmail-smtpd's `blast`): a byte-level
//! state machine that undoes SMTP's transparency and counts hops.
//!
//! - `CR LF` is stored as `LF`. A CR not followed by LF is kept as it is.
//! - A bare LF anywhere is an error: qmail answers `451 See
//!   http://pobox.com/~djb/docs/smtplf.html.` and hangs up. (So a bare LF
//!   is never a line end, and neither is a bare CR: no SMTP smuggling.)
//! - A dot at the start of a line is removed; `.` CR LF alone on a line
//!   ends the message. A `.` CR not followed by LF keeps its dot.
//! - Until the first empty line, each line starting with `received`
//!   (8 letters, any case per letter pair as qmail compares, no colon
//!   needed) or `delivered` (9) counts one hop.
//!
//! The states are qmail's: 0 inside a line, 1 at the start of a line,
//! 2 after a leading dot, 3 after a leading dot and CR, 4 after a CR.

/// What [`DataReader::feed`] stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// All input was used; the message goes on.
    More,
    /// The final `.` CR LF ended at this many bytes into the input.
    End(usize),
    /// A bare LF at this offset: the session must be aborted.
    StrayNewline(usize),
}

/// The DATA state machine of one message.
#[derive(Debug, Clone)]
pub struct DataReader {
    state: u8,
    in_header: bool,
    /// Bytes since the last LF, counted up to 9, while in the header.
    pos: u8,
    maybe_received: bool,
    maybe_crlf: bool,
    maybe_delivered: bool,
    hops: u32,
}

impl Default for DataReader {
    fn default() -> Self {
        DataReader::new()
    }
}

impl DataReader {
    /// At the start of the message (start of a line, in the header).
    pub fn new() -> DataReader {
        DataReader {
            state: 1,
            in_header: true,
            pos: 0,
            maybe_received: true,
            maybe_crlf: true,
            maybe_delivered: true,
            hops: 0,
        }
    }

    /// Received and Delivered-To lines seen in the header.
    pub fn hops(&self) -> u32 {
        self.hops
    }

    fn header(&mut self, ch: u8) {
        let pos = usize::from(self.pos);
        if pos < 9 {
            if ch != b"delivered"[pos] && ch != b"DELIVERED"[pos] {
                self.maybe_delivered = false;
            }
            if self.maybe_delivered && pos == 8 {
                self.hops = self.hops.saturating_add(1);
            }
            if pos < 8 && ch != b"received"[pos] && ch != b"RECEIVED"[pos] {
                self.maybe_received = false;
            }
            if self.maybe_received && pos == 7 {
                self.hops = self.hops.saturating_add(1);
            }
            if pos < 2 && ch != b"\r\n"[pos] {
                self.maybe_crlf = false;
            }
            if self.maybe_crlf && pos == 1 {
                self.in_header = false;
            }
            self.pos += 1;
        }
        if ch == b'\n' {
            self.pos = 0;
            self.maybe_received = true;
            self.maybe_crlf = true;
            self.maybe_delivered = true;
        }
    }

    /// Run `input` through the machine, appending the message bytes to
    /// `out`. Stops at the end of the message or at a bare LF.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Step {
        let mut i = 0;
        while i < input.len() {
            if self.state == 0 && !self.in_header {
                // Inside a body line: copy up to the next CR or LF.
                let run = input[i..]
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .unwrap_or(input.len() - i);
                out.extend_from_slice(&input[i..i + run]);
                i += run;
                if i == input.len() {
                    break;
                }
            }
            let ch = input[i];
            i += 1;
            if self.in_header {
                self.header(ch);
            }
            match self.state {
                0 => {
                    if ch == b'\n' {
                        return Step::StrayNewline(i - 1);
                    }
                    if ch == b'\r' {
                        self.state = 4;
                        continue;
                    }
                }
                1 => {
                    if ch == b'\n' {
                        return Step::StrayNewline(i - 1);
                    }
                    if ch == b'.' {
                        self.state = 2;
                        continue;
                    }
                    if ch == b'\r' {
                        self.state = 4;
                        continue;
                    }
                    self.state = 0;
                }
                2 => {
                    if ch == b'\n' {
                        return Step::StrayNewline(i - 1);
                    }
                    if ch == b'\r' {
                        self.state = 3;
                        continue;
                    }
                    self.state = 0;
                }
                3 => {
                    if ch == b'\n' {
                        return Step::End(i);
                    }
                    out.extend_from_slice(b".\r");
                    if ch == b'\r' {
                        self.state = 4;
                        continue;
                    }
                    self.state = 0;
                }
                _ => {
                    if ch == b'\n' {
                        self.state = 1;
                    } else if ch != b'\r' {
                        out.push(b'\r');
                        self.state = 0;
                    }
                }
            }
            out.push(ch);
        }
        Step::More
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message and how it ended, feeding `input` in pieces of `n`.
    fn run(input: &[u8], n: usize) -> (Vec<u8>, Option<Result<usize, usize>>, u32) {
        let mut r = DataReader::new();
        let mut out = Vec::new();
        let mut off = 0;
        for chunk in input.chunks(n.max(1)) {
            match r.feed(chunk, &mut out) {
                Step::More => off += chunk.len(),
                Step::End(k) => return (out, Some(Ok(off + k)), r.hops()),
                Step::StrayNewline(k) => return (out, Some(Err(off + k)), r.hops()),
            }
        }
        (out, None, r.hops())
    }

    fn every_split(input: &[u8]) -> (Vec<u8>, Option<Result<usize, usize>>, u32) {
        let whole = run(input, input.len());
        for n in 1..input.len() {
            assert_eq!(run(input, n), whole, "pieces of {n}");
        }
        // Two pieces split at every byte.
        for cut in 0..=input.len() {
            let mut r = DataReader::new();
            let mut out = Vec::new();
            let a = r.feed(&input[..cut], &mut out);
            let res = match a {
                Step::More => match r.feed(&input[cut..], &mut out) {
                    Step::More => None,
                    Step::End(k) => Some(Ok(cut + k)),
                    Step::StrayNewline(k) => Some(Err(cut + k)),
                },
                Step::End(k) => Some(Ok(k)),
                Step::StrayNewline(k) => Some(Err(k)),
            };
            assert_eq!((out, res, r.hops()), whole, "cut at {cut}");
        }
        whole
    }

    #[test]
    fn crlf_becomes_lf_and_the_dot_ends() {
        let m = b"Subject: x\r\n\r\nline\r\n.\r\nMAIL FROM:<>\r\n";
        let (out, end, hops) = every_split(m);
        assert_eq!(out, b"Subject: x\n\nline\n");
        assert_eq!(end, Some(Ok(m.len() - 14)));
        assert_eq!(hops, 0);
    }

    #[test]
    fn empty_message() {
        let (out, end, _) = every_split(b".\r\n");
        assert!(out.is_empty());
        assert_eq!(end, Some(Ok(3)));
    }

    #[test]
    fn dot_stuffing() {
        let (out, end, _) = every_split(b"..\r\n...x\r\n.y\r\n.\r\n");
        assert_eq!(out, b".\n..x\ny\n");
        assert!(matches!(end, Some(Ok(_))));
        // A leading dot then CR not followed by LF keeps its dot.
        let (out, _, _) = every_split(b".\rz\r\n.\r\r\n.\r\n");
        assert_eq!(out, b".\rz\n.\r\n");
    }

    #[test]
    fn lone_crs_are_kept() {
        let (out, _, _) = every_split(b"a\rb\r\r\nc\r\r\r\n.\r\n");
        assert_eq!(out, b"a\rb\r\nc\r\r\n");
    }

    #[test]
    fn bare_lf_anywhere_is_stray() {
        for m in [&b"a\nb"[..], b"\n", b"x\r\n\n", b".\n", b"a\r\n.\n"] {
            let (_, end, _) = every_split(m);
            assert!(matches!(end, Some(Err(_))), "{m:?}");
        }
        // SMTP smuggling attempts never end the message early.
        let (out, end, _) = every_split(b"a\r\n\n.\r\n");
        assert_eq!(end, Some(Err(3)));
        assert_eq!(out, b"a\n");
        let (_, end, _) = every_split(b"a\r.\rb\r\n.\r\n");
        assert_eq!(end, Some(Ok(10)));
    }

    #[test]
    fn hops_are_counted_in_the_header_only() {
        let (_, _, hops) = every_split(
            b"Received: a\r\nreceived\r\nRECEIVEDx\r\nDelivered-To: b\r\nReceive\r\nX: y\r\n\r\nReceived: body\r\n.\r\n",
        );
        assert_eq!(hops, 4);
        let (_, _, hops) = every_split(b"ReCeIvEd: a\r\n.\r\n");
        assert_eq!(hops, 1);
    }
}
