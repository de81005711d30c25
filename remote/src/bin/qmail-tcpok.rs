//! qmail-tcpok: forget every remembered timeout, so qmail-remote tries
//! those hosts again at once.

#![forbid(unsafe_code)]

fn main() {
    let home = control::Home::from_env();
    let path = home.queue().join("lock").join("tcpto");
    if let Err(e) = remote::tcpto::clear(&path) {
        eprintln!(
            "qmail-tcpok: fatal: unable to clear {}: {}",
            path.display(),
            sys::describe(&e)
        );
        std::process::exit(111);
    }
}
