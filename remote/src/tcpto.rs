//! Remembered connect timeouts: `queue/lock/tcpto` (qmail's `tcpto.c`).
//!
//! The file holds 64 records of 16 bytes: bytes 0–3 the address, byte 4
//! the count of timeouts (at most 10), bytes 8–11 the time of the last
//! one, little-endian. Only connect *timeouts* count (a refused
//! connection is a quick answer, not a dead host); a second timeout
//! within 120 s of the last is not counted; a connection that works
//! resets the count. An address with two or more is skipped for
//! `(60 + (pid & 31)) << 6` seconds (64–97 minutes) after its last
//! timeout, so a dead MX does not cost every delivery a full
//! `timeoutconnect`. When the table is full the record with the
//! smallest `time + count * 1024` is replaced. qmail-rspawn clears the
//! table when it starts; a missing file turns all of this off.
//!
//! IPv6: qmail's records hold IPv4 only. An IPv6 address is recorded
//! as a 32-bit hash of it in bytes 0–3, marked by byte 5 = 6 (byte 5 is
//! padding that qmail leaves zero), so IPv4 and IPv6 records never
//! match each other and IPv4 records stay exactly qmail's.
//!
//! Every access holds an exclusive `flock` on the file, as qmail's
//! `lock_ex`, so concurrent qmail-remotes do not lose updates.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};

const RECORD: usize = 16;
const FILE_SIZE: usize = 1024;
const V6_MARK: u8 = 6;

/// The table at one path, and what the last check found.
#[derive(Debug)]
pub struct Tcpto {
    path: PathBuf,
    was_there: bool,
    now: Option<u32>,
    pid: u32,
}

/// The 4-byte key and the family mark of an address.
fn key(ip: &IpAddr) -> ([u8; 4], u8) {
    match ip {
        IpAddr::V4(v4) => (v4.octets(), 0),
        IpAddr::V6(v6) => {
            // FNV-1a: stable across runs and machines, unlike std's
            // randomly keyed hasher.
            let mut h: u32 = 0x811c_9dc5;
            for b in v6.octets() {
                h ^= u32::from(b);
                h = h.wrapping_mul(0x0100_0193);
            }
            (h.to_le_bytes(), V6_MARK)
        }
    }
}

fn matches(record: &[u8], ip: &IpAddr) -> bool {
    let (k, mark) = key(ip);
    record[..4] == k && record[5] == mark
}

fn time_of(record: &[u8]) -> u32 {
    u32::from_le_bytes([record[8], record[9], record[10], record[11]])
}

impl Tcpto {
    /// The table at `path` (`QMAILHOME/queue/lock/tcpto`).
    pub fn new(path: PathBuf) -> Tcpto {
        Tcpto {
            path,
            was_there: false,
            now: None,
            pid: std::process::id(),
        }
    }

    /// For tests: a fixed clock and pid.
    pub fn with_clock(path: PathBuf, now: u32, pid: u32) -> Tcpto {
        Tcpto {
            path,
            was_there: false,
            now: Some(now),
            pid,
        }
    }

    fn now(&self) -> u32 {
        self.now.unwrap_or_else(now)
    }

