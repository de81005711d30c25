//! Reading djb's cdb format from bytes in memory (a mapped file).
//!
//! The walk is `cdb_findnext` of djb's cdb 0.75, step for step, with its
//! 32-bit arithmetic, so a corrupt or truncated file gives the same
//! answer as the original: any read outside the file is EPROTO
//! (`protocol error`). Nothing here can panic on hostile bytes.

use std::io;

/// djb's cdb hash: `h = 5381; h = (h * 33) ^ c` modulo 2^32.
pub fn hash(key: &[u8]) -> u32 {
    hash_from(5381, key)
}

/// Continue a cdb hash over more bytes, so keys sharing a prefix (the CIDR
/// bit strings) are hashed in one pass.
pub fn hash_from(mut h: u32, bytes: &[u8]) -> u32 {
    for &c in bytes {
        h = (h << 5).wrapping_add(h) ^ u32::from(c);
    }
    h
}

fn proto() -> io::Error {
    io::Error::from_raw_os_error(libc::EPROTO)
}

fn unpack(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A cdb held in memory.
#[derive(Debug, Clone, Copy)]
pub struct Cdb<'a> {
    bytes: &'a [u8],
}

impl<'a> Cdb<'a> {
    /// Wrap the bytes of a cdb file. Nothing is checked until a lookup
    /// reads: djb's tools open any file and fail on the first bad read.
    pub fn new(bytes: &'a [u8]) -> Cdb<'a> {
        Cdb { bytes }
    }

    /// `len` bytes at `pos`, or EPROTO when they are not all in the file
    /// (`cdb_read`'s check).
    fn read(&self, pos: u32, len: u32) -> io::Result<&'a [u8]> {
        let pos = pos as usize;
        let len = len as usize;
        let size = self.bytes.len();
        if pos > size || size - pos < len {
            return Err(proto());
        }
        Ok(&self.bytes[pos..pos + len])
    }

    /// The data of the first record whose key is `key`.
    pub fn find(&self, key: &[u8]) -> io::Result<Option<&'a [u8]>> {
        self.find_hashed(key, hash(key))
    }

    /// [`Cdb::find`] with the key's hash already computed.
    pub fn find_hashed(&self, key: &[u8], h: u32) -> io::Result<Option<&'a [u8]>> {
        let Ok(klen) = u32::try_from(key.len()) else {
            return Ok(None);
        };
        let head = self.read(h.wrapping_shl(3) & 2047, 8)?;
        let hslots = unpack(&head[4..]);
        if hslots == 0 {
            return Ok(None);
        }
        let hpos = unpack(head);
        let end = hpos.wrapping_add(hslots.wrapping_shl(3));
        let mut kpos = hpos.wrapping_add(((h >> 8) % hslots).wrapping_shl(3));
        let mut tried = 0u32;
        while tried < hslots {
            let slot = self.read(kpos, 8)?;
            let pos = unpack(&slot[4..]);
            if pos == 0 {
                return Ok(None);
            }
            tried += 1;
            kpos = kpos.wrapping_add(8);
            if kpos == end {
                kpos = hpos;
            }
            if unpack(slot) == h {
                let rec = self.read(pos, 8)?;
                if unpack(rec) == klen && self.read(pos.wrapping_add(8), klen)? == key {
                    let dlen = unpack(&rec[4..]);
                    return self
                        .read(pos.wrapping_add(8).wrapping_add(klen), dlen)
                        .map(Some);
                }
            }
        }
        Ok(None)
    }

    /// Every record in file order, as `(key, data)`; stops with EPROTO at
    /// the first record that does not fit before the hash tables.
    pub fn records(&self) -> Records<'a> {
        Records {
            cdb: *self,
            pos: 2048,
            end: None,
        }
    }
}

/// Iterator over a cdb's records (see [`Cdb::records`]).
#[derive(Debug)]
pub struct Records<'a> {
    cdb: Cdb<'a>,
    pos: u32,
    end: Option<u32>,
}

