//! tcpclient: connect and run a program on fds 6 and 7. See tcpclient(1);
//! the work is in the library.

fn main() {
    std::process::exit(tcpclient::main(std::env::args_os().skip(1).collect()));
}
