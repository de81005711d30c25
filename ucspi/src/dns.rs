//! DNS packets, sans-IO: build a query, judge and read a response, the
//! way djb's resolver library (djbdns `dns_*.c`, which ucspi-tcp embeds)
//! does it. Names are kept in wire form (length-prefixed labels ending in
//! a zero byte) and shown in djb's dotted form: lowercase, with any byte
//! outside `[a-z0-9_-]` written as `\ooo`.
//!
//! Every read is bounds-checked: a hostile answer gives an error, never a
//! panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Record type: an IPv4 address.
pub const T_A: u16 = 1;
/// Record type: the name of an address (`in-addr.arpa`, `ip6.arpa`).
pub const T_PTR: u16 = 12;
/// Record type: text (what an rblsmtpd list says about a client).
pub const T_TXT: u16 = 16;
/// Record type: an IPv6 address.
pub const T_AAAA: u16 = 28;
const C_IN: u16 = 1;

/// The longest name in wire form (RFC 1035), as in djb's `name[255]`.
const MAX_NAME: usize = 255;

/// A malformed packet (djb: `error_proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

fn u16_at(p: &[u8], pos: usize) -> Option<u16> {
    let b = p.get(pos..pos + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Read a possibly compressed name at `pos`; returns it in wire form and
/// the position after it (`dns_packet_getname`).
pub fn get_name(p: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), Malformed> {
    let mut name = Vec::with_capacity(64);
    let mut loops = 0;
    let mut state = 0u8;
    let mut first_compress = None;
    loop {
        let mut ch = *p.get(pos).ok_or(Malformed)?;
        pos += 1;
        loops += 1;
        if loops >= 1000 {
            return Err(Malformed);
        }
        if state > 0 {
            if name.len() + 1 > MAX_NAME {
                return Err(Malformed);
            }
            name.push(ch);
            state -= 1;
            continue;
        }
        while ch >= 192 {
            let hi = usize::from(ch - 192) << 8;
            let lo = usize::from(*p.get(pos).ok_or(Malformed)?);
            pos += 1;
            if first_compress.is_none() {
                first_compress = Some(pos);
            }
            pos = hi + lo;
            ch = *p.get(pos).ok_or(Malformed)?;
            pos += 1;
            loops += 1;
            if loops >= 1000 {
                return Err(Malformed);
            }
        }
        if ch >= 64 || name.len() + 1 > MAX_NAME {
            return Err(Malformed);
        }
        name.push(ch);
        if ch == 0 {
            break;
        }
        state = ch;
    }
    Ok((name, first_compress.unwrap_or(pos)))
}

/// Skip a name at `pos` (`dns_packet_skipname`).
fn skip_name(p: &[u8], mut pos: usize) -> Result<usize, Malformed> {
    loop {
        let ch = *p.get(pos).ok_or(Malformed)?;
        pos += 1;
        if ch >= 192 {
            return if pos < p.len() {
                Ok(pos + 1)
            } else {
                Err(Malformed)
            };
        }
        if ch >= 64 {
            return Err(Malformed);
        }
        if ch == 0 {
            return Ok(pos);
        }
        pos += usize::from(ch);
    }
}

/// Two wire names are the same name (ASCII case ignored).
pub fn names_equal(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// djb's dotted form of a wire name (`dns_domain_todot_cat`): lowercase,
/// `\ooo` for bytes outside `[a-z0-9_-]`, `.` for the root.
pub fn to_dotted(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len());
    if wire.first().is_none_or(|&l| l == 0) {
        out.push(b'.');
        return out;
    }
    let mut i = 0;
    while let Some(&len) = wire.get(i) {
        if len == 0 {
            break;
        }
        if i > 0 {
            out.push(b'.');
        }
        let label = wire.get(i + 1..i + 1 + usize::from(len)).unwrap_or(&[]);
        for &c in label {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_' {
                out.push(c);
            } else {
                out.extend_from_slice(&[
                    b'\\',
                    b'0' + ((c >> 6) & 7),
                    b'0' + ((c >> 3) & 7),
                    b'0' + (c & 7),
                ]);
            }
        }
        i += 1 + usize::from(len);
    }
    out
}

/// A dotted name to wire form (`dns_domain_fromdot`): empty labels are
/// skipped, `\ooo` and `\c` escapes understood. `None` when a label or
/// the name is too long.
pub fn from_dotted(s: &[u8]) -> Option<Vec<u8>> {
    let mut name = Vec::with_capacity(s.len() + 2);
    let mut label: Vec<u8> = Vec::with_capacity(63);
    let flush = |name: &mut Vec<u8>, label: &mut Vec<u8>| -> Option<()> {
        if !label.is_empty() {
            if name.len() + label.len() + 1 > MAX_NAME {
                return None;
            }
            name.push(label.len() as u8);
            name.append(label);
        }
        Some(())
    };
    let mut i = 0;
    while i < s.len() {
        let mut ch = s[i];
        i += 1;
        if ch == b'.' {
            flush(&mut name, &mut label)?;
            continue;
        }
        if ch == b'\\' {
            let Some(&c) = s.get(i) else { break };
            i += 1;
            ch = c;
            if (b'0'..=b'7').contains(&ch) {
                ch -= b'0';
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d) if (b'0'..=b'7').contains(&d) => {
                            ch = (ch << 3).wrapping_add(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
            }
        }
        if label.len() >= 63 {
            return None;
        }
        label.push(ch);
    }
    flush(&mut name, &mut label)?;
    if name.len() + 1 > MAX_NAME {
        return None;
    }
    name.push(0);
    Some(name)
}

/// The PTR name of an address: `4.3.2.1.in-addr.arpa` or the nibbles of
/// `ip6.arpa`, in wire form. A v4-mapped IPv6 address is its IPv4 name.
pub fn reverse_name(ip: IpAddr) -> Vec<u8> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let mut out = Vec::with_capacity(80);
    match ip {
        IpAddr::V4(v4) => {
            for b in v4.octets().iter().rev() {
                let s = b.to_string();
                out.push(s.len() as u8);
                out.extend_from_slice(s.as_bytes());
            }
            for l in [&b"in-addr"[..], b"arpa"] {
                out.push(l.len() as u8);
                out.extend_from_slice(l);
            }
        }
        IpAddr::V6(v6) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for b in v6.octets().iter().rev() {
                out.extend_from_slice(&[1, HEX[usize::from(b & 15)], 1, HEX[usize::from(b >> 4)]]);
            }
            for l in [&b"ip6"[..], b"arpa"] {
                out.push(l.len() as u8);
                out.extend_from_slice(l);
            }
        }
    }
    out.push(0);
    out
}

