//! Who runs the one-folder system. An ordinary user runs it as
//! themselves. Root never delivers mail as uid 0: qmail-run prepares the
//! folder as root, gives it to an ordinary user and becomes that user
//! before starting anything. That user is, in order: `--user`, the owner
//! of an existing folder, the user behind sudo (`SUDO_UID`), the owner of
//! the current directory, or `nobody`.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::unistd::{Group, User};

use crate::Error;

/// The user the system runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
}

impl RunAs {
    /// The calling user.
    pub fn me() -> RunAs {
        let uid = nix::unistd::geteuid();
        let gid = nix::unistd::getegid();
        let name = User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| uid.to_string(), |u| u.name);
        RunAs {
            uid: uid.as_raw(),
            gid: gid.as_raw(),
            name,
        }
    }

    fn from_uid(uid: u32, gid: Option<u32>) -> RunAs {
        let user = User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten();
        RunAs {
            uid,
            gid: gid
                .or_else(|| user.as_ref().map(|u| u.gid.as_raw()))
                .unwrap_or(uid),
            name: user.map_or_else(|| uid.to_string(), |u| u.name),
        }
    }
}

/// `nobody`, from the password database, else 65534.
fn nobody() -> RunAs {
    match User::from_name("nobody").ok().flatten() {
        Some(u) => RunAs {
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            name: u.name,
        },
        None => {
            let gid = Group::from_name("nogroup")
                .ok()
                .flatten()
                .map_or(65534, |g| g.gid.as_raw());
            RunAs {
                uid: 65534,
                gid,
                name: "nobody".into(),
            }
        }
    }
}

/// The user to become when started as root.
pub fn choose(wanted: Option<&str>, home: &Path) -> Result<RunAs, Error> {
    if let Some(name) = wanted {
        let u = match name.parse::<u32>() {
            Ok(uid) => Some(RunAs::from_uid(uid, None)),
            Err(_) => User::from_name(name).ok().flatten().map(|u| RunAs {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                name: u.name,
            }),
        };
        let u = u.ok_or_else(|| Error::Other(format!("unknown user {name}")))?;
        if u.uid == 0 {
            return Err(Error::Other(
                "refusing to run the mail system as root: deliveries never run as uid 0".into(),
            ));
        }
        return Ok(u);
    }
    if let Ok(m) = std::fs::metadata(home)
        && m.uid() != 0
    {
        return Ok(RunAs::from_uid(m.uid(), Some(m.gid())));
    }
    let env_id = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|&n| n != 0)
    };
    if let Some(uid) = env_id("SUDO_UID") {
        return Ok(RunAs::from_uid(uid, env_id("SUDO_GID")));
    }
    if let Ok(m) = std::fs::metadata(".")
        && m.uid() != 0
    {
        return Ok(RunAs::from_uid(m.uid(), Some(m.gid())));
    }
    Ok(nobody())
}

/// May `who` search (traverse) a directory with this metadata?
fn can_search(meta: &std::fs::Metadata, who: &RunAs) -> bool {
    let mode = meta.mode();
    if meta.uid() == who.uid {
        mode & 0o100 != 0
    } else if meta.gid() == who.gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// The first folder above `home` that `who` cannot pass through, if any.
pub fn blocked_at(home: &Path, who: &RunAs) -> Option<std::path::PathBuf> {
    let mut dirs: Vec<&Path> = home.ancestors().skip(1).collect();
    dirs.reverse();
    for d in dirs {
        if let Ok(m) = std::fs::metadata(d)
            && !can_search(&m, who)
        {
            return Some(d.to_path_buf());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_closed_folder_above_the_home_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let closed = dir.path().join("closed");
        std::fs::create_dir_all(closed.join("inner")).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let me = RunAs::me();
        let stranger = RunAs {
            uid: me.uid.wrapping_add(4242),
            gid: me.gid.wrapping_add(4242),
            name: "stranger".into(),
        };
        let home = closed.join("inner/qmail-run");
        assert_eq!(blocked_at(&home, &me), None);
        assert_eq!(blocked_at(&home, &stranger), Some(closed.clone()));
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(blocked_at(&home, &stranger), None);
    }

    #[test]
    fn root_is_never_chosen_by_name() {
        let err = choose(Some("0"), Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().contains("never run as uid 0"), "{err}");
    }
}
