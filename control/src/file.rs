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

/// djb's `scan_ulong` as qmail uses it: the value of the leading digits,
/// 0 when there are none (`x`, `-1`, ` 5`, empty). Saturates at
/// `u64::MAX` where C would wrap: no limit or count read from a file
/// turns small by being too large. The one copy for the workspace
/// (qmail-send's todo records, tcp-env's `-t`, lspawn's uids).
pub fn scan_ulong(text: &[u8]) -> u64 {
    parse_ulong(text).unwrap_or(0)
}

/// [`scan_ulong`], telling "no leading digit" (`None`) from 0: for control
/// files and options where that means "not set".
pub fn parse_ulong(text: &[u8]) -> Option<u64> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    Some(text[..digits].iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

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
    fn scan_ulong_is_djbs_leading_digits_or_zero() {
        assert_eq!(scan_ulong(b"0"), 0);
        assert_eq!(scan_ulong(b"007"), 7);
        assert_eq!(scan_ulong(b"30"), 30);
        assert_eq!(scan_ulong(b"5s"), 5);
        assert_eq!(scan_ulong(b"12\0 34"), 12);
        // No sign, no leading space: C's scan_ulong takes digits only.
        assert_eq!(scan_ulong(b"-1"), 0);
        assert_eq!(scan_ulong(b"+1"), 0);
        assert_eq!(scan_ulong(b" 5"), 0);
        assert_eq!(scan_ulong(b"x"), 0);
        assert_eq!(scan_ulong(b""), 0);
        assert_eq!(scan_ulong(b"18446744073709551615"), u64::MAX);
        // Saturates where C would wrap (2^64 would read as 0).
        assert_eq!(scan_ulong(b"18446744073709551616"), u64::MAX);
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
