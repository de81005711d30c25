//! rblsmtpd: runs before an SMTP server under tcpserver and, for a client
//! that `$RBLSMTPD` or a DNS blocklist names, holds a short SMTP dialogue
//! of its own that refuses every message instead of running the server.
//! Behaviour and quirks are Debian's ucspi-tcp 0.88 (see rblsmtpd(1)).
//!
//! Where things are:
//! - [`decide`]: the options in order, each lookup as it is met.
//! - [`lookup`]: the DNS questions with a deadline; TXT text.
//! - [`session`]: the dialogue with a blocked client (sans-IO).
//! - [`net`]: tcpserver's DNS modules, reached through one place.
//! - here: `main`, the log line, the dialogue's I/O and the exec.

#![forbid(unsafe_code)]

pub mod decide;
pub mod lookup;
pub mod net;
pub mod session;

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};

use decide::Decision;

const USAGE: &[u8] =
    b"rblsmtpd: usage: rblsmtpd [ -b ] [ -R ] [ -t timeout ] [ -r base ] [ -a base ] smtpd [ arg ... ]\n";

pub fn main(args: Vec<OsString>) -> i32 {
    let started = Instant::now();
    let ip = std::env::var_os("TCPREMOTEIP").map_or_else(Vec::new, OsString::into_vec);
    let env = std::env::var_os("RBLSMTPD").map(OsString::into_vec);
    let opts = match decide::parse(args) {
        Ok(o) => o,
        Err(msg) => {
            let _ = io::stderr().write_all(&msg);
            let _ = io::stderr().write_all(USAGE);
            return 100;
        }
    };
    if opts.program.is_empty() {
        let _ = io::stderr().write_all(USAGE);
        return 100;
    }
    let dnscacheip = std::env::var("DNSCACHEIP").ok();
    let mut lookups = lookup::Lookups::new(dnscacheip.as_deref(), started + opts.lookup_limit());
    let verdict = decide::run(&opts, &ip, env.as_deref(), &mut lookups);
    if let Decision::Block { code, text } = verdict {
        return block(&ip, code, &text, opts.final_timeout());
    }
    let err = std::process::Command::new(&opts.program[0])
        .args(&opts.program[1..])
        .exec();
    let mut line = b"rblsmtpd: fatal: unable to run ".to_vec();
    line.extend_from_slice(opts.program[0].as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(sys::errstr::describe(&err).as_bytes());
    line.push(b'\n');
    let _ = io::stderr().write_all(&line);
    111
}

/// The blocking reply, as 0.88 builds it: code, space, at most 200 bytes
/// of text, every byte outside 32..=126 as `?`.
pub fn reply(code: u16, text: &[u8]) -> Vec<u8> {
    let mut m = format!("{code} ").into_bytes();
    m.extend_from_slice(&text[..text.len().min(200)]);
    for c in &mut m {
        if !(32..=126).contains(c) {
            *c = b'?';
        }
    }
    m
}

fn block(ip: &[u8], code: u16, text: &[u8], timeout: u64) -> i32 {
    let mut message = reply(code, text);
    let mut log = b"rblsmtpd: ".to_vec();
    log.extend_from_slice(ip);
    log.extend_from_slice(format!(" pid {}: ", std::process::id()).as_bytes());
    log.extend_from_slice(&message);
    log.push(b'\n');
    let _ = io::stderr().write_all(&log);
    message.extend_from_slice(b"\r\n");
    if timeout == 0 {
        let _ = io::stdout().write_all(&message);
        return 0;
    }
    // 0.88's alarm: the whole dialogue ends after the timeout, quietly.
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut s = session::Session::new(message);
    let mut out = session::GREETING.to_vec();
    let mut buf = [0u8; 512];
    loop {
        if !out.is_empty() {
            if write_by(&out, deadline).is_err() {
                return 0;
            }
            out.clear();
        }
        let n = match read_by(&mut buf, deadline) {
            Ok(n) if n > 0 => n,
            _ => return 0,
        };
        if s.feed(&buf[..n], &mut out) {
            let _ = write_by(&out, deadline);
            return 0;
        }
    }
}

fn wait_for(fd: std::os::fd::BorrowedFd<'_>, ev: PollFlags, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let ms = left.as_millis().clamp(1, 60_000) as u16;
        let mut fds = [PollFd::new(fd, ev)];
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {}
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

fn read_by(buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    let stdin = io::stdin();
    wait_for(stdin.as_fd(), PollFlags::POLLIN, deadline)?;
    Ok(nix::unistd::read(stdin.as_fd(), buf)?)
}

fn write_by(mut data: &[u8], deadline: Instant) -> io::Result<()> {
    let stdout = io::stdout();
    while !data.is_empty() {
        wait_for(stdout.as_fd(), PollFlags::POLLOUT, deadline)?;
        match nix::unistd::write(stdout.as_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
