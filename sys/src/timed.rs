//! Reads and writes on a descriptor that give up after a timeout
//! (qmail's `timeoutread` and `timeoutwrite`), so a client that stalls
//! cannot hold a server forever: the one copy for qmail-smtpd,
//! qmail-pop3d, qmail-popup, qmail-qmtpd, qmail-qmqpd and qmail-qmqpc.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Wait until `fd` is ready for `flags`; `Ok(false)` at the deadline.
pub fn wait(fd: BorrowedFd<'_>, flags: PollFlags, deadline: Instant) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let t = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd, flags)];
        match poll(&mut fds, t) {
            Ok(0) => continue,
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Read into `buf`: `Ok(0)` at EOF, `TimedOut` when nothing came in time.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        if !wait(fd, PollFlags::POLLIN, deadline)? {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match nix::unistd::read(fd, buf) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// One write that cannot block once `poll` said the descriptor is
/// writable: a socket is written with `MSG_DONTWAIT` (and `MSG_NOSIGNAL`:
/// a closed peer is an `EPIPE` error, not a signal), anything else (a
/// pipe) at most `PIPE_BUF` bytes, which a writable pipe always takes
/// whole. A plain blocking write of a large buffer would wait until all
/// of it is gone, past any timeout, for a client that stopped reading.
fn write_some(fd: BorrowedFd<'_>, buf: &[u8]) -> nix::Result<usize> {
    use nix::sys::socket::{MsgFlags, send};
    use std::os::fd::AsRawFd;
    match send(
        fd.as_raw_fd(),
        buf,
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
    ) {
        Err(Errno::ENOTSOCK) => nix::unistd::write(fd, &buf[..buf.len().min(libc::PIPE_BUF)]),
        r => r,
    }
}

/// Write all of `buf`, each write waiting at most `timeout`.
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8], timeout: Duration) -> io::Result<()> {
    while !buf.is_empty() {
        if !wait(fd, PollFlags::POLLOUT, Instant::now() + timeout)? {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match write_some(fd, buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR | Errno::EAGAIN) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_silent_peer_times_out_and_a_closed_one_reads_eof() {
        let (r, w) = std::io::pipe().unwrap();
        let mut buf = [0u8; 8];
        let e = read(r.as_fd(), &mut buf, Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        write_all(w.as_fd(), b"hi", Duration::from_secs(5)).unwrap();
        assert_eq!(
            read(r.as_fd(), &mut buf, Duration::from_secs(5)).unwrap(),
            2
        );
        drop(w);
        assert_eq!(
            read(r.as_fd(), &mut buf, Duration::from_secs(5)).unwrap(),
            0
        );
    }

    #[test]
    fn a_socket_peer_that_stops_reading_times_out_the_writer() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let big = vec![0u8; 8 << 20];
        let e = write_all(a.as_fd(), &big, Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_full_pipe_times_out_the_writer() {
        let (_r, w) = std::io::pipe().unwrap();
        let big = vec![0u8; 1 << 20];
        let e = write_all(w.as_fd(), &big, Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
