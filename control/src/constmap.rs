//! Case-insensitive maps built from control lists (qmail's `constmap`),
//! and lookups in cdb files such as `morercpthosts.cdb`.

use std::collections::HashMap;
use std::io;
use std::path::Path;

/// A set or map from a control list; keys compare ASCII case-insensitively.
///
/// For a plain list (`rcpthosts`, `locals`) every value is empty. For a
/// `key:value` list (`virtualdomains`, `smtproutes`) the key ends at the
/// first colon; when a key appears twice the first entry wins, as in
/// qmail, which searches its table in file order.
#[derive(Debug, Default, Clone)]
pub struct ConstMap {
    map: HashMap<Vec<u8>, Vec<u8>>,
}

impl ConstMap {
    /// A set of the entries.
    pub fn from_list(entries: &[Vec<u8>]) -> ConstMap {
        let mut map = HashMap::with_capacity(entries.len());
        for e in entries {
            map.entry(e.to_ascii_lowercase()).or_insert_with(Vec::new);
        }
        ConstMap { map }
    }

    /// A map of `key:value` entries. An entry without a colon is skipped,
    /// as qmail's `constmap_init` does when it is given a split character.
    pub fn from_pairs(entries: &[Vec<u8>]) -> ConstMap {
        let mut map = HashMap::with_capacity(entries.len());
        for e in entries {
            if let Some(colon) = e.iter().position(|&b| b == b':') {
                map.entry(e[..colon].to_ascii_lowercase())
                    .or_insert_with(|| e[colon + 1..].to_vec());
            }
        }
        ConstMap { map }
    }

    /// The value for `key`, compared case-insensitively.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }

    /// `key` is in the map.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// `key` is a key of the cdb at `path`. A missing file is `Ok(false)`
/// (qmail ignores an absent `morercpthosts.cdb`); any other failure is an
/// error, so the caller can answer with a temporary failure.
pub fn cdb_contains(path: &Path, key: &[u8]) -> io::Result<bool> {
    let db = match cdb::CDB::open(path) {
        Ok(db) => db,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match db.find(key).next() {
        None => Ok(false),
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case() {
        let m = ConstMap::from_list(&[b"Example.COM".to_vec(), b".sub.example.com".to_vec()]);
        assert!(m.contains(b"example.com"));
        assert!(m.contains(b"EXAMPLE.com"));
        assert!(!m.contains(b"other.com"));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn pairs_split_at_the_first_colon_and_first_entry_wins() {
        let m = ConstMap::from_pairs(&[
            b"example.com:joe".to_vec(),
            b"EXAMPLE.com:later".to_vec(),
            b"relay.example:host:25".to_vec(),
            b"nocolon".to_vec(),
        ]);
        assert_eq!(m.get(b"example.com"), Some(&b"joe"[..]));
        assert_eq!(m.get(b"relay.example"), Some(&b"host:25"[..]));
        assert_eq!(m.get(b"nocolon"), None);
    }

    #[test]
    fn cdb_lookup_handles_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("more.cdb");
        assert!(!cdb_contains(&p, b"x").unwrap());
        let mut w = cdb::CDBWriter::create(p.display().to_string()).unwrap();
        w.add(b"example.net", b"").unwrap();
        w.finish().unwrap();
        assert!(cdb_contains(&p, b"example.net").unwrap());
        assert!(!cdb_contains(&p, b"example.org").unwrap());
    }
}
