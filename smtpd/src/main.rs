//! qmail-smtpd: receive one SMTP session on fds 0 and 1. Arguments are
//! ignored, as qmail ignores them.

fn main() {
    std::process::exit(smtpd::server::run());
}
