//! qmail-run: the whole mail system in one folder, in the foreground.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Arg, Command};
use setup::run::{self, DEFAULT_HOME, DEFAULT_LISTEN, LISTEN_VAR, Options};

const USAGE: &str =
    "qmail-run: usage: qmail-run [ --home dir ] [ --listen ip:port ] [ --user name ]";

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(100);
}

fn main() {
    let matches = Command::new("qmail-run")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("home")
                .long("home")
                .value_parser(clap::value_parser!(PathBuf)),
        )
        .arg(Arg::new("listen").long("listen"))
        .arg(Arg::new("user").long("user"))
        .try_get_matches_from(std::env::args_os().collect::<Vec<OsString>>())
        .unwrap_or_else(|_| usage());
    let listen = matches
        .get_one::<String>("listen")
        .cloned()
        .or_else(|| std::env::var(LISTEN_VAR).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let Ok(listen) = listen.parse::<SocketAddr>() else {
        eprintln!("qmail-run: fatal: {listen} is not an ip:port address");
        std::process::exit(100);
    };
    let opts = Options {
        home: matches
            .get_one::<PathBuf>("home")
            .cloned()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME)),
        listen,
        user: matches.get_one::<String>("user").cloned(),
    };
    std::process::exit(run::main(opts));
}
