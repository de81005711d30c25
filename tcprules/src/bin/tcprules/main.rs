//! tcprules: compile rules text into a cdb (see tcprules(1)).

fn main() {
    std::process::exit(tcprules::tcprules_main(std::env::args_os()));
}
