//! qmail-qmqpd: receive mail via QMQP (qmail-qmqpd(8)).
fn main() {
    let home = control::Home::from_env();
    if std::env::set_current_dir(home.root()).is_err() {
        std::process::exit(111);
    }
    std::process::exit(qmtp::server::qmqpd(control::Home::new(".")))
}
