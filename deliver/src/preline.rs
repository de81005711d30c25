//! preline: feed a program the message with the mbox `From ` line,
//! Return-Path and Delivered-To in front (preline.1), so that programs
//! that expect an mbox-style message (procmail) work from a `.qmail`
//! file: `|preline procmail`.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use sys::describe;
use sys::getopt::{Getopt, Opt};

/// The usage line, printed with exit 100.
pub const USAGE: &str = "preline: usage: preline cmd [ arg ... ]";

/// Which lines to add, and the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub ufline: bool,
    pub rpline: bool,
    pub dtline: bool,
    pub command: Vec<Vec<u8>>,
}

/// Parse the arguments after the program name; `None` means usage.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Option<Args> {
    let mut a = Args {
        ufline: true,
        rpline: true,
        dtline: true,
        command: Vec::new(),
    };
    let mut g = Getopt::new(args, "frdFRD");
    for opt in g.by_ref() {
        match opt {
            Opt::Found(b'f', _) => a.ufline = false,
            Opt::Found(b'r', _) => a.rpline = false,
            Opt::Found(b'd', _) => a.dtline = false,
            Opt::Found(b'F', _) => a.ufline = true,
            Opt::Found(b'R', _) => a.rpline = true,
            Opt::Found(b'D', _) => a.dtline = true,
            _ => return None,
        }
    }
    a.command = g.operands();
    if a.command.is_empty() {
        return None;
    }
    Some(a)
}

/// A failure: exit code and message.
#[derive(Debug)]
pub struct Fatal {
    pub code: i32,
    pub text: String,
}

fn fatal(code: i32, what: &str, e: &io::Error) -> Fatal {
    Fatal {
        code,
        text: format!("preline: fatal: {what}{}", describe(e)),
    }
}

/// Run the command with the lines and then `input` on its stdin; return
/// its exit code. `lines` are UFLINE, RPLINE and DTLINE as qmail-local set
/// them.
pub fn run(args: &Args, lines: [&[u8]; 3], input: &mut dyn Read) -> Result<i32, Fatal> {
    let mut child = Command::new(OsStr::from_bytes(&args.command[0]))
        .args(args.command[1..].iter().map(|a| OsStr::from_bytes(a)))
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let code = if sys::is_temporary(&e) { 111 } else { 100 };
            let what = format!(
                "unable to run {}: ",
                String::from_utf8_lossy(&args.command[0])
            );
            fatal(code, &what, &e)
        })?;
    let mut pipe = io::BufWriter::with_capacity(65536, child.stdin.take().expect("piped stdin"));
    let wanted = [args.ufline, args.rpline, args.dtline];
    let copy = (|| {
        for (line, want) in lines.iter().zip(wanted) {
            if want {
                pipe.write_all(line)?;
            }
        }
        io::copy(input, &mut pipe)?;
        pipe.flush()
    })();
    drop(pipe);
    if let Err(e) = copy {
        // As preline does: the program is left to finish on its own.
        let _ = child.wait();
        return Err(fatal(111, "unable to copy input: ", &e));
    }
    let status = child.wait().map_err(|e| fatal(111, "wait failed: ", &e))?;
    match status.code() {
        Some(c) => Ok(c),
        None => Err(Fatal {
            code: 111,
            text: "preline: fatal: child crashed".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_toggle_lines() {
        let a = parse_args(["-fr", "-F", "procmail", "-d"].map(OsString::from)).unwrap();
        assert!(a.ufline && !a.rpline && a.dtline);
        assert_eq!(a.command, vec![b"procmail".to_vec(), b"-d".to_vec()]);
        assert!(parse_args(["-f"].map(OsString::from)).is_none());
        assert!(parse_args(["-x", "cat"].map(OsString::from)).is_none());
    }

    #[test]
    fn the_program_gets_the_lines_then_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let cmd = format!("cat > {}; exit 7", out.display());
        let a = parse_args(["-r", "sh", "-c", &cmd].map(OsString::from)).unwrap();
        let code = run(&a, [b"From x\n", b"RP\n", b"DT\n"], &mut &b"body\n"[..]).unwrap();
        assert_eq!(code, 7);
        assert_eq!(std::fs::read(&out).unwrap(), b"From x\nDT\nbody\n");
        let a = parse_args(["/nonexistent/prog"].map(OsString::from)).unwrap();
        let e = run(&a, [b"", b"", b""], &mut &b""[..]).unwrap_err();
        assert_eq!(e.code, 100);
        assert_eq!(
            e.text,
            "preline: fatal: unable to run /nonexistent/prog: file does not exist"
        );
    }
}
