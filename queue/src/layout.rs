//! The queue's directories and file names (qmail's `hier.c`, `fmtqfn.c`,
//! INTERNALS), relative to `QMAILHOME/queue`.
//!
//! A message's id is the inode number of its `mess` file. Directories
//! marked "split" hold 23 subdirectories, and the file for id `N` lives in
//! subdirectory `N % 23`: `mess/5/1005`. `todo/` and `intd/` are not split.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::owners::Ids;

/// qmail's `conf-split`.
pub const SPLIT: u64 = 23;

/// `dir/N%23/N` (split) or `dir/N`: qmail's `fmtqfn`. `dir` has no
/// trailing slash.
pub fn file_name(dir: &str, id: u64, split: bool) -> String {
    if split {
        format!("{dir}/{}/{id}", id % SPLIT)
    } else {
        format!("{dir}/{id}")
    }
}

/// `mess/N%23/N`
pub fn mess(id: u64) -> String {
    file_name("mess", id, true)
}
/// `info/N%23/N`
pub fn info(id: u64) -> String {
    file_name("info", id, true)
}
/// `todo/N`
pub fn todo(id: u64) -> String {
    file_name("todo", id, false)
}
/// `intd/N`
pub fn intd(id: u64) -> String {
    file_name("intd", id, false)
}
/// `bounce/N`
pub fn bounce(id: u64) -> String {
    file_name("bounce", id, false)
}
/// Where a recipient goes: qmail's channel 0 (`local/`, qmail-lspawn) or
/// channel 1 (`remote/`, qmail-rspawn). Defined here, with the folders it
/// names, for qmail-send, qmail-qread and the tests alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Local = 0,
    Remote = 1,
}

impl Channel {
    /// Both, in qmail's order (and the order of their descriptors).
    pub const ALL: [Channel; 2] = [Channel::Local, Channel::Remote];

    /// The channel's folder in the queue.
    pub fn dir(self) -> &'static str {
        match self {
            Channel::Local => "local",
            Channel::Remote => "remote",
        }
    }
}

/// `local/N%23/N` or `remote/N%23/N`.
pub fn channel(id: u64, c: Channel) -> String {
    file_name(c.dir(), id, true)
}
/// The message path the spawners get, relative to `queue/mess`:
/// `N%23/N`.
pub fn split_path(id: u64) -> String {
    format!("{}/{id}", id % SPLIT)
}

/// The owner of a queue entry (hier.c): the queue user or the send user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Q,
    S,
    R,
}

/// Directories: path, owner, mode, split.
const DIRS: &[(&str, Owner, u32, bool)] = &[
    ("pid", Owner::Q, 0o700, false),
    ("intd", Owner::Q, 0o700, false),
    ("todo", Owner::Q, 0o750, false),
    ("bounce", Owner::S, 0o700, false),
    ("mess", Owner::Q, 0o750, true),
    ("info", Owner::S, 0o700, true),
    ("local", Owner::S, 0o700, true),
    ("remote", Owner::S, 0o700, true),
    ("lock", Owner::Q, 0o750, false),
];

