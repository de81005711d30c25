//! Creating the tree of [`crate::hier`] below a home: the original's
//! `make setup`. Safe to run again on a live system: directories are
//! repaired, binaries, man pages and boot files replaced atomically
//! (temporary file, fsync, rename), the admin's files and the queue's
//! messages left alone.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::hier::{self, Content, Entry, Owners};
use crate::{Context, Error, embedded, maildir};

/// Where the programs to install come from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The folder holding the built binaries (cargo's `target/release`).
    pub bin_dir: PathBuf,
}

impl Source {
    /// The folder of the running program: `qmail-setup` is built and
    /// installed beside the others.
    pub fn beside_me() -> io::Result<Source> {
        let exe = std::env::current_exe()?;
        let dir = exe
            .parent()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        Ok(Source {
            bin_dir: dir.to_path_buf(),
        })
    }

    /// The binaries of [`hier::BINARIES`] that are missing from the
    /// folder.
    pub fn missing(&self) -> Vec<&'static str> {
        hier::BINARIES
            .iter()
            .map(|&(name, _, _)| name)
            .filter(|name| !self.bin_dir.join(name).is_file())
            .collect()
    }
}

/// Create or repair the whole home.
pub fn install(home: &Path, owners: &Owners, source: &Source) -> Result<(), Error> {
    let missing = source.missing();
    if !missing.is_empty() {
        return Err(Error::Other(format!(
            "unable to find {} in {}: build them first (cargo build --release)",
            missing.join(", "),
            source.bin_dir.display()
        )));
    }
    for entry in hier::entries(owners.system) {
        install_entry(home, owners, source, &entry)?;
    }
    let queue = home.join("queue");
    queue::layout::create(&queue, Some(&owners.ids))
        .ctx(|| format!("create the queue in {}", queue.display()))?;
    let maildir = home.join("alias/Maildir");
    if !maildir.exists() {
        maildir::make(&maildir, Some((owners.alias, owners.group)))
            .ctx(|| format!("create {}", maildir.display()))?;
    }
    Ok(())
}

fn install_entry(
    home: &Path,
    owners: &Owners,
    source: &Source,
    entry: &Entry,
) -> Result<(), Error> {
    let path = home.join(&entry.path);
    let uid = owners.uid(entry.owner);
    let gid = owners.group;
    let mode = owners.mode(entry.mode);
    match entry.content {
        Content::Dir => make_dir(&path, uid, gid, mode),
        Content::Binary("qmail-queue") => install_qmail_queue(
            &source.bin_dir.join("qmail-queue"),
            &path,
            home,
            uid,
            gid,
            mode,
        ),
        Content::Binary(name) => {
            let from = source.bin_dir.join(name);
            copy_file(&from, &path, uid, gid, mode)
        }
        Content::Embedded(file, substitute) => {
            let bytes = if substitute {
                embedded::with_home(file.bytes, home.as_os_str().as_bytes())
            } else {
                file.bytes.to_vec()
            };
            write_file(&path, &bytes, uid, gid, mode)
        }
        Content::Keep(from) => {
            let bytes = from.map_or_else(Vec::new, |f| {
                embedded::with_home(f.bytes, home.as_os_str().as_bytes())
            });
            keep_file(&path, &bytes, uid, gid, mode)
        }
    }
}

/// qmail-queue is installed with this home fixed in it (`queue::home`):
/// setuid, it ignores `QMAILHOME` and the path it was run by, so the
/// installation must tell it where it lives, as qmail's `auto_qmail`.
fn install_qmail_queue(
    from: &Path,
    path: &Path,
    home: &Path,
    uid: u32,
    gid: u32,
    mode: u32,
) -> Result<(), Error> {
    let mut bytes = fs::read(from).ctx(|| format!("read {}", from.display()))?;
    let home = std::path::absolute(home).ctx(|| format!("find {}", home.display()))?;
    queue::home::fix(&mut bytes, &home)
        .map_err(|e| Error::Other(format!("unable to fix the home in {}: {e}", from.display())))?;
    write_file(path, &bytes, uid, gid, mode)
}

