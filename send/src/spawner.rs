//! The loop both spawners share (qmail's `spawn.c`): read delivery
//! commands from qmail-send on fd 0, start one delivery program per
//! command, collect its output, and when it has exited and closed its
//! output, write the report to fd 1.
//!
//! What differs between local and remote delivery (which program, which
//! user, how exit codes and output become a report) is an [`Agent`].

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::{Child, ExitStatus};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use sys::selfpipe::SelfPipe;

use crate::proto::{Command, CommandDecoder, encode_report};

/// qmail's `conf-spawn`: deliveries at once per spawner, told to
/// qmail-send as the first byte.
pub const SLOTS: usize = 120;

/// Output kept when an agent sets no limit of its own.
const OUTPUT_CAP: usize = 1 << 20;

/// What a delivery program became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    /// Killed by a signal.
    Crashed,
}

impl From<ExitStatus> for Exit {
    fn from(s: ExitStatus) -> Exit {
        s.code().map_or(Exit::Crashed, Exit::Code)
    }
}

/// A running stage of a delivery: the program, its output pipe, and what
/// the agent needs to remember about it.
#[derive(Debug)]
pub struct Running<C> {
    pub child: Child,
    pub out: io::PipeReader,
    pub ctx: C,
}

/// The next thing for a delivery.
#[derive(Debug)]
pub enum Step<C> {
    /// Finished: this report (`K`, `Z` or `D` and text) goes to qmail-send.
    Report(Vec<u8>),
    /// A program runs; [`Agent::finished`] is called when it is done.
    Run(Running<C>),
}

/// What makes a spawner local or remote.
pub trait Agent {
    type Ctx;
    /// Output longer than this is cut with qmail's "Error report too
    /// long" note; 0 for no note (qmail-rspawn).
    fn truncreport(&self) -> usize;
    /// The uid that must own message files.
    fn queue_uid(&self) -> u32;
    /// Start delivering `msg` from `sender` to `recip`, whose last `@` is
    /// at `at`.
    fn start(&mut self, msg: File, sender: &[u8], recip: &[u8], at: usize) -> Step<Self::Ctx>;
    /// A program has exited and closed its output.
    fn finished(&mut self, ctx: Self::Ctx, exit: Exit, output: &[u8]) -> Step<Self::Ctx>;
}

/// qmail's report when output runs over the limit.
const TRUNCMESS: &[u8] = b"\nError report too long, sorry.\n";

