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
use std::sync::atomic::{AtomicU32, Ordering};

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
    /// clone(CLONE_VM) without waiting: the child runs on a stack and a
    /// copy of its data that the parent leaves alone until the kernel
    /// reports (CLONE_CHILD_CLEARTID) that the child has exec'd or
    /// exited. As cheap as vfork, and the parent goes on accepting while
    /// the child execs, as after fork. The child makes raw system calls
    /// that never touch the parent's `errno`. x86_64 and aarch64 only;
    /// elsewhere, and when every slot is busy, this falls back to Vfork.
    Async,
}

impl Method {
    /// The fastest method this build supports.
    pub fn best() -> Method {
        if raw::SUPPORTED {
            Method::Async
        } else {
            Method::Vfork
        }
    }
}

/// The stack size for clone'd children: the child only runs
/// [`child_main`], under 2 KiB deep; the rest is margin. The memory is
/// allocated, never initialised: pages the child does not touch never
/// become resident.
const STACK_SIZE: usize = 16 * 1024;
/// Children that may be between clone and exec at once ([`Method::Async`]).
/// On a busy machine a new child can wait milliseconds for a CPU before it
/// reaches exec, so a handful is not enough; each slot costs a page or two
/// of memory once used (the child's pages count in our RSS: it shares
/// our memory). When all are busy the next child is forked instead.
const ASYNC_SLOTS: usize = 16;

/// One child's copy of what it needs, and its stack. Nothing in here is
/// touched by the parent while `busy` is non-zero.
struct Slot {
    /// Set to 1 before clone; the kernel writes 0 (CLONE_CHILD_CLEARTID)
    /// when the child's use of our memory ends: at exec or exit.
    busy: AtomicU32,
    stack: Vec<u128>,
    prep: Prepared,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("busy", &self.busy).finish()
    }
}

impl Slot {
    /// An empty slot: its stack and buffers come on first use.
    fn new() -> Box<Slot> {
        Box::new(Slot {
            busy: AtomicU32::new(0),
            stack: Vec::new(),
            prep: Prepared::default(),
        })
    }

    fn stack_top(&mut self) -> *mut c_void {
        if self.stack.capacity() == 0 {
            self.stack = Vec::with_capacity(STACK_SIZE / 16);
        }
        self.stack
            .as_mut_ptr()
            .wrapping_add(self.stack.capacity())
            .cast::<c_void>()
    }

    fn is_free(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }
}

/// What the child reads: flat copies of a [`Child`], addressed by raw
/// pointers into `bytes` and `ptrs`, which are not resized once built.
#[derive(Default)]
struct Prepared {
    bytes: Vec<u8>,
    ptrs: Vec<*const c_char>,
    /// Log pieces: (offset in bytes, length), or `usize::MAX` for the pid.
    log: Vec<(usize, usize)>,
    signals: Vec<c_int>,
    mask: u64,
    stdio: c_int,
    exit: Option<c_int>,
    /// Offsets in `ptrs`: argv, envp, then the paths (not NULL-ended).
    argv: usize,
    envp: usize,
    paths: (usize, usize),
    exec_failed: (usize, usize),
    fds_failed: (usize, usize),
}

impl Prepared {
    fn push_bytes(&mut self, b: &[u8]) -> (usize, usize) {
        let off = self.bytes.len();
        self.bytes.extend_from_slice(b);
        (off, b.len())
    }

