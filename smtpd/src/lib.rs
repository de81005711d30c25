//! qmail-smtpd: the qmail SMTP receiver, byte for byte as netqmail 1.06,
//! with relay control and bounded memory.
//!
//! Where things are:
//! - [`session`]: the SMTP dialogue, sans IO (bytes in, replies out), and
//!   the [`session::Queue`] it hands messages to.
//! - [`auth`]: SMTP AUTH's base64, PLAIN and LOGIN, and `SMTPAUTH`.
//! - [`data`]: the DATA state machine (CRLF, dot-stuffing, bare LF, hops).
//! - [`addr`]: MAIL/RCPT address parsing, IP literals, `SIZE=`, relay
//!   tricks.
//! - [`rcpthosts`]: rcpthosts and morercpthosts.cdb.
//! - [`received`]: the Received line.
//! - [`config`]: control files and the UCSPI environment.
//! - [`reply`]: every reply text.
//! - [`server`]: the process on fds 0/1 with timeouts (`main`), STARTTLS
//!   and SMTPS, the checkprogram.

#![forbid(unsafe_code)]

pub mod addr;
pub mod auth;
pub mod config;
pub mod data;
pub mod rcpthosts;
pub mod received;
pub mod reply;
pub mod server;
pub mod session;

#[cfg(test)]
mod session_tests;

pub use config::{Config, Peer};
pub use session::{Exit, Job, Queue, Session};
