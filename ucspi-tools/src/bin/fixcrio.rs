//! fixcrio: add missing CRs to a program's input and output. See fixcrio(1).
fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.is_empty() {
        std::process::exit(ucspi_tools::exec::usage(
            "fixcrio: usage: fixcrio program [ arg ... ]\n",
        ));
    }
    let mode = ucspi_tools::relay::Mode::FixCr;
    std::process::exit(ucspi_tools::relay::run("fixcrio", &args, mode));
}
