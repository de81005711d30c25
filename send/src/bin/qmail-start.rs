//! qmail-start: `qmail-start [defaultdelivery [logger args...]]` starts
//! qmail-lspawn, qmail-rspawn, qmail-clean and the logger, then becomes
//! qmail-send.

fn main() {
    std::process::exit(send::start::run(std::env::args_os().skip(1).collect()));
}
