//! The rules text, line by line, exactly as ucspi-tcp 0.88's `tcprules`
//! reads it, plus IPv6 addresses.
//!
//! A line is `ADDRESS:INSTRUCTION`, INSTRUCTION being `allow` or `deny`
//! followed by any number of `,NAME=dVALUEd` (d any byte). 0.88 splits at
//! the first colon; when that does not give a valid instruction, the line
//! may still be an IPv6 rule, split at the last colon before the first
//! comma as ucspi-tcp6 does (`::1:allow`, `2001:db8::/32:deny`). Every
//! line 0.88 accepts is therefore read as 0.88 reads it; the IPv6 reading
//! only gives meaning to lines 0.88 refuses.
//!
//! The data each rule stores is built here: `D\0` for deny, then
//! `+NAME=VALUE\0` for each variable. One deliberate difference from
//! 0.88: an empty variable name (`,="v"`) is refused, since it would
//! export a nameless variable.

/// A rule read from one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule<'a> {
    /// The address part, byte for byte as written.
    pub address: &'a [u8],
    /// True when the line was split as an IPv6 rule: the address then
    /// has to be an IPv6 address, network or `INFO@` address.
    pub ipv6: bool,
}

/// A line 0.88 would refuse with `unable to parse this line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLine;

/// The line as 0.88 considers it: `None` for a comment (first byte `#`)
/// or an empty line, else the line without its trailing newlines, spaces
/// and tabs (a `\r` stays, so CRLF files fail as they do with 0.88).
/// `raw` is one line as read, with its `\n` if it had one.
pub fn strip(raw: &[u8]) -> Option<&[u8]> {
    match raw.first() {
        None | Some(b'#') | Some(b'\n') => return None,
        _ => {}
    }
    let end = raw
        .iter()
        .rposition(|&c| !matches!(c, b'\n' | b' ' | b'\t'))
        .map_or(0, |p| p + 1);
    Some(&raw[..end])
}

/// Parse a stripped line. `Ok(None)`: a line without a colon, which 0.88
/// silently skips. On success `data` holds the rule's data.
pub fn parse_line<'a>(line: &'a [u8], data: &mut Vec<u8>) -> Result<Option<Rule<'a>>, BadLine> {
    let Some(first) = line.iter().position(|&c| c == b':') else {
        return Ok(None);
    };
    if instruction(&line[first + 1..], data).is_ok() {
        return Ok(Some(Rule {
            address: &line[..first],
            ipv6: false,
        }));
    }
    let comma = line.iter().position(|&c| c == b',').unwrap_or(line.len());
    match line[..comma].iter().rposition(|&c| c == b':') {
        Some(last) if last != first => {
            instruction(&line[last + 1..], data)?;
            Ok(Some(Rule {
                address: &line[..last],
                ipv6: true,
            }))
        }
        _ => Err(BadLine),
    }
}

