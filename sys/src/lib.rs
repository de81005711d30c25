//! System-call wrappers shared by the servers, and djb's error wording.
//!
//! Where things are:
//! - [`errstr`]: the error texts of ucspi-tcp and qmail (`file does not
//!   exist`, not `os error 2`), and qmail's temporary-error test.
//! - [`privs`]: setgroups, setgid, setuid in that order.
//! - [`selfpipe`]: signals turned into bytes on a pipe for an event loop.
//! - [`spawn`]: fork (or vfork-style clone) and exec a prepared program
//!   with async-signal-safe calls only in the child.
//! - [`sockopt`]: socket options std and nix lack (IP_OPTIONS).
//! - [`activation`]: systemd socket activation (LISTEN_FDS).
//! - [`fds`]: descriptors at fixed numbers (qmail-send's fds 0 to 6):
//!   taking inherited ones, exec with a descriptor map.
//! - [`sigexit`]: signals that end the process with a chosen exit code.
//! - [`mmap`]: a whole file mapped read-only (cdb lookups).
//! - [`getopt`]: djb's getopt and its complaints, for every program whose
//!   command line is djb's (tcpserver, tcp-env, qmail-local, sendmail...).
//! - [`ipme`]: this host's addresses (qmail's `ipme`).
//! - [`scan`]: djb's `scan_ulong`.
//! - [`timed`]: reads and writes that give up after a timeout.
//!
//! Every `unsafe` block of the workspace that is not in a crate's own
//! small wrapper lives here, each with a `// SAFETY:` comment.

pub mod activation;
pub mod errstr;
pub mod fds;
pub mod getopt;
pub mod ipme;
pub mod mmap;
pub mod privs;
pub mod scan;
pub mod selfpipe;
pub mod sigexit;
pub mod sockopt;
pub mod spawn;
pub mod timed;

pub use errstr::{describe, errno_text, is_temporary};
