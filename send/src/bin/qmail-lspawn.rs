//! qmail-lspawn: runs local deliveries for qmail-send.
//! `qmail-lspawn defaultdelivery`

use std::fs::File;

use queue::owners::Mode;
use send::lspawn::Local;

fn main() {
    let Some(aliasempty) = std::env::args_os().nth(1) else {
        std::process::exit(100);
    };
    let home = control::Home::from_env();
    let Ok(root) = std::path::absolute(home.root()) else {
        std::process::exit(111);
    };
    let mode = match Mode::detect() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("qmail-lspawn: fatal: {e}");
            std::process::exit(111);
        }
    };
    if std::env::set_current_dir(root.join("queue/mess")).is_err() {
        std::process::exit(111);
    }
    let (Ok(input), Ok(output)) = (sys::fds::inherited(0), sys::fds::inherited(1)) else {
        std::process::exit(111);
    };
    let mut agent = Local {
        home: root,
        aliasempty,
        mode,
    };
    std::process::exit(send::spawner::run(
        &mut agent,
        File::from(input),
        File::from(output),
    ));
}
