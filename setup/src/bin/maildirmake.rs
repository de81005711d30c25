//! maildirmake: create a Maildir.

use std::path::Path;

fn main() {
    let Some(name) = std::env::args_os().nth(1) else {
        eprintln!("maildirmake: usage: maildirmake name");
        std::process::exit(100);
    };
    if let Err(e) = setup::maildir::make(Path::new(&name), None) {
        eprintln!(
            "maildirmake: fatal: unable to mkdir {}: {}",
            Path::new(&name).display(),
            sys::describe(&e)
        );
        std::process::exit(111);
    }
}
