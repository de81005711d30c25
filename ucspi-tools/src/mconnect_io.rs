//! mconnect-io, run by mconnect under tcpclient: the network's input
//! (fd 6) to stdout, and stdin to the network (fd 7) with a CR added
//! before each LF, each line sent as it is complete. As in 0.88, a
//! child copies the network to stdout; when stdin ends, the child is
//! killed and mconnect-io exits 0.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use crate::crlf::{AddCr, Filter};

fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>, addcr: bool) {
    let mut buf = [0u8; 4096];
    let mut out = Vec::with_capacity(8192);
    loop {
        let n = match nix::unistd::read(from, &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        };
        out.clear();
        if addcr {
            AddCr.feed(&buf[..n], &mut out);
        } else {
            out.extend_from_slice(&buf[..n]);
        }
        let mut rest = &out[..];
        while !rest.is_empty() {
            match nix::unistd::write(to, rest) {
                Ok(n) => rest = &rest[n..],
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }
}

pub fn main() -> i32 {
    // Without tcpclient's 6 and 7 there is nothing to copy: 0.88 just
    // ends, silently and with 0.
    let (Ok(net_in), Ok(net_out)) = (sys::fds::inherited(6), sys::fds::inherited(7)) else {
        return 0;
    };
    let (net_in, net_out) = (net_in.as_fd(), net_out.as_fd());
    // SAFETY: single-threaded here; the child only copies and exits.
    match unsafe { nix::unistd::fork() } {
        Err(e) => crate::exec::fatal("mconnect-io", &[b"unable to fork: "], &io::Error::from(e)),
        Ok(nix::unistd::ForkResult::Child) => {
            copy(net_in, io::stdout().as_fd(), false);
            0
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            copy(io::stdin().as_fd(), net_out, true);
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGTERM);
            let _ = nix::sys::wait::waitpid(child, None);
            0
        }
    }
}
