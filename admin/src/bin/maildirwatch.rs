//! maildirwatch: look for new mail in a Maildir (maildirwatch(1)).
use std::io::Write;
use std::path::PathBuf;

use admin::{Fatal, maildir, maildirwatch};

fn main() {
    const FATAL: &str = "maildirwatch: fatal: ";
    let Some(dir) = std::env::var_os("MAILDIR").map(PathBuf::from) else {
        Fatal::new(111, format!("{FATAL}MAILDIR not set")).exit()
    };
    if let Err(e) = std::fs::read_dir(&dir) {
        Fatal::new(
            111,
            format!(
                "{FATAL}unable to chdir to {}: {}",
                dir.display(),
                sys::describe(&e)
            ),
        )
        .exit()
    }
    loop {
        maildir::clean(&dir);
        let messages = match maildir::scan(&dir, false) {
            Ok(m) => m,
            Err((sub, e)) => Fatal::new(
                111,
                format!(
                    "{FATAL}unable to scan $MAILDIR/{sub}: {}",
                    sys::describe(&e)
                ),
            )
            .exit(),
        };
        let mut screen = maildirwatch::CLEAR.to_vec();
        for m in messages {
            let Ok(f) = std::fs::File::open(dir.join(&m.path)) else {
                continue;
            };
            match maildirwatch::entry(&mut std::io::BufReader::new(f)) {
                Ok(e) => screen.extend_from_slice(&e),
                Err(_) => Fatal::new(111, format!("{FATAL}trouble reading new message")).exit(),
            }
        }
        let mut out = std::io::stdout().lock();
        if out.write_all(&screen).and_then(|()| out.flush()).is_err() {
            std::process::exit(111);
        }
        drop(out);
        // The screen is redrawn on a timer, as in 1.03; this is the
        // program's behaviour, not synchronisation.
        std::thread::sleep(std::time::Duration::from_secs(30));
    }
}
