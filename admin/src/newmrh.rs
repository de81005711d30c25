//! qmail-newmrh (qmail-newmrh.8): compile `control/morercpthosts` into
//! `control/morercpthosts.cdb`, which qmail-smtpd (smtpd's `rcpthosts`)
//! consults after rcpthosts. Keys are the lines lowercased with
//! trailing spaces and tabs removed, `#` comments and empty lines
//! skipped, data empty: qmail-smtpd looks up the lowercased domain and
//! its dot-suffixes. The cdb is written to `morercpthosts.tmp`, fsynced
//! and renamed into place, so qmail-smtpd sees the old table or the new
//! one.

use std::io;
use std::os::unix::fs::OpenOptionsExt;

use control::Home;

use crate::Fatal;

const FATAL: &str = "qmail-newmrh: fatal: ";

/// The keys of a morercpthosts file.
pub fn keys(text: &[u8]) -> Vec<Vec<u8>> {
    text.split(|&b| b == b'\n')
        .map(|l| {
            let mut l = l.to_ascii_lowercase();
            while matches!(l.last(), Some(b' ' | b'\t')) {
                l.pop();
            }
            l
        })
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .collect()
}

/// Rebuild the cdb in `home`.
pub fn run(home: &Home) -> Result<(), Fatal> {
    let sys =
        |what: &str, e: &io::Error| Fatal::new(111, format!("{FATAL}{what}: {}", sys::describe(e)));
    if !home.root().is_dir() {
        return Err(Fatal::new(
            111,
            format!(
                "{FATAL}unable to chdir to {}: file does not exist",
                home.root().display()
            ),
        ));
    }
    let text = std::fs::read(home.control("morercpthosts"))
        .map_err(|e| sys("unable to read control/morercpthosts", &e))?;
    let tmp = home.control("morercpthosts.tmp");
    let write_err = |e: &io::Error| sys("unable to write to control/morercpthosts.tmp", e);
    // 1.03 runs with umask 033: the cdb is readable by all (qmail-smtpd
    // runs as qmaild), writable only by its owner.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(|e| write_err(&e))?;
    let mut w = cdb::CDBMake::new(file.try_clone().map_err(|e| write_err(&e))?)
        .map_err(|e| write_err(&e))?;
    for k in keys(&text) {
        w.add(&k, b"").map_err(|e| write_err(&e))?;
    }
    w.finish().map_err(|e| write_err(&e))?;
    file.sync_all().map_err(|e| write_err(&e))?;
    drop(file);
    std::fs::rename(&tmp, home.control("morercpthosts.cdb")).map_err(|e| {
        sys(
            "unable to move control/morercpthosts.tmp to control/morercpthosts.cdb",
            &e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowercased_and_trimmed() {
        assert_eq!(
            keys(b"Example.COM  \n#comment\n\n.Sub.Example.net\t\nlast"),
            vec![
                b"example.com".to_vec(),
                b".sub.example.net".to_vec(),
                b"last".to_vec()
            ]
        );
    }

    #[test]
    fn builds_atomically_and_keeps_the_old_cdb_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        std::fs::create_dir(dir.path().join("control")).unwrap();
        let e = run(&home).unwrap_err();
        assert_eq!(
            e.text,
            "qmail-newmrh: fatal: unable to read control/morercpthosts: file does not exist"
        );
        std::fs::write(home.control("morercpthosts"), "A.example\n").unwrap();
        run(&home).unwrap();
        let cdb = home.control("morercpthosts.cdb");
        assert!(control::cdb_contains(&cdb, b"a.example").unwrap());
        assert!(!home.control("morercpthosts.tmp").exists());
    }
}
