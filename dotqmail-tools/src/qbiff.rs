//! qbiff (qmail 1.03's qbiff.1): tell the user on each terminal where
//! biff is on (`biff y` sets the owner-execute bit of the tty) that mail
//! came, with the recipient, the sender and the start of the subject and
//! body. It never fails a delivery: every problem means exit 0.

use std::io::{BufRead, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use inject::headerbody::{Event, HeaderBody};
use inject::hfield::{self, Field};

/// Where Linux keeps the login records.
pub const UTMP: &str = "/var/run/utmp";

/// glibc's `struct utmp` on Linux: 384 bytes, `ut_type` at 0, `ut_line`
/// (32 bytes) at 8, `ut_user` (32 bytes) at 44.
const RECORD: usize = 384;
const USER_PROCESS: i16 = 7;

/// The terminals (names below /dev) where `user` is logged in.
pub fn ttys(utmp: &[u8], user: &[u8]) -> Vec<Vec<u8>> {
    let field = |r: &[u8], at: usize, len: usize| {
        let f = &r[at..at + len];
        f[..f.iter().position(|&b| b == 0).unwrap_or(len)].to_vec()
    };
    utmp.chunks_exact(RECORD)
        .filter(|r| i16::from_ne_bytes([r[0], r[1]]) == USER_PROCESS)
        .filter(|r| field(r, 44, 32) == user)
        .map(|r| field(r, 8, 32))
        // As in 1.03: nothing absolute, empty or with a dot, so a
        // record cannot point outside /dev.
        .filter(|l| !l.is_empty() && l[0] != b'/' && !l.contains(&b'.'))
        .collect()
}

/// The text qbiff writes: a bell, `*** TO <local> FROM <sender>`, then
/// four spaces and the subject and body, cut at 78 bytes, unprintable
/// bytes replaced.
pub fn notice(local: &[u8], sender: &[u8], message: &mut dyn BufRead) -> Vec<u8> {
    let mut tofrom = b"*** TO <".to_vec();
    tofrom.extend_from_slice(local);
    tofrom.extend_from_slice(b"> FROM <");
    tofrom.extend_from_slice(sender);
    tofrom.push(b'>');
    for b in &mut tofrom {
        if !(32..=126).contains(b) {
            *b = b'_';
        }
    }
    let mut text = b"    ".to_vec();
    let mut hb = HeaderBody::new();
    let mut events = Vec::new();
    let mut line = Vec::new();
    // Only the first 78 bytes are shown, so reading stops once they are
    // there.
    while text.len() < 78 {
        line.clear();
        match message.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => {
                hb.finish(&mut events);
            }
            Ok(_) => {
                if line.last() != Some(&b'\n') {
                    line.push(b'\n');
                }
                hb.line(&line, &mut events);
            }
        }
        for ev in events.drain(..) {
            match ev {
                Event::Field(f) if hfield::known(&f) == Some(Field::Subject) => {
                    text.extend_from_slice(&f[skip_name(&f)..]);
                }
                Event::Body(b) => text.extend_from_slice(&b),
                _ => {}
            }
        }
        if line.is_empty() {
            break;
        }
    }
    text.truncate(78);
    for b in &mut text {
        if !(32..=126).contains(b) {
            *b = b'/';
        }
    }
    let mut woof = b"\r\n\x07".to_vec();
    woof.extend_from_slice(&tofrom);
    woof.extend_from_slice(b"\r\n");
    woof.extend_from_slice(&text);
    woof.extend_from_slice(b"\r\n");
    woof
}

/// Where a field's value starts: after the name, the colon and blanks.
fn skip_name(f: &[u8]) -> usize {
    let mut i = f.iter().position(|&b| b == b':').map_or(f.len(), |c| c + 1);
    while i < f.len() && matches!(f[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// Write `woof` on each of `ttys` below `dev` that has biff on and
/// belongs to `uid`.
pub fn tell(dev: &Path, ttys: &[Vec<u8>], uid: u32, woof: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    for t in ttys {
        let path = dev.join(std::ffi::OsStr::from_bytes(t));
        let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
        else {
            continue;
        };
        let Ok(st) = f.metadata() else { continue };
        if st.mode() & 0o100 == 0 || st.uid() != uid {
            continue;
        }
        let _ = f.write_all(woof);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: i16, line: &str, user: &str) -> Vec<u8> {
        let mut r = vec![0u8; RECORD];
        r[..2].copy_from_slice(&kind.to_ne_bytes());
        r[8..8 + line.len()].copy_from_slice(line.as_bytes());
        r[44..44 + user.len()].copy_from_slice(user.as_bytes());
        r
    }

    #[test]
    fn finds_the_users_terminals() {
        let mut u = record(USER_PROCESS, "pts/3", "joe");
        u.extend(record(USER_PROCESS, "pts/4", "bob"));
        u.extend(record(8, "pts/5", "joe"));
        u.extend(record(USER_PROCESS, "../etc", "joe"));
        u.extend(record(USER_PROCESS, "/etc/x", "joe"));
        u.extend(record(USER_PROCESS, "tty1", "joe"));
        assert_eq!(ttys(&u, b"joe"), vec![b"pts/3".to_vec(), b"tty1".to_vec()]);
    }

    #[test]
    fn the_notice_and_who_gets_it() {
        let woof = notice(
            b"joe",
            b"al\x01ce@x",
            &mut &b"From: a\nSubject: hello\tthere\n\nbody line\n"[..],
        );
        assert_eq!(
            woof,
            b"\r\n\x07*** TO <joe> FROM <al_ce@x>\r\n    hello/there//body line/\r\n".to_vec()
        );
        let body = format!("Subject: x\n\n{}\n", "y".repeat(500));
        let long = notice(b"j", b"s", &mut body.as_bytes());
        let text = long.split(|&b| b == b'\n').nth(2).unwrap();
        assert_eq!(text.len(), 78 + 1, "cut at 78 bytes, then CR");

        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let on = dir.path().join("on");
        let off = dir.path().join("off");
        for (p, m) in [(&on, 0o700), (&off, 0o600)] {
            std::fs::write(p, "").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        }
        let uid = std::fs::metadata(&on).unwrap().uid();
        tell(
            dir.path(),
            &[b"on".to_vec(), b"off".to_vec(), b"gone".to_vec()],
            uid,
            b"hi",
        );
        assert_eq!(std::fs::read(&on).unwrap(), b"hi");
        assert_eq!(std::fs::read(&off).unwrap(), b"");
    }
}
