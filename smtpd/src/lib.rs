//! qmail-smtpd: the qmail SMTP receiver
//!
//! (Being written: see the open issues.)
