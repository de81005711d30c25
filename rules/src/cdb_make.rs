//! Writing djb's cdb format, byte for byte as `cdb_make` (cdb 0.75, the
//! copy inside ucspi-tcp) writes it.
//!
//! Records go out in insertion order from offset 2048. At the end come
//! 256 hash tables, table `h & 255` holding twice as many slots as it has
//! records; each record, in insertion order, takes the first free slot
//! from `(h >> 8) mod slots` on. Then the 2048-byte header (position and
//! slot count of every table, an empty table pointing at the current end)
//! is written at offset 0. Nothing depends on time or memory layout, so
//! equal input gives equal bytes.
//!
//! The `cdb` crate's writer places slots the same way, but writes with
//! `write` rather than `write_all` (a short write would go unnoticed),
//! reports overflow as an unnamed error and cannot write to a buffer;
//! this writer keeps djb's errors (ENOMEM when the file would pass 4 GiB)
//! and is tested against the fixture and Debian's `tcprules`.

use std::io::{self, Seek, SeekFrom, Write};

use crate::cdb_read::hash;

fn too_big() -> io::Error {
    // cdb_make sets error_nomem when a position would pass 2^32.
    io::Error::from_raw_os_error(libc::ENOMEM)
}

/// A cdb being written to `out`.
#[derive(Debug)]
pub struct CdbMake<W: Write + Seek> {
    out: W,
    /// (hash, record position) in insertion order.
    slots: Vec<(u32, u32)>,
    pos: u32,
    started: bool,
}

impl<W: Write + Seek> CdbMake<W> {
    /// Start a cdb in `out`, which must be empty (a fresh or truncated
    /// file, an empty cursor).
    pub fn new(out: W) -> CdbMake<W> {
        CdbMake {
            out,
            slots: Vec::new(),
            pos: 2048,
            started: false,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            // cdb_make_start seeks past the header, written last.
            self.out.seek(SeekFrom::Start(2048))?;
            self.started = true;
        }
        Ok(())
    }

    /// Append one record.
    pub fn add(&mut self, key: &[u8], data: &[u8]) -> io::Result<()> {
        self.start()?;
        let klen = u32::try_from(key.len()).map_err(|_| too_big())?;
        let dlen = u32::try_from(data.len()).map_err(|_| too_big())?;
        let next = self
            .pos
            .checked_add(8)
            .and_then(|p| p.checked_add(klen))
            .and_then(|p| p.checked_add(dlen))
            .ok_or_else(too_big)?;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&klen.to_le_bytes());
        head[4..].copy_from_slice(&dlen.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(key)?;
        self.out.write_all(data)?;
        self.slots.push((hash(key), self.pos));
        self.pos = next;
        Ok(())
    }

    /// Write the hash tables and the header, flush, and give `out` back
    /// (the caller syncs and closes it).
    pub fn finish(mut self) -> io::Result<W> {
        self.start()?;
        let mut count = [0u32; 256];
        for &(h, _) in &self.slots {
            count[(h & 255) as usize] += 1;
        }
        // The records of each table, in insertion order (cdb_make's
        // `split` array).
        let mut start = [0usize; 257];
        for i in 0..256 {
            start[i + 1] = start[i] + count[i] as usize;
        }
        let mut split = vec![(0u32, 0u32); self.slots.len()];
        let mut fill = start;
        for &(h, p) in &self.slots {
            let b = (h & 255) as usize;
            split[fill[b]] = (h, p);
            fill[b] += 1;
        }
        let mut header = [0u8; 2048];
        let most = count.iter().copied().max().unwrap_or(0) as usize * 2;
        let mut table = vec![(0u32, 0u32); most];
        let mut buf = Vec::with_capacity(self.slots.len() * 16);
        for i in 0..256 {
            let len = count[i] * 2;
            header[i * 8..i * 8 + 4].copy_from_slice(&self.pos.to_le_bytes());
            header[i * 8 + 4..i * 8 + 8].copy_from_slice(&len.to_le_bytes());
            let t = &mut table[..len as usize];
            t.fill((0, 0));
            for &(h, p) in &split[start[i]..start[i + 1]] {
                let mut w = ((h >> 8) % len) as usize;
                while t[w].1 != 0 {
                    w += 1;
                    if w == t.len() {
                        w = 0;
                    }
                }
                t[w] = (h, p);
            }
            for &(h, p) in t.iter() {
                buf.extend_from_slice(&h.to_le_bytes());
                buf.extend_from_slice(&p.to_le_bytes());
                self.pos = self.pos.checked_add(8).ok_or_else(too_big)?;
            }
        }
        self.out.write_all(&buf)?;
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const FIXTURE: &[u8] = include_bytes!("../testdata/tcprules-sample.cdb");

    #[test]
    fn the_sample_cdb_comes_out_byte_for_byte() {
        // The records of tcprules-sample.cdb, in file order.
        let recs: Vec<(Vec<u8>, Vec<u8>)> = crate::cdb_read::records(FIXTURE)
            .map(|r| r.map(|(k, d)| (k.to_vec(), d.to_vec())))
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(recs.len(), 18);
        let mut m = CdbMake::new(Cursor::new(Vec::new()));
        for (k, d) in &recs {
            m.add(k, d).unwrap();
        }
        assert_eq!(m.finish().unwrap().into_inner(), FIXTURE);
    }

    #[test]
    fn empty_input_is_a_bare_header() {
        let f = CdbMake::new(Cursor::new(Vec::new()))
            .finish()
            .unwrap()
            .into_inner();
        assert_eq!(f.len(), 2048);
        for e in f.chunks(8) {
            assert_eq!(e, [0, 8, 0, 0, 0, 0, 0, 0]);
        }
    }

    #[test]
    fn the_cdb_crate_reads_what_we_write_and_writes_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.cdb");
        let mut recs = Vec::new();
        for i in 0..3000u32 {
            recs.push((
                format!("10.{}.{}.", i % 7, i).into_bytes(),
                i.to_le_bytes().to_vec(),
            ));
        }
        recs.push((b"dup".to_vec(), b"1".to_vec()));
        recs.push((b"dup".to_vec(), b"2".to_vec()));
        let mut m = CdbMake::new(Cursor::new(Vec::new()));
        let mut theirs = cdb::CDBMake::new(std::fs::File::create(&p).unwrap()).unwrap();
        for (k, d) in &recs {
            m.add(k, d).unwrap();
            theirs.add(k, d).unwrap();
        }
        theirs.finish().unwrap();
        let ours = m.finish().unwrap().into_inner();
        assert_eq!(std::fs::read(&p).unwrap(), ours);
        let db = cdb::CDB::open(&p).unwrap();
        for (k, _) in &recs[..10] {
            let first = recs.iter().find(|(k2, _)| k2 == k).unwrap();
            assert_eq!(db.get(k).unwrap().unwrap(), first.1);
        }
        assert_eq!(db.get(b"dup").unwrap().unwrap(), b"1");
    }
}
