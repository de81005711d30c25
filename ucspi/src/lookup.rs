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
        let packet = resolver.resolve_blocking(&wire, dns::T_A)?;
        if let Ok(found) = dns::addr_answers(&packet, dns::T_A)
            && !found.is_empty()
        {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}
