//! djb's wording for system errors.
//!
//! The originals print `unable to read x.cdb: file does not exist`, not
//! `No such file or directory (os error 2)`. Scripts and log watchers match
//! on these texts, so every program here reports errors through this table.
//! The table is the one in ucspi-tcp 0.88 and qmail 1.03 (`error_str`); the
//! order matters where Linux gives two names the same number (EAGAIN and
//! EWOULDBLOCK: the first entry, "temporary failure", wins).

use std::io;

/// The text djb's programs print for an errno value.
pub fn errno_text(errno: i32) -> &'static str {
    use libc::*;
    // A slice rather than a match: several constants share a value on
    // Linux, and the first listed must win, as in the original.
    const TABLE: &[(i32, &str)] = &[
        (0, "no error"),
        (EINTR, "interrupted system call"),
        (ENOMEM, "out of memory"),
        (ENOENT, "file does not exist"),
        (ETXTBSY, "text busy"),
        (EIO, "input/output error"),
        (EEXIST, "file already exists"),
        (ETIMEDOUT, "timed out"),
        (EINPROGRESS, "operation in progress"),
        (EAGAIN, "temporary failure"),
        (EWOULDBLOCK, "input/output would block"),
        (EPIPE, "broken pipe"),
        (EPERM, "permission denied"),
        (EACCES, "access denied"),
        (ENXIO, "device not configured"),
        (EPROTO, "protocol error"),
        (EISDIR, "is a directory"),
        (ECONNREFUSED, "connection refused"),
        (ENOTDIR, "not a directory"),
        (ESRCH, "no such process"),
        (E2BIG, "argument list too long"),
        (ENOEXEC, "exec format error"),
        (EBADF, "file descriptor not open"),
        (ECHILD, "no child processes"),
        (EDEADLK, "operation would cause deadlock"),
        (EFAULT, "bad address"),
        (ENOTBLK, "not a block device"),
        (EBUSY, "device busy"),
        (EXDEV, "cross-device link"),
        (ENODEV, "device does not support operation"),
        (EINVAL, "invalid argument"),
        (ENFILE, "system cannot open more files"),
        (EMFILE, "process cannot open more files"),
        (ENOTTY, "not a tty"),
        (EFBIG, "file too big"),
        (ENOSPC, "out of disk space"),
        (ESPIPE, "unseekable descriptor"),
        (EROFS, "read-only file system"),
        (EMLINK, "too many links"),
        (EDOM, "input out of range"),
        (ERANGE, "output out of range"),
        (EALREADY, "operation already in progress"),
        (ENOTSOCK, "not a socket"),
        (EDESTADDRREQ, "destination address required"),
        (EMSGSIZE, "message too long"),
        (EPROTOTYPE, "incorrect protocol type"),
        (ENOPROTOOPT, "protocol not available"),
        (EPROTONOSUPPORT, "protocol not supported"),
        (ESOCKTNOSUPPORT, "socket type not supported"),
        (EOPNOTSUPP, "operation not supported"),
        (EPFNOSUPPORT, "protocol family not supported"),
        (EAFNOSUPPORT, "address family not supported"),
        (EADDRINUSE, "address already used"),
        (EADDRNOTAVAIL, "address not available"),
        (ENETDOWN, "network down"),
        (ENETUNREACH, "network unreachable"),
        (ENETRESET, "network reset"),
        (ECONNABORTED, "connection aborted"),
        (ECONNRESET, "connection reset"),
        (ENOBUFS, "out of buffer space"),
        (EISCONN, "already connected"),
        (ENOTCONN, "not connected"),
        (ESHUTDOWN, "socket shut down"),
        (ETOOMANYREFS, "too many references"),
        (ELOOP, "symbolic link loop"),
        (ENAMETOOLONG, "file name too long"),
        (EHOSTDOWN, "host down"),
        (EHOSTUNREACH, "host unreachable"),
        (ENOTEMPTY, "directory not empty"),
        (EUSERS, "too many users"),
        (EDQUOT, "disk quota exceeded"),
        (ESTALE, "stale NFS file handle"),
        (EREMOTE, "too many levels of remote in path"),
        (ENOLCK, "no locks available"),
        (ENOSYS, "system call not available"),
        (ENOSTR, "not a stream device"),
        (ETIME, "timer expired"),
        (ENOSR, "out of stream resources"),
        (ENOMSG, "no message of desired type"),
        (EBADMSG, "bad message type"),
        (EIDRM, "identifier removed"),
        (ENONET, "machine not on network"),
        (ENOLINK, "link severed"),
        (EADV, "advertise error"),
        (ESRMNT, "srmount error"),
        (ECOMM, "communication error"),
        (EMULTIHOP, "multihop attempted"),
        (EREMCHG, "remote address changed"),
    ];
    TABLE
        .iter()
        .find(|(e, _)| *e == errno)
        .map_or("unknown error", |(_, s)| s)
}

