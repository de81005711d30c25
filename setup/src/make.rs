//! `qmail-setup`: the original's `make setup check`, for the binary to
//! call once it has parsed its arguments. As root: qmail's users and
//! groups (created when missing, unless only checking), the home with
//! their owners, and a check that the alias user lives in `HOME/alias`.
//! As anyone else: the one-folder layout, owned by the caller.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::hier::Owners;
use crate::install::Source;
use crate::{Error, accounts, check, install};

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-c`: check only, change nothing.
    pub check_only: bool,
    /// `-b`: where the programs to install are (default: beside us).
    pub bin_dir: Option<PathBuf>,
    /// The home; relative paths are taken from the current directory.
    pub home: PathBuf,
}

/// Install (unless `check_only`) and check; says what it creates on
/// `out`. Returns the problems found, each in instcheck's words, for the
/// caller to print after `instcheck: warning: ` (and exit 111 if any).
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<Vec<String>, Error> {
    let home = absolute(&opts.home)?;
    let euid = nix::unistd::geteuid();
    let owners = if euid.is_root() {
        let ids = if opts.check_only {
            queue::owners::Ids::lookup().map_err(|m| Error::Other(m.to_string()))?
        } else {
            accounts::ensure(&home, out)?
        };
        Owners::system(&ids)
    } else {
        Owners::single(euid.as_raw(), nix::unistd::getegid().as_raw())
    };
    if !opts.check_only {
        let source = match &opts.bin_dir {
            Some(d) => Source { bin_dir: d.clone() },
            None => Source::beside_me().map_err(|e| {
                Error::Other(format!(
                    "unable to find my own folder: {}",
                    sys::describe(&e)
                ))
            })?,
        };
        install::make_dir(&home, owners.root, owners.group, 0o755)?;
        install::install(&home, &owners, &source)?;
    }
    let mut problems = check::check(&home, &owners);
    if owners.system {
        let alias_home = nix::unistd::User::from_name("alias")
            .ok()
            .flatten()
            .map(|u| u.dir);
        problems.extend(alias_home_problem(&home, alias_home.as_deref()));
    }
    Ok(problems)
}

/// `home` made absolute against the current directory.
fn absolute(home: &Path) -> Result<PathBuf, Error> {
    if home.is_absolute() {
        return Ok(home.to_path_buf());
    }
    std::env::current_dir().map(|d| d.join(home)).map_err(|e| {
        Error::Other(format!(
            "unable to find the current directory: {}",
            sys::describe(&e)
        ))
    })
}

/// qmail-lspawn runs deliveries for the alias user in its passwd home:
/// when that is not `home/alias` (the user was made for another install,
/// by hand or by an earlier run), mail to postmaster, root and
/// mailer-daemon and every bounce to a local sender defers with `Unable
/// to switch to` that home.
pub fn alias_home_problem(home: &Path, alias_home: Option<&Path>) -> Option<String> {
    let want = home.join("alias");
    match alias_home {
        Some(have) if have != want => Some(format!(
            "user alias has home {}, not {}: mail to postmaster and bounces cannot be delivered",
            have.display(),
            want.display()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alias_user_must_live_in_home_alias() {
        let home = Path::new("/opt/qmail");
        assert_eq!(
            alias_home_problem(home, Some(Path::new("/opt/qmail/alias"))),
            None
        );
        // A trailing slash is the same directory.
        assert_eq!(
            alias_home_problem(home, Some(Path::new("/opt/qmail/alias/"))),
            None
        );
        assert_eq!(
            alias_home_problem(home, Some(Path::new("/var/qmail/alias"))).as_deref(),
            Some(
                "user alias has home /var/qmail/alias, not /opt/qmail/alias: \
                 mail to postmaster and bounces cannot be delivered"
            )
        );
        // No alias user: Ids::lookup or the creation reports that.
        assert_eq!(alias_home_problem(home, None), None);
    }

    #[test]
    fn a_relative_home_is_taken_from_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(absolute(Path::new("q")).unwrap(), cwd.join("q"));
        assert_eq!(absolute(Path::new("/q")).unwrap(), PathBuf::from("/q"));
    }
}
