//! checkpassword: D. J. Bernstein's checkpassword interface
//! (<https://cr.yp.to/checkpwd/interface.html>), for system accounts and
//! for a password file.
//!
//! The caller writes `user\0password\0timestamp\0` (at most 512 bytes)
//! on fd 3. A right password runs the subprogram (the rest of the
//! command line) with `USER`, `HOME` and `SHELL` set, as the user, in
//! the user's home; a wrong one exits 1; misuse exits 2; a temporary
//! failure (an unreadable shadow file, a failing chdir) exits 111.
//!
//! Where things are:
//! - [`input`]: parsing what fd 3 carries.
//! - [`crypt`]: the system's crypt(3) and shadow lookup (the only unsafe
//!   code, behind small wrappers).
//! - [`file`]: the password file mode (`CHECKPASSWORD_FILE`).
//! - [`run`]: deciding, dropping privileges, exec'ing.

#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod crypt;
pub mod file;
pub mod input;
pub mod run;

/// The exit codes of the interface.
pub mod exit {
    /// The password is wrong, or there is no such user.
    pub const NO: i32 = 1;
    /// Misuse: no subprogram, or fd 3 does not hold the fields.
    pub const MISUSE: i32 = 2;
    /// Try again later.
    pub const TEMPORARY: i32 = 111;
}

/// Compare two byte strings in time that depends only on their lengths.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `password` matches the crypt(3) hash `hashed`. An empty hash
/// or a locked one (`!`, `*`) never matches.
pub fn verify(password: &[u8], hashed: &[u8]) -> bool {
    if hashed.is_empty() || matches!(hashed[0], b'!' | b'*') {
        return false;
    }
    match crypt::hash(password, hashed) {
        Some(h) => same(&h, hashed),
        None => false,
    }
}
