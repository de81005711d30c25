//! The qmail home and its control files, shared by every mail program.
//!
//! Where things are:
//! - [`home`]: where the qmail home is (`QMAILHOME`, default `/var/qmail`).
//! - [`file`]: qmail's three ways of reading a control file (first line,
//!   number, list) with its rules: a missing file means "use the default",
//!   any other error is an error.
//! - [`constmap`]: the case-insensitive sets and maps qmail builds from
//!   lists (`rcpthosts`, `locals`, `virtualdomains`), and cdb lookups.
//! - [`quote`]: quoting an address's local part (`quote2`).
//! - [`datetime`]: qmail's GMT dates (`Date:` fields, mbox `From ` lines).
//! - [`qmail_queue`]: queueing a message through `$QMAILQUEUE` or
//!   `bin/qmail-queue`, with qmail's exit-code texts.
//! - [`users`]: `users/assign` and `users/cdb` (qmail-newu, qmail-lspawn).
//! - Values both sides of a process boundary use: [`status`] (a
//!   delivery's K/Z/D) and [`qlx`] (qmail-lspawn's child exit codes).
//!
//! Everything is bytes: addresses and host names are not always UTF-8.

#![forbid(unsafe_code)]

pub mod constmap;
pub mod datetime;
pub mod file;
pub mod home;
pub mod qlx;
pub mod qmail_queue;
pub mod quote;
pub mod status;
pub mod users;

pub use constmap::{ConstMap, cdb_contains};
pub use file::{read_int, read_line, read_list};
pub use home::Home;
