//! Addresses and connections for tests that care where a client comes
//! from or where a server listens: a loopback address no other test
//! uses, and a connection made from a chosen source address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A loopback address no other test uses: 127.X.Y.Z with X from this
/// process and Y.Z from a counter. A server may bind a fixed port on it
/// (53 for a DNS server Debian's tools can reach, 113 for an identd).
pub fn unique_loopback() -> Ipv4Addr {
    static N: AtomicUsize = AtomicUsize::new(1);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let x = 100 + (std::process::id() % 150) as u8;
    Ipv4Addr::new(127, x, (n / 250) as u8, (n % 250) as u8 + 1)
}

/// A connection from `from` (a loopback address, port chosen by the
/// kernel) to `to`; `timeout` bounds the connect and each read.
pub fn connect_from(from: IpAddr, to: SocketAddr, timeout: Duration) -> TcpStream {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )
    .expect("socket");
    s.bind(&SocketAddr::new(from, 0).into())
        .unwrap_or_else(|e| panic!("bind {from}: {e}"));
    s.connect_timeout(&to.into(), timeout)
        .unwrap_or_else(|e| panic!("connect {from} -> {to}: {e}"));
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(timeout)).expect("read timeout");
    s
}
