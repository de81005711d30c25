//! `splogger`: log lines from stdin to syslog, as qmail's splogger does
//! for `qmail-start ... splogger qmail`. Each line gets a
//! `seconds.microseconds` stamp; lines starting `warning:` or `alert:`
//! get those priorities, others `info`; bytes outside 32..126 become `?`;
//! a line longer than 799 bytes goes out in pieces, the later ones
//! marked `stamp+`. The splitting is [`Lines`], without I/O; the datagrams
//! go to `/dev/log` in the BSD format without a timestamp (the syslog
//! daemon adds its own).

use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// syslog priorities splogger uses.
pub const LOG_ALERT: u32 = 1;
pub const LOG_WARNING: u32 = 4;
pub const LOG_INFO: u32 = 6;
/// The mail facility (2 << 3), splogger's default.
pub const LOG_MAIL: u32 = 2 << 3;

/// splogger's buffer: a piece holds at most 799 bytes.
const PIECE: usize = 799;

/// One message for syslog: priority and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub priority: u32,
    pub text: Vec<u8>,
}

/// Input bytes to messages.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// Priority and stamp of the line being continued.
    cont: Option<(u32, String)>,
}

impl Lines {
    pub fn new() -> Lines {
        Lines::default()
    }

    /// Feed `bytes`; `stamp` gives the time of a new line. Complete pieces
    /// are returned.
    pub fn feed(&mut self, bytes: &[u8], stamp: &mut dyn FnMut() -> String) -> Vec<Message> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                out.extend(self.flush(stamp));
                self.cont = None;
                continue;
            }
            if self.buf.len() == PIECE {
                out.extend(self.flush(stamp));
            }
            self.buf
                .push(if (32..=126).contains(&b) { b } else { b'?' });
        }
        out
    }

    /// The piece in the buffer, if any (at end of input: the original
    /// drops an unfinished last line; we log it).
    pub fn flush(&mut self, stamp: &mut dyn FnMut() -> String) -> Option<Message> {
        if self.buf.is_empty() {
            return None;
        }
        let buf = std::mem::take(&mut self.buf);
        let msg = match &self.cont {
            Some((priority, st)) => {
                let mut text = format!("{st}+").into_bytes();
                text.extend_from_slice(&buf);
                Message {
                    priority: *priority,
                    text,
                }
            }
            None => {
                let st = stamp();
                let priority = if buf.starts_with(b"warning:") {
                    LOG_WARNING
                } else if buf.starts_with(b"alert:") {
                    LOG_ALERT
                } else {
                    LOG_INFO
                };
                let mut text = format!("{st} ").into_bytes();
                text.extend_from_slice(&buf);
                self.cont = Some((priority, st));
                Message { priority, text }
            }
        };
        Some(msg)
    }
}

/// The stamp of now: `seconds.microseconds`.
pub fn stamp_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:06}", now.as_secs(), now.subsec_micros())
}

/// The datagram for `msg`: `<PRI>tag: text`.
pub fn datagram(facility: u32, tag: &[u8], msg: &Message) -> Vec<u8> {
    let mut out = format!("<{}>", facility | msg.priority).into_bytes();
    out.extend_from_slice(tag);
    out.extend_from_slice(b": ");
    out.extend_from_slice(&msg.text);
    out
}

/// A connection to the system log that reconnects when the daemon
/// restarts. Like syslog(3), it drops messages it cannot deliver.
pub struct Syslog {
    sock: Option<UnixDatagram>,
    path: &'static str,
}

impl Syslog {
    pub fn new() -> Syslog {
        Syslog {
            sock: None,
            path: "/dev/log",
        }
    }

    /// Send one datagram (one retry on a fresh connection).
    pub fn send(&mut self, datagram: &[u8]) {
        for _ in 0..2 {
            if self.sock.is_none() {
                self.sock = UnixDatagram::unbound()
                    .and_then(|s| s.connect(Path::new(self.path)).map(|()| s))
                    .ok();
            }
            match &self.sock {
                Some(s) if s.send(datagram).is_ok() => return,
                _ => self.sock = None,
            }
        }
    }
}

impl Default for Syslog {
    fn default() -> Syslog {
        Syslog::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> Vec<Message> {
        let mut n = 0;
        let mut stamp = || {
            n += 1;
            format!("{n}.000000")
        };
        let mut lines = Lines::new();
        let mut out = lines.feed(input, &mut stamp);
        out.extend(lines.flush(&mut stamp));
        out
    }

    #[test]
    fn priorities_stamps_and_cleaning() {
        let out = run(b"status: local 0/10\nwarning: trouble\x01\nalert: oh no\n\npartial");
        let texts: Vec<(u32, String)> = out
            .iter()
            .map(|m| (m.priority, String::from_utf8(m.text.clone()).unwrap()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (LOG_INFO, "1.000000 status: local 0/10".into()),
                (LOG_WARNING, "2.000000 warning: trouble?".into()),
                (LOG_ALERT, "3.000000 alert: oh no".into()),
                (LOG_INFO, "4.000000 partial".into()),
            ]
        );
    }

    #[test]
    fn long_lines_are_continued_with_the_same_stamp() {
        let mut line = b"warning: ".to_vec();
        line.extend(std::iter::repeat_n(b'x', 1000));
        line.push(b'\n');
        let out = run(&line);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].text.len(), "1.000000 ".len() + 799);
        assert!(out[1].text.starts_with(b"1.000000+xxx"));
        assert_eq!(out[1].priority, LOG_WARNING);
        // Splitting the input anywhere changes nothing.
        for cut in 0..line.len() {
            let mut n = 0;
            let mut stamp = || {
                n += 1;
                format!("{n}.000000")
            };
            let mut l = Lines::new();
            let mut got = l.feed(&line[..cut], &mut stamp);
            got.extend(l.feed(&line[cut..], &mut stamp));
            assert_eq!(got, out, "cut at {cut}");
        }
    }

    #[test]
    fn datagrams_are_bsd_style() {
        let m = Message {
            priority: LOG_WARNING,
            text: b"1.5 warning: x".to_vec(),
        };
        assert_eq!(
            datagram(LOG_MAIL, b"qmail", &m),
            b"<20>qmail: 1.5 warning: x"
        );
    }
}
