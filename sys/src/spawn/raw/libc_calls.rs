//! Elsewhere: libc's wrappers (they set `errno`, so Async is not offered).

use std::ffi::{c_char, c_int};

pub const SUPPORTED: bool = false;

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub fn writev(fd: c_int, pieces: &[&[u8]]) -> Result<usize, c_int> {
    let (iov, n) = super::iovecs(pieces);
    // SAFETY: n iovecs pointing into live slices.
    let r = unsafe { libc::writev(fd, iov.as_ptr(), n as c_int) };
    if r < 0 { Err(errno()) } else { Ok(r as usize) }
}

pub fn getpid() -> i32 {
    // SAFETY: no preconditions.
    unsafe { libc::getpid() }
}

pub fn dup_onto(fd: c_int, target: c_int) -> Result<(), c_int> {
    // SAFETY: plain integers.
    if unsafe { libc::dup2(fd, target) } < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

pub fn clear_cloexec(fd: c_int) -> Result<(), c_int> {
    // SAFETY: plain integers.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

pub fn close(fd: c_int) {
    // SAFETY: closing our copy of a descriptor.
    unsafe { libc::close(fd) };
}

pub fn default_action(sig: c_int) {
    // SAFETY: a zeroed sigaction is SIG_DFL, no flags, empty mask.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

pub fn set_mask(mask: u64) {
    // SAFETY: builds a sigset_t from the mask bits, then sets it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in 1..=64 {
            if mask & (1 << (sig - 1)) != 0 {
                libc::sigaddset(&mut set, sig);
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

pub fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: a C string and NULL-terminated arrays of C strings.
    unsafe { libc::execve(path, argv, envp) };
    errno()
}

pub fn exit(code: c_int) -> ! {
    // SAFETY: ends the process.
    unsafe { libc::_exit(code) }
}
