//! qmail-queue's crash-safe write (qmail-queue.c, INTERNALS).
//!
//! The order is the whole point:
//! 1. create `pid/<pid>.<time>.<seq>`; its inode number is the message id;
//! 2. link it to `mess/<id%23>/<id>` and unlink the pid name;
//! 3. write the Received line and the message;
//! 4. create `intd/<id>`, write `u<uid>\0p<pid>\0` and the checked
//!    envelope; **fsync** the message, then `intd` (qmail syncs the
//!    message before reading the envelope; syncing both here lets one
//!    journal commit serve both, and nothing is linked before either),
//!    then the `mess/<id%23>` directory, so the message's name is on disk
//!    too;
//! 5. link `intd/<id>` to `todo/<id>`: from this instant the message is
//!    queued, and qmail-send will deliver it even if everything dies now;
//!    the `todo` directory is synced so the link survives a power loss;
//! 6. pull `lock/trigger` (a fifo, never through a symlink) to wake
//!    qmail-send.
//!
//! A failure before step 5 truncates and unlinks what was made, so a
//! half-written message is never queued. A process killed before step 5
//! leaves files no one will deliver: qmail-send reaps a `mess` file that
//! has no `todo` or `info` after 36 hours, qmail-clean a stale `pid` file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::layout;
use crate::records::{EnvelopeChecker, EnvelopeError};

/// Why qmail-queue did not queue the message: one of its exit codes,
/// defined beside the client side that turns them into qmail's texts.
pub use control::qmail_queue::QqExit;

/// One qmail-queue run.
#[derive(Debug, Clone)]
pub struct Enqueue<'a> {
    /// The queue directory (`QMAILHOME/queue`, or `""` after chdir).
    pub queue: &'a Path,
    /// Our pid, for the pid file and the `p` record.
    pub pid: u32,
    /// The real uid that ran us, for the `u` record.
    pub uid: u32,
    /// The start time, for the pid file name.
    pub now: i64,
    /// The Received line to put on top.
    pub received: &'a [u8],
}

/// Files made so far, removed again if the message is not queued.
struct Made {
    mess: Option<(PathBuf, File)>,
    intd: Option<(PathBuf, File)>,
}

impl Made {
    /// qmail-queue's `cleanup`: truncate first, so the space comes back
    /// even if the unlink fails.
    fn cleanup(&mut self) {
        for (path, file) in [self.intd.take(), self.mess.take()].into_iter().flatten() {
            let _ = file.set_len(0);
            let _ = fs::remove_file(path);
        }
    }
}

