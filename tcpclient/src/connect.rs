//! 0.88's connect loop: each address in turn with the first timeout;
//! addresses that timed out are tried again with the second. A name with
//! one address gets both timeouts at once.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use socket2::{Domain, Socket, Type};

/// What to bind and where the socket goes.
#[derive(Debug, Clone, Default)]
pub struct Local {
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub interface: Option<Vec<u8>>,
    pub scope: u32,
}

/// A failure to report: `unable to create socket` and `unable to bind
/// socket` end tcpclient at once; a failed connection is a warning.
#[derive(Debug)]
pub enum Failure {
    Socket(io::Error),
    Bind(io::Error),
}

fn socket(to: SocketAddr, local: &Local) -> Result<Socket, Failure> {
    let s = Socket::new(Domain::for_address(to), Type::STREAM, None).map_err(Failure::Socket)?;
    if let Some(ifname) = &local.interface {
        s.bind_device(Some(ifname)).map_err(Failure::Bind)?;
    }
    // 0.88 always binds (to 0.0.0.0:0 unless told): only the family of
    // the address to connect to decides the unspecified address here.
    let ip = match local.ip {
        Some(ip) => ip,
        None if to.is_ipv6() => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        None => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    };
    if local.ip.is_some() || local.port != 0 {
        s.bind(&SocketAddr::new(ip, local.port).into())
            .map_err(Failure::Bind)?;
    }
    Ok(s)
}

/// djb's `timeoutconn`: a non-blocking connect, waited for at most
/// `secs`; the socket is blocking again once connected.
fn timeoutconn(s: &Socket, to: SocketAddr, secs: u64) -> io::Result<()> {
    s.set_nonblocking(true)?;
    match s.connect(&to.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            let deadline = Instant::now() + Duration::from_secs(secs);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
                }
                let ms = left.as_millis().clamp(1, 60_000) as u16;
                let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(s), PollFlags::POLLOUT)];
                match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(0) | Err(nix::errno::Errno::EINTR) => {}
                    Ok(_) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            if let Some(e) = s.take_error()? {
                return Err(e);
            }
            // A refused connect can show as writable without an error
            // pending yet on some kernels; the peer name settles it.
            s.peer_addr()?;
        }
        Err(e) => return Err(e),
    }
    s.set_nonblocking(false)?;
    Ok(())
}

/// Try `addrs` on `port`; `warn` gets each address that failed for good
/// and its error. `None`: no address took the connection.
pub fn connect(
    addrs: &[IpAddr],
    port: u16,
    mut timeouts: [u64; 2],
    local: &Local,
    mut warn: impl FnMut(IpAddr, &io::Error),
) -> Result<Option<Socket>, Failure> {
    if addrs.len() == 1 {
        timeouts = [timeouts[0].wrapping_add(timeouts[1]), 0];
    }
    let mut todo: Vec<IpAddr> = addrs.to_vec();
    for round in 0..2 {
        let mut again = Vec::new();
        for &ip in &todo {
            let mut to = SocketAddr::new(ip, port);
            if let SocketAddr::V6(v6) = &mut to
                && local.scope != 0
            {
                v6.set_scope_id(local.scope);
            }
            let s = socket(to, local)?;
            match timeoutconn(&s, to, timeouts[round]) {
                Ok(()) => return Ok(Some(s)),
                Err(e) => {
                    if round == 0 && timeouts[1] != 0 && e.raw_os_error() == Some(libc::ETIMEDOUT) {
                        again.push(ip);
                    } else {
                        warn(ip, &e);
                    }
                }
            }
        }
        todo = again;
    }
    Ok(None)
}
