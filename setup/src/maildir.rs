//! `maildirmake`: a Maildir is a folder with `tmp`, `new` and `cur`, all
//! mode 0700 (maildir.5).

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Create the Maildir `path` (which must not exist) and its three
/// subfolders, mode 0700; with `owner`, chown them all (root making a
/// Maildir for a user).
pub fn make(path: &Path, owner: Option<(u32, u32)>) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.mode(0o700);
    b.create(path)?;
    for sub in ["tmp", "new", "cur"] {
        b.create(path.join(sub))?;
    }
    if let Some((uid, gid)) = owner {
        for sub in ["", "tmp", "new", "cur"] {
            let p = if sub.is_empty() {
                path.to_path_buf()
            } else {
                path.join(sub)
            };
            std::os::unix::fs::chown(&p, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn makes_three_private_folders_once() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("Maildir");
        make(&m, None).unwrap();
        for sub in ["", "tmp", "new", "cur"] {
            let meta = fs::metadata(m.join(sub)).unwrap();
            assert!(meta.is_dir());
            assert_eq!(meta.mode() & 0o777, 0o700);
        }
        assert_eq!(
            make(&m, None).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
    }
}
