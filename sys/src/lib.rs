//! System-call wrappers shared by the servers, and djb's error wording.
//!
//! Where things are:
//! - [`errstr`]: the error texts of ucspi-tcp and qmail (`file does not
//!   exist`, not `os error 2`), and qmail's temporary-error test.
//! - [`privs`]: setgroups, setgid, setuid in that order.
//! - [`selfpipe`]: signals turned into bytes on a pipe for an event loop.
//!
//! Every `unsafe` block of the workspace that is not in a crate's own
//! small wrapper lives here, each with a `// SAFETY:` comment.

pub mod errstr;
pub mod privs;
pub mod selfpipe;

pub use errstr::{describe, errno_text, is_temporary};
