//! qmail-start: starts the queue's daemons and ties them together with
//! pipes (qmail-start.c):
//!
//! ```text
//! qmail-start [defaultdelivery [logger args...]]
//! ```
//!
//! qmail-lspawn gets the default delivery (`./Mailbox` if none) and stays
//! root; qmail-rspawn runs as qmailr, qmail-clean as qmailq, the logger
//! (if any; it reads the log on its fd 0) as qmaill:nofiles, and this
//! process becomes qmail-send as qmails, with fd 0 the log (the logger's
//! pipe, or our stdout), fds 1/2 to and from qmail-lspawn, 3/4
//! qmail-rspawn, 5/6 qmail-clean. All but the logger run with group
//! qmail. The programs are found in `$PATH`.
//!
//! Not started as root, nothing changes user: the one-folder mode.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use queue::owners::Mode;

fn die(what: &str, e: &dyn std::fmt::Display) -> i32 {
    eprintln!("qmail-start: fatal: {what}: {e}");
    111
}

fn describe(e: &io::Error) -> &'static str {
    sys::errstr::describe(e)
}

/// Start everything; returns only on failure, with the exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter();
    let aliasempty = args.next().unwrap_or_else(|| OsString::from("./Mailbox"));
    let logger: Vec<OsString> = args.collect();

    // The daemons chdir to the home themselves, from "/": make it absolute.
    let home = control::Home::from_env();
    let abs = match std::path::absolute(home.root()) {
        Ok(abs) => abs.into_os_string(),
        Err(e) => return die("unable to find the qmail home", &describe(&e)),
    };
    if let Err(e) = std::env::set_current_dir("/") {
        return die("unable to switch to /", &describe(&e));
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));

    let mode = match Mode::detect() {
        Ok(m) => m,
        Err(e) => return die("cannot run as root", &e),
    };
    if let Mode::Root(ids) = &mode
        && let Err(e) = sys::privs::set_gid(ids.qmail)
    {
        return die("unable to set group qmail", &describe(&e));
    }

    let log: OwnedFd = if logger.is_empty() {
        match io::stdout().as_fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(e) => return die("unable to duplicate stdout", &describe(&e)),
        }
    } else {
        let (r, w) = match io::pipe() {
            Ok(p) => p,
            Err(e) => return die("unable to create pipe", &describe(&e)),
        };
        let mut cmd = Command::new(&logger[0]);
        cmd.args(&logger[1..]).stdin(r).env("QMAILHOME", &abs);
        if let Mode::Root(ids) = &mode {
            cmd.uid(ids.qmaill).gid(ids.nofiles);
        }
        if let Err(e) = cmd.spawn() {
            return die(
                &format!("unable to run {}", logger[0].to_string_lossy()),
                &describe(&e),
            );
        }
        w.into()
    };

    let mut pipes = Vec::new();
    for _ in 0..6 {
        match io::pipe() {
            Ok(p) => pipes.push(p),
            Err(e) => return die("unable to create pipe", &describe(&e)),
        }
    }
    let mut ends = pipes
        .into_iter()
        .map(|(r, w)| (Some(r), Some(w)))
        .collect::<Vec<_>>();
    let mut child = |name: &str, arg: Option<&OsStr>, to: usize, from: usize, uid: Option<u32>| {
        let mut cmd = Command::new(name);
        cmd.env("QMAILHOME", &abs);
        if let Some(a) = arg {
            cmd.arg(a);
        }
        cmd.stdin(Stdio::from(ends[to].0.take().expect("pipe end used once")))
            .stdout(Stdio::from(
                ends[from].1.take().expect("pipe end used once"),
            ));
        if let Some(u) = uid {
            cmd.uid(u);
        }
        cmd.spawn()
            .map(drop)
            .map_err(|e| die(&format!("unable to run {name}"), &describe(&e)))
    };
    let (uidr, uidq) = match &mode {
        Mode::Root(ids) => (Some(ids.qmailr), Some(ids.qmailq)),
        Mode::Single => (None, None),
    };
    if let Err(code) = child("qmail-lspawn", Some(&aliasempty), 0, 1, None) {
        return code;
    }
    if let Err(code) = child("qmail-rspawn", None, 2, 3, uidr) {
        return code;
    }
    if let Err(code) = child("qmail-clean", None, 4, 5, uidq) {
        return code;
    }

    if let Mode::Root(ids) = &mode
        && let Err(e) = sys::privs::set_uid(ids.qmails)
    {
        return die("unable to set user qmails", &describe(&e));
    }
    let take_w = |e: &mut (Option<io::PipeReader>, Option<io::PipeWriter>)| -> OwnedFd {
        e.1.take().expect("write end").into()
    };
    let take_r = |e: &mut (Option<io::PipeReader>, Option<io::PipeWriter>)| -> OwnedFd {
        e.0.take().expect("read end").into()
    };
    let fds = vec![
        log,
        take_w(&mut ends[0]),
        take_r(&mut ends[1]),
        take_w(&mut ends[2]),
        take_r(&mut ends[3]),
        take_w(&mut ends[4]),
        take_r(&mut ends[5]),
    ];
    let mut env: Vec<OsString> = std::env::vars_os()
        .filter(|(k, _)| k != "QMAILHOME")
        .map(|(k, v)| {
            let mut e = k;
            e.push("=");
            e.push(v);
            e
        })
        .collect();
    let mut h = OsString::from("QMAILHOME=");
    h.push(&abs);
    env.push(h);
    let env: Vec<&OsStr> = env.iter().map(OsString::as_os_str).collect();
    sys::fds::exec_with_fds_env(&[OsStr::new("qmail-send")], &env, fds, 111)
}