/// mkdir, or repair an existing directory's owner and mode.
pub fn make_dir(path: &Path, uid: u32, gid: u32, mode: u32) -> Result<(), Error> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
        Err(e) => return Err(e).ctx(|| format!("mkdir {}", path.display())),
    }
    set_owner_mode(path, uid, gid, mode)
}

/// chown, then chmod: chown clears setuid and setgid bits.
fn set_owner_mode(path: &Path, uid: u32, gid: u32, mode: u32) -> Result<(), Error> {
    let meta = fs::symlink_metadata(path).ctx(|| format!("stat {}", path.display()))?;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .ctx(|| format!("chown {}", path.display()))?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .ctx(|| format!("chmod {}", path.display()))
}

/// The temporary name a file is written under before the rename.
fn temp_name(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".setup-tmp");
    path.with_file_name(name)
}

/// Write `bytes` to `path` atomically with its owner and mode, unless it
/// already holds exactly that.
pub fn write_file(path: &Path, bytes: &[u8], uid: u32, gid: u32, mode: u32) -> Result<(), Error> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return set_owner_mode(path, uid, gid, mode);
    }
    replace(path, uid, gid, mode, None, |f| f.write_all(bytes))
}

/// Copy the program `from` to `path` atomically, keeping its
/// modification time; a copy with the same size and time is taken as up
/// to date (a rebuilt program gets a new time).
pub fn copy_file(from: &Path, path: &Path, uid: u32, gid: u32, mode: u32) -> Result<(), Error> {
    let mut src = File::open(from).ctx(|| format!("open {}", from.display()))?;
    let meta = src.metadata().ctx(|| format!("stat {}", from.display()))?;
    if let Ok(old) = fs::metadata(path)
        && old.len() == meta.len()
        && old.mtime() == meta.mtime()
        && old.mtime_nsec() == meta.mtime_nsec()
    {
        return set_owner_mode(path, uid, gid, mode);
    }
    let times = (
        meta.atime(),
        meta.atime_nsec(),
        meta.mtime(),
        meta.mtime_nsec(),
    );
    replace(path, uid, gid, mode, Some(times), |f| {
        io::copy(&mut src, f).map(drop)
    })
}

/// Create `path` holding `bytes` when it does not exist; an existing file
/// is the admin's and keeps its contents, owner and mode.
pub fn keep_file(path: &Path, bytes: &[u8], uid: u32, gid: u32, mode: u32) -> Result<(), Error> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(bytes)
                .and_then(|()| f.sync_all())
                .ctx(|| format!("write {}", path.display()))?;
            set_owner_mode(path, uid, gid, mode)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).ctx(|| format!("create {}", path.display())),
    }
}

type Times = (i64, i64, i64, i64);

