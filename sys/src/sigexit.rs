//! Signals that end the process with a chosen exit code, as qmail-queue
//! does: `SIGALRM` (its 24-hour limit) exits 52, a crash signal (`SIGSEGV`,
//! `SIGBUS`, ...) exits 81, so the program that queued the message reads
//! qmail's status text instead of "crashed".

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// Exit code per signal number; -1 = not set.
static CODES: [AtomicI32; 65] = [const { AtomicI32::new(-1) }; 65];

extern "C" fn on_signal(signo: libc::c_int) {
    let code = CODES
        .get(signo as usize)
        .map_or(111, |c| c.load(Ordering::Relaxed));
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { libc::_exit(if code < 0 { 111 } else { code }) }
}

/// When any of `signals` arrives, `_exit(code)` at once: no destructor,
/// no cleanup (qmail-queue's rule for its timeout: "thou shalt not clean
/// up here").
pub fn exit_on(signals: &[Signal], code: i32) -> io::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::all(),
    );
    for &sig in signals {
        CODES[sig as usize].store(code, Ordering::Relaxed);
        // SAFETY: the handler only reads an atomic and calls _exit.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

/// Ignore `signals` (e.g. `SIGXFSZ`, so that writing past a file-size
/// limit fails with EFBIG, a write error, instead of killing the process).
pub fn ignore(signals: &[Signal]) -> io::Result<()> {
    let action = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for &sig in signals {
        // SAFETY: SIG_IGN runs no code.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_becomes_the_exit_code() {
        // In a child, so the test process survives.
        // SAFETY: the child only installs a handler, raises and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let _ = exit_on(&[Signal::SIGUSR1], 52);
                let _ = nix::sys::signal::raise(Signal::SIGUSR1);
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 52));
            }
        }
    }
}
