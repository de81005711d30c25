//! SMTP AUTH (RFC 4954) pieces that need no state: base64, the PLAIN
//! and LOGIN responses, and the policy from `SMTPAUTH`.
//!
//! The dialogue itself lives in [`crate::session`]; checking the
//! password is the driver's job (the checkpassword interface, in
//! [`crate::server`]).

/// How AUTH is offered, from the command line and `SMTPAUTH` (s/qmail's
/// spelling): a checkprogram on the command line offers it; `SMTPAUTH`
/// holding `-` withdraws it; holding `!` requires it before MAIL (the
/// submission port). `AUTH_CLEARTEXT=1` offers it outside TLS too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// AUTH is advertised and accepted (inside TLS, or anywhere with
    /// `cleartext`).
    pub offered: bool,
    /// MAIL is refused (530) until AUTH succeeded.
    pub required: bool,
    /// AUTH is offered on a connection without TLS.
    pub cleartext: bool,
}

impl Policy {
    /// The policy for a session with (`checkprogram`) or without a
    /// checkprogram, given `SMTPAUTH` and `AUTH_CLEARTEXT`.
    pub fn new(checkprogram: bool, smtpauth: Option<&[u8]>, cleartext: Option<&[u8]>) -> Policy {
        let withdrawn = smtpauth.is_some_and(|v| v.contains(&b'-'));
        let offered = checkprogram && !withdrawn;
        Policy {
            offered,
            required: offered && smtpauth.is_some_and(|v| v.contains(&b'!')),
            cleartext: cleartext == Some(b"1"),
        }
    }
}

/// The value of one base64 digit.
fn digit(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decode base64 (RFC 4648, padding required as RFC 4954 asks). `None`
/// for anything malformed.
pub fn decode(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let chunks = s.len() / 4;
    for (i, c) in s.chunks(4).enumerate() {
        let pad = c.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != chunks) {
            return None;
        }
        let mut n = 0u32;
        for &b in &c[..4 - pad] {
            n = (n << 6) | digit(b)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Encode base64 (for the LOGIN prompts and tests).
pub fn encode(s: &[u8]) -> Vec<u8> {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len().div_ceil(3) * 4);
    for c in s.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[(n >> (18 - 6 * k)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

/// Why a response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// `*`: the client gave up (501 cancelled).
    Cancelled,
    /// Not base64, or not the mechanism's shape, or an empty user or
    /// password (501 malformed).
    Malformed,
}

/// One client response: `*` cancels, else base64.
pub fn response(line: &[u8]) -> Result<Vec<u8>, Bad> {
    if line == b"*" {
        return Err(Bad::Cancelled);
    }
    decode(line).ok_or(Bad::Malformed)
}

/// A PLAIN response, decoded: `authzid NUL authcid NUL passwd`. The user
/// is the authcid; an authzid naming someone else is refused (no proxy
/// authorisation), and so are an empty user or password.
pub fn plain(decoded: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Bad> {
    let mut parts = decoded.split(|&b| b == 0);
    let (Some(authz), Some(user), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Bad::Malformed);
    };
    if user.is_empty() || pass.is_empty() || (!authz.is_empty() && authz != user) {
        return Err(Bad::Malformed);
    }
    Ok((user.to_vec(), pass.to_vec()))
}

/// A LOGIN user name or password: non-empty, no NUL (it goes to the
/// checkprogram NUL-terminated).
pub fn login_field(decoded: Vec<u8>) -> Result<Vec<u8>, Bad> {
    if decoded.is_empty() || decoded.contains(&0) {
        return Err(Bad::Malformed);
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_refuses_junk() {
        for s in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"\0joe\0secret",
            &[0xff, 0xfe, 0],
        ] {
            assert_eq!(decode(&encode(s)).as_deref(), Some(s));
        }
        assert_eq!(decode(b"AGpvZQBzZWNyZXQ="), Some(b"\0joe\0secret".to_vec()));
        for bad in [&b"abc"[..], b"ab!d", b"a===", b"ab==ab==", b"=abc", b"ab=c"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_responses() {
        assert_eq!(plain(b"\0joe\0pw"), Ok((b"joe".to_vec(), b"pw".to_vec())));
        assert_eq!(
            plain(b"joe\0joe\0pw"),
            Ok((b"joe".to_vec(), b"pw".to_vec()))
        );
        for bad in [
            &b"\0\0pw"[..],
            b"\0joe\0",
            b"joe\0pw",
            b"x\0joe\0pw",
            b"\0a\0b\0c",
        ] {
            assert_eq!(plain(bad), Err(Bad::Malformed), "{bad:?}");
        }
        assert_eq!(response(b"*"), Err(Bad::Cancelled));
        assert_eq!(response(b"%%%%"), Err(Bad::Malformed));
    }

    #[test]
    fn policy_from_smtpauth() {
        let p = Policy::new(true, None, None);
        assert!(p.offered && !p.required && !p.cleartext);
        assert!(Policy::new(true, Some(b"!"), None).required);
        assert!(!Policy::new(true, Some(b"-"), None).offered);
        assert!(!Policy::new(false, Some(b"!"), None).offered);
        assert!(Policy::new(true, None, Some(b"1")).cleartext);
        assert!(!Policy::new(true, None, Some(b"yes")).cleartext);
    }
}