/// A recursive query (RD set) for `qname` (wire form) of type `qtype`.
pub fn query(id: u16, qname: &[u8], qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(12 + qname.len() + 4);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(qname);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&C_IN.to_be_bytes());
    q
}

/// What a received packet means for the query that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not an answer to our question (wrong id, name or type): ignore it
    /// and keep waiting, as djb's `irrelevant`.
    Irrelevant,
    /// Truncated: ask again over TCP.
    WantsTcp,
    /// SERVFAIL, REFUSED and the like: try the next server.
    ServerFailed,
    /// An answer (possibly NXDOMAIN, which reads as "no records").
    Answer,
}

/// Judge `p` as a response to `query` (as built by [`query`]).
pub fn judge(p: &[u8], query: &[u8]) -> Verdict {
    let Some(hdr) = p.get(..12) else {
        return Verdict::Irrelevant;
    };
    if hdr[..2] != query[..2] || hdr[2] & 0x80 == 0 || hdr[4] != 0 || hdr[5] != 1 {
        return Verdict::Irrelevant;
    }
    let Ok((name, pos)) = get_name(p, 12) else {
        return Verdict::Irrelevant;
    };
    let qname = &query[12..query.len() - 4];
    if !names_equal(&name, qname) || p.get(pos..pos + 4) != query.get(query.len() - 4..) {
        return Verdict::Irrelevant;
    }
    if hdr[2] & 2 != 0 {
        return Verdict::WantsTcp;
    }
    let rcode = hdr[3] & 15;
    if rcode != 0 && rcode != 3 {
        return Verdict::ServerFailed;
    }
    Verdict::Answer
}

/// Walk the answer section: calls `f(type, class, pos of rdata, rdata)`
/// for each record; `f` returns true to stop.
fn answers(
    p: &[u8],
    mut f: impl FnMut(u16, u16, usize, &[u8]) -> Result<bool, Malformed>,
) -> Result<(), Malformed> {
    let mut n = u16_at(p, 6).ok_or(Malformed)?;
    let mut pos = skip_name(p, 12)? + 4;
    while n > 0 {
        n -= 1;
        pos = skip_name(p, pos)?;
        let rtype = u16_at(p, pos).ok_or(Malformed)?;
        let class = u16_at(p, pos + 2).ok_or(Malformed)?;
        let len = usize::from(u16_at(p, pos + 8).ok_or(Malformed)?);
        pos += 10;
        let rdata = p.get(pos..pos + len).ok_or(Malformed)?;
        if f(rtype, class, pos, rdata)? {
            return Ok(());
        }
        pos += len;
    }
    Ok(())
}

