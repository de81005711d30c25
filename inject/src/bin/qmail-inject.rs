//! qmail-inject: prepare a message and queue it.

use std::io::Write;
use std::os::unix::ffi::OsStringExt;

fn main() {
    let home = control::Home::from_env();
    let env = |name: &str| std::env::var_os(name).map(OsStringExt::into_vec);
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let result = inject::inject::run(
        &home,
        &env,
        std::env::args_os().skip(1),
        &mut stdin,
        &mut stdout,
    );
    let _ = stdout.flush();
    if let Err(f) = result {
        if !f.text.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"qmail-inject: fatal: ");
            let _ = err.write_all(&f.text);
            let _ = err.write_all(b"\n");
        }
        std::process::exit(f.code);
    }
}
