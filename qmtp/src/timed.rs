//! Reads and writes on an fd that give up after a timeout, so a client
//! that stalls cannot hold a server (or qmail-qmqpc) forever.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// What a read gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Bytes(usize),
    Eof,
    Timeout,
}

/// One read, waiting at most `timeout`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8], timeout: Duration) -> io::Result<Read> {
    match sys::timed::read(fd, buf, timeout) {
        Ok(0) => Ok(Read::Eof),
        Ok(n) => Ok(Read::Bytes(n)),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(Read::Timeout),
        Err(e) => Err(e),
    }
}

/// Write all of `buf`, each write waiting at most `timeout`.
pub use sys::timed::write_all;
