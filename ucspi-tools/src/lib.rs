//! ucspi-tcp 0.88's small tools, byte for byte.
//!
//! Where things are:
//! - [`crlf`]: the line-end filters of addcr, delcr and fixcrio (sans-IO).
//! - [`record`]: recordio's `PID < text` lines (sans-IO).
//! - [`filter`]: stdin through a filter to stdout (addcr, delcr).
//! - [`relay`]: run a program behind pipes and relay both directions
//!   (recordio, fixcrio), as 0.88 does: the program keeps the pid.
//! - [`exec`]: exec by `$PATH` with djb's failure message.
//! - [`mconnect_io`]: mconnect's two-way copy.
//! - [`script`]: the @ clients, mconnect and tcpcat, which 0.88 ships as
//!   shell scripts over tcpclient: the same scripts, run by `/bin/sh`
//!   with our tcpclient, addcr, delcr and mconnect-io beside them.

pub mod crlf;
pub mod exec;
pub mod filter;
pub mod mconnect_io;
pub mod record;
pub mod relay;
pub mod script;
