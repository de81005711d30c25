//! qmail-qstat: how many messages are in the queue, and how many of them
//! qmail-send has not looked at yet.

use std::io::Write;

fn main() {
    let home = control::Home::from_env();
    match queue::inspect::stat(&home.queue()) {
        Ok(s) => {
            let _ = std::io::stdout().write_all(queue::inspect::format_stat(s).as_bytes());
        }
        Err(e) => {
            eprintln!(
                "qmail-qstat: fatal: unable to read {}: {}",
                home.queue().display(),
                sys::errstr::describe(&e)
            );
            std::process::exit(111);
        }
    }
}