    /// Open, lock and read the table; `None` when it cannot be used
    /// (qmail then carries on without it).
    fn load(&self) -> Option<(Flock<File>, Vec<u8>)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .ok()?;
        let mut file = Flock::lock(file, FlockArg::LockExclusive).ok()?;
        let mut buf = Vec::with_capacity(FILE_SIZE);
        (&mut *file)
            .take(FILE_SIZE as u64)
            .read_to_end(&mut buf)
            .ok()?;
        buf.truncate(buf.len() / RECORD * RECORD);
        if buf.is_empty() {
            return None;
        }
        Some((file, buf))
    }

    /// `ip` timed out recently and often enough to be skipped.
    pub fn is_down(&mut self, ip: &IpAddr) -> bool {
        self.was_there = false;
        let Some((_lock, buf)) = self.load() else {
            return false;
        };
        for record in buf.chunks(RECORD) {
            if matches(record, ip) {
                self.was_there = true;
                if record[4] >= 2 {
                    let when = time_of(record);
                    let hold = (60 + (self.pid & 31)) << 6;
                    return self.now().wrapping_sub(when) < hold;
                }
                return false;
            }
        }
        false
    }

    /// Record the outcome of a connection attempt to `ip`:
    /// `timed_out` after a connect timeout, false after a success.
    pub fn record(&mut self, ip: &IpAddr, timed_out: bool) {
        if !timed_out && !self.was_there {
            return;
        }
        let Some((mut file, mut buf)) = self.load() else {
            return;
        };
        let now = self.now();
        let n = buf.len() / RECORD;
        let write = |file: &mut Flock<File>, i: usize, record: &[u8]| {
            if file.seek(SeekFrom::Start((i * RECORD) as u64)).is_ok() {
                let _ = file.write_all(record);
            }
        };
        if let Some(i) = (0..n).find(|&i| matches(&buf[i * RECORD..][..RECORD], ip)) {
            let record = &mut buf[i * RECORD..][..RECORD];
            if !timed_out {
                record[4] = 0;
            } else {
                let last = time_of(record);
                if record[4] != 0 && now < last.wrapping_add(120) {
                    return;
                }
                record[4] = (record[4] + 1).min(10);
                record[8..12].copy_from_slice(&now.to_le_bytes());
            }
            let record = record.to_vec();
            write(&mut file, i, &record);
            return;
        }
        if !timed_out {
            return;
        }
        // A free slot, or the least valuable one.
        let slot = (0..n).find(|&i| buf[i * RECORD + 4] == 0).or_else(|| {
            (0..n).min_by_key(|&i| {
                let r = &buf[i * RECORD..][..RECORD];
                u64::from(time_of(r)) + (u64::from(r[4]) << 10)
            })
        });
        let Some(i) = slot else {
            return;
        };
        let (k, mark) = key(ip);
        let record = &mut buf[i * RECORD..][..RECORD];
        record[..4].copy_from_slice(&k);
        record[4] = 1;
        record[5] = mark;
        record[8..12].copy_from_slice(&now.to_le_bytes());
        let record = record.to_vec();
        write(&mut file, i, &record);
    }
}

/// qmail-tcpto's listing of `table` at time `now`: one line per record
/// with a nonzero count. IPv6 records show the hash that stands for
/// the address.
pub fn listing(table: &[u8], now: u32) -> String {
    let mut out = String::new();
    for record in table.chunks_exact(RECORD) {
        if record[4] == 0 {
            continue;
        }
        let who = if record[5] == V6_MARK {
            format!(
                "IPv6 #{:08x}",
                u32::from_le_bytes([record[0], record[1], record[2], record[3]])
            )
        } else {
            std::net::Ipv4Addr::new(record[0], record[1], record[2], record[3]).to_string()
        };
        out.push_str(&format!(
            "{who} timed out {} seconds ago; # recent timeouts: {}\n",
            now.wrapping_sub(time_of(record)),
            record[4]
        ));
    }
    out
}

/// Read the table at `path` under the lock (for qmail-tcpto).
pub fn read_table(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut file = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| e)?;
    let mut buf = Vec::with_capacity(FILE_SIZE);
    (&mut *file).take(FILE_SIZE as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Overwrite the table at `path` with zeros, in place and under the
/// lock (qmail-tcpok). The file must exist: it is a lock file others
/// hold open.
pub fn clear(path: &std::path::Path) -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    let mut file = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| e)?;
    file.write_all(&[0u8; FILE_SIZE])?;
    file.flush()
}

