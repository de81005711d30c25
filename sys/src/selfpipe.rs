//! Signals delivered as bytes on a pipe (djb's and skarnet's self-pipe).
//!
//! The handler only writes the signal number to a non-blocking pipe, which
//! is async-signal-safe; the event loop polls the read end next to its
//! sockets and does the real work (reaping, logging) outside the handler.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::fcntl::OFlag;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::pipe2;

/// The write end of the one self-pipe of this process, for the handler.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signo: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signo as u8;
        let saved = nix::errno::Errno::last_raw();
        // SAFETY: write(2) is async-signal-safe; the buffer is one byte on
        // the stack. A full pipe (EAGAIN) means a wake-up is already
        // pending, so losing this byte loses nothing.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
        nix::errno::Errno::set_raw(saved);
    }
}

/// The read end of the self-pipe; the handlers stay installed for the
/// life of the process.
#[derive(Debug)]
pub struct SelfPipe {
    read: OwnedFd,
    _write: OwnedFd,
}

impl SelfPipe {
    /// Create the pipe and route `signals` to it. Only one `SelfPipe` may
    /// exist in a process.
    pub fn install(signals: &[Signal]) -> io::Result<SelfPipe> {
        let (read, write) = pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        if WRITE_FD
            .compare_exchange(-1, write.as_raw_fd(), Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "self-pipe already installed",
            ));
        }
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
            SigSet::empty(),
        );
        for &sig in signals {
            // SAFETY: the handler only calls async-signal-safe functions
            // (write) and touches an atomic.
            unsafe { sigaction(sig, &action) }?;
        }
        Ok(SelfPipe {
            read,
            _write: write,
        })
    }

    /// The signals that arrived since the last call, oldest first (a
    /// signal that arrived twice may appear once or twice).
    pub fn drain(&self) -> Vec<Signal> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match nix::unistd::read(&self.read, &mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend(
                    buf[..n]
                        .iter()
                        .filter_map(|&b| Signal::try_from(i32::from(b)).ok()),
                ),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

impl AsFd for SelfPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

/// Put `signals` back to their default action: for a child before exec
/// (ignored signals stay ignored across exec, caught ones do not).
/// Async-signal-safe.
pub fn restore_default(signals: &[Signal]) {
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for &sig in signals {
        // SAFETY: installing SIG_DFL runs no code of ours.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
}

/// Ignore `signals` (SIGPIPE in a server that writes to clients that may
/// have gone: the write fails with EPIPE instead). A program without Rust's
/// usual runtime start (`#![no_main]`) must do this itself.
pub fn ignore(signals: &[Signal]) {
    let ign = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for &sig in signals {
        // SAFETY: SIG_IGN runs no code of ours.
        let _ = unsafe { sigaction(sig, &ign) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_signal_arrives_on_the_pipe() {
        let pipe = SelfPipe::install(&[Signal::SIGUSR2]).unwrap();
        nix::sys::signal::raise(Signal::SIGUSR2).unwrap();
        assert_eq!(pipe.drain(), vec![Signal::SIGUSR2]);
        assert!(pipe.drain().is_empty());
        assert!(SelfPipe::install(&[Signal::SIGUSR1]).is_err());
    }
}
