//! RFC 1413 ident lookups as ucspi-tcp's `remoteinfo.c` does them, for
//! TCPREMOTEINFO: connect from the local address to the client's port
//! 113, send `REMOTEPORT , LOCALPORT\r\n`, read one line. The value is
//! every byte after the third colon, with spaces, tabs and CRs dropped,
//! up to the newline or 257 bytes. A line with fewer colons gives an
//! empty value; a closed connection, refusal or timeout gives none.
//!
//! [`Reply`] is the sans-IO reader; [`Ident`] the non-blocking client the
//! poll loop drives, with one deadline for connect, write and read (`-t`).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::PollFlags;
use socket2::{Domain, Socket, Type};

/// The most bytes of a value kept; djb stops once more than 256 are in.
pub const TCPSERVER_MAX: usize = 256;

/// Reads an ident reply byte by byte.
#[derive(Debug)]
pub struct Reply {
    colons: u8,
    value: Vec<u8>,
    max: usize,
}

impl Default for Reply {
    fn default() -> Self {
        Reply::with_max(TCPSERVER_MAX)
    }
}

impl Reply {
    /// A reader that stops once the value is longer than `max` bytes
    /// (tcpserver: 256, so 257 are kept; qmail's tcp-env: 997, so 998).
    pub fn with_max(max: usize) -> Reply {
        Reply {
            colons: 0,
            value: Vec::new(),
            max,
        }
    }

    /// Feed received bytes; `Some(value)` once the reply is complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        for &ch in bytes {
            match ch {
                b' ' | b'\t' | b'\r' => continue,
                b'\n' => return Some(std::mem::take(&mut self.value)),
                _ => {}
            }
            if self.colons < 3 {
                if ch == b':' {
                    self.colons += 1;
                }
            } else {
                self.value.push(ch);
                if self.value.len() > self.max {
                    return Some(std::mem::take(&mut self.value));
                }
            }
        }
        None
    }
}

#[derive(Debug)]
enum Phase {
    Connecting,
    Writing(usize),
    Reading(Reply),
    Done(Option<Vec<u8>>),
}

/// One ident lookup in flight.
#[derive(Debug)]
pub struct Ident {
    sock: Option<Socket>,
    request: Vec<u8>,
    deadline: Instant,
    phase: Phase,
    max: usize,
}

fn plain(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn connect(local: IpAddr, remote: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(remote), Type::STREAM, None)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::new(local, 0).into())?;
    match s.connect(&remote.into()) {
        Ok(()) => Ok(s),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(s),
        Err(e) => Err(e),
    }
}

impl Ident {
    /// Ask the client at `remote` who owns its end of the connection
    /// between `remote` and `local`.
    pub fn start(local: SocketAddr, remote: SocketAddr, timeout: Duration, now: Instant) -> Ident {
        Ident::start_with_max(local, remote, timeout, now, TCPSERVER_MAX)
    }

    /// [`Ident::start`] with another length limit (see [`Reply::with_max`]).
    pub fn start_with_max(
        local: SocketAddr,
        remote: SocketAddr,
        timeout: Duration,
        now: Instant,
        max: usize,
    ) -> Ident {
        let request = format!("{} , {}\r\n", remote.port(), local.port()).into_bytes();
        let target = SocketAddr::new(plain(remote.ip()), 113);
        let (sock, phase) = match connect(plain(local.ip()), target) {
            Ok(s) => (Some(s), Phase::Connecting),
            Err(_) => (None, Phase::Done(None)),
        };
        Ident {
            sock,
            request,
            deadline: now + timeout,
            phase,
            max,
        }
    }

    /// The answer once known: `Some(None)` means TCPREMOTEINFO stays unset.
    pub fn result(&self) -> Option<Option<&[u8]>> {
        match &self.phase {
            Phase::Done(v) => Some(v.as_deref()),
            _ => None,
        }
    }

