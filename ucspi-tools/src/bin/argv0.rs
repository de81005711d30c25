//! argv0: run a program under another 0th argument. See argv0(1).
fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if args.len() < 2 {
        std::process::exit(ucspi_tools::exec::usage(
            "argv0: usage: argv0 realname program [ arg ... ]\n",
        ));
    }
    let mut argv = vec![args[0].clone()];
    argv.extend_from_slice(&args[2..]);
    std::process::exit(ucspi_tools::exec::run("argv0", &argv, Some(&args[1])));
}
