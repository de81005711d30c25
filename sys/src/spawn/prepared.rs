//! The parent's flat copy of a [`Child`]: one byte buffer and one pointer
//! array, built before the fork or clone, which the child only reads.

use std::ffi::{c_char, c_int};
use std::os::fd::AsRawFd;

use nix::sys::signal::SigSet;

use super::{Action, Child, Part};

/// What the child reads: flat copies of a [`Child`], addressed by raw
/// pointers into `bytes` and `ptrs`, which are not resized once built.
#[derive(Default)]
pub(super) struct Prepared {
    pub(super) bytes: Vec<u8>,
    pub(super) ptrs: Vec<*const c_char>,
    /// Log pieces: (offset in bytes, length), or `usize::MAX` for the pid.
    pub(super) log: Vec<(usize, usize)>,
    pub(super) signals: Vec<c_int>,
    pub(super) mask: u64,
    pub(super) stdio: c_int,
    pub(super) exit: Option<c_int>,
    /// Offsets in `ptrs`: argv, envp, then the paths (not NULL-ended).
    pub(super) argv: usize,
    pub(super) envp: usize,
    pub(super) paths: (usize, usize),
    pub(super) exec_failed: (usize, usize),
    pub(super) fds_failed: (usize, usize),
}

impl Prepared {
    fn push_bytes(&mut self, b: &[u8]) -> (usize, usize) {
        let off = self.bytes.len();
        self.bytes.extend_from_slice(b);
        (off, b.len())
    }

    /// Copy `child` in. Pointers are fixed up at the end, once `bytes`
    /// no longer moves.
    pub(super) fn fill(&mut self, child: &Child<'_>) {
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

impl Prepared {
    pub(super) fn text(&self, (off, len): (usize, usize)) -> &[u8] {
        self.bytes.get(off..off + len).unwrap_or(&[])
    }
}
