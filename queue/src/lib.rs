//! The queue: its layout and file formats, and the programs that write
//! and read it directly (qmail-queue, qmail-qstat, qmail-qread).
//!
//! Where things are:
//! - [`layout`]: directory names, the split, file names by message id,
//!   creating the tree with qmail's owners and modes.
//! - [`owners`]: qmail's users and groups looked up by name, and the two
//!   ways of running (root with qmail's users, or the one-folder mode).
//! - [`records`]: the NUL-record formats (envelope, todo, info, channel
//!   files), parsed without I/O.
//! - [`received`]: qmail-queue's Received line.
//! - [`enqueue`]: qmail-queue's crash-safe write; its exit codes are
//!   `control::qmail_queue::QqExit`, shared with the programs that run it.
//! - [`home`]: qmail-queue's home, fixed at build or install time when it
//!   runs set-id.
//! - [`program`]: the qmail-queue program around [`enqueue`].
//! - [`inspect`]: qmail-qstat's counts and qmail-qread's listing.
//!
//! The states a message goes through and the reasons for the write order
//! are in `man/qmail-queue.8` and `man/qmail-queue-layout.5`.

#![forbid(unsafe_code)]

pub mod enqueue;
pub mod home;
pub mod inspect;
pub mod layout;
pub mod owners;
pub mod program;
pub mod received;
pub mod records;
