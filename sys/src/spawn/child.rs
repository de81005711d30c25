//! What the child runs between fork (or clone) and exec: raw system calls
//! only, reading its [`Prepared`] copy.

use std::ffi::c_int;

use super::prepared::Prepared;
use super::raw;
use crate::errstr::errno_text;

/// The child's whole life: raw system calls only, nothing that
/// allocates, locks, panics or touches memory the parent uses.
pub(super) fn child_main(p: &Prepared) -> ! {
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
