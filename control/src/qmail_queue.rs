//! Queueing a message through qmail-queue (qmail's `qmail.c`), shared by
//! every program that queues mail: qmail-inject, sendmail, qmail-local's
//! forwards, qmail-smtpd, qmail-send's bounces.
//!
//! The protocol: run `$QMAILQUEUE` (or `bin/qmail-queue`) in the qmail home
//! with the message on its fd 0 and the envelope on its fd 1, both pipes it
//! reads. Write the whole message, close it, then write the envelope
//! `F<sender>\0T<rcpt>\0...\0` and close that. Its exit code says what
//! happened; [`exit_text`] turns it into qmail's status text, whose first
//! byte is `D` (permanent) or `Z` (temporary).

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::Home;

/// The exit codes qmail-queue itself uses (qmail-queue.8), defined once
/// for both sides of the process boundary: qmail-queue exits with
/// [`code`](Self::code), the programs that run it report
/// [`text`](Self::text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QqExit {
    /// 11: an envelope address of 1003 bytes or more.
    AddressTooLong,
    /// 13: more recipients than qmail-queue takes in one message (ours).
    TooManyRecipients,
    /// 14: an envelope larger than qmail-queue takes (ours).
    EnvelopeTooBig,
    /// 51: out of memory.
    NoMem,
    /// 52: the 24-hour limit passed.
    Timeout,
    /// 53: trouble writing or syncing (a full disk).
    Write,
    /// 54: trouble reading the message or the envelope.
    Read,
    /// 61: trouble with the qmail home.
    Home,
    /// 62: trouble with the queue directory.
    Queue,
    /// 63: trouble with `queue/pid`.
    Pid,
    /// 64: trouble with `queue/mess`.
    Mess,
    /// 65: trouble with `queue/intd`.
    Intd,
    /// 66: trouble with `queue/todo`.
    Todo,
    /// 81: internal bug (a crash signal).
    Bug,
    /// 91: the envelope is not `F...\0(T...\0)*\0`, or an address in it
    /// holds a CR or LF.
    Envelope,
}

impl QqExit {
    /// Every code qmail-queue exits with, for tests and tables.
    pub const ALL: [QqExit; 15] = [
        QqExit::AddressTooLong,
        QqExit::TooManyRecipients,
        QqExit::EnvelopeTooBig,
        QqExit::NoMem,
        QqExit::Timeout,
        QqExit::Write,
        QqExit::Read,
        QqExit::Home,
        QqExit::Queue,
        QqExit::Pid,
        QqExit::Mess,
        QqExit::Intd,
        QqExit::Todo,
        QqExit::Bug,
        QqExit::Envelope,
    ];

    /// The exit code.
    pub const fn code(self) -> i32 {
        match self {
            QqExit::AddressTooLong => 11,
            QqExit::TooManyRecipients => 13,
            QqExit::EnvelopeTooBig => 14,
            QqExit::NoMem => 51,
            QqExit::Timeout => 52,
            QqExit::Write => 53,
            QqExit::Read => 54,
            QqExit::Home => 61,
            QqExit::Queue => 62,
            QqExit::Pid => 63,
            QqExit::Mess => 64,
            QqExit::Intd => 65,
            QqExit::Todo => 66,
            QqExit::Bug => 81,
            QqExit::Envelope => 91,
        }
    }

