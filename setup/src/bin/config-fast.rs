//! config-fast: the control files for a host whose name is known.

use std::os::unix::ffi::OsStrExt;

fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [host] = args.as_slice() else {
        eprintln!("config-fast: usage: config-fast host.domain");
        std::process::exit(100);
    };
    let Ok(host) = std::str::from_utf8(host.as_bytes()) else {
        eprintln!("config-fast: fatal: the host name is not text");
        std::process::exit(100);
    };
    let home = control::Home::from_env();
    if let Err(e) = setup::config::config_fast(home.root(), host, &mut std::io::stdout()) {
        eprintln!("config-fast: fatal: {e}");
        std::process::exit(111);
    }
}
