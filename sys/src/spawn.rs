//! Starting a child that runs a prepared program, with only
//! async-signal-safe calls between fork and exec.
//!
//! A super-server starts one child per connection. Everything that child
//! needs (argv, envp, the `$PATH` candidates, the log lines it prints) is
//! built by the parent beforehand, so the child only writes its log lines,
//! moves the socket onto fds 0 and 1, puts signals back to default and
//! calls `execve`: no malloc, no locks, no formatting beyond a pid (the team
//! rule "after fork, only async-signal-safe calls until exec").
//!
//! Because the child touches nothing of the parent's, the parent may also
//! start it with `clone(CLONE_VM | CLONE_VFORK)` ([`Method::Vfork`], what
//! glibc's `posix_spawn` does): the cost then does not grow with the
//! parent's size, and the parent sleeps only until the child has called
//! `execve` or `_exit`.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::unistd::Pid;

use crate::errstr::errno_text;

/// A NULL-terminated array of C strings (`argv`, `envp`) that borrows
/// its strings.
#[derive(Debug)]
pub struct CStrArray<'a> {
    ptrs: Vec<*const c_char>,
    _strings: PhantomData<&'a CStr>,
}

impl<'a> CStrArray<'a> {
    /// An empty array (just the terminating NULL).
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty array with room for `n` strings.
    pub fn with_capacity(n: usize) -> Self {
        let mut ptrs = Vec::with_capacity(n + 1);
        ptrs.push(std::ptr::null());
        CStrArray {
            ptrs,
            _strings: PhantomData,
        }
    }

    /// Append `s` before the terminating NULL.
    pub fn push(&mut self, s: &'a CStr) {
        let last = self.ptrs.len() - 1;
        self.ptrs[last] = s.as_ptr();
        self.ptrs.push(std::ptr::null());
    }

    /// The number of strings.
    pub fn len(&self) -> usize {
        self.ptrs.len() - 1
    }

    /// True when the array holds no string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The strings, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a CStr> + '_ {
        self.ptrs[..self.len()].iter().map(|&p| {
            // SAFETY: every pointer before the terminator came from a
            // `&'a CStr` in `push`, so it is a valid C string for 'a.
            unsafe { CStr::from_ptr(p) }
        })
    }

    fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

impl Default for CStrArray<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> FromIterator<&'a CStr> for CStrArray<'a> {
    fn from_iter<I: IntoIterator<Item = &'a CStr>>(iter: I) -> Self {
        let mut a = CStrArray::new();
        for s in iter {
            a.push(s);
        }
        a
    }
}

/// A piece of a log line the child writes to fd 2.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// These bytes.
    Text(&'a [u8]),
    /// The child's own pid in decimal (tcpserver's `pid PID from ...`).
    Pid,
}

/// How the child runs a program: `execve` each of `paths` in turn, like
/// djb's `pathexec_run`. A path that does not exist is skipped; one that
/// exists but cannot be run (EACCES, EPERM, EISDIR) is remembered and the
/// search goes on; any other error ends it. The error reported is the
/// last one remembered, else "file does not exist".
#[derive(Debug)]
pub struct Exec<'a> {
    /// The candidate paths, in order (one for a name with a slash).
    pub paths: &'a [&'a CStr],
    pub argv: &'a CStrArray<'a>,
    pub envp: &'a CStrArray<'a>,
    /// Written to fd 2 before djb's text for the error and a newline when
    /// no path could be run; the child then exits 111. Empty: silent.
    pub exec_failed: &'a [u8],
    /// The same when the socket cannot be put on fds 0 and 1.
    pub fds_failed: &'a [u8],
}

/// What the child does after writing its log lines.
#[derive(Debug)]
pub enum Action<'a> {
    /// `_exit` with this code (a denied or dropped connection).
    Exit(i32),
    /// Put `stdio` on fds 0 and 1, reset signals, run the program.
    Exec(Exec<'a>),
}

/// Everything a child does, prepared by the parent.
#[derive(Debug)]
pub struct Child<'a> {
    /// The descriptor to put on fds 0 and 1 before exec (the connection).
    pub stdio: Option<BorrowedFd<'a>>,
    /// Log lines for fd 2, written first, in one `writev`.
    pub log: &'a [Part<'a>],
    /// Signals whose action goes back to default before exec (the ones
    /// the parent catches or ignores on purpose).
    pub default_signals: &'a [Signal],
    /// The signal mask the program starts with.
    pub sigmask: SigSet,
    pub action: Action<'a>,
}

/// How the parent makes the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// fork(2): the child gets a copy of the parent.
    Fork,
    /// clone(CLONE_VM | CLONE_VFORK): the child borrows the parent's
    /// memory on a stack of its own; the parent waits until it has exec'd.
    Vfork,
}

/// The stack size for [`Method::Vfork`] children: the child only runs
/// [`child_main`], a few hundred bytes deep; the rest is margin. The
/// memory is allocated, never initialised: pages the child does not touch
/// never become resident (a zeroed vector would cost 64 KiB of RSS).
const STACK_SIZE: usize = 64 * 1024;

