//! qmail-send: the queue manager. qmail-start runs it with fd 0 the log,
//! fds 1 to 4 the spawners and fds 5 and 6 qmail-clean.

use std::fs::File;

use send::daemon::{Fds, run};

fn fd(n: i32) -> File {
    match sys::fds::inherited(n) {
        Ok(f) => File::from(f),
        // Without its descriptors there is nobody to tell.
        Err(_) => std::process::exit(111),
    }
}

fn main() {
    let fds = Fds {
        log: fd(0),
        to_spawn: [fd(1), fd(3)],
        from_spawn: [fd(2), fd(4)],
        to_clean: fd(5),
        from_clean: fd(6),
    };
    std::process::exit(run(control::Home::from_env(), fds));
}
