//! The addresses of MAIL and RCPT (qmail-smtpd's `addrparse`), the
//! bracketed IP literals it rewrites to `localiphost`, the `SIZE=`
//! parameter, and the routing check for relay tricks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address this long or longer (after the localiphost rewrite) is
/// refused with `555 syntax error`: qmail's `addr.len > 900` counts the
/// terminating NUL.
pub const MAX_ADDRESS: usize = 900;

/// The address in a MAIL or RCPT argument, and what follows it.
///
/// - With a `<`, the address starts after the first `<` and ends at the
///   next unquoted `>`. Without one (RFC 821 violators), it starts after
///   the first `:` and leading spaces and ends at the next unquoted space.
/// - A source route `@a,@b:` is dropped (everything up to the first `:`).
/// - Double quotes are removed and `\x` becomes `x`; quoting only hides
///   the terminator.
///
/// The second value is the text after the terminator: the ESMTP
/// parameters (`SIZE=`, `BODY=`), which qmail ignores. An unterminated
/// address runs to the end of the line. The argument holds no NUL: the
/// session cuts command lines at the first NUL, as qmail's C strings do.
pub fn parse(arg: &[u8]) -> (Vec<u8>, &[u8]) {
    let (mut rest, terminator) = match arg.iter().position(|&b| b == b'<') {
        Some(i) => (&arg[i + 1..], b'>'),
        None => {
            let mut a = match arg.iter().position(|&b| b == b':') {
                Some(i) => &arg[i + 1..],
                None => &arg[arg.len()..],
            };
            while let [b' ', tail @ ..] = a {
                a = tail;
            }
            (a, b' ')
        }
    };
    if rest.first() == Some(&b'@') {
        rest = match rest.iter().position(|&b| b == b':') {
            Some(i) => &rest[i + 1..],
            None => &rest[rest.len()..],
        };
    }
    let mut addr = Vec::with_capacity(rest.len().min(MAX_ADDRESS + 1));
    let mut escaped = false;
    let mut quoted = false;
    let mut end = rest.len();
    for (i, &ch) in rest.iter().enumerate() {
        if escaped {
            addr.push(ch);
            escaped = false;
            continue;
        }
        if !quoted && ch == terminator {
            end = i + 1;
            break;
        }
        match ch {
            b'\\' => escaped = true,
            b'"' => quoted = !quoted,
            _ => addr.push(ch),
        }
    }
    (addr, &rest[end.min(rest.len())..])
}

/// Replace a bracketed literal of one of this host's addresses
/// (`user@[127.0.0.1]`, and as an addition `user@[IPv6:::1]`) by
/// `localiphost`, as qmail does before the rcpthosts check. The literal
/// must end the address.
pub fn rewrite_local_literal(
    addr: &mut Vec<u8>,
    localiphost: &[u8],
    is_me: impl Fn(IpAddr) -> bool,
) {
    let Some(at) = addr.iter().rposition(|&b| b == b'@') else {
        return;
    };
    if let Some(ip) = scan_bracket(&addr[at + 1..])
        && is_me(ip)
    {
        addr.truncate(at + 1);
        addr.extend_from_slice(localiphost);
    }
}

/// `[d.d.d.d]` or `[IPv6:...]`, exactly the whole of `s`.
///
/// The IPv4 form follows qmail's `ip_scanbracket`: each part is any run
/// of digits, kept modulo 256 (so `[127.0.0.257]` is 127.0.0.1, as in
/// qmail).
pub fn scan_bracket(s: &[u8]) -> Option<IpAddr> {
    let inner = s.strip_prefix(b"[")?.strip_suffix(b"]")?;
    if inner.len() > 5 && inner[..5].eq_ignore_ascii_case(b"IPv6:") {
        let text = std::str::from_utf8(&inner[5..]).ok()?;
        return text.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let mut parts = [0u8; 4];
    let mut rest = inner;
    for (n, part) in parts.iter_mut().enumerate() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        *part = rest[..digits]
            .iter()
            .fold(0u8, |v, &d| v.wrapping_mul(10).wrapping_add(d - b'0'));
        rest = &rest[digits..];
        if n < 3 {
            rest = rest.strip_prefix(b".")?;
        }
    }
    rest.is_empty().then(|| IpAddr::V4(Ipv4Addr::from(parts)))
}

/// The address routes mail onwards through its local part: it holds `%`
/// or `!` before its last `@` (the percent hack, bang paths), an `@`
/// there (`"user@victim"@us`, `user@victim@us`), or, with no `@` at all,
/// `%` or `!` anywhere. qmail accepts these for a domain in rcpthosts and
/// delivers them locally; refusing them at RCPT keeps a relay test from
/// counting them and spares the bounces.
pub fn routes_through_local_part(addr: &[u8]) -> bool {
    let local = match addr.iter().rposition(|&b| b == b'@') {
        Some(at) => &addr[..at],
        None => addr,
    };
    local.iter().any(|&b| matches!(b, b'@' | b'%' | b'!'))
}

