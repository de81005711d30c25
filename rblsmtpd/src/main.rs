//! rblsmtpd: block mail from listed clients. See rblsmtpd(1); the work is
//! in the library.

fn main() {
    std::process::exit(rblsmtpd::main(std::env::args_os().skip(1).collect()));
}
