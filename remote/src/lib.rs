//! qmail-remote: deliver one message to one remote host over SMTP.
//!
//! `qmail-remote host sender recip [recip ...]` reads the message on fd
//! 0 and prints its reports on fd 1 for qmail-rspawn (see [`report`]),
//! always exiting 0, exactly as qmail's.
//!
//! Where things are:
//! - [`deliver`]: the whole run, qmail-remote's `main`: controls,
//!   routing, the self-MX check, the connection loop, TLS fallback.
//! - [`route`]: `control/smtproutes` and address literals.
//! - [`auth`]: AUTH credentials (`control/remotesecrets`, or after the
//!   relay in smtproutes) and the SASL strings.
//! - [`mx`]: MX/A/AAAA to an ordered address list (`dns_mxip`), over
//!   the [`mx::Lookup`] trait; [`resolver`] implements it with
//!   hickory-resolver (`control/resolvers` or `/etc/resolv.conf`).
//! - [`ipme`]: our own addresses; [`tcpto`]: remembered timeouts.
//! - [`session`]: the SMTP dialogue, sans-IO (EHLO/HELO, STARTTLS,
//!   PIPELINING); [`reply`]: bounded reply parsing; [`data`]: the body
//!   encoder (CRLF, dot-stuffing).
//! - [`conn`]: one socket: connect deadline, timeouts, TLS, the body.
//! - [`tls`]: the TLS policy (`control/tlsdestinations`: verified TLS
//!   or nothing) over `tls::client`'s opportunistic and verified
//!   configurations.
//! - [`report`]: the r/h/s and K/Z/D output and its fixed texts.

#![forbid(unsafe_code)]

pub mod auth;
pub mod conn;
pub mod data;
pub mod deliver;
pub mod ipme;
pub mod mx;
pub mod reply;
pub mod report;
pub mod resolver;
pub mod route;
pub mod session;
pub mod tcpto;
pub mod tls;

pub use deliver::run;
pub use report::{Letter, Report};