    /// Copy `child` in. Pointers are fixed up at the end, once `bytes`
    /// no longer moves.
    fn fill(&mut self, child: &Child<'_>) {
        self.bytes.clear();
        self.ptrs.clear();
        self.log.clear();
        self.signals.clear();
        self.stdio = child.stdio.map_or(-1, |fd| fd.as_raw_fd());
        for part in child.log {
            match part {
                Part::Text(t) => {
                    let piece = self.push_bytes(t);
                    self.log.push(piece);
                }
                Part::Pid => self.log.push((usize::MAX, 0)),
            }
        }
        self.signals
            .extend(child.default_signals.iter().map(|&s| s as c_int));
        self.mask = kernel_mask(&child.sigmask);
        let exec = match &child.action {
            Action::Exit(code) => {
                self.exit = Some(*code);
                return;
            }
            Action::Exec(e) => e,
        };
        self.exit = None;
        self.exec_failed = self.push_bytes(exec.exec_failed);
        self.fds_failed = self.push_bytes(exec.fds_failed);
        // Strings as (offset) placeholders in ptrs, NULL as usize::MAX.
        let mut offs: Vec<usize> =
            Vec::with_capacity(exec.argv.len() + exec.envp.len() + exec.paths.len() + 2);
        self.argv = 0;
        for s in exec.argv.iter() {
            offs.push(self.push_bytes(s.to_bytes_with_nul()).0);
        }
        offs.push(usize::MAX);
        self.envp = offs.len();
        for s in exec.envp.iter() {
            offs.push(self.push_bytes(s.to_bytes_with_nul()).0);
        }
        offs.push(usize::MAX);
        let first_path = offs.len();
        for s in exec.paths {
            offs.push(self.push_bytes(s.to_bytes_with_nul()).0);
        }
        self.paths = (first_path, exec.paths.len());
        let base = self.bytes.as_ptr();
        self.ptrs.extend(offs.iter().map(|&o| {
            if o == usize::MAX {
                std::ptr::null()
            } else {
                base.wrapping_add(o).cast::<c_char>()
            }
        }));
    }
}

/// The first 64 signals of `set` as the kernel's mask word.
fn kernel_mask(set: &SigSet) -> u64 {
    let mut m = 0u64;
    for sig in 1..=64 {
        // SAFETY: sigismember reads a valid sigset_t; bad numbers give -1.
        if unsafe { libc::sigismember(set.as_ref(), sig) } == 1 {
            m |= 1 << (sig - 1);
        }
    }
    m
}

/// Starts children; holds the stacks and data of clone'd children.
#[derive(Debug)]
pub struct Spawner {
    method: Method,
    /// For Fork and Vfork (and the Async fallback): one is enough, the
    /// parent waits (vfork) or the child has its own copy (fork).
    sync: Box<Slot>,
    /// Async slots, from `Box::into_raw`: a child reads its slot by
    /// address while we go on, so the parent reaches a slot only through
    /// this pointer, and mutably only once the kernel has marked it free.
    slots: Vec<*mut Slot>,
}

