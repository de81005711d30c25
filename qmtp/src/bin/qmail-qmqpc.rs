//! qmail-qmqpc: queue a message on a QMQP server (qmail-qmqpc(8)).
fn main() {
    let home = control::Home::from_env();
    if !home.root().is_dir() {
        std::process::exit(61);
    }
    match home.list("qmqpservers") {
        Ok(Some(servers)) => std::process::exit(qmtp::client::run(&servers)),
        _ => std::process::exit(55),
    }
}
