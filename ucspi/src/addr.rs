//! The `host` and `port` operands, and addresses as the environment and
//! the log show them.
//!
//! host: `0` or empty is 0.0.0.0 (IPv4, as 0.88); a dotted quad, also in
//! brackets; a name, resolved through DNS only (A records, djb's
//! qualification with `$LOCALDOMAIN` or resolv.conf's `search`/`domain`).
//! Added: `::` listens on IPv6 only, `:0` on both families with one
//! socket (ucspi-tcp6's spelling), and IPv6 literals (`::1`, `[::1]`).
//!
//! port: all digits is a number (empty is 0); anything else is looked up
//! in `/etc/services` for tcp.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// 0.0.0.0
    Any4,
    /// `::`, IPv6 only
    Any6,
    /// `:0`, one IPv6 socket that also takes IPv4 clients
    Dual,
    /// One address (IPv6 only, for an IPv6 address).
    Addr(IpAddr),
    /// Resolve through DNS.
    Name(Vec<u8>),
}

/// Read the host operand (see the module's doc).
pub fn parse_host(h: &[u8]) -> Host {
    match h {
        b"" | b"0" => return Host::Any4,
        b"::" | b"[::]" => return Host::Any6,
        b":0" => return Host::Dual,
        _ => {}
    }
    let inner = h
        .strip_prefix(b"[")
        .and_then(|x| x.strip_suffix(b"]"))
        .unwrap_or(h);
    if let Some(ip) = std::str::from_utf8(inner)
        .ok()
        .and_then(|s| s.parse::<IpAddr>().ok())
    {
        return Host::Addr(ip);
    }
    Host::Name(h.to_vec())
}

/// The port operand; `None` if it is not a number and not a tcp service.
pub fn parse_port(p: &[u8]) -> Option<u16> {
    if p.iter().all(u8::is_ascii_digit) {
        if p.is_empty() {
            return Some(0);
        }
        return std::str::from_utf8(p).ok()?.parse().ok();
    }
    let services = std::fs::read("/etc/services").ok()?;
    service_port(&services, p)
}

/// Look `name` up in the text of an `/etc/services`.
pub fn service_port(services: &[u8], name: &[u8]) -> Option<u16> {
    for line in services.split(|&b| b == b'\n') {
        let line = line.split(|&b| b == b'#').next().unwrap_or(b"");
        let mut words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let (Some(first), Some(pp)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(slash) = pp.iter().position(|&b| b == b'/') else {
            continue;
        };
        if &pp[slash + 1..] != b"tcp" {
            continue;
        }
        if first == name || words.any(|w| w == name) {
            return std::str::from_utf8(&pp[..slash]).ok()?.parse().ok();
        }
    }
    None
}

/// An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d`;
/// it is shown and judged as the IPv4 address it is.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// [`unmap`] for a socket address.
pub fn unmap_sa(sa: SocketAddr) -> SocketAddr {
    SocketAddr::new(unmap(sa.ip()), sa.port())
}

/// The text of an address: dotted quad, or RFC 5952 IPv6 (`::1`).
pub fn show(ip: IpAddr) -> String {
    unmap(ip).to_string()
}

/// The unspecified address of a family.
pub fn any(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// The names to try for `name`, djb's `dns_ip4_qualify` without
/// `/etc/dnsrewrite`: a name ending in a dot is used as is (without the
/// dot); a name without dots gets each search domain appended; others are
/// used as they are.
pub fn qualify(name: &[u8], search: &[Vec<u8>]) -> Vec<Vec<u8>> {
    if let Some(n) = name.strip_suffix(b".") {
        return vec![n.to_vec()];
    }
    if !name.contains(&b'.') && !search.is_empty() {
        return search.iter().map(|d| [name, b".", d].concat()).collect();
    }
    vec![name.to_vec()]
}

/// Search domains: `$LOCALDOMAIN` (space-separated) if set, else the
/// first `search` or `domain` line of resolv.conf's text, else the domain
/// part of the host name.
pub fn search_domains(
    localdomain: Option<&[u8]>,
    resolv_conf: &[u8],
    hostname: &[u8],
) -> Vec<Vec<u8>> {
    let words = |s: &[u8]| -> Vec<Vec<u8>> {
        s.split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    };
    if let Some(l) = localdomain {
        return words(l);
    }
    for line in resolv_conf.split(|&b| b == b'\n') {
        for key in [&b"search"[..], b"domain"] {
            if line.len() > key.len()
                && line.starts_with(key)
                && matches!(line[key.len()], b' ' | b'\t')
            {
                return words(&line[key.len()..]);
            }
        }
    }
    match hostname.iter().position(|&b| b == b'.') {
        Some(i) if i + 1 < hostname.len() => vec![hostname[i + 1..].to_vec()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(parse_host(b"0"), Host::Any4);
        assert_eq!(parse_host(b""), Host::Any4);
        assert_eq!(parse_host(b"::"), Host::Any6);
        assert_eq!(parse_host(b":0"), Host::Dual);
        assert_eq!(
            parse_host(b"127.0.0.1"),
            Host::Addr("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_host(b"[127.0.0.1]"),
            Host::Addr("127.0.0.1".parse().unwrap())
        );
        assert_eq!(parse_host(b"[::1]"), Host::Addr("::1".parse().unwrap()));
        assert_eq!(
            parse_host(b"mail.example"),
            Host::Name(b"mail.example".to_vec())
        );
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port(b"25"), Some(25));
        assert_eq!(parse_port(b""), Some(0));
        assert_eq!(parse_port(b"70000"), None);
        let s = b"# c\nsmtp\t\t25/tcp\t\tmail\nsyslog 514/udp\nshell 514/tcp cmd # x\n";
        assert_eq!(service_port(s, b"smtp"), Some(25));
        assert_eq!(service_port(s, b"mail"), Some(25));
        assert_eq!(service_port(s, b"cmd"), Some(514));
        assert_eq!(service_port(s, b"syslog"), None);
        assert_eq!(service_port(s, b"nosuchservice"), None);
    }

    #[test]
    fn shown_addresses() {
        assert_eq!(show("::ffff:127.0.0.1".parse().unwrap()), "127.0.0.1");
        assert_eq!(show("::1".parse().unwrap()), "::1");
        assert_eq!(show("2001:DB8:0:0:0:0:0:5".parse().unwrap()), "2001:db8::5");
    }

    #[test]
    fn qualification() {
        let s = search_domains(
            None,
            b"nameserver 1.2.3.4\nsearch a.example b.example\n",
            b"h",
        );
        assert_eq!(s, vec![b"a.example".to_vec(), b"b.example".to_vec()]);
        assert_eq!(qualify(b"mail", &s)[1], b"mail.b.example");
        assert_eq!(qualify(b"mail.x", &s), vec![b"mail.x".to_vec()]);
        assert_eq!(qualify(b"mail.", &s), vec![b"mail".to_vec()]);
        let s = search_domains(Some(b"l.example"), b"search a.example", b"h");
        assert_eq!(s, vec![b"l.example".to_vec()]);
        assert_eq!(
            search_domains(None, b"", b"box.site.example"),
            vec![b"site.example".to_vec()]
        );
    }
}
