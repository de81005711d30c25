//! qmail-newu: compile `users/assign` into `users/cdb` (qmail-newu.8).
//!
//! The new cdb is written to `users/cdb.tmp`, fsynced and renamed over
//! `users/cdb`, so qmail-lspawn sees the old table or the new one, never a
//! half-written file.

use std::path::Path;

use control::users;

/// Why qmail-newu stopped; every case exits 111 with qmail's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewuError {
    Chdir,
    OpenAssign,
    ReadAssign,
    Format(usize),
    WriteTemp,
    Rename,
}

impl NewuError {
    /// qmail-newu's message (the line number is our addition).
    pub fn text(&self) -> String {
        match self {
            NewuError::Chdir => "qmail-newu: fatal: unable to chdir".into(),
            NewuError::OpenAssign => "qmail-newu: fatal: unable to open users/assign".into(),
            NewuError::ReadAssign => "qmail-newu: fatal: unable to read users/assign".into(),
            NewuError::Format(n) => {
                format!("qmail-newu: fatal: bad format in users/assign (line {n})")
            }
            NewuError::WriteTemp => "qmail-newu: fatal: unable to write users/cdb.tmp".into(),
            NewuError::Rename => {
                "qmail-newu: fatal: unable to move users/cdb.tmp to users/cdb".into()
            }
        }
    }
}

/// Rebuild `root/users/cdb` from `root/users/assign`.
pub fn run(root: &Path) -> Result<(), NewuError> {
    if !root.is_dir() {
        return Err(NewuError::Chdir);
    }
    let dir = root.join("users");
    let text = std::fs::read(dir.join("assign")).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound
            || e.kind() == std::io::ErrorKind::PermissionDenied
        {
            NewuError::OpenAssign
        } else {
            NewuError::ReadAssign
        }
    })?;
    let table = users::parse_assign(&text).map_err(|e| NewuError::Format(e.line))?;
    let tmp = dir.join("cdb.tmp");
    users::write_cdb(&table, &tmp).map_err(|_| NewuError::WriteTemp)?;
    std::fs::rename(&tmp, dir.join("cdb")).map_err(|_| NewuError::Rename)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_cdb_and_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(run(dir.path()), Err(NewuError::OpenAssign));
        std::fs::create_dir(dir.path().join("users")).unwrap();
        std::fs::write(dir.path().join("users/assign"), "=joe:joe:5:5:/h:::\n.\n").unwrap();
        run(dir.path()).unwrap();
        let got = users::lookup(&dir.path().join("users/cdb"), b"joe").unwrap();
        assert_eq!(got.unwrap(), b"joe\x005\x005\x00/h\0\0\0");
        std::fs::write(dir.path().join("users/assign"), "=joe:joe:5:5:/h:::\n").unwrap();
        assert_eq!(run(dir.path()), Err(NewuError::Format(2)));
        // The old cdb is still there.
        assert!(
            users::lookup(&dir.path().join("users/cdb"), b"joe")
                .unwrap()
                .is_some()
        );
    }
}