/// Write a temporary file with `fill`, fsync it, give it its owner, mode
/// and times, and rename it over `path`.
fn replace(
    path: &Path,
    uid: u32,
    gid: u32,
    mode: u32,
    times: Option<Times>,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), Error> {
    let tmp = temp_name(path);
    let _ = fs::remove_file(&tmp);
    let what = || format!("write {}", tmp.display());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .ctx(what)?;
    let result = (|| {
        fill(&mut f).ctx(what)?;
        f.sync_all().ctx(|| format!("fsync {}", tmp.display()))?;
        if let Some((asec, ansec, msec, mnsec)) = times {
            use nix::sys::stat::futimens;
            use nix::sys::time::TimeSpec;
            futimens(&f, &TimeSpec::new(asec, ansec), &TimeSpec::new(msec, mnsec))
                .map_err(io::Error::from)
                .ctx(|| format!("set the times of {}", tmp.display()))?;
        }
        drop(f);
        set_owner_mode(&tmp, uid, gid, mode)?;
        fs::rename(&tmp, path).ctx(|| format!("rename {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of fake programs named as the real ones.
    fn fake_bins() -> (tempfile::TempDir, Source) {
        let dir = tempfile::tempdir().unwrap();
        for &(name, _, _) in hier::BINARIES {
            fs::write(dir.path().join(name), format!("#!/bin/sh\necho {name}\n")).unwrap();
        }
        // qmail-queue gets its home written into its slot.
        let mut qq = b"#!/bin/sh\necho qmail-queue\nexit 0\n".to_vec();
        qq.extend_from_slice(queue::home::slot());
        fs::write(dir.path().join("qmail-queue"), qq).unwrap();
        let source = Source {
            bin_dir: dir.path().to_path_buf(),
        };
        (dir, source)
    }

    fn me() -> Owners {
        Owners::single(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    }

    #[test]
    fn one_folder_install_makes_the_tree_and_checks_clean() {
        let (_bins, source) = fake_bins();
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("qmail");
        install(&home, &me(), &source).unwrap();
        let mode = |p: &str| fs::metadata(home.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode("bin/qmail-queue"), 0o711);
        let mut want = fs::read(source.bin_dir.join("qmail-queue")).unwrap();
        queue::home::fix(&mut want, &home).unwrap();
        assert_eq!(fs::read(home.join("bin/qmail-queue")).unwrap(), want);
        assert_eq!(mode("bin/qmail-start"), 0o700);
        assert_eq!(mode("bin/tcpserver"), 0o755);
        assert_eq!(mode("alias"), 0o755);
        assert_eq!(mode("alias/.qmail-root"), 0o644);
        assert_eq!(mode("man/man8/qmail-smtpd.8"), 0o644);
        assert!(home.join("mail").is_dir());
        assert!(home.join("alias/Maildir/new").is_dir());
        assert!(home.join("queue/lock/trigger").exists());
        let rc = fs::read_to_string(home.join("boot/home")).unwrap();
        assert!(rc.contains(&format!("{}/bin", home.display())), "{rc}");
        assert!(!rc.contains("/var/qmail"));
        assert_eq!(crate::check::check(&home, &me()), Vec::<String>::new());

        // Again: nothing changes, the admin's file stays.
        fs::write(home.join("alias/.qmail-root"), "joe\n").unwrap();
        install(&home, &me(), &source).unwrap();
        assert_eq!(
            fs::read_to_string(home.join("alias/.qmail-root")).unwrap(),
            "joe\n"
        );
        // A rebuilt program is copied again.
        let prog = source.bin_dir.join("qmail-send");
        fs::write(&prog, "#!/bin/sh\necho new\n").unwrap();
        install(&home, &me(), &source).unwrap();
        assert_eq!(
            fs::read_to_string(home.join("bin/qmail-send")).unwrap(),
            "#!/bin/sh\necho new\n"
        );
        assert_eq!(crate::check::check(&home, &me()), Vec::<String>::new());
    }

    #[test]
    fn missing_programs_are_named() {
        let (bins, source) = fake_bins();
        fs::remove_file(bins.path().join("tcpserver")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = install(&dir.path().join("q"), &me(), &source).unwrap_err();
        assert!(
            err.to_string().contains("unable to find tcpserver in"),
            "{err}"
        );
    }

    #[test]
    fn check_names_what_is_wrong() {
        let (_bins, source) = fake_bins();
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("qmail");
        install(&home, &me(), &source).unwrap();
        fs::set_permissions(
            home.join("bin/qmail-send"),
            fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        fs::remove_file(home.join("bin/qmail-inject")).unwrap();
        fs::remove_dir(home.join("queue/todo")).unwrap();
        let qq = home.join("bin/qmail-queue");
        let mut bytes = fs::read(&qq).unwrap();
        queue::home::fix(&mut bytes, Path::new("/elsewhere")).unwrap();
        fs::write(&qq, bytes).unwrap();
        let h = home.display();
        assert_eq!(
            crate::check::check(&home, &me()),
            vec![
                format!("{h}/bin/qmail-send has wrong permissions"),
                format!("{h}/bin/qmail-inject does not exist"),
                format!("{h}/bin/qmail-queue has the wrong home fixed in it (/elsewhere)"),
                format!("{h}/queue/todo does not exist"),
            ]
        );
    }
}
