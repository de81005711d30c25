//! qmail-getpw: which user receives mail for a local part (qmail-getpw.8).
//!
//! The longest prefix of the local part that ends at a `-` (or is the
//! whole local part) and names a valid user wins; the rest after the `-`
//! is the extension. A valid user has a uid other than 0 and a home
//! directory that exists and is owned by that uid; names are shorter than
//! 32 bytes. With no such user, the `alias` user takes the whole local
//! part as its extension.
//!
//! Users come from the password database, or in the one-folder mode
//! (qmail-getpw runs neither as root nor as `qmailp`) from directories: a
//! user `name` is the directory `QMAILHOME/mail/name` (its owner gives uid
//! and gid) and the alias user is `QMAILHOME/alias`. Nothing outside the
//! home is used.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use control::qlx;

/// qmail's limit on user names, including the terminating NUL.
const USERLEN: usize = 32;

/// A user as the lookup sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub home: Vec<u8>,
}

/// The answer: the user, then dash and extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub user: User,
    pub dash: Vec<u8>,
    pub ext: Vec<u8>,
}

impl Assignment {
    /// The six NUL-terminated fields qmail-lspawn reads:
    /// `user\0uid\0gid\0home\0dash\0ext\0`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for field in [
            &self.user.name[..],
            self.user.uid.to_string().as_bytes(),
            self.user.gid.to_string().as_bytes(),
            &self.user.home,
            &self.dash,
            &self.ext,
        ] {
            out.extend_from_slice(field);
            out.push(0);
        }
        out
    }
}

/// What a source of users can say about one name.
pub trait Users {
    /// The user called `name` (already lowercased), if any. An `Err` is an
    /// exit code for qmail-lspawn (temporary trouble).
    fn get(&self, name: &[u8]) -> Result<Option<User>, i32>;
    /// Whether `user`'s home exists and is owned by its uid.
    fn home_ok(&self, user: &User) -> Result<bool, i32>;
    /// The alias user.
    fn alias(&self) -> Result<Option<User>, i32>;
}

/// Find the user for `local`. `Err` is the exit code.
pub fn assign(local: &[u8], users: &dyn Users) -> Result<Assignment, i32> {
    // Positions where the username may end: the end, and each '-'.
    for end in (0..=local.len()).rev() {
        if end >= USERLEN {
            continue;
        }
        if end != local.len() && local[end] != b'-' {
            continue;
        }
        let name = local[..end].to_ascii_lowercase();
        if let Some(user) = users.get(&name)?
            && user.uid != 0
            && users.home_ok(&user)?
        {
            let (dash, ext) = if end == local.len() {
                (Vec::new(), Vec::new())
            } else {
                (b"-".to_vec(), local[end + 1..].to_vec())
            };
            return Ok(Assignment { user, dash, ext });
        }
    }
    match users.alias()? {
        Some(user) => Ok(Assignment {
            user,
            dash: b"-".to_vec(),
            ext: local.to_vec(),
        }),
        None => Err(qlx::NOALIAS),
    }
}

/// The password database (getpwnam).
pub struct Passwd;

fn from_nix(u: nix::unistd::User) -> User {
    User {
        name: u.name.into_bytes(),
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        home: u.dir.into_os_string().into_vec(),
    }
}

use std::os::unix::ffi::OsStringExt;

impl Users for Passwd {
    fn get(&self, name: &[u8]) -> Result<Option<User>, i32> {
        let Ok(name) = std::str::from_utf8(name) else {
            return Ok(None);
        };
        if name.is_empty() || name.contains('\0') {
            return Ok(None);
        }
        match nix::unistd::User::from_name(name) {
            Ok(u) => Ok(u.map(from_nix)),
            Err(nix::errno::Errno::ETXTBSY) => Err(qlx::SYS),
            Err(_) => Ok(None),
        }
    }

    fn home_ok(&self, user: &User) -> Result<bool, i32> {
        match std::fs::metadata(std::ffi::OsStr::from_bytes(&user.home)) {
            Ok(m) => Ok(m.uid() == user.uid),
            Err(e) if sys::is_temporary(&e) => Err(qlx::NFS),
            Err(_) => Ok(false),
        }
    }

    fn alias(&self) -> Result<Option<User>, i32> {
        Ok(nix::unistd::User::from_name("alias")
            .ok()
            .flatten()
            .map(from_nix))
    }
}

/// Users as directories of the qmail home (the one-folder mode).
pub struct HomeDirs {
    pub root: PathBuf,
}