/// Append `bytes` to `out` as spawn.c does: past `limit` (if over 100),
/// cut to leave room for the note and add it.
pub fn append_output(out: &mut Vec<u8>, bytes: &[u8], limit: usize) {
    if limit > 100 {
        out.extend_from_slice(bytes);
        if out.len() > limit {
            out.truncate(limit - TRUNCMESS.len() - 3);
            out.extend_from_slice(TRUNCMESS);
        }
    } else {
        let room = OUTPUT_CAP.saturating_sub(out.len());
        out.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

struct Slot<C> {
    child: Child,
    out: io::PipeReader,
    eof: bool,
    exit: Option<Exit>,
    output: Vec<u8>,
    ctx: Option<C>,
}

/// The checks spawn.c makes before starting a delivery; `Err` is the
/// report for qmail-send.
fn check(cmd: &Command, used: bool, queue_uid: u32) -> Result<(File, usize), &'static [u8]> {
    if cmd.abort {
        return Err(b"Zqmail-spawn out of memory. (#4.3.0)\n");
    }
    if usize::from(cmd.slot) >= SLOTS {
        return Err(b"ZInternal error: delnum too big. (#4.3.5)\n");
    }
    if used {
        return Err(b"ZInternal error: delnum in use. (#4.3.5)\n");
    }
    let m = &cmd.messid;
    if m.iter()
        .enumerate()
        .any(|(i, &b)| (i == 0 || b != b'/') && !b.is_ascii_digit())
    {
        return Err(b"DInternal error: messid has nonnumerics. (#5.3.5)\n");
    }
    if m.len() + 1 > 100 {
        return Err(b"DInternal error: messid too long. (#5.3.5)\n");
    }
    if m.is_empty() {
        return Err(b"DInternal error: messid too short. (#5.3.5)\n");
    }
    let Some(at) = cmd.recip.iter().rposition(|&b| b == b'@') else {
        return Err(b"DSorry, address must include host name. (#5.1.3)\n");
    };
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::OsStr::from_bytes(m);
    let f =
        File::open(path).map_err(|_| &b"Zqmail-spawn unable to open message. (#4.3.0)\n"[..])?;
    let st = f
        .metadata()
        .map_err(|_| &b"Zqmail-spawn unable to fstat message. (#4.3.0)\n"[..])?;
    let ft = st.file_type();
    if !ft.is_file() || ft.is_fifo() {
        return Err(b"ZSorry, message has wrong type. (#4.3.5)\n");
    }
    if st.uid() != queue_uid {
        // The queue user must be trusted; a message owned by anyone else
        // was not written by qmail-queue.
        return Err(b"ZSorry, message has wrong owner. (#4.3.5)\n");
    }
    Ok((f, at))
}

/// Run the spawner until qmail-send closes our input and every delivery
/// has reported. `input` is fd 0, `output` fd 1. Returns the exit code.
pub fn run<A: Agent>(agent: &mut A, mut input: File, mut output: File) -> i32 {
    let Ok(selfpipe) = SelfPipe::install(&[Signal::SIGCHLD]) else {
        return 111;
    };
    let mut writing = true;
    let mut put = |output: &mut File, bytes: &[u8]| {
        if writing && output.write_all(bytes).is_err() {
            // qmail's okwrite: a dead qmail-send cannot hear us; keep
            // going so the deliveries finish.
            writing = false;
        }
    };
    put(&mut output, &[SLOTS as u8]);

    let mut slots: Vec<Option<Slot<A::Ctx>>> = (0..SLOTS).map(|_| None).collect();
    let mut reading = true;
    let mut decoder = CommandDecoder::new();
    let mut buf = vec![0u8; 4096];
    loop {
        // Reap and finish what is done.
        for (i, slot) in slots.iter_mut().enumerate() {
            let Some(s) = slot else { continue };
            if s.exit.is_none()
                && let Ok(Some(st)) = s.child.try_wait()
            {
                s.exit = Some(Exit::from(st));
            }
            if !(s.eof && s.exit.is_some()) {
                continue;
            }
            let s = slot.take().expect("slot is in use");
            let ctx = s.ctx.expect("a running slot has a context");
            match agent.finished(ctx, s.exit.expect("exited"), &s.output) {
                Step::Report(r) => put(&mut output, &encode_report(i as u8, &r)),
                Step::Run(r) => *slot = Some(new_slot(r)),
            }
        }
        if !reading && slots.iter().all(Option::is_none) {
            return 0;
        }

        let (stdin_ready, ready) = {
            let mut fds = Vec::with_capacity(SLOTS + 2);
            fds.push(PollFd::new(selfpipe.as_fd(), PollFlags::POLLIN));
            if reading {
                fds.push(PollFd::new(input.as_fd(), PollFlags::POLLIN));
            }
            let mut which = Vec::new();
            for (i, s) in slots.iter().enumerate() {
                if let Some(s) = s
                    && !s.eof
                {
                    fds.push(PollFd::new(s.out.as_fd(), PollFlags::POLLIN));
                    which.push(i);
                }
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return 111,
            }
            let hit = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            let base = if reading { 2 } else { 1 };
            let stdin_ready = reading && hit(&fds[1]);
            let ready: Vec<usize> = which
                .iter()
                .enumerate()
                .filter(|(k, _)| hit(&fds[base + k]))
                .map(|(_, &i)| i)
                .collect();
            (stdin_ready, ready)
        };
        selfpipe.drain();

        if stdin_ready {
            match input.read(&mut buf[..1024]) {
                Ok(0) => reading = false,
                Ok(n) => {
                    let mut cmds = Vec::new();
                    decoder.feed(&buf[..n], &mut cmds);
                    for cmd in cmds {
                        let used = slots
                            .get(usize::from(cmd.slot))
                            .is_some_and(Option::is_some);
                        match check(&cmd, used, agent.queue_uid()) {
                            Err(text) => put(&mut output, &encode_report(cmd.slot, text)),
                            Ok((msg, at)) => match agent.start(msg, &cmd.sender, &cmd.recip, at) {
                                Step::Report(r) => put(&mut output, &encode_report(cmd.slot, &r)),
                                Step::Run(r) => slots[usize::from(cmd.slot)] = Some(new_slot(r)),
                            },
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => reading = false,
            }
        }
        let limit = agent.truncreport();
        for i in ready {
            let Some(s) = slots[i].as_mut() else { continue };
            match s.out.read(&mut buf) {
                Ok(0) => s.eof = true,
                Ok(n) => append_output(&mut s.output, &buf[..n], limit),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => s.eof = true,
            }
        }
    }
}

fn new_slot<C>(r: Running<C>) -> Slot<C> {
    Slot {
        child: r.child,
        out: r.out,
        eof: false,
        exit: None,
        output: Vec::new(),
        ctx: Some(r.ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_gets_qmails_note() {
        let mut out = Vec::new();
        append_output(&mut out, &[b'a'; 2000], 3000);
        append_output(&mut out, &[b'b'; 2000], 3000);
        assert_eq!(out.len(), 3000 - 3);
        assert!(out.ends_with(b"\nError report too long, sorry.\n"));
        let mut out = Vec::new();
        append_output(&mut out, &[b'a'; 5000], 0);
        assert_eq!(out.len(), 5000);
    }

    #[test]
    fn commands_are_checked_like_spawn_c() {
        let cmd = |slot, messid: &[u8], recip: &[u8]| Command {
            slot,
            messid: messid.to_vec(),
            sender: b"s".to_vec(),
            recip: recip.to_vec(),
            abort: false,
        };
        let err = |c: &Command, used| {
            check(c, used, 0)
                .err()
                .map(|e| String::from_utf8_lossy(e).into_owned())
        };
        assert_eq!(
            err(&cmd(200, b"1/1", b"a@b"), false).unwrap(),
            "ZInternal error: delnum too big. (#4.3.5)\n"
        );
        assert_eq!(
            err(&cmd(1, b"1/1", b"a@b"), true).unwrap(),
            "ZInternal error: delnum in use. (#4.3.5)\n"
        );
        assert!(
            err(&cmd(1, b"/1", b"a@b"), false)
                .unwrap()
                .contains("nonnumerics")
        );
        assert!(
            err(&cmd(1, b"1/../x", b"a@b"), false)
                .unwrap()
                .contains("nonnumerics")
        );
        assert!(
            err(&cmd(1, b"", b"a@b"), false)
                .unwrap()
                .contains("too short")
        );
        assert!(
            err(&cmd(1, &[b'1'; 100], b"a@b"), false)
                .unwrap()
                .contains("too long")
        );
        assert_eq!(
            err(&cmd(1, b"1/1", b"ab"), false).unwrap(),
            "DSorry, address must include host name. (#5.1.3)\n"
        );
        assert_eq!(
            err(&cmd(1, b"99/999999999", b"a@b"), false).unwrap(),
            "Zqmail-spawn unable to open message. (#4.3.0)\n"
        );
    }
}
