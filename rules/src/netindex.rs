//! Which network prefix lengths a cdb holds keys for, so a lookup can
//! skip the others.
//!
//! A client that matches no exact, dotted or host rule costs 32 extra key
//! probes for IPv4 (128 for IPv6), one per prefix length, because any
//! ucspi-tcp6 or `tcprules` file may hold a network of any length and the
//! cdb format cannot say which. A long-running process (tcpserver's
//! parent) can scan the file once with [`NetIndex::scan`] and hand the
//! index to [`crate::lookup_indexed`] for each connection: the lookup
//! still opens the file afresh, and uses the index only when the opened
//! file is the one scanned (same device, inode, size, mtime and ctime, as
//! fstat reports them); otherwise it tries every length, so a stale index
//! only costs time, never a wrong answer.
//!
//! The index over-approximates: any key of the right length starting
//! with `_` (or `^`) counts as a network of that length.

use std::fs::{File, Metadata};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The prefix lengths to try: bit n of `v4` for IPv4 /n (1 to 32), bit
/// n - 1 of `v6` for IPv6 /n (1 to 128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lengths {
    pub v4: u64,
    pub v6: u128,
}

impl Lengths {
    /// Every length: what a lookup without an index tries.
    pub const ALL: Lengths = Lengths {
        v4: u64::MAX,
        v6: u128::MAX,
    };

    /// None.
    pub const NONE: Lengths = Lengths { v4: 0, v6: 0 };

    /// Count a key.
    pub fn add_key(&mut self, key: &[u8]) {
        let n = key.len().wrapping_sub(1);
        match key.first() {
            Some(b'_') if (1..=32).contains(&n) => self.v4 |= 1 << n,
            Some(b'^') if (1..=128).contains(&n) => self.v6 |= 1 << (n - 1),
            _ => {}
        }
    }

    /// Whether to try the network key `key` (`_` or `^` and n characters).
    pub fn wants(&self, key: &[u8]) -> bool {
        let n = key.len().wrapping_sub(1);
        match key.first() {
            Some(b'_') => n < 64 && self.v4 & (1 << n) != 0,
            Some(b'^') => (1..=128).contains(&n) && self.v6 & (1 << (n - 1)) != 0,
            _ => true,
        }
    }
}

/// What identifies the file an index was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    fn of(m: &Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The network prefix lengths of one cdb file, and which file that was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetIndex {
    id: FileId,
    lengths: Lengths,
}

impl NetIndex {
    /// Read the keys of the cdb at `path` (one sequential pass over its
    /// records) and note the network lengths present.
    pub fn scan(path: &Path) -> io::Result<NetIndex> {
        Self::scan_file(&File::open(path)?)
    }

    /// [`NetIndex::scan`] of a file already open: the one a lookup has
    /// just opened, so the index is certainly of that file. Reads from the
    /// file's current offset, which must be 0 (lookups use `pread` and
    /// leave it there).
    pub fn scan_file(file: &File) -> io::Result<NetIndex> {
        let id = FileId::of(&file.metadata()?);
        let mut r = BufReader::with_capacity(1 << 16, file);
        let mut head = [0u8; 2048];
        r.read_exact(&mut head)?;
        let end = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let mut lengths = Lengths::NONE;
        let mut pos: u32 = 2048;
        let mut key = Vec::new();
        while pos < end {
            let mut rec = [0u8; 8];
            r.read_exact(&mut rec)?;
            let klen = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
            let dlen = u32::from_le_bytes([rec[4], rec[5], rec[6], rec[7]]);
            let bad = || io::Error::from_raw_os_error(libc::EPROTO);
            pos = pos
                .checked_add(8)
                .and_then(|p| p.checked_add(klen))
                .and_then(|p| p.checked_add(dlen))
                .filter(|&p| p <= end)
                .ok_or_else(bad)?;
            if (2..=129).contains(&klen) {
                key.resize(klen as usize, 0);
                r.read_exact(&mut key)?;
                lengths.add_key(&key);
                r.seek_relative(i64::from(dlen))?;
            } else {
                r.seek_relative(i64::from(klen) + i64::from(dlen))?;
            }
        }
        Ok(NetIndex { id, lengths })
    }

    /// The lengths to try in the file `opened` (its fstat): the index's,
    /// if it is the file scanned, else all.
    pub fn lengths_for(&self, opened: &Metadata) -> Lengths {
        if self.is_of(opened) {
            self.lengths
        } else {
            Lengths::ALL
        }
    }

    /// An index that knows only which file `m` is, with no lengths: a
    /// marker for "this file" (one whose scan failed), never for lookups.
    pub(crate) fn identity(m: &Metadata) -> NetIndex {
        NetIndex {
            id: FileId::of(m),
            lengths: Lengths::NONE,
        }
    }

    /// The index is of the file `opened` (its fstat).
    pub fn is_of(&self, opened: &Metadata) -> bool {
        FileId::of(opened) == self.id
    }

    /// The lengths found.
    pub fn lengths(&self) -> Lengths {
        self.lengths
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile_bytes;

    #[test]
    fn scan_finds_the_lengths_and_checks_identity() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.cdb");
        let text = b"10.0.0.0/8:deny\n192.168.1.0/24:allow\n2001:db8::/32:deny\n\
                     1.2.3.4:allow\n_x:allow\n:deny\n";
        std::fs::write(&p, compile_bytes(text).unwrap()).unwrap();
        let ix = NetIndex::scan(&p).unwrap();
        // /8, /24, and `_x` (a 0.88 key that looks like a /1: counted).
        assert_eq!(ix.lengths().v4, (1 << 8) | (1 << 24) | (1 << 1));
        assert_eq!(ix.lengths().v6, 1 << 31);
        let l = ix.lengths();
        assert!(l.wants(b"_00000000") && !l.wants(b"_0000000"));
        assert!(l.wants(b"1.2.3.4"));
        let same = File::open(&p).unwrap().metadata().unwrap();
        assert_eq!(ix.lengths_for(&same), ix.lengths());
        // Replaced by rename: a new inode, so every length again.
        let tmp = dir.path().join("r.tmp");
        std::fs::write(&tmp, compile_bytes(b":allow\n").unwrap()).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let new = File::open(&p).unwrap().metadata().unwrap();
        assert_eq!(ix.lengths_for(&new), Lengths::ALL);
    }

    #[test]
    fn scan_refuses_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.cdb");
        let good = compile_bytes(b"10.0.0.0/8:deny\n:allow\n").unwrap();
        for cut in [0, 100, 2048, 2060] {
            std::fs::write(&p, &good[..cut]).unwrap();
            assert!(NetIndex::scan(&p).is_err(), "cut {cut}");
        }
        std::fs::write(&p, compile_bytes(b"").unwrap()).unwrap();
        assert_eq!(NetIndex::scan(&p).unwrap().lengths(), Lengths::NONE);
    }
}
