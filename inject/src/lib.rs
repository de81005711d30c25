//! qmail-inject and sendmail: submitting mail
//!
//! (Being written: see the open issues.)
