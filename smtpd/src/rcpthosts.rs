//! Which recipient domains a client without RELAYCLIENT may use:
//! `control/rcpthosts` and `control/morercpthosts.cdb` (qmail's
//! `rcpthosts.c`).
//!
//! - No rcpthosts file: qmail allows every address (an open relay). We
//!   refuse every address instead, unless the admin asked for qmail's
//!   behaviour (`ALLOW_OPEN_RELAY=1`, see [`RcptHosts::allow_open_relay`]);
//!   morercpthosts.cdb is then not read either.
//! - An address without `@` is allowed (it later gets `@envnoathost`).
//! - Otherwise the domain after the last `@`, lowercased, is looked up
//!   whole and then as each suffix starting at a dot: `example.com`
//!   allows exactly that domain, `.example.com` its subdomains but not
//!   itself. First in rcpthosts, then in morercpthosts.cdb.
//!
//! qmail opens, maps and unmaps morercpthosts.cdb for every suffix of
//! every recipient, so a client can make it do that 441 times per RCPT
//! with a 440-label domain. Here the cdb is opened once and kept; one
//! `stat` per lookup notices a rebuilt file (a new inode, mtime or size,
//! as `qmail-newmrh`'s rename makes) and reopens it, so a new cdb still
//! applies at the next RCPT, as in qmail.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use control::{ConstMap, Home};

/// What identifies one version of the cdb file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    size: u64,
}

/// morercpthosts.cdb, opened at most once per version of the file.
struct More {
    path: PathBuf,
    /// The version last looked at and its open database; `None` inside
    /// means the file does not exist (or is an empty cdb).
    open: Option<(Option<Stamp>, Option<cdb::CDB>)>,
    opens: u64,
}

/// The size of a cdb without records: just its 256 table pointers. The
/// cdb crate refuses a file this small, but it is a valid, empty cdb.
const EMPTY_CDB: u64 = 2048;

impl More {
    fn new(path: PathBuf) -> More {
        More {
            path,
            open: None,
            opens: 0,
        }
    }

    /// The database as the file now is: one stat, and an open when the
    /// file changed since the last call.
    fn current(&mut self) -> io::Result<Option<&cdb::CDB>> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(m) => Some(Stamp {
                dev: m.dev(),
                ino: m.ino(),
                mtime: m.mtime(),
                mtime_nsec: m.mtime_nsec(),
                size: m.size(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let fresh = matches!(&self.open, Some((s, _)) if *s == stamp);
        if !fresh {
            // Forget the old version first: a failed open must not
            // leave it in use.
            self.open = None;
            let db = match stamp {
                None => None,
                Some(s) if s.size == EMPTY_CDB => None,
                Some(_) => {
                    self.opens += 1;
                    match cdb::CDB::open(&self.path) {
                        Ok(db) => Some(db),
                        // Removed between the stat and the open.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                        Err(e) => return Err(e),
                    }
                }
            };
            self.open = Some((stamp, db));
        }
        Ok(self.open.as_ref().and_then(|(_, db)| db.as_ref()))
    }
}

impl Clone for More {
    /// A copy opens the file again on its first lookup.
    fn clone(&self) -> More {
        More::new(self.path.clone())
    }
}

impl std::fmt::Debug for More {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("More")
            .field("path", &self.path)
            .field("open", &self.open.as_ref().map(|(s, db)| (s, db.is_some())))
            .finish()
    }
}

/// The allowed recipient domains.
#[derive(Debug, Clone)]
pub struct RcptHosts {
    /// `None`: rcpthosts does not exist.
    map: Option<ConstMap>,
    /// Without rcpthosts, allow everything (qmail's default).
    open_relay: bool,
    more: More,
}

impl RcptHosts {
    /// From the entries of rcpthosts (`None` when it does not exist, and
    /// then every address with a domain is refused) and the path of
    /// morercpthosts.cdb.
    pub fn new(entries: Option<Vec<Vec<u8>>>, more: PathBuf) -> RcptHosts {
        RcptHosts {
            map: entries.map(|e| ConstMap::from_list(&e)),
            open_relay: false,
            more: More::new(more),
        }
    }

    /// With `yes` and no rcpthosts file, allow every address, as qmail
    /// does.
    pub fn allow_open_relay(mut self, yes: bool) -> RcptHosts {
        self.open_relay = yes;
        self
    }

    /// Read `control/rcpthosts` of `home`.
    pub fn load(home: &Home) -> io::Result<RcptHosts> {
        Ok(RcptHosts::new(
            home.list("rcpthosts")?,
            home.control("morercpthosts.cdb"),
        ))
    }

    /// rcpthosts exists, so some domains are accepted and others not
    /// (without it, either all are refused or all accepted).
    pub fn restricted(&self) -> bool {
        self.map.is_some()
    }

    /// rcpthosts does not exist, so every recipient is refused.
    pub fn refuses_all(&self) -> bool {
        self.map.is_none() && !self.open_relay
    }

    /// How many times morercpthosts.cdb was opened (for tests).
    pub fn cdb_opens(&self) -> u64 {
        self.more.opens
    }

