//! Maildir delivery (maildir.5).
//!
//! Write the message under `tmp/` with a name no other delivery can
//! choose, fsync and close it, hard-link it into `new/`, unlink the `tmp/`
//! name, fsync `new/`. The link is the moment of delivery: a reader of
//! `new/` sees the whole message or nothing, and any failure removes the
//! `tmp/` file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Why a Maildir delivery failed; every case is temporary (exit 111).
#[derive(Debug)]
pub enum MaildirError {
    /// The directory (or its `tmp/`) is not there.
    NoDir,
    Read(io::Error),
    Write(io::Error),
}

/// Deliveries made by this process, for unique names.
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// The host name as it may appear in a Maildir file name: `/` and `:`
/// are written `\057` and `\072` (djb's maildir page).
pub fn safe_host(host: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(host.len());
    for &b in host {
        match b {
            b'/' => out.extend_from_slice(b"\\057"),
            b':' => out.extend_from_slice(b"\\072"),
            _ => out.push(b),
        }
    }
    out
}

/// A unique file name: `<sec>.M<usec>P<pid>Q<n>.<host>`.
pub fn unique_name(sec: u64, usec: u32, pid: u32, seq: u32, host: &[u8]) -> Vec<u8> {
    let mut name = format!("{sec}.M{usec}P{pid}Q{seq}.").into_bytes();
    name.extend_from_slice(&safe_host(host));
    name
}

fn hostname() -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    nix::unistd::gethostname()
        .map(OsStringExt::into_vec)
        .unwrap_or_else(|_| b"localhost".to_vec())
}

/// Create a new file under `dir/tmp/` with a unique name.
fn create_tmp(dir: &Path, host: &[u8]) -> Result<(File, Vec<u8>), MaildirError> {
    use std::os::unix::ffi::OsStrExt;
    let tmp = dir.join("tmp");
    for _ in 0..100 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1;
        let name = unique_name(
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            seq,
            host,
        );
        let path = tmp.join(std::ffi::OsStr::from_bytes(&name));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok((f, name)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(MaildirError::NoDir),
            Err(e) => return Err(MaildirError::Write(e)),
        }
    }
    Err(MaildirError::Write(io::Error::from_raw_os_error(
        libc::EEXIST,
    )))
}

/// Deliver into the Maildir `dir`: `rpline`, `dtline`, then `message`
/// from its current position to its end. Returns the path in `new/`.
pub fn deliver<R: Read>(
    dir: &Path,
    rpline: &[u8],
    dtline: &[u8],
    message: &mut R,
) -> Result<PathBuf, MaildirError> {
    use std::os::unix::ffi::OsStrExt;
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        _ => return Err(MaildirError::NoDir),
    }
    let (file, name) = create_tmp(dir, &hostname())?;
    let name = std::ffi::OsStr::from_bytes(&name);
    let tmp_path = dir.join("tmp").join(name);
    let new_path = dir.join("new").join(name);
    let result = write_and_link(file, &tmp_path, &new_path, rpline, dtline, message);
    // Whether the link worked or not, the tmp name goes.
    let _ = std::fs::remove_file(&tmp_path);
    result?;
    // The link must survive a crash before we report success.
    // O_DIRECTORY: if `new` were swapped for a FIFO, a plain open would
    // wait for a writer forever.
    if let Ok(d) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(dir.join("new"))
    {
        d.sync_all().map_err(MaildirError::Write)?;
    }
    Ok(new_path)
}

fn write_and_link<R: Read>(
    file: File,
    tmp_path: &Path,
    new_path: &Path,
    rpline: &[u8],
    dtline: &[u8],
    message: &mut R,
) -> Result<(), MaildirError> {
    let mut w = io::BufWriter::with_capacity(65536, &file);
    w.write_all(rpline).map_err(MaildirError::Write)?;
    w.write_all(dtline).map_err(MaildirError::Write)?;
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match message.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(MaildirError::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(MaildirError::Write)?;
    }
    w.flush().map_err(MaildirError::Write)?;
    drop(w);
    file.sync_all().map_err(MaildirError::Write)?;
    // Close and check: NFS reports write errors only here.
    nix::unistd::close(file).map_err(|e| MaildirError::Write(e.into()))?;
    std::fs::hard_link(tmp_path, new_path).map_err(MaildirError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildir(root: &Path) -> PathBuf {
        let d = root.join("Maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        d
    }

    #[test]
    fn names_are_unique_and_safe() {
        assert_eq!(
            unique_name(1735898400, 42, 4242, 1, b"mail/x:y"),
            b"1735898400.M42P4242Q1.mail\\057x\\072y"
        );
    }

    #[test]
    fn delivery_lands_whole_in_new() {
        let dir = tempfile::tempdir().unwrap();
        let d = maildir(dir.path());
        let mut m = io::Cursor::new(&b"Subject: x\n\nno final newline"[..]);
        let p = deliver(&d, b"Return-Path: <a@b>\n", b"Delivered-To: c@d\n", &mut m).unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"Return-Path: <a@b>\nDelivered-To: c@d\nSubject: x\n\nno final newline"
        );
        assert_eq!(std::fs::read_dir(d.join("tmp")).unwrap().count(), 0);
        let p2 = deliver(&d, b"", b"", &mut io::Cursor::new(&b"2"[..])).unwrap();
        assert_ne!(p, p2);
        assert_eq!(std::fs::read_dir(d.join("new")).unwrap().count(), 2);
    }

    #[test]
    fn a_missing_maildir_or_new_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = deliver(
            &dir.path().join("none"),
            b"",
            b"",
            &mut io::Cursor::new(&b"x"[..]),
        );
        assert!(matches!(r, Err(MaildirError::NoDir)));
        let d = maildir(dir.path());
        std::fs::remove_dir(d.join("new")).unwrap();
        let r = deliver(&d, b"", b"", &mut io::Cursor::new(&b"x"[..]));
        assert!(matches!(r, Err(MaildirError::Write(_))));
        assert_eq!(std::fs::read_dir(d.join("tmp")).unwrap().count(), 0);
    }

    struct FailingReader;
    impl Read for FailingReader {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::EIO))
        }
    }

    #[test]
    fn a_read_error_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = maildir(dir.path());
        let r = deliver(&d, b"a", b"b", &mut FailingReader);
        assert!(matches!(r, Err(MaildirError::Read(_))));
        assert_eq!(std::fs::read_dir(d.join("tmp")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(d.join("new")).unwrap().count(), 0);
    }
}
