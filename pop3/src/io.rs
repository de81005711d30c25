//! Reads and writes on the client's descriptors with qmail's timeouts:
//! `sys::timed`, shared with the other servers.

pub use sys::timed::{read, write_all};
