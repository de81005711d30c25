//! tcp-env: set the UCSPI variables for an inetd-started server, then run
//! it. See tcp-env(1); the work is in the library.

fn main() {
    std::process::exit(tcp_env::main(std::env::args_os().skip(1).collect()));
}
