//! Running the program a helper wraps (`bouncesaying error program`,
//! `except program`, `condredirect addr program`), found on `PATH` as
//! `execvp` does, with the helper's own stdin, stdout and stderr: the
//! program reads the same message fd qmail-local gave the helper.

use std::ffi::OsString;
use std::process::Command;

/// How the wrapped program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It exited with this code. A program that could not be run counts
    /// as having exited 111 (a temporary error such as ETXTBSY or
    /// ENOMEM) or 100 (anything else), as 1.03's forked child does.
    Exit(i32),
    /// Killed by a signal.
    Crashed,
    /// waitpid failed.
    WaitFailed,
}

/// Run `argv[0]` with `argv[1..]` and wait for it.
pub fn run(argv: &[OsString]) -> End {
    let Some((prog, rest)) = argv.split_first() else {
        return End::Exit(100);
    };
    let mut cmd = Command::new(prog);
    cmd.args(rest);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return End::Exit(if sys::is_temporary(&e) { 111 } else { 100 }),
    };
    match child.wait() {
        Ok(st) => st.code().map_or(End::Crashed, End::Exit),
        Err(_) => End::WaitFailed,
    }
}