/// The first PTR record's name, in wire form (`dns_name_packet`).
pub fn ptr_answer(p: &[u8]) -> Result<Option<Vec<u8>>, Malformed> {
    let mut out = None;
    answers(p, |t, c, pos, _| {
        if t == T_PTR && c == C_IN {
            out = Some(get_name(p, pos)?.0);
            return Ok(true);
        }
        Ok(false)
    })?;
    Ok(out)
}

/// The addresses of all A (or AAAA) records (`dns_ip4_packet`).
pub fn addr_answers(p: &[u8], qtype: u16) -> Result<Vec<IpAddr>, Malformed> {
    let mut out = Vec::new();
    answers(p, |t, c, _, rdata| {
        if t == qtype && c == C_IN {
            if let Ok(b) = <[u8; 4]>::try_from(rdata)
                && qtype == T_A
            {
                out.push(IpAddr::V4(Ipv4Addr::from(b)));
            }
            if let Ok(b) = <[u8; 16]>::try_from(rdata)
                && qtype == T_AAAA
            {
                out.push(IpAddr::V6(Ipv6Addr::from(b)));
            }
        }
        Ok(false)
    })?;
    Ok(out)
}

/// The text of all TXT records, each record's strings run together and
/// the records one after another, with bytes outside 32..=126 read as
/// `?` (`dns_txt_packet`: what rblsmtpd shows a client).
pub fn txt_answer(p: &[u8]) -> Result<Vec<u8>, Malformed> {
    let mut out = Vec::new();
    answers(p, |t, c, _, rdata| {
        if t == T_TXT && c == C_IN {
            let mut left = 0u8;
            for &ch in rdata {
                if left == 0 {
                    left = ch;
                } else {
                    left -= 1;
                    out.push(if (32..=126).contains(&ch) { ch } else { b'?' });
                }
            }
        }
        Ok(false)
    })?;
    Ok(out)
}

