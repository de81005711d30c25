//! System calls for the child, without libc's wrappers: they never write
//! `errno`, which a clone'd child would share with its parent. Each
//! returns the kernel's result, a negative errno meaning failure.

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
    check(unsafe { syscall4(libc::SYS_fcntl, fd as usize, libc::F_SETFD as usize, 0, 0) }).map(drop)
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
