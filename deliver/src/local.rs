//! qmail-local: deliver one message to one local address, as its
//! `.qmail` file says (qmail-local.8, dot-qmail.5).
//!
//! qmail-lspawn runs it as the user, with the message (a seekable file) on
//! fd 0 and fd 1 = fd 2 = the report pipe. It writes `did F+W+P` (and
//! `qp N` after forwarding) on success and exits 0; on failure it writes
//! one line of explanation and exits 100 (permanent) or 111 (temporary).

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use control::Home;
use control::qmail_queue::QueueClient;
use control::status::Status;
use sys::describe;
use sys::getopt::{Getopt, Opt};

use crate::dotqmail::{self, Instruction};
use crate::program::{self, Outcome};
use crate::{maildir, mbox};

/// The usage line, printed with exit 100.
pub const USAGE: &str =
    "qmail-local: usage: qmail-local [ -nN ] user homedir local dash ext domain sender aliasempty";

/// Permission bits that make a home directory or `.qmail` file unsafe
/// (qmail's conf-patrn: world-writable).
const PATRN: u32 = 0o002;

/// qmail-local's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Deliver (`-N`, the default) or only print the instructions (`-n`).
    pub doit: bool,
    pub user: Vec<u8>,
    pub homedir: Vec<u8>,
    pub local: Vec<u8>,
    pub dash: Vec<u8>,
    pub ext: Vec<u8>,
    pub host: Vec<u8>,
    pub sender: Vec<u8>,
    /// The default delivery when there is no `.qmail` file (qmail-start's
    /// argument, e.g. `./Maildir/` or `|preline procmail`).
    pub aliasempty: Vec<u8>,
}

/// Parse the arguments after the program name; `None` means usage.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Option<Args> {
    let mut doit = true;
    let mut g = Getopt::new(args, "nN");
    for opt in g.by_ref() {
        match opt {
            Opt::Found(b'n', _) => doit = false,
            Opt::Found(b'N', _) => doit = true,
            _ => return None,
        }
    }
    let ops = g.operands();
    let [user, homedir, local, dash, ext, host, sender, aliasempty]: [Vec<u8>; 8] =
        ops.try_into().ok()?;
    if homedir.first() != Some(&b'/') {
        return None;
    }
    Some(Args {
        doit,
        user,
        homedir,
        local,
        dash,
        ext,
        host,
        sender,
        aliasempty,
    })
}

/// A delivery that did not complete: the exit code, and the line to
/// print (empty when a program already said why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub code: i32,
    pub text: String,
}

fn temp(text: impl Into<String>) -> Fail {
    Fail {
        code: Status::Z.local_exit(),
        text: text.into(),
    }
}

