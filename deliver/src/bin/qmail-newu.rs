//! qmail-newu: compile users/assign into users/cdb.

fn main() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o033));
    let home = control::Home::from_env();
    if let Err(e) = deliver::newu::run(home.root()) {
        eprintln!("{}", e.text());
        std::process::exit(111);
    }
}
