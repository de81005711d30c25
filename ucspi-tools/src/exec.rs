//! Running the next program: `$PATH` search (djb's `pathexec`, which std's
//! `exec` does too), and 0.88's message when it fails.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Exec `argv` in this process, its 0th argument `zero` if given; returns
/// only on failure, after printing `NAME: fatal: unable to run PROG: ERR`:
/// the exit code (111).
pub fn run(name: &str, argv: &[OsString], zero: Option<&OsString>) -> i32 {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    if let Some(z) = zero {
        cmd.arg0(z);
    }
    let err = cmd.exec();
    fatal(name, &[b"unable to run ", argv[0].as_bytes(), b": "], &err)
}

/// Print `NAME: fatal: PARTS...ERR` and give the exit code 111.
pub fn fatal(name: &str, parts: &[&[u8]], err: &std::io::Error) -> i32 {
    let mut line = Vec::with_capacity(100);
    line.extend_from_slice(name.as_bytes());
    line.extend_from_slice(b": fatal: ");
    for p in parts {
        line.extend_from_slice(p);
    }
    line.extend_from_slice(sys::errstr::describe(err).as_bytes());
    line.push(b'\n');
    let _ = std::io::stderr().write_all(&line);
    111
}

/// Print a usage line and give the exit code 100.
pub fn usage(line: &str) -> i32 {
    let _ = std::io::stderr().write_all(line.as_bytes());
    100
}
