//! recordio's log lines. One packet (a read of at most [`PACKET`] bytes)
//! becomes one or more lines `PID < text`, each ending in a space (the
//! packet had a newline there), `+` (the packet ended mid-line) or being
//! `PID < [EOF]`. Lines are built whole so one write prints them.

/// recordio reads (and so records) at most this many bytes at a time.
pub const PACKET: usize = 256;

/// `dir` is `b'<'` (input to the program) or `b'>'` (its output).
pub fn packet(pid: &[u8], dir: u8, mut buf: &[u8], out: &mut Vec<u8>) {
    while !buf.is_empty() {
        out.extend_from_slice(pid);
        out.extend_from_slice(&[b' ', dir, b' ']);
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                out.extend_from_slice(&buf[..i]);
                out.extend_from_slice(b" \n");
                buf = &buf[i + 1..];
            }
            None => {
                out.extend_from_slice(buf);
                out.extend_from_slice(b"+\n");
                break;
            }
        }
    }
}

/// The end-of-file line.
pub fn eof(pid: &[u8], dir: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(pid);
    out.extend_from_slice(&[b' ', dir, b' ']);
    out.extend_from_slice(b"[EOF]\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let mut out = Vec::new();
        packet(b"42", b'>', b"a\nb\n\nc", &mut out);
        eof(b"42", b'<', &mut out);
        assert_eq!(out, b"42 > a \n42 > b \n42 >  \n42 > c+\n42 < [EOF]\n");
    }
}
