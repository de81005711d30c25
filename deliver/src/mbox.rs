//! mbox delivery (mbox.5, the "mboxrd" flavour qmail writes).
//!
//! One message is: the `From ` line, Return-Path, Delivered-To, the
//! message with `>` before every line matching `^>*From `, a newline
//! added if the last line lacks one, and one empty line. The file is
//! locked (flock) for at most 30 seconds; on any write error it is
//! truncated back to where this message started, so a reader never sees
//! half a message.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufWriter, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

/// The line needs a `>` in front: it matches `^>*From ` (qmail's `gfrom`).
pub fn needs_quote(line: &[u8]) -> bool {
    let start = line.iter().take_while(|&&b| b == b'>').count();
    line[start..].starts_with(b"From ")
}

/// Copy the message from `r` to `w` line by line with mboxrd quoting,
/// ending with the blank line that separates messages.
pub fn write_body<R: BufRead, W: Write>(r: &mut R, w: &mut W) -> Result<(), BodyError> {
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line).map_err(BodyError::Read)?;
        if n == 0 {
            break;
        }
        if needs_quote(&line) {
            w.write_all(b">").map_err(BodyError::Write)?;
        }
        w.write_all(&line).map_err(BodyError::Write)?;
        if line.last() != Some(&b'\n') {
            w.write_all(b"\n").map_err(BodyError::Write)?;
            break;
        }
    }
    w.write_all(b"\n").map_err(BodyError::Write)
}

/// Which side of a copy failed.
#[derive(Debug)]
pub enum BodyError {
    Read(io::Error),
    Write(io::Error),
}

/// Why an mbox delivery failed; every case is temporary (exit 111).
#[derive(Debug)]
pub enum MboxError {
    Open(io::Error),
    /// Someone held the lock for the whole 30 seconds.
    Locked,
    Read(io::Error),
    Write(io::Error),
}

/// How long to wait for the lock (qmail's `alarm(30)`).
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Take an exclusive flock on `f`, waiting at most `wait`. `Ok(Err(f))`:
/// the file system does not lock (qmail then writes unlocked).
fn lock(f: File, wait: Duration) -> Result<Result<Flock<File>, File>, MboxError> {
    let deadline = Instant::now() + wait;
    let mut f = f;
    let mut pause = Duration::from_millis(1);
    loop {
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(Ok(l)),
            Err((back, nix::errno::Errno::EWOULDBLOCK)) => {
                f = back;
                if Instant::now() >= deadline {
                    return Err(MboxError::Locked);
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err((back, nix::errno::Errno::EINTR)) => f = back,
            Err((back, _)) => return Ok(Err(back)),
        }
    }
}

/// Append one message to the mbox at `path`. `message` is read from its
/// current position to its end.
pub fn deliver<R: BufRead>(
    path: &Path,
    ufline: &[u8],
    rpline: &[u8],
    dtline: &[u8],
    message: &mut R,
    lock_wait: Duration,
) -> Result<(), MboxError> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(MboxError::Open)?;
    let locked = lock(f, lock_wait)?;
    let (mut file, is_locked): (&File, bool) = match &locked {
        Ok(l) => (l, true),
        Err(f) => (f, false),
    };
    let start = file.seek(SeekFrom::End(0)).map_err(MboxError::Write)?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(65536, file);
        for part in [ufline, rpline, dtline] {
            w.write_all(part).map_err(MboxError::Write)?;
        }
        write_body(message, &mut w).map_err(|e| match e {
            BodyError::Read(e) => MboxError::Read(e),
            BodyError::Write(e) => MboxError::Write(e),
        })?;
        w.flush().map_err(MboxError::Write)?;
        drop(w);
        file.sync_all().map_err(MboxError::Write)
    })();
    if result.is_err() && is_locked {
        // Only under the lock is the end of the file still ours.
        let _ = nix::unistd::ftruncate(file.as_fd(), start as i64);
        let _ = file.sync_all();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn body(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_body(&mut Cursor::new(input), &mut out).unwrap();
        out
    }

    #[test]
    fn from_lines_are_quoted_mboxrd_style() {
        assert!(needs_quote(b"From x"));
        assert!(needs_quote(b">>From x"));
        assert!(!needs_quote(b"From:"));
        assert!(!needs_quote(b" From "));
        assert!(!needs_quote(b">"));
        assert_eq!(
            body(b"a\nFrom me\n>From you\nFrom\n"),
            b"a\n>From me\n>>From you\nFrom\n\n"
        );
    }

    #[test]
    fn a_missing_final_newline_is_added() {
        assert_eq!(body(b"a\nb"), b"a\nb\n\n");
        assert_eq!(body(b""), b"\n");
    }

    proptest::proptest! {
        /// Any message survives the trip: reading it back (drop the
        /// separator line, remove one > from quoted From lines) gives the
        /// message with a final newline, however the reads are split.
        #[test]
        fn quoting_round_trips(msg in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just(b'\n'),
                proptest::strategy::Just(b'>'),
                proptest::sample::select(b"From x".to_vec()),
                proptest::num::u8::ANY,
            ],
            0..200,
        )) {
            let whole = body(&msg);
            let mut split = Vec::new();
            write_body(&mut io::BufReader::with_capacity(1, &msg[..]), &mut split).unwrap();
            proptest::prop_assert_eq!(&whole, &split);
            let mut back = Vec::new();
            let text = &whole[..whole.len() - 1];
            for line in text.split_inclusive(|&b| b == b'\n') {
                if line.starts_with(b">") && needs_quote(&line[1..]) {
                    back.extend_from_slice(&line[1..]);
                } else {
                    back.extend_from_slice(line);
                }
            }
            let mut want = msg.clone();
            if want.last().is_some_and(|&b| b != b'\n') {
                want.push(b'\n');
            }
            proptest::prop_assert_eq!(back, want);
        }
    }

    #[test]
    fn delivery_appends_and_a_held_lock_is_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Mailbox");
        let mut m = Cursor::new(&b"Subject: x\n\nFrom here\n"[..]);
        deliver(
            &p,
            b"From a@b Fri Jan 03 10:00:00 2025\n",
            b"RP\n",
            b"DT\n",
            &mut m,
            LOCK_WAIT,
        )
        .unwrap();
        let mut m = Cursor::new(&b"two"[..]);
        deliver(&p, b"F2\n", b"R2\n", b"D2\n", &mut m, LOCK_WAIT).unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"From a@b Fri Jan 03 10:00:00 2025\nRP\nDT\nSubject: x\n\n>From here\n\nF2\nR2\nD2\ntwo\n\n"
        );
        let holder = Flock::lock(File::open(&p).unwrap(), FlockArg::LockExclusive).unwrap();
        let mut m = Cursor::new(&b"three\n"[..]);
        let r = deliver(
            &p,
            b"F\n",
            b"R\n",
            b"D\n",
            &mut m,
            Duration::from_millis(50),
        );
        assert!(matches!(r, Err(MboxError::Locked)));
        drop(holder);
    }
}