/// `allow` or `deny`, then `,NAME=dVALUEd` groups; the data goes into
/// `data` (cleared first).
fn instruction(mut x: &[u8], data: &mut Vec<u8>) -> Result<(), BadLine> {
    data.clear();
    if let Some(rest) = x.strip_prefix(b"deny") {
        data.extend_from_slice(b"D\0");
        x = rest;
    } else if let Some(rest) = x.strip_prefix(b"allow") {
        x = rest;
    } else {
        return Err(BadLine);
    }
    while let Some(rest) = x.strip_prefix(b",") {
        let eq = rest.iter().position(|&c| c == b'=').ok_or(BadLine)?;
        if eq == 0 {
            return Err(BadLine);
        }
        data.push(b'+');
        data.extend_from_slice(&rest[..=eq]);
        let (&delim, rest) = rest[eq + 1..].split_first().ok_or(BadLine)?;
        let end = rest.iter().position(|&c| c == delim).ok_or(BadLine)?;
        data.extend_from_slice(&rest[..end]);
        data.push(0);
        x = &rest[end + 1..];
    }
    if x.is_empty() { Ok(()) } else { Err(BadLine) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (address, split as IPv6, data)
    type Parsed = (Vec<u8>, bool, Vec<u8>);

    fn p(line: &[u8]) -> Result<Option<Parsed>, BadLine> {
        let mut data = Vec::new();
        let Some(s) = strip(line) else {
            return Ok(None);
        };
        Ok(parse_line(s, &mut data)?.map(|r| (r.address.to_vec(), r.ipv6, data)))
    }

    fn ok(line: &[u8], addr: &[u8], data: &[u8]) {
        assert_eq!(
            p(line),
            Ok(Some((addr.to_vec(), false, data.to_vec()))),
            "{}",
            String::from_utf8_lossy(line)
        );
    }

    fn bad(line: &[u8]) {
        assert_eq!(p(line), Err(BadLine), "{}", String::from_utf8_lossy(line));
    }

    #[test]
    fn the_sample_rules() {
        ok(
            b"127.0.0.1:allow,RELAYCLIENT=\"\",TCPLOCALHOST=\"movie.edu\"\n",
            b"127.0.0.1",
            b"+RELAYCLIENT=\0+TCPLOCALHOST=movie.edu\0",
        );
        ok(b"18.23.0.32:deny\n", b"18.23.0.32", b"D\0");
        ok(
            b"10.0.:allow,RELAYCLIENT=/@fix.me/\n",
            b"10.0.",
            b"+RELAYCLIENT=@fix.me\0",
        );
        ok(
            b"192.168.:deny,WHY='blocked'\n",
            b"192.168.",
            b"D\0+WHY=blocked\0",
        );
        ok(b":deny\n", b"", b"D\0");
        ok(b"=:allow,ANYNAME=\"1\"", b"=", b"+ANYNAME=1\0");
    }

    #[test]
    fn edge_cases_as_0_88() {
        bad(b"1.2.3.4:allowx\n");
        ok(b"1.2.3.4:allow \n", b"1.2.3.4", b"");
        ok(b"1.2.3.4:allow\t \n", b"1.2.3.4", b"");
        assert_eq!(p(b"no colon line\n"), Ok(None));
        ok(b"  1.2.3.4:allow\n", b"  1.2.3.4", b"");
        ok(b" # indented comment:allow\n", b" # indented comment", b"");
        ok(b"1.2.3.4 :allow\n", b"1.2.3.4 ", b"");
        bad(b"1.2.3.4: allow\n");
        bad(b"1.2.3.4:ALLOW\n");
        ok(b"1.2.3.4:deny,X=\"1\"\n", b"1.2.3.4", b"D\0+X=1\0");
        bad(b"1.2.3.4:allow,X=\n");
        bad(b"1.2.3.4:allow,X=\"unterminated\n");
        bad(b"1.2.3.4:allow,X\n");
        bad(b"1.2.3.4:allow,X=\"a\"Y=\"b\"\n");
        bad(b"1.2.3.4:allow,X=\"a\",\n");
        ok(b"1.2.3.4:allow,X=aba\n", b"1.2.3.4", b"+X=b\0");
        ok(
            b"1.2.3.4:allow,X=\"a=b,c:d\"\n",
            b"1.2.3.4",
            b"+X=a=b,c:d\0",
        );
        ok(
            b"1.2.3.4:allow, SP ACE=\"v\"\n",
            b"1.2.3.4",
            b"+ SP ACE=v\0",
        );
        ok(
            b"1.2.3.4:allow,X=\"\",X=\"2\"\n",
            b"1.2.3.4",
            b"+X=\0+X=2\0",
        );
        bad(b"1.2.3.4:allow\r\n");
        // Split as IPv6; keys::keys then refuses `a:b` (as 0.88 refuses
        // the line).
        assert_eq!(p(b"a:b:allow\n"), Ok(Some((b"a:b".to_vec(), true, vec![]))));
        assert_eq!(p(b"# c:allow\n"), Ok(None));
        assert_eq!(p(b"\n"), Ok(None));
        assert_eq!(p(b""), Ok(None));
        assert_eq!(p(b"   \n"), Ok(None));
    }

    #[test]
    fn empty_variable_names_are_refused() {
        // 0.88 stores `+=v`; we refuse the line.
        bad(b"1.2.3.4:allow,=\"v\"\n");
        bad(b"1.2.3.4:allow,X=\"1\",=\"v\"\n");
    }

    #[test]
    fn ipv6_lines_split_at_the_last_colon_before_the_first_comma() {
        let v6 = |line: &[u8], addr: &[u8], data: &[u8]| {
            assert_eq!(p(line), Ok(Some((addr.to_vec(), true, data.to_vec()))));
        };
        v6(b"::1:allow\n", b"::1", b"");
        v6(b"::1:allow,V6=\"a:b,c\"\n", b"::1", b"+V6=a:b,c\0");
        v6(b"2001:db8::/32:deny\n", b"2001:db8::/32", b"D\0");
        v6(b"joe@::1:allow,WHO=\"joe\"\n", b"joe@::1", b"+WHO=joe\0");
        // The first colon still wins when it gives a valid instruction.
        ok(b"1.2.3.4:allow,X=\"a:b\"\n", b"1.2.3.4", b"+X=a:b\0");
        bad(b"::1:bogus\n");
        bad(b"::1:allow,\n");
    }
}