/// The text djb's programs would print for `err`.
///
/// Errors that carry an errno use the table. Errors made inside Rust code
/// map to the errno the C code would have seen: a short read of a cdb or a
/// queue file is `error_proto` there, so `UnexpectedEof` and `InvalidData`
/// read "protocol error".
pub fn describe(err: &io::Error) -> &'static str {
    if let Some(errno) = err.raw_os_error() {
        return errno_text(errno);
    }
    match err.kind() {
        io::ErrorKind::NotFound => errno_text(libc::ENOENT),
        io::ErrorKind::PermissionDenied => errno_text(libc::EACCES),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => errno_text(libc::EPROTO),
        io::ErrorKind::InvalidInput => errno_text(libc::EINVAL),
        io::ErrorKind::OutOfMemory => errno_text(libc::ENOMEM),
        io::ErrorKind::TimedOut => errno_text(libc::ETIMEDOUT),
        io::ErrorKind::WouldBlock => errno_text(libc::EAGAIN),
        io::ErrorKind::BrokenPipe => errno_text(libc::EPIPE),
        io::ErrorKind::Interrupted => errno_text(libc::EINTR),
        _ => "unknown error",
    }
}

/// True when `err` is one that djb's code calls temporary (`error_temp`,
/// the same list): qmail maps these to 4xx replies and exit 111 rather
/// than a bounce.
pub fn is_temporary(err: &io::Error) -> bool {
    use libc::*;
    matches!(
        err.raw_os_error(),
        Some(
            EINTR
                | ENOMEM
                | ETXTBSY
                | EIO
                | ETIMEDOUT
                | EAGAIN
                | EDEADLK
                | EBUSY
                | ENFILE
                | EMFILE
                | EFBIG
                | ENOSPC
                | ENETDOWN
                | ENETUNREACH
                | ENETRESET
                | ECONNABORTED
                | ECONNRESET
                | ENOBUFS
                | ETOOMANYREFS
                | ECONNREFUSED
                | EHOSTDOWN
                | EHOSTUNREACH
                | EUSERS
                | EDQUOT
                | ESTALE
                | ENOLCK
        )
    ) || matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_the_originals() {
        assert_eq!(errno_text(libc::ENOENT), "file does not exist");
        assert_eq!(errno_text(libc::EACCES), "access denied");
        assert_eq!(errno_text(libc::EPERM), "permission denied");
        assert_eq!(errno_text(libc::EADDRINUSE), "address already used");
        assert_eq!(errno_text(libc::EXDEV), "cross-device link");
        // EWOULDBLOCK is EAGAIN on Linux: the earlier entry wins.
        assert_eq!(errno_text(libc::EWOULDBLOCK), "temporary failure");
        assert_eq!(errno_text(9999), "unknown error");
    }

    #[test]
    fn rust_made_errors_read_like_c_ones() {
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "short");
        assert_eq!(describe(&eof), "protocol error");
        let os = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(describe(&os), "out of disk space");
        assert!(is_temporary(&os));
        assert!(!is_temporary(&io::Error::from_raw_os_error(libc::ENOENT)));
    }
}
