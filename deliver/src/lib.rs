//! Local delivery: qmail-local, qmail-getpw, qmail-newu, preline.
//!
//! Where things are:
//! - [`local`]: qmail-local itself: arguments, the checks, the header
//!   lines and environment, the `.qmail` search and running each line.
//! - [`dotqmail`]: `.qmail` files without I/O: the `-default` cascade and
//!   the meaning of each line.
//! - [`maildir`], [`mbox`], [`program`]: the three ways of delivering a
//!   copy (forwards go through `control::qmail_queue`).
//! - [`getpw`]: qmail-getpw, local part to user (password database, or
//!   folders of the qmail home in the one-folder mode).
//! - [`newu`]: qmail-newu, `users/assign` to `users/cdb` (the format
//!   lives in `control::users`, shared with qmail-lspawn).
//! - [`preline`]: the `From `/Return-Path/Delivered-To prepender.

#![forbid(unsafe_code)]

pub mod dotqmail;
pub mod getpw;
pub mod local;
pub mod maildir;
pub mod mbox;
pub mod newu;
pub mod preline;
pub mod program;
