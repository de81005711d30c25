//! The TLS policy: which destinations get verified TLS or nothing
//! (`control/tlsdestinations`), and the client configurations for both
//! kinds of STARTTLS (built in `tls::client`).
//!
//! `tlsdestinations` takes netqmail's TLS patch spelling, one entry a
//! line (empty lines and `#` comments skipped):
//! - `host`: that host, compared without regard to case;
//! - `.domain`: every host that ends in `.domain` (not `domain` itself,
//!   as in smtproutes);
//! - `*`: every destination;
//! - any of these followed by `:port`: only when connecting to that
//!   port.
//!
//! An entry matches the recipient's domain (qmail-remote's first
//! argument), the relay as written in smtproutes, or the MX host name
//! the address came from. A destination that matches is delivered only
//! over STARTTLS with a certificate that chains to a trusted CA (the
//! system's store, plus the PEM file named in `control/tlscafile`) and
//! names the host connected to (the relay or MX name, or its address
//! when there is no name). Anything less is a deferral: the message is
//! never sent in the clear to such a destination.

use std::sync::Arc;

use rustls::ClientConfig;

/// The entries of `control/tlsdestinations`.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    entries: Vec<(Vec<u8>, Option<u16>)>,
}

impl Destinations {
    /// Parse the list's lines.
    pub fn new(lines: &[Vec<u8>]) -> Destinations {
        let mut entries = Vec::new();
        for line in lines {
            let (host, port) = match line.iter().rposition(|&b| b == b':') {
                Some(c) => match control::file::parse_ulong(&line[c + 1..]) {
                    Some(p) if p <= 0xffff && line[c + 1..].iter().all(u8::is_ascii_digit) => {
                        (&line[..c], Some(p as u16))
                    }
                    // Not a port (another patch's syntax, such as a
                    // CA file after the colon): keep the host, so the
                    // admin's wish to secure it holds.
                    _ => (&line[..c], None),
                },
                None => (&line[..], None),
            };
            if !host.is_empty() {
                entries.push((host.to_ascii_lowercase(), port));
            }
        }
        Destinations { entries }
    }

    /// Mail to a destination known by any of `names`, connecting to
    /// `port`, must have verified TLS.
    pub fn verified(&self, names: &[&[u8]], port: u16) -> bool {
        self.entries.iter().any(|(entry, p)| {
            p.is_none_or(|p| p == port) && names.iter().any(|n| matches(entry, n))
        })
    }
}

fn matches(entry: &[u8], name: &[u8]) -> bool {
    let name = name.strip_suffix(b".").unwrap_or(name).to_ascii_lowercase();
    if entry == b"*" {
        return true;
    }
    if entry.starts_with(b".") {
        return name.len() > entry.len() && name.ends_with(entry);
    }
    entry == &name[..]
}

/// The opportunistic configuration (any certificate).
pub fn opportunistic() -> Option<Arc<ClientConfig>> {
    tls::client::opportunistic().ok()
}

/// The verified configuration: the system's CA store plus `extra_ca`
/// (the contents of the file `control/tlscafile` names).
pub fn verified(extra_ca: Option<&[u8]>) -> Result<Arc<ClientConfig>, tls::Error> {
    tls::client::verified(tls::client::system_roots(), extra_ca)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(lines: &[&str]) -> Destinations {
        let v: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
        Destinations::new(&v)
    }

    #[test]
    fn hosts_domains_wildcard_and_ports() {
        let list = d(&["Mail.Example.com", ".bank.example", "smarthost.example:587"]);
        assert!(list.verified(&[b"mail.example.com"], 25));
        assert!(list.verified(&[b"MAIL.example.com."], 25));
        assert!(!list.verified(&[b"example.com"], 25));
        assert!(list.verified(&[b"mx1.bank.example"], 25));
        assert!(!list.verified(&[b"bank.example"], 25));
        assert!(!list.verified(&[b"xbank.example"], 25));
        assert!(list.verified(&[b"smarthost.example"], 587));
        assert!(!list.verified(&[b"smarthost.example"], 25));
        assert!(list.verified(&[b"other", b"mail.example.com"], 25));
        assert!(!list.verified(&[], 25));
        assert!(d(&["*"]).verified(&[b"anything"], 2525));
        assert!(d(&["*:465"]).verified(&[b"x"], 465));
        assert!(!d(&["*:465"]).verified(&[b"x"], 25));
        assert!(!d(&[]).verified(&[b"x"], 25));
    }

    #[test]
    fn an_entry_with_a_strange_tail_still_secures_its_host() {
        assert!(d(&["host.example:ca.pem"]).verified(&[b"host.example"], 25));
        assert!(d(&["host.example:99999"]).verified(&[b"host.example"], 25));
    }
}
