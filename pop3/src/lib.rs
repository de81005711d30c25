//! qmail's POP3 server pair: `qmail-popup` (the greeting and the login,
//! before any privilege) and `qmail-pop3d` (the mailbox, run by a
//! checkpassword program as the user). Byte-compatible with qmail 1.03 /
//! notqmail, plus CAPA, AUTH PLAIN and a settable number of login tries.
//!
//! Where things are:
//! - [`line`]: the command reader both programs share (LF ends a line,
//!   one CR before it is dropped, the verb ends at the first space).
//! - [`popup`]: qmail-popup's session, sans-IO: lines in, replies and
//!   "log in with this name and password" out.
//! - [`pop3d`]: qmail-pop3d's session, sans-IO: lines in, replies and
//!   "send message i" / "apply the deletions" out.
//! - [`blast`]: a message on its way out (CRLF, dot-stuffing, TOP's line
//!   limit), fed in chunks.
//! - [`maildir`]: the Maildir side of qmail-pop3d: the scan, the unique
//!   ids, the `tmp/` cleanup and QUIT's unlinks and renames.
//! - [`base64`]: the decoder AUTH PLAIN needs.
//! - [`io`]: reads and writes on fds 0 and 1 with qmail's 1200-second
//!   timeout; the two programs' process code is in [`server`].

#![forbid(unsafe_code)]

pub mod base64;
pub mod blast;
pub mod io;
pub mod line;
pub mod maildir;
pub mod pop3d;
pub mod popup;
pub mod server;

/// qmail's timeout for every read and write, in seconds (`timeoutread`
/// and `timeoutwrite` of 1200 in both programs).
pub const TIMEOUT_SECS: u64 = 1200;
