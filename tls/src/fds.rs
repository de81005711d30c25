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
