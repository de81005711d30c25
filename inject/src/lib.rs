//! Submitting mail: qmail-inject and the sendmail wrapper.
//!
//! Where things are:
//! - [`inject`]: qmail-inject: options, settings from the environment and
//!   control files, the header work ([`inject::Injector`]) and queueing.
//! - [`headerbody`]: splitting a message into header fields and body.
//! - [`hfield`]: the header field names qmail-inject knows.
//! - [`token822`]: RFC 822 tokens and address lists.
//! - [`rewrite`]: address rewriting (defaulthost, defaultdomain,
//!   plusdomain).
//! - [`sendmail`]: sendmail's options mapped onto qmail-inject,
//!   qmail-smtpd (`-bs`) and qmail-qread (`-bp`).
//!
//! Queueing itself is `control::qmail_queue`, shared with every program
//! that queues.

#![forbid(unsafe_code)]

pub mod headerbody;
pub mod hfield;
pub mod inject;
pub mod rewrite;
pub mod sendmail;
pub mod token822;
