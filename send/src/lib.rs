//! qmail-send and its helpers: qmail-clean, qmail-lspawn, qmail-rspawn and
//! qmail-start, separate programs with their own users, talking over pipes
//! with qmail's protocols.
//!
//! Where things are:
//! - [`daemon`]: qmail-send, one module per job: `event` (the poll loop),
//!   `todo` (new messages), `pass` (channel passes), `deliveries` (the
//!   K/Z/D bookkeeping), `bounces`, `queues` (schedules, jobs, cleanup),
//!   all on a queue root passed in ([`daemon::QueueDir`]).
//! - [`controls`]: the control files qmail-send reads.
//! - [`rewrite`]: local or remote, `virtualdomains`, `percenthack`, VERP.
//! - [`retry`]: the retry schedule.
//! - [`bounce`]: QSBMF bounce text.
//! - [`log`]: qmail-log(5) lines.
//! - [`proto`]: the pipe protocols (spawner commands and reports,
//!   qmail-clean requests), without I/O.
//! - [`spawner`]: the loop qmail-lspawn and qmail-rspawn share;
//!   [`lspawn`] and [`rspawn`] are what differs.
//! - [`clean`]: qmail-clean's requests.
//! - [`start`]: qmail-start's plumbing.

#![forbid(unsafe_code)]

pub mod bounce;
pub mod clean;
pub mod controls;
pub mod daemon;
pub mod log;
pub mod lspawn;
pub mod proto;
pub mod retry;
pub mod rewrite;
pub mod rspawn;
pub mod spawner;
pub mod start;
