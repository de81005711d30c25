//! Reading djb's cdb format, from a file (`pread`) or from memory.
//!
//! The walk is `cdb_findnext` of djb's cdb 0.75, step for step, with its
//! 32-bit arithmetic, so a corrupt or truncated file gives the same
//! answer as the original: any read outside the file is EPROTO
//! (`protocol error`). Nothing here can panic on hostile bytes.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

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

/// Where a cdb's bytes come from.
pub trait Source {
    /// `len` bytes at `pos`, or EPROTO when they are not all in the file
    /// (`cdb_read`'s check).
    fn read(&mut self, pos: u32, len: u32) -> io::Result<&[u8]>;
}

/// `len` bytes of `b` at `pos`, with `cdb_read`'s bounds check.
fn slice_at(b: &[u8], pos: u32, len: u32) -> io::Result<&[u8]> {
    let (pos, len) = (pos as usize, len as usize);
    if pos > b.len() || b.len() - pos < len {
        return Err(proto());
    }
    Ok(&b[pos..pos + len])
}

impl Source for &[u8] {
    fn read(&mut self, pos: u32, len: u32) -> io::Result<&[u8]> {
        slice_at(self, pos, len)
    }
}

/// A cdb file read with `pread`: the first [`FileSource::FIRST`] bytes
/// (the 2048-byte header and, for the small files most sites have, the
/// whole cdb) in one read when opened, then a window of
/// [`FileSource::WINDOW`] bytes per hash-slot or record visit beyond
/// them. One lookup costs the open and a handful of small reads, with no
/// mapping to set up and tear down: measured cheaper than a mapping per
/// lookup (`examples/lookup_timing.rs` prints both).
#[derive(Debug)]
pub struct FileSource {
    file: File,
    /// The file's first bytes.
    head: Vec<u8>,
    /// The file ends within `head`.
    whole: bool,
    win: Vec<u8>,
    win_pos: u32,
}

impl FileSource {
    /// Bytes read when the file is opened.
    pub const FIRST: usize = 8192;

    /// Bytes read at once past the first ones: a run of hash slots, or a
    /// record's lengths, key and (usually) data.
    pub const WINDOW: usize = 512;

    /// Open `path` read-only (non-blocking, as djb's `open_read`) and read
    /// its first bytes. An empty file is EINVAL (`invalid argument`, as
    /// 0.88's tcprulescheck reports it); a short one fails with EPROTO
    /// only if a lookup needs bytes it does not have.
    pub fn open(path: &Path) -> io::Result<FileSource> {
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        let mut head = vec![0u8; Self::FIRST];
        // One read: a regular file gives all it has, so a short count
        // means the file ends there.
        let got = read_once(&file, &mut head, 0)?;
        if got == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        head.truncate(got);
        Ok(FileSource {
            file,
            whole: got < Self::FIRST,
            head,
            win: Vec::new(),
            win_pos: 0,
        })
    }
}

impl FileSource {
    /// The open file's fstat.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.file.metadata()
    }

    /// The open file (read only with `pread`, so its offset stays 0).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Source for FileSource {
    fn read(&mut self, pos: u32, len: u32) -> io::Result<&[u8]> {
        let (p, l) = (pos as usize, len as usize);
        if p + l <= self.head.len() {
            return Ok(&self.head[p..p + l]);
        }
        if self.whole {
            return Err(proto());
        }
        let w = self.win_pos as usize;
        if !(p >= w && p + l <= w + self.win.len()) {
            self.win.clear();
            self.win.resize(l.max(Self::WINDOW), 0);
            let got = match read_once(&self.file, &mut self.win, pos.into()) {
                Ok(n) => n,
                Err(e) => {
                    self.win.clear();
                    return Err(e);
                }
            };
            self.win.truncate(got);
            self.win_pos = pos;
            if got < l {
                return Err(proto());
            }
        }
        let off = p - self.win_pos as usize;
        Ok(&self.win[off..off + l])
    }
}

/// One `pread`, retried only when interrupted.
fn read_once(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, pos) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// A cdb read through a [`Source`].
#[derive(Debug)]
pub struct Cdb<S> {
    src: S,
}

impl<S: Source> Cdb<S> {
    /// Wrap a source. Nothing is checked until a lookup reads: djb's tools
    /// open any file and fail on the first bad read.
    pub fn new(src: S) -> Cdb<S> {
        Cdb { src }
    }

    /// The data of the first record whose key is `key`.
    pub fn find(&mut self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.find_hashed(key, hash(key))
    }

    /// [`Cdb::find`] with the key's hash already computed.
    pub fn find_hashed(&mut self, key: &[u8], h: u32) -> io::Result<Option<Vec<u8>>> {
        let Ok(klen) = u32::try_from(key.len()) else {
            return Ok(None);
        };
        let head = self.src.read(h.wrapping_shl(3) & 2047, 8)?;
        let hslots = unpack(&head[4..]);
        if hslots == 0 {
            return Ok(None);
        }
        let hpos = unpack(head);
        let end = hpos.wrapping_add(hslots.wrapping_shl(3));
        let mut kpos = hpos.wrapping_add(((h >> 8) % hslots).wrapping_shl(3));
        let mut tried = 0u32;
        while tried < hslots {
            let slot = self.src.read(kpos, 8)?;
            let (slot_hash, pos) = (unpack(slot), unpack(&slot[4..]));
            if pos == 0 {
                return Ok(None);
            }
            tried += 1;
            kpos = kpos.wrapping_add(8);
            if kpos == end {
                kpos = hpos;
            }
            if slot_hash == h {
                let rec = self.src.read(pos, 8)?;
                let (rklen, dlen) = (unpack(rec), unpack(&rec[4..]));
                if rklen == klen && self.src.read(pos.wrapping_add(8), klen)? == key {
                    let dpos = pos.wrapping_add(8).wrapping_add(klen);
                    return Ok(Some(self.src.read(dpos, dlen)?.to_vec()));
                }
            }
        }
        Ok(None)
    }
}

