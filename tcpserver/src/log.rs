//! tcpserver's log lines on stderr, in 0.88's exact shapes:
//!
//! ```text
//! tcpserver: status: N/LIMIT
//! tcpserver: pid PID from REMOTEIP
//! tcpserver: ok PID LOCALHOST:LOCALIP:LOCALPORT REMOTEHOST:REMOTEIP:REMOTEINFO:REMOTEPORT
//! tcpserver: deny PID ...same fields...
//! tcpserver: end PID status WSTAT
//! tcpserver: warning: dropping connection, unable to ...: ERR
//! tcpserver: fatal: unable to ...: ERR
//! ```
//!
//! Each line goes out in one write, like djb's `buffer_putflush`. The
//! `pid` and `ok`/`deny` lines are written by the child itself (see
//! `sys::spawn`), so they keep their order against the child's own
//! `unable to run` warning.

use std::io::Write;

use crate::options::Verbosity;

/// Append `s` as djb's `safecats` does: bytes outside 33..=126, `%` and
/// `:` become `?`; a field of 100 bytes or more is cut to 100 and gets
/// `...`. `keep_colons` is for IPv6 addresses, which are ours, not the
/// network's, and are logged as ucspi-tcp6 logs them.
pub fn safecats(out: &mut Vec<u8>, s: &[u8], keep_colons: bool) {
    for (i, &ch) in s.iter().enumerate() {
        if i == 100 {
            break;
        }
        let ok = (33..=126).contains(&ch) && ch != b'%' && (ch != b':' || keep_colons);
        out.push(if ok { ch } else { b'?' });
    }
    if s.len() >= 100 {
        out.extend_from_slice(b"...");
    }
}

/// Where lines go and which are printed.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    pub verbosity: Verbosity,
}

impl Log {
    pub fn verbose(&self) -> bool {
        self.verbosity >= Verbosity::Verbose
    }

    pub fn warnings(&self) -> bool {
        self.verbosity >= Verbosity::Errors
    }

    /// Write one whole line (best effort: a full or closed stderr loses
    /// the line, never the server).
    pub fn raw(&self, line: &[u8]) {
        if self.verbosity > Verbosity::Quiet {
            let _ = std::io::stderr().write_all(line);
        }
    }

    pub fn status(&self, n: u64, limit: u64) {
        if self.verbose() {
            self.raw(format!("tcpserver: status: {n}/{limit}\n").as_bytes());
        }
    }

    pub fn end(&self, pid: i32, wstat: i32) {
        if self.verbose() {
            self.raw(format!("tcpserver: end {pid} status {wstat}\n").as_bytes());
        }
    }

    /// `tcpserver: warning: dropping connection, WHAT` (printed unless -q).
    pub fn drop_warning(&self, what: &[u8]) {
        if self.warnings() {
            self.raw(&drop_line(what));
        }
    }

    /// Any other warning line.
    pub fn warning(&self, what: &str) {
        if self.warnings() {
            self.raw(format!("tcpserver: warning: {what}\n").as_bytes());
        }
    }

    /// `tcpserver: fatal: WHAT`, then exit 111.
    pub fn fatal(&self, what: &str) -> ! {
        self.raw(format!("tcpserver: fatal: {what}\n").as_bytes());
        std::process::exit(111)
    }
}

/// The bytes of a `dropping connection` warning.
pub fn drop_line(what: &[u8]) -> Vec<u8> {
    let mut l = b"tcpserver: warning: dropping connection, ".to_vec();
    l.extend_from_slice(what);
    l.push(b'\n');
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        safecats(&mut v, s, false);
        v
    }

    #[test]
    fn safecats_filters_like_djb() {
        assert_eq!(sc(b"we:ird%user"), b"we?ird?user");
        assert_eq!(sc(b"a b\x7f\xff"), b"a?b??");
        assert_eq!(sc(b""), b"");
        let long = vec![b'x'; 150];
        assert_eq!(sc(&long), [vec![b'x'; 100], b"...".to_vec()].concat());
        // Exactly 100 bytes also gets the dots: djb's loop ends without
        // seeing the terminator.
        assert_eq!(
            sc(&[b'y'; 100]),
            [vec![b'y'; 100], b"...".to_vec()].concat()
        );
        assert_eq!(sc(&[b'y'; 99]), vec![b'y'; 99]);
        let mut v = Vec::new();
        safecats(&mut v, b"::1", true);
        assert_eq!(v, b"::1");
    }
}
