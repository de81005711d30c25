//! The installed tree, as qmail's `hier.c` lists it: every directory and
//! file below the home with its owner and mode. [`crate::install`]
//! creates it and [`crate::check`] compares a home with it. The queue is
//! `queue::layout`'s, not listed here.
//!
//! Two ways of running share one list:
//! - system: as root, with qmail's users; binaries belong to root and
//!   group qmail, `alias/` to the alias user, `bin/qmail-queue` is setuid
//!   qmailq so any user may queue mail;
//! - one folder: everything belongs to one ordinary user, no setuid or
//!   setgid bits, and users are the folders of `mail/` (qmail-getpw's
//!   one-folder mode).

use queue::owners::Ids;

use crate::embedded::{self, Embedded};

/// Who owns an entry (qmail's `auid`, `auto_uida`, `auto_uidq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Root,
    Alias,
    Queue,
}

/// The uids and gid the owners stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owners {
    pub root: u32,
    pub alias: u32,
    pub queue: u32,
    /// Every entry's group: `qmail`, or the one user's group.
    pub group: u32,
    /// The system way (root and qmail's users), rather than one folder.
    pub system: bool,
    /// qmail's users, for `queue::layout::create`.
    pub ids: Ids,
}

impl Owners {
    /// Running as root with qmail's users.
    pub fn system(ids: &Ids) -> Owners {
        Owners {
            root: 0,
            alias: ids.alias,
            queue: ids.qmailq,
            group: ids.qmail,
            system: true,
            ids: ids.clone(),
        }
    }

    /// The one-folder mode: everything belongs to `uid`:`gid`.
    pub fn single(uid: u32, gid: u32) -> Owners {
        Owners {
            root: uid,
            alias: uid,
            queue: uid,
            group: gid,
            system: false,
            ids: Ids {
                alias: uid,
                qmaild: uid,
                qmaill: uid,
                qmailp: uid,
                qmailq: uid,
                qmailr: uid,
                qmails: uid,
                qmail: gid,
                nofiles: gid,
            },
        }
    }

    /// The uid of `owner`.
    pub fn uid(&self, owner: Owner) -> u32 {
        match owner {
            Owner::Root => self.root,
            Owner::Alias => self.alias,
            Owner::Queue => self.queue,
        }
    }

    /// `mode` as installed: without setuid and setgid bits in the
    /// one-folder mode, where nobody switches users.
    pub fn mode(&self, mode: u32) -> u32 {
        if self.system { mode } else { mode & 0o1777 }
    }
}

