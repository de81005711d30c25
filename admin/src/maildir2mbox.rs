//! maildir2mbox (maildir2mbox.1): move the messages of `$MAILDIR` into
//! the mbox `$MAIL`, by way of the temporary file `$MAILTMP`.
//!
//! The mbox is locked (flock, as qmail-local locks it) for the whole
//! run; its old contents and then each message, in mbox form (a `From `
//! line from the Return-Path and the message's mtime, `>` before lines
//! matching `^>*From `, an empty line after), are written to `$MAILTMP`,
//! which is fsynced and renamed over `$MAIL`. Only then are the
//! messages removed from the Maildir: a crash leaves a message in both
//! places, never in neither.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::Fatal;
use crate::maildir;

const FATAL: &str = "maildir2mbox: fatal: ";

fn sys(what: String, e: &io::Error) -> Fatal {
    Fatal::new(111, format!("{FATAL}{what}: {}", sys::describe(e)))
}

/// The mbox `From ` line of a message whose first line is `first`
/// (newline included when there is one).
pub fn from_line(first: &[u8], mtime: i64) -> Vec<u8> {
    let mut uf = b"From XXX ".to_vec();
    if first.ends_with(b"\n")
        && let Some(rest) = first.strip_prefix(b"Return-Path: <")
    {
        if rest.first() == Some(&b'>') {
            uf = b"From MAILER-DAEMON ".to_vec();
        } else {
            // 1.03 keeps everything up to the last two bytes (">\n"),
            // with blanks turned into dashes.
            uf = b"From ".to_vec();
            let body = &rest[..rest.len().saturating_sub(2)];
            uf.extend(
                body.iter()
                    .map(|&b| if b == b' ' || b == b'\t' { b'-' } else { b }),
            );
            uf.push(b' ');
        }
    }
    uf.extend_from_slice(
        control::datetime::ctime(&control::datetime::DateTime::from_unix(mtime)).as_bytes(),
    );
    uf.push(b'\n');
    uf
}

/// A line that mbox readers would take for a message separator.
fn gfrom(line: &[u8]) -> bool {
    let i = line.iter().take_while(|&&b| b == b'>').count();
    line[i..].starts_with(b"From ")
}

/// Append one message in mbox form.
pub fn copy_message(r: &mut dyn BufRead, mtime: i64, out: &mut dyn Write) -> Result<(), io::Error> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    out.write_all(&from_line(&line, mtime))?;
    while !line.is_empty() {
        if gfrom(&line) {
            out.write_all(b">")?;
        }
        out.write_all(&line)?;
        if line.last() != Some(&b'\n') {
            out.write_all(b"\n")?;
            break;
        }
        line.clear();
        r.read_until(b'\n', &mut line)?;
    }
    out.write_all(b"\n")
}

/// A writer that remembers whether it failed, to tell write errors from
/// read errors when both happen inside one copy.
struct Tracked<'a, W: Write> {
    inner: &'a mut W,
    failed: bool,
}

impl<W: Write> Write for Tracked<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).inspect_err(|_| self.failed = true)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().inspect_err(|_| self.failed = true)
    }
}

/// The whole job; warnings (messages that could not be removed) are
/// returned for the caller to print.
pub fn run(
    maildir: Option<&OsStr>,
    mail: Option<&OsStr>,
    mailtmp: Option<&OsStr>,
) -> Result<Vec<String>, Fatal> {
    let mbox = mail.ok_or_else(|| Fatal::new(111, format!("{FATAL}MAIL not set")))?;
    let tmp = mailtmp.ok_or_else(|| Fatal::new(111, format!("{FATAL}MAILTMP not set")))?;
    let dir = maildir.ok_or_else(|| Fatal::new(111, format!("{FATAL}MAILDIR not set")))?;
    let dir = Path::new(dir);
    if let Err(e) = std::fs::read_dir(dir) {
        return Err(sys(format!("unable to chdir to {}", dir.display()), &e));
    }
    maildir::clean(dir);
    let messages = maildir::scan(dir, true)
        .map_err(|(sub, e)| sys(format!("unable to scan $MAILDIR/{sub}"), &e))?;
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let (mbox, tmp) = (Path::new(mbox), Path::new(tmp));
    let lock = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(mbox)
        .map_err(|e| sys(format!("unable to lock {}", mbox.display()), &e))?;
    let _locked = nix::fcntl::Flock::lock(
        lock.as_fd()
            .try_clone_to_owned()
            .map_err(|e| sys(format!("unable to lock {}", mbox.display()), &e))?,
        nix::fcntl::FlockArg::LockExclusive,
    )
    .map_err(|(_, errno)| {
        sys(
            format!("unable to lock {}", mbox.display()),
            &io::Error::from(errno),
        )
    })?;
    let mut old =
        File::open(mbox).map_err(|e| sys(format!("unable to read {}", mbox.display()), &e))?;
    let newf = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| sys(format!("unable to create {}", tmp.display()), &e))?;
    let werr = |e: &io::Error| sys(format!("unable to write to {}", tmp.display()), e);
    let mut out = BufWriter::with_capacity(65536, &newf);
    io::copy(&mut old, &mut out)
        .map_err(|e| sys(format!("unable to read {}", mbox.display()), &e))?;
    for m in &messages {
        let rerr = |e: &io::Error| sys(format!("unable to read $MAILDIR/{}", m.path.display()), e);
        let f = File::open(dir.join(&m.path)).map_err(|e| rerr(&e))?;
        let mut r = BufReader::with_capacity(65536, f);
        // The message is streamed; a write error is remembered by the
        // writer, so any other error came from reading.
        let mut w = Tracked {
            inner: &mut out,
            failed: false,
        };
        if let Err(e) = copy_message(&mut r, m.mtime, &mut w) {
            return Err(if w.failed { werr(&e) } else { rerr(&e) });
        }
    }
    out.flush().map_err(|e| werr(&e))?;
    drop(out);
    newf.sync_all().map_err(|e| werr(&e))?;
    drop(newf);
    std::fs::rename(tmp, mbox).map_err(|e| {
        sys(
            format!("unable to move {} to {}", tmp.display(), mbox.display()),
            &e,
        )
    })?;
    let mut warnings = Vec::new();
    for m in &messages {
        if let Err(e) = std::fs::remove_file(dir.join(&m.path)) {
            warnings.push(format!(
                "maildir2mbox: warning: $MAILDIR/{} will be delivered twice; unable to unlink: {}",
                m.path.display(),
                sys::describe(&e)
            ));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lines_and_quoting() {
        // 2025-01-03 10:00:00 GMT.
        let t = 1_735_898_400;
        assert_eq!(
            from_line(b"Return-Path: <a b@c>\n", t),
            b"From a-b@c Fri Jan 03 10:00:00 2025\n"
        );
        assert_eq!(
            from_line(b"Return-Path: <>\n", t),
            b"From MAILER-DAEMON Fri Jan 03 10:00:00 2025\n"
        );
        assert_eq!(
            from_line(b"Subject: x\n", t),
            b"From XXX Fri Jan 03 10:00:00 2025\n"
        );
        let mut out = Vec::new();
        copy_message(
            &mut &b"Return-Path: <a@b>\nX: y\n\nFrom here\n>From there\nend"[..],
            t,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From a@b Fri Jan 03 10:00:00 2025\nReturn-Path: <a@b>\nX: y\n\n>From here\n>>From there\nend\n\n"
        );
    }
}
