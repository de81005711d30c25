//! qmail-setup: the original's `make setup check`. Parses the command
//! line and calls [`setup::make::run`], which does the work.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};
use setup::make::{self, Options};

const USAGE: &str = "qmail-setup: usage: qmail-setup [ -c ] [ -b bindir ] [ home ]";

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
        .unwrap_or_else(|_| {
            eprintln!("{USAGE}");
            std::process::exit(100);
        });
    let opts = Options {
        check_only: matches.get_flag("check"),
        bin_dir: matches.get_one::<PathBuf>("bindir").cloned(),
        home: matches
            .get_one::<PathBuf>("home")
            .cloned()
            .unwrap_or_else(|| control::Home::from_env().root().to_path_buf()),
    };
    match make::run(&opts, &mut std::io::stdout()) {
        Ok(problems) => {
            for p in &problems {
                eprintln!("instcheck: warning: {p}");
            }
            if !problems.is_empty() {
                std::process::exit(111);
            }
        }
        Err(e) => {
            eprintln!("qmail-setup: fatal: {e}");
            std::process::exit(111);
        }
    }
}