    /// `addr` may be accepted from a client without RELAYCLIENT. An error
    /// means morercpthosts.cdb could not be read.
    pub fn allows(&mut self, addr: &[u8]) -> io::Result<bool> {
        let Some(map) = &self.map else {
            return Ok(self.open_relay);
        };
        let Some(at) = addr.iter().rposition(|&b| b == b'@') else {
            return Ok(true);
        };
        let host = addr[at + 1..].to_ascii_lowercase();
        let suffixes = || {
            (0..host.len())
                .filter(|&j| j == 0 || host[j] == b'.')
                .map(|j| &host[j..])
        };
        if suffixes().any(|s| map.contains(s)) {
            return Ok(true);
        }
        let Some(db) = self.more.current()? else {
            return Ok(false);
        };
        for s in suffixes() {
            match db.find(s).next() {
                None => {}
                Some(Ok(_)) => return Ok(true),
                Some(Err(e)) => return Err(e),
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str], more: PathBuf) -> RcptHosts {
        RcptHosts::new(
            Some(list.iter().map(|s| s.as_bytes().to_vec()).collect()),
            more,
        )
    }

    fn write_cdb(p: &std::path::Path, keys: &[&[u8]]) {
        // Written aside and renamed, as qmail-newmrh does: a new inode.
        let tmp = p.with_extension("tmp");
        let mut w = cdb::CDBWriter::create(tmp.display().to_string()).unwrap();
        for k in keys {
            w.add(k, b"").unwrap();
        }
        w.finish().unwrap();
        std::fs::rename(&tmp, p).unwrap();
    }

    #[test]
    fn exact_and_dot_entries() {
        let mut h = hosts(&["example.com", ".sub.example.net"], "/nonexistent".into());
        assert!(h.allows(b"joe@example.com").unwrap());
        assert!(h.allows(b"joe@EXAMPLE.Com").unwrap());
        assert!(!h.allows(b"joe@a.example.com").unwrap());
        assert!(h.allows(b"joe@a.sub.example.net").unwrap());
        assert!(h.allows(b"joe@b.a.sub.example.net").unwrap());
        assert!(!h.allows(b"joe@sub.example.net").unwrap());
        assert!(!h.allows(b"joe@example.com.").unwrap());
        assert!(!h.allows(b"joe@").unwrap());
        assert!(h.allows(b"joe").unwrap());
        assert!(h.allows(b"").unwrap());
        assert!(!h.allows(b"joe@example.com@victim.org").unwrap());
    }

    #[test]
    fn a_bare_tld_entry_does_not_cover_its_domains() {
        let mut h = hosts(&["com"], "/nonexistent".into());
        assert!(!h.allows(b"joe@x.com").unwrap());
        let mut h = hosts(&[".com"], "/nonexistent".into());
        assert!(h.allows(b"joe@x.com").unwrap());
    }

    #[test]
    fn no_file_refuses_everything_unless_asked_to_be_open() {
        let mut h = RcptHosts::new(None, "/nonexistent".into());
        assert!(!h.allows(b"joe@anywhere.example").unwrap());
        assert!(!h.allows(b"joe").unwrap());
        assert!(!h.restricted());
        assert!(h.refuses_all());
        let mut h = h.allow_open_relay(true);
        assert!(h.allows(b"joe@anywhere.example").unwrap());
        assert!(!h.restricted());
        assert!(!h.refuses_all());
        // With the file, the setting changes nothing.
        let mut h = hosts(&["example.com"], "/nonexistent".into()).allow_open_relay(true);
        assert!(!h.allows(b"joe@anywhere.example").unwrap());
        assert!(h.restricted());
    }

    #[test]
    fn morercpthosts_cdb() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("morercpthosts.cdb");
        write_cdb(&p, &[b"more.example", b".deep.example"]);
        let mut h = hosts(&["example.com"], p.clone());
        assert!(h.allows(b"joe@More.Example").unwrap());
        assert!(h.allows(b"joe@x.deep.example").unwrap());
        assert!(!h.allows(b"joe@deep.example").unwrap());
        assert!(!h.allows(b"joe@other.example").unwrap());
        // A cdb that cannot be read is an error, not a refusal.
        std::fs::write(&p, b"short").unwrap();
        assert!(h.allows(b"joe@other.example").is_err());
        // An empty cdb (2048 bytes of table pointers) holds nothing.
        std::fs::write(&p, [0u8; 2048]).unwrap();
        assert!(!h.allows(b"joe@more.example").unwrap());
    }

    #[test]
    fn the_cdb_is_opened_once_and_again_when_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("morercpthosts.cdb");
        let mut h = hosts(&["example.com"], p.clone());
        // Missing: nothing to open.
        assert!(!h.allows(b"joe@more.example").unwrap());
        assert_eq!(h.cdb_opens(), 0);
        write_cdb(&p, &[b"more.example"]);
        let deep = format!("joe@{}nowhere.example", "a.".repeat(440));
        for _ in 0..1000 {
            assert!(!h.allows(deep.as_bytes()).unwrap());
        }
        assert!(h.allows(b"joe@more.example").unwrap());
        assert_eq!(h.cdb_opens(), 1, "one open for 1001 lookups");
        // Rebuilt: the next lookup sees the new file.
        write_cdb(&p, &[b"new.example"]);
        assert!(h.allows(b"joe@new.example").unwrap());
        assert!(!h.allows(b"joe@more.example").unwrap());
        assert_eq!(h.cdb_opens(), 2);
        // Removed: refused, and back when it comes back.
        std::fs::remove_file(&p).unwrap();
        assert!(!h.allows(b"joe@new.example").unwrap());
        write_cdb(&p, &[b"new.example"]);
        assert!(h.allows(b"joe@new.example").unwrap());
    }
}
