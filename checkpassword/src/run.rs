//! The program: read fd 3, decide, become the user, exec the
//! subprogram. Exit codes as checkpassword.c: 2 for misuse, 1 for a
//! wrong password (or a failed privilege change), 111 for a temporary
//! failure.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, User};

use crate::exit::{MISUSE, NO, TEMPORARY};
use crate::{file, input, verify};

/// Who the subprogram runs as, and where.
struct Account {
    name: Vec<u8>,
    home: PathBuf,
    shell: Option<PathBuf>,
    /// uid and gid to become; `None` in the password file mode.
    ids: Option<(u32, u32)>,
}

/// Read fd 3 as checkpassword does: up to EOF, at most 512 bytes.
fn read_fd3() -> Result<Vec<u8>, i32> {
    let mut f = std::fs::File::from(sys::fds::inherited(3).map_err(|_| TEMPORARY)?);
    let mut data = Vec::with_capacity(input::MAX);
    let mut buf = [0u8; input::MAX];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                data.extend_from_slice(&buf[..n]);
                if data.len() >= input::MAX {
                    return Err(NO);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(TEMPORARY),
        }
    }
    Ok(data)
}

/// The system account `user`, if the password is right.
fn system(user: &[u8], password: &[u8]) -> Result<Account, i32> {
    let name = std::str::from_utf8(user).map_err(|_| NO)?;
    let pw = match User::from_name(name) {
        Ok(Some(pw)) => pw,
        Ok(None) => return Err(NO),
        Err(_) => return Err(TEMPORARY),
    };
    let hashed = match crate::crypt::shadow(user) {
        Ok(Some(h)) => h,
        // No shadow entry, or no permission to read it (not root): the
        // passwd field, as checkpassword.c does.
        Ok(None) => pw.passwd.as_bytes().to_vec(),
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => pw.passwd.as_bytes().to_vec(),
        Err(_) => return Err(TEMPORARY),
    };
    if !verify(password, &hashed) {
        return Err(NO);
    }
    Ok(Account {
        name: user.to_vec(),
        home: pw.dir,
        shell: Some(pw.shell),
        ids: Some((pw.uid.as_raw(), pw.gid.as_raw())),
    })
}

/// The user of the password file at `path`, if the password is right.
fn from_file(path: &Path, user: &[u8], password: &[u8]) -> Result<Account, i32> {
    let entry = match file::lookup(path, user) {
        Ok(Some(e)) => e,
        Ok(None) => return Err(NO),
        Err(_) => return Err(TEMPORARY),
    };
    if !verify(password, &entry.hash) {
        return Err(NO);
    }
    let home = match entry.home {
        Some(h) => PathBuf::from(OsStr::from_bytes(&h)),
        None => std::env::current_dir().map_err(|_| TEMPORARY)?,
    };
    Ok(Account {
        name: user.to_vec(),
        home,
        shell: None,
        ids: None,
    })
}

/// Become `uid`/`gid` (groups, group, user, in qmail's order), unless
/// the process already is exactly that.
fn become_user(uid: u32, gid: u32) -> Result<(), i32> {
    if Uid::effective().as_raw() == uid
        && Gid::effective().as_raw() == gid
        && !sys::privs::is_root()
    {
        return Ok(());
    }
    sys::privs::set_gid(gid).map_err(|_| NO)?;
    sys::privs::set_uid(uid).map_err(|_| NO)
}

/// Give up set-uid and set-gid privileges: effective ids back to the
/// real ones.
fn drop_setid() -> nix::Result<()> {
    let (ruid, rgid) = (Uid::current(), Gid::current());
    if Gid::effective() != rgid {
        nix::unistd::setresgid(rgid, rgid, rgid)?;
    }
    if Uid::effective() != ruid {
        nix::unistd::setresuid(ruid, ruid, ruid)?;
    }
    Ok(())
}

/// checkpassword with `args` (the subprogram and its arguments); returns
/// the exit code when the subprogram is not run.
pub fn main(args: &[OsString]) -> i32 {
    let Some(prog) = args.first() else {
        return MISUSE;
    };
    let data = match read_fd3() {
        Ok(d) => d,
        Err(code) => return code,
    };
    let Some((user, password)) = input::parse(&data) else {
        return MISUSE;
    };
    let account = match std::env::var_os("CHECKPASSWORD_FILE") {
        Some(path) if !path.is_empty() => {
            // The caller picks the file, so a set-id checkpassword must
            // not read it, or run anything, with privileges the caller
            // lacks: back to the real ids first.
            if drop_setid().is_err() {
                return TEMPORARY;
            }
            from_file(Path::new(&path), user, password)
        }
        _ => system(user, password),
    };
    let account = match account {
        Ok(a) => a,
        Err(code) => return code,
    };
    if let Some((uid, gid)) = account.ids
        && let Err(code) = become_user(uid, gid)
    {
        return code;
    }
    if std::env::set_current_dir(&account.home).is_err() {
        return TEMPORARY;
    }
    let mut cmd = std::process::Command::new(prog);
    cmd.args(&args[1..])
        .env("USER", OsStr::from_bytes(&account.name))
        .env("HOME", &account.home);
    if let Some(shell) = &account.shell {
        cmd.env("SHELL", shell);
    }
    let _ = cmd.exec();
    TEMPORARY
}
