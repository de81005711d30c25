//! qmail-qmqpc (qmail-qmqpc.8): a stand-in for qmail-queue that gives
//! the message to a QMQP server instead of the local queue, for hosts
//! without a queue of their own (`QMAILQUEUE=bin/qmail-qmqpc`).
//!
//! It reads the message on fd 0 and the envelope on fd 1, as qmail-queue
//! does, and tries the servers of `control/qmqpservers` in order (10
//! seconds to connect, 60 for each read and write) until one answers.
//! Its exit code is qmail-queue's: 0 queued (K), 31 refused for good (D),
//! 71 refused for now (Z), 72/73 could not connect (timed out, refused),
//! 74 connection trouble, 91 a bad envelope, 54 a read error, 55 no
//! qmqpservers, 56 no socket, 61 no qmail home.
//!
//! A server is an IP address and port 628, as in 1.03; ours also takes
//! `ip:port`, `[ipv6]` and `[ipv6]:port`.

use std::io::{self, Read as _};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use crate::netstring;
use crate::timed::{self, Read};

pub const PORT_QMQP: u16 = 628;

/// One line of qmqpservers as an address; `None` for a line that is not
/// one (skipped, as 1.03 skips what `ip_scan` cannot read).
pub fn server(line: &[u8]) -> Option<SocketAddr> {
    let s = std::str::from_utf8(line).ok()?.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, PORT_QMQP));
    }
    if let Some(rest) = s.strip_prefix('[')
        && let Some((ip, port)) = rest.split_once(']')
    {
        let ip: IpAddr = ip.parse().ok()?;
        let port = match port.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if port.is_empty() => PORT_QMQP,
            None => return None,
        };
        return Some(SocketAddr::new(ip, port));
    }
    s.parse::<SocketAddr>().ok().filter(SocketAddr::is_ipv4)
}

/// The QMQP request for `message` and the qmail-queue `envelope`
/// (`F<sender>\0T<rcpt>\0...\0`); `None` for a malformed envelope.
pub fn request(message: &[u8], envelope: &[u8]) -> Option<Vec<u8>> {
    let mut fields = envelope.split(|&b| b == 0);
    let sender = fields.next()?.strip_prefix(b"F")?;
    let mut inner = netstring::encode(message);
    inner.extend(netstring::encode(sender));
    let mut ended = false;
    for f in fields {
        if f.is_empty() {
            ended = true;
            break;
        }
        inner.extend(netstring::encode(f.strip_prefix(b"T")?));
    }
    // The envelope ends with an empty field after the last recipient.
    if !ended || !envelope.ends_with(b"\0\0") {
        return None;
    }
    Some(netstring::encode(&inner))
}

/// Give `req` to the server at `addr`: the exit code its answer means,
/// or the connection failure's.
pub fn deliver(addr: SocketAddr, req: &[u8]) -> i32 {
    use socket2::{Domain, Socket, Type};
    let Ok(sock) = Socket::new(Domain::for_address(addr), Type::STREAM, None) else {
        return 56;
    };
    if let Err(e) = sock.connect_timeout(&addr.into(), Duration::from_secs(10)) {
        return if e.kind() == io::ErrorKind::TimedOut {
            72
        } else {
            73
        };
    }
    let timeout = Duration::from_secs(60);
    if timed::write_all(sock.as_fd(), req, timeout).is_err() {
        return 74;
    }
    let mut buf = [0u8; 1024];
    // The answer is a netstring whose first content byte is K, Z or D;
    // as in 1.03 the first such byte decides.
    loop {
        match timed::read(sock.as_fd(), &mut buf, timeout) {
            Ok(Read::Bytes(n)) => {
                for &b in &buf[..n] {
                    match b {
                        b'K' => return 0,
                        b'Z' => return 71,
                        b'D' => return 31,
                        _ => {}
                    }
                }
            }
            _ => return 74,
        }
    }
}

/// The whole of qmail-qmqpc: `servers` from control/qmqpservers, the
/// message and envelope from fds 0 and 1.
pub fn run(servers: &[Vec<u8>]) -> i32 {
    let mut message = Vec::new();
    if io::stdin().read_to_end(&mut message).is_err() {
        return 54;
    }
    // fd 1 is the envelope pipe, read as qmail-queue reads it.
    let mut envelope = Vec::new();
    let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() else {
        return 54;
    };
    if std::fs::File::from(fd).read_to_end(&mut envelope).is_err() {
        return 54;
    }
    let Some(req) = request(&message, &envelope) else {
        return 91;
    };
    let mut last = 55;
    for s in servers {
        let Some(addr) = server(s) else { continue };
        match deliver(addr, &req) {
            c @ (0 | 31 | 71) => return c,
            c => last = c,
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_requests() {
        assert_eq!(server(b"10.0.0.1"), Some("10.0.0.1:628".parse().unwrap()));
        assert_eq!(
            server(b"127.0.0.1:6280"),
            Some("127.0.0.1:6280".parse().unwrap())
        );
        assert_eq!(server(b"[::1]:99"), Some("[::1]:99".parse().unwrap()));
        assert_eq!(server(b"::1"), Some("[::1]:628".parse().unwrap()));
        assert_eq!(server(b"mail.example.com"), None);
        assert_eq!(
            request(b"m\n", b"Fa@b\0Tc@d\0Te@f\0\0").unwrap(),
            b"23:2:m\n,3:a@b,3:c@d,3:e@f,,".to_vec()
        );
        assert_eq!(request(b"m", b"Fa@b\0Tc@d\0"), None);
        assert_eq!(request(b"m", b"Xa@b\0\0"), None);
        assert_eq!(request(b"m", b"Fa@b\0Xc\0\0"), None);
    }
}
