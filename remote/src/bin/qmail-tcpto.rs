//! qmail-tcpto: list the hosts qmail-remote remembers as timing out.

#![forbid(unsafe_code)]

use std::io::Write;

fn main() {
    let home = control::Home::from_env();
    let path = home.queue().join("lock").join("tcpto");
    let mut out = std::io::stdout().lock();
    // qmail-tcpto reports its errors on standard output.
    match remote::tcpto::read_table(&path) {
        Ok(table) => {
            let _ = out.write_all(remote::tcpto::listing(&table, remote::tcpto::now()).as_bytes());
        }
        Err(e) => {
            let _ = writeln!(out, "fatal: unable to open tcpto: {}", sys::describe(&e));
            let _ = out.flush();
            std::process::exit(111);
        }
    }
}
