//! tcprulescheck: show which rule applies to a client (see tcprulescheck(1)).

fn main() {
    std::process::exit(tcprules::tcprulescheck_main(std::env::args_os()));
}
