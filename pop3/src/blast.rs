//! A message on its way to the client, as qmail-pop3d's `blast()` sends
//! it: each LF-ended line (and a last line without LF) goes out followed
//! by CRLF, a line starting with `.` gets one more `.`, nothing else is
//! touched (a CR before the LF stays: a CRLF file gives `\r\r\n`). After
//! the message come `\r\n.\r\n`: an extra empty line, then the end
//! (qmail-pop3d(8): a workaround for clients). With a limit (TOP), the
//! header (up to and including the first empty line) and then at most
//! that many lines are sent.
//!
//! Sans-IO: the file is fed in chunks of any size and the output is
//! appended to a buffer; [`Blast::feed`] says when no more input is
//! wanted.

#[derive(Debug)]
pub struct Blast {
    /// qmail's `limit`: 0 for no limit, else lines after the header + 1.
    limit: u64,
    in_headers: bool,
    /// Inside a line (some of its bytes were sent, its LF not yet).
    mid_line: bool,
    done: bool,
}

impl Blast {
    /// `body_lines`: TOP's count of lines after the header, `None` for
    /// the whole message (RETR).
    pub fn new(body_lines: Option<u64>) -> Blast {
        Blast {
            limit: body_lines.map_or(0, |k| k.saturating_add(1)),
            in_headers: true,
            mid_line: false,
            done: false,
        }
    }

    /// Add the output for `input` to `out`. Returns false once the limit
    /// is reached: the rest of the file is not needed.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> bool {
        while !input.is_empty() && !self.done {
            if !self.mid_line {
                // A line starts: qmail decides here whether to send it.
                if self.limit != 0 && !self.in_headers {
                    self.limit -= 1;
                    if self.limit == 0 {
                        self.done = true;
                        break;
                    }
                }
                if input[0] == b'\n' {
                    self.in_headers = false;
                }
                if input[0] == b'.' {
                    out.push(b'.');
                }
                self.mid_line = true;
            }
            match input.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    out.extend_from_slice(&input[..i]);
                    out.extend_from_slice(b"\r\n");
                    self.mid_line = false;
                    input = &input[i + 1..];
                }
                None => {
                    out.extend_from_slice(input);
                    input = &[];
                }
            }
        }
        !self.done
    }

    /// The end: a last line without LF gets its CRLF, then `\r\n.\r\n`.
    pub fn finish(self, out: &mut Vec<u8>) {
        if self.mid_line {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n.\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::Blast;

    fn run(file: &[u8], limit: Option<u64>, step: usize) -> Vec<u8> {
        let mut b = Blast::new(limit);
        let mut out = Vec::new();
        for chunk in file.chunks(step.max(1)) {
            if !b.feed(chunk, &mut out) {
                break;
            }
        }
        b.finish(&mut out);
        out
    }

    fn every_split(file: &[u8], limit: Option<u64>, want: &[u8]) {
        for step in 1..=file.len().max(1) {
            assert_eq!(
                String::from_utf8_lossy(&run(file, limit, step)),
                String::from_utf8_lossy(want),
                "step {step}, limit {limit:?}"
            );
        }
    }

    #[test]
    fn retr_as_qmail_sends_it() {
        // The example observed with notqmail (reference §5.5).
        every_split(
            b"Subject: hi\n\nbody\n.dot\n",
            None,
            b"Subject: hi\r\n\r\nbody\r\n..dot\r\n\r\n.\r\n",
        );
        every_split(b"", None, b"\r\n.\r\n");
        every_split(b"a\r\nb", None, b"a\r\r\nb\r\n\r\n.\r\n");
        every_split(b".\n..\n", None, b"..\r\n...\r\n\r\n.\r\n");
        every_split(b"x\0\xff\ry\n", None, b"x\0\xff\ry\r\n\r\n.\r\n");
    }

    #[test]
    fn top_counts_lines_after_the_header() {
        let file = b"A: 1\nB: 2\n\nl1\n\nl3\n.l4\n";
        every_split(file, Some(0), b"A: 1\r\nB: 2\r\n\r\n\r\n.\r\n");
        every_split(file, Some(1), b"A: 1\r\nB: 2\r\n\r\nl1\r\n\r\n.\r\n");
        every_split(file, Some(2), b"A: 1\r\nB: 2\r\n\r\nl1\r\n\r\n\r\n.\r\n");
        every_split(
            file,
            Some(4),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\n\r\nl3\r\n..l4\r\n\r\n.\r\n",
        );
        every_split(
            file,
            Some(99),
            b"A: 1\r\nB: 2\r\n\r\nl1\r\n\r\nl3\r\n..l4\r\n\r\n.\r\n",
        );
        // No empty line: all header. A CRLF file has no empty line either.
        every_split(b"a\nb\n", Some(0), b"a\r\nb\r\n\r\n.\r\n");
        every_split(b"a\r\n\r\nb\r\n", Some(0), b"a\r\r\n\r\r\nb\r\r\n\r\n.\r\n");
    }
}