/// What an entry is and where its contents come from.
#[derive(Debug, Clone, Copy)]
pub enum Content {
    Dir,
    /// A program of the workspace, copied from the build.
    Binary(&'static str),
    /// An embedded man page or boot file; boot files get the real home in
    /// place of `/var/qmail`.
    Embedded(&'static Embedded, bool),
    /// A file the admin edits: created when missing (empty, or from an
    /// embedded boot file with the real home), never overwritten
    /// (`alias/.qmail-root`, `rc`).
    Keep(Option<&'static Embedded>),
}

/// One entry of the tree.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path below the home, `/`-separated; empty for the home itself.
    pub path: String,
    pub content: Content,
    pub owner: Owner,
    pub mode: u32,
}

/// The programs installed in `bin/`, with hier.c's owner and mode. The
/// ucspi-tcp tools live here too, so the boot files find everything in
/// one place.
pub const BINARIES: &[(&str, Owner, u32)] = &[
    ("qmail-queue", Owner::Queue, 0o4711),
    ("qmail-lspawn", Owner::Root, 0o700),
    ("qmail-start", Owner::Root, 0o700),
    ("qmail-newu", Owner::Root, 0o700),
    ("qmail-getpw", Owner::Root, 0o711),
    ("qmail-local", Owner::Root, 0o711),
    ("qmail-remote", Owner::Root, 0o711),
    ("qmail-rspawn", Owner::Root, 0o711),
    ("qmail-clean", Owner::Root, 0o711),
    ("qmail-send", Owner::Root, 0o711),
    ("splogger", Owner::Root, 0o711),
    ("qmail-inject", Owner::Root, 0o755),
    ("qmail-qread", Owner::Root, 0o755),
    ("qmail-qstat", Owner::Root, 0o755),
    ("qmail-tcpto", Owner::Root, 0o755),
    ("qmail-tcpok", Owner::Root, 0o755),
    ("qmail-smtpd", Owner::Root, 0o755),
    ("checkpassword", Owner::Root, 0o711),
    ("sendmail", Owner::Root, 0o755),
    ("tcp-env", Owner::Root, 0o755),
    ("preline", Owner::Root, 0o755),
    ("maildirmake", Owner::Root, 0o755),
    ("tcpserver", Owner::Root, 0o755),
    ("tcprules", Owner::Root, 0o755),
    ("tcprulescheck", Owner::Root, 0o755),
    ("config-fast", Owner::Root, 0o755),
    ("qmail-setup", Owner::Root, 0o755),
    ("qmail-run", Owner::Root, 0o755),
    ("bouncesaying", Owner::Root, 0o755),
    ("condredirect", Owner::Root, 0o755),
    ("except", Owner::Root, 0o755),
    ("forward", Owner::Root, 0o755),
    ("predate", Owner::Root, 0o755),
    ("datemail", Owner::Root, 0o755),
    ("mailsubj", Owner::Root, 0o755),
    ("qreceipt", Owner::Root, 0o755),
    ("qbiff", Owner::Root, 0o755),
    ("qmail-newmrh", Owner::Root, 0o700),
    ("qmail-showctl", Owner::Root, 0o755),
    ("qmail-pw2u", Owner::Root, 0o711),
    ("maildir2mbox", Owner::Root, 0o755),
    ("maildirwatch", Owner::Root, 0o755),
    ("rblsmtpd", Owner::Root, 0o755),
    ("addcr", Owner::Root, 0o755),
    ("delcr", Owner::Root, 0o755),
    ("fixcrio", Owner::Root, 0o755),
    ("recordio", Owner::Root, 0o755),
    ("argv0", Owner::Root, 0o755),
    ("mconnect", Owner::Root, 0o755),
    ("mconnect-io", Owner::Root, 0o755),
    ("tcpcat", Owner::Root, 0o755),
    ("tcpclient", Owner::Root, 0o755),
    ("qmail-qmtpd", Owner::Root, 0o755),
    ("qmail-qmqpd", Owner::Root, 0o755),
    ("qmail-qmqpc", Owner::Root, 0o755),
    ("qmail-popup", Owner::Root, 0o711),
    ("qmail-pop3d", Owner::Root, 0o711),
];

/// The scripts installed in `bin/` beside the programs: ucspi-tcp's
/// clients that are shell scripts over tcpclient. Cargo refuses `@` in a
/// binary name, so they are not in [`BINARIES`]: their text is embedded
/// from `ucspi-tools/scripts/` ([`embedded::SCRIPTS`]).
pub const SCRIPTS: &[(&str, Owner, u32)] = &[
    ("who@", Owner::Root, 0o755),
    ("date@", Owner::Root, 0o755),
    ("finger@", Owner::Root, 0o755),
    ("http@", Owner::Root, 0o755),
];

/// The embedded text of script `name` of [`SCRIPTS`].
pub fn script(name: &str) -> Option<&'static Embedded> {
    embedded::SCRIPTS.iter().find(|s| s.path == name)
}

/// The alias user's files (INSTALL.alias): empty, so mail for
/// postmaster, mailer-daemon and root goes to `~alias`'s default
/// delivery until the admin puts an address in them.
pub const ALIAS_FILES: &[&str] = &[".qmail-postmaster", ".qmail-mailer-daemon", ".qmail-root"];

/// The tree below the home, parents before children. `system` chooses
/// between the two ways of running (the one-folder mode adds `mail/`).
pub fn entries(system: bool) -> Vec<Entry> {
    let dir = |path: &str, owner, mode| Entry {
        path: path.to_string(),
        content: Content::Dir,
        owner,
        mode,
    };
    let mut out = vec![
        dir("", Owner::Root, 0o755),
        dir("control", Owner::Root, 0o755),
        dir("users", Owner::Root, 0o755),
        dir("bin", Owner::Root, 0o755),
        dir("boot", Owner::Root, 0o755),
        dir("man", Owner::Root, 0o755),
        dir("alias", Owner::Alias, 0o2755),
    ];
    if !system {
        out.push(dir("mail", Owner::Root, 0o755));
    }
    for &(name, owner, mode) in BINARIES {
        out.push(Entry {
            path: format!("bin/{name}"),
            content: Content::Binary(name),
            owner,
            mode,
        });
    }
    for &(name, owner, mode) in SCRIPTS {
        // A listed script missing from the build is caught by the tests
        // (`every_script_is_embedded`), not at install time.
        if let Some(file) = script(name) {
            out.push(Entry {
                path: format!("bin/{name}"),
                content: Content::Embedded(file, false),
                owner,
                mode,
            });
        }
    }
    let mut sections: Vec<&str> = embedded::MAN_PAGES
        .iter()
        .filter_map(Embedded::section)
        .collect();
    sections.sort_unstable();
    sections.dedup();
    for s in sections {
        out.push(dir(&format!("man/man{s}"), Owner::Root, 0o755));
    }
    for page in embedded::MAN_PAGES {
        if let Some(s) = page.section() {
            out.push(Entry {
                path: format!("man/man{s}/{}", page.path),
                content: Content::Embedded(page, false),
                owner: Owner::Root,
                mode: 0o644,
            });
        }
    }
    let mut boot_dirs: Vec<String> = Vec::new();
    for file in embedded::BOOT_FILES {
        // Each parent folder of the file, shortest first.
        let parts: Vec<&str> = file.path.split('/').collect();
        for n in 1..parts.len() {
            let parent = format!("boot/{}", parts[..n].join("/"));
            if !boot_dirs.contains(&parent) {
                boot_dirs.push(parent.clone());
                out.push(dir(&parent, Owner::Root, 0o755));
            }
        }
        out.push(Entry {
            path: format!("boot/{}", file.path),
            content: Content::Embedded(file, true),
            owner: Owner::Root,
            mode: if file.exec { 0o755 } else { 0o644 },
        });
    }
    if let Some(rc) = embedded::BOOT_FILES.iter().find(|f| f.path == "rc") {
        out.push(Entry {
            path: "rc".into(),
            content: Content::Keep(Some(rc)),
            owner: Owner::Root,
            mode: 0o755,
        });
    }
    for name in ALIAS_FILES {
        out.push(Entry {
            path: format!("alias/{name}"),
            content: Content::Keep(None),
            owner: Owner::Alias,
            mode: 0o644,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_and_paths_are_unique() {
        for system in [true, false] {
            let list = entries(system);
            let mut seen = std::collections::HashSet::new();
            for e in &list {
                if let Some((parent, _)) = e.path.rsplit_once('/') {
                    assert!(seen.contains(parent), "{} before its parent", e.path);
                } else if !e.path.is_empty() {
                    assert!(seen.contains(""), "{} before the home", e.path);
                }
                assert!(seen.insert(e.path.clone()), "{} twice", e.path);
            }
            assert_eq!(list.iter().any(|e| e.path == "mail"), !system);
        }
    }

    #[test]
    fn every_script_is_embedded() {
        for &(name, _, _) in SCRIPTS {
            let s = script(name).unwrap_or_else(|| panic!("{name} is not embedded"));
            assert!(s.bytes.starts_with(b"#!/bin/sh\n"), "{name}");
            assert!(s.exec, "{name} is not executable in the source tree");
        }
        assert_eq!(embedded::SCRIPTS.len(), SCRIPTS.len());
        let list = entries(true);
        let e = list.iter().find(|e| e.path == "bin/date@").unwrap();
        assert_eq!((e.owner, e.mode), (Owner::Root, 0o755));
    }

    #[test]
    fn the_one_folder_mode_drops_setuid() {
        let ids = Ids {
            alias: 7790,
            qmaild: 7791,
            qmaill: 7792,
            qmailp: 7793,
            qmailq: 7794,
            qmailr: 7795,
            qmails: 7796,
            qmail: 2107,
            nofiles: 2108,
        };
        let sys = Owners::system(&ids);
        assert_eq!(sys.mode(0o4711), 0o4711);
        assert_eq!(sys.uid(Owner::Queue), 7794);
        assert_eq!(sys.uid(Owner::Root), 0);
        let one = Owners::single(1000, 1000);
        assert_eq!(one.mode(0o4711), 0o711);
        assert_eq!(one.mode(0o2755), 0o755);
        assert_eq!(one.uid(Owner::Queue), 1000);
        assert_eq!(one.ids.qmails, 1000);
    }
}
