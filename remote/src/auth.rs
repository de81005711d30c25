//! SMTP AUTH credentials for smarthosts, and the SASL PLAIN and LOGIN
//! strings (RFC 4616, and the LOGIN of the qmail AUTH patches).
//!
//! Two places hold credentials, looked up by the relay as written in
//! `control/smtproutes`:
//! - `control/remotesecrets`, lines `relay:user:password` (the spelling
//!   of Ingo Rohloff's qmail-remote AUTH patch; the password is the rest
//!   of the line, colons and all). This is the place to use: the file
//!   must not be readable by others (mode 0600 or 0640, owner qmailr),
//!   and qmail-remote refuses it otherwise.
//! - after the relay in `control/smtproutes`, `domain:relay[:port] user
//!   password`, as Tom Clegg's qmail-remote-auth patch (in John
//!   Simpson's combined patch) reads it. smtproutes is world-readable on
//!   most sites, so this is supported for sites that switch, and
//!   documented as a risk.
//!
//! A user written `-user` (John Simpson's spelling) allows the password
//! to go in the clear; without it, AUTH is sent only under TLS.

use std::io;
use std::os::unix::fs::MetadataExt;

use control::Home;

/// Credentials for one route.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: Vec<u8>,
    pub password: Vec<u8>,
    /// `-user`: AUTH may go in the clear.
    pub clear_ok: bool,
}

impl std::fmt::Debug for Credentials {
    // Never print a password, not even in a test failure.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &String::from_utf8_lossy(&self.user))
            .field("clear_ok", &self.clear_ok)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    fn new(user: &[u8], password: &[u8]) -> Option<Credentials> {
        let (user, clear_ok) = match user.strip_prefix(b"-") {
            Some(u) => (u, true),
            None => (user, false),
        };
        if user.is_empty() || !sendable(user) || !sendable(password) {
            return None;
        }
        Some(Credentials {
            user: user.to_vec(),
            password: password.to_vec(),
            clear_ok,
        })
    }

    /// The PLAIN initial response: base64 of `\0user\0password`.
    pub fn plain(&self) -> Vec<u8> {
        let mut raw = vec![0];
        raw.extend_from_slice(&self.user);
        raw.push(0);
        raw.extend_from_slice(&self.password);
        base64(&raw)
    }
}

/// Neither a NUL (PLAIN's separator) nor a line end.
fn sendable(s: &[u8]) -> bool {
    !s.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n'))
}

/// Split an smtproutes value into the relay part and the credentials
/// written after it (`relay[:port] user password`).
pub fn split_route(value: &[u8]) -> (&[u8], Option<Credentials>) {
    let Some(sp) = value.iter().position(|&b| b == b' ' || b == b'\t') else {
        return (value, None);
    };
    let rest = trim_start(&value[sp..]);
    let (user, password) = match rest.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (&rest[..i], trim_start(&rest[i..])),
        None => (rest, &b""[..]),
    };
    (&value[..sp], Credentials::new(user, password))
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

/// Why `control/remotesecrets` could not be used.
#[derive(Debug)]
pub enum SecretsError {
    /// Others may read it.
    Exposed,
    /// It could not be read.
    Read(io::Error),
}

/// The credentials for `relay` in `control/remotesecrets`, if any.
pub fn lookup(home: &Home, relay: &[u8]) -> Result<Option<Credentials>, SecretsError> {
    let path = home.control("remotesecrets");
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SecretsError::Read(e)),
    };
    if meta.mode() & 0o007 != 0 {
        return Err(SecretsError::Exposed);
    }
    let lines = home
        .list("remotesecrets")
        .map_err(SecretsError::Read)?
        .unwrap_or_default();
    Ok(find(&lines, relay))
}

/// The first line of `lines` for `relay` (case-insensitive).
fn find(lines: &[Vec<u8>], relay: &[u8]) -> Option<Credentials> {
    for line in lines {
        let mut parts = line.splitn(3, |&b| b == b':');
        let (Some(host), Some(user), Some(password)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if host.eq_ignore_ascii_case(relay) {
            return Credentials::new(user, password);
        }
    }
    None
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(input: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63]);
        out.push(ALPHABET[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}

/// Credentials for the session's tests: joe, secret.
#[cfg(test)]
pub(crate) fn tests_credentials(clear_ok: bool) -> Credentials {
    Credentials {
        user: b"joe".to_vec(),
        password: b"secret".to_vec(),
        clear_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
            (b"\0joe\0secret", b"AGpvZQBzZWNyZXQ="),
        ];
        for (raw, enc) in cases {
            assert_eq!(base64(raw), *enc);
        }
    }

    #[test]
    fn smtproutes_values_with_and_without_credentials() {
        let c = |u: &str, p: &str, clear| {
            Some(Credentials {
                user: u.into(),
                password: p.into(),
                clear_ok: clear,
            })
        };
        assert_eq!(split_route(b"relay:587"), (&b"relay:587"[..], None));
        assert_eq!(
            split_route(b"relay:587 joe secret"),
            (&b"relay:587"[..], c("joe", "secret", false))
        );
        assert_eq!(
            split_route(b"[::1]:25\t-joe  pass word"),
            (&b"[::1]:25"[..], c("joe", "pass word", true))
        );
        assert_eq!(split_route(b"relay -"), (&b"relay"[..], None));
        assert_eq!(
            split_route(b"relay joe"),
            (&b"relay"[..], c("joe", "", false))
        );
    }

    #[test]
    fn remotesecrets_lines() {
        let lines: Vec<Vec<u8>> = vec![
            b"bad line".to_vec(),
            b"a.example:joe:p:w".to_vec(),
            b"b.example:-ann:x".to_vec(),
        ];
        let got = find(&lines, b"A.Example").unwrap();
        assert_eq!(
            (&got.user[..], &got.password[..]),
            (&b"joe"[..], &b"p:w"[..])
        );
        assert!(find(&lines, b"b.example").unwrap().clear_ok);
        assert!(find(&lines, b"c.example").is_none());
        assert_eq!(got.plain(), base64(b"\0joe\0p:w"));
        assert!(!format!("{got:?}").contains("p:w"), "no password in Debug");
    }
}