/// Now, as the table stores it.
pub fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tcpto");
        std::fs::write(&p, [0u8; FILE_SIZE]).unwrap();
        (dir, p)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn two_timeouts_two_minutes_apart_mark_a_host_down() {
        let (_d, p) = table();
        let a = ip("192.0.2.1");
        let mut t = Tcpto::with_clock(p.clone(), 1_000_000, 0);
        assert!(!t.is_down(&a));
        t.record(&a, true);
        assert!(!t.is_down(&a), "one timeout is not enough");
        // Within 120 s: not counted again.
        let mut t = Tcpto::with_clock(p.clone(), 1_000_060, 0);
        t.is_down(&a);
        t.record(&a, true);
        assert!(!t.is_down(&a));
        let mut t = Tcpto::with_clock(p.clone(), 1_000_200, 0);
        t.is_down(&a);
        t.record(&a, true);
        assert!(t.is_down(&a));
        // The record is qmail's: address, count, little-endian time.
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[..5], &[192, 0, 2, 1, 2]);
        assert_eq!(&bytes[8..12], &1_000_200u32.to_le_bytes());
        // Held for (60 + (pid & 31)) << 6 seconds.
        let hold = 60 << 6;
        let mut t = Tcpto::with_clock(p.clone(), 1_000_200 + hold - 1, 0);
        assert!(t.is_down(&a));
        let mut t = Tcpto::with_clock(p.clone(), 1_000_200 + hold, 0);
        assert!(!t.is_down(&a));
        let mut t = Tcpto::with_clock(p.clone(), 1_000_200 + hold, 31);
        assert!(t.is_down(&a), "a larger pid waits longer");
    }

    #[test]
    fn a_good_connection_resets_the_count() {
        let (_d, p) = table();
        let a = ip("192.0.2.1");
        for now in [1000, 2000] {
            let mut t = Tcpto::with_clock(p.clone(), now, 0);
            t.is_down(&a);
            t.record(&a, true);
        }
        let mut t = Tcpto::with_clock(p.clone(), 2001, 0);
        assert!(t.is_down(&a));
        t.record(&a, false);
        assert!(!t.is_down(&a));
        assert_eq!(std::fs::read(&p).unwrap()[4], 0);
    }

    #[test]
    fn ipv6_records_do_not_collide_with_ipv4() {
        let (_d, p) = table();
        let v6 = ip("2001:db8::25");
        let (k, _) = key(&v6);
        let v4 = IpAddr::V4(std::net::Ipv4Addr::from(k));
        for now in [1000, 2000] {
            let mut t = Tcpto::with_clock(p.clone(), now, 0);
            t.is_down(&v6);
            t.record(&v6, true);
        }
        let mut t = Tcpto::with_clock(p.clone(), 2001, 0);
        assert!(t.is_down(&v6));
        assert!(!t.is_down(&v4));
    }

    #[test]
    fn a_full_table_replaces_the_least_valuable_record() {
        let (_d, p) = table();
        for i in 0..64u32 {
            let mut t = Tcpto::with_clock(p.clone(), 10_000 + i, 0);
            t.record(&IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i)), true);
        }
        let mut t = Tcpto::with_clock(p.clone(), 20_000, 0);
        t.record(&ip("192.0.2.99"), true);
        let bytes = std::fs::read(&p).unwrap();
        // The oldest (10.0.0.0 at 10000) gave way.
        assert_eq!(&bytes[..4], &[192, 0, 2, 99]);
    }

    #[test]
    fn listing_and_clearing() {
        let (_d, p) = table();
        let mut t = Tcpto::with_clock(p.clone(), 5000, 0);
        t.record(&ip("192.0.2.1"), true);
        let mut t = Tcpto::with_clock(p.clone(), 5100, 0);
        t.record(&ip("2001:db8::1"), true);
        let buf = read_table(&p).unwrap();
        let (k, _) = key(&ip("2001:db8::1"));
        assert_eq!(
            listing(&buf, 5200),
            format!(
                "192.0.2.1 timed out 200 seconds ago; # recent timeouts: 1\n\
                 IPv6 #{:08x} timed out 100 seconds ago; # recent timeouts: 1\n",
                u32::from_le_bytes(k)
            )
        );
        clear(&p).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), vec![0u8; FILE_SIZE]);
        assert_eq!(listing(&read_table(&p).unwrap(), 0), "");
    }

    #[test]
    fn no_file_no_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Tcpto::new(dir.path().join("missing"));
        let a = ip("192.0.2.1");
        t.record(&a, true);
        assert!(!t.is_down(&a));
        assert!(!dir.path().join("missing").exists());
    }
}