/// Every record of the cdb in `bytes`, in file order, as `(key, data)`;
/// stops with EPROTO at the first record that does not fit before the
/// hash tables.
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records {
        bytes,
        pos: 2048,
        end: None,
    }
}

/// Iterator over a cdb's records (see [`records`]).
#[derive(Debug)]
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: u32,
    end: Option<u32>,
}

impl<'a> Records<'a> {
    fn at(&self, pos: u32, len: u32) -> io::Result<&'a [u8]> {
        slice_at(self.bytes, pos, len)
    }

    fn step(&mut self) -> io::Result<Option<(&'a [u8], &'a [u8])>> {
        // The records end where table 0 begins.
        let end = match self.end {
            Some(e) => e,
            None => {
                let e = unpack(self.at(0, 4)?);
                self.end = Some(e);
                e
            }
        };
        if self.pos >= end {
            return Ok(None);
        }
        let head = self.at(self.pos, 8)?;
        let (klen, dlen) = (unpack(head), unpack(&head[4..]));
        let kpos = self.pos.checked_add(8).ok_or_else(proto)?;
        let dpos = kpos.checked_add(klen).ok_or_else(proto)?;
        let next = dpos.checked_add(dlen).ok_or_else(proto)?;
        if next > end {
            return Err(proto());
        }
        let key = self.at(kpos, klen)?;
        let data = self.at(dpos, dlen)?;
        self.pos = next;
        Ok(Some((key, data)))
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = io::Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
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
        let mut c = Cdb::new(&f[..]);
        assert_eq!(c.find(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(c.find(b"").unwrap().as_deref(), Some(&b"D\0"[..]));
        assert_eq!(c.find(b"b").unwrap().as_deref(), Some(&b""[..]));
        assert_eq!(c.find(b"c").unwrap(), None);
        let recs: Vec<_> = records(&f).map(Result::unwrap).collect();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[1], (&b"a"[..], &b"2"[..]));
    }

    #[test]
    fn an_empty_cdb_has_no_records() {
        let f = build(&[]);
        assert_eq!(f.len(), 2048);
        assert_eq!(Cdb::new(&f[..]).find(b"x").unwrap(), None);
        assert_eq!(records(&f).count(), 0);
    }

    #[test]
    fn truncated_files_are_protocol_errors() {
        let f = build(&[(b"127.0.0.1", b"x"), (b"", b"D\0")]);
        for cut in [0, 1, 100, 2047, 2048, 2060, f.len() - 1] {
            let mut c = Cdb::new(&f[..cut]);
            // Either a clean miss (the header entry read says no slots) or
            // EPROTO; never a panic.
            for key in [&b"127.0.0.1"[..], b"", b"zz"] {
                if let Err(e) = c.find(key) {
                    assert_eq!(e.raw_os_error(), Some(libc::EPROTO));
                }
            }
            let _ = records(&f[..cut]).count();
        }
        let e = Cdb::new(&f[..100]).find(b"127.0.0.1").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPROTO));
    }

    #[test]
    fn files_read_with_pread_agree_with_memory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.cdb");
        let mut recs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for i in 0..2000u32 {
            let data = vec![b'x'; (i as usize * 7) % 1500];
            recs.push((format!("k{i}").into_bytes(), data));
        }
        let mut m = CdbMake::new(std::io::Cursor::new(Vec::new()));
        for (k, d) in &recs {
            m.add(k, d).unwrap();
        }
        let f = m.finish().unwrap().into_inner();
        std::fs::write(&p, &f).unwrap();
        let mut file = Cdb::new(FileSource::open(&p).unwrap());
        let mut mem = Cdb::new(&f[..]);
        for (k, d) in recs.iter().step_by(7) {
            assert_eq!(file.find(k).unwrap().as_ref(), Some(d));
            assert_eq!(mem.find(k).unwrap().as_ref(), Some(d));
        }
        assert_eq!(file.find(b"nope").unwrap(), None);
        // Truncated and empty files fail as djb's reader does.
        for cut in [
            1usize,
            100,
            2048,
            3000,
            8191,
            8192,
            8193,
            9000,
            f.len() / 2,
            f.len() - 1,
        ] {
            std::fs::write(&p, &f[..cut]).unwrap();
            let mut file = Cdb::new(FileSource::open(&p).unwrap());
            let mut mem = Cdb::new(&f[..cut]);
            for (k, _) in recs.iter().step_by(97) {
                let a = file.find(k).map_err(|e| e.raw_os_error());
                let b = mem.find(k).map_err(|e| e.raw_os_error());
                assert_eq!(a, b, "cut {cut}");
            }
        }
        std::fs::write(&p, b"").unwrap();
        let e = FileSource::open(&p).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        let e = FileSource::open(dir.path()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
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
            let mut c = Cdb::new(&bytes[..]);
            for key in [&b"a"[..], b"", b"1.2.3.4"] {
                let _ = c.find(key);
            }
            let _ = records(&bytes).count();
        }
    }
}
