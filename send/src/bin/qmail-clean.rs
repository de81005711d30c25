//! qmail-clean: removes queue files on qmail-send's request.

use std::path::Path;

fn main() {
    let home = control::Home::from_env();
    if std::env::set_current_dir(home.queue()).is_err() {
        std::process::exit(111);
    }
    let code = send::clean::run(
        Path::new(""),
        std::io::stdin().lock(),
        std::io::stdout().lock(),
    );
    std::process::exit(code);
}