/// The largest `SIZE=n` among the MAIL parameters, if any (RFC 1870). A
/// value too big for u64 counts as u64::MAX; a value without digits is
/// ignored.
pub fn declared_size(params: &[u8]) -> Option<u64> {
    params
        .split(|&b| b == b' ')
        .filter(|p| p.len() > 5 && p[..5].eq_ignore_ascii_case(b"SIZE="))
        .filter_map(|p| control::file::parse_ulong(&p[5..]))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(arg: &str) -> (String, String) {
        let (a, rest) = parse(arg.as_bytes());
        (
            String::from_utf8(a).unwrap(),
            String::from_utf8(rest.to_vec()).unwrap(),
        )
    }

    #[test]
    fn angle_brackets() {
        assert_eq!(p("FROM:<a@b.c>"), ("a@b.c".into(), "".into()));
        assert_eq!(
            p("FROM:<a@b.c> SIZE=10 BODY=8BITMIME"),
            ("a@b.c".into(), " SIZE=10 BODY=8BITMIME".into())
        );
        assert_eq!(p("FROM:<>"), ("".into(), "".into()));
        assert_eq!(p("TO: junk <x@y> more"), ("x@y".into(), " more".into()));
        // Unterminated: to the end of the line.
        assert_eq!(p("TO:<x@y"), ("x@y".into(), "".into()));
    }

    #[test]
    fn rfc821_violators() {
        assert_eq!(p("FROM:a@b.c"), ("a@b.c".into(), "".into()));
        assert_eq!(p("FROM:   a@b.c SIZE=5"), ("a@b.c".into(), "SIZE=5".into()));
        assert_eq!(p(""), ("".into(), "".into()));
        assert_eq!(p("FROM:"), ("".into(), "".into()));
        assert_eq!(p("nocolon"), ("".into(), "".into()));
    }

    #[test]
    fn source_routes_quotes_and_escapes() {
        assert_eq!(p("TO:<@a,@b:c@d>"), ("c@d".into(), "".into()));
        assert_eq!(p("TO:<@a,@b>"), ("".into(), "".into()));
        assert_eq!(p("TO:<\"a b>\"@c>"), ("a b>@c".into(), "".into()));
        assert_eq!(p("TO:<a\\>b@c>"), ("a>b@c".into(), "".into()));
        assert_eq!(p("TO:a\\ b@c d"), ("a b@c".into(), "d".into()));
    }

    #[test]
    fn brackets() {
        assert_eq!(
            scan_bracket(b"[127.0.0.1]"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            scan_bracket(b"[127.0.0.257]"),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(scan_bracket(b"[IPv6:::1]"), Some("::1".parse().unwrap()));
        assert_eq!(
            scan_bracket(b"[ipv6:2001:db8::5]"),
            Some("2001:db8::5".parse().unwrap())
        );
        assert_eq!(scan_bracket(b"[127.0.0]"), None);
        assert_eq!(scan_bracket(b"[127.0.0.1.]"), None);
        assert_eq!(scan_bracket(b"[127.0.0.1"), None);
        assert_eq!(scan_bracket(b"[::1]"), None);
        assert_eq!(scan_bracket(b"example.com"), None);
    }

    #[test]
    fn local_literals_become_localiphost() {
        let me = |ip: IpAddr| ip == "127.0.0.1".parse::<IpAddr>().unwrap() || ip.is_loopback();
        let mut a = b"joe@[127.0.0.1]".to_vec();
        rewrite_local_literal(&mut a, b"example.com", me);
        assert_eq!(a, b"joe@example.com");
        let mut a = b"joe@[IPv6:::1]".to_vec();
        rewrite_local_literal(&mut a, b"example.com", me);
        assert_eq!(a, b"joe@example.com");
        let mut a = b"joe@[192.0.2.1]".to_vec();
        rewrite_local_literal(&mut a, b"example.com", me);
        assert_eq!(a, b"joe@[192.0.2.1]");
        let mut a = b"[127.0.0.1]".to_vec();
        rewrite_local_literal(&mut a, b"example.com", me);
        assert_eq!(a, b"[127.0.0.1]");
    }

    #[test]
    fn routing_local_parts() {
        assert!(routes_through_local_part(b"a%b@us"));
        assert!(routes_through_local_part(b"b!a@us"));
        assert!(routes_through_local_part(b"a@b@us"));
        assert!(routes_through_local_part(b"b!a"));
        assert!(routes_through_local_part(b"a%b"));
        assert!(!routes_through_local_part(b"a.b+c@us"));
        assert!(!routes_through_local_part(b"a@b%c"));
        assert!(!routes_through_local_part(b""));
    }

    #[test]
    fn sizes() {
        assert_eq!(declared_size(b" SIZE=100 BODY=8BITMIME"), Some(100));
        assert_eq!(declared_size(b" size=7"), Some(7));
        assert_eq!(declared_size(b" SIZE=x"), None);
        assert_eq!(declared_size(b" BODY=7BIT"), None);
        assert_eq!(
            declared_size(b" SIZE=99999999999999999999999"),
            Some(u64::MAX)
        );
    }
}
