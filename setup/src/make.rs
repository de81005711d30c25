//! `qmail-setup`: the original's `make setup check`, for the binary to
//! call once it has parsed its arguments. As root: qmail's users and
//! groups (created when missing, unless only checking) and the home with
//! their owners.
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
    Ok(check::check(&home, &owners))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_home_is_taken_from_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(absolute(Path::new("q")).unwrap(), cwd.join("q"));
        assert_eq!(absolute(Path::new("/q")).unwrap(), PathBuf::from("/q"));
    }
}
