//! predate: run a program with a local-time Date: line prepended to its
//! input (predate(8)).
fn main() {
    let mut input = std::io::stdin().lock();
    dotqmail_tools::predate::run(&dotqmail_tools::outcome::args(), &mut input).exit()
}
