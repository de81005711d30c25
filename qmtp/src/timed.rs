//! Reads and writes on an fd that give up after a timeout, so a client
//! that stalls cannot hold a server (or qmail-qmqpc) forever.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// What a read gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Bytes(usize),
    Eof,
    Timeout,
}

/// Wait for `flags` on `fd` until `deadline`; `Ok(false)` on timeout.
fn wait(fd: BorrowedFd<'_>, flags: PollFlags, deadline: Instant) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let t = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        match poll(&mut [PollFd::new(fd, flags)], t) {
            Ok(0) => continue,
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One read, waiting at most `timeout`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8], timeout: Duration) -> io::Result<Read> {
    let deadline = Instant::now() + timeout;
    loop {
        if !wait(fd, PollFlags::POLLIN, deadline)? {
            return Ok(Read::Timeout);
        }
        match nix::unistd::read(fd, buf) {
            Ok(0) => return Ok(Read::Eof),
            Ok(n) => return Ok(Read::Bytes(n)),
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Write all of `buf`, each write waiting at most `timeout`.
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8], timeout: Duration) -> io::Result<()> {
    while !buf.is_empty() {
        if !wait(fd, PollFlags::POLLOUT, Instant::now() + timeout)? {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match nix::unistd::write(fd, buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