/// Starts children; holds the stack vfork-style children run on (one is
/// enough: the parent is suspended while a child uses it).
#[derive(Debug)]
pub struct Spawner {
    method: Method,
    stack: Vec<u128>,
}

impl Spawner {
    pub fn new(method: Method) -> Spawner {
        let stack = match method {
            Method::Fork => Vec::new(),
            Method::Vfork => Vec::with_capacity(STACK_SIZE / 16),
        };
        Spawner { method, stack }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// Start `child`; returns its pid. All signals are blocked in the
    /// parent around the fork, so no handler of the parent's can run in
    /// the child before it has put the handlers back to default.
    pub fn spawn(&mut self, child: &Child<'_>) -> io::Result<Pid> {
        let mut old = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut old),
        )?;
        let r = match self.method {
            Method::Fork => {
                // SAFETY: the child runs only `child_main`, which makes
                // async-signal-safe system calls and never returns.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    child_main(child);
                }
                pid
            }
            Method::Vfork => {
                let top = self
                    .stack
                    .as_mut_ptr()
                    .wrapping_add(self.stack.capacity())
                    .cast::<c_void>();
                // SAFETY: the child runs `trampoline` on its own stack (16
                // byte aligned: u128 elements, the end of the allocation;
                // the child writes before it reads, as any stack). It
                // shares our memory but only reads `child`, which outlives
                // it: CLONE_VFORK suspends us until it has exec'd or exited.
                // Without CLONE_SIGHAND its signal actions are its own copy,
                // so resetting them does not touch ours.
                unsafe {
                    libc::clone(
                        trampoline,
                        top,
                        libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                        (child as *const Child<'_>).cast_mut().cast::<c_void>(),
                    )
                }
            }
        };
        let err = io::Error::last_os_error();
        pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
        if r < 0 {
            return Err(err);
        }
        Ok(Pid::from_raw(r))
    }
}

