//! `users/assign` and `users/cdb` (qmail-users.5): the table that maps
//! local parts to delivery users without asking the password database.
//!
//! qmail-newu compiles `users/assign` into `users/cdb` with
//! [`parse_assign`] and [`write_cdb`]; qmail-lspawn looks a local part up
//! with [`lookup`]. The cdb layout is qmail's, so a cdb built by either
//! side works with the other:
//! - `=local:user:uid:gid:home:dash:ext:` gives key `!local\0` (lowercased);
//! - `+prefix:user:uid:gid:home:dash:pre:` gives key `!prefix`, and the
//!   prefix's last byte joins the "wildchars" stored under the empty key;
//! - the value is the six fields separated by NUL, without the last colon.

use std::io;
use std::path::Path;

/// A line of `users/assign` that qmail-newu refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignError {
    /// 1-based line number.
    pub line: usize,
}

impl std::fmt::Display for AssignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad format in users/assign (line {})", self.line)
    }
}

impl std::error::Error for AssignError {}

/// The compiled table: cdb records in file order, and the wildchars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assign {
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
    pub wildchars: Vec<u8>,
}

/// Parse `users/assign` as qmail-newu does. The file must end with a line
/// starting with `.`; every line before it needs a newline, a colon after
/// at least one byte, no NUL, and at least six more colons.
pub fn parse_assign(text: &[u8]) -> Result<Assign, AssignError> {
    let mut out = Assign::default();
    let mut rest = text;
    let mut lineno = 0;
    loop {
        lineno += 1;
        let err = AssignError { line: lineno };
        let (line, matched) = match rest.iter().position(|&b| b == b'\n') {
            Some(n) => {
                let l = &rest[..=n];
                rest = &rest[n + 1..];
                (l, true)
            }
            None => {
                let l = rest;
                rest = &[];
                (l, false)
            }
        };
        if line.first() == Some(&b'.') {
            break;
        }
        if !matched || line.contains(&0) {
            return Err(err);
        }
        let colon = match line.iter().position(|&b| b == b':') {
            Some(0) | None => return Err(err),
            Some(c) => c,
        };
        let mut key = Vec::with_capacity(colon + 1);
        key.push(b'!');
        key.extend_from_slice(&line[1..colon]);
        if line[0] == b'+' {
            key.make_ascii_lowercase();
            if colon >= 2 && !out.wildchars.contains(&line[colon - 1]) {
                out.wildchars.push(line[colon - 1]);
            }
        } else {
            key.push(0);
            key.make_ascii_lowercase();
        }
        // The data runs to the sixth colon, each colon becoming a NUL.
        let data = &line[colon + 1..];
        let mut colons = 0;
        let mut end = None;
        for (i, &b) in data.iter().enumerate() {
            if b == b':' {
                colons += 1;
                if colons == 6 {
                    end = Some(i);
                    break;
                }
            }
        }
        let end = end.ok_or(err)?;
        let value = data[..end]
            .iter()
            .map(|&b| if b == b':' { 0 } else { b })
            .collect();
        out.records.push((key, value));
    }
    Ok(out)
}

/// Write the compiled table to the cdb at `tmp` (then fsync it); the
/// caller renames it into place.
pub fn write_cdb(assign: &Assign, tmp: &Path) -> io::Result<()> {
    let file = std::fs::File::create(tmp)?;
    let mut w = cdb::CDBMake::new(file.try_clone()?)?;
    for (k, v) in &assign.records {
        w.add(k, v)?;
    }
    w.add(b"", &assign.wildchars)?;
    w.finish()?;
    file.sync_all()
}

/// The delivery fields for `local` from `users/cdb`, as qmail-lspawn finds
/// them: `user\0uid\0gid\0home\0dash\0ext\0`, where a wildcard match has
/// the rest of the local part (in its original case) appended to `ext`.
/// `Ok(None)`: no cdb, or no entry (qmail-lspawn then asks qmail-getpw).
/// A cdb without the wildchars record is an error, as in qmail.
pub fn lookup(cdb_path: &Path, local: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let db = match cdb::CDB::open(cdb_path) {
        Ok(db) => db,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let find = |key: &[u8]| -> io::Result<Option<Vec<u8>>> { db.find(key).next().transpose() };
    let wildchars = find(b"")?
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "users/cdb has no wildchars"))?;
    let mut lower = Vec::with_capacity(local.len() + 2);
    lower.push(b'!');
    lower.extend_from_slice(local);
    lower.push(0);
    lower.make_ascii_lowercase();
    let mut i = lower.len();
    let mut wild = false;
    while i > 0 {
        if (!wild || i == 1 || wildchars.contains(&lower[i - 1]))
            && let Some(mut data) = find(&lower[..i])?
        {
            if wild {
                data.extend_from_slice(&local[i - 1..]);
            }
            data.push(0);
            return Ok(Some(data));
        }
        i -= 1;
        wild = true;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSIGN: &[u8] = b"=Joe:joe:1001:100:/home/joe:::\n\
        +joe-:joe:1001:100:/home/joe:-::\n\
        +:alias:7790:2108:/var/qmail/alias:-::\n\
        .\n";

    #[test]
    fn assign_compiles_to_qmails_records() {
        let a = parse_assign(ASSIGN).unwrap();
        assert_eq!(a.wildchars, b"-");
        assert_eq!(a.records[0].0, b"!joe\0");
        assert_eq!(a.records[0].1, b"joe\x001001\x00100\x00/home/joe\0\0");
        assert_eq!(a.records[1].0, b"!joe-");
        assert_eq!(a.records[1].1, b"joe\x001001\x00100\x00/home/joe\0-\0");
        assert_eq!(a.records[2].0, b"!");
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        assert_eq!(parse_assign(b"").unwrap_err().line, 1);
        assert_eq!(parse_assign(b"=a:b:1:2:/h:::\n").unwrap_err().line, 2);
        assert_eq!(parse_assign(b"\n.\n").unwrap_err().line, 1);
        assert_eq!(parse_assign(b":x:1:2:/h:::\n.\n").unwrap_err().line, 1);
        assert_eq!(parse_assign(b"=a:b:1:2:/h::\n.\n").unwrap_err().line, 1);
        assert_eq!(parse_assign(b"=a:b\0:1:2:/h:::\n.\n").unwrap_err().line, 1);
        // The final dot line needs no newline.
        assert!(parse_assign(b"=a:b:1:2:/h:::\n.").is_ok());
    }

    #[test]
    fn lookup_prefers_exact_then_longest_wildcard() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cdb");
        assert_eq!(lookup(&p, b"joe").unwrap(), None);
        write_cdb(&parse_assign(ASSIGN).unwrap(), &p).unwrap();
        assert_eq!(
            lookup(&p, b"JOE").unwrap().unwrap(),
            b"joe\x001001\x00100\x00/home/joe\0\0\0"
        );
        assert_eq!(
            lookup(&p, b"joe-Lists").unwrap().unwrap(),
            b"joe\x001001\x00100\x00/home/joe\0-\0Lists\0"
        );
        assert_eq!(
            lookup(&p, b"Nobody").unwrap().unwrap(),
            b"alias\x007790\x002108\x00/var/qmail/alias\0-\0Nobody\0"
        );
    }

    #[test]
    fn lookup_without_catch_all_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cdb");
        write_cdb(&parse_assign(b"=joe:joe:1:1:/h:::\n.\n").unwrap(), &p).unwrap();
        assert_eq!(lookup(&p, b"joe-x").unwrap(), None);
        assert!(lookup(&p, b"joe").unwrap().is_some());
    }
}