    /// qmail's status text for it (`qmail_close`): `D` (permanent) or
    /// `Z` (temporary), then the text.
    pub const fn text(self) -> &'static str {
        match self {
            QqExit::AddressTooLong => "Denvelope address too long for qq (#5.1.3)",
            QqExit::TooManyRecipients => "Dtoo many recipients for qq (#5.5.3)",
            QqExit::EnvelopeTooBig => "Denvelope too large for qq (#5.3.4)",
            QqExit::NoMem => "Zqq out of memory (#4.3.0)",
            QqExit::Timeout => "Zqq timeout (#4.3.0)",
            QqExit::Write => "Zqq write error or disk full (#4.3.0)",
            QqExit::Read => "Zqq read error (#4.3.0)",
            QqExit::Home => "Zqq trouble in home directory (#4.3.0)",
            QqExit::Queue | QqExit::Pid | QqExit::Mess | QqExit::Intd | QqExit::Todo => {
                "Zqq trouble creating files in queue (#4.3.0)"
            }
            QqExit::Bug | QqExit::Envelope => "Zqq internal bug (#4.3.0)",
        }
    }

    /// The variant for an exit code, if qmail-queue uses it.
    pub fn from_code(code: i32) -> Option<QqExit> {
        QqExit::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// qmail's status text for qmail-queue's exit code (qmail-queue.8 and
/// `qmail_close`): `""` for 0, else `D...` or `Z...`. Besides
/// qmail-queue's own codes ([`QqExit`]) this knows the ones that
/// replacements named by `QMAILQUEUE` use.
pub fn exit_text(code: i32) -> &'static str {
    if let Some(e) = QqExit::from_code(code) {
        return e.text();
    }
    match code {
        0 => "",
        115 => QqExit::AddressTooLong.text(),
        31 => "Dmail server permanently rejected message (#5.3.0)",
        55 => "Zqq unable to read configuration (#4.3.0)",
        56 => "Zqq trouble making network connection (#4.3.0)",
        71 => "Zmail server temporarily rejected message (#4.3.0)",
        72 => "Zconnection to mail server timed out (#4.4.1)",
        73 => "Zconnection to mail server rejected (#4.4.1)",
        74 => "Zcommunication with mail server failed (#4.4.2)",
        120 => "Zunable to exec qq (#4.3.0)",
        11..=40 => "Dqq permanent problem (#5.3.0)",
        _ => "Zqq temporary problem (#4.3.0)",
    }
}

/// Why a message was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueError {
    /// `D`: do not try again. Otherwise `Z`: try again later.
    pub permanent: bool,
    /// The text after the `D`/`Z`, e.g. `qq write error or disk full (#4.3.0)`.
    pub text: String,
}

impl QueueError {
    fn from_status(status: &str) -> QueueError {
        QueueError {
            permanent: status.starts_with('D'),
            text: status[1..].to_string(),
        }
    }

    /// The status as qmail prints it: `D` or `Z`, then the text.
    pub fn status(&self) -> String {
        format!("{}{}", if self.permanent { 'D' } else { 'Z' }, self.text)
    }
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for QueueError {}

/// The envelope qmail-queue reads on fd 1: `F<sender>\0`, then
/// `T<recipient>\0` for each recipient, then a final `\0`.
pub fn envelope<R: AsRef<[u8]>>(sender: &[u8], recipients: &[R]) -> Vec<u8> {
    let mut env = Vec::with_capacity(
        sender.len()
            + 3
            + recipients
                .iter()
                .map(|r| r.as_ref().len() + 2)
                .sum::<usize>(),
    );
    env.push(b'F');
    env.extend_from_slice(sender);
    env.push(0);
    for r in recipients {
        env.push(b'T');
        env.extend_from_slice(r.as_ref());
        env.push(0);
    }
    env.push(0);
    env
}

/// The program that queues: `$QMAILQUEUE` if set and not empty, else
/// `bin/qmail-queue`; a relative path is taken in the qmail home, where
/// qmail runs it.
pub fn program(home: &Home) -> PathBuf {
    let name = match std::env::var_os("QMAILQUEUE") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("bin/qmail-queue"),
    };
    home.root().join(name)
}

/// A running qmail-queue being fed one message.
pub struct QueueClient {
    child: Option<Child>,
    message: Option<BufWriter<ChildStdin>>,
    envelope: Option<io::PipeWriter>,
    /// A write to qmail-queue failed (it died, or the caller gave up).
    failed: bool,
}

