//! DNS lookups with `hickory-resolver` (the [`Lookup`] the MX
//! algorithm runs on).
//!
//! Which servers: `control/resolvers` when it exists and names at least
//! one, else `/etc/resolv.conf`. Each line of `control/resolvers` is an
//! address, optionally with a port: `127.0.0.1`, `127.0.0.1:5353`,
//! `::1`, `[::1]:5353`. The tests point qmail-remote at a DNS server
//! they run on loopback this way; a site can use it for a local cache
//! on another port.
//!
//! As qmail's `res_query`: names are looked up as given (fully
//! qualified, no search list), `/etc/hosts` is not used, and the
//! answer classes are NXDOMAIN (hard: the name does not exist),
//! NOERROR without records (the name has none of that type), and
//! everything else (SERVFAIL, REFUSED, timeouts: soft).
//!
//! hickory-resolver is asynchronous; a one-thread tokio runtime runs
//! each lookup to completion, so the rest of qmail-remote stays plain
//! blocking code.

use std::io;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::{Name, ResolveError, TokioResolver};

use crate::mx::{DnsError, Lookup};

/// Parse one line of `control/resolvers`.
pub fn parse_server(line: &[u8]) -> Option<SocketAddr> {
    let s = std::str::from_utf8(line).ok()?.trim();
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa);
    }
    let ip = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    ip.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

/// A resolver and the runtime it runs on.
pub struct Resolver {
    runtime: tokio::runtime::Runtime,
    resolver: TokioResolver,
}

impl Resolver {
    /// A resolver asking `servers`, or the servers of
    /// `/etc/resolv.conf` when `servers` is empty.
    pub fn new(servers: &[SocketAddr]) -> io::Result<Resolver> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let (config, mut opts) = if servers.is_empty() {
            hickory_resolver::system_conf::read_system_conf().map_err(io::Error::other)?
        } else {
            let mut group = NameServerConfigGroup::new();
            for sa in servers {
                group.merge(NameServerConfigGroup::from_ips_clear(
                    &[sa.ip()],
                    sa.port(),
                    true,
                ));
            }
            (
                ResolverConfig::from_parts(None, vec![], group),
                ResolverOpts::default(),
            )
        };
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ndots = 0;
        opts.cache_size = 64;
        opts.preserve_intermediates = false;
        let resolver = {
            let _guard = runtime.enter();
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(opts)
                .build()
        };
        Ok(Resolver { runtime, resolver })
    }
}

/// The name as hickory wants it: fully qualified, so no search list
/// applies.
fn fqdn(name: &str) -> Result<Name, DnsError> {
    let mut n = Name::from_ascii(name).map_err(|_| DnsError::Hard)?;
    n.set_fqdn(true);
    Ok(n)
}

/// Map a failed lookup to qmail's classes; `Ok(())` means "no records
/// of that type".
fn classify(err: &ResolveError) -> Result<(), DnsError> {
    if let Some(proto) = err.proto()
        && let ProtoErrorKind::NoRecordsFound { response_code, .. } = proto.kind()
    {
        return match *response_code {
            ResponseCode::NXDomain => Err(DnsError::Hard),
            ResponseCode::NoError => Ok(()),
            _ => Err(DnsError::Soft),
        };
    }
    Err(DnsError::Soft)
}

impl Lookup for Resolver {
    fn mx(&mut self, name: &str) -> Result<Vec<(u16, String)>, DnsError> {
        let name = fqdn(name)?;
        match self.runtime.block_on(self.resolver.mx_lookup(name)) {
            Ok(found) => Ok(found
                .iter()
                .map(|mx| (mx.preference(), mx.exchange().to_ascii()))
                .collect()),
            Err(e) => classify(&e).map(|()| Vec::new()),
        }
    }

    fn aaaa(&mut self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let name = fqdn(name)?;
        match self.runtime.block_on(self.resolver.ipv6_lookup(name)) {
            Ok(found) => Ok(found.iter().map(|r| IpAddr::V6(r.0)).collect()),
            Err(e) => classify(&e).map(|()| Vec::new()),
        }
    }

    fn a(&mut self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let name = fqdn(name)?;
        match self.runtime.block_on(self.resolver.ipv4_lookup(name)) {
            Ok(found) => Ok(found.iter().map(|r| IpAddr::V4(r.0)).collect()),
            Err(e) => classify(&e).map(|()| Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lines() {
        assert_eq!(
            parse_server(b"127.0.0.1"),
            Some("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            parse_server(b"127.0.0.1:5353"),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parse_server(b"::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(parse_server(b"[::1]"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_server(b"[::1]:5353"),
            Some("[::1]:5353".parse().unwrap())
        );
        assert_eq!(parse_server(b"ns.example"), None);
    }
}
