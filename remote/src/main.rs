//! qmail-remote: the arguments, fd 0 and fd 1; the work is in the
//! library (`remote::run`).

#![forbid(unsafe_code)]

use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;

use remote::{Letter, Report};

fn main() {
    let args: Vec<Vec<u8>> = std::env::args_os()
        .skip(1)
        .map(OsStringExt::into_vec)
        .collect();
    let home = control::Home::from_env();
    // fd 0 is the message file; a duplicate gives it a File without
    // unsafe code (the offset is shared, which is what we want).
    let report = if args.len() < 3 {
        Report::message(Letter::D, remote::report::text::USAGE)
    } else {
        match std::io::stdin().as_fd().try_clone_to_owned() {
            Ok(fd) => remote::run(&args, &home, &mut std::fs::File::from(fd)),
            Err(_) => Report::message(Letter::Z, remote::report::text::READ),
        }
    };
    // One write, not line by line as std's stdout would: qmail-rspawn
    // reads until EOF either way. qmail-remote always exits 0; a failed
    // write is qmail-rspawn's "qmail-remote produced no output".
    let bytes = report.to_bytes();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        match nix::unistd::write(std::io::stdout(), rest) {
            Ok(0) => break,
            Ok(n) => rest = &rest[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => break,
        }
    }
}
