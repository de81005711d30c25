//! The cdb keys a rule's address stands for.
//!
//! As ucspi-tcp 0.88: the address itself, except that an address with
//! neither `=` nor `@` but with a `-` is a range: the number before the
//! first `-` (from just after the last `.` before it) and the number after
//! it (up to the next `.`) bound a run of keys, the top clamped to 255
//! (`1.2.3.100-104`, `10.2-3.`). The numbers are read as djb's
//! `scan_ulong` reads them, wrapping and all, so odd ranges give 0.88's
//! keys too (`1.2.3.-2` gives .0 to .2, `1.2.3.9-7` nothing).
//!
//! Additions, in ucspi-tcp6's encodings (see [`crate::cidr`]):
//! `a.b.c.d/n` (an address with `/` and no `=` or `@`) is an IPv4 network;
//! and the addresses of lines split as IPv6 ([`crate::parse`]) are an IPv6
//! address, `INFO@` and an IPv6 address, or an IPv6 network.

use std::borrow::Cow;
use std::io;

use crate::cidr;
use crate::parse::BadLine;

/// The keys of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys<'a> {
    /// A single key.
    One(Cow<'a, [u8]>),
    /// `head` + each number from `bot` to `top` in decimal + `tail`
    /// (nothing when `bot > top`).
    Range {
        head: &'a [u8],
        bot: u64,
        top: u64,
        tail: &'a [u8],
    },
}

impl Keys<'_> {
    /// Call `add` with each key in order; `buf` is scratch space.
    pub fn for_each(
        &self,
        buf: &mut Vec<u8>,
        mut add: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        match self {
            Keys::One(k) => add(k),
            Keys::Range {
                head,
                bot,
                top,
                tail,
            } => {
                for n in *bot..=*top {
                    buf.clear();
                    buf.extend_from_slice(head);
                    buf.extend_from_slice(n.to_string().as_bytes());
                    buf.extend_from_slice(tail);
                    add(buf)?;
                }
                Ok(())
            }
        }
    }

    /// The keys as a list (tests, tools).
    pub fn to_vec(&self) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        let _ = self.for_each(&mut Vec::new(), |k| {
            v.push(k.to_vec());
            Ok(())
        });
        v
    }
}

/// The keys for `address`, split as IPv6 or not (see [`crate::parse::Rule`]).
pub fn keys(address: &[u8], ipv6: bool) -> Result<Keys<'_>, BadLine> {
    if ipv6 {
        return ipv6_keys(address);
    }
    let has = |c: u8| address.contains(&c);
    if has(b'=') || has(b'@') {
        return Ok(Keys::One(Cow::Borrowed(address)));
    }
    if has(b'/') {
        let net = cidr::parse_v4_net(address).ok_or(BadLine)?;
        return Ok(Keys::One(Cow::Owned(cidr::net_key(&net.into()))));
    }
    let Some(dash) = address.iter().position(|&c| c == b'-') else {
        return Ok(Keys::One(Cow::Borrowed(address)));
    };
    let left = address[..dash]
        .iter()
        .rposition(|&c| c == b'.')
        .map_or(0, |p| p + 1);
    let right = address[dash + 1..]
        .iter()
        .position(|&c| c == b'.')
        .map_or(address.len(), |p| dash + 1 + p);
    let bot = getnum(&address[left..dash])?;
    let top = getnum(&address[dash + 1..right])?.min(255);
    Ok(Keys::Range {
        head: &address[..left],
        bot,
        top,
        tail: &address[right..],
    })
}

/// djb's `scan_ulong` on a NUL-terminated copy: digits, wrapping modulo
/// 2^64; the rest must be empty (or start with a NUL, where the C string
/// ends).
fn getnum(s: &[u8]) -> Result<u64, BadLine> {
    let mut n: u64 = 0;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
        i += 1;
    }
    match s.get(i) {
        None | Some(0) => Ok(n),
        Some(_) => Err(BadLine),
    }
}

