//! recordio: log a program's input and output on fd 2. See recordio(1).
fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.is_empty() {
        std::process::exit(ucspi_tools::exec::usage(
            "recordio: usage: recordio program [ arg ... ]\n",
        ));
    }
    let mode = ucspi_tools::relay::Mode::Record;
    std::process::exit(ucspi_tools::relay::run("recordio", &args, mode));
}
