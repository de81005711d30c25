//! Dropping privileges, in qmail's order: supplementary groups, then the
//! group, then the user. The user must come last: once it is gone, the
//! process may no longer change its groups.

use std::io;

use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};

/// `setgroups(1, [gid])` then `setgid(gid)`: qmail's `prot_gid` and
/// tcpserver's `-g`. Afterwards the process belongs to `gid` alone.
pub fn set_gid(gid: u32) -> io::Result<()> {
    let gid = Gid::from_raw(gid);
    setgroups(&[gid]).map_err(io::Error::from)?;
    setgid(gid).map_err(io::Error::from)
}

/// `setuid(uid)`: qmail's `prot_uid` and tcpserver's `-u`. Call after
/// [`set_gid`].
pub fn set_uid(uid: u32) -> io::Result<()> {
    setuid(Uid::from_raw(uid)).map_err(io::Error::from)
}

/// The effective uid is 0: the program may switch users, and must not run
/// user code as itself.
pub fn is_root() -> bool {
    Uid::effective().is_root()
}
