//! Addresses for tests that care where a client comes from or where a
//! server listens: a loopback address no other test uses.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A loopback address no other test uses: 127.X.Y.Z with X from this
/// process and Y.Z from a counter. A server may bind a fixed port on it
/// (53 for a DNS server Debian's tools can reach, 113 for an identd).
pub fn unique_loopback() -> Ipv4Addr {
    static N: AtomicUsize = AtomicUsize::new(1);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let x = 100 + (std::process::id() % 150) as u8;
    Ipv4Addr::new(127, x, (n / 250) as u8, (n % 250) as u8 + 1)
}
