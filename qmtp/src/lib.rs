//! QMTP and QMQP, djb's netstring protocols for moving mail between
//! qmail hosts (QMTP, port 209) and from clients to a mail hub (QMQP,
//! port 628).
//!
//! Where things are:
//! - [`netstring`]: `len:bytes,` framing: lengths with a bound, encoding.
//! - [`proto`]: the two servers' input, sans IO: bytes in, events out
//!   (message bytes, sender, recipients, end), tested with input split at
//!   every byte.
//! - [`timed`]: reads and writes on fds with a per-call timeout and a
//!   whole-session deadline.
//! - [`server`]: qmail-qmtpd and qmail-qmqpd around [`proto`]: qmail-queue,
//!   the Received line, rcpthosts (smtpd's), RELAYCLIENT, databytes, replies.
//! - [`client`]: qmail-qmqpc, qmail-queue's stand-in that hands the
//!   message to the first QMQP server that takes it.

#![forbid(unsafe_code)]

pub mod client;
pub mod netstring;
pub mod proto;
pub mod server;
pub mod timed;
