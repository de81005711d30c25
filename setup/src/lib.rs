//! Installing, configuring and running a whole qmail system: the
//! original's `make setup check` and `config-fast`, and `qmail-run`, the
//! whole system in one folder with one command.
//!
//! Where things are:
//! - [`hier`]: the installed tree (qmail's `hier.c`): every directory and
//!   file with its owner and mode, in the two ways of running (as root
//!   with qmail's users, or the one-folder mode as one ordinary user).
//! - [`install`]: creating that tree: directories, binaries, man pages,
//!   boot files, the queue (through `queue::layout`), the alias user's
//!   files. Files are replaced atomically.
//! - [`check`]: `instcheck`, comparing a home with [`hier`].
//! - [`make`]: `qmail-setup` itself (install, then check), called by the
//!   binary once it has parsed its arguments.
//! - [`accounts`]: qmail's users and groups, created with the system's
//!   tools when root and missing.
//! - [`config`]: `config-fast`: `me`, `defaultdomain`, `plusdomain`,
//!   `locals`, `rcpthosts`.
//! - [`maildir`]: creating a Maildir (`maildirmake`).
//! - [`embedded`]: the man pages and boot files built into the library.
//! - [`run`]: `qmail-run`: the embedded default system (a home folder,
//!   the rules, the processes, the logs, a clean stop).
//! - [`syslog`]: `splogger`'s lines to the system log.

#![deny(unsafe_code)]

pub mod accounts;
pub mod check;
pub mod config;
pub mod embedded;
pub mod hier;
pub mod install;
pub mod maildir;
pub mod make;
pub mod run;
pub mod syslog;

use std::fmt;
use std::io;

/// What went wrong, in djb's words.
#[derive(Debug)]
pub enum Error {
    /// A system call failed: `unable to <what>: <reason>`.
    Io { what: String, err: io::Error },
    /// Anything else, already worded.
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, err } => write!(f, "unable to {what}: {}", sys::describe(err)),
            Error::Other(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Error {}

/// Adds the `unable to ...` part to an `io::Result`.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|err| Error::Io { what: what(), err })
    }
}
