//! qmail-qread: list the messages in the queue with their recipients.

use std::io::Write;

fn main() {
    let home = control::Home::from_env();
    let mut out = std::io::stdout().lock();
    if let Err(e) = queue::inspect::qread(&home.queue(), &mut out) {
        // qmail-qread writes its complaints to stdout too.
        let _ = writeln!(
            out,
            "fatal: unable to opendir info: {}",
            sys::errstr::describe(&e)
        );
        let _ = out.flush();
        std::process::exit(111);
    }
    let _ = out.flush();
}
