//! The DNSBL questions, asked through tcpserver's non-blocking resolver
//! (`$DNSCACHEIP` or resolv.conf, djb's retry schedule) and never waited
//! for past a deadline: a lookup still open then is a temporary failure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use nix::poll::{PollFd, PollTimeout};

use crate::net::dns;
use crate::net::resolver::Resolver;

const T_TXT: u16 = 16;
const C_IN: u16 = 1;

/// A lookup that gave no answer (timeout, server failure, bad packet):
/// djb's `-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TempFail;

/// The name under `base` for the client `ip` (the text of
/// `$TCPREMOTEIP`): an IPv4 address as 0.88 reverses it (the dot-separated
/// parts in reverse order, whatever they are), an IPv6 address as
/// ucspi-tcp6 does (32 reversed nibbles).
pub fn listed_name(ip: &[u8], base: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ip.len() + base.len() + 64);
    let v6 = std::str::from_utf8(ip)
        .ok()
        .filter(|s| s.contains(':'))
        .and_then(|s| s.parse::<Ipv6Addr>().ok());
    match v6 {
        Some(v6) if v6.to_ipv4_mapped().is_none() => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for b in v6.octets().iter().rev() {
                out.extend_from_slice(&[
                    HEX[usize::from(b & 15)],
                    b'.',
                    HEX[usize::from(b >> 4)],
                    b'.',
                ]);
            }
        }
        Some(v6) => {
            let v4 = v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED);
            return listed_name(v4.to_string().as_bytes(), base);
        }
        None => {
            // 0.88's ip_init: each part, last first, followed by a dot.
            let mut i = ip.len();
            while i > 0 {
                let j = ip[..i]
                    .iter()
                    .rposition(|&b| b == b'.')
                    .map_or(0, |p| p + 1);
                out.extend_from_slice(&ip[j..i]);
                out.push(b'.');
                if j == 0 {
                    break;
                }
                i = j - 1;
            }
        }
    }
    out.extend_from_slice(base);
    out
}

/// The text of all TXT records of a response, as djb's `dns_txt_packet`:
/// the strings run together without their length bytes, any byte outside
/// 32..=126 as `?`.
pub fn txt_text(p: &[u8]) -> Result<Vec<u8>, dns::Malformed> {
    let mut out = Vec::new();
    let u16_at = |pos: usize| -> Result<u16, dns::Malformed> {
        let b = p.get(pos..pos + 2).ok_or(dns::Malformed)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    };
    let mut n = u16_at(6)?;
    let (_, mut pos) = dns::get_name(p, 12)?;
    pos += 4;
    while n > 0 {
        n -= 1;
        pos = dns::get_name(p, pos)?.1;
        let (rtype, class) = (u16_at(pos)?, u16_at(pos + 2)?);
        let len = usize::from(u16_at(pos + 8)?);
        pos += 10;
        let rdata = p.get(pos..pos + len).ok_or(dns::Malformed)?;
        if rtype == T_TXT && class == C_IN {
            let mut left = 0u8;
            for &c in rdata {
                if left == 0 {
                    left = c;
                } else {
                    left -= 1;
                    out.push(if (32..=126).contains(&c) { c } else { b'?' });
                }
            }
        }
        pos += len;
    }
    Ok(out)
}

/// Asks the questions, each bounded by one deadline.
#[derive(Debug)]
pub struct Lookups {
    /// Made at the first question: most connections of a site that
    /// sets `$RBLSMTPD` by rule ask none.
    resolver: Option<Resolver>,
    dnscacheip: Option<String>,
    deadline: Instant,
}

impl Lookups {
    pub fn new(dnscacheip: Option<&str>, deadline: Instant) -> Lookups {
        Lookups {
            resolver: None,
            dnscacheip: dnscacheip.map(str::to_string),
            deadline,
        }
    }

    /// The response packet for `name` (dotted) of `qtype`.
    fn ask(&mut self, name: &[u8], qtype: u16) -> Result<Vec<u8>, TempFail> {
        let wire = dns::from_dotted(name).ok_or(TempFail)?;
        let dnscacheip = self.dnscacheip.as_deref();
        let resolver = self
            .resolver
            .get_or_insert_with(|| Resolver::new(dnscacheip));
        let mut q = resolver.start(&wire, qtype, Instant::now());
        loop {
            if let Some(r) = q.result() {
                return r.map_err(|_| TempFail);
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Err(TempFail);
            }
            let until = q.deadline().map_or(self.deadline, |d| d.min(self.deadline));
            let wait = until.saturating_duration_since(now);
            if let Some((fd, ev)) = q.interest() {
                let ms = wait.as_millis().clamp(1, 60_000) as u16;
                let mut fds = [PollFd::new(fd, ev)];
                let _ = nix::poll::poll(&mut fds, PollTimeout::from(ms));
            }
            if Instant::now() >= self.deadline {
                return Err(TempFail);
            }
            q.on_event(Instant::now());
        }
    }

    /// The TXT text of `name` (empty: not listed).
    pub fn txt(&mut self, name: &[u8]) -> Result<Vec<u8>, TempFail> {
        let p = self.ask(name, T_TXT)?;
        txt_text(&p).map_err(|_| TempFail)
    }

    /// The IPv4 addresses of `name` (djb's `dns_ip4`, which reads a name
    /// of digits and dots as the address itself).
    pub fn a(&mut self, name: &[u8]) -> Result<Vec<Ipv4Addr>, TempFail> {
        if let Some(b) = dns::ip4_literal(name) {
            return Ok(b
                .chunks(4)
                .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                .collect());
        }
        let p = self.ask(name, dns::T_A)?;
        let ips = dns::addr_answers(&p, dns::T_A).map_err(|_| TempFail)?;
        Ok(ips
            .into_iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_the_base() {
        assert_eq!(listed_name(b"1.2.3.4", b"rbl.test"), b"4.3.2.1.rbl.test");
        assert_eq!(listed_name(b"", b"rbl.test"), b"rbl.test");
        assert_eq!(listed_name(b"a..b", b"z"), b"b..a.z");
        assert_eq!(listed_name(b"::ffff:1.2.3.4", b"z"), b"4.3.2.1.z");
        let six = listed_name(b"2001:db8::1", b"rbl.test");
        assert_eq!(
            six,
            b"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.rbl.test"
        );
    }

    #[test]
    fn txt_strings_run_together_with_odd_bytes_hidden() {
        let q = dns::query(7, &dns::from_dotted(b"x.test").unwrap(), T_TXT);
        let mut p = q.clone();
        p[2] |= 0x80;
        p[7] = 2;
        for rdata in [&b"\x03ab\x01\x02c\xff"[..], b"\x02yz"] {
            p.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, rdata.len() as u8]);
            p.extend_from_slice(rdata);
        }
        assert_eq!(txt_text(&p).unwrap(), b"ab?c?yz");
        assert!(txt_text(&p[..p.len() - 1]).is_err());
    }
}
