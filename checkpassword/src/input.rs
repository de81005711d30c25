//! What the caller writes on fd 3: `user\0password\0timestamp\0`, at
//! most 512 bytes (checkpassword's buffer); the timestamp (CRAM and APOP
//! challenges) may be empty and is not used here.

/// The most fd 3 may carry.
pub const MAX: usize = 512;

/// User and password from the bytes read, or `None` when the user or
/// password field is not NUL-terminated (misuse, exit 2).
pub fn parse(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut fields = data.splitn(3, |&b| b == 0);
    let user = fields.next()?;
    let password = fields.next()?;
    // The password's NUL must be there: `fields` yields a third item only then.
    fields.next()?;
    Some((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        assert_eq!(parse(b"joe\0pw\0\0"), Some((&b"joe"[..], &b"pw"[..])));
        assert_eq!(
            parse(b"joe\0pw\0<1.2@x>\0"),
            Some((&b"joe"[..], &b"pw"[..]))
        );
        assert_eq!(parse(b"joe\0pw\0"), Some((&b"joe"[..], &b"pw"[..])));
        assert_eq!(parse(b"joe\0pw"), None);
        assert_eq!(parse(b"joe"), None);
        assert_eq!(parse(b""), None);
    }
}