/// Read until `buf` has data or EOF, retrying interrupted reads.
fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl Enqueue<'_> {
    /// Queue the message read from `message` (to EOF) with the envelope
    /// read from `envelope`. Returns the message id.
    pub fn run(&self, message: &mut dyn Read, envelope: &mut dyn Read) -> Result<u64, QqExit> {
        let mut made = Made {
            mess: None,
            intd: None,
        };
        let r = self.write(&mut made, message, envelope);
        if r.is_err() {
            made.cleanup();
        }
        r
    }

    fn write(
        &self,
        made: &mut Made,
        message: &mut dyn Read,
        envelope: &mut dyn Read,
    ) -> Result<u64, QqExit> {
        let q = self.queue;
        let (pid_path, file) = (1..10)
            .find_map(|seq| {
                let p = q.join(format!("pid/{}.{}.{seq}", self.pid, self.now));
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&p)
                    .ok()
                    .map(|f| (p, f))
            })
            .ok_or(QqExit::Pid)?;
        let id = match file.metadata() {
            Ok(m) => m.ino(),
            Err(_) => {
                let _ = fs::remove_file(&pid_path);
                return Err(QqExit::Pid);
            }
        };
        let mess_path = q.join(layout::mess(id));
        if fs::hard_link(&pid_path, &mess_path).is_err() {
            let _ = fs::remove_file(&pid_path);
            return Err(QqExit::Mess);
        }
        made.mess = Some((mess_path, file.try_clone().map_err(|_| QqExit::Pid)?));
        if fs::remove_file(&pid_path).is_err() {
            return Err(QqExit::Pid);
        }

        let mut out = BufWriter::with_capacity(64 * 1024, file);
        out.write_all(self.received).map_err(|_| QqExit::Write)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = read_some(message, &mut buf).map_err(|_| QqExit::Read)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(|_| QqExit::Write)?;
        }
        let mess_file = out.into_inner().map_err(|_| QqExit::Write)?;

        let intd_path = q.join(layout::intd(id));
        let intd = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&intd_path)
            .map_err(|_| QqExit::Intd)?;
        made.intd = Some((
            intd_path.clone(),
            intd.try_clone().map_err(|_| QqExit::Intd)?,
        ));
        let mut rec = format!("u{}\0p{}\0", self.uid, self.pid).into_bytes();
        let mut checker = EnvelopeChecker::new();
        let mut buf = [0u8; 2048];
        let mut out = BufWriter::with_capacity(8192, intd);
        loop {
            let n = read_some(envelope, &mut buf).map_err(|_| QqExit::Read)?;
            if n == 0 {
                return Err(QqExit::Read);
            }
            let done = checker.feed(&buf[..n], &mut rec).map_err(|e| match e {
                EnvelopeError::Format => QqExit::Envelope,
                EnvelopeError::TooLong => QqExit::AddressTooLong,
                EnvelopeError::TooManyRecipients => QqExit::TooManyRecipients,
                EnvelopeError::TooBig => QqExit::EnvelopeTooBig,
            })?;
            out.write_all(&rec).map_err(|_| QqExit::Write)?;
            rec.clear();
            if done.is_some() {
                break;
            }
        }
        let intd = out.into_inner().map_err(|_| QqExit::Write)?;
        // What qmail-send needs after a crash, once todo/ names the
        // message: the envelope's bytes (through todo/<id>, the same
        // inode as intd/<id>), the message's bytes, and its name in
        // mess/<id%23>/. All three are on disk before the todo link, so
        // there is never a todo/ entry without its message. The files are
        // synced first and the directory last: on ext4 and xfs the file
        // syncs already commit the journal holding the mess link, and the
        // directory sync costs at most a disk cache flush (measured in
        // bench/queue/results/2026-12-02-mess-dir-sync.md). intd/'s own name is
        // not needed (todo/ links the same inode, and qmail-clean takes a
        // missing intd/ name as removed), nor the unlinked pid name.
        mess_file.sync_all().map_err(|_| QqExit::Write)?;
        intd.sync_all().map_err(|_| QqExit::Write)?;
        drop(intd);
        drop(mess_file);
        let mess_path = q.join(layout::mess(id));
        sync_dir(mess_path.parent().unwrap_or(q))?;

        if fs::hard_link(&intd_path, q.join(layout::todo(id))).is_err() {
            return Err(QqExit::Todo);
        }
        // Queued: nothing may be cleaned up any more. intd stays; qmail-clean
        // removes it with todo.
        made.mess = None;
        made.intd = None;
        // The link itself must be on disk before the caller says 250: if
        // the machine lost power with the link still in the journal, the
        // message would sit in intd/ unqueued and be reaped as garbage
        // after 36 hours. qmail relied on the file system writing
        // directory changes in order; we sync the directory. A failure
        // here reports 53, so the client retries: at worst a duplicate,
        // never a loss.
        sync_dir(&q.join("todo"))?;
        pull_trigger(q);
        Ok(id)
    }
}

/// fsync a directory, so the names made in it are on disk; 53 when that
/// fails.
fn sync_dir(dir: &Path) -> Result<(), QqExit> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|_| QqExit::Write)
}