/// Do what a child would, in this process: write the log lines, set up
/// fds and signals, exec; on failure write the message and `_exit(111)`
/// (qmail's `tcp-env`, which execs in place).
pub fn exec_in_place(child: &Child<'_>) -> ! {
    child_main(child)
}

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&Child` passed to clone by `spawn`, alive
    // until this child execs or exits.
    let child = unsafe { &*(arg.cast_const().cast::<Child<'_>>()) };
    child_main(child)
}

/// The child's whole life. Async-signal-safe system calls only, nothing
/// that allocates, locks or panics.
fn child_main(child: &Child<'_>) -> ! {
    write_parts(child.log);
    let exec = match &child.action {
        Action::Exit(code) => exit(*code),
        Action::Exec(exec) => exec,
    };
    if let Some(fd) = child.stdio
        && let Err(errno) = onto_stdio(fd.as_raw_fd())
    {
        fail(exec.fds_failed, errno);
    }
    for &sig in child.default_signals {
        // SAFETY: a zeroed sigaction is SIG_DFL with no flags and an
        // empty mask; installing it runs no code.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig as c_int, &sa, std::ptr::null_mut());
        }
    }
    // SAFETY: sets this thread's mask from a valid sigset_t.
    unsafe {
        libc::pthread_sigmask(
            libc::SIG_SETMASK,
            child.sigmask.as_ref(),
            std::ptr::null_mut(),
        );
    }
    let mut saved = 0;
    let mut errno = libc::ENOENT;
    for path in exec.paths {
        // SAFETY: path, argv and envp are NUL-terminated strings and
        // NULL-terminated arrays that outlive this call.
        unsafe {
            libc::execve(path.as_ptr(), exec.argv.as_ptr(), exec.envp.as_ptr());
        }
        errno = last_errno();
        if errno != libc::ENOENT {
            saved = errno;
            if errno != libc::EACCES && errno != libc::EPERM && errno != libc::EISDIR {
                break;
            }
        }
    }
    if saved != 0 {
        errno = saved;
    }
    fail(exec.exec_failed, errno)
}

/// Put `fd` on 0 and 1 (dup2 clears close-on-exec on the copies; a fd
/// already in place gets it cleared by hand), then close the original.
fn onto_stdio(fd: c_int) -> Result<(), c_int> {
    for target in [0, 1] {
        // SAFETY: plain descriptor calls on ints.
        let r = unsafe {
            if fd == target {
                libc::fcntl(target, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, target)
            }
        };
        if r == -1 {
            return Err(last_errno());
        }
    }
    if fd > 1 {
        // SAFETY: closing our copy of the socket.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

fn fail(prefix: &[u8], errno: c_int) -> ! {
    if !prefix.is_empty() {
        let text = errno_text(errno).as_bytes();
        write_parts(&[Part::Text(prefix), Part::Text(text), Part::Text(b"\n")]);
    }
    exit(111)
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit ends the process without running atexit handlers or
    // flushing stdio buffers that belong to the parent.
    unsafe { libc::_exit(code) }
}

fn last_errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Write `parts` to fd 2 with writev, the pid formatted on the stack.
/// Partial writes are continued; errors are ignored (the log is best
/// effort, as in the original).
fn write_parts(parts: &[Part<'_>]) {
    const MAX: usize = 16;
    if parts.is_empty() {
        return;
    }
    let mut digits = [0u8; 20];
    let mut n = 0;
    if parts.iter().any(|p| matches!(p, Part::Pid)) {
        // SAFETY: getpid has no preconditions.
        let mut pid = unsafe { libc::getpid() } as u64;
        let mut tmp = [0u8; 20];
        let mut k = 0;
        loop {
            tmp[k] = b'0' + (pid % 10) as u8;
            k += 1;
            pid /= 10;
            if pid == 0 || k == tmp.len() {
                break;
            }
        }
        while k > 0 {
            k -= 1;
            digits[n] = tmp[k];
            n += 1;
        }
    }
    let mut chunk = parts;
    while !chunk.is_empty() {
        let take = chunk.len().min(MAX);
        let (now, rest) = chunk.split_at(take);
        chunk = rest;
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX];
        let mut total = 0usize;
        for (slot, part) in iov.iter_mut().zip(now) {
            let bytes: &[u8] = match part {
                Part::Text(t) => t,
                Part::Pid => digits.get(..n).unwrap_or(&[]),
            };
            slot.iov_base = bytes.as_ptr().cast_mut().cast();
            slot.iov_len = bytes.len();
            total += bytes.len();
        }
        let mut first = 0;
        while total > 0 && first < take {
            let live = &iov[first..take];
            // SAFETY: every iovec points into a live slice of its length.
            let w = unsafe { libc::writev(2, live.as_ptr(), live.len() as c_int) };
            if w < 0 {
                if last_errno() == libc::EINTR {
                    continue;
                }
                return;
            }
            let mut w = w as usize;
            total = total.saturating_sub(w);
            // Skip what was written.
            while first < take {
                let slot = &mut iov[first];
                if w < slot.iov_len {
                    slot.iov_len -= w;
                    // SAFETY: stays inside the same slice.
                    slot.iov_base = unsafe { slot.iov_base.cast::<u8>().add(w).cast() };
                    break;
                }
                w -= slot.iov_len;
                first += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::fd::AsFd;

    fn run(method: Method, action: Action<'_>, log: &[Part<'_>]) -> i32 {
        let mut sp = Spawner::new(method);
        let child = Child {
            stdio: None,
            log,
            default_signals: &[Signal::SIGPIPE],
            sigmask: SigSet::empty(),
            action,
        };
        let pid = sp.spawn(&child).unwrap();
        match nix::sys::wait::waitpid(pid, None).unwrap() {
            nix::sys::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exit_codes_come_through_both_ways() {
        for m in [Method::Fork, Method::Vfork] {
            assert_eq!(run(m, Action::Exit(100), &[]), 100);
        }
    }

    #[test]
    fn exec_searches_the_candidates_in_order() {
        let missing = CString::new("/nonexistent/true").unwrap();
        let dir = CString::new("/").unwrap();
        let t = CString::new("/bin/sh").unwrap();
        let a0 = CString::new("sh").unwrap();
        let a1 = CString::new("-c").unwrap();
        let a2 = CString::new("exit 7").unwrap();
        let argv: CStrArray = [a0.as_c_str(), a1.as_c_str(), a2.as_c_str()]
            .into_iter()
            .collect();
        let envp = CStrArray::new();
        for m in [Method::Fork, Method::Vfork] {
            let paths = [missing.as_c_str(), dir.as_c_str(), t.as_c_str()];
            let exec = Exec {
                paths: &paths,
                argv: &argv,
                envp: &envp,
                exec_failed: b"",
                fds_failed: b"",
            };
            assert_eq!(run(m, Action::Exec(exec), &[]), 7);
            let paths = [missing.as_c_str()];
            let exec = Exec {
                paths: &paths,
                argv: &argv,
                envp: &envp,
                exec_failed: b"",
                fds_failed: b"",
            };
            assert_eq!(run(m, Action::Exec(exec), &[]), 111);
        }
    }

    #[test]
    fn the_socket_lands_on_fds_0_and_1() {
        use std::io::Read;
        let (mut ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let sh = CString::new("/bin/sh").unwrap();
        let a1 = CString::new("-c").unwrap();
        let a2 = CString::new("read x; echo \"got $x\"").unwrap();
        let argv: CStrArray = [sh.as_c_str(), a1.as_c_str(), a2.as_c_str()]
            .into_iter()
            .collect();
        let envp = CStrArray::new();
        let paths = [sh.as_c_str()];
        let mut sp = Spawner::new(Method::Vfork);
        let child = Child {
            stdio: Some(theirs.as_fd()),
            log: &[],
            default_signals: &[],
            sigmask: SigSet::empty(),
            action: Action::Exec(Exec {
                paths: &paths,
                argv: &argv,
                envp: &envp,
                exec_failed: b"",
                fds_failed: b"",
            }),
        };
        let pid = sp.spawn(&child).unwrap();
        drop(theirs);
        std::io::Write::write_all(&mut ours, b"hi\n").unwrap();
        let mut out = String::new();
        ours.read_to_string(&mut out).unwrap();
        assert_eq!(out, "got hi\n");
        nix::sys::wait::waitpid(pid, None).unwrap();
    }
}
