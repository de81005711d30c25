//! systemd socket activation (`sd_listen_fds`): listening sockets handed
//! over as fds 3, 4, ... with `LISTEN_FDS=N` and `LISTEN_PID=<our pid>`.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
pub const FIRST_FD: RawFd = 3;

/// The sockets passed to this process, or an empty list when
/// `LISTEN_PID` is unset or names another process (the variables were
/// meant for a parent and leaked through). Each is made close-on-exec, so
/// children never inherit them. Callers should not pass `LISTEN_FDS`,
/// `LISTEN_PID` and `LISTEN_FDNAMES` on to their children.
///
/// Errors: a malformed `LISTEN_FDS` or a descriptor in the range that is
/// not open.
pub fn listen_fds() -> io::Result<Vec<OwnedFd>> {
    let pid = match std::env::var("LISTEN_PID") {
        Ok(p) => p,
        Err(_) => return Ok(Vec::new()),
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    let n: RawFd = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &RawFd| (0..=4096).contains(&n))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad LISTEN_FDS"))?;
    let mut out = Vec::with_capacity(n as usize);
    for fd in FIRST_FD..FIRST_FD + n {
        // SAFETY: fcntl on an int; EBADF tells us the fd is not open.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor is open (checked above) and was handed to
        // this process (LISTEN_PID) to own; nothing else in the process
        // refers to it.
        out.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Ok(out)
}

/// The variables of the protocol, to keep out of children's environments.
pub const VARIABLES: [&str; 3] = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];
