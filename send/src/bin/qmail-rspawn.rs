//! qmail-rspawn: runs remote deliveries (qmail-remote) for qmail-send.

use std::ffi::OsString;
use std::fs::File;

use queue::owners::Mode;
use send::rspawn::{Remote, tcpto_clean};

fn main() {
    let home = control::Home::from_env();
    let mode = match Mode::detect_as("qmailr") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("qmail-rspawn: fatal: {e}");
            std::process::exit(111);
        }
    };
    if std::env::set_current_dir(home.queue().join("mess")).is_err() {
        std::process::exit(111);
    }
    tcpto_clean(std::path::Path::new("../lock/tcpto"));
    let program = match std::env::var_os("QMAILREMOTE") {
        Some(p) if !p.is_empty() => p,
        _ => OsString::from("qmail-remote"),
    };
    let (Ok(input), Ok(output)) = (sys::fds::inherited(0), sys::fds::inherited(1)) else {
        std::process::exit(111);
    };
    let mut agent = Remote {
        program,
        queue_uid: mode.queue_uid(),
    };
    std::process::exit(send::spawner::run(
        &mut agent,
        File::from(input),
        File::from(output),
    ));
}
