//! condredirect: redirect the message when a program says so
//! (condredirect(1)).
use dotqmail_tools::helpers::{Env, condredirect};

fn main() {
    let home = control::Home::from_env();
    condredirect(
        &home,
        &Env::from_process(),
        &dotqmail_tools::outcome::args(),
    )
    .exit()
}
