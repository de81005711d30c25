//! End-to-end tests of qmail-popup and qmail-pop3d, one module per
//! topic: the replies byte for byte, the Maildir after a session,
//! Python's poplib, two sessions at once, and Dovecot beside us.

mod maildir;
mod poplib;
mod session;
mod support;