/// Wake qmail-send: one byte into the `lock/trigger` fifo, without
/// blocking. No reader (qmail-send not running) is fine: it scans `todo/`
/// when it starts and every 25 minutes anyway. Only a fifo is written:
/// a symlink is not followed (`O_NOFOLLOW`) and a regular file or device
/// put in its place is left alone, so the trigger cannot be made to
/// write a byte as qmailq into a file of someone's choosing.
pub fn pull_trigger(queue: &Path) {
    if let Ok(mut f) = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(queue.join("lock/trigger"))
        && f.metadata().is_ok_and(|m| m.file_type().is_fifo())
    {
        let _ = f.write(&[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        crate::layout::create(dir.path(), None).unwrap();
        dir
    }

    fn run(q: &Path, msg: &[u8], env: &[u8]) -> Result<u64, QqExit> {
        Enqueue {
            queue: q,
            pid: 4242,
            uid: 1001,
            now: 1_735_898_400,
            received: b"Received: x\n",
        }
        .run(&mut &msg[..], &mut &env[..])
    }

    fn files(q: &Path, dir: &str) -> usize {
        walk(&q.join(dir))
    }

    fn walk(p: &Path) -> usize {
        fs::read_dir(p)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }

    #[test]
    fn a_message_is_written_in_qmails_layout() {
        let d = queue();
        let q = d.path();
        let id = run(q, b"Subject: hi\n\nbody\n", b"Fa@b\0Tc@d\0Te@f\0\0").unwrap();
        assert_eq!(
            fs::read(q.join(layout::mess(id))).unwrap(),
            b"Received: x\nSubject: hi\n\nbody\n"
        );
        assert_eq!(
            fs::metadata(q.join(layout::mess(id))).unwrap().ino(),
            id,
            "the id is the inode number"
        );
        let todo = fs::read(q.join(layout::todo(id))).unwrap();
        assert_eq!(todo, b"u1001\0p4242\0Fa@b\0Tc@d\0Te@f\0");
        assert!(q.join(layout::intd(id)).exists());
        assert_eq!(files(q, "pid"), 0);
    }

    #[test]
    fn failures_leave_nothing_behind() {
        let d = queue();
        let q = d.path();
        assert_eq!(run(q, b"m", b"Xa\0\0"), Err(QqExit::Envelope));
        assert_eq!(run(q, b"m", b"Fa\0Tb"), Err(QqExit::Read));
        assert_eq!(run(q, b"m", b""), Err(QqExit::Read));
        let mut long = b"Fa\0T".to_vec();
        long.extend(std::iter::repeat_n(b'x', 2000));
        long.extend_from_slice(b"\0\0");
        assert_eq!(run(q, b"m", &long), Err(QqExit::AddressTooLong));
        for dir in ["pid", "mess", "intd", "todo"] {
            assert_eq!(files(q, dir), 0, "{dir} is clean");
        }
    }

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::EIO))
        }
    }

    #[test]
    fn a_read_error_is_54_and_cleaned_up() {
        let d = queue();
        let q = d.path();
        let e = Enqueue {
            queue: q,
            pid: 1,
            uid: 1,
            now: 1,
            received: b"",
        };
        assert_eq!(e.run(&mut Failing, &mut &b"F\0\0"[..]), Err(QqExit::Read));
        assert_eq!(e.run(&mut &b"m"[..], &mut Failing), Err(QqExit::Read));
        assert_eq!(files(q, "mess"), 0);
        assert_eq!(files(q, "intd"), 0);
    }

    #[test]
    fn missing_directories_map_to_their_codes() {
        let d = queue();
        let q = d.path();
        fs::remove_dir(q.join("pid")).unwrap();
        assert_eq!(run(q, b"m", b"F\0\0"), Err(QqExit::Pid));
        fs::create_dir(q.join("pid")).unwrap();
        fs::remove_dir_all(q.join("intd")).unwrap();
        assert_eq!(run(q, b"m", b"F\0\0"), Err(QqExit::Intd));
        assert_eq!(files(q, "mess"), 0);
        fs::create_dir(q.join("intd")).unwrap();
        fs::remove_dir_all(q.join("todo")).unwrap();
        assert_eq!(run(q, b"m", b"F\0\0"), Err(QqExit::Todo));
        assert_eq!(files(q, "mess"), 0);
        assert_eq!(files(q, "intd"), 0);
        assert_eq!(QqExit::Todo.code(), 66);
    }
}
