//! Running the daemons of the one-folder system in the foreground: each
//! in its own process group (so the terminal's Ctrl-C reaches only
//! qmail-run, which then stops them in order), its output read through a
//! pipe and printed line by line with a time and a label, every exit
//! reaped (qmail-run is a child subreaper, so sessions and spawners that
//! outlive their parents are reaped here too).
//!
//! Everything waits in one place, [`Supervisor::pump`]: a poll over the
//! signal self-pipe and the log pipes, with a deadline.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use sys::selfpipe::SelfPipe;

/// Where a pipe's lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// Printed with this label.
    Log(&'static str),
    /// Kept: tcpserver's `-1` port line, of the server with this label.
    Port(&'static str),
}

struct Pipe {
    sink: Sink,
    fd: OwnedFd,
    buf: Vec<u8>,
}

/// The signals qmail-run acts on.
pub const SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGCHLD,
];

/// `HH:MM:SS` of now, UTC.
fn clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86400;
    format!("{:02}:{:02}:{:02}", day / 3600, day / 60 % 60, day % 60)
}

/// Print one line of the log: `HH:MM:SS label: text`.
pub fn print(label: &str, text: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{} {label}: {text}", clock());
    let _ = out.flush();
}

/// The daemons, their pipes and what became of them.
pub struct Supervisor {
    signals: SelfPipe,
    pipes: Vec<Pipe>,
    exited: HashMap<i32, WaitStatus>,
    /// SIGINT and SIGTERM received.
    pub interrupts: u32,
    /// SIGHUP received and not yet handled.
    pub hups: u32,
    /// tcpserver's port line, once printed (the SMTP one).
    pub port_line: Option<String>,
    /// The port lines of the other servers, by label (POP3).
    pub port_lines: HashMap<&'static str, String>,
}

impl Supervisor {
    /// Catch the signals and become the subreaper of our descendants.
    pub fn new() -> io::Result<Supervisor> {
        let signals = SelfPipe::install(&SIGNALS)?;
        nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
        Ok(Supervisor {
            signals,
            pipes: Vec::new(),
            exited: HashMap::new(),
            interrupts: 0,
            hups: 0,
            port_line: None,
            port_lines: HashMap::new(),
        })
    }

    fn pipe(&mut self, sink: Sink) -> io::Result<OwnedFd> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        self.pipes.push(Pipe {
            sink,
            fd: read,
            buf: Vec::new(),
        });
        Ok(write)
    }

    /// Start `cmd` in a process group of its own, stdin from /dev/null,
    /// stdout and stderr logged under `label` (with `port`, stdout is
    /// tcpserver's `-1` line instead). The child gets SIGTERM if
    /// qmail-run dies without stopping it.
    pub fn spawn(&mut self, label: &'static str, mut cmd: Command, port: bool) -> io::Result<Pid> {
        let log = self.pipe(Sink::Log(label))?;
        let stdout = if port {
            self.pipe(Sink::Port(label))?
        } else {
            log.try_clone()?
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(log))
            .process_group(0);
        die_with_parent(&mut cmd);
        let child = cmd.spawn()?;
        // Dropping `cmd` closes our copies of the write ends. The child
        // is reaped by pid in pump, never through `child`.
        drop(cmd);
        Ok(Pid::from_raw(child.id() as i32))
    }

    /// Wait at most `max` for something to happen, then handle it: count
    /// signals, print complete log lines, reap children.
    pub fn pump(&mut self, max: Duration) {
        let ms = max.as_millis().min(60_000) as u16;
        let ready: Vec<bool> = {
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            for p in &self.pipes {
                fds.push(PollFd::new(p.fd.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => {}
            }
            fds.iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        if ready[0] {
            for sig in self.signals.drain() {
                match sig {
                    Signal::SIGINT | Signal::SIGTERM => self.interrupts += 1,
                    Signal::SIGHUP => self.hups += 1,
                    _ => {}
                }
            }
        }
        let mut closed = Vec::new();
        for (i, p) in self.pipes.iter_mut().enumerate() {
            if ready[i + 1] && read_pipe(p) {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            let mut p = self.pipes.remove(i);
            if !p.buf.is_empty() {
                p.buf.push(b'\n');
                self.emit(&mut p);
            }
        }
        let mut pipes = std::mem::take(&mut self.pipes);
        for p in &mut pipes {
            self.emit(p);
        }
        self.pipes = pipes;
        self.reap();
    }

    /// Print (or keep) the complete lines of `p`.
    fn emit(&mut self, p: &mut Pipe) {
        while let Some(nl) = p.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = p.buf.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            match p.sink {
                Sink::Log(label) => print(label, &text),
                Sink::Port("smtpd") => {
                    if self.port_line.is_none() {
                        self.port_line = Some(text);
                    }
                }
                Sink::Port(label) => {
                    self.port_lines.entry(label).or_insert(text);
                }
            }
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) => {
                    if let Some(pid) = status.pid() {
                        self.exited.insert(pid.as_raw(), status);
                    }
                }
            }
        }
    }

    /// How `pid` ended, once it has.
    pub fn exit_of(&self, pid: Pid) -> Option<WaitStatus> {
        self.exited.get(&pid.as_raw()).copied()
    }

    /// Pump until `done` holds or `max` has passed; false on timeout or
    /// when the user interrupts more than `interrupts` times.
    pub fn wait_until(
        &mut self,
        max: Duration,
        interrupts: u32,
        mut done: impl FnMut(&Supervisor) -> bool,
    ) -> bool {
        let deadline = Instant::now() + max;
        loop {
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || self.interrupts > interrupts {
                return false;
            }
            self.pump((deadline - now).min(Duration::from_millis(250)));
        }
    }

    /// Print whatever is left in the pipes (the daemons are gone).
    pub fn drain_logs(&mut self) {
        for _ in 0..100 {
            if self.pipes.is_empty() {
                return;
            }
            self.pump(Duration::from_millis(10));
            let all_idle = self.pipes.iter().all(|p| p.buf.is_empty());
            if all_idle {
                // Still open (a process outlived us): do not wait for it.
                return;
            }
        }
    }
}

/// Read what is in the pipe; true at end of file.
fn read_pipe(p: &mut Pipe) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match nix::unistd::read(&p.fd, &mut chunk) {
            Ok(0) => return true,
            Ok(n) => p.buf.extend_from_slice(&chunk[..n]),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return false,
            Err(_) => return true,
        }
        if p.buf.len() > 1 << 16 && !p.buf.contains(&b'\n') {
            // A line without end: show it in pieces rather than grow.
            p.buf.push(b'\n');
        }
    }
}

/// The process group `pgid` has no member left.
pub fn group_gone(pgid: Pid) -> bool {
    killpg(pgid, None) == Err(Errno::ESRCH)
}

/// Send `sig` to `pid`, ignoring a process that is already gone.
pub fn signal(pid: Pid, sig: Signal) {
    let _ = kill(pid, sig);
}

/// Send `sig` to the process group `pgid`.
pub fn signal_group(pgid: Pid, sig: Signal) {
    let _ = killpg(pgid, sig);
}

/// Have the kernel send SIGTERM to the child when qmail-run dies, so a
/// killed qmail-run leaves no daemon behind.
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the child between fork and exec and
    // only calls prctl(2), which is async-signal-safe; it allocates
    // nothing and touches no lock.
    unsafe {
        cmd.pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(io::Error::from));
    }
}
