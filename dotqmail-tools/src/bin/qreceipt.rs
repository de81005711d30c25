//! qreceipt: answer requests for delivery notices (qreceipt(1)).
use std::os::unix::ffi::OsStrExt;

fn main() {
    let args = dotqmail_tools::outcome::args();
    let home = control::Home::from_env();
    let sender = dotqmail_tools::outcome::env("SENDER");
    let mut input = std::io::stdin().lock();
    dotqmail_tools::qreceipt::run(
        &home,
        args.first().map(|a| a.as_bytes()),
        sender.as_deref(),
        &mut input,
    )
    .exit()
}
