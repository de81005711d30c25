//! tcpserver: accept TCP connections and run a program for each.
//! See tcpserver(1); the work is in the library.
//!
//! The entry point is the C `main`, not Rust's usual one: Rust's runtime
//! start (stack-guard discovery through /proc/self/maps, an alternate
//! signal stack) costs about 400 kB of resident memory, and a super-server
//! that forks per connection should stay as small as the original. What
//! that start did and tcpserver needs, it does itself: SIGPIPE is ignored
//! in `tcpserver::main`; arguments come from std as always.

#![no_main]

// SAFETY: with `#![no_main]` this crate defines no other `main`; the C
// runtime calls this one with the process's argc and argv, which are not
// used here (std reads them itself).
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    tcpserver::main(std::env::args_os().skip(1).collect())
}
