//! forward: send the message to other addresses (forward(1)).
use dotqmail_tools::helpers::{Env, forward};

fn main() {
    let home = control::Home::from_env();
    let mut input = std::io::stdin().lock();
    forward(
        &home,
        &Env::from_process(),
        &dotqmail_tools::outcome::args(),
        &mut input,
    )
    .exit()
}
