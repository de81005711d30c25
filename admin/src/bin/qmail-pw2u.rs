//! qmail-pw2u: build users/assign from a passwd file (qmail-pw2u(8)).
use std::io::{Read, Write};

fn main() {
    let Some(opts) = admin::pw2u::parse_args(std::env::args_os().skip(1)) else {
        admin::Fatal::new(100, admin::pw2u::USAGE).exit()
    };
    let home = control::Home::from_env();
    if !home.root().is_dir() {
        admin::Fatal::new(111, "qmail-pw2u: fatal: unable to chdir").exit()
    }
    let mut input = Vec::new();
    if std::io::stdin().read_to_end(&mut input).is_err() {
        admin::Fatal::new(111, "qmail-pw2u: fatal: unable to read input").exit()
    }
    match admin::pw2u::convert(&opts, &home, &input) {
        Ok(out) => {
            let mut o = std::io::stdout().lock();
            if o.write_all(&out).and_then(|()| o.flush()).is_err() {
                admin::Fatal::new(111, "qmail-pw2u: fatal: unable to write output").exit()
            }
        }
        Err(f) => f.exit(),
    }
}
