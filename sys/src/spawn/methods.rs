//! How the parent makes the child: fork, clone with CLONE_VFORK, or clone
//! without waiting into one of a set of slots, each with its own stack and
//! copy of the data.

use std::ffi::{c_int, c_void};
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
use nix::unistd::Pid;

use super::child::child_main;
use super::prepared::Prepared;
use super::stack::Stack;
use super::{Child, Method, raw};

/// Children that may be between clone and exec at once ([`Method::Async`]).
/// On a busy machine a new child can wait milliseconds for a CPU before it
/// reaches exec, so a handful is not enough; each slot costs a page or two
/// of memory once used (the child's pages count in our RSS: it shares
/// our memory). When all are busy the next child is forked instead.
pub(super) const ASYNC_SLOTS: usize = 16;

/// One child's copy of what it needs, and its stack. Nothing in here is
/// touched by the parent while `busy` is non-zero.
pub(super) struct Slot {
    /// Set to 1 before clone; the kernel writes 0 (CLONE_CHILD_CLEARTID)
    /// when the child's use of our memory ends: at exec or exit.
    pub(super) busy: AtomicU32,
    /// Mapped on first use (Vfork and Async only; a forked child runs on
    /// its copy of our stack).
    pub(super) stack: Option<Stack>,
    pub(super) prep: Prepared,
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
            stack: None,
            prep: Prepared::default(),
        })
    }

    pub(super) fn stack_top(&mut self) -> io::Result<*mut c_void> {
        if self.stack.is_none() {
            self.stack = Some(Stack::new()?);
        }
        Ok(self.stack.as_ref().map_or(std::ptr::null_mut(), Stack::top))
    }

    pub(super) fn is_free(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }
}

/// Starts children; holds the stacks and data of clone'd children.
#[derive(Debug)]
pub struct Spawner {
    method: Method,
    /// For Fork and Vfork (and the Async fallback): one is enough, the
    /// parent waits (vfork) or the child has its own copy (fork).
    pub(super) sync: Box<Slot>,
    /// Async slots, from `Box::into_raw`: a child reads its slot by
    /// address while we go on, so the parent reaches a slot only through
    /// this pointer, and mutably only once the kernel has marked it free.
    pub(super) slots: Vec<*mut Slot>,
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
        // Map the stack (first use only) before the signals are blocked,
        // so a failure returns with our mask as it was.
        let top = match method {
            Method::Fork => std::ptr::null_mut(),
            Method::Vfork | Method::Async => slot.stack_top()?,
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
                // SAFETY: the child runs `trampoline` on its own stack (the
                // page-aligned end of its own mapping, with a PROT_NONE
                // guard page below: an overflow faults in the child rather
                // than writing over our memory; the child writes before it
                // reads, as any stack). It
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

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&Prepared` passed to clone by `spawn`, left
    // alone by the parent until this child execs or exits.
    let prep = unsafe { &*(arg.cast_const().cast::<Prepared>()) };
    child_main(prep)
}
