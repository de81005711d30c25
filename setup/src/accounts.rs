//! qmail's users and groups (INSTALL.ids): created with the system's own
//! tools when setup runs as root and they are missing, then looked up by
//! name as every daemon does (`queue::owners::Ids`).
//!
//! | name | group | home |
//! | --- | --- | --- |
//! | alias | nofiles | `HOME/alias` |
//! | qmaild, qmaill, qmailp | nofiles | `HOME` |
//! | qmailq, qmailr, qmails | qmail | `HOME` |

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use queue::owners::{self, Ids};

use crate::Error;

/// The groups, in the order they are made.
pub const GROUPS: [&str; 2] = ["nofiles", "qmail"];

/// The users: name, group, and whether the home is `HOME/alias`.
pub const USERS: [(&str, &str, bool); 7] = [
    ("alias", "nofiles", true),
    ("qmaild", "nofiles", false),
    ("qmaill", "nofiles", false),
    ("qmailp", "nofiles", false),
    ("qmailq", "qmail", false),
    ("qmailr", "qmail", false),
    ("qmails", "qmail", false),
];

/// Which tools add accounts on this system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tools {
    /// shadow-utils: `groupadd`, `useradd` (Debian, Red Hat, Arch...).
    Shadow { groupadd: PathBuf, useradd: PathBuf },
    /// BusyBox: `addgroup`, `adduser` (Alpine).
    Busybox { addgroup: PathBuf, adduser: PathBuf },
}

/// The first executable `name` in `$PATH` or the sbin folders.
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Tools {
    /// The tools found on this system.
    pub fn find() -> Option<Tools> {
        if let (Some(groupadd), Some(useradd)) = (find("groupadd"), find("useradd")) {
            return Some(Tools::Shadow { groupadd, useradd });
        }
        if let (Some(addgroup), Some(adduser)) = (find("addgroup"), find("adduser")) {
            return Some(Tools::Busybox { addgroup, adduser });
        }
        None
    }

    /// The command that adds group `name`.
    pub fn group_command(&self, name: &str) -> Command {
        match self {
            Tools::Shadow { groupadd, .. } => {
                let mut c = Command::new(groupadd);
                c.args(["-r", name]);
                c
            }
            Tools::Busybox { addgroup, .. } => {
                let mut c = Command::new(addgroup);
                c.args(["-S", name]);
                c
            }
        }
    }

    /// The command that adds user `name` in `group` with home `home`, no
    /// login shell and no home directory made for it.
    pub fn user_command(&self, name: &str, group: &str, home: &Path, shell: &Path) -> Command {
        match self {
            Tools::Shadow { useradd, .. } => {
                let mut c = Command::new(useradd);
                c.args(["-r", "-M", "-g", group, "-d"])
                    .arg(home)
                    .arg("-s")
                    .arg(shell)
                    .arg(name);
                c
            }
            Tools::Busybox { adduser, .. } => {
                let mut c = Command::new(adduser);
                c.args(["-S", "-D", "-H", "-G", group, "-h"])
                    .arg(home)
                    .arg("-s")
                    .arg(shell)
                    .arg(name);
                c
            }
        }
    }
}

/// A shell that refuses logins.
fn nologin() -> PathBuf {
    ["/usr/sbin/nologin", "/sbin/nologin", "/bin/false"]
        .map(PathBuf::from)
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("/bin/false"))
}

fn run(mut cmd: Command, what: &str) -> Result<(), Error> {
    let status = cmd.status().map_err(|err| Error::Io {
        what: format!("run {}", cmd.get_program().to_string_lossy()),
        err,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "unable to create {what}: {cmd:?} failed ({status})"
        )))
    }
}

/// Create the missing groups and users (for home `home`), saying what is
/// done on `out`, and return their ids.
pub fn ensure(home: &Path, out: &mut dyn Write) -> Result<Ids, Error> {
    let missing_groups: Vec<&str> = GROUPS
        .into_iter()
        .filter(|g| owners::gid_of(g).is_none())
        .collect();
    let missing_users: Vec<_> = USERS
        .into_iter()
        .filter(|(u, _, _)| owners::uid_of(u).is_none())
        .collect();
    if !missing_groups.is_empty() || !missing_users.is_empty() {
        let tools = Tools::find().ok_or_else(|| {
            Error::Other(
                "unable to create qmail's users and groups: no groupadd/useradd or addgroup/adduser \
                 (create them as INSTALL.ids says, then run again)"
                    .into(),
            )
        })?;
        for g in missing_groups {
            let _ = writeln!(out, "creating group {g}");
            run(tools.group_command(g), &format!("group {g}"))?;
        }
        let shell = nologin();
        for (u, g, alias) in missing_users {
            let dir = if alias {
                home.join("alias")
            } else {
                home.to_path_buf()
            };
            let _ = writeln!(out, "creating user {u} (group {g}, home {})", dir.display());
            run(tools.user_command(u, g, &dir, &shell), &format!("user {u}"))?;
        }
    }
    Ids::lookup().map_err(|m| Error::Other(m.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_have_the_tools_syntax() {
        let shadow = Tools::Shadow {
            groupadd: "/usr/sbin/groupadd".into(),
            useradd: "/usr/sbin/useradd".into(),
        };
        let show = |c: Command| {
            std::iter::once(c.get_program().to_string_lossy().into_owned())
                .chain(c.get_args().map(|a| a.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            show(shadow.group_command("qmail")),
            "/usr/sbin/groupadd -r qmail"
        );
        assert_eq!(
            show(shadow.user_command(
                "alias",
                "nofiles",
                Path::new("/var/qmail/alias"),
                Path::new("/usr/sbin/nologin")
            )),
            "/usr/sbin/useradd -r -M -g nofiles -d /var/qmail/alias -s /usr/sbin/nologin alias"
        );
        let bb = Tools::Busybox {
            addgroup: "/usr/sbin/addgroup".into(),
            adduser: "/usr/sbin/adduser".into(),
        };
        assert_eq!(
            show(bb.group_command("nofiles")),
            "/usr/sbin/addgroup -S nofiles"
        );
        assert_eq!(
            show(bb.user_command(
                "qmailq",
                "qmail",
                Path::new("/var/qmail"),
                Path::new("/sbin/nologin")
            )),
            "/usr/sbin/adduser -S -D -H -G qmail -h /var/qmail -s /sbin/nologin qmailq"
        );
    }
}
