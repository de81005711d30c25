//! Quoting a mailbox for an envelope or a header (qmail's `quote.c`).
//!
//! qmail writes `Return-Path: <"john smith"@example.com>` and
//! `MAIL FROM:<...>` with as little quoting as possible: the local part is
//! wrapped in double quotes only when it holds a byte that may not appear
//! in an RFC 822 atom (or a dot in the wrong place), and inside the quotes
//! `\r`, `\n`, `"` and `\\` get a backslash. Bytes above 127 are not
//! encoded (qmail does not, and neither do we).

/// Bytes allowed unquoted in a local part (qmail's `ok[]` table): the
/// RFC 822 atom characters plus the dot, whose placement is checked apart.
fn atom_ok(b: u8) -> bool {
    matches!(b,
        b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'/'
        | b'0'..=b'9' | b'=' | b'?'
        | b'A'..=b'Z' | b'^' | b'_' | b'`'
        | b'a'..=b'z' | b'{' | b'|' | b'}' | b'~')
}

/// `local` must be quoted: it is empty, holds a special or non-ASCII
/// byte, or starts, ends or doubles a dot.
pub fn quote_need(local: &[u8]) -> bool {
    if local.is_empty() {
        return true;
    }
    if local.iter().any(|&b| !atom_ok(b)) {
        return true;
    }
    local[0] == b'.' || local[local.len() - 1] == b'.' || local.windows(2).any(|w| w == b"..")
}

/// `local` as it may appear in an address: unchanged, or in double quotes
/// with `\r`, `\n`, `"` and `\\` escaped.
pub fn quote(local: &[u8]) -> Vec<u8> {
    if !quote_need(local) {
        return local.to_vec();
    }
    let mut out = Vec::with_capacity(local.len() + 2);
    out.push(b'"');
    for &b in local {
        if matches!(b, b'\r' | b'\n' | b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

/// An address with its local part (everything before the last `@`)
/// quoted as needed; the empty address stays empty (qmail's `quote2`).
pub fn quote2(addr: &[u8]) -> Vec<u8> {
    if addr.is_empty() {
        return Vec::new();
    }
    match addr.iter().rposition(|&b| b == b'@') {
        None => quote(addr),
        Some(at) => {
            let mut out = quote(&addr[..at]);
            out.extend_from_slice(&addr[at..]);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_stay_plain() {
        assert_eq!(quote2(b"joe@example.com"), b"joe@example.com");
        assert_eq!(quote2(b"a.b+c=d@x"), b"a.b+c=d@x");
        assert_eq!(quote2(b""), b"");
        assert_eq!(quote2(b"#@[]"), b"#@[]");
    }

    #[test]
    fn specials_and_bad_dots_are_quoted() {
        assert_eq!(quote2(b"john smith@x"), b"\"john smith\"@x");
        assert_eq!(quote2(b".joe@x"), b"\".joe\"@x");
        assert_eq!(quote2(b"joe.@x"), b"\"joe.\"@x");
        assert_eq!(quote2(b"a..b@x"), b"\"a..b\"@x");
        assert_eq!(quote2(b"a\"b\\c@x"), b"\"a\\\"b\\\\c\"@x");
        // Only the last @ separates the domain.
        assert_eq!(quote2(b"a@b@x"), b"\"a@b\"@x");
        assert_eq!(quote2(b"noat"), b"noat");
        assert_eq!(quote2(b"no at"), b"\"no at\"");
        assert_eq!(quote(b""), b"\"\"");
        assert_eq!(quote2(b"\xe9t\xe9@x"), b"\"\xe9t\xe9\"@x");
    }
}
