//! qmail-getpw: print the user, uid, gid, home, dash and extension that
//! receive mail for a local part.

use std::io::Write;

use deliver::getpw::{self, HomeDirs, Passwd, Users};

fn main() {
    let Some(local) = std::env::args_os().nth(1) else {
        std::process::exit(100);
    };
    let home = control::Home::from_env();
    let users: Box<dyn Users> = if getpw::one_folder_mode() {
        Box::new(HomeDirs {
            root: home.root().to_path_buf(),
        })
    } else {
        Box::new(Passwd)
    };
    use std::os::unix::ffi::OsStrExt;
    match getpw::assign(local.as_bytes(), users.as_ref()) {
        Ok(a) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(&a.to_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                std::process::exit(control::qlx::SYS);
            }
        }
        Err(code) => std::process::exit(code),
    }
}
