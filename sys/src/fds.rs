//! Descriptors at fixed numbers, as qmail's daemons use them.
//!
//! qmail-start hands qmail-send seven descriptors by number (0 = the log,
//! 1/2 = qmail-lspawn, 3/4 = qmail-rspawn, 5/6 = qmail-clean). std can
//! only arrange fds 0 to 2 for a child, and only owns the descriptors it
//! opened, so this module does the two raw jobs:
//! - [`inherited`]: take ownership of a descriptor the process was started
//!   with (each number once);
//! - [`exec_with_fds`]: put descriptors on exact numbers and exec a
//!   program in the current process, never returning.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The descriptor numbers below 64 already claimed by [`inherited`].
static CLAIMED: AtomicU64 = AtomicU64::new(0);

/// Take ownership of descriptor `fd`, which the process inherited at
/// start. Fails with EBADF when it is not open, and with EBUSY when it was
/// already claimed, so no descriptor gets two owners through this call.
///
/// The caller must not also use the number through another handle that
/// closes it; std's `stdin()`, `stdout()` and `stderr()` never close
/// theirs, but writing to them would then mix with the new owner's data.
pub fn inherited(fd: RawFd) -> io::Result<OwnedFd> {
    if !(0..64).contains(&fd) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let bit = 1u64 << fd;
    if CLAIMED.fetch_or(bit, Ordering::SeqCst) & bit != 0 {
        return Err(io::Error::from_raw_os_error(libc::EBUSY));
    }
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        CLAIMED.fetch_and(!bit, Ordering::SeqCst);
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (checked above), was inherited rather
    // than opened by Rust code, and the CLAIMED bitmap guarantees this is
    // the only OwnedFd made for it here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Run `argv[0]` (searched in `$PATH` as execvp does) in this process with
/// `fds[i]` on descriptor number `i`; every other descriptor this function
/// is given is closed. On failure it exits with `fail_code` without
/// returning: once the descriptor table has been rearranged, the
/// process's other handles may name the wrong files, so nothing else may
/// run (qmail-start's `die()`).
pub fn exec_with_fds(argv: &[&OsStr], fds: Vec<OwnedFd>, fail_code: i32) -> ! {
    exec_inner(argv, None, fds, fail_code)
}

/// [`exec_with_fds`] with the program's whole environment given as
/// `NAME=value` entries instead of this process's.
pub fn exec_with_fds_env(argv: &[&OsStr], env: &[&OsStr], fds: Vec<OwnedFd>, fail_code: i32) -> ! {
    exec_inner(argv, Some(env), fds, fail_code)
}

fn exec_inner(argv: &[&OsStr], env: Option<&[&OsStr]>, fds: Vec<OwnedFd>, fail_code: i32) -> ! {
    let envs: Option<Vec<CString>> = match env {
        None => Some(Vec::new()),
        Some(e) => e.iter().map(|a| CString::new(a.as_bytes()).ok()).collect(),
    };
    let Some(envs) = envs else { exit(fail_code) };
    let mut envp: Vec<*const libc::c_char> = envs.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let args: Option<Vec<CString>> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let Some(args) = args.filter(|a| !a.is_empty()) else {
        exit(fail_code)
    };
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // First move every descriptor above the targets, so that putting one
    // in place cannot close another that is still to be moved.
    let mut high = Vec::with_capacity(fds.len());
    for fd in &fds {
        // SAFETY: F_DUPFD makes a new descriptor; no existing one changes.
        let h = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD, 64) };
        if h == -1 {
            exit(fail_code);
        }
        high.push(h);
    }
    // The originals are closed by their owners; from here on no OwnedFd of
    // ours is used again (the function only execs or exits).
    drop(fds);
    for (target, &h) in high.iter().enumerate() {
        // SAFETY: dup2 onto a fixed number is the point of this function;
        // whatever was there is replaced, and no Rust handle of this
        // process is used after this, since we exec or _exit below.
        if unsafe { libc::dup2(h, target as RawFd) } == -1 {
            exit(fail_code);
        }
    }
    for &h in &high {
        // SAFETY: closing the temporary copies made above.
        unsafe { libc::close(h) };
    }
    if env.is_some() {
        // SAFETY: argv and envp are arrays of valid C strings ending in NULL.
        unsafe { libc::execvpe(ptrs[0], ptrs.as_ptr(), envp.as_ptr()) };
    } else {
        // SAFETY: argv is an array of valid C strings ending in NULL.
        unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    }
    exit(fail_code)
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process at once, without running destructors
    // that could touch descriptors this module rearranged.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_is_claimed_once_and_must_be_open() {
        // 63 is far above anything the test harness opens.
        assert!(inherited(63).is_err());
        let f = std::fs::File::open("/dev/null").unwrap();
        let raw = f.as_raw_fd();
        // Give the File's descriptor away so only the claim owns it.
        let raw = {
            use std::os::fd::IntoRawFd;
            assert_eq!(f.into_raw_fd(), raw);
            raw
        };
        let owned = inherited(raw).unwrap();
        assert_eq!(owned.as_raw_fd(), raw);
        assert_eq!(
            inherited(raw).unwrap_err().raw_os_error(),
            Some(libc::EBUSY)
        );
        assert!(inherited(-1).is_err());
    }
}
