//! tcpserver: accept TCP connections and run a program for each.
//! See tcpserver(1); the work is in the library.

fn main() {
    std::process::exit(tcpserver::main(std::env::args_os().skip(1).collect()));
}