fn perm(text: impl Into<String>) -> Fail {
    Fail {
        code: Status::D.local_exit(),
        text: text.into(),
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The lines qmail-local adds and the environment it gives programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `Delivered-To: local@host\n`.
    pub dtline: Vec<u8>,
    /// `Return-Path: <sender>\n`.
    pub rpline: Vec<u8>,
    /// `From sender Fri Jan 03 10:00:00 2025\n` (mbox separator).
    pub ufline: Vec<u8>,
    /// USER, HOME, LOCAL, HOST, HOST2-4, RECIPIENT, SENDER, EXT, EXT2-4,
    /// DTLINE, RPLINE, UFLINE. (DEFAULT and NEWSENDER come later.)
    pub env: Vec<(&'static str, Vec<u8>)>,
}

/// Everything after the first `-` of `s`, or nothing.
fn after_dash(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == b'-') {
        Some(i) => &s[i + 1..],
        None => &s[s.len()..],
    }
}

/// `s` up to its last `.`, or all of it.
fn before_last_dot(s: &[u8]) -> &[u8] {
    match s.iter().rposition(|&b| b == b'.') {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Compute the header lines and environment for `args` at time `now`.
pub fn context(args: &Args, now: i64) -> Context {
    let mut recipient = args.local.clone();
    recipient.push(b'@');
    recipient.extend_from_slice(&args.host);

    let mut dtline = b"Delivered-To: ".to_vec();
    dtline.extend_from_slice(&recipient);
    for b in &mut dtline {
        if *b == b'\n' {
            *b = b'_';
        }
    }
    dtline.push(b'\n');

    let mut rpline = b"Return-Path: <".to_vec();
    rpline.extend_from_slice(&control::quote::quote2(&args.sender));
    for b in &mut rpline {
        if *b == b'\n' {
            *b = b'_';
        }
    }
    rpline.extend_from_slice(b">\n");

    let mut ufline = b"From ".to_vec();
    if args.sender.is_empty() {
        ufline.extend_from_slice(b"MAILER-DAEMON");
    } else {
        ufline.extend(args.sender.iter().map(|&b| match b {
            b' ' | b'\t' | b'\n' => b'-',
            _ => b,
        }));
    }
    ufline.push(b' ');
    let t = control::datetime::DateTime::from_unix(now);
    ufline.extend_from_slice(control::datetime::ctime(&t).as_bytes());
    ufline.push(b'\n');

    let ext2 = after_dash(&args.ext);
    let ext3 = after_dash(ext2);
    let ext4 = after_dash(ext3);
    let host2 = before_last_dot(&args.host);
    let host3 = before_last_dot(host2);
    let host4 = before_last_dot(host3);
    let env = vec![
        ("HOST", args.host.clone()),
        ("HOME", args.homedir.clone()),
        ("USER", args.user.clone()),
        ("LOCAL", args.local.clone()),
        ("RECIPIENT", recipient),
        ("DTLINE", dtline.clone()),
        ("SENDER", args.sender.clone()),
        ("RPLINE", rpline.clone()),
        ("UFLINE", ufline.clone()),
        ("EXT", args.ext.clone()),
        ("EXT2", ext2.to_vec()),
        ("EXT3", ext3.to_vec()),
        ("EXT4", ext4.to_vec()),
        ("HOST2", host2.to_vec()),
        ("HOST3", host3.to_vec()),
        ("HOST4", host4.to_vec()),
    ];
    Context {
        dtline,
        rpline,
        ufline,
        env,
    }
}

/// The message header (up to the first empty line) already holds
/// `dtline` exactly: the message has been here before.
pub fn has_dtline<R: BufRead>(r: &mut R, dtline: &[u8]) -> io::Result<bool> {
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            return Ok(false);
        }
        if line.len() <= 1 {
            return Ok(false);
        }
        if line == dtline {
            return Ok(true);
        }
    }
}

/// The sender for forwarded copies (NEWSENDER): bounces keep their empty
/// or `#@[]` sender; a `.qmail<dash><ext>-owner` file makes the owner the
/// sender (VERP style when `-owner-default` exists too).
fn new_sender(args: &Args, safeext: &[u8]) -> Result<Vec<u8>, Fail> {
    if args.sender.is_empty() || args.sender == b"#@[]" {
        return Ok(args.sender.clone());
    }
    let exists = |suffix: &[u8]| -> Result<bool, Fail> {
        let mut name = b".qmail".to_vec();
        name.extend_from_slice(&args.dash);
        name.extend_from_slice(safeext);
        name.extend_from_slice(suffix);
        match std::fs::metadata(OsStr::from_bytes(&name)) {
            Ok(_) => Ok(true),
            Err(e) if sys::is_temporary(&e) => Err(temp(format!(
                "Unable to open {}: {}. (#4.3.0)",
                show(&name),
                describe(&e)
            ))),
            Err(_) => Ok(false),
        }
    };
    if !exists(b"-owner")? {
        return Ok(args.sender.clone());
    }
    let mut s = args.local.clone();
    if exists(b"-owner-default")? {
        s.extend_from_slice(b"-owner-@");
        s.extend_from_slice(&args.host);
        s.extend_from_slice(b"-@[]");
    } else {
        s.extend_from_slice(b"-owner@");
        s.extend_from_slice(&args.host);
    }
    Ok(s)
}

/// The `.qmail` file found by the search.
struct Found {
    file: File,
    forward_only: bool,
    default: Option<Vec<u8>>,
}

/// Try the candidate files in order; the first regular file wins.
fn search(args: &Args) -> Result<Option<Found>, Fail> {
    for c in dotqmail::candidates(&args.dash, &args.ext) {
        let path = OsStr::from_bytes(&c.name);
        let unable = |e: &io::Error| {
            temp(format!(
                "Unable to open {}: {}. (#4.3.0)",
                show(&c.name),
                describe(e)
            ))
        };
        // O_NONBLOCK, as qmail's open_read: a FIFO planted as a `.qmail`
        // file must not hang the delivery waiting for a writer. The type
        // check below then skips it.
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => {
                let denied = matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM));
                if denied || sys::is_temporary(&e) {
                    return Err(unable(&e));
                }
                continue;
            }
        };
        let meta = file.metadata().map_err(|e| unable(&e))?;
        if !meta.file_type().is_file() {
            continue;
        }
        if meta.mode() & PATRN != 0 {
            return Err(temp("Uh-oh: .qmail file is writable. (#4.7.0)"));
        }
        return Ok(Some(Found {
            file,
            forward_only: meta.mode() & 0o100 != 0,
            default: c.default,
        }));
    }
    Ok(None)
}

