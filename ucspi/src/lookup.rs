//! Blocking lookups, for programs that do one thing at a time (tcp-env,
//! tcpclient, rblsmtpd, tcpserver's startup). tcpserver's accept loop
//! drives [`crate::resolver::Query`] itself instead.

use std::io;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;

use crate::resolver::Resolver;
use crate::{addr, dns};

/// The name of `ip` (its first PTR record, dotted): `Ok(None)` when
/// there is none, `Err` when no server answered or the answer was
/// malformed (`EPROTO`).
pub fn name_of(resolver: &mut Resolver, ip: IpAddr) -> io::Result<Option<Vec<u8>>> {
    let p = resolver.resolve_blocking(&dns::reverse_name(ip), dns::T_PTR)?;
    let wire = dns::ptr_answer(&p).map_err(|_| io::Error::from_raw_os_error(libc::EPROTO))?;
    Ok(wire.map(|w| dns::to_dotted(&w)))
}

/// The records of `qtype` for the dotted `name`, as the answer packet
/// (read it with [`dns::addr_answers`], [`dns::txt_answer`]...). A name
/// that cannot be a DNS name is `EINVAL`.
pub fn records(resolver: &mut Resolver, name: &[u8], qtype: u16) -> io::Result<Vec<u8>> {
    let wire = dns::from_dotted(name).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    resolver.resolve_blocking(&wire, qtype)
}

/// The IPv4 addresses of a host name, djb's `dns_ip4_qualify`: a dotted
/// quad (also in brackets) without asking; else each qualified form of
/// the name in turn (search domains from `$LOCALDOMAIN`,
/// `/etc/resolv.conf` or the host name) until one has A records.
/// `Ok(empty)` when none has; `Err` when DNS failed for now.
pub fn ip4_qualify(resolver: &mut Resolver, name: &[u8]) -> io::Result<Vec<IpAddr>> {
    if let Some(bytes) = dns::ip4_literal(name) {
        return Ok(bytes
            .chunks_exact(4)
            .map(|b| IpAddr::from([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    qualify(resolver, name, dns::T_A)
}

/// [`ip4_qualify`] for AAAA records (ucspi-tcp6's `-6` with a name); a
/// literal is not a name here (the caller reads IPv6 literals itself).
pub fn ip6_qualify(resolver: &mut Resolver, name: &[u8]) -> io::Result<Vec<IpAddr>> {
    qualify(resolver, name, dns::T_AAAA)
}

/// Each qualified form of `name` in turn until one has `qtype` (A or
/// AAAA) records.
fn qualify(resolver: &mut Resolver, name: &[u8], qtype: u16) -> io::Result<Vec<IpAddr>> {
    let conf = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    let localdomain = std::env::var_os("LOCALDOMAIN");
    let hostname = std::fs::read("/proc/sys/kernel/hostname").unwrap_or_default();
    let search = addr::search_domains(
        localdomain.as_deref().map(OsStrExt::as_bytes),
        &conf,
        hostname.trim_ascii(),
    );
    for candidate in addr::qualify(name, &search) {
        let Some(wire) = dns::from_dotted(&candidate) else {
            continue;
        };
        let packet = resolver.resolve_blocking(&wire, qtype)?;
        if let Ok(found) = dns::addr_answers(&packet, qtype)
            && !found.is_empty()
        {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    /// A loopback DNS server answering up to `n` queries with one record
    /// of the type asked, `rdata`; its address for `$DNSCACHEIP`.
    fn serve(n: usize, rdata: Vec<u8>) -> String {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let addr = s.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            for _ in 0..n {
                let Ok((len, from)) = s.recv_from(&mut buf) else {
                    return;
                };
                let q = &buf[..len];
                let qtype = [q[len - 4], q[len - 3]];
                let mut p = q.to_vec();
                p[2] |= 0x80;
                p[7] = 1;
                p.extend_from_slice(&[0xc0, 12, qtype[0], qtype[1], 0, 1, 0, 0, 0, 1]);
                p.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                p.extend_from_slice(&rdata);
                let _ = s.send_to(&p, from);
            }
        });
        addr.to_string()
    }

    #[test]
    fn txt_records_of_a_name() {
        let mut r = Resolver::new(Some(&serve(1, b"\x07go away".to_vec())));
        let p = records(&mut r, b"2.0.0.127.rbl.example", dns::T_TXT).unwrap();
        assert_eq!(dns::txt_answer(&p).unwrap(), b"go away");
        // Not a DNS name (a label over 63 bytes): refused before asking.
        let long = [b'a'; 64];
        let e = records(&mut r, &long, dns::T_TXT).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn the_name_of_an_address() {
        let mut r = Resolver::new(Some(&serve(1, b"\x04host\x07example\x00".to_vec())));
        let got = name_of(&mut r, "127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(got.as_deref(), Some(&b"host.example"[..]));
    }

    #[test]
    fn ip4_qualify_reads_literals_and_asks_for_names() {
        // A literal needs no server (this one would not answer).
        let mut r = Resolver::new(Some("127.0.0.1:9"));
        let got = ip4_qualify(&mut r, b"[10.1.2.3]").unwrap();
        assert_eq!(got, vec![IpAddr::from([10, 1, 2, 3])]);
        let mut r = Resolver::new(Some(&serve(1, vec![192, 0, 2, 7])));
        let got = ip4_qualify(&mut r, b"mx.example.").unwrap();
        assert_eq!(got, vec![IpAddr::from([192, 0, 2, 7])]);
    }
}
