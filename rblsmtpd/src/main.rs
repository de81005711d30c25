//! rblsmtpd: block mail from listed clients. See rblsmtpd(1); the work is
//! in the library.
//!
//! The entry point is the C `main`, as tcpserver's: rblsmtpd starts once
//! per SMTP connection, and Rust's runtime start (reading
//! /proc/self/maps for the stack guard, an alternate signal stack and
//! its handlers) is a measurable part of that (bench/rblsmtpd). Without
//! it SIGPIPE also keeps the action rblsmtpd inherited, as with 0.88: a
//! client that leaves mid-dialogue ends rblsmtpd the same way.

#![no_main]

// SAFETY: with `#![no_main]` this crate defines no other `main`; the C
// runtime calls this one with the process's argc and argv, which are not
// used here (std reads them itself).
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    rblsmtpd::main(std::env::args_os().skip(1).collect())
}
