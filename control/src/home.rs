//! Where the qmail home is.
//!
//! Every mail program finds its home in `QMAILHOME` when it is set, as root
//! and as an ordinary user alike, so tests and the one-folder mode can run a
//! whole system in a temporary directory. Otherwise it is `/var/qmail`,
//! qmail's compiled-in default.

use std::io;
use std::path::{Path, PathBuf};

use crate::file;

/// The default home, qmail's `conf-qmail`.
pub const DEFAULT_HOME: &str = "/var/qmail";

/// A qmail home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The home named by `QMAILHOME`, or `/var/qmail`. An empty
    /// `QMAILHOME` counts as unset.
    pub fn from_env() -> Home {
        match std::env::var_os("QMAILHOME") {
            Some(v) if !v.is_empty() => Home::new(PathBuf::from(v)),
            _ => Home::new(PathBuf::from(DEFAULT_HOME)),
        }
    }

    /// A home at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `control/NAME`.
    pub fn control(&self, name: &str) -> PathBuf {
        self.root.join("control").join(name)
    }

    /// `bin/NAME`: where the programs of the system are installed.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.root.join("bin").join(name)
    }

    /// `queue/`.
    pub fn queue(&self) -> PathBuf {
        self.root.join("queue")
    }

    /// First line of `control/NAME`, `None` when the file does not exist.
    pub fn line(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        file::read_line(&self.control(name))
    }

    /// First line of `control/NAME` as a number; `None` when the file does
    /// not exist or does not start with a digit (qmail then keeps its
    /// default).
    pub fn int(&self, name: &str) -> io::Result<Option<u64>> {
        file::read_int(&self.control(name))
    }

    /// Entries of the list `control/NAME`, `None` when the file does not
    /// exist.
    pub fn list(&self, name: &str) -> io::Result<Option<Vec<Vec<u8>>>> {
        file::read_list(&self.control(name))
    }

    /// `control/me`, the name most other control files default to.
    pub fn me(&self) -> io::Result<Option<Vec<u8>>> {
        self.line("me")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_hang_off_the_root() {
        let h = Home::new("/q");
        assert_eq!(h.control("me"), PathBuf::from("/q/control/me"));
        assert_eq!(h.bin("qmail-queue"), PathBuf::from("/q/bin/qmail-queue"));
        assert_eq!(h.queue(), PathBuf::from("/q/queue"));
    }
}
