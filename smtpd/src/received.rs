//! The Received line qmail-smtpd puts on top of each message (qmail's
//! `received.c`):
//!
//! ```text
//! Received: from <remotehost> (HELO <helo>) (<info>@<remoteip>)
//!   by <local> with SMTP; 3 Jan 2025 10:00:00 -0000
//! ```
//!
//! `(HELO ...)` appears only when the client named itself differently
//! from TCPREMOTEHOST, and `<info>@` only with TCPREMOTEINFO. Every field
//! comes from the client or DNS, so bytes outside `[A-Za-z0-9.@%+/=:-]`
//! become `?`. An IPv6 client address passes unchanged (hex digits and
//! colons).

use control::datetime::{DateTime, date822};

/// A byte the Received line may carry as it is.
fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'%' | b'+' | b'/' | b'=' | b':' | b'-')
}

fn safe_put(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(s.iter().map(|&b| if is_safe(b) { b } else { b'?' }));
}

/// The fields of the line.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    /// TCPREMOTEHOST, or `unknown`.
    pub remote_host: &'a [u8],
    /// TCPREMOTEIP, or `unknown`.
    pub remote_ip: &'a [u8],
    /// TCPREMOTEINFO.
    pub remote_info: Option<&'a [u8]>,
    /// TCPLOCALHOST, else TCPLOCALIP, else `unknown`.
    pub local: &'a [u8],
    /// The HELO/EHLO argument when it differs from the remote host.
    pub helo: Option<&'a [u8]>,
}

/// The line, ending in LF, for a message received at `now` (Unix time).
pub fn received(f: &Fields<'_>, now: i64) -> Vec<u8> {
    received_with(f, b"SMTP", now)
}

/// The same with another protocol in the `with` clause (RFC 3848's
/// `ESMTPS`, `ESMTPSA`, ...), which the caller builds from safe bytes.
pub fn received_with(f: &Fields<'_>, with: &[u8], now: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"Received: from ");
    safe_put(&mut out, f.remote_host);
    if let Some(helo) = f.helo {
        out.extend_from_slice(b" (HELO ");
        safe_put(&mut out, helo);
        out.extend_from_slice(b")");
    }
    out.extend_from_slice(b" (");
    if let Some(info) = f.remote_info {
        safe_put(&mut out, info);
        out.push(b'@');
    }
    safe_put(&mut out, f.remote_ip);
    out.extend_from_slice(b")\n  by ");
    safe_put(&mut out, f.local);
    out.extend_from_slice(b" with ");
    out.extend_from_slice(with);
    out.extend_from_slice(b"; ");
    out.extend_from_slice(date822(&DateTime::from_unix(now)).as_bytes());
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_line() {
        let f = Fields {
            remote_host: b"mx.example.org",
            remote_ip: b"192.0.2.7",
            remote_info: Some(b"joe"),
            local: b"mail.example.net",
            helo: Some(b"mail.example.org"),
        };
        assert_eq!(
            String::from_utf8(received(&f, 1_735_898_400)).unwrap(),
            "Received: from mx.example.org (HELO mail.example.org) (joe@192.0.2.7)\n  by mail.example.net with SMTP; 3 Jan 2025 10:00:00 -0000\n"
        );
    }

    #[test]
    fn minimal_line_ipv6_and_sanitising() {
        let f = Fields {
            remote_host: b"unknown",
            remote_ip: b"2001:db8::7",
            remote_info: None,
            local: b"::1",
            helo: Some(b"[evil host]\r\n<x>"),
        };
        assert_eq!(
            String::from_utf8(received(&f, 0)).unwrap(),
            "Received: from unknown (HELO ?evil?host????x?) (2001:db8::7)\n  by ::1 with SMTP; 1 Jan 1970 00:00:00 -0000\n"
        );
    }
}
