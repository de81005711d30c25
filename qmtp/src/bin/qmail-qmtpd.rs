//! qmail-qmtpd: receive mail via QMTP (qmail-qmtpd(8)).
fn main() {
    let home = control::Home::from_env();
    if std::env::set_current_dir(home.root()).is_err() {
        std::process::exit(111);
    }
    let home = control::Home::new(".");
    match qmtp::server::Qmtpd::load(home) {
        Ok(cfg) => std::process::exit(qmtp::server::qmtpd(cfg)),
        Err(_) => std::process::exit(111),
    }
}
