//! From a host to the addresses to try, in order (qmail's `dns_mxip`
//! and `dns_ip`), over any [`Lookup`] so the algorithm is tested
//! without a network.
//!
//! - An address literal is used as it is.
//! - Otherwise the MX records: NXDOMAIN or no MX record at all means
//!   the host's own addresses with preference 0 (the implicit MX).
//! - MX hosts are taken lowest preference first; among equal
//!   preferences the order is random (qmail's selection, with its
//!   linear congruential generator kept in 32 bits as on the machines
//!   it was written for: with 64-bit `unsigned long` qmail's test never
//!   fires and the "random" order is always the DNS order).
//! - Each MX host's addresses follow it: IPv6 first, then IPv4.
//! - An MX host that does not exist is skipped; one whose lookup fails
//!   temporarily is skipped too but marks the result soft, so an empty
//!   result is then a temporary failure, not a bounce.
//! - A null MX (RFC 7505, the exchange `.`) has no addresses.

use std::net::IpAddr;

use crate::route::literal;

/// Why a lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// Try again later (SERVFAIL, timeout, no server answered).
    Soft,
    /// The name does not exist (NXDOMAIN) or is not a valid name.
    Hard,
}

/// The lookups the algorithm needs.
pub trait Lookup {
    /// MX records as (preference, exchange); `Ok(empty)` when the name
    /// exists but has none.
    fn mx(&mut self, name: &str) -> Result<Vec<(u16, String)>, DnsError>;
    /// AAAA records; `Ok(empty)` when the name has none.
    fn aaaa(&mut self, name: &str) -> Result<Vec<IpAddr>, DnsError>;
    /// A records; `Ok(empty)` when the name has none.
    fn a(&mut self, name: &str) -> Result<Vec<IpAddr>, DnsError>;
}

/// One address to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address.
    pub ip: IpAddr,
    /// The MX preference (0 for A/AAAA fallback and literals).
    pub pref: u32,
    /// The host name the address came from, for TLS's SNI.
    pub name: Option<String>,
}

/// The addresses for a host, and whether some lookup failed softly
/// (qmail's return value 1).
pub type Targets = (Vec<Target>, bool);

/// The addresses of one name: IPv6 then IPv4. Addresses from either
/// family win over a failure of the other; with none, a soft failure
/// of either makes the whole soft, and NXDOMAIN makes it hard.
fn addresses(lookup: &mut dyn Lookup, name: &str) -> Result<Vec<IpAddr>, DnsError> {
    let v6 = lookup.aaaa(name);
    let v4 = lookup.a(name);
    let mut all = Vec::new();
    if let Ok(v) = &v6 {
        all.extend_from_slice(v);
    }
    if let Ok(v) = &v4 {
        all.extend_from_slice(v);
    }
    if !all.is_empty() {
        return Ok(all);
    }
    match (v6, v4) {
        (Err(DnsError::Soft), _) | (_, Err(DnsError::Soft)) => Err(DnsError::Soft),
        (_, Err(DnsError::Hard)) => Err(DnsError::Hard),
        _ => Ok(all),
    }
}

/// Append `name`'s addresses with preference `pref` (qmail's
/// `dns_ipplus`).
fn ipplus(
    lookup: &mut dyn Lookup,
    out: &mut Vec<Target>,
    name: &str,
    pref: u32,
) -> Result<(), DnsError> {
    if let Some(ip) = literal(name.as_bytes()) {
        out.push(Target {
            ip,
            pref: 0,
            name: None,
        });
        return Ok(());
    }
    for ip in addresses(lookup, name)? {
        out.push(Target {
            ip,
            pref,
            name: Some(name.trim_end_matches('.').to_string()),
        });
    }
    Ok(())
}

/// The addresses of `host` itself, no MX (qmail's `dns_ip`, used for
/// smtproutes relays).
pub fn ips(lookup: &mut dyn Lookup, host: &str) -> Result<Targets, DnsError> {
    let mut out = Vec::new();
    ipplus(lookup, &mut out, host, 0)?;
    Ok((out, false))
}