impl<'a> Iterator for Records<'a> {
    type Item = io::Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let step = |it: &mut Self| -> io::Result<Option<(&'a [u8], &'a [u8])>> {
            // The records end where table 0 begins.
            let end = match it.end {
                Some(e) => e,
                None => {
                    let e = unpack(it.cdb.read(0, 4)?);
                    it.end = Some(e);
                    e
                }
            };
            if it.pos >= end {
                return Ok(None);
            }
            let head = it.cdb.read(it.pos, 8)?;
            let (klen, dlen) = (unpack(head), unpack(&head[4..]));
            let kpos = it.pos.checked_add(8).ok_or_else(proto)?;
            let dpos = kpos.checked_add(klen).ok_or_else(proto)?;
            let next = dpos.checked_add(dlen).ok_or_else(proto)?;
            if next > end {
                return Err(proto());
            }
            let key = it.cdb.read(kpos, klen)?;
            let data = it.cdb.read(dpos, dlen)?;
            it.pos = next;
            Ok(Some((key, data)))
        };
        match step(self) {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => None,
            Err(e) => {
                // Stop after the first error.
                self.pos = u32::MAX;
                self.end = Some(0);
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdb_make::CdbMake;

    fn build(recs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut m = CdbMake::new(std::io::Cursor::new(Vec::new()));
        for (k, d) in recs {
            m.add(k, d).unwrap();
        }
        m.finish().unwrap().into_inner()
    }

    #[test]
    fn hash_matches_the_fixture() {
        assert_eq!(hash(b"127.0.0.1"), 0x5478120e);
        assert_eq!(hash(b""), 0x1505);
        assert_eq!(hash(b"bill@=host.example.com"), 0x68ac3e9a);
        assert_eq!(hash_from(hash(b"127."), b"0.0.1"), hash(b"127.0.0.1"));
    }

    #[test]
    fn first_record_wins_and_misses_are_none() {
        let f = build(&[(b"a", b"1"), (b"a", b"2"), (b"", b"D\0"), (b"b", b"")]);
        let c = Cdb::new(&f);
        assert_eq!(c.find(b"a").unwrap(), Some(&b"1"[..]));
        assert_eq!(c.find(b"").unwrap(), Some(&b"D\0"[..]));
        assert_eq!(c.find(b"b").unwrap(), Some(&b""[..]));
        assert_eq!(c.find(b"c").unwrap(), None);
        let recs: Vec<_> = c.records().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[1], (&b"a"[..], &b"2"[..]));
    }

    #[test]
    fn an_empty_cdb_has_no_records() {
        let f = build(&[]);
        assert_eq!(f.len(), 2048);
        let c = Cdb::new(&f);
        assert_eq!(c.find(b"x").unwrap(), None);
        assert_eq!(c.records().count(), 0);
    }

    #[test]
    fn truncated_files_are_protocol_errors() {
        let f = build(&[(b"127.0.0.1", b"x"), (b"", b"D\0")]);
        for cut in [0, 1, 100, 2047, 2048, 2060, f.len() - 1] {
            let c = Cdb::new(&f[..cut]);
            // Either a clean miss (the header entry read says no slots) or
            // EPROTO; never a panic.
            for key in [&b"127.0.0.1"[..], b"", b"zz"] {
                if let Err(e) = c.find(key) {
                    assert_eq!(e.raw_os_error(), Some(libc::EPROTO));
                }
            }
            let _ = c.records().count();
        }
        let e = Cdb::new(&f[..100]).find(b"127.0.0.1").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPROTO));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 12345;
        for len in [0usize, 8, 2048, 2100, 4096] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            let c = Cdb::new(&bytes);
            for key in [&b"a"[..], b"", b"1.2.3.4"] {
                let _ = c.find(key);
            }
            let _ = c.records().count();
        }
    }
}
