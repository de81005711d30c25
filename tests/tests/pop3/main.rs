//! End-to-end tests of qmail-popup and qmail-pop3d, one module per
//! topic: the replies byte for byte, the Maildir after a session,
//! Python's poplib, two sessions at once, and Dovecot beside us.

mod boot;
mod dovecot;
mod maildir;
mod poplib;
mod run;
mod session;
mod support;
mod tls;
// The one-folder system of the system tests, for mail that qmail-smtpd
// accepted and qmail-local delivered.
#[allow(dead_code)]
#[path = "../system/support.rs"]
mod system_support;