/// Create (or repair the owners and modes of) the queue at `queue`, as
/// qmail's `make setup` does. With `ids` (run as root) the entries get
/// qmail's owners (qmailq, qmails, qmailr; group qmail); without, they
/// belong to the caller, for the one-folder mode. Existing messages are
/// left alone.
pub fn create(queue: &Path, ids: Option<&Ids>) -> io::Result<()> {
    let uid = |o: Owner| {
        ids.map(|i| match o {
            Owner::Q => i.qmailq,
            Owner::S => i.qmails,
            Owner::R => i.qmailr,
        })
    };
    let gid = ids.map(|i| i.qmail);
    let make = |p: &Path, owner: Owner, mode: u32| -> io::Result<()> {
        match fs::DirBuilder::new().mode(mode).create(p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => {}
            Err(e) => return Err(e),
        }
        std::os::unix::fs::chown(p, uid(owner), gid)?;
        fs::set_permissions(p, fs::Permissions::from_mode(mode))
    };
    make(queue, Owner::Q, 0o750)?;
    for &(name, owner, mode, split) in DIRS {
        let d = queue.join(name);
        make(&d, owner, mode)?;
        if split {
            for i in 0..SPLIT {
                make(&d.join(i.to_string()), owner, mode)?;
            }
        }
    }
    let lock = queue.join("lock");
    // tcpto: qmail-remote's table, 1024 zero bytes.
    let file = |name: &str, owner: Owner, mode: u32, len: u64| -> io::Result<()> {
        let p = lock.join(name);
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)?;
        if f.metadata()?.len() < len {
            f.set_len(len)?;
        }
        std::os::unix::fs::chown(&p, uid(owner), gid)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
    };
    file("tcpto", Owner::R, 0o644, 1024)?;
    file("sendmutex", Owner::S, 0o600, 0)?;
    let trigger = lock.join("trigger");
    match nix::unistd::mkfifo(&trigger, nix::sys::stat::Mode::from_bits_truncate(0o622)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e.into()),
    }
    std::os::unix::fs::chown(&trigger, uid(Owner::S), gid)?;
    fs::set_permissions(&trigger, fs::Permissions::from_mode(0o622))
}

/// The numeric entries of a split directory (`info`, `mess`, ...): every
/// `dir/K/N` where N is all digits and K is `N % 23`, as qmail's
/// `readsubdir` finds them. Entries with other names are skipped.
/// A subdirectory that cannot be read is an error.
pub fn scan_split(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for k in 0..SPLIT {
        let sub: PathBuf = dir.join(k.to_string());
        for entry in fs::read_dir(&sub)? {
            let entry = entry?;
            if let Some(id) = parse_id(entry.file_name().as_encoded_bytes())
                && id % SPLIT == k
            {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// A queue file name that is a message id: all digits, no sign, no
/// overflow.
pub fn parse_id(name: &[u8]) -> Option<u64> {
    if name.is_empty() || name.len() > 20 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    #[test]
    fn names_follow_fmtqfn() {
        assert_eq!(mess(1005), "mess/16/1005");
        assert_eq!(info(46), "info/0/46");
        assert_eq!(todo(1005), "todo/1005");
        assert_eq!(intd(7), "intd/7");
        assert_eq!(bounce(7), "bounce/7");
        assert_eq!(channel(24, Channel::Local), "local/1/24");
        assert_eq!(channel(24, Channel::Remote), "remote/1/24");
        assert_eq!(split_path(24), "1/24");
    }

    #[test]
    fn ids_are_plain_decimal() {
        assert_eq!(parse_id(b"123"), Some(123));
        assert_eq!(parse_id(b""), None);
        assert_eq!(parse_id(b"12a"), None);
        assert_eq!(parse_id(b"+1"), None);
        assert_eq!(parse_id(b"99999999999999999999999"), None);
    }

    #[test]
    fn create_makes_qmails_tree_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path().join("queue");
        create(&q, None).unwrap();
        create(&q, None).unwrap();
        let mode = |p: &str| fs::metadata(q.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode(""), 0o750);
        assert_eq!(mode("pid"), 0o700);
        assert_eq!(mode("todo"), 0o750);
        assert_eq!(mode("mess/22"), 0o750);
        assert_eq!(mode("info/0"), 0o700);
        assert_eq!(mode("lock/sendmutex"), 0o600);
        assert_eq!(mode("lock/trigger"), 0o622);
        assert!(
            fs::metadata(q.join("lock/trigger"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert_eq!(fs::metadata(q.join("lock/tcpto")).unwrap().len(), 1024);
        assert!(scan_split(&q.join("info")).unwrap().is_empty());
        fs::write(q.join("info/1/24"), "F\0").unwrap();
        fs::write(q.join("info/1/25"), "F\0").unwrap(); // wrong subdir
        fs::write(q.join("info/1/x"), "F\0").unwrap();
        assert_eq!(scan_split(&q.join("info")).unwrap(), vec![24]);
    }
}
