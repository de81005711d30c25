//! Reading a Maildir as qmail 1.03's `maildir.c` does: the folder comes
//! from `$MAILDIR`; files in `tmp/` not accessed for 36 hours are
//! removed; messages are the files of `new/` (and `cur/`) not starting
//! with a dot, oldest first by mtime, leaving out those modified in the
//! current second so that messages still arriving keep their order.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One message: its path relative to the Maildir and its mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub path: PathBuf,
    pub mtime: i64,
}

/// Remove `tmp/` files older than 36 hours (by access time); errors are
/// ignored, as in qmail.
pub fn clean(maildir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(dir) = std::fs::read_dir(maildir.join("tmp")) else {
        return;
    };
    let now = control::datetime::now_secs();
    for e in dir.flatten() {
        if e.file_name().as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        if let Ok(m) = std::fs::metadata(e.path())
            && now > m.atime() + 129_600
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The messages of `new/` (and `cur/` when `cur` is set), oldest first.
/// `Err((subdir, error))` when a folder cannot be read.
pub fn scan(maildir: &Path, cur: bool) -> Result<Vec<Message>, (String, io::Error)> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    let mut out = Vec::new();
    for sub in ["new", "cur"].iter().take(if cur { 2 } else { 1 }) {
        let dir = std::fs::read_dir(maildir.join(sub)).map_err(|e| (sub.to_string(), e))?;
        for e in dir {
            let e = e.map_err(|e| (sub.to_string(), e))?;
            if e.file_name().as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            let rel = Path::new(sub).join(e.file_name());
            use std::os::unix::fs::MetadataExt;
            if let Ok(m) = std::fs::metadata(maildir.join(&rel))
                && m.mtime() < now
            {
                out.push(Message {
                    path: rel,
                    mtime: m.mtime(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}
