//! qmail-send's log (qmail-log.5): one line per event, written to fd 0 in
//! the exact shapes qmailanalog parses.
//!
//! Each line goes out in a single `write`, so a logger reading a pipe never
//! sees two lines mixed. Text that came from outside (addresses, delivery
//! reports) passes through [`safe`] first.

use std::fs::File;
use std::io::Write;

/// qmail's `logsafe`: a newline becomes `/`; `%`, control bytes, space and
/// bytes above 126 become `_`.
pub fn safe(s: &[u8]) -> Vec<u8> {
    s.iter()
        .map(|&b| match b {
            b'\n' => b'/',
            b'%' => b'_',
            33..=126 => b,
            _ => b'_',
        })
        .collect()
}

/// Builds a line from pieces; `raw` pieces are ours, `unsafe` ones are
/// sanitised.
#[derive(Debug, Default)]
pub struct Line(Vec<u8>);

impl Line {
    pub fn new(s: &str) -> Line {
        Line(s.as_bytes().to_vec())
    }
    /// Our own text, as is.
    pub fn raw(mut self, s: impl AsRef<[u8]>) -> Line {
        self.0.extend_from_slice(s.as_ref());
        self
    }
    /// Text from outside, through [`safe`].
    pub fn outside(mut self, s: &[u8]) -> Line {
        self.0.extend(safe(s));
        self
    }
    /// The finished line with its newline.
    pub fn end(mut self) -> Vec<u8> {
        self.0.push(b'\n');
        self.0
    }
}

/// Where the lines go: fd 0 in qmail-send.
#[derive(Debug)]
pub struct Log {
    out: File,
}

impl Log {
    pub fn new(out: File) -> Log {
        Log { out }
    }

    /// Write one whole line. A broken log is ignored, as in qmail (whose
    /// `substdio_putflush` result nobody checks); a full pipe blocks.
    pub fn line(&mut self, line: &[u8]) {
        let _ = self.out.write_all(line);
    }

    /// A line of our own text.
    pub fn text(&mut self, s: &str) {
        self.line(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logsafe_matches_qmail() {
        assert_eq!(
            safe(b"Remote host said: 250 ok\n"),
            b"Remote_host_said:_250_ok/"
        );
        assert_eq!(safe(b"100%\t\x7f\xe9"), b"100____");
        assert_eq!(
            Line::new("delivery 4: success: ")
                .outside(b"did 0+0+1\n")
                .end(),
            b"delivery 4: success: did_0+0+1/\n"
        );
    }
}
