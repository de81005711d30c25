//! except: reverse a program's exit code (except(1)).
fn main() {
    dotqmail_tools::helpers::except(&dotqmail_tools::outcome::args()).exit()
}
