//! recordio and fixcrio: the program runs behind two pipes and this
//! process relays between them and our own stdin and stdout.
//!
//! As in 0.88 the relay is the *child*: the original process execs the
//! program, so the program keeps the pid the caller knows (and recordio
//! prints), and its exit status is the caller's. The relay ends when the
//! program's output ends; a still-open stdin does not keep it alive.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::crlf::{Filter, FixCr};
use crate::exec;
use crate::record;

/// What the relay does with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// recordio: copy them and log them on fd 2.
    Record,
    /// fixcrio: add missing CRs in both directions.
    FixCr,
}

pub fn run(name: &str, argv: &[OsString], mode: Mode) -> i32 {
    let pipes = nix::unistd::pipe().and_then(|a| nix::unistd::pipe().map(|b| (a, b)));
    let ((in_r, in_w), (out_r, out_w)) = match pipes {
        Ok(p) => p,
        Err(e) => return exec::fatal(name, &[b"unable to create pipe: "], &e.into()),
    };
    let pid = std::process::id().to_string();
    // SAFETY: the process is single-threaded here (main has started no
    // threads), so the child may go on running ordinary Rust code.
    match unsafe { nix::unistd::fork() } {
        Err(e) => exec::fatal(name, &[b"unable to fork: "], &e.into()),
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop((in_w, out_r));
            if let Err(e) =
                nix::unistd::dup2_stdin(&in_r).and_then(|()| nix::unistd::dup2_stdout(&out_w))
            {
                return exec::fatal(name, &[b"unable to set up descriptors: "], &e.into());
            }
            drop((in_r, out_w));
            exec::run(name, argv, None)
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop((in_r, out_w));
            relay(pid.as_bytes(), in_w, out_r, mode)
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Err(nix::errno::Errno::EINTR) => {}
            r => return r.map_err(io::Error::from),
        }
    }
}

fn relay(pid: &[u8], to_prog: OwnedFd, from_prog: OwnedFd, mode: Mode) -> i32 {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut to_prog = Some(to_prog);
    let (mut fix_in, mut fix_out) = (FixCr::default(), FixCr::default());
    let mut buf = [0u8; record::PACKET];
    let mut out = Vec::with_capacity(2 * record::PACKET);
    let mut log = Vec::with_capacity(4 * record::PACKET);
    loop {
        let (input_ready, output_ready) = {
            let mut fds = vec![PollFd::new(from_prog.as_fd(), PollFlags::POLLIN)];
            if to_prog.is_some() {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return 111,
            }
            let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
            (fds.get(1).is_some_and(ready), ready(&fds[0]))
        };
        log.clear();
        if input_ready && let Some(w) = &to_prog {
            let n = read(stdin.as_fd(), &mut buf).unwrap_or(0);
            if n == 0 {
                if mode == Mode::Record {
                    record::eof(pid, b'<', &mut log);
                }
                to_prog = None;
            } else {
                out.clear();
                match mode {
                    Mode::Record => {
                        record::packet(pid, b'<', &buf[..n], &mut log);
                        out.extend_from_slice(&buf[..n]);
                    }
                    Mode::FixCr => fix_in.feed(&buf[..n], &mut out),
                }
                // The program closed its input: stop feeding it, as
                // with an end of our input.
                if write_all(w.as_fd(), &out).is_err() {
                    to_prog = None;
                }
            }
        }
        if output_ready {
            let n = read(from_prog.as_fd(), &mut buf).unwrap_or(0);
            if n == 0 {
                if mode == Mode::Record {
                    record::eof(pid, b'>', &mut log);
                    let _ = write_all(stderr.as_fd(), &log);
                }
                return 0;
            }
            out.clear();
            match mode {
                Mode::Record => {
                    record::packet(pid, b'>', &buf[..n], &mut log);
                    out.extend_from_slice(&buf[..n]);
                }
                Mode::FixCr => fix_out.feed(&buf[..n], &mut out),
            }
            if write_all(stdout.as_fd(), &out).is_err() {
                return 111;
            }
        }
        if !log.is_empty() {
            let _ = write_all(stderr.as_fd(), &log);
        }
    }
}