/// The addresses to try for mail to `host` (qmail's `dns_mxip`).
/// `random` seeds the shuffle among equal preferences.
pub fn mx_ips(lookup: &mut dyn Lookup, host: &str, random: u32) -> Result<Targets, DnsError> {
    if literal(host.as_bytes()).is_some() {
        return ips(lookup, host);
    }
    let mut mxs = match lookup.mx(host) {
        Err(DnsError::Soft) => return Err(DnsError::Soft),
        Err(DnsError::Hard) => return ips(lookup, host),
        Ok(list) if list.is_empty() => return ips(lookup, host),
        Ok(list) => list,
    };
    let mut random = random;
    let mut out = Vec::new();
    let mut soft = false;
    while !mxs.is_empty() {
        let mut i = 0;
        let mut numsame: u32 = 1;
        for j in 1..mxs.len() {
            if mxs[j].0 < mxs[i].0 {
                i = j;
                numsame = 1;
            } else if mxs[j].0 == mxs[i].0 {
                numsame += 1;
                random = random.wrapping_mul(69069).wrapping_add(1);
                if random / 2 < 2_147_483_647 / numsame {
                    i = j;
                }
            }
        }
        let (pref, name) = mxs.swap_remove(i);
        if name.is_empty() || name == "." {
            continue; // null MX: this host takes no mail
        }
        if ipplus(lookup, &mut out, &name, u32::from(pref)) == Err(DnsError::Soft) {
            soft = true;
        }
    }
    Ok((out, soft))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        mx: HashMap<String, Result<Vec<(u16, String)>, DnsError>>,
        a: HashMap<String, Result<Vec<IpAddr>, DnsError>>,
        aaaa: HashMap<String, Result<Vec<IpAddr>, DnsError>>,
    }

    impl Fake {
        fn get<T: Clone>(
            m: &HashMap<String, Result<Vec<T>, DnsError>>,
            name: &str,
        ) -> Result<Vec<T>, DnsError> {
            m.get(name).cloned().unwrap_or(Err(DnsError::Hard))
        }
    }

    impl Lookup for Fake {
        fn mx(&mut self, name: &str) -> Result<Vec<(u16, String)>, DnsError> {
            Fake::get(&self.mx, name)
        }
        fn aaaa(&mut self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
            Fake::get(&self.aaaa, name)
        }
        fn a(&mut self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
            Fake::get(&self.a, name)
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn fake() -> Fake {
        let mut f = Fake::default();
        f.mx.insert(
            "example.com".into(),
            Ok(vec![
                (20, "mx2.example.com".into()),
                (10, "mx1.example.com".into()),
            ]),
        );
        f.a.insert("mx1.example.com".into(), Ok(vec![ip("192.0.2.1")]));
        f.aaaa
            .insert("mx1.example.com".into(), Ok(vec![ip("2001:db8::1")]));
        f.a.insert("mx2.example.com".into(), Ok(vec![ip("192.0.2.2")]));
        f.aaaa.insert("mx2.example.com".into(), Ok(vec![]));
        f
    }

    fn addrs(t: &[Target]) -> Vec<(String, u32)> {
        t.iter().map(|t| (t.ip.to_string(), t.pref)).collect()
    }

    #[test]
    fn mx_by_preference_ipv6_first() {
        let (t, soft) = mx_ips(&mut fake(), "example.com", 0).unwrap();
        assert!(!soft);
        assert_eq!(
            addrs(&t),
            vec![
                ("2001:db8::1".into(), 10),
                ("192.0.2.1".into(), 10),
                ("192.0.2.2".into(), 20)
            ]
        );
        assert_eq!(t[0].name.as_deref(), Some("mx1.example.com"));
    }

    #[test]
    fn no_mx_or_nxdomain_falls_back_to_the_host() {
        let mut f = fake();
        f.mx.insert("plain.example".into(), Ok(vec![]));
        f.a.insert("plain.example".into(), Ok(vec![ip("192.0.2.9")]));
        f.aaaa.insert("plain.example".into(), Ok(vec![]));
        let (t, _) = mx_ips(&mut f, "plain.example", 0).unwrap();
        assert_eq!(addrs(&t), vec![("192.0.2.9".into(), 0)]);
        // NXDOMAIN all the way: hard.
        assert_eq!(mx_ips(&mut f, "nowhere.example", 0), Err(DnsError::Hard));
    }

    #[test]
    fn soft_failures() {
        let mut f = fake();
        f.mx.insert("soft.example".into(), Err(DnsError::Soft));
        assert_eq!(mx_ips(&mut f, "soft.example", 0), Err(DnsError::Soft));
        // One MX host fails softly, the other works: soft flag, list kept.
        f.mx.insert(
            "half.example".into(),
            Ok(vec![
                (10, "broken.example".into()),
                (20, "mx2.example.com".into()),
            ]),
        );
        f.a.insert("broken.example".into(), Err(DnsError::Soft));
        let (t, soft) = mx_ips(&mut f, "half.example", 0).unwrap();
        assert!(soft);
        assert_eq!(addrs(&t), vec![("192.0.2.2".into(), 20)]);
        // An AAAA SERVFAIL does not hide a good A record.
        f.a.insert("v4only.example".into(), Ok(vec![ip("192.0.2.7")]));
        f.aaaa.insert("v4only.example".into(), Err(DnsError::Soft));
        assert_eq!(
            addrs(&ips(&mut f, "v4only.example").unwrap().0),
            vec![("192.0.2.7".into(), 0)]
        );
        // An MX host that does not exist is skipped, not soft.
        f.mx.insert("gone.example".into(), Ok(vec![(10, "nx.example".into())]));
        assert_eq!(mx_ips(&mut f, "gone.example", 0), Ok((vec![], false)));
    }

    #[test]
    fn null_mx_has_no_addresses() {
        let mut f = fake();
        f.mx.insert("nomail.example".into(), Ok(vec![(0, ".".into())]));
        assert_eq!(mx_ips(&mut f, "nomail.example", 0), Ok((vec![], false)));
    }

    #[test]
    fn literals_skip_dns() {
        let mut f = Fake::default();
        let (t, _) = mx_ips(&mut f, "[192.0.2.5]", 0).unwrap();
        assert_eq!(addrs(&t), vec![("192.0.2.5".into(), 0)]);
        let (t, _) = ips(&mut f, "[IPv6:::1]").unwrap();
        assert_eq!(addrs(&t), vec![("::1".into(), 0)]);
    }

    #[test]
    fn equal_preferences_are_shuffled_fairly() {
        let mut f = Fake::default();
        let names = ["a", "b", "c", "d"];
        f.mx.insert(
            "eq.example".into(),
            Ok(names.iter().map(|n| (10, n.to_string())).collect()),
        );
        for (i, n) in names.iter().enumerate() {
            f.a.insert(n.to_string(), Ok(vec![ip(&format!("192.0.2.{}", i + 1))]));
            f.aaaa.insert(n.to_string(), Ok(vec![]));
        }
        let mut first = [0u32; 4];
        for seed in 0..4000u32 {
            let (t, _) = mx_ips(&mut f, "eq.example", seed.wrapping_mul(2_654_435_761)).unwrap();
            assert_eq!(t.len(), 4);
            let IpAddr::V4(v4) = t[0].ip else { panic!() };
            first[usize::from(v4.octets()[3]) - 1] += 1;
        }
        for n in first {
            assert!((700..1300).contains(&n), "first choices {first:?}");
        }
    }
}
