//! Socket options that neither std nor nix offer.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Remove any IP options (source routes) a TCP connection carries, so
/// replies do not follow a route the client chose: tcpserver's `-O`.
/// `setsockopt(IPPROTO_IP, IP_OPTIONS, NULL, 0)`; IPv4 sockets only.
pub fn kill_ip_options(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a zero-length option with a NULL value is the documented
    // way to clear IP_OPTIONS; the kernel reads nothing from the pointer.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_OPTIONS,
            std::ptr::null(),
            0,
        )
    };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn options_can_be_cleared_on_a_tcp_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        kill_ip_options(c.as_fd()).unwrap();
    }
}
