//! The pieces of UCSPI-TCP that tcpserver, tcp-env, tcpclient and
//! rblsmtpd share, each as its original does it.
//!
//! Where things are:
//! - [`addr`]: the host and port operands, addresses as the environment
//!   and the log show them (`::ffff:a.b.c.d` reads as IPv4), djb's name
//!   qualification.
//! - [`dns`]: DNS packets, sans-IO: build a query, judge a response, read
//!   PTR, A/AAAA and TXT answers; names in wire and djb's dotted form.
//! - [`resolver`]: a non-blocking stub resolver (`$DNSCACHEIP` or
//!   resolv.conf, djb's retry schedule, TCP on truncation): a
//!   [`resolver::Query`] for a poll loop, or `resolve_blocking`.
//! - [`lookup`]: blocking lookups on top of it: the name of an address,
//!   the records of a name, `dns_ip4_qualify`.
//! - [`ident`]: RFC 1413 for TCPREMOTEINFO (sans-IO reader and a
//!   non-blocking client).
//! - [`env`]: the connection's variables (PROTO, TCP*, TCP6*) named once
//!   for every program, and djb's `pathexec` environment.
//! - [`path`]: `pathexec_run`'s candidates for a program name.
//!
//! Nothing here knows the mail side; processes are started by
//! `sys::spawn`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod addr;
pub mod dns;
pub mod env;
pub mod ident;
pub mod lookup;
pub mod path;
pub mod resolver;
