//! TLS on a pair of file descriptors, blocking, with a timeout on every
//! wait: what a qmail-style server needs once tcpserver has put the
//! client on fds 0 (read) and 1 (write). qmail-smtpd uses it for
//! STARTTLS and SMTPS; qmail-pop3d can use it for STLS and POP3S.
//!
//! [`TlsFds::read`] waits at most the timeout for the client and fails
//! with [`io::ErrorKind::TimedOut`] after that, so a client that stops
//! talking inside TLS is treated as it is outside; every write of TLS
//! records waits at most the timeout too. A bad record from the client
//! answers with rustls's alert and fails with
//! [`io::ErrorKind::InvalidData`].
//!
//! Nothing is read from the fds before [`TlsFds::new`]: the caller must
//! drop whatever plain bytes it had buffered (bytes a client pipelined
//! after STARTTLS are never commands inside TLS).

use std::io::{self, Read, Write};
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;
use rustls::{ServerConfig, ServerConnection};

/// Wait until `fd` is ready for `flags`, at most until `deadline`
/// (`Ok(false)` on timeout): `sys::timed`'s, shared by every server.
pub use sys::timed::wait;

/// One `read(2)` on a descriptor already known readable.
struct FdRead<'a>(BorrowedFd<'a>);

impl Read for FdRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match nix::unistd::read(self.0, buf) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A TLS server connection over a read fd and a write fd.
pub struct TlsFds<'a> {
    conn: ServerConnection,
    rfd: BorrowedFd<'a>,
    wfd: BorrowedFd<'a>,
    timeout: Duration,
}

impl<'a> TlsFds<'a> {
    /// Start a server connection with `config`; nothing is read yet.
    pub fn new(
        config: Arc<ServerConfig>,
        rfd: BorrowedFd<'a>,
        wfd: BorrowedFd<'a>,
        timeout: Duration,
    ) -> io::Result<TlsFds<'a>> {
        let conn = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsFds {
            conn,
            rfd,
            wfd,
            timeout,
        })
    }

    /// Write every TLS record rustls has queued, gathered into one
    /// buffer first: one write per flight, so Nagle's algorithm never
    /// holds a record back waiting for the client's delayed ACK.
    fn flush_tls(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            self.conn.write_tls(&mut out)?;
        }
        sys::timed::write_all(self.wfd, &out, self.timeout)
    }

    /// Read records from the client (waiting at most the timeout) and
    /// process them. `Ok(false)` at EOF.
    fn read_tls(&mut self) -> io::Result<bool> {
        if !wait(self.rfd, PollFlags::POLLIN, Instant::now() + self.timeout)? {
            return Err(io::ErrorKind::TimedOut.into());
        }
        if self.conn.read_tls(&mut FdRead(self.rfd))? == 0 {
            return Ok(false);
        }
        if let Err(e) = self.conn.process_new_packets() {
            // Tell the client why (the alert rustls queued), then fail.
            let _ = self.flush_tls();
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(true)
    }

    /// Run the handshake to its end.
    pub fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.flush_tls()?;
            if !self.conn.is_handshaking() {
                break;
            }
            if !self.read_tls()? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        self.flush_tls()
    }

    /// The negotiated protocol, e.g. `TLSv1.3`.
    pub fn version(&self) -> String {
        match self.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
            Some(v) => format!("{v:?}"),
            None => "unknown".into(),
        }
    }

    /// The negotiated cipher suite, in its IANA spelling, e.g.
    /// `TLS13_AES_256_GCM_SHA384`.
    pub fn cipher(&self) -> String {
        match self.conn.negotiated_cipher_suite() {
            Some(s) => s
                .suite()
                .as_str()
                .map_or_else(|| format!("{:?}", s.suite()), str::to_string),
            None => "unknown".into(),
        }
    }

    /// Read plaintext, waiting at most the timeout for each record.
    /// `Ok(0)` at EOF (close_notify or the connection closed);
    /// [`io::ErrorKind::TimedOut`] when the client is silent.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.flush_tls()?;
            if !self.read_tls()? {
                return Ok(0);
            }
        }
    }

    /// Encrypt and write all of `buf`.
    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(buf)?;
        self.flush_tls()
    }

    /// Send close_notify (best effort; the peer may be gone).
    pub fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush_tls();
    }
}

impl TlsFds<'_> {
    /// Give rustls's buffered plaintext to `plain`, all of it.
    fn drain_to(&mut self, plain: BorrowedFd<'_>) -> io::Result<bool> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => sys::timed::write_all(plain, &buf[..n], self.timeout)?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// Relay between the TLS client and a plain local socket `plain`
    /// (qmail-popup's socketpair to checkpassword and qmail-pop3d, which
    /// cannot inherit TLS state across exec): the client's plaintext is
    /// written to `plain`, what `plain` gives is encrypted to the client.
    /// Ends with close_notify when `plain` reaches EOF (every holder of
    /// its peer end has exited), and when the client closes, is silent
    /// on both sides for the timeout, or sends a bad record.
    pub fn proxy(&mut self, plain: BorrowedFd<'_>) -> io::Result<()> {
        use nix::poll::{PollFd, PollTimeout, poll};
        // Plaintext that came with the handshake's last flight (a TLS 1.3
        // client may send it right after Finished): already read from
        // the socket, so poll would never report it.
        if !self.drain_to(plain)? {
            return Ok(());
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (client_ready, plain_ready) = {
                let mut fds = [
                    PollFd::new(self.rfd, PollFlags::POLLIN),
                    PollFd::new(plain, PollFlags::POLLIN),
                ];
                let ms =
                    PollTimeout::try_from(self.timeout.as_millis().min(i32::MAX as u128) as i32)
                        .unwrap_or(PollTimeout::MAX);
                match poll(&mut fds, ms) {
                    Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
                let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
                (ready(&fds[0]), ready(&fds[1]))
            };
            if plain_ready {
                let n = loop {
                    match nix::unistd::read(plain, &mut buf) {
                        Ok(n) => break n,
                        Err(Errno::EINTR) => continue,
                        // ECONNRESET from the local end: as EOF.
                        Err(_) => break 0,
                    }
                };
                if n == 0 {
                    self.close();
                    return Ok(());
                }
                self.write_all(&buf[..n])?;
            }
            if client_ready {
                if self.conn.read_tls(&mut FdRead(self.rfd))? == 0 {
                    return Ok(());
                }
                if let Err(e) = self.conn.process_new_packets() {
                    let _ = self.flush_tls();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
                let open = self.drain_to(plain)?;
                self.flush_tls()?;
                if !open {
                    return Ok(());
                }
            }
        }
    }
}