/// djb's `dns_ip4` shortcut: a name made only of digits, dots and
/// brackets is read as address bytes without asking DNS (`1.2.3.4`,
/// `[1.2.3.4]`). Returns the bytes read (a multiple of 4 is kept) or
/// `None` when the name needs a query.
pub fn ip4_literal(dotted: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut code: u8 = 0;
    for &ch in dotted.iter().chain(std::iter::once(&b'.')) {
        match ch {
            b'[' | b']' => {}
            b'.' => {
                out.push(code);
                code = 0;
            }
            b'0'..=b'9' => code = code.wrapping_mul(10).wrapping_add(ch - b'0'),
            _ => return None,
        }
    }
    let keep = out.len() & !3;
    out.truncate(keep);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `q` with the given answer records (type, rdata).
    pub(crate) fn response(q: &[u8], rcode: u8, records: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut p = q.to_vec();
        p[2] |= 0x80;
        p[3] = 0x80 | rcode;
        p[7] = records.len() as u8;
        for (t, rdata) in records {
            p.extend_from_slice(&[0xc0, 12]);
            p.extend_from_slice(&t.to_be_bytes());
            p.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            p.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            p.extend_from_slice(rdata);
        }
        p
    }

    #[test]
    fn reverse_names() {
        let n = reverse_name("127.0.0.1".parse().unwrap());
        assert_eq!(to_dotted(&n), b"1.0.0.127.in-addr.arpa");
        let n = reverse_name("::ffff:10.1.2.3".parse().unwrap());
        assert_eq!(to_dotted(&n), b"3.2.1.10.in-addr.arpa");
        let n = reverse_name("2001:db8::1".parse().unwrap());
        let d = String::from_utf8(to_dotted(&n)).unwrap();
        assert!(d.starts_with("1.0.0.0.0.0.0.0."));
        assert!(d.ends_with(".8.b.d.0.1.0.0.2.ip6.arpa"));
    }

    #[test]
    fn dotted_forms_as_djb() {
        let w = b"\x06Client\x07EXAMPLE\x03com\x00";
        assert_eq!(to_dotted(w), b"client.example.com");
        assert_eq!(to_dotted(b"\x03a b\x00"), b"a\\040b");
        assert_eq!(to_dotted(b"\x00"), b".");
        assert_eq!(from_dotted(b"a\\040b.").unwrap(), b"\x03a b\x00");
        assert_eq!(from_dotted(b"x..y").unwrap(), b"\x01x\x01y\x00");
        assert_eq!(from_dotted(&[b'a'; 64]), None);
    }

    #[test]
    fn txt_answers_run_together() {
        let q = query(7, &from_dotted(b"2.0.0.127.rbl.example").unwrap(), T_TXT);
        let r = response(
            &q,
            0,
            &[
                (T_TXT, b"\x05Go aw\x02ay".to_vec()),
                (T_A, vec![127, 0, 0, 2]),
                (T_TXT, b"\x03: \x01".to_vec()),
            ],
        );
        assert_eq!(judge(&r, &q), Verdict::Answer);
        assert_eq!(txt_answer(&r).unwrap(), b"Go away: ?");
        assert_eq!(
            addr_answers(&r, T_A).unwrap(),
            vec![IpAddr::from([127, 0, 0, 2])]
        );
        // A record claiming more rdata than the packet has.
        let mut bad = r.clone();
        bad.truncate(r.len() - 2);
        assert_eq!(txt_answer(&bad), Err(Malformed));
    }

    #[test]
    fn a_ptr_answer_is_read() {
        let q = query(0x1234, &reverse_name("127.0.0.1".parse().unwrap()), T_PTR);
        let r = response(
            &q,
            0,
            &[(T_PTR, b"\x06Client\x07EXAMPLE\x03com\x00".to_vec())],
        );
        assert_eq!(judge(&r, &q), Verdict::Answer);
        let name = ptr_answer(&r).unwrap().unwrap();
        assert_eq!(to_dotted(&name), b"client.example.com");
        // NXDOMAIN: an answer with no name.
        let r = response(&q, 3, &[]);
        assert_eq!(judge(&r, &q), Verdict::Answer);
        assert_eq!(ptr_answer(&r).unwrap(), None);
        assert_eq!(judge(&response(&q, 2, &[]), &q), Verdict::ServerFailed);
        let mut other = r.clone();
        other[1] ^= 1;
        assert_eq!(judge(&other, &q), Verdict::Irrelevant);
        let mut tc = r;
        tc[2] |= 2;
        assert_eq!(judge(&tc, &q), Verdict::WantsTcp);
    }

    #[test]
    fn addresses_are_collected() {
        let q = query(7, &from_dotted(b"a.example").unwrap(), T_A);
        let r = response(
            &q,
            0,
            &[
                (T_A, vec![1, 2, 3, 4]),
                (T_AAAA, vec![0; 16]),
                (T_A, vec![5, 6, 7, 8]),
            ],
        );
        let a = addr_answers(&r, T_A).unwrap();
        assert_eq!(
            a,
            vec![IpAddr::from([1, 2, 3, 4]), IpAddr::from([5, 6, 7, 8])]
        );
    }

    #[test]
    fn hostile_packets_never_panic() {
        let q = query(7, &from_dotted(b"a.example").unwrap(), T_PTR);
        let good = response(&q, 0, &[(T_PTR, b"\xc0\x0c".to_vec())]);
        // Every truncation and every single-byte change of a valid answer.
        for n in 0..good.len() {
            let p = &good[..n];
            let _ = judge(p, &q);
            let _ = ptr_answer(p);
            let _ = addr_answers(p, T_A);
        }
        for i in 0..good.len() {
            for v in [0u8, 1, 63, 64, 191, 192, 255] {
                let mut p = good.clone();
                p[i] = v;
                let _ = judge(&p, &q);
                let _ = ptr_answer(&p);
                let _ = addr_answers(&p, T_A);
            }
        }
        // A compression loop.
        let mut p = q.clone();
        p[2] |= 0x80;
        p[7] = 1;
        p.extend_from_slice(&[0xc0, p.len() as u8]);
        assert!(ptr_answer(&p).is_err());
    }

    #[test]
    fn ip_literals_as_djb() {
        assert_eq!(ip4_literal(b"1.2.3.4"), Some(vec![1, 2, 3, 4]));
        assert_eq!(ip4_literal(b"[10.0.0.1]"), Some(vec![10, 0, 0, 1]));
        assert_eq!(ip4_literal(b"123"), Some(vec![]));
        assert_eq!(ip4_literal(b"host.example"), None);
    }
}
