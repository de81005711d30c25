//! The system's password hashing and shadow file, through libc: crypt(3)
//! from libxcrypt (yescrypt, sha512-crypt, and every other scheme the
//! system knows, whatever it will know) and getspnam_r(3).

use std::ffi::{CStr, CString};

#[link(name = "crypt")]
unsafe extern "C" {
    fn crypt(phrase: *const libc::c_char, setting: *const libc::c_char) -> *mut libc::c_char;
}

/// `crypt(password, hash)`: the hash of `password` with the scheme and
/// salt of `hash`. `None` when either holds a NUL or the scheme is not
/// known (libxcrypt then answers NULL or a string starting with `*`).
pub fn hash(password: &[u8], setting: &[u8]) -> Option<Vec<u8>> {
    let p = CString::new(password).ok()?;
    let s = CString::new(setting).ok()?;
    // SAFETY: both arguments are NUL-terminated strings that live across
    // the call; crypt returns NULL or a pointer to its static buffer,
    // which is copied out at once (this program has one thread, so no
    // other call can overwrite it meanwhile).
    let out = unsafe { crypt(p.as_ptr(), s.as_ptr()) };
    if out.is_null() {
        return None;
    }
    // SAFETY: a non-NULL result is a NUL-terminated string (above).
    let h = unsafe { CStr::from_ptr(out) }.to_bytes().to_vec();
    (!h.starts_with(b"*")).then_some(h)
}

/// The shadow password of `user`, if /etc/shadow (or whatever NSS says)
/// has an entry; `Err` when it could not be read (a temporary failure,
/// or no permission).
pub fn shadow(user: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    let Ok(name) = CString::new(user) else {
        return Ok(None);
    };
    let mut buf = vec![0 as libc::c_char; 4096];
    loop {
        // SAFETY: an all-zero spwd is a valid value of a plain C struct.
        let mut sp: libc::spwd = unsafe { std::mem::zeroed() };
        let mut res: *mut libc::spwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: the name is
        // NUL-terminated, `sp` and `res` are ours, `buf` holds
        // `buf.len()` bytes; the strings `sp` points to live in `buf`,
        // read before `buf` changes.
        let rc = unsafe {
            libc::getspnam_r(
                name.as_ptr(),
                &mut sp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut res,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if res.is_null() {
            // ENOENT (or 0): no such entry; anything else: could not look.
            return match rc {
                0 | libc::ENOENT => Ok(None),
                e => Err(std::io::Error::from_raw_os_error(e)),
            };
        }
        if sp.sp_pwdp.is_null() {
            return Ok(None);
        }
        // SAFETY: a found entry's sp_pwdp is a NUL-terminated string in buf.
        return Ok(Some(
            unsafe { CStr::from_ptr(sp.sp_pwdp) }.to_bytes().to_vec(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hashes_verify() {
        // sha512-crypt of "secret" (`openssl passwd -6 -salt saltsalt`).
        let sha = b"$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
        assert_eq!(hash(b"secret", sha).as_deref(), Some(&sha[..]));
        assert_ne!(hash(b"wrong", sha).as_deref(), Some(&sha[..]));
        assert_eq!(hash(b"secret", b"!"), None);
        assert_eq!(hash(b"secret", b""), None);
        assert_eq!(hash(b"se\0cret", sha), None);
        // yescrypt, Debian's default: a hash made from a setting checks.
        let y = hash(b"secret", b"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$").expect("yescrypt");
        assert!(y.starts_with(b"$y$j9T$"));
        assert_eq!(hash(b"secret", &y), Some(y.clone()));
        assert_ne!(hash(b"secreT", &y), Some(y));
    }
}
