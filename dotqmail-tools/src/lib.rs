//! qmail 1.03's small programs: the helpers a `.qmail` file runs and the
//! admin tools around the control files.
//!
//! Where things are:
//! - [`outcome`]: how a program ends (exit code and djb-style message),
//!   shared by every binary here.
//! - [`child`]: running the program a helper wraps, with qmail's reading
//!   of its exit (execvp failures become 100 or 111 as in 1.03's child).
//! - [`helpers`]: bouncesaying, except, condredirect, forward: the
//!   decisions, in the words of their 1.03 man pages.
//! - [`predate`]: the `Date:` line in local time that predate prepends.
//! - [`qreceipt`]: answering `Notice-Requested-Upon-Delivery-To`.
//! - [`qbiff`]: the notice qbiff writes on the user's terminals.
//! - [`localtime`]: the local zone offset (libc's `localtime_r`).
//!
//! Every binary in `src/bin/` only reads its arguments and environment
//! and calls one of these.

#![deny(unsafe_code)]

pub mod child;
pub mod helpers;
pub mod localtime;
pub mod outcome;
pub mod predate;
pub mod qbiff;
pub mod qreceipt;

pub use outcome::Outcome;
