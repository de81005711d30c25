//! Starting a child that runs a prepared program, with only
//! async-signal-safe calls between fork and exec.
//!
//! A super-server starts one child per connection. Everything that child
//! needs (argv, envp, the `$PATH` candidates, the log lines it prints) is
//! built by the parent beforehand, so the child only writes its log lines,
//! moves the socket onto fds 0 and 1, puts signals back to default and
//! calls `execve`: no malloc, no locks, no formatting beyond a pid (the team
//! rule "after fork, only async-signal-safe calls until exec").
//!
//! Because the child touches nothing of the parent's, the parent may also
//! start it with `clone(CLONE_VM | CLONE_VFORK)` ([`Method::Vfork`], what
//! glibc's `posix_spawn` does): the cost then does not grow with the
//! parent's size, and the parent sleeps only until the child has called
//! `execve` or `_exit`.
//!
//! Where things are: `arena` (`argv`/`envp` arrays), `prepared` (the
//! parent's flat copy of a [`Child`]), `child` (what the child runs until
//! exec), `methods` (fork, vfork-style and async clone, the [`Spawner`]
//! and its slots), `stack` (a clone'd child's stack and its guard page), `raw` (the
//! child's system calls, per architecture).

use std::ffi::CStr;
use std::os::fd::BorrowedFd;

use nix::sys::signal::{SigSet, Signal};

mod arena;
mod child;
mod methods;
mod prepared;
mod raw;
mod stack;
#[cfg(test)]
mod tests;

pub use arena::CStrArray;
pub use methods::Spawner;

use child::child_main;
use prepared::Prepared;

/// A piece of a log line the child writes to fd 2.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// These bytes.
    Text(&'a [u8]),
    /// The child's own pid in decimal (tcpserver's `pid PID from ...`).
    Pid,
}

/// How the child runs a program: `execve` each of `paths` in turn, like
/// djb's `pathexec_run`. A path that does not exist is skipped; one that
/// exists but cannot be run (EACCES, EPERM, EISDIR) is remembered and the
/// search goes on; any other error ends it. The error reported is the
/// last one remembered, else "file does not exist".
#[derive(Debug)]
pub struct Exec<'a> {
    /// The candidate paths, in order (one for a name with a slash).
    pub paths: &'a [&'a CStr],
    pub argv: &'a CStrArray<'a>,
    pub envp: &'a CStrArray<'a>,
    /// Written to fd 2 before djb's text for the error and a newline when
    /// no path could be run; the child then exits 111. Empty: silent.
    pub exec_failed: &'a [u8],
    /// The same when the socket cannot be put on fds 0 and 1.
    pub fds_failed: &'a [u8],
}

/// What the child does after writing its log lines.
#[derive(Debug)]
pub enum Action<'a> {
    /// `_exit` with this code (a denied or dropped connection).
    Exit(i32),
    /// Put `stdio` on fds 0 and 1, reset signals, run the program.
    Exec(Exec<'a>),
}

/// Everything a child does, prepared by the parent.
#[derive(Debug)]
pub struct Child<'a> {
    /// The descriptor to put on fds 0 and 1 before exec (the connection).
    pub stdio: Option<BorrowedFd<'a>>,
    /// Log lines for fd 2, written first, in one `writev`.
    pub log: &'a [Part<'a>],
    /// Signals whose action goes back to default before exec (the ones
    /// the parent catches or ignores on purpose).
    pub default_signals: &'a [Signal],
    /// The signal mask the program starts with.
    pub sigmask: SigSet,
    pub action: Action<'a>,
}

/// How the parent makes the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// fork(2): the child gets a copy of the parent.
    Fork,
    /// clone(CLONE_VM | CLONE_VFORK): the child borrows the parent's
    /// memory on a stack of its own; the parent waits until it has exec'd.
    Vfork,
    /// clone(CLONE_VM) without waiting: the child runs on a stack and a
    /// copy of its data that the parent leaves alone until the kernel
    /// reports (CLONE_CHILD_CLEARTID) that the child has exec'd or
    /// exited. As cheap as vfork, and the parent goes on accepting while
    /// the child execs, as after fork. The child makes raw system calls
    /// that never touch the parent's `errno`. x86_64 and aarch64 only:
    /// elsewhere the Spawner uses Vfork instead. When every slot is busy
    /// the next child is forked (not vfork'd: the parent must not stall
    /// until it has exec'd).
    Async,
}

impl Method {
    /// The fastest method this build supports.
    pub fn best() -> Method {
        if raw::SUPPORTED {
            Method::Async
        } else {
            Method::Vfork
        }
    }
}

/// Do what a child would, in this process: write the log lines, set up
/// fds and signals, exec; on failure write the message and `_exit(111)`
/// (qmail's `tcp-env`, which execs in place).
pub fn exec_in_place(child: &Child<'_>) -> ! {
    let mut prep = Prepared::default();
    prep.fill(child);
    child_main(&prep)
}
