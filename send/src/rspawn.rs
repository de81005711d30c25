//! qmail-rspawn: remote deliveries (qmail-rspawn.c).
//!
//! For each recipient it runs `qmail-remote host sender recipient` (found
//! in `$PATH`, or `$QMAILREMOTE` as in notqmail), with the message on fd 0
//! and in `queue/mess`. qmail-remote prints NUL-terminated reports: one
//! per recipient (`r` accepted, `h` refused for good, `s` refused for now)
//! and then one for the message (`K`, `Z`, `D`); [`report`] turns them into
//! the single result qmail-send wants.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use control::status::Status;

use crate::spawner::{Agent, Exit, Running, Step};

/// The result for qmail-send from qmail-remote's exit and output
/// (qmail-rspawn.c `report`).
pub fn report(exit: Exit, s: &[u8]) -> Vec<u8> {
    match exit {
        Exit::Crashed => return b"Zqmail-remote crashed.\n".to_vec(),
        Exit::Code(0) => {}
        Exit::Code(111) => return b"ZUnable to run qmail-remote.\n".to_vec(),
        Exit::Code(_) => return b"DUnable to run qmail-remote.\n".to_vec(),
    }
    if s.is_empty() {
        return b"Zqmail-remote produced no output.\n".to_vec();
    }
    // The first message report (K, Z or D) decides, scanning records.
    let mut result = -1;
    let mut j = 0;
    for k in 0..s.len() {
        if s[k] == 0 {
            match Status::from_byte(s[j]) {
                Some(Status::K) => {
                    result = 1;
                    break;
                }
                Some(Status::Z) => {
                    result = 0;
                    break;
                }
                Some(Status::D) => break,
                None => {}
            }
            j = k + 1;
        }
    }
    // The recipient report overrides it.
    let orr = match s[0] {
        b's' => 0,
        b'h' => -1,
        _ => result,
    };
    let mut out = vec![
        match orr {
            1 => Status::K,
            0 => Status::Z,
            _ => Status::D,
        }
        .byte(),
    ];
    let cstr = |from: usize| {
        let t = &s[from.min(s.len())..];
        &t[..t.iter().position(|&b| b == 0).unwrap_or(t.len())]
    };
    if let Some(nul) = s[1..].iter().position(|&b| b == 0) {
        let k = nul + 2; // just past the first NUL
        out.extend_from_slice(cstr(1));
        if result <= orr && k < s.len() && Status::from_byte(s[k]).is_some() {
            out.extend_from_slice(cstr(k + 1));
        }
    }
    out
}

/// qmail-rspawn's agent.
#[derive(Debug)]
pub struct Remote {
    /// `$QMAILREMOTE` or `qmail-remote`.
    pub program: OsString,
    pub queue_uid: u32,
}

/// qmail-rspawn's start: forget every remembered connect timeout
/// (`tcpto_clean`: 1024 zero bytes over `lock/tcpto`, which must exist).
pub fn tcpto_clean(path: &std::path::Path) {
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
        let _ = f.write_all(&[0u8; 1024]);
    }
}

impl Agent for Remote {
    type Ctx = ();

    fn truncreport(&self) -> usize {
        0
    }

    fn queue_uid(&self) -> u32 {
        self.queue_uid
    }

    fn start(&mut self, msg: File, sender: &[u8], recip: &[u8], at: usize) -> Step<()> {
        let os = |b: &[u8]| std::ffi::OsStr::from_bytes(b).to_os_string();
        let pipe = io::pipe().and_then(|(r, w)| Ok((r, w.try_clone()?, w)));
        let Ok((r, w, w2)) = pipe else {
            return Step::Report(b"Zqmail-spawn unable to create pipe. (#4.3.0)\n".to_vec());
        };
        let spawned = Command::new(&self.program)
            .arg(os(&recip[at + 1..]))
            .arg(os(sender))
            .arg(os(recip))
            .stdin(msg)
            .stdout(w)
            .stderr(w2)
            .spawn();
        match spawned {
            Ok(child) => Step::Run(Running {
                child,
                out: r,
                ctx: (),
            }),
            Err(e) if sys::errstr::is_temporary(&e) => Step::Report(report(Exit::Code(111), b"")),
            Err(_) => Step::Report(report(Exit::Code(100), b"")),
        }
    }

    fn finished(&mut self, _: (), exit: Exit, output: &[u8]) -> Step<()> {
        Step::Report(report(exit, output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &[u8]) -> String {
        String::from_utf8(report(Exit::Code(0), s)).unwrap()
    }

    #[test]
    fn reports_combine_like_qmail_rspawn() {
        assert_eq!(
            r(b"r\0K192.0.2.25 accepted message.\nRemote host said: 250 ok\n\0"),
            "K192.0.2.25 accepted message.\nRemote host said: 250 ok\n"
        );
        assert_eq!(
            r(b"h192.0.2.25 does not like recipient.\nRemote host said: 550 no\n\0DGiving up on 192.0.2.25.\n\0"),
            "D192.0.2.25 does not like recipient.\nRemote host said: 550 no\nGiving up on 192.0.2.25.\n"
        );
        // A temporary recipient refusal: Z, with the message text too.
        assert_eq!(
            r(b"s192.0.2.25 does not like recipient.\n\0DGiving up on 192.0.2.25.\n\0"),
            "Z192.0.2.25 does not like recipient.\nGiving up on 192.0.2.25.\n"
        );
        // Failed before any RCPT: the message report is first.
        assert_eq!(
            r(b"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\0"),
            "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n"
        );
        // Accepted recipient but the message failed: the later text is added.
        assert_eq!(
            r(b"r\0Z192.0.2.25 failed on DATA command.\n\0"),
            "Z192.0.2.25 failed on DATA command.\n"
        );
        assert_eq!(r(b"garbage"), "D");
    }

    #[test]
    fn exits_and_silence() {
        assert_eq!(report(Exit::Crashed, b"x"), b"Zqmail-remote crashed.\n");
        assert_eq!(
            report(Exit::Code(111), b"x"),
            b"ZUnable to run qmail-remote.\n"
        );
        assert_eq!(
            report(Exit::Code(1), b"x"),
            b"DUnable to run qmail-remote.\n"
        );
        assert_eq!(
            report(Exit::Code(0), b""),
            b"Zqmail-remote produced no output.\n"
        );
    }
}
