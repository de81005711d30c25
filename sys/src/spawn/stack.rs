//! The stack a clone'd child runs on: its own mapping, with a PROT_NONE
//! guard page below it, so that an overflow kills the child with SIGSEGV
//! instead of writing over whatever the parent keeps below (the child
//! shares the parent's memory: CLONE_VM). The stack grows down on every
//! architecture this is built for (x86_64, aarch64, and the others Linux
//! runs us on through the libc fallback, hppa excepted).

use std::ffi::c_void;
use std::io;
use std::ptr::NonNull;

/// The usable size: the child only runs `child_main`, under 2 KiB deep
/// (a test paints the stack and measures); the rest is margin for libc's
/// execve wrapper on the fallback architectures. The mapping is never
/// initialised: pages the child does not touch never become resident.
pub(super) const STACK_SIZE: usize = 64 * 1024;

/// One mapping: `guard` bytes of PROT_NONE, then `len` bytes of stack.
pub(super) struct Stack {
    base: NonNull<c_void>,
    guard: usize,
    len: usize,
}

// SAFETY: the mapping belongs to this value alone; it is plain memory.
unsafe impl Send for Stack {}

impl Stack {
    pub(super) fn new() -> io::Result<Stack> {
        // SAFETY: sysconf has no preconditions.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            n if n > 0 => n as usize,
            _ => 4096,
        };
        let len = STACK_SIZE.div_ceil(page) * page;
        let guard = page;
        // SAFETY: a fresh anonymous private mapping at an address the
        // kernel picks: it aliases nothing. It starts inaccessible; only
        // the part above the guard is opened below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                guard + len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p).ok_or_else(|| io::Error::other("mmap gave null"))?;
        let stack = Stack { base, guard, len };
        // SAFETY: the range lies inside the mapping just made (page
        // aligned: `guard` is one page); the lowest page stays PROT_NONE.
        let r = unsafe {
            libc::mprotect(
                p.cast::<u8>().add(guard).cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if r != 0 {
            // `stack` is dropped here, unmapping the whole range.
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The initial stack pointer: the end of the mapping (page aligned,
    /// so 16-byte aligned as both ABIs want).
    pub(super) fn top(&self) -> *mut c_void {
        self.base
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(self.guard + self.len)
            .cast()
    }

    /// The usable part, lowest address first (for the test that paints
    /// it and measures how deep the child goes).
    #[cfg(test)]
    pub(super) fn usable(&mut self) -> &mut [u8] {
        // SAFETY: `len` read-write bytes above the guard, owned by this
        // value; the caller holds it mutably, so no child runs on it.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.as_ptr().cast::<u8>().add(self.guard),
                self.len,
            )
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; the slot that
        // owns this stack is dropped only once no child runs on it.
        unsafe {
            libc::munmap(self.base.as_ptr(), self.guard + self.len);
        }
    }
}
