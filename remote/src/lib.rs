//! qmail-remote: SMTP delivery to one remote host
//!
//! (Being written: see the open issues.)