impl QueueClient {
    /// Start qmail-queue in `home`. A program that cannot be run is not
    /// an error here: as in qmail (exit 120 from the child), it shows at
    /// [`close`](Self::close) as `unable to exec qq`.
    pub fn open(home: &Home) -> io::Result<QueueClient> {
        let (env_read, env_write) = io::pipe()?;
        let spawned = Command::new(program(home))
            .current_dir(home.root())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(env_read))
            .spawn();
        Ok(match spawned {
            Ok(mut child) => QueueClient {
                message: child
                    .stdin
                    .take()
                    .map(|s| BufWriter::with_capacity(65536, s)),
                child: Some(child),
                envelope: Some(env_write),
                failed: false,
            },
            Err(_) => QueueClient {
                child: None,
                message: None,
                envelope: None,
                failed: false,
            },
        })
    }

    /// qmail-queue's pid (the `qp` qmail reports), 0 if it did not start.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Append to the message. Errors are remembered, not returned: the
    /// outcome is decided at [`close`](Self::close), as in qmail.
    pub fn put(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        if let Some(m) = self.message.as_mut()
            && m.write_all(bytes).is_err()
        {
            self.failed = true;
        }
    }

    /// The message could not be read completely: make sure it is not
    /// queued (qmail's `qmail_fail`).
    pub fn fail(&mut self) {
        self.failed = true;
    }

    /// Finish the message, send the envelope and wait for qmail-queue.
    /// `Ok(())` means the message is queued.
    pub fn close<R: AsRef<[u8]>>(
        mut self,
        sender: &[u8],
        recipients: &[R],
    ) -> Result<(), QueueError> {
        let Some(mut child) = self.child.take() else {
            return Err(QueueError::from_status(exit_text(120)));
        };
        if let Some(mut m) = self.message.take() {
            if m.flush().is_err() {
                self.failed = true;
            }
            drop(m);
        }
        // The envelope cannot carry a NUL inside an address (it would
        // end the record and start a forged one), and a CR or LF would
        // reach qmail-remote's command line. Every client refuses these
        // itself; this is the last place to stop one that does not.
        let unsendable = std::iter::once(sender)
            .chain(recipients.iter().map(AsRef::as_ref))
            .any(|a| a.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')));
        if unsendable {
            self.failed = true;
        }
        if let Some(mut e) = self.envelope.take() {
            // After a failure the envelope is withheld, so qmail-queue
            // sees a broken envelope and refuses the message.
            if !self.failed && e.write_all(&envelope(sender, recipients)).is_err() {
                self.failed = true;
            }
            drop(e);
        }
        let status = match child.wait() {
            Ok(s) => s,
            Err(_) => return Err(QueueError::from_status("Zqq waitpid surprise (#4.3.0)")),
        };
        if unsendable {
            return Err(QueueError::from_status(
                "Denvelope address holds a CR, LF or NUL (#5.1.3)",
            ));
        }
        match status.code() {
            None => Err(QueueError::from_status("Zqq crashed (#4.3.0)")),
            Some(0) if self.failed => Err(QueueError::from_status("Zqq read error (#4.3.0)")),
            Some(0) => Ok(()),
            Some(code) => Err(QueueError::from_status(exit_text(code))),
        }
    }
}