fn ipv6_keys(address: &[u8]) -> Result<Keys<'_>, BadLine> {
    if address.contains(&b'=') {
        return Err(BadLine);
    }
    if let Some(at) = address.iter().position(|&c| c == b'@') {
        let addr = cidr::parse_v6(&address[at + 1..]).ok_or(BadLine)?;
        let mut key = address[..=at].to_vec();
        key.extend_from_slice(&cidr::v6_expanded(addr));
        return Ok(Keys::One(Cow::Owned(key)));
    }
    if address.contains(&b'/') {
        let net = cidr::parse_v6_net(address).ok_or(BadLine)?;
        return Ok(Keys::One(Cow::Owned(cidr::net_key(&net.into()))));
    }
    let addr = cidr::parse_v6(address).ok_or(BadLine)?;
    Ok(Keys::One(Cow::Owned(cidr::v6_expanded(addr).to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(address: &str) -> Result<Vec<String>, BadLine> {
        k6(address, false)
    }

    fn k6(address: &str, ipv6: bool) -> Result<Vec<String>, BadLine> {
        Ok(keys(address.as_bytes(), ipv6)?
            .to_vec()
            .into_iter()
            .map(|v| String::from_utf8(v).unwrap())
            .collect())
    }

    fn v(keys: &[&str]) -> Result<Vec<String>, BadLine> {
        Ok(keys.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn ranges_as_0_88() {
        assert_eq!(
            k("1.2.3.100-104"),
            v(&[
                "1.2.3.100",
                "1.2.3.101",
                "1.2.3.102",
                "1.2.3.103",
                "1.2.3.104"
            ])
        );
        assert_eq!(k("10.2-3."), v(&["10.2.", "10.3."]));
        assert_eq!(
            k("1.2.3.250-300"),
            v(&[
                "1.2.3.250",
                "1.2.3.251",
                "1.2.3.252",
                "1.2.3.253",
                "1.2.3.254",
                "1.2.3.255"
            ])
        );
        assert_eq!(k("1.2.3.300-400"), v(&[]));
        assert_eq!(k("1.2.3.9-7"), v(&[]));
        assert_eq!(k("1.2.3.-2"), v(&["1.2.3.0", "1.2.3.1", "1.2.3.2"]));
        assert_eq!(k("1.2.3.4-"), v(&[]));
        assert_eq!(k("1.2.3.007-009"), v(&["1.2.3.7", "1.2.3.8", "1.2.3.9"]));
        assert_eq!(k("1.2.3.1-2-3"), Err(BadLine));
        assert_eq!(k("1.2.3.a-b"), Err(BadLine));
        assert_eq!(k("1-2."), v(&["1.", "2."]));
        assert_eq!(k("1.2.3.4-5.6"), v(&["1.2.3.4.6", "1.2.3.5.6"]));
        assert_eq!(k("10.2-3.4-5"), v(&["10.2.4-5", "10.3.4-5"]));
        assert_eq!(k("joe-x@1.2.3.4"), v(&["joe-x@1.2.3.4"]));
        assert_eq!(k("=mail-1.example.com"), v(&["=mail-1.example.com"]));
        assert_eq!(k("-"), v(&["0"]));
        // scan_ulong wraps: 2^64 reads as 0.
        assert_eq!(k("1.18446744073709551616-1"), v(&["1.0", "1.1"]));
        assert_eq!(k("1.2.3.99999999999999999999999-1").map(|v| v.len()), Ok(0));
    }

    #[test]
    fn verbatim_addresses() {
        assert_eq!(k(""), v(&[""]));
        assert_eq!(k("=Host.Example.COM"), v(&["=Host.Example.COM"]));
        assert_eq!(k("joe@1.2.3.0/24"), v(&["joe@1.2.3.0/24"]));
        assert_eq!(k("  1.2.3.4 "), v(&["  1.2.3.4 "]));
    }

    #[test]
    fn ipv4_networks() {
        assert_eq!(k("10.0.0.0/8"), v(&["_0000e0g0"]));
        assert_eq!(k("1.2.3.4/8"), v(&["_0000000h"]));
        assert_eq!(k("10.0.0.0/0"), Err(BadLine));
        assert_eq!(k("10.0.0.0/33"), Err(BadLine));
        assert_eq!(k("foo/8"), Err(BadLine));
        assert_eq!(k("1.2.3.0/24-25"), Err(BadLine));
    }

    #[test]
    fn ipv6_addresses_and_networks() {
        let one = "0000:0000:0000:0000:0000:0000:0000:0001";
        assert_eq!(k6("::1", true), v(&[one]));
        assert_eq!(k6("joe@::1", true), v(&[&format!("joe@{one}")]));
        assert_eq!(k6("@::1", true), v(&[&format!("@{one}")]));
        assert_eq!(
            k6("fe80::1%eth0", true),
            v(&["FE80:0000:0000:0000:0000:0000:0000:0001"])
        );
        assert_eq!(
            k6("2001:db8::/32", true),
            v(&["^00`000000000000a0000bc0de0fgh000"])
        );
        assert_eq!(k6("2001:db8::/129", true), Err(BadLine));
        assert_eq!(k6("[::1]", true), Err(BadLine));
        assert_eq!(k6("zz::1", true), Err(BadLine));
        assert_eq!(k6("a:b", true), Err(BadLine));
        assert_eq!(k6("=x:y", true), Err(BadLine));
        assert_eq!(k6("joe@::1/64", true), Err(BadLine));
        assert_eq!(k6("2001:db8:1:", true), Err(BadLine));
    }
}
