//! The qmail-queue program: its home, its signals and its 24-hour limit
//! around [`Enqueue`]. The binary only calls [`main`].

use std::fs::File;
use std::path::Path;

use nix::sys::signal::Signal;
use nix::unistd::{getpid, getuid};

use crate::enqueue::{Enqueue, QqExit};
use crate::owners::uid_of;
use crate::received::{Invoker, received};

/// qmail-queue must finish within a day, well below the 36 hours after
/// which qmail-send reaps unqueued message files.
const DEATH: u32 = 86400;

/// Run qmail-queue: the message on fd 0, the envelope on fd 1. Returns
/// the exit code.
pub fn main() -> i32 {
    match run() {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

fn run() -> Result<(), QqExit> {
    std::panic::set_hook(Box::new(|_| std::process::exit(QqExit::Bug.code())));
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o033));
    // Set-id, the home is the one fixed at build or install time, never
    // the caller's QMAILHOME or the path we were run by (crate::home).
    let home = crate::home::for_qmail_queue();
    std::env::set_current_dir(home.root()).map_err(|_| QqExit::Home)?;
    std::env::set_current_dir("queue").map_err(|_| QqExit::Queue)?;

    let pid = getpid().as_raw() as u32;
    let uid = getuid().as_raw();
    let now = control::datetime::now_secs();
    let who = Invoker::classify(uid, uid_of("alias"), uid_of("qmaild"), uid_of("qmails"));
    let line = received(pid, who, now);

    let _ = sys::sigexit::ignore(&[Signal::SIGPIPE, Signal::SIGXFSZ]);
    sys::sigexit::exit_on(&[Signal::SIGALRM], QqExit::Timeout.code()).map_err(|_| QqExit::Bug)?;
    sys::sigexit::exit_on(
        &[
            Signal::SIGILL,
            Signal::SIGABRT,
            Signal::SIGFPE,
            Signal::SIGBUS,
            Signal::SIGSEGV,
            Signal::SIGSYS,
        ],
        QqExit::Bug.code(),
    )
    .map_err(|_| QqExit::Bug)?;
    nix::unistd::alarm::set(DEATH);

    let mut envelope = File::from(sys::fds::inherited(1).map_err(|_| QqExit::Read)?);
    let mut message = std::io::stdin().lock();
    Enqueue {
        queue: Path::new(""),
        pid,
        uid,
        now,
        received: &line,
    }
    .run(&mut message, &mut envelope)
    .map(|_| ())
}