impl HomeDirs {
    fn user_at(&self, name: &[u8], dir: PathBuf) -> Result<Option<User>, i32> {
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(Some(User {
                name: name.to_vec(),
                uid: m.uid(),
                gid: m.gid(),
                home: dir.into_os_string().into_vec(),
            })),
            Ok(_) => Ok(None),
            Err(e) if sys::is_temporary(&e) => Err(qlx::NFS),
            Err(_) => Ok(None),
        }
    }
}

impl Users for HomeDirs {
    fn get(&self, name: &[u8]) -> Result<Option<User>, i32> {
        // A name must be one plain path component.
        if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
            return Ok(None);
        }
        let dir = self
            .root
            .join("mail")
            .join(std::ffi::OsStr::from_bytes(name));
        self.user_at(name, dir)
    }

    fn home_ok(&self, _: &User) -> Result<bool, i32> {
        // The directory is the home and its owner is the uid.
        Ok(true)
    }

    fn alias(&self) -> Result<Option<User>, i32> {
        let dir = self.root.join("alias");
        Ok(self.user_at(b"alias", dir)?.filter(|u| u.uid != 0))
    }
}

/// The one-folder mode is on: qmail-getpw runs neither as root nor as
/// `qmailp` (qmail-lspawn runs it as `qmailp` when it is root, and as its
/// own ordinary user in the one-folder mode). This is the queue's rule
/// too: root with qmail's users, or everything as the invoking user.
pub fn one_folder_mode() -> bool {
    let me = nix::unistd::geteuid();
    if me.is_root() {
        return false;
    }
    let qmailp = nix::unistd::User::from_name("qmailp").ok().flatten();
    qmailp.is_none_or(|u| u.uid != me)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Vec<User>);
    impl Users for Fake {
        fn get(&self, name: &[u8]) -> Result<Option<User>, i32> {
            Ok(self.0.iter().find(|u| u.name == name).cloned())
        }
        fn home_ok(&self, u: &User) -> Result<bool, i32> {
            Ok(!u.home.ends_with(b"/gone"))
        }
        fn alias(&self) -> Result<Option<User>, i32> {
            self.get(b"alias")
        }
    }

    fn user(name: &str, uid: u32) -> User {
        User {
            name: name.into(),
            uid,
            gid: 100,
            home: format!("/home/{name}").into_bytes(),
        }
    }

    #[test]
    fn longest_valid_prefix_wins() {
        let f = Fake(vec![
            user("joe", 1001),
            user("joe-list", 1002),
            user("alias", 7790),
        ]);
        let a = assign(b"Joe", &f).unwrap();
        assert_eq!(a.to_bytes(), b"joe\x001001\x00100\x00/home/joe\0\0\0");
        let a = assign(b"joe-list-Sub", &f).unwrap();
        assert_eq!(a.user.name, b"joe-list");
        assert_eq!((a.dash, a.ext), (b"-".to_vec(), b"Sub".to_vec()));
        let a = assign(b"joe-other", &f).unwrap();
        assert_eq!((a.user.name, a.ext), (b"joe".to_vec(), b"other".to_vec()));
        let a = assign(b"Nobody-x", &f).unwrap();
        assert_eq!(a.user.name, b"alias");
        assert_eq!(a.ext, b"Nobody-x");
        // joe- with an empty extension is joe with dash "-".
        let a = assign(b"joe-", &f).unwrap();
        assert_eq!(
            (a.user.name, a.dash, a.ext),
            (b"joe".to_vec(), b"-".to_vec(), vec![])
        );
    }

    #[test]
    fn root_bad_homes_and_long_names_are_skipped() {
        let mut gone = user("ann", 1003);
        gone.home = b"/home/gone".to_vec();
        let long = "a".repeat(32);
        let f = Fake(vec![
            user("root", 0),
            gone,
            user(&long, 5),
            user("alias", 7790),
        ]);
        assert_eq!(assign(b"root", &f).unwrap().user.name, b"alias");
        assert_eq!(assign(b"ann", &f).unwrap().user.name, b"alias");
        assert_eq!(assign(long.as_bytes(), &f).unwrap().user.name, b"alias");
        assert_eq!(assign(b"x", &Fake(vec![])), Err(qlx::NOALIAS));
    }

    #[test]
    fn home_dirs_map_names_to_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("mail/joe")).unwrap();
        let h = HomeDirs {
            root: dir.path().to_path_buf(),
        };
        let joe = h.get(b"joe").unwrap().unwrap();
        assert!(joe.home.ends_with(b"/mail/joe"));
        assert_eq!(h.get(b"..").unwrap(), None);
        assert_eq!(h.get(b"a/b").unwrap(), None);
        assert_eq!(h.get(b"ann").unwrap(), None);
    }
}