impl Spawner {
    pub fn new(method: Method) -> Spawner {
        let method = if method == Method::Async && !raw::SUPPORTED {
            Method::Vfork
        } else {
            method
        };
        // Slots start empty; stacks and buffers come on first use.
        let slots = if method == Method::Async {
            (0..ASYNC_SLOTS)
                .map(|_| Box::into_raw(Slot::new()))
                .collect()
        } else {
            Vec::new()
        };
        Spawner {
            method,
            sync: Slot::new(),
            slots,
        }
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// Start `child`; returns its pid. All signals are blocked in the
    /// parent around the fork, so no handler of the parent's can run in
    /// the child before it has put the handlers back to default.
    pub fn spawn(&mut self, child: &Child<'_>) -> io::Result<Pid> {
        let mut method = self.method;
        // SAFETY: the pointers come from Box::into_raw and live until
        // Drop; a shared reference only reads `busy` (atomic) while the
        // child may be reading the rest.
        let free = self
            .slots
            .iter()
            .copied()
            .find(|&s| unsafe { &*s }.is_free());
        let slot: &mut Slot = match method {
            Method::Async => match free {
                // SAFETY: the kernel has cleared `busy`: no child reads
                // this slot any more, so it is ours alone.
                Some(s) => unsafe { &mut *s },
                None => {
                    method = Method::Fork;
                    &mut self.sync
                }
            },
            _ => &mut self.sync,
        };
        slot.prep.fill(child);
        let mut old = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut old),
        )?;
        let arg = (&slot.prep as *const Prepared).cast_mut().cast::<c_void>();
        let r = match method {
            Method::Fork => {
                // SAFETY: the child runs only `child_main`, which makes
                // raw system calls and never returns.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    child_main(&slot.prep);
                }
                pid
            }
            Method::Vfork => {
                let top = slot.stack_top();
                // SAFETY: the child runs `trampoline` on its own stack (16
                // byte aligned: u128 elements, the end of the allocation;
                // the child writes before it reads, as any stack). It
                // shares our memory but only reads `slot.prep`, which
                // outlives it: CLONE_VFORK suspends us until it has exec'd
                // or exited. Without CLONE_SIGHAND its signal actions are
                // its own copy, so resetting them does not touch ours.
                unsafe {
                    libc::clone(
                        trampoline,
                        top,
                        libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                        arg,
                    )
                }
            }
            Method::Async => {
                let top = slot.stack_top();
                slot.busy.store(1, Ordering::Release);
                let tid = slot.busy.as_ptr();
                // SAFETY: as for Vfork, except that we run on at once: the
                // child reads only `slot` (its stack and its copy of the
                // data), which we leave alone until the kernel has cleared
                // `busy` (CLONE_CHILD_CLEARTID: at exec or exit, when the
                // child stops using our memory). The child makes raw
                // system calls only, so it writes nothing of ours, not even
                // `errno`; it never runs a handler of ours (all signals are
                // blocked until it has reset them).
                let pid = unsafe {
                    libc::clone(
                        trampoline,
                        top,
                        libc::CLONE_VM | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD,
                        arg,
                        std::ptr::null_mut::<libc::pid_t>(),
                        std::ptr::null_mut::<c_void>(),
                        tid.cast::<libc::pid_t>(),
                    )
                };
                if pid < 0 {
                    slot.busy.store(0, Ordering::Release);
                }
                pid
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

impl Drop for Spawner {
    /// A child may still be reading a slot: wait until each has exec'd or
    /// exited before the memory goes (the child is a few system calls from
    /// either).
    fn drop(&mut self) {
        for &s in &self.slots {
            // SAFETY: from Box::into_raw in `new`, freed only here, once
            // no child reads it.
            unsafe {
                while !(*s).is_free() {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                drop(Box::from_raw(s));
            }
        }
    }
}

/// Do what a child would, in this process: write the log lines, set up
/// fds and signals, exec; on failure write the message and `_exit(111)`
/// (qmail's `tcp-env`, which execs in place).
pub fn exec_in_place(child: &Child<'_>) -> ! {
    let mut prep = Prepared::default();
    prep.fill(child);
    child_main(&prep)
}

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&Prepared` passed to clone by `spawn`, left
    // alone by the parent until this child execs or exits.
    let prep = unsafe { &*(arg.cast_const().cast::<Prepared>()) };
    child_main(prep)
}

impl Prepared {
    fn text(&self, (off, len): (usize, usize)) -> &[u8] {
        self.bytes.get(off..off + len).unwrap_or(&[])
    }
}

/// The child's whole life: raw system calls only, nothing that
/// allocates, locks, panics or touches memory the parent uses.
fn child_main(p: &Prepared) -> ! {
    write_log(p);
    if let Some(code) = p.exit {
        raw::exit(code);
    }
    if p.stdio >= 0
        && let Err(errno) = onto_stdio(p.stdio)
    {
        fail(p, p.fds_failed, errno);
    }
    for &sig in &p.signals {
        raw::default_action(sig);
    }
    raw::set_mask(p.mask);
    let mut saved = 0;
    let mut errno = libc::ENOENT;
    let argv = p.ptrs.as_ptr().wrapping_add(p.argv);
    let envp = p.ptrs.as_ptr().wrapping_add(p.envp);
    let paths = p.ptrs.get(p.paths.0..p.paths.0 + p.paths.1).unwrap_or(&[]);
    for &path in paths {
        errno = raw::execve(path, argv, envp);
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
    fail(p, p.exec_failed, errno)
}

/// Put `fd` on 0 and 1 (dup2 clears close-on-exec on the copies; a fd
/// already in place gets it cleared by hand), then close the original.
fn onto_stdio(fd: c_int) -> Result<(), c_int> {
    for target in [0, 1] {
        if fd == target {
            raw::clear_cloexec(target)?;
        } else {
            raw::dup_onto(fd, target)?;
        }
    }
    if fd > 1 {
        raw::close(fd);
    }
    Ok(())
}

fn fail(p: &Prepared, prefix: (usize, usize), errno: c_int) -> ! {
    let prefix = p.text(prefix);
    if !prefix.is_empty() {
        let text = errno_text(errno).as_bytes();
        write_all(&mut [prefix, text, b"\n"]);
    }
    raw::exit(111)
}

/// The pid in decimal, on the stack.
fn pid_digits(buf: &mut [u8; 20]) -> &[u8] {
    let mut pid = raw::getpid() as u64;
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
    let mut n = 0;
    while k > 0 {
        k -= 1;
        buf[n] = tmp[k];
        n += 1;
    }
    &buf[..n]
}

/// Write the prepared log lines to fd 2, the pid formatted on the stack.
fn write_log(p: &Prepared) {
    const MAX: usize = 16;
    if p.log.is_empty() {
        return;
    }
    let mut digits = [0u8; 20];
    let pid: &[u8] = if p.log.iter().any(|&(o, _)| o == usize::MAX) {
        pid_digits(&mut digits)
    } else {
        &[]
    };
    for chunk in p.log.chunks(MAX) {
        let mut pieces: [&[u8]; MAX] = [&[]; MAX];
        for (slot, &(off, len)) in pieces.iter_mut().zip(chunk) {
            *slot = if off == usize::MAX {
                pid
            } else {
                p.text((off, len))
            };
        }
        write_all(&mut pieces[..chunk.len()]);
    }
}

/// writev all of `pieces` to fd 2, continuing after partial writes;
/// errors end it (the log is best effort, as in the original).
fn write_all(pieces: &mut [&[u8]]) {
    let mut first = 0;
    while first < pieces.len() {
        let w = match raw::writev(2, &pieces[first..]) {
            Ok(w) => w,
            Err(libc::EINTR) => continue,
            Err(_) => return,
        };
        let mut w = w;
        while first < pieces.len() {
            let len = pieces[first].len();
            if w < len {
                pieces[first] = &pieces[first][w..];
                break;
            }
            w -= len;
            first += 1;
        }
    }
}

/// The iovecs for writev of up to 16 of `pieces` (more go in a later
/// call), built explicitly rather than relying on a slice reference's
/// layout; and how many there are. Only the stack: safe after fork.
fn iovecs(pieces: &[&[u8]]) -> ([libc::iovec; 16], usize) {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 16];
    let n = pieces.len().min(iov.len());
    for (v, p) in iov.iter_mut().zip(pieces) {
        v.iov_base = p.as_ptr().cast_mut().cast();
        v.iov_len = p.len();
    }
    (iov, n)
}

/// System calls for the child, without libc's wrappers: they never write
/// `errno`, which a clone'd child would share with its parent. Each
/// returns the kernel's result, a negative errno meaning failure.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod raw {
    use std::ffi::{c_char, c_int};

    pub const SUPPORTED: bool = true;

    /// A system call with up to four arguments.
    #[cfg(target_arch = "x86_64")]
    unsafe fn syscall4(n: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
        let ret: isize;
        // SAFETY (for callers): the arguments must be what system call `n`
        // expects; `syscall` clobbers rcx and r11 and nothing else.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a,
                in("rsi") b,
                in("rdx") c,
                in("r10") d,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    #[cfg(target_arch = "aarch64")]
    unsafe fn syscall4(n: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
        let ret: isize;
        // SAFETY (for callers): the arguments must be what system call `n`
        // expects; `svc 0` returns in x0.
        unsafe {
            std::arch::asm!(
                "svc 0",
                in("x8") n,
                inlateout("x0") a as isize => ret,
                in("x1") b,
                in("x2") c,
                in("x3") d,
                options(nostack),
            );
        }
        ret
    }

    fn check(r: isize) -> Result<usize, c_int> {
        if (-4095..0).contains(&r) {
            Err(-r as c_int)
        } else {
            Ok(r as usize)
        }
    }

    pub fn writev(fd: c_int, pieces: &[&[u8]]) -> Result<usize, c_int> {
        let (iov, n) = super::iovecs(pieces);
        // SAFETY: n iovecs pointing into live slices.
        check(unsafe { syscall4(libc::SYS_writev, fd as usize, iov.as_ptr() as usize, n, 0) })
    }

    pub fn getpid() -> i32 {
        // SAFETY: no arguments.
        unsafe { syscall4(libc::SYS_getpid, 0, 0, 0, 0) as i32 }
    }

    pub fn dup_onto(fd: c_int, target: c_int) -> Result<(), c_int> {
        // dup3 exists on every Linux architecture (dup2 does not on
        // aarch64); fd != target here, where dup3 and dup2 agree.
        // SAFETY: plain integers.
        check(unsafe { syscall4(libc::SYS_dup3, fd as usize, target as usize, 0, 0) }).map(drop)
    }

    pub fn clear_cloexec(fd: c_int) -> Result<(), c_int> {
        // SAFETY: plain integers.
        check(unsafe { syscall4(libc::SYS_fcntl, fd as usize, libc::F_SETFD as usize, 0, 0) })
            .map(drop)
    }

    pub fn close(fd: c_int) {
        // SAFETY: closing our copy of a descriptor.
        unsafe { syscall4(libc::SYS_close, fd as usize, 0, 0, 0) };
    }

    /// SIG_DFL for `sig`. The kernel's sigaction is {handler, flags,
    /// restorer, mask} (no restorer on aarch64): all zero is SIG_DFL with
    /// no flags and an empty mask either way.
    pub fn default_action(sig: c_int) {
        let act = [0u64; 4];
        // SAFETY: a zeroed kernel sigaction, 8-byte sigset.
        unsafe {
            syscall4(
                libc::SYS_rt_sigaction,
                sig as usize,
                act.as_ptr() as usize,
                0,
                8,
            );
        }
    }

    pub fn set_mask(mask: u64) {
        // SAFETY: SIG_SETMASK from an 8-byte kernel sigset.
        unsafe {
            syscall4(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK as usize,
                &mask as *const u64 as usize,
                0,
                8,
            );
        }
    }

    /// Returns only on failure, with the errno.
    pub fn execve(
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> c_int {
        // SAFETY: a C string and NULL-terminated arrays of C strings.
        let r = unsafe {
            syscall4(
                libc::SYS_execve,
                path as usize,
                argv as usize,
                envp as usize,
                0,
            )
        };
        check(r).err().unwrap_or(libc::EINVAL)
    }

    pub fn exit(code: c_int) -> ! {
        loop {
            // SAFETY: ends the process.
            unsafe { syscall4(libc::SYS_exit_group, code as usize, 0, 0, 0) };
        }
    }
}

/// Elsewhere: libc's wrappers (they set `errno`, so Async is not offered).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod raw {
    use std::ffi::{c_char, c_int};

    pub const SUPPORTED: bool = false;

    fn errno() -> c_int {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    pub fn writev(fd: c_int, pieces: &[&[u8]]) -> Result<usize, c_int> {
        let (iov, n) = super::iovecs(pieces);
        // SAFETY: n iovecs pointing into live slices.
        let r = unsafe { libc::writev(fd, iov.as_ptr(), n as c_int) };
        if r < 0 { Err(errno()) } else { Ok(r as usize) }
    }

    pub fn getpid() -> i32 {
        // SAFETY: no preconditions.
        unsafe { libc::getpid() }
    }

    pub fn dup_onto(fd: c_int, target: c_int) -> Result<(), c_int> {
        // SAFETY: plain integers.
        if unsafe { libc::dup2(fd, target) } < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }

    pub fn clear_cloexec(fd: c_int) -> Result<(), c_int> {
        // SAFETY: plain integers.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }

    pub fn close(fd: c_int) {
        // SAFETY: closing our copy of a descriptor.
        unsafe { libc::close(fd) };
    }

    pub fn default_action(sig: c_int) {
        // SAFETY: a zeroed sigaction is SIG_DFL, no flags, empty mask.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }

    pub fn set_mask(mask: u64) {
        // SAFETY: builds a sigset_t from the mask bits, then sets it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in 1..=64 {
                if mask & (1 << (sig - 1)) != 0 {
                    libc::sigaddset(&mut set, sig);
                }
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        }
    }

    pub fn execve(
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> c_int {
        // SAFETY: a C string and NULL-terminated arrays of C strings.
        unsafe { libc::execve(path, argv, envp) };
        errno()
    }

    pub fn exit(code: c_int) -> ! {
        // SAFETY: ends the process.
        unsafe { libc::_exit(code) }
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

    const ALL: [Method; 3] = [Method::Fork, Method::Vfork, Method::Async];

    #[test]
    fn exit_codes_come_through_every_way() {
        for m in ALL {
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
        for m in ALL {
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
        let mut sp = Spawner::new(Method::Async);
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

    #[test]
    fn many_async_children_in_flight_each_get_their_own_arguments() {
        // More children at once than there are slots: the rest are forked.
        let sh = CString::new("/bin/sh").unwrap();
        let c = CString::new("-c").unwrap();
        let mut sp = Spawner::new(Method::Async);
        let mut pids = Vec::new();
        for i in 0..(3 * ASYNC_SLOTS as i32) {
            let script = CString::new(format!("exit {}", 10 + i)).unwrap();
            let var = CString::new(format!("N={i}")).unwrap();
            let argv: CStrArray = [sh.as_c_str(), c.as_c_str(), script.as_c_str()]
                .into_iter()
                .collect();
            let envp: CStrArray = [var.as_c_str()].into_iter().collect();
            let paths = [sh.as_c_str()];
            let child = Child {
                stdio: None,
                log: &[],
                default_signals: &[Signal::SIGPIPE],
                sigmask: SigSet::empty(),
                action: Action::Exec(Exec {
                    paths: &paths,
                    argv: &argv,
                    envp: &envp,
                    exec_failed: b"",
                    fds_failed: b"",
                }),
            };
            // The parent's copies go away at once; the child has its own.
            pids.push((sp.spawn(&child).unwrap(), 10 + i));
        }
        for (pid, want) in pids {
            match nix::sys::wait::waitpid(pid, None).unwrap() {
                nix::sys::wait::WaitStatus::Exited(_, code) => assert_eq!(code, want),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_log_lines_carry_the_childs_pid() {
        use std::io::Read;
        // The child writes to fd 2: run it under a shell whose fd 2 is a
        // pipe we read (so the test harness's stderr is left alone).
        let (mut r, w) = std::io::pipe().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "spawn::tests::log_helper",
                "--nocapture",
                "--ignored",
            ])
            .env("SPAWN_LOG_HELPER", "1")
            .stderr(w)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(out.success());
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("pid "))
            .unwrap_or_else(|| panic!("{text}"));
        let mut w = line.split(' ');
        assert_eq!(w.next(), Some("pid"));
        let pid = w.next().unwrap();
        assert_eq!(w.next(), Some("ok"));
        assert_eq!(w.next(), Some(pid));
        assert!(pid.parse::<u32>().unwrap() > 1);
    }

    /// Run by the test above in a child process with fd 2 on a pipe.
    #[test]
    #[ignore]
    fn log_helper() {
        if std::env::var_os("SPAWN_LOG_HELPER").is_none() {
            return;
        }
        for m in ALL {
            let log = [
                Part::Text(b"pid "),
                Part::Pid,
                Part::Text(b" ok "),
                Part::Pid,
                Part::Text(b"\n"),
            ];
            assert_eq!(run(m, Action::Exit(0), &log), 0);
        }
    }

    #[test]
    fn the_child_stays_far_inside_its_stack() {
        // No guard page below a clone'd child's stack: measure how deep
        // the deepest path (log lines, a failed PATH search, the failure
        // message) goes, by painting the stack first.
        let mut sp = Spawner::new(Method::Async);
        if sp.method() != Method::Async {
            return;
        }
        // SAFETY: no child has run yet; slot 0 is free and ours.
        let slot = unsafe { &mut *sp.slots[0] };
        let _ = slot.stack_top();
        let cap = slot.stack.capacity();
        // SAFETY: painting the allocation before any child uses it.
        unsafe { std::ptr::write_bytes(slot.stack.as_mut_ptr(), 0xAA, cap) };
        let missing = CString::new("/nonexistent/a").unwrap();
        let missing2 = CString::new("/nonexistent/b").unwrap();
        let argv: CStrArray = [missing.as_c_str()].into_iter().collect();
        let envp = CStrArray::new();
        let paths = [missing.as_c_str(), missing2.as_c_str()];
        let log = [Part::Text(b""), Part::Pid, Part::Text(b"")];
        let child = Child {
            stdio: None,
            log: &log,
            default_signals: &[Signal::SIGPIPE, Signal::SIGTERM],
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
        nix::sys::wait::waitpid(pid, None).unwrap();
        // The kernel clears `busy` as the child exits, before waitpid
        // returns; the deadline only keeps a regression from hanging.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !slot.is_free() {
            assert!(std::time::Instant::now() < deadline, "slot never freed");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // SAFETY: the child is gone; reading the painted allocation.
        let bytes =
            unsafe { std::slice::from_raw_parts(slot.stack.as_ptr().cast::<u8>(), cap * 16) };
        let untouched = bytes.iter().take_while(|&&b| b == 0xAA).count();
        let used = bytes.len() - untouched;
        assert!(
            used > 0 && used < STACK_SIZE / 4,
            "the child used {used} bytes of stack"
        );
    }
}