/// The home directory must not be world-writable, nor sticky (the user's
/// signal that a `.qmail` file is being edited).
fn check_home(doit: bool, err: &mut dyn Write) -> Result<(), Fail> {
    let meta = std::fs::metadata(".").map_err(|e| {
        temp(format!(
            "Unable to stat home directory: {}. (#4.3.0)",
            describe(&e)
        ))
    })?;
    if meta.mode() & PATRN != 0 {
        return Err(temp("Uh-oh: home directory is writable. (#4.7.0)"));
    }
    if meta.mode() & 0o1000 != 0 {
        if doit {
            return Err(temp(
                "Home directory is sticky: user is editing his .qmail file. (#4.2.1)",
            ));
        }
        let _ = writeln!(err, "Warning: home directory is sticky.");
    }
    Ok(())
}

fn rewind(message: &mut File) -> Result<(), Fail> {
    message
        .seek(SeekFrom::Start(0))
        .map(drop)
        .map_err(|_| temp("Unable to rewind message. (#4.3.0)"))
}

/// Run `|command` with the message on stdin.
fn run_program(
    cmd: &[u8],
    message: &mut File,
    env: &[(&'static str, Vec<u8>)],
) -> Result<Outcome, Fail> {
    rewind(message)?;
    let stdin = message
        .try_clone()
        .map_err(|e| temp(format!("Unable to fork: {}. (#4.3.0)", describe(&e))))?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(OsStr::from_bytes(cmd))
        .envs(env.iter().map(|(k, v)| (k, OsStr::from_bytes(v))))
        .stdin(Stdio::from(stdin))
        .spawn()
        .map_err(|e| temp(format!("Unable to run /bin/sh: {}. (#4.3.0)", describe(&e))))?;
    let status = child
        .wait()
        .map_err(|e| temp(format!("Unable to fork: {}. (#4.3.0)", describe(&e))))?;
    match status.code() {
        None => Err(temp("Aack, child crashed. (#4.3.0)")),
        Some(code) => Ok(program::outcome(code)),
    }
}

/// Queue one copy of the message (with only the Delivered-To line added)
/// to all `recipients`; returns qmail-queue's pid.
fn forward(
    message: &mut File,
    dtline: &[u8],
    sender: &[u8],
    recipients: &[Vec<u8>],
) -> Result<u32, Fail> {
    rewind(message)?;
    let home = Home::from_env();
    let mut qq = QueueClient::open(&home)
        .map_err(|e| temp(format!("Unable to fork: {}. (#4.3.0)", describe(&e))))?;
    let qp = qq.pid();
    qq.put(dtline);
    qq.copy_from(message);
    match qq.close(sender, recipients) {
        Ok(()) => Ok(qp),
        Err(e) => Err(Fail {
            code: if e.permanent { Status::D } else { Status::Z }.local_exit(),
            text: format!("Unable to forward message: {}.", e.text),
        }),
    }
}

/// Deliver the message on `message` for `args`, printing the summary on
/// `out` (and `-n` instructions there too) and warnings on `err`.
/// The caller prints a failure's text and exits with its code.
pub fn run(
    args: &Args,
    message: &mut File,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Fail> {
    let home = Path::new(OsStr::from_bytes(&args.homedir));
    std::env::set_current_dir(home).map_err(|e| {
        temp(format!(
            "Unable to switch to {}: {}. (#4.3.0)",
            show(&args.homedir),
            describe(&e)
        ))
    })?;
    check_home(args.doit, err)?;

    let ctx = context(args, control::datetime::now_secs());
    if args.doit {
        rewind(message)?;
        let looping = has_dtline(&mut BufReader::new(&mut *message), &ctx.dtline).map_err(|e| {
            temp(format!(
                "Unable to read message: {}. (#4.3.0)",
                describe(&e)
            ))
        })?;
        if looping {
            return Err(perm(
                "This message is looping: it already has my Delivered-To line. (#5.4.6)",
            ));
        }
    }
    let mut env = ctx.env.clone();

    let found = search(args)?;
    if found.is_none() && !args.dash.is_empty() {
        return Err(perm("Sorry, no mailbox here by that name. (#5.1.1)"));
    }
    let safeext = dotqmail::safe_ext(&args.ext);
    let newsender = new_sender(args, &safeext)?;
    env.push(("NEWSENDER", newsender.clone()));

    let mut text = Vec::new();
    let mut forward_only = false;
    if let Some(mut f) = found {
        if let Some(d) = f.default.take() {
            env.push(("DEFAULT", d));
        }
        forward_only = f.forward_only;
        f.file
            .read_to_end(&mut text)
            .map_err(|_| temp("Out of memory. (#4.3.0)"))?;
    }
    if text.is_empty() {
        text = args.aliasempty.clone();
        forward_only = false;
    }
    let instructions = dotqmail::parse(&text, forward_only).map_err(|e| Fail {
        code: if e.temporary { Status::Z } else { Status::D }.local_exit(),
        text: e.text,
    })?;

    let (mut files, mut programs) = (0u64, 0u64);
    let mut forwards: Vec<Vec<u8>> = Vec::new();
    let mut counted_forwards = 0u64;
    let say = |out: &mut dyn Write, kind: &str, what: &[u8]| {
        let _ = out.write_all(kind.as_bytes());
        let _ = out.write_all(what);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    };
    for ins in &instructions {
        match ins {
            Instruction::Maildir(dir) => {
                files += 1;
                if !args.doit {
                    say(out, "maildir ", dir);
                    continue;
                }
                rewind(message)?;
                maildir::deliver(
                    Path::new(OsStr::from_bytes(dir)),
                    &ctx.rpline,
                    &ctx.dtline,
                    message,
                )
                .map_err(|e| match e {
                    maildir::MaildirError::NoDir => temp("Unable to chdir to maildir. (#4.2.1)"),
                    maildir::MaildirError::Read(_) => temp("Unable to read message. (#4.3.0)"),
                    maildir::MaildirError::Write(e) => temp(format!(
                        "Temporary error on maildir delivery: {}. (#4.3.0)",
                        describe(&e)
                    )),
                })?;
            }
            Instruction::Mbox(path) => {
                files += 1;
                if !args.doit {
                    say(out, "mbox ", path);
                    continue;
                }
                rewind(message)?;
                let name = show(path);
                mbox::deliver(
                    Path::new(OsStr::from_bytes(path)),
                    &ctx.ufline,
                    &ctx.rpline,
                    &ctx.dtline,
                    &mut BufReader::with_capacity(65536, &mut *message),
                    mbox::LOCK_WAIT,
                )
                .map_err(|e| match e {
                    mbox::MboxError::Open(e) => {
                        temp(format!("Unable to open {name}: {}. (#4.2.1)", describe(&e)))
                    }
                    mbox::MboxError::Locked => {
                        temp("File has been locked for 30 seconds straight. (#4.3.0)")
                    }
                    mbox::MboxError::Read(e) => temp(format!(
                        "Unable to read message: {}. (#4.3.0)",
                        describe(&e)
                    )),
                    mbox::MboxError::Write(e) => temp(format!(
                        "Unable to write {name}: {}. (#4.3.0)",
                        describe(&e)
                    )),
                })?;
            }
            Instruction::Program(cmd) => {
                programs += 1;
                if !args.doit {
                    say(out, "program ", cmd);
                    continue;
                }
                match run_program(cmd, message, &env)? {
                    Outcome::Ok => {}
                    Outcome::Stop => break,
                    Outcome::Permanent => return Err(perm("")),
                    Outcome::Temporary => return Err(temp("")),
                }
            }
            Instruction::Forward(addr) => {
                counted_forwards += 1;
                if !args.doit {
                    say(out, "forward ", addr);
                    continue;
                }
                forwards.push(addr.clone());
            }
        }
    }

    let mut qp = None;
    if !forwards.is_empty() {
        qp = Some(forward(message, &ctx.dtline, &newsender, &forwards)?);
    }
    let mut summary = format!("did {files}+{counted_forwards}+{programs}\n");
    if let Some(qp) = qp {
        summary.push_str(&format!("qp {qp}\n"));
    }
    let _ = out.write_all(summary.as_bytes());
    let _ = out.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Option<Args> {
        parse_args(v.iter().map(OsString::from))
    }

    #[test]
    fn arguments() {
        let a = args(&[
            "--",
            "joe",
            "/home/joe",
            "joe-x",
            "-",
            "x",
            "example.com",
            "",
            "./Mailbox",
        ])
        .unwrap();
        assert!(a.doit);
        assert_eq!(a.sender, b"");
        assert_eq!(a.aliasempty, b"./Mailbox");
        assert!(
            !args(&["-n", "u", "/h", "l", "", "", "d", "s", "a"])
                .unwrap()
                .doit
        );
        assert!(
            args(&["-nN", "u", "/h", "l", "", "", "d", "s", "a"])
                .unwrap()
                .doit
        );
        assert!(args(&["u", "h", "l", "", "", "d", "s", "a"]).is_none());
        assert!(args(&["u", "/h", "l", "", "", "d", "s"]).is_none());
        assert!(args(&["u", "/h", "l", "", "", "d", "s", "a", "x"]).is_none());
        assert!(args(&["-x", "u", "/h", "l", "", "", "d", "s", "a"]).is_none());
    }

    #[test]
    fn header_lines_and_environment() {
        let a = args(&[
            "joe",
            "/home/joe",
            "joe-list-sub",
            "-",
            "list-sub",
            "mail.example.com",
            "a b@x.org",
            "./Mailbox",
        ])
        .unwrap();
        let c = context(&a, 1_735_898_400);
        assert_eq!(c.dtline, b"Delivered-To: joe-list-sub@mail.example.com\n");
        assert_eq!(c.rpline, b"Return-Path: <\"a b\"@x.org>\n");
        assert_eq!(c.ufline, b"From a-b@x.org Fri Jan 03 10:00:00 2025\n");
        let get = |k: &str| c.env.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("EXT2"), b"sub");
        assert_eq!(get("EXT3"), b"");
        assert_eq!(get("HOST2"), b"mail.example");
        assert_eq!(get("HOST3"), b"mail");
        assert_eq!(get("HOST4"), b"mail");
        assert_eq!(get("RECIPIENT"), b"joe-list-sub@mail.example.com");
        let mut b = a.clone();
        b.sender = Vec::new();
        b.local = b"x\ny".to_vec();
        let c = context(&b, 0);
        assert_eq!(c.ufline, b"From MAILER-DAEMON Thu Jan 01 00:00:00 1970\n");
        assert_eq!(c.rpline, b"Return-Path: <>\n");
        assert_eq!(c.dtline, b"Delivered-To: x_y@mail.example.com\n");
    }

    #[test]
    fn loops_are_found_in_the_header_only() {
        let dt = b"Delivered-To: joe@x\n";
        let yes = b"Received: a\nDelivered-To: joe@x\n\nbody\n";
        let body_only = b"Received: a\n\nDelivered-To: joe@x\n";
        let other_case = b"delivered-to: joe@x\n\n";
        assert!(has_dtline(&mut &yes[..], dt).unwrap());
        assert!(!has_dtline(&mut &body_only[..], dt).unwrap());
        assert!(!has_dtline(&mut &other_case[..], dt).unwrap());
        assert!(!has_dtline(&mut &b"Delivered-To: joe@x"[..], dt).unwrap());
    }
}
