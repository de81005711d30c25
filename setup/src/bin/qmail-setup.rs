//! qmail-setup: the original's `make setup check`. Creates (or repairs)
//! the qmail home and checks it; as root also qmail's users and groups.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};
use setup::hier::Owners;
use setup::install::Source;
use setup::{accounts, check, install};

const USAGE: &str = "qmail-setup: usage: qmail-setup [ -c ] [ -b bindir ] [ home ]";

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(100);
}

fn fatal(text: impl std::fmt::Display, code: i32) -> ! {
    eprintln!("qmail-setup: fatal: {text}");
    std::process::exit(code);
}

fn main() {
    let matches = Command::new("qmail-setup")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(Arg::new("check").short('c').action(ArgAction::SetTrue))
        .arg(
            Arg::new("bindir")
                .short('b')
                .value_parser(clap::value_parser!(PathBuf)),
        )
        .arg(Arg::new("home").value_parser(clap::value_parser!(PathBuf)))
        .try_get_matches_from(std::env::args_os().collect::<Vec<OsString>>())
        .unwrap_or_else(|_| usage());
    let home = matches
        .get_one::<PathBuf>("home")
        .cloned()
        .unwrap_or_else(|| control::Home::from_env().root().to_path_buf());
    let home = if home.is_absolute() {
        home
    } else {
        std::env::current_dir()
            .map(|d| d.join(&home))
            .unwrap_or_else(|e| {
                fatal(
                    format!(
                        "unable to find the current directory: {}",
                        sys::describe(&e)
                    ),
                    111,
                )
            })
    };
    let root = nix::unistd::geteuid().is_root();
    let mut stdout = std::io::stdout();
    let owners = if root {
        let ids = if matches.get_flag("check") {
            queue::owners::Ids::lookup().unwrap_or_else(|m| fatal(m, 111))
        } else {
            accounts::ensure(&home, &mut stdout).unwrap_or_else(|e| fatal(e, 111))
        };
        Owners::system(&ids)
    } else {
        Owners::single(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    };
    if !matches.get_flag("check") {
        let source = match matches.get_one::<PathBuf>("bindir") {
            Some(d) => Source { bin_dir: d.clone() },
            None => Source::beside_me().unwrap_or_else(|e| {
                fatal(
                    format!("unable to find my own folder: {}", sys::describe(&e)),
                    111,
                )
            }),
        };
        if let Err(e) = install::make_dir(&home, owners.root, owners.group, 0o755)
            .and_then(|()| install::install(&home, &owners, &source))
        {
            fatal(e, 111);
        }
    }
    let problems = check::check(&home, &owners);
    for p in &problems {
        eprintln!("instcheck: warning: {p}");
    }
    if !problems.is_empty() {
        std::process::exit(111);
    }
}
