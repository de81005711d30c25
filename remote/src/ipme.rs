//! This machine's own addresses (qmail's `ipme`): an MX that points
//! here must not be used, or mail would loop back to ourselves.
//!
//! As qmail: the "this host" address 0.0.0.0 and the address of every
//! interface that is up. Added: IPv6 interface addresses and `::`.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::net::if_::InterfaceFlags;

/// The set of local addresses.
#[derive(Debug, Clone, Default)]
pub struct IpMe {
    addrs: HashSet<IpAddr>,
}

impl IpMe {
    /// Read the interfaces.
    pub fn load() -> io::Result<IpMe> {
        let mut addrs = HashSet::new();
        addrs.insert(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        addrs.insert(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        for ifa in nix::ifaddrs::getifaddrs().map_err(io::Error::from)? {
            if !ifa.flags.contains(InterfaceFlags::IFF_UP) {
                continue;
            }
            let Some(sa) = ifa.address else { continue };
            if let Some(v4) = sa.as_sockaddr_in() {
                addrs.insert(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = sa.as_sockaddr_in6() {
                addrs.insert(IpAddr::V6(v6.ip()));
            }
        }
        Ok(IpMe { addrs })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_unspecified_are_me() {
        let me = IpMe::load().unwrap();
        assert!(me.contains(&"127.0.0.1".parse().unwrap()));
        assert!(me.contains(&"0.0.0.0".parse().unwrap()));
        // Other loopback addresses are not interface addresses.
        assert!(!me.contains(&"127.0.0.2".parse().unwrap()));
    }
}
