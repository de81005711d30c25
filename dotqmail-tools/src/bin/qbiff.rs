//! qbiff: announce new mail on the user's terminals (qbiff(1)). Always
//! exits 0: a notice that cannot be shown never holds up a delivery.
use dotqmail_tools::outcome::env;
use dotqmail_tools::qbiff;

fn main() {
    let (Some(user), Some(sender), Some(local)) = (env("USER"), env("SENDER"), env("LOCAL")) else {
        std::process::exit(0);
    };
    if user.len() > 32 {
        std::process::exit(0);
    }
    let Ok(utmp) = std::fs::read(qbiff::UTMP) else {
        std::process::exit(0);
    };
    let ttys = qbiff::ttys(&utmp, &user);
    if ttys.is_empty() {
        std::process::exit(0);
    }
    let woof = qbiff::notice(&local, &sender, &mut std::io::stdin().lock());
    qbiff::tell(
        std::path::Path::new("/dev"),
        &ttys,
        nix::unistd::getuid().as_raw(),
        &woof,
    );
    std::process::exit(0)
}