impl Drop for QueueClient {
    fn drop(&mut self) {
        // Dropped without close: withhold the envelope so nothing is
        // queued, and reap the child.
        self.message.take();
        self.envelope.take();
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

/// Copying a message in: the one loop of qmail-local's forwards and
/// qmail-send's bounces.
impl QueueClient {
    /// Append everything `r` holds, 64 KB at a time. A read error fails
    /// the message (qmail's `qmail_fail`), so that a half copy is never
    /// queued; as with [`put`](Self::put), the outcome shows at
    /// [`close`](Self::close).
    pub fn copy_from(&mut self, r: &mut impl io::Read) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => self.put(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_format() {
        assert_eq!(
            envelope(
                b"alice@example.org",
                &["bob@example.net", "carol@example.net"]
            ),
            b"Falice@example.org\0Tbob@example.net\0Tcarol@example.net\0\0"
        );
        assert_eq!(envelope::<&[u8]>(b"", &[]), b"F\0\0");
    }

    #[test]
    fn exit_codes_map_as_in_qmail() {
        assert_eq!(exit_text(0), "");
        assert!(exit_text(11).starts_with("Denvelope address too long"));
        assert_eq!(exit_text(20), "Dqq permanent problem (#5.3.0)");
        assert_eq!(exit_text(75), "Zqq temporary problem (#4.3.0)");
        assert_eq!(exit_text(53), "Zqq write error or disk full (#4.3.0)");
        assert_eq!(
            exit_text(64),
            "Zqq trouble creating files in queue (#4.3.0)"
        );
        assert_eq!(exit_text(91), "Zqq internal bug (#4.3.0)");
        assert_eq!(exit_text(120), "Zunable to exec qq (#4.3.0)");
        assert_eq!(exit_text(115), exit_text(11));
        // 12 and 40 stay qmail's generic permanent problem.
        assert_eq!(exit_text(12), "Dqq permanent problem (#5.3.0)");
        assert_eq!(exit_text(40), "Dqq permanent problem (#5.3.0)");
        assert_eq!(exit_text(13), "Dtoo many recipients for qq (#5.5.3)");
        assert_eq!(exit_text(14), "Denvelope too large for qq (#5.3.4)");
    }

    #[test]
    fn qmail_queues_own_codes_are_defined_once() {
        for e in QqExit::ALL {
            assert_eq!(QqExit::from_code(e.code()), Some(e));
            assert_eq!(exit_text(e.code()), e.text());
            // qmail's rule on the client side: 11 to 40 permanent.
            let permanent = (11..=40).contains(&e.code());
            assert_eq!(e.text().starts_with('D'), permanent, "{e:?}");
        }
        assert_eq!(QqExit::from_code(0), None);
    }

    fn script(dir: &std::path::Path, body: &str) -> Home {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let p = dir.join("bin/qmail-queue");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        Home::new(dir)
    }

    #[test]
    fn message_and_envelope_reach_the_queue_program() {
        let dir = tempfile::tempdir().unwrap();
        let home = script(dir.path(), "cat > mess; cat <&1 > env; exit 0");
        let mut q = QueueClient::open(&home).unwrap();
        assert!(q.pid() > 0);
        q.put(b"Subject: hi\n\nbody\n");
        q.close(b"a@b", &[b"c@d"]).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("mess")).unwrap(),
            b"Subject: hi\n\nbody\n"
        );
        assert_eq!(
            std::fs::read(dir.path().join("env")).unwrap(),
            b"Fa@b\0Tc@d\0\0"
        );
    }

    #[test]
    fn exit_codes_and_missing_programs_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let home = script(dir.path(), "cat > /dev/null; exit 53");
        let q = QueueClient::open(&home).unwrap();
        let e = q.close(b"", &[b"x@y"]).unwrap_err();
        assert!(!e.permanent);
        assert_eq!(e.status(), "Zqq write error or disk full (#4.3.0)");

        let empty = tempfile::tempdir().unwrap();
        let q = QueueClient::open(&Home::new(empty.path())).unwrap();
        assert_eq!(q.pid(), 0);
        let e = q.close(b"", &[b"x@y"]).unwrap_err();
        assert_eq!(e.status(), "Zunable to exec qq (#4.3.0)");
    }

    #[test]
    fn an_address_with_nul_cr_or_lf_never_reaches_the_envelope() {
        for (sender, rcpt) in [
            (&b"a\0Tvictim@x"[..], &b"c@d"[..]),
            (b"a@b", b"c\r@d"),
            (b"a@b", b"c@d\nRSET"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let home = script(dir.path(), "cat > /dev/null; cat <&1 > env; exit 0");
            let q = QueueClient::open(&home).unwrap();
            let e = q.close(sender, &[rcpt]).unwrap_err();
            assert!(e.permanent);
            assert_eq!(e.text, "envelope address holds a CR, LF or NUL (#5.1.3)");
            assert_eq!(std::fs::read(dir.path().join("env")).unwrap(), b"");
        }
    }

    /// Reads `good`, then fails.
    struct Breaks(&'static [u8]);

    impl io::Read for Breaks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_copied_message_is_queued_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let home = script(dir.path(), "cat > mess; cat <&1 > env; exit 0");
        let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut q = QueueClient::open(&home).unwrap();
        q.put(b"Delivered-To: x\n");
        q.copy_from(&mut &big[..]);
        q.close(b"a@b", &[b"c@d"]).unwrap();
        let mess = std::fs::read(dir.path().join("mess")).unwrap();
        assert_eq!(&mess[..16], b"Delivered-To: x\n");
        assert_eq!(&mess[16..], &big[..]);

        // A read error in the middle: the envelope is withheld.
        let q2 = {
            let mut q = QueueClient::open(&home).unwrap();
            q.copy_from(&mut Breaks(b"Subject: half\n"));
            q
        };
        assert_eq!(
            q2.close(b"a@b", &[b"c@d"]).unwrap_err().status(),
            "Zqq read error (#4.3.0)"
        );
    }
}
