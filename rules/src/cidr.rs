//! IPv6 and CIDR key forms, in the encodings of fehcom's ucspi-tcp6 so
//! its tools and ours read the same cdb files.
//!
//! - IPv6 address: expanded, upper-case, 8 groups of 4 hex digits
//!   (`::1` is `0000:0000:0000:0000:0000:0000:0000:0001`).
//! - IPv4 network `a.b.c.d/n`: `_` and n characters, one per leading bit:
//!   `0` for a clear bit, for a set bit number i (from 0) the i-th
//!   character of `abcdefghijklmnopqrstuvwxyz123456`
//!   (`10.0.0.0/8` is `_0000e0g0`).
//! - IPv6 network `addr/n`: `^` and n characters: `0` for a clear bit, for
//!   set bits successive bytes from 0x60 (`` ` ``, `a`, `b`, ...), one
//!   step per set bit (`2001:db8::/32` is ``^00`000000000000a0000bc0de0fgh000``).
//!
//! Each character depends only on the bits before it, so the key of a
//! shorter prefix is a prefix of the key of a longer one; a lookup builds
//! the full string once and tries its prefixes, longest first.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

const V4_LETTERS: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz123456";

/// `_` and the 32 characters of `addr`'s bits (the key of `addr/32`);
/// the key of `addr/n` is the first `n + 1` bytes.
pub fn v4_bits(addr: Ipv4Addr) -> [u8; 33] {
    let bits = u32::from(addr);
    let mut out = [b'0'; 33];
    out[0] = b'_';
    for i in 0..32 {
        if bits & (1 << (31 - i)) != 0 {
            out[1 + i] = V4_LETTERS[i];
        }
    }
    out
}

/// `^` and the 128 characters of `addr`'s bits (the key of `addr/128`);
/// the key of `addr/n` is the first `n + 1` bytes.
pub fn v6_bits(addr: Ipv6Addr) -> [u8; 129] {
    let bits = u128::from(addr);
    let mut out = [b'0'; 129];
    out[0] = b'^';
    let mut next = 0x60u8;
    for i in 0..128 {
        if bits & (1 << (127 - i)) != 0 {
            out[1 + i] = next;
            // At most 128 set bits: 0x60 + 127 = 0xdf, no overflow.
            next = next.wrapping_add(1);
        }
    }
    out
}

/// The key of a network (`_...` or `^...`).
pub fn net_key(net: &IpNet) -> Vec<u8> {
    let n = usize::from(net.prefix_len());
    match net {
        IpNet::V4(v4) => v4_bits(v4.addr())[..=n].to_vec(),
        IpNet::V6(v6) => v6_bits(v6.addr())[..=n].to_vec(),
    }
}

/// ucspi-tcp6's expanded form of an IPv6 address.
pub fn v6_expanded(addr: Ipv6Addr) -> [u8; 39] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = [b':'; 39];
    for (g, seg) in addr.segments().iter().enumerate() {
        for d in 0..4 {
            out[g * 5 + d] = HEX[usize::from((seg >> (12 - 4 * d)) & 15)];
        }
    }
    out
}

/// Parse an IPv6 address as written in a rule or in TCPREMOTEIP; a zone
/// (`fe80::1%eth0`) is accepted and dropped, as ucspi-tcp6 does.
pub fn parse_v6(text: &[u8]) -> Option<Ipv6Addr> {
    let text = match text.iter().position(|&c| c == b'%') {
        Some(p) if p + 1 < text.len() => &text[..p],
        Some(_) => return None,
        None => text,
    };
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Parse a dotted-quad IPv4 address.
pub fn parse_v4(text: &[u8]) -> Option<Ipv4Addr> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Parse `a.b.c.d/n`, 1 <= n <= 32 (a /0 rule is what the empty address
/// already means, and ucspi-tcp6 refuses it too).
pub fn parse_v4_net(text: &[u8]) -> Option<Ipv4Net> {
    let net: Ipv4Net = std::str::from_utf8(text).ok()?.parse().ok()?;
    (net.prefix_len() > 0).then_some(net)
}

/// Parse `addr/n` for IPv6, 1 <= n <= 128.
pub fn parse_v6_net(text: &[u8]) -> Option<Ipv6Net> {
    let net: Ipv6Net = std::str::from_utf8(text).ok()?.parse().ok()?;
    (net.prefix_len() > 0).then_some(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        String::from_utf8_lossy(&net_key(&s.parse().unwrap())).into_owned()
    }

    #[test]
    fn ucspi_tcp6_fixture_keys() {
        assert_eq!(key("10.0.0.0/8"), "_0000e0g0");
        assert_eq!(key("192.168.1.0/24"), "_ab000000i0k0m0000000000x");
        assert_eq!(key("1.2.3.4/8"), "_0000000h");
        assert_eq!(key("2001:db8::/32"), "^00`000000000000a0000bc0de0fgh000");
        assert_eq!(
            key("2001:db8:1::/48"),
            "^00`000000000000a0000bc0de0fgh000000000000000000i"
        );
    }

    #[test]
    fn expanded_ipv6() {
        let e = |s: &[u8]| String::from_utf8(v6_expanded(parse_v6(s).unwrap()).to_vec()).unwrap();
        assert_eq!(e(b"::1"), "0000:0000:0000:0000:0000:0000:0000:0001");
        assert_eq!(
            e(b"fe80::1%eth0"),
            "FE80:0000:0000:0000:0000:0000:0000:0001"
        );
        assert_eq!(
            e(b"::ffff:1.2.3.4"),
            "0000:0000:0000:0000:0000:FFFF:0102:0304"
        );
        assert!(parse_v6(b"[::1]").is_none());
        assert!(parse_v6(b"zz::1").is_none());
        assert!(parse_v6(b"::1%").is_none());
    }

    #[test]
    fn prefix_lengths_are_checked() {
        assert!(parse_v4_net(b"10.0.0.0/0").is_none());
        assert!(parse_v4_net(b"10.0.0.0/33").is_none());
        assert!(parse_v4_net(b"10.0.0.0/32").is_some());
        assert!(parse_v6_net(b"::/0").is_none());
        assert!(parse_v6_net(b"2001:db8::/129").is_none());
        assert!(parse_v6_net(b"2001:db8::/128").is_some());
        assert!(parse_v4_net(b"10.0.0/8").is_none());
    }

    #[test]
    fn all_ones_ipv6_stays_in_range() {
        let b = v6_bits(Ipv6Addr::from(u128::MAX));
        assert_eq!(b[1], 0x60);
        assert_eq!(b[128], 0xdf);
    }
}
