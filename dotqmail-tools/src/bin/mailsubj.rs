//! mailsubj: send the standard input as a message with a given subject
//! (mailsubj(1)); 1.03's shell script, piping a Subject: and To: header
//! and the input into qmail-inject from the qmail home's bin/.
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use dotqmail_tools::Outcome;

fn main() {
    let args = dotqmail_tools::outcome::args();
    let home = control::Home::from_env();
    let inject = home.bin("qmail-inject");
    let mut child = match Command::new(&inject).stdin(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => Outcome::say(
            111,
            format!(
                "mailsubj: fatal: unable to run {}: {}",
                inject.display(),
                sys::describe(&e)
            ),
        )
        .exit(),
    };
    let mut head = b"Subject: ".to_vec();
    if let Some(s) = args.first() {
        head.extend_from_slice(s.as_bytes());
    }
    head.extend_from_slice(b"\nTo:");
    for r in args.iter().skip(1) {
        head.push(b' ');
        head.extend_from_slice(r.as_bytes());
    }
    head.extend_from_slice(b"\n\n");
    if let Some(mut pipe) = child.stdin.take() {
        // qmail-inject reports its own problems; a pipe it closed early
        // shows in its exit code.
        let _ = pipe.write_all(&head);
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut pipe);
    }
    match child.wait() {
        Ok(st) => Outcome::quiet(st.code().unwrap_or(111)).exit(),
        Err(e) => Outcome::say(
            111,
            format!("mailsubj: fatal: wait failed: {}", sys::describe(&e)),
        )
        .exit(),
    }
}
