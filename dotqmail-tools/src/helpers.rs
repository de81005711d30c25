//! bouncesaying, except, condredirect and forward (qmail 1.03's man
//! pages of the same names): what each decides from the program it wraps
//! and the environment qmail-local sets.
//!
//! The wrapped program's exit is read the same way by the three wrappers:
//! 0 means "yes", 111 a temporary problem (the message stays queued), a
//! crash is temporary too, any other code means "no".

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;

use control::Home;
use control::qmail_queue::QueueClient;

use crate::Outcome;
use crate::child::{self, End};

pub const BOUNCESAYING_USAGE: &str =
    "bouncesaying: usage: bouncesaying error [ program [ arg ... ] ]";
pub const EXCEPT_USAGE: &str = "except: usage: except program [ arg ... ]";
pub const CONDREDIRECT_USAGE: &str =
    "condredirect: usage: condredirect newaddress program [ arg ... ]";
pub const FORWARD_USAGE: &str = "forward: usage: forward address [ address ... ]";

/// The common reading of the wrapped program: `Ok(true)` it exited 0,
/// `Ok(false)` it said no, `Err` the wrapper must stop with that outcome.
fn ask(fatal: &str, argv: &[OsString]) -> Result<bool, Outcome> {
    match child::run(argv) {
        End::Exit(0) => Ok(true),
        End::Exit(111) => Err(Outcome::say(111, format!("{fatal}temporary child error"))),
        End::Exit(_) => Ok(false),
        End::Crashed => Err(Outcome::say(111, format!("{fatal}child crashed"))),
        End::WaitFailed => Err(Outcome::say(111, format!("{fatal}wait failed"))),
    }
}

/// `bouncesaying error [program [arg ...]]`: bounce the message with
/// `error`; with a program, only when the program exits 0 (otherwise the
/// delivery goes on: exit 0).
pub fn bouncesaying(args: &[OsString]) -> Outcome {
    use std::os::unix::ffi::OsStrExt;
    let Some(error) = args.first() else {
        return Outcome::say(100, BOUNCESAYING_USAGE);
    };
    if args.len() > 1 {
        match ask("bouncesaying: fatal: ", &args[1..]) {
            Ok(true) => {}
            Ok(false) => return Outcome::quiet(0),
            Err(o) => return o,
        }
    }
    Outcome::say(100, error.as_bytes())
}

/// `except program [arg ...]`: run the program and turn its success into
/// a permanent failure (exit 100) and its failure into success (exit 0);
/// a temporary error stays temporary.
pub fn except(args: &[OsString]) -> Outcome {
    if args.is_empty() {
        return Outcome::say(100, EXCEPT_USAGE);
    }
    match ask("except: fatal: ", args) {
        Ok(true) => Outcome::quiet(100),
        Ok(false) => Outcome::quiet(0),
        Err(o) => o,
    }
}

/// Queue the message on fd 0, after `dtline`, from `sender` to
/// `recipients`; `Ok(qp)` is qmail-queue's pid.
fn requeue<R: AsRef<[u8]>>(
    fatal: &str,
    home: &Home,
    dtline: &[u8],
    sender: &[u8],
    recipients: &[R],
    message: &mut dyn Read,
) -> Result<u32, Outcome> {
    let mut qq = QueueClient::open(home)
        .map_err(|e| Outcome::say(111, format!("{fatal}unable to fork: {}", sys::describe(&e))))?;
    qq.put(dtline);
    let mut buf = vec![0u8; 65536];
    loop {
        match message.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => qq.put(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                qq.fail();
                return Err(Outcome::say(
                    111,
                    format!("{fatal}unable to read message: {}", sys::describe(&e)),
                ));
            }
        }
    }
    let qp = qq.pid();
    match qq.close(sender, recipients) {
        Ok(()) => Ok(qp),
        Err(e) => Err(Outcome::say(
            if e.permanent { 100 } else { 111 },
            format!("{fatal}{}", e.text),
        )),
    }
}

/// The environment the forwarding helpers read.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub sender: Option<Vec<u8>>,
    pub newsender: Option<Vec<u8>>,
    pub dtline: Option<Vec<u8>>,
}

impl Env {
    pub fn from_process() -> Env {
        Env {
            sender: crate::outcome::env("SENDER"),
            newsender: crate::outcome::env("NEWSENDER"),
            dtline: crate::outcome::env("DTLINE"),
        }
    }
}