    /// The lookup has ended (answered, refused or timed out).
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done(_))
    }

    /// Take the value (once the lookup is done; `None` before, after a
    /// take, or when there is no value).
    pub fn take(&mut self) -> Option<Vec<u8>> {
        match &mut self.phase {
            Phase::Done(v) => v.take(),
            _ => None,
        }
    }

    /// The descriptor to poll and for what, while the lookup runs.
    pub fn interest(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        let sock = self.sock.as_ref()?;
        let ev = match self.phase {
            Phase::Connecting | Phase::Writing(_) => PollFlags::POLLOUT,
            Phase::Reading(_) => PollFlags::POLLIN,
            Phase::Done(_) => return None,
        };
        Some((sock.as_fd(), ev))
    }

    /// Wait for the answer (tcp-env, which has nothing else to do).
    pub fn finish_blocking(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.is_done() {
                return self.take();
            }
            let now = Instant::now();
            let wait = self.deadline.saturating_duration_since(now);
            if let Some((fd, ev)) = self.interest() {
                let mut fds = [nix::poll::PollFd::new(fd, ev)];
                let ms = wait.as_millis().min(60_000) as u16 + 1;
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
            }
            self.on_event(Instant::now());
        }
    }

    /// When [`Ident::on_event`] must be called even if nothing happened.
    pub fn deadline(&self) -> Option<Instant> {
        (!self.is_done()).then_some(self.deadline)
    }

    fn done(&mut self, v: Option<Vec<u8>>) {
        self.phase = Phase::Done(v);
        self.sock = None;
    }

    /// The socket is ready or the deadline passed.
    pub fn on_event(&mut self, now: Instant) {
        match self.step() {
            Some(v) => self.done(v),
            None if now >= self.deadline && !self.is_done() => self.done(None),
            None => {}
        }
    }

    /// Go as far as the socket allows; `Some` when the lookup ended.
    fn step(&mut self) -> Option<Option<Vec<u8>>> {
        let sock = self.sock.as_mut()?;
        loop {
            match &mut self.phase {
                Phase::Done(_) => return None,
                Phase::Connecting => match sock.take_error() {
                    Ok(None) => match sock.peer_addr() {
                        Ok(_) => self.phase = Phase::Writing(0),
                        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return None,
                        Err(_) => return Some(None),
                    },
                    _ => return Some(None),
                },
                Phase::Writing(off) => match sock.write(&self.request[*off..]) {
                    Ok(n) => {
                        *off += n;
                        if *off >= self.request.len() {
                            self.phase = Phase::Reading(Reply::with_max(self.max));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Some(None),
                },
                Phase::Reading(reply) => {
                    let mut buf = [0u8; 128];
                    match sock.read(&mut buf) {
                        Ok(0) => return Some(None),
                        Ok(n) => {
                            if let Some(v) = reply.feed(&buf[..n]) {
                                return Some(Some(v));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return Some(None),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(s: &[u8]) -> Option<Vec<u8>> {
        Reply::default().feed(s)
    }

    #[test]
    fn values_as_remoteinfo_c() {
        assert_eq!(
            whole(b"6191, 23 : USERID : UNIX : joe\r\n").unwrap(),
            b"joe"
        );
        assert_eq!(
            whole(b"1,2 : USERID : UNIX : we:ird%user\r\n").unwrap(),
            b"we:ird%user"
        );
        assert_eq!(whole(b"p , q : ERROR : NO-USER\r\n").unwrap(), b"");
        assert_eq!(whole(b"1,2:USERID:UNIX: a b\tc\r\n").unwrap(), b"abc");
        assert_eq!(whole(b"1,2:USERID:UNIX:joe"), None);
        let long = [b"1,2:USERID:UNIX:".to_vec(), vec![b'x'; 300]].concat();
        assert_eq!(whole(&long).unwrap().len(), 257);
    }

    #[test]
    fn split_at_every_byte_gives_the_same_value() {
        let line = b"6191, 23 : USERID : UNIX : j:o e\r\n";
        for cut in 0..line.len() {
            let mut r = Reply::default();
            let first = r.feed(&line[..cut]);
            assert_eq!(first, None);
            assert_eq!(r.feed(&line[cut..]).unwrap(), b"j:oe");
        }
    }
}
