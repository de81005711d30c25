//! djb's number scanning (`scan_ulong`), once for every crate: a leaf
//! here so the ucspi side and the mail side share it.

/// djb's `scan_ulong` as qmail uses it: the value of the leading digits,
/// 0 when there are none (`x`, `-1`, ` 5`, empty). Saturates at
/// `u64::MAX` where C would wrap: no limit or count read from a file
/// turns small by being too large. The one copy for the workspace
/// (qmail-send's todo records, tcp-env's `-t`, lspawn's uids,
/// rblsmtpd's `-t`).
pub fn scan_ulong(text: &[u8]) -> u64 {
    parse_ulong(text).unwrap_or(0)
}

/// [`scan_ulong`], telling "no leading digit" (`None`) from 0: for control
/// files and options where that means "not set".
pub fn parse_ulong(text: &[u8]) -> Option<u64> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    Some(text[..digits].iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_ulong_is_djbs_leading_digits_or_zero() {
        assert_eq!(scan_ulong(b"0"), 0);
        assert_eq!(scan_ulong(b"007"), 7);
        assert_eq!(scan_ulong(b"30"), 30);
        assert_eq!(scan_ulong(b"5s"), 5);
        assert_eq!(scan_ulong(b"12\0 34"), 12);
        // No sign, no leading space: C's scan_ulong takes digits only.
        assert_eq!(scan_ulong(b"-1"), 0);
        assert_eq!(scan_ulong(b"+1"), 0);
        assert_eq!(scan_ulong(b" 5"), 0);
        assert_eq!(scan_ulong(b"x"), 0);
        assert_eq!(scan_ulong(b""), 0);
        assert_eq!(scan_ulong(b"18446744073709551615"), u64::MAX);
        // Saturates where C would wrap (2^64 would read as 0).
        assert_eq!(scan_ulong(b"18446744073709551616"), u64::MAX);
    }
}
