//! predate (qmail 1.03's predate.8): run a program with a `Date:` line
//! in local time prepended to the message it reads, as
//! `Date: 3 Jan 2025 11:00:00 +0100`. datemail is predate wrapped around
//! sendmail.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use control::datetime::DateTime;

use crate::Outcome;

pub const USAGE: &str = "predate: usage: predate child";
const FATAL: &str = "predate: fatal: ";

/// The line predate writes for the moment `secs`, `offset` seconds east
/// of GMT; the offset is rounded to a minute as in 1.03.
pub fn date_line(secs: i64, offset: i64) -> String {
    let t = DateTime::from_unix(secs + offset);
    let minutes = (offset.abs() + 30) / 60;
    format!(
        "Date: {} {} {} {:02}:{:02}:{:02} {}{:02}{:02}\n",
        t.day,
        [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
        ][(t.month - 1) as usize],
        t.year,
        t.hour,
        t.min,
        t.sec,
        if offset < 0 { '-' } else { '+' },
        minutes / 60,
        minutes % 60
    )
}

/// Run `args[0]` with the date line and then `input` on its stdin; the
/// outcome is the child's exit code.
pub fn run(args: &[OsString], input: &mut dyn Read) -> Outcome {
    let Some((prog, rest)) = args.split_first() else {
        return Outcome::say(100, USAGE);
    };
    let mut child = match Command::new(prog).args(rest).stdin(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome::say(
                111,
                format!(
                    "{FATAL}unable to run {}: {}",
                    prog.to_string_lossy(),
                    sys::describe(&e)
                ),
            );
        }
    };
    let now = control::datetime::now_secs();
    if let Some(mut pipe) = child.stdin.take() {
        // As in 1.03, a child that stops reading early is not an error
        // of predate's: its exit code says what happened.
        let _ = pipe.write_all(date_line(now, crate::localtime::offset(now)).as_bytes());
        let _ = std::io::copy(input, &mut pipe);
    }
    match child.wait() {
        Ok(st) => match st.code() {
            Some(c) => Outcome::quiet(c),
            None => Outcome::say(111, format!("{FATAL}child crashed")),
        },
        Err(e) => Outcome::say(111, format!("{FATAL}wait failed: {}", sys::describe(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_any_zone() {
        // 2025-01-03 10:00:00 GMT.
        assert_eq!(
            date_line(1_735_898_400, 0),
            "Date: 3 Jan 2025 10:00:00 +0000\n"
        );
        assert_eq!(
            date_line(1_735_898_400, 3600),
            "Date: 3 Jan 2025 11:00:00 +0100\n"
        );
        assert_eq!(
            date_line(1_735_898_400, -(5 * 3600 + 1800)),
            "Date: 3 Jan 2025 04:30:00 -0530\n"
        );
        assert_eq!(
            date_line(1_735_898_400, -11 * 3600),
            "Date: 2 Jan 2025 23:00:00 -1100\n"
        );
    }
}
