//! Which recipient domains a client without RELAYCLIENT may use:
//! `control/rcpthosts` and `control/morercpthosts.cdb` (qmail's
//! `rcpthosts.c`).
//!
//! - No rcpthosts file: every address is allowed (qmail's open-relay
//!   default; morercpthosts.cdb is then not read either).
//! - An address without `@` is allowed (it later gets `@envnoathost`).
//! - Otherwise the domain after the last `@`, lowercased, is looked up
//!   whole and then as each suffix starting at a dot: `example.com`
//!   allows exactly that domain, `.example.com` its subdomains but not
//!   itself. First in rcpthosts, then in morercpthosts.cdb (opened at
//!   each lookup, as qmail does, so a rebuilt cdb applies at once).

use std::io;
use std::path::PathBuf;

use control::{ConstMap, Home, cdb_contains};

/// The allowed recipient domains.
#[derive(Debug, Clone)]
pub struct RcptHosts {
    /// `None`: rcpthosts does not exist, so everything is allowed.
    map: Option<ConstMap>,
    more: PathBuf,
}

impl RcptHosts {
    /// From the entries of rcpthosts (`None` when it does not exist) and
    /// the path of morercpthosts.cdb.
    pub fn new(entries: Option<Vec<Vec<u8>>>, more: PathBuf) -> RcptHosts {
        RcptHosts {
            map: entries.map(|e| ConstMap::from_list(&e)),
            more,
        }
    }

    /// Read `control/rcpthosts` of `home`.
    pub fn load(home: &Home) -> io::Result<RcptHosts> {
        Ok(RcptHosts::new(
            home.list("rcpthosts")?,
            home.control("morercpthosts.cdb"),
        ))
    }

    /// rcpthosts exists, so relaying is restricted.
    pub fn restricted(&self) -> bool {
        self.map.is_some()
    }

    /// `addr` may be accepted from a client without RELAYCLIENT. An error
    /// means morercpthosts.cdb could not be read.
    pub fn allows(&self, addr: &[u8]) -> io::Result<bool> {
        let Some(map) = &self.map else {
            return Ok(true);
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
        for s in suffixes() {
            if cdb_contains(&self.more, s)? {
                return Ok(true);
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

    #[test]
    fn exact_and_dot_entries() {
        let h = hosts(&["example.com", ".sub.example.net"], "/nonexistent".into());
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
        let h = hosts(&["com"], "/nonexistent".into());
        assert!(!h.allows(b"joe@x.com").unwrap());
        let h = hosts(&[".com"], "/nonexistent".into());
        assert!(h.allows(b"joe@x.com").unwrap());
    }

    #[test]
    fn no_file_allows_everything() {
        let h = RcptHosts::new(None, "/nonexistent".into());
        assert!(h.allows(b"joe@anywhere.example").unwrap());
        assert!(!h.restricted());
    }

    #[test]
    fn morercpthosts_cdb() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("morercpthosts.cdb");
        let mut w = cdb::CDBWriter::create(p.display().to_string()).unwrap();
        w.add(b"more.example", b"").unwrap();
        w.add(b".deep.example", b"").unwrap();
        w.finish().unwrap();
        let h = hosts(&["example.com"], p.clone());
        assert!(h.allows(b"joe@More.Example").unwrap());
        assert!(h.allows(b"joe@x.deep.example").unwrap());
        assert!(!h.allows(b"joe@deep.example").unwrap());
        assert!(!h.allows(b"joe@other.example").unwrap());
        // A cdb that cannot be read is an error, not a refusal.
        std::fs::write(&p, b"short").unwrap();
        assert!(h.allows(b"joe@other.example").is_err());
    }
}
