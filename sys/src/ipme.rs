//! This host's own addresses (qmail's `ipme`), for qmail-smtpd's
//! `[d.d.d.d]` rewrite to `localiphost` and qmail-remote's refusal to use
//! an MX that points back here.
//!
//! As netqmail's `ipme_init`: 0.0.0.0 always ("this host", RFC 1122
//! 3.2.1.3), plus the address of every interface that is up; an interface
//! that is down is not us (its address may be in use elsewhere). Added for
//! IPv6: `::` always, and the IPv6 addresses of interfaces that are up.
//! 127.0.0.1 is in the set because `lo` is up, not by a special case;
//! other 127.x addresses are not interface addresses and are not in it.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::net::if_::InterfaceFlags;

/// The set of this host's addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpMe {
    addrs: HashSet<IpAddr>,
}

impl IpMe {
    /// Read the interfaces (getifaddrs).
    pub fn load() -> io::Result<IpMe> {
        let ifaces = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
        Ok(IpMe::from_interfaces(ifaces.map(|ifa| {
            let ip = ifa.address.and_then(|sa| {
                sa.as_sockaddr_in()
                    .map(|v4| IpAddr::V4(v4.ip()))
                    .or_else(|| sa.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
            });
            (ifa.flags.contains(InterfaceFlags::IFF_UP), ip)
        })))
    }

    /// The set from `(interface is up, its address)` pairs: the rule of
    /// [`IpMe::load`] without the system call.
    pub fn from_interfaces(ifaces: impl IntoIterator<Item = (bool, Option<IpAddr>)>) -> IpMe {
        let mut addrs = HashSet::new();
        addrs.insert(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        addrs.insert(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        for (up, ip) in ifaces {
            if let (true, Some(ip)) = (up, ip) {
                addrs.insert(ip);
            }
        }
        IpMe { addrs }
    }

    /// A set with exactly these addresses (tests).
    pub fn from_addrs(addrs: impl IntoIterator<Item = IpAddr>) -> IpMe {
        IpMe {
            addrs: addrs.into_iter().collect(),
        }
    }

    /// `ip` is one of ours.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.addrs.contains(ip)
    }

    /// The addresses, in no particular order.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.addrs.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn up_interfaces_and_the_unspecified_addresses() {
        let me = IpMe::from_interfaces([
            (true, Some(ip("127.0.0.1"))),
            (true, Some(ip("192.0.2.7"))),
            (false, Some(ip("198.51.100.9"))),
            (true, Some(ip("2001:db8::1"))),
            (false, Some(ip("2001:db8::2"))),
            (true, None),
        ]);
        let mut got: Vec<IpAddr> = me.addrs().collect();
        got.sort();
        let mut want = vec![
            ip("0.0.0.0"),
            ip("127.0.0.1"),
            ip("192.0.2.7"),
            ip("::"),
            ip("2001:db8::1"),
        ];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn no_interfaces_still_knows_this_host() {
        let me = IpMe::from_interfaces([]);
        assert!(me.contains(&ip("0.0.0.0")));
        assert!(me.contains(&ip("::")));
        assert!(!me.contains(&ip("127.0.0.1")));
    }

    #[test]
    fn this_machine_has_loopback() {
        let me = IpMe::load().unwrap();
        assert!(me.contains(&ip("127.0.0.1")));
        assert!(me.contains(&ip("0.0.0.0")));
        // Other loopback addresses are not interface addresses.
        assert!(!me.contains(&ip("127.0.0.2")));
    }
}
