//! qmail-local: deliver one message to one local address.

use std::io::Write;
use std::os::fd::AsFd;

use deliver::local;

fn main() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let Some(args) = local::parse_args(std::env::args_os().skip(1)) else {
        eprintln!("{}", local::USAGE);
        std::process::exit(100);
    };
    let mut message = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => std::fs::File::from(fd),
        Err(_) => {
            eprintln!("Unable to rewind message. (#4.3.0)");
            std::process::exit(111);
        }
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr();
    match local::run(&args, &mut message, &mut out, &mut err) {
        Ok(()) => {
            let _ = out.flush();
            std::process::exit(0);
        }
        Err(fail) => {
            let _ = out.flush();
            if !fail.text.is_empty() {
                let _ = writeln!(err, "{}", fail.text);
            }
            std::process::exit(fail.code);
        }
    }
}