/// `condredirect newaddress program [arg ...]`: when the program exits 0,
/// send the message to `newaddress` instead (envelope sender `SENDER`, as
/// in 1.03) and exit 99 so qmail-local ignores the rest of the .qmail
/// file; otherwise exit 0 and let delivery go on.
pub fn condredirect(home: &Home, env: &Env, args: &[OsString]) -> Outcome {
    use std::os::unix::ffi::OsStrExt;
    const FATAL: &str = "condredirect: fatal: ";
    if args.len() < 2 {
        return Outcome::say(100, CONDREDIRECT_USAGE);
    }
    match ask(FATAL, &args[1..]) {
        Ok(true) => {}
        Ok(false) => return Outcome::quiet(0),
        Err(o) => return o,
    }
    // The program read the message: start again from its beginning, on a
    // duplicate of fd 0 (same offset) so no unsafe fd juggling is needed.
    let mut message = match std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|mut f| f.seek(SeekFrom::Start(0)).map(|_| f))
    {
        Ok(f) => f,
        Err(e) => {
            return Outcome::say(
                111,
                format!("{FATAL}unable to rewind: {}", sys::describe(&e)),
            );
        }
    };
    let Some(sender) = &env.sender else {
        return Outcome::say(100, format!("{FATAL}SENDER not set"));
    };
    let Some(dtline) = &env.dtline else {
        return Outcome::say(100, format!("{FATAL}DTLINE not set"));
    };
    match requeue(
        FATAL,
        home,
        dtline,
        sender,
        &[args[0].as_bytes()],
        &mut message,
    ) {
        Ok(qp) => Outcome::say(99, format!("condredirect: qp {qp}")),
        Err(o) => o,
    }
}

/// `forward address ...`: send the message on fd 0 to the addresses,
/// with qmail-local's `DTLINE` in front and `NEWSENDER` as the envelope
/// sender.
pub fn forward(home: &Home, env: &Env, args: &[OsString], message: &mut dyn Read) -> Outcome {
    use std::os::unix::ffi::OsStrExt;
    const FATAL: &str = "forward: fatal: ";
    if args.is_empty() {
        return Outcome::say(100, FORWARD_USAGE);
    }
    let Some(sender) = &env.newsender else {
        return Outcome::say(100, format!("{FATAL}NEWSENDER not set"));
    };
    let Some(dtline) = &env.dtline else {
        return Outcome::say(100, format!("{FATAL}DTLINE not set"));
    };
    let to: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    match requeue(FATAL, home, dtline, sender, &to, message) {
        Ok(qp) => Outcome::say(0, format!("forward: qp {qp}")),
        Err(o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn bouncesaying_reads_the_program_as_1_03() {
        assert_eq!(bouncesaying(&[]), Outcome::say(100, BOUNCESAYING_USAGE));
        assert_eq!(bouncesaying(&os(&["closed"])), Outcome::say(100, "closed"));
        assert_eq!(
            bouncesaying(&os(&["closed", "true"])),
            Outcome::say(100, "closed")
        );
        assert_eq!(bouncesaying(&os(&["closed", "false"])), Outcome::quiet(0));
        assert_eq!(
            bouncesaying(&os(&["closed", "sh", "-c", "exit 111"])),
            Outcome::say(111, "bouncesaying: fatal: temporary child error")
        );
        assert_eq!(
            bouncesaying(&os(&["closed", "sh", "-c", "kill -9 $$"])),
            Outcome::say(111, "bouncesaying: fatal: child crashed")
        );
    }

    #[test]
    fn except_inverts() {
        assert_eq!(except(&[]), Outcome::say(100, EXCEPT_USAGE));
        assert_eq!(except(&os(&["true"])), Outcome::quiet(100));
        assert_eq!(except(&os(&["false"])), Outcome::quiet(0));
        assert_eq!(except(&os(&["sh", "-c", "exit 100"])), Outcome::quiet(0));
        assert_eq!(except(&os(&["sh", "-c", "exit 111"])).code, 111);
    }

    #[test]
    fn forward_needs_its_environment() {
        let home = Home::new("/nonexistent");
        let mut empty: &[u8] = b"";
        let env = Env::default();
        assert_eq!(
            forward(&home, &env, &[], &mut empty),
            Outcome::say(100, FORWARD_USAGE)
        );
        assert_eq!(
            forward(&home, &env, &os(&["a@b"]), &mut empty),
            Outcome::say(100, "forward: fatal: NEWSENDER not set")
        );
        let env = Env {
            newsender: Some(b"s@x".to_vec()),
            ..Env::default()
        };
        assert_eq!(
            forward(&home, &env, &os(&["a@b"]), &mut empty),
            Outcome::say(100, "forward: fatal: DTLINE not set")
        );
    }
}
