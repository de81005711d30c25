//! Limits a rule sets on connections at once from one client, so an
//! office NAT and a stranger get different limits:
//!
//! - `MAXCONIP` (ucspi-tcp6's name; `MAXCONNIP`, the limits patch's, is
//!   read too): connections from one client address;
//! - `MAXCONNC` (the limits patch's name): connections from one /24 for
//!   IPv4, one /64 for IPv6.
//!
//! Set in tcpserver's environment at startup they are the defaults (as
//! ucspi-tcp6 reads `MAXCONIP`); a rule's value wins. Values are read as
//! djb's `scan_ulong`: leading digits, so `0` (or no digits) refuses
//! every connection the rule names, as both originals do. A connection
//! counts from its accept to the end of its child, and is refused when
//! the others already at its address (or net) reach the limit.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ucspi::addr::unmap;

/// ucspi-tcp6's per-address limit.
pub const MAXCONIP: &str = "MAXCONIP";
/// The limits patch's spelling of the same.
pub const MAXCONNIP: &str = "MAXCONNIP";
/// The limits patch's per-/24 limit (per /64 for IPv6 here).
pub const MAXCONNC: &str = "MAXCONNC";

/// The limits that apply to one connection; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub ip: Option<u64>,
    pub net: Option<u64>,
}

impl Limits {
    /// The defaults from tcpserver's own environment.
    pub fn from_env(get: impl Fn(&str) -> Option<Vec<u8>>) -> Limits {
        let ip = get(MAXCONIP).or_else(|| get(MAXCONNIP));
        Limits {
            ip: ip.map(|v| sys::scan::scan_ulong(&v)),
            net: get(MAXCONNC).map(|v| sys::scan::scan_ulong(&v)),
        }
    }

    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.ip.is_some() || self.net.is_some()
    }

    /// These limits with what a rule's variables set (in order, so the
    /// last of a name wins, as it does in the environment).
    pub fn with_rule(mut self, vars: &[(Vec<u8>, Vec<u8>)]) -> Limits {
        for (k, v) in vars {
            let n = Some(sys::scan::scan_ulong(v));
            if k == MAXCONIP.as_bytes() || k == MAXCONNIP.as_bytes() {
                self.ip = n;
            } else if k == MAXCONNC.as_bytes() {
                self.net = n;
            }
        }
        self
    }
}

/// The net a client counts in for `MAXCONNC`: its /24, or its /64.
pub fn net_of(ip: IpAddr) -> IpAddr {
    match unmap(ip) {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & !0xff)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
    }
}

/// The connections alive now, per address and per net, and whose child
/// is which.
#[derive(Debug, Default)]
pub struct Live {
    ip: HashMap<IpAddr, u32>,
    net: HashMap<IpAddr, u32>,
    pids: HashMap<i32, IpAddr>,
}

fn up(m: &mut HashMap<IpAddr, u32>, k: IpAddr) {
    *m.entry(k).or_insert(0) += 1;
}

fn down(m: &mut HashMap<IpAddr, u32>, k: IpAddr) {
    if let Some(n) = m.get_mut(&k) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            m.remove(&k);
        }
    }
}

impl Live {
    /// A connection from `client` was accepted.
    pub fn add(&mut self, client: IpAddr) {
        let client = unmap(client);
        up(&mut self.ip, client);
        up(&mut self.net, net_of(client));
    }

    /// A connection from `client` is gone without a child.
    pub fn remove(&mut self, client: IpAddr) {
        let client = unmap(client);
        down(&mut self.ip, client);
        down(&mut self.net, net_of(client));
    }

    /// The connection from `client` is child `pid`'s.
    pub fn started(&mut self, pid: i32, client: IpAddr) {
        self.pids.insert(pid, unmap(client));
    }

    /// Child `pid` ended: its connection is gone.
    pub fn ended(&mut self, pid: i32) {
        if let Some(client) = self.pids.remove(&pid) {
            self.remove(client);
        }
    }

    /// Why a connection from `client`, already counted by [`Live::add`],
    /// is over `limits` (the text the `deny` line ends with), if it is.
    pub fn over(&self, client: IpAddr, limits: Limits) -> Option<String> {
        let client = unmap(client);
        let others = |m: &HashMap<IpAddr, u32>, k| u64::from(m.get(&k).copied().unwrap_or(1)) - 1;
        if let Some(max) = limits.ip
            && others(&self.ip, client) >= max
        {
            return Some(format!("ip connection limit:{max} exceeded"));
        }
        if let Some(max) = limits.net
            && others(&self.net, net_of(client)) >= max
        {
            return Some(format!("net connection limit:{max} exceeded"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn vars(v: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        v.iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn nets_are_24s_and_64s() {
        assert_eq!(net_of(ip("192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(net_of(ip("::ffff:192.0.2.77")), ip("192.0.2.0"));
        assert_eq!(net_of(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn rules_override_the_environment_and_the_last_wins() {
        let env = |k: &str| (k == "MAXCONIP").then(|| b"5".to_vec());
        let d = Limits::from_env(env);
        assert_eq!(
            d,
            Limits {
                ip: Some(5),
                net: None
            }
        );
        assert!(!Limits::from_env(|_| None).any());
        let r = d.with_rule(&vars(&[
            ("MAXCONIP", "2"),
            ("RELAYCLIENT", ""),
            ("MAXCONNIP", "3"),
            ("MAXCONNC", "10x"),
        ]));
        assert_eq!(
            r,
            Limits {
                ip: Some(3),
                net: Some(10)
            }
        );
        // No digits reads as 0, which refuses everyone (as the originals).
        assert_eq!(d.with_rule(&vars(&[("MAXCONIP", "")])).ip, Some(0));
    }

    #[test]
    fn a_connection_is_over_when_the_others_reach_the_limit() {
        let mut l = Live::default();
        let lim = Limits {
            ip: Some(2),
            net: Some(2),
        };
        let a = ip("10.0.0.1");
        l.add(a);
        assert_eq!(l.over(a, lim), None);
        l.started(100, a);
        l.add(a);
        assert_eq!(l.over(a, lim), None);
        l.started(101, a);
        l.add(a);
        assert_eq!(
            l.over(a, lim).as_deref(),
            Some("ip connection limit:2 exceeded")
        );
        // The refused one ends like any other child.
        l.started(102, a);
        l.ended(102);
        let b = ip("10.0.0.2");
        l.add(b);
        assert_eq!(
            l.over(b, lim).as_deref(),
            Some("net connection limit:2 exceeded")
        );
        l.remove(b);
        l.ended(100);
        l.add(b);
        assert_eq!(l.over(b, lim), None);
        assert_eq!(
            l.over(
                b,
                Limits {
                    ip: Some(0),
                    net: None
                }
            )
            .as_deref(),
            Some("ip connection limit:0 exceeded")
        );
        l.remove(b);
        l.ended(101);
        assert!(l.ip.is_empty() && l.net.is_empty() && l.pids.is_empty());
    }
}
