//! Read-only file mappings, for cdb lookups.
//!
//! A rules cdb is opened for every connection so that a file `tcprules`
//! has just replaced counts at once. Mapping it costs a few system calls
//! and then only the pages a lookup touches are read, which is what keeps
//! one lookup in a 100,000-rule cdb to a few microseconds (djb's `cdb_init`
//! maps the file the same way).
//!
//! A mapped file that someone truncates in place would make later reads
//! fault (SIGBUS). Files handled here are replaced by rename, never
//! rewritten in place, as `tcprules` and `cdb_make` do.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::ptr::NonNull;

/// A whole file mapped read-only; unmapped when dropped.
#[derive(Debug)]
pub struct Mapped {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is private to this value, read-only and never
// changed through it, so sharing or moving it between threads is as safe
// as sharing a `&[u8]`.
unsafe impl Send for Mapped {}
// SAFETY: as above; `bytes` only hands out shared references.
unsafe impl Sync for Mapped {}

impl Mapped {
    /// Open `path` read-only (non-blocking, close-on-exec) and map all of
    /// it. The descriptor is closed before returning; the mapping stays.
    ///
    /// Errors carry the errno djb's `cdb_init` + `cdb_read` would end up
    /// with: an empty file is EINVAL (`invalid argument`, as observed with
    /// 0.88's tcprulescheck), a directory EISDIR.
    pub fn open(path: &Path) -> io::Result<Mapped> {
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        Mapped::of_file(&file)
    }

    /// Map all of an open file.
    pub fn of_file(file: &File) -> io::Result<Mapped> {
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::EISDIR));
        }
        let ft = meta.file_type();
        if ft.is_fifo() || ft.is_socket() || ft.is_char_device() {
            // Nothing to map; djb's fallback read() would see no data.
            return Err(io::Error::from_raw_os_error(libc::EPROTO));
        }
        let len =
            usize::try_from(meta.len()).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: a fresh read-only shared mapping of an open descriptor at
        // an address the kernel picks; no existing memory is affected. The
        // result is checked against MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Mapped { ptr, len })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points at a live PROT_READ mapping of `len` bytes
        // that lasts until `self` is dropped, which the borrow prevents.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The file's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: empty files are refused by [`Mapped::open`].
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mmap returned; no reference
        // into it outlives `self` (bytes() borrows self).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp(name: &str, data: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sys-mmap-{}-{name}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("f");
        std::fs::File::create(&p).unwrap().write_all(data).unwrap();
        p
    }

    #[test]
    fn maps_the_whole_file() {
        let p = temp("whole", b"hello, world");
        let m = Mapped::open(&p).unwrap();
        assert_eq!(m.bytes(), b"hello, world");
        assert_eq!(m.len(), 12);
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }

    #[test]
    fn errors_have_djbs_errno() {
        let p = temp("empty", b"");
        let e = Mapped::open(&p).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        let e = Mapped::open(p.parent().unwrap()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EISDIR));
        let e = Mapped::open(&p.with_file_name("missing")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let _ = std::fs::remove_dir_all(p.parent().unwrap());
    }
}
