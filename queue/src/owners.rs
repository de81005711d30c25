//! qmail's users and groups, looked up by name when a program starts
//! (notqmail's runtime lookup, instead of ids compiled in), and the two
//! ways the system runs:
//! - as root with qmail's users present, every daemon gets its own uid;
//! - otherwise (the one-folder mode) everything runs as the invoking user.

use std::fmt;

use nix::unistd::{Group, User};

/// The uids of qmail's users and the gids of its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// `alias`: owns `~alias`, deliveries for postmaster and friends.
    pub alias: u32,
    /// `qmaild`: qmail-smtpd.
    pub qmaild: u32,
    /// `qmaill`: the logger.
    pub qmaill: u32,
    /// `qmailp`: qmail-getpw.
    pub qmailp: u32,
    /// `qmailq`: qmail-queue, qmail-clean; owns the messages.
    pub qmailq: u32,
    /// `qmailr`: qmail-rspawn and qmail-remote.
    pub qmailr: u32,
    /// `qmails`: qmail-send.
    pub qmails: u32,
    /// group `qmail`.
    pub qmail: u32,
    /// group `nofiles`.
    pub nofiles: u32,
}

/// A user or group qmail needs is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub what: &'static str,
    pub name: &'static str,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unable to find {} {}", self.what, self.name)
    }
}

impl std::error::Error for Missing {}

/// The uid of user `name`, if the password database has it.
pub fn uid_of(name: &'static str) -> Option<u32> {
    User::from_name(name).ok().flatten().map(|u| u.uid.as_raw())
}

/// The gid of group `name`, if the group database has it.
pub fn gid_of(name: &'static str) -> Option<u32> {
    Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

impl Ids {
    /// Look every name up; the first one missing is the error.
    pub fn lookup() -> Result<Ids, Missing> {
        let u = |name| uid_of(name).ok_or(Missing { what: "user", name });
        let g = |name| {
            gid_of(name).ok_or(Missing {
                what: "group",
                name,
            })
        };
        Ok(Ids {
            alias: u("alias")?,
            qmaild: u("qmaild")?,
            qmaill: u("qmaill")?,
            qmailp: u("qmailp")?,
            qmailq: u("qmailq")?,
            qmailr: u("qmailr")?,
            qmails: u("qmails")?,
            qmail: g("qmail")?,
            nofiles: g("nofiles")?,
        })
    }
}

/// How the daemons run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Started as root: each daemon switches to its own user.
    Root(Ids),
    /// Not started as root: everything runs as the invoking user, and a
    /// delivery never runs as uid 0 because nothing here is root.
    Single,
}

impl Mode {
    /// Root mode when the effective uid is 0 (then qmail's users must
    /// exist), the one-folder mode otherwise.
    pub fn detect() -> Result<Mode, Missing> {
        if nix::unistd::geteuid().is_root() {
            Ok(Mode::Root(Ids::lookup()?))
        } else {
            Ok(Mode::Single)
        }
    }

    /// The mode of a daemon that qmail-start runs as user `name` (qmailr
    /// for qmail-rspawn): root mode when we are root or that user, the
    /// one-folder mode otherwise.
    pub fn detect_as(name: &'static str) -> Result<Mode, Missing> {
        let me = nix::unistd::geteuid();
        if me.is_root() || uid_of(name) == Some(me.as_raw()) {
            Ok(Mode::Root(Ids::lookup()?))
        } else {
            Ok(Mode::Single)
        }
    }

    /// The uid that must own the messages: qmailq, or ourselves.
    pub fn queue_uid(&self) -> u32 {
        match self {
            Mode::Root(ids) => ids.qmailq,
            Mode::Single => nix::unistd::geteuid().as_raw(),
        }
    }
}
