//! datemail: sendmail with a local-time Date: line (datemail(8)); 1.03's
//! shell script `exec predate sendmail "$@"`, with both programs taken
//! from the qmail home's bin/.
use std::os::unix::process::CommandExt;

use dotqmail_tools::Outcome;

fn main() {
    let home = control::Home::from_env();
    let predate = home.bin("predate");
    let err = std::process::Command::new(&predate)
        .arg(home.bin("sendmail"))
        .args(dotqmail_tools::outcome::args())
        .exec();
    Outcome::say(
        111,
        format!(
            "datemail: fatal: unable to run {}: {}",
            predate.display(),
            sys::describe(&err)
        ),
    )
    .exit()
}
