//! Where a host's mail goes: `control/smtproutes`, address literals.
//!
//! smtproutes lines are `domain:relay[:port]`. For a host the entries
//! are tried as qmail does: the host itself, then each suffix that
//! starts at a dot, longest first (`.example.com`, `.com`), then the
//! empty domain (a catch-all `:relay`). The first match wins; matching
//! ignores case. An entry with an empty relay (`.example.com:`) means
//! "look up MX records as usual".
//!
//! Additions, both of which were broken configurations in qmail (the
//! C code would look up an empty or colon-split host and fail):
//! - an IPv6 relay in brackets: `example.com:[2001:db8::25]:2525`;
//! - an empty relay with a port, `example.com::2525`: MX records as
//!   usual, but connect to that port.
//!
//! A relay may be followed by AUTH credentials, `relay[:port] user
//! password`, as the qmail-remote-auth patch has it (see `auth`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use control::ConstMap;

use crate::auth::{Credentials, split_route};

/// The SMTP port, compiled in as in qmail ("/etc/services is for
/// users").
pub const SMTP_PORT: u16 = 25;

/// The outcome of the smtproutes lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The host to look up: the relay, or the recipient's host.
    pub host: Vec<u8>,
    /// The port to connect to.
    pub port: u16,
    /// An smtproutes relay was chosen: no MX lookup, and no check for
    /// being our own MX.
    pub relay: bool,
    /// Credentials written after the relay in smtproutes.
    pub auth: Option<Credentials>,
}

/// Route `host` through `routes` (the pairs of `control/smtproutes`).
pub fn route(routes: &ConstMap, host: &[u8]) -> Route {
    let mut found = None;
    for i in 0..=host.len() {
        if (i == 0 || i == host.len() || host[i] == b'.')
            && let Some(v) = routes.get(&host[i..])
        {
            found = Some(v);
            break;
        }
    }
    let Some(value) = found else {
        return Route {
            host: host.to_vec(),
            port: SMTP_PORT,
            relay: false,
            auth: None,
        };
    };
    let (value, auth) = split_route(value);
    let (relay, port) = split_relay(value);
    if relay.is_empty() {
        return Route {
            host: host.to_vec(),
            port: port.unwrap_or(SMTP_PORT),
            relay: false,
            auth: None,
        };
    }
    Route {
        host: relay.to_vec(),
        port: port.unwrap_or(SMTP_PORT),
        relay: true,
        auth,
    }
}

/// `relay[:port]` or `[ipv6][:port]`. A port is qmail's `scan_ulong`:
/// the leading digits, none meaning "keep 25".
fn split_relay(value: &[u8]) -> (&[u8], Option<u16>) {
    let colon = if value.first() == Some(&b'[') {
        match value.iter().position(|&b| b == b']') {
            Some(close) => value[close..]
                .iter()
                .position(|&b| b == b':')
                .map(|c| c + close),
            None => value.iter().position(|&b| b == b':'),
        }
    } else {
        value.iter().position(|&b| b == b':')
    };
    match colon {
        None => (value, None),
        Some(c) => {
            let port = control::file::parse_ulong(&value[c + 1..]).map(|p| (p & 0xffff) as u16);
            (&value[..c], port)
        }
    }
}

/// An address literal: `1.2.3.4`, `[1.2.3.4]`, `[IPv6:2001:db8::1]`,
/// `[2001:db8::1]` or a bare IPv6 address. qmail accepted the first
/// two; the others are the RFC 5321 IPv6 forms.
pub fn literal(host: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(host).ok()?;
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    if let Ok(v6) = s.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(v6));
    }
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    if let Ok(v4) = inner.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    let v6 = inner
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("IPv6:"))
        .map_or(inner, |_| &inner[5..]);
    v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(lines: &[&str]) -> ConstMap {
        let v: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
        ConstMap::from_pairs(&v)
    }

    fn r(host: &str, relay: bool, port: u16) -> Route {
        Route {
            host: host.as_bytes().to_vec(),
            port,
            relay,
            auth: None,
        }
    }

    #[test]
    fn lookup_order_is_host_then_suffixes_then_catch_all() {
        let m = routes(&[
            "mail.example.com:exact.relay",
            ".example.com:suffix.relay:2525",
            ".com:com.relay",
            ":default.relay",
        ]);
        assert_eq!(route(&m, b"mail.example.com"), r("exact.relay", true, 25));
        assert_eq!(route(&m, b"MAIL.Example.COM"), r("exact.relay", true, 25));
        assert_eq!(route(&m, b"x.example.com"), r("suffix.relay", true, 2525));
        // The apex is not covered by the dotted suffix.
        assert_eq!(route(&m, b"example.com"), r("com.relay", true, 25));
        assert_eq!(route(&m, b"example.org"), r("default.relay", true, 25));
    }

    #[test]
    fn empty_relay_means_mx_and_may_carry_a_port() {
        let m = routes(&[".af.mil:", "test.example::2525", ":smarthost"]);
        assert_eq!(route(&m, b"x.af.mil"), r("x.af.mil", false, 25));
        assert_eq!(route(&m, b"test.example"), r("test.example", false, 2525));
        assert_eq!(route(&m, b"other"), r("smarthost", true, 25));
        assert_eq!(route(&routes(&[]), b"other"), r("other", false, 25));
    }

    #[test]
    fn ports_and_ipv6_relays() {
        let m = routes(&[
            "a:[::1]:2525",
            "b:[2001:db8::1]",
            "c:127.0.0.1:x",
            "d:127.0.0.1:70000",
        ]);
        assert_eq!(route(&m, b"a"), r("[::1]", true, 2525));
        assert_eq!(route(&m, b"b"), r("[2001:db8::1]", true, 25));
        assert_eq!(route(&m, b"c"), r("127.0.0.1", true, 25));
        assert_eq!(
            route(&m, b"d"),
            r("127.0.0.1", true, (70000u32 & 0xffff) as u16)
        );
    }

    #[test]
    fn credentials_after_the_relay() {
        let m = routes(&["a:relay.example:587 joe secret", "b: joe secret"]);
        let got = route(&m, b"a");
        assert_eq!((&got.host[..], got.port), (&b"relay.example"[..], 587));
        assert_eq!(got.auth.unwrap().user, b"joe");
        // No relay, no AUTH: MX delivery never sends a password.
        assert_eq!(route(&m, b"b"), r("b", false, 25));
    }

    #[test]
    fn literals() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(literal(b"192.0.2.1"), Some(v4));
        assert_eq!(literal(b"[192.0.2.1]"), Some(v4));
        assert_eq!(literal(b"[IPv6:2001:db8::1]"), Some(v6));
        assert_eq!(literal(b"[ipv6:2001:db8::1]"), Some(v6));
        assert_eq!(literal(b"[2001:db8::1]"), Some(v6));
        assert_eq!(literal(b"2001:db8::1"), Some(v6));
        assert_eq!(literal(b"example.com"), None);
        assert_eq!(literal(b"[example.com]"), None);
        assert_eq!(literal(b"192.0.2"), None);
        assert_eq!(literal(b"\xff"), None);
    }
}
