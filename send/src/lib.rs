//! qmail-send, qmail-clean, qmail-lspawn, qmail-rspawn, qmail-start
//!
//! (Being written: see the open issues.)
