//! The qmail home and its control files, shared by every mail program.
//!
//! Where things are:
//! - [`home`]: where the qmail home is (`QMAILHOME`, default `/var/qmail`).
//! - [`file`]: qmail's three ways of reading a control file (first line,
//!   number, list) with its rules: a missing file means "use the default",
//!   any other error is an error.
//! - [`constmap`]: the case-insensitive sets and maps qmail builds from
//!   lists (`rcpthosts`, `locals`, `virtualdomains`), and cdb lookups.
//!
//! Everything is bytes: addresses and host names are not always UTF-8.

#![forbid(unsafe_code)]

pub mod constmap;
pub mod file;
pub mod home;

pub use constmap::{ConstMap, cdb_contains};
pub use file::{read_int, read_line, read_list};
pub use home::Home;
