//! qmail-popup: the POP3 greeting and login; see qmail-popup(8).

fn main() {
    std::process::exit(pop3::server::popup(std::env::args_os().collect()));
}
