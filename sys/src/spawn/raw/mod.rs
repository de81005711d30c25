//! The few system calls the child makes, per architecture: raw `syscall`
//! instructions where we have them (x86_64, aarch64), libc elsewhere.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod asm;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub use asm::*;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod libc_calls;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub use libc_calls::*;

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
