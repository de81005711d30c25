//! One connection: connect with a deadline, then run a [`Session`]
//! over the socket (in the clear or under TLS), with a timeout on every
//! read and write, and stream the message body when asked.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use socket2::{Domain, Protocol, Socket, Type};

use crate::data::Encoder;
use crate::report::{Letter, Report, text};
use crate::session::{Session, Want};

/// Bytes read from the server at a time.
const READ_CHUNK: usize = 4096;
/// Bytes of message read at a time.
const BODY_CHUNK: usize = 64 * 1024;

/// Connect to `ip:port` within `timeout`.
pub fn connect(ip: IpAddr, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let addr = SocketAddr::new(ip, port);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.connect_timeout(&addr.into(), timeout)?;
    Ok(socket.into())
}

/// The socket, in the clear or under TLS.
enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// How a connection ended.
pub enum Outcome {
    /// The session ran to its end; this is the report.
    Done(Report),
    /// The server said 220 to STARTTLS but the handshake failed: the
    /// caller may connect again and deliver without TLS.
    TlsFailed(String),
}

/// What TLS the connection may use.
pub struct TlsSetup<'a> {
    /// The configuration, or `None` not to try STARTTLS.
    pub config: Option<Arc<ClientConfig>>,
    /// The server's host name, for SNI.
    pub name: Option<&'a str>,
}

fn write_all(t: &mut Transport, bytes: &[u8]) -> io::Result<()> {
    t.write_all(bytes)?;
    t.flush()
}

/// Run `session` over `stream` to its end.
pub fn run(
    stream: TcpStream,
    timeout: Duration,
    mut session: Session,
    tls: TlsSetup<'_>,
    message: &mut File,
) -> Outcome {
    if stream.set_read_timeout(Some(timeout)).is_err()
        || stream.set_write_timeout(Some(timeout)).is_err()
    {
        session.dropped();
        return Outcome::Done(session.into_report());
    }
    let peer_ip = stream.peer_addr().map(|a| a.ip()).ok();
    let mut transport = Some(Transport::Plain(stream));
    let mut pending: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut buf = vec![0u8; READ_CHUNK];
    while let Some(t) = transport.as_mut() {
        let out = session.take_output();
        if !out.is_empty() && write_all(t, &out).is_err() {
            if session.want() != Want::Done {
                session.dropped();
            }
            break;
        }
        match session.want() {
            Want::Done => break,
            Want::Reply => {
                if pending.is_empty() {
                    match t.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            session.dropped();
                            continue;
                        }
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
                let used = session.feed(&pending);
                pending.drain(..used);
            }
            Want::StartTls => {
                // Anything the server sent after its 220 was sent in
                // the clear and must not be read as if it came under
                // TLS (CVE-2011-0411).
                pending.clear();
                let Some(Transport::Plain(tcp)) = transport.take() else {
                    unreachable!("STARTTLS is only asked for in the clear");
                };
                let (Some(config), Some(ip)) = (tls.config.clone(), peer_ip) else {
                    return Outcome::TlsFailed("no TLS configuration".into());
                };
                match handshake(tcp, config, tls::client::server_name(tls.name, ip)) {
                    Ok(s) => {
                        transport = Some(Transport::Tls(Box::new(s)));
                        session.tls_started();
                    }
                    Err(e) => return Outcome::TlsFailed(e),
                }
            }
            Want::Body => send_body(t, &mut session, message),
        }
    }
    if let Some(Transport::Tls(mut s)) = transport {
        s.conn.send_close_notify();
        let _ = s.flush();
    }
    Outcome::Done(session.into_report())
}

/// The TLS handshake over `tcp` (the socket timeouts bound it).
fn handshake(
    mut tcp: TcpStream,
    config: Arc<ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
    let mut conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        match conn.complete_io(&mut tcp) {
            Ok((0, 0)) if conn.is_handshaking() => {
                return Err("connection closed during the handshake".into());
            }
            Ok(_) => {}
            Err(e) => {
                return Err(match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out".into(),
                    _ => e.to_string(),
                });
            }
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Stream the message from `message` through the encoder (qmail's
/// `blast()`). The last piece of the body goes out in one write with
/// the final dot, so Nagle's algorithm never holds the dot back waiting
/// for an acknowledgement.
fn send_body(t: &mut Transport, session: &mut Session, message: &mut File) {
    let mut enc = Encoder::new();
    let mut chunk = vec![0u8; BODY_CHUNK];
    let mut out = Vec::with_capacity(2 * BODY_CHUNK + BODY_CHUNK / 8);
    loop {
        let n = match message.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return session.fail_local(Letter::Z, text::READ),
        };
        enc.encode(&chunk[..n], &mut out);
        if out.len() >= BODY_CHUNK {
            if t.write_all(&out).is_err() {
                return session.dropped();
            }
            out.clear();
        }
    }
    if enc.finish(&mut out).is_err() {
        return session.fail_local(Letter::D, text::PARTIAL_LINE);
    }
    // From here on a lost connection may have delivered the message.
    session.body_sent();
    if write_all(t, &out).is_err() {
        session.dropped();
    }
}
