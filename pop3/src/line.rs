//! The command reader of qmail's `commands.c`, which both programs use.
//!
//! A line ends at LF; one CR right before it is dropped (so `STAT\r\r\n`
//! is the verb `STAT\r`). A NUL ends the line's text there, as C strings
//! do. The verb is everything before the first space (a tab is part of
//! the verb); the argument follows after any number of spaces, trailing
//! spaces kept. qmail has no length limit; we keep at most [`MAX_LINE`]
//! bytes of a line and drop the rest, so one connection's memory stays
//! bounded (RFC 2449 asks for 255; clients send far less).

/// The longest line kept; bytes past it are read and dropped.
pub const MAX_LINE: usize = 64 * 1024;

/// Gathers bytes into lines.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Bytes of the current line dropped past `MAX_LINE`.
    overflow: bool,
}

impl LineReader {
    pub fn new() -> LineReader {
        LineReader::default()
    }

    /// Take bytes until a line is complete; returns the line (without its
    /// LF and that one CR, cut at a NUL) and how many bytes of `input`
    /// were used. `None` when `input` ran out first (all of it is used).
    pub fn push(&mut self, input: &[u8]) -> (Option<Vec<u8>>, usize) {
        match input.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.keep(&input[..i]);
                let mut line = std::mem::take(&mut self.buf);
                self.overflow = false;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if let Some(nul) = line.iter().position(|&b| b == 0) {
                    line.truncate(nul);
                }
                (Some(line), i + 1)
            }
            None => {
                self.keep(input);
                (None, input.len())
            }
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = MAX_LINE - self.buf.len();
        if bytes.len() > room {
            self.overflow = true;
        }
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Whether part of a line is waiting for its LF.
    pub fn is_partial(&self) -> bool {
        !self.buf.is_empty() || self.overflow
    }
}

/// A line split as `commands.c` splits it: the verb in lower case (for
/// the case-insensitive table) and the argument.
pub fn split(line: &[u8]) -> (Vec<u8>, &[u8]) {
    let (verb, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, &line[line.len()..]),
    };
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    (verb.to_ascii_lowercase(), &rest[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(input: &[u8], step: usize) -> Vec<Vec<u8>> {
        let mut r = LineReader::new();
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let (line, used) = r.push(rest);
                rest = &rest[used..];
                out.extend(line);
            }
        }
        out
    }

    #[test]
    fn lines_split_at_every_byte() {
        let input = b"STAT\r\nLIST 1\nA\r\r\nx\0y\r\n\r\n";
        let want: Vec<Vec<u8>> = vec![
            b"STAT".to_vec(),
            b"LIST 1".to_vec(),
            b"A\r".to_vec(),
            b"x".to_vec(),
            b"".to_vec(),
        ];
        for step in 1..=input.len() {
            assert_eq!(lines_of(input, step), want, "step {step}");
        }
    }

    #[test]
    fn long_lines_are_cut_not_kept() {
        let mut input = vec![b'a'; MAX_LINE + 10];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        let lines = lines_of(&input, 4096);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1], b"NOOP");
    }

    #[test]
    fn verbs_and_arguments() {
        assert_eq!(split(b"UsEr a b "), (b"user".to_vec(), &b"a b "[..]));
        assert_eq!(split(b"LIST    7"), (b"list".to_vec(), &b"7"[..]));
        assert_eq!(split(b"STAT"), (b"stat".to_vec(), &b""[..]));
        assert_eq!(split(b" STAT"), (b"".to_vec(), &b"STAT"[..]));
        assert_eq!(split(b"STAT\t1"), (b"stat\t1".to_vec(), &b""[..]));
    }
}
