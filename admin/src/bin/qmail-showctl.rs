//! qmail-showctl: analyze the qmail configuration (qmail-showctl(8)).
use std::io::Write;

fn main() {
    let home = control::Home::from_env();
    let (out, code) = admin::showctl::report(&home, &admin::showctl::Ids::lookup());
    let mut o = std::io::stdout().lock();
    if o.write_all(&out).and_then(|()| o.flush()).is_err() {
        std::process::exit(111);
    }
    std::process::exit(code)
}
