//! The process around a [`Session`]: qmail-smtpd's `main`. The client is
//! on fd 0 (read) and fd 1 (write), as tcpserver and tcp-env arrange;
//! every read and every write waits at most timeoutsmtpd seconds.
//!
//! Startup, as qmail: chdir to the qmail home (failing with `421 unable to
//! read controls`), read the control files (same reply on failure), list
//! this host's addresses (`421 unable to figure out my IP addresses`),
//! greet. Then: write what the session has to say, read when it needs
//! more, until it is done. EOF or a read error ends the process with exit
//! 1 and no reply; so does a write error or write timeout. A read timeout
//! is answered `451 timeout (#4.4.2)`.
//!
//! When `control/rcpthosts` is missing (and `ALLOW_OPEN_RELAY=1` is not
//! set) a session without RELAYCLIENT refuses every recipient; it says so
//! in one line on stderr (the log under tcpserver), so the admin learns
//! why mail is refused.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use control::Home;

use crate::config::{Config, Peer, process_env};
use crate::reply;
use crate::session::{QmailQueue, Session};

/// Bytes read from the client at a time.
const READ_SIZE: usize = 64 * 1024;

/// This host's addresses (qmail's `ipme`, the rule in [`sys::ipme`]).
pub fn ipme() -> io::Result<Vec<IpAddr>> {
    Ok(sys::ipme::IpMe::load()?.addrs().collect())
}

/// Wait until `fd` is ready for `flags`, at most until `deadline`.
/// `Ok(false)` on timeout.
fn wait(fd: BorrowedFd<'_>, flags: PollFlags, deadline: Instant) -> io::Result<bool> {
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

/// What reading from the client gave.
enum Read {
    Bytes(usize),
    Eof,
    Timeout,
}

fn read_timeout(fd: BorrowedFd<'_>, buf: &mut [u8], timeout: Duration) -> io::Result<Read> {
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
fn write_timeout(fd: BorrowedFd<'_>, mut buf: &[u8], timeout: Duration) -> io::Result<()> {
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

/// A fatal startup reply, written with qmail's default timeout.
fn die(text: &[u8]) -> i32 {
    let out = io::stdout();
    let _ = write_timeout(
        out.as_fd(),
        text,
        Duration::from_secs(crate::config::DEFAULT_TIMEOUT),
    );
    1
}

/// One line for the log on fd 2, unless fd 2 is the client's connection
/// too (inetd and xinetd give the socket as fds 0, 1 and 2), where the
/// line would reach the client instead.
fn warn(line: &[u8]) {
    use nix::sys::stat::fstat;
    let same = |a: &libc::stat, b: &libc::stat| a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    if let (Ok(out), Ok(err)) = (fstat(io::stdout().as_fd()), fstat(io::stderr().as_fd()))
        && same(&out, &err)
    {
        return;
    }
    let _ = io::Write::write_all(&mut io::stderr(), line);
}

fn now() -> i64 {
    control::datetime::now_secs()
}

/// Run qmail-smtpd on fds 0 and 1; returns the exit code.
pub fn run() -> i32 {
    let home = Home::from_env();
    let home = Home::new(std::path::absolute(home.root()).unwrap_or_else(|_| home.root().into()));
    if std::env::set_current_dir(home.root()).is_err() {
        return die(reply::CONTROLS);
    }
    let mut cfg = match Config::load(&home, &process_env) {
        Ok(c) => c,
        Err(_) => return die(reply::CONTROLS),
    };
    cfg.ipme = match ipme() {
        Ok(ips) => ips,
        Err(_) => return die(reply::IPME),
    };
    let timeout = Duration::from_secs(cfg.timeout);
    let peer = Peer::from_env(&process_env);
    if cfg.rcpthosts.refuses_all() && peer.relay_client.is_none() {
        warn(reply::NO_RCPTHOSTS_LOG);
    }
    // Never dropped: like qmail's _exit, leaving does not wait for a
    // qmail-queue that is still reading an unfinished message.
    let mut session = std::mem::ManuallyDrop::new(Session::new(cfg, peer, QmailQueue(home), now));

    let stdin = io::stdin();
    let stdout = io::stdout();
    let (rfd, wfd) = (stdin.as_fd(), stdout.as_fd());
    let mut buf = vec![0u8; READ_SIZE];
    let (mut start, mut end) = (0, 0);
    loop {
        let out = session.take_output();
        if !out.is_empty() && write_timeout(wfd, &out, timeout).is_err() {
            return 1;
        }
        if let Some(exit) = session.done() {
            return exit.code();
        }
        if start == end {
            match read_timeout(rfd, &mut buf, timeout) {
                Ok(Read::Bytes(n)) => (start, end) = (0, n),
                Ok(Read::Timeout) => {
                    session.timeout();
                    continue;
                }
                Ok(Read::Eof) | Err(_) => return 1,
            }
        }
        start += session.feed(&buf[start..end]);
    }
}
