//! qmail-local, qmail-getpw, qmail-newu, preline: local delivery
//!
//! (Being written: see the open issues.)
