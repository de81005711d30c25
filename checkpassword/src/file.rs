//! The password file mode, for a qmail home run by an ordinary user (the
//! one-folder system): with `CHECKPASSWORD_FILE` naming a file (relative
//! to the current directory, which is the qmail home under qmail-smtpd
//! and qmail-pop3d), the users are the file's lines
//!
//! ```text
//! user:crypt-hash[:home]
//! ```
//!
//! Empty lines and lines starting with `#` are skipped. The hash is any
//! crypt(3) hash (`openssl passwd -6`, `mkpasswd`). No uid change: the
//! subprogram runs as the caller, with `HOME` the line's home, else the
//! current directory. See checkpassword(8).

use std::io;
use std::path::Path;

/// One user of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub hash: Vec<u8>,
    pub home: Option<Vec<u8>>,
}

/// The entry for `user` in the text `text`.
pub fn find(text: &[u8], user: &[u8]) -> Option<Entry> {
    if user.is_empty() || user.contains(&b':') {
        return None;
    }
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let mut f = line.splitn(3, |&b| b == b':');
        if f.next() != Some(user) {
            continue;
        }
        let hash = f.next()?.to_vec();
        let home = f.next().filter(|h| !h.is_empty()).map(<[u8]>::to_vec);
        return Some(Entry { hash, home });
    }
    None
}

/// The entry for `user` in the file at `path`.
pub fn lookup(path: &Path, user: &[u8]) -> io::Result<Option<Entry>> {
    Ok(find(&std::fs::read(path)?, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let t = b"# users\n\njoe:$6$x$y:/home/joe\r\namy:$6$a$b\nbad\n";
        assert_eq!(
            find(t, b"joe"),
            Some(Entry {
                hash: b"$6$x$y".to_vec(),
                home: Some(b"/home/joe".to_vec())
            })
        );
        assert_eq!(find(t, b"amy").unwrap().home, None);
        assert_eq!(find(t, b"bad"), None);
        assert_eq!(find(t, b"bob"), None);
        assert_eq!(find(t, b"# users"), None);
        assert_eq!(find(t, b""), None);
        assert_eq!(find(t, b"joe:$6$x$y"), None);
    }
}
