//! Where qmail-queue finds the qmail home, and how an installation fixes
//! it (qmail's `auto_qmail`).
//!
//! qmail-queue is installed setuid qmailq so that anyone can queue mail.
//! Run set-id, nothing the caller controls may choose where it writes as
//! qmailq: not `QMAILHOME` (the caller's environment), and not the path
//! it was run by (`/proc/self/exe` names a hard link or copy the caller
//! made in a tree of their own). Its home is then the one fixed in the
//! binary itself:
//!
//! - at build time, `CONF_QMAIL` in the build environment (default
//!   `/var/qmail`, qmail's `conf-qmail`);
//! - at install time, [`fix`] writes the home into the binary's slot, as
//!   `qmail-setup` does when it installs `HOME/bin/qmail-queue`.
//!
//! Not set-id (the one-folder mode, tests, root running it directly),
//! `QMAILHOME` is honoured as by every other mail program.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The home fixed at build time.
const BUILD_HOME: &str = match option_env!("CONF_QMAIL") {
    Some(h) => h,
    None => control::home::DEFAULT_HOME,
};

/// The slot's marker, stored backwards: the marker forwards must occur
/// exactly once in the binary, in the slot, and not also as the literal
/// [`fix`] searches with.
const MARK_REV: &[u8] = b":tols emoh eueuq-liamq\0";

/// Room for the home path, NUL-padded.
pub const HOME_MAX: usize = 512;

const SLOT_LEN: usize = MARK_REV.len() + HOME_MAX;

const fn build_slot() -> [u8; SLOT_LEN] {
    let home = BUILD_HOME.as_bytes();
    assert!(
        !home.is_empty() && home[0] == b'/' && home.len() < HOME_MAX,
        "CONF_QMAIL must be an absolute path of less than 512 bytes"
    );
    let mut slot = [0u8; SLOT_LEN];
    let mut i = 0;
    while i < MARK_REV.len() {
        slot[i] = MARK_REV[MARK_REV.len() - 1 - i];
        i += 1;
    }
    let mut j = 0;
    while j < home.len() {
        slot[MARK_REV.len() + j] = home[j];
        j += 1;
    }
    slot
}

/// The marker, then the home. `#[used]` keeps it in every binary that
/// links this crate; [`fixed`] reads it through `black_box` so the
/// compiler cannot fold the build-time value into the code and the bytes
/// an installation writes are the ones read.
#[used]
static SLOT: [u8; SLOT_LEN] = build_slot();

/// The slot as built (the marker, then the build-time home), for tools
/// and tests that make a stand-in qmail-queue to install.
pub fn slot() -> &'static [u8] {
    &SLOT
}

/// The home fixed in this binary (at build or install time).
pub fn fixed() -> PathBuf {
    let slot: &[u8; SLOT_LEN] = std::hint::black_box(&SLOT);
    let path = &slot[MARK_REV.len()..];
    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    PathBuf::from(OsStr::from_bytes(&path[..end]))
}

/// Running set-uid or set-gid: the real and effective ids differ.
pub fn set_id() -> bool {
    use nix::unistd::{getegid, geteuid, getgid, getuid};
    getuid() != geteuid() || getgid() != getegid()
}

/// qmail-queue's home: the fixed one when running set-id, else
/// `QMAILHOME` when set and not empty, else the fixed one.
pub fn for_qmail_queue() -> control::Home {
    if !set_id()
        && let Some(v) = std::env::var_os("QMAILHOME")
        && !v.is_empty()
    {
        return control::Home::new(PathBuf::from(v));
    }
    control::Home::new(fixed())
}

/// Why a home could not be written into a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixError {
    /// The binary has no slot (it is not our qmail-queue).
    NoSlot,
    /// The marker occurs more than once: which one is the slot is unknown.
    ManySlots,
    /// Not an absolute path, or with a NUL, or [`HOME_MAX`] bytes or more.
    BadHome,
}

impl fmt::Display for FixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FixError::NoSlot => "no home slot in the program",
            FixError::ManySlots => "more than one home slot in the program",
            FixError::BadHome => "the home is not an absolute path of less than 512 bytes",
        })
    }
}

impl std::error::Error for FixError {}

/// Where the one slot of `binary` is: the marker's offset.
fn find_slot(binary: &[u8]) -> Result<usize, FixError> {
    let mark: Vec<u8> = MARK_REV.iter().rev().copied().collect();
    let mut found = binary
        .windows(mark.len())
        .enumerate()
        .filter(|(_, w)| *w == mark.as_slice())
        .map(|(i, _)| i);
    let at = found.next().ok_or(FixError::NoSlot)?;
    if found.next().is_some() {
        return Err(FixError::ManySlots);
    }
    if binary.len() < at + SLOT_LEN {
        return Err(FixError::NoSlot);
    }
    Ok(at)
}

/// The home fixed in the qmail-queue program `binary`, for an
/// installation check.
pub fn fixed_in(binary: &[u8]) -> Result<PathBuf, FixError> {
    let at = find_slot(binary)?;
    let field = &binary[at + MARK_REV.len()..at + SLOT_LEN];
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    Ok(PathBuf::from(OsStr::from_bytes(&field[..end])))
}

/// Write `home` into the slot of the qmail-queue program `binary`, in
/// place. The file keeps its size, so nothing else in it moves.
pub fn fix(binary: &mut [u8], home: &Path) -> Result<(), FixError> {
    let h = home.as_os_str().as_bytes();
    if h.first() != Some(&b'/') || h.contains(&0) || h.len() >= HOME_MAX {
        return Err(FixError::BadHome);
    }
    let at = find_slot(binary)?;
    let field = &mut binary[at + MARK_REV.len()..at + SLOT_LEN];
    field.fill(0);
    field[..h.len()].copy_from_slice(h);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_home_is_in_the_slot() {
        assert_eq!(fixed(), Path::new(BUILD_HOME));
    }

    #[test]
    fn fix_rewrites_the_one_slot() {
        let mut bin = b"prefix".to_vec();
        bin.extend_from_slice(&SLOT);
        bin.extend_from_slice(b"suffix");
        let len = bin.len();
        assert_eq!(fixed_in(&bin), Ok(PathBuf::from(BUILD_HOME)));
        fix(&mut bin, Path::new("/srv/mail")).unwrap();
        assert_eq!(fixed_in(&bin), Ok(PathBuf::from("/srv/mail")));
        assert_eq!(bin.len(), len);
        let start = 6 + MARK_REV.len();
        assert_eq!(&bin[start..start + 10], b"/srv/mail\0");
        assert!(bin[start + 9..start + HOME_MAX].iter().all(|&b| b == 0));
        assert!(bin.ends_with(b"suffix"));
        // Fixing again (a reinstall elsewhere) replaces the whole field.
        fix(&mut bin, Path::new("/m")).unwrap();
        assert_eq!(&bin[start..start + 3], b"/m\0");
        assert!(bin[start + 2..start + HOME_MAX].iter().all(|&b| b == 0));

        assert_eq!(
            fix(&mut b"#!/bin/sh\n".to_vec(), Path::new("/x")),
            Err(FixError::NoSlot)
        );
        let mut two = [&SLOT[..], &SLOT[..]].concat();
        assert_eq!(fix(&mut two, Path::new("/x")), Err(FixError::ManySlots));
        for bad in ["relative", "", &format!("/{}", "a".repeat(HOME_MAX))] {
            assert_eq!(
                fix(&mut SLOT.to_vec(), Path::new(bad)),
                Err(FixError::BadHome)
            );
        }
    }
}
