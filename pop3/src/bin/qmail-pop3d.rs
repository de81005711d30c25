//! qmail-pop3d: one user's Maildir over POP3; see qmail-pop3d(8).

fn main() {
    std::process::exit(pop3::server::pop3d(std::env::args_os().collect()));
}
