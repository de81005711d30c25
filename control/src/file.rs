//! qmail's control-file rules (`control.c`).
//!
//! - A missing file is not an error: the caller uses its default.
//! - Any other failure to open or read is an error (qmail-smtpd answers
//!   `421 unable to read controls`, qmail-send refuses to start).
//! - "Line" files use the first line with trailing spaces, tabs and the
//!   newline removed.
//! - "Int" files read that line as an unsigned decimal prefix; text that
//!   does not start with a digit silently means "use the default".
//! - "List" files keep one entry per line, trailing blanks removed, and
//!   skip empty lines and lines that start with `#`.

use std::fs;
use std::io;
use std::path::Path;

/// The whole file, `None` when it does not exist.
fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove trailing spaces and tabs (and a newline, for the last line).
fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\n'] = line {
        line = rest;
    }
    line
}

/// First line of the file, trailing blanks removed.
pub fn read_line(path: &Path) -> io::Result<Option<Vec<u8>>> {
    Ok(read_optional(path)?.map(|bytes| {
        let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
        trim_end(first).to_vec()
    }))
}

/// Leading decimal digits of the first line; `None` when the file is
/// missing or has no leading digit.
pub fn read_int(path: &Path) -> io::Result<Option<u64>> {
    Ok(read_line(path)?.and_then(|line| parse_ulong(&line)))
}

/// djb's `scan_ulong` and its `None`-for-no-digit form, defined once in
/// `sys::scan` for every crate (qmail-send's todo records, tcp-env's `-t`,
/// lspawn's uids, rblsmtpd's `-t`), re-exported where control files are
/// read.
pub use sys::scan::{parse_ulong, scan_ulong};

/// Entries of a list file.
pub fn read_list(path: &Path) -> io::Result<Option<Vec<Vec<u8>>>> {
    Ok(read_optional(path)?.map(|bytes| parse_list(&bytes)))
}

/// Entries of a list file's contents.
pub fn parse_list(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|&b| b == b'\n')
        .map(trim_end)
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_files_use_the_first_line_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("me");
        fs::write(&p, "mail.example.com \t\nsecond\n").unwrap();
        assert_eq!(read_line(&p).unwrap().unwrap(), b"mail.example.com");
        assert_eq!(read_line(&dir.path().join("none")).unwrap(), None);
    }

    #[test]
    fn a_directory_is_an_error_not_a_default() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_line(dir.path()).is_err());
    }

    #[test]
    fn int_files_take_the_leading_digits() {
        assert_eq!(parse_ulong(b"1200"), Some(1200));
        assert_eq!(parse_ulong(b"12abc"), Some(12));
        assert_eq!(parse_ulong(b"abc"), None);
        assert_eq!(parse_ulong(b""), None);
        assert_eq!(parse_ulong(b"99999999999999999999999"), Some(u64::MAX));
    }

    #[test]
    fn lists_skip_blank_and_comment_lines() {
        let got = parse_list(b"a.com\n\n# note\n.b.com \t\n  c\nlast");
        assert_eq!(
            got,
            vec![
                b"a.com".to_vec(),
                b".b.com".to_vec(),
                b"  c".to_vec(),
                b"last".to_vec()
            ]
        );
    }
}
