//! qmail-clean: removes queue files for qmail-send, which may not write
//! in the directories qmail-queue owns (qmail-clean.c).
//!
//! Requests come on fd 0 (`foop/N` or `todo/N`, NUL-terminated), answers go
//! to fd 1 (`+`, `!` or `x`). Every 30 requests, and at start, stale files
//! in `pid/` (untouched for 36 hours, left by a qmail-queue that was killed)
//! are removed.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use queue::layout;

use crate::proto::{CleanDecoder, CleanRequest};

/// qmail-send's `OSSIFIED`: 36 hours, longer than qmail-queue may live.
pub const OSSIFIED: i64 = 129_600;

/// Remove `pid/*` files whose atime is 36 hours old.
pub fn clean_pid(queue: &Path, now: i64) {
    let Ok(dir) = fs::read_dir(queue.join("pid")) else {
        return;
    };
    for e in dir.flatten() {
        let p = e.path();
        if let Ok(st) = fs::metadata(&p)
            && now >= st.atime() + OSSIFIED
        {
            let _ = fs::remove_file(&p);
        }
    }
}

fn unlink(p: &Path) -> bool {
    match fs::remove_file(p) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// The answer to one request.
pub fn answer(queue: &Path, req: Option<CleanRequest>) -> u8 {
    match req {
        None => b'x',
        Some(CleanRequest::Foop(id)) => {
            if unlink(&queue.join(layout::intd(id))) && unlink(&queue.join(layout::mess(id))) {
                b'+'
            } else {
                b'!'
            }
        }
        Some(CleanRequest::Todo(id)) => {
            if unlink(&queue.join(layout::intd(id))) && unlink(&queue.join(layout::todo(id))) {
                b'+'
            } else {
                b'!'
            }
        }
    }
}

/// Serve requests until `input` ends. An answer that cannot be written is
/// exit 100, as in qmail.
pub fn run(queue: &Path, mut input: impl Read, mut output: impl Write) -> i32 {
    let mut decoder = CleanDecoder::new();
    let mut buf = [0u8; 1024];
    let mut loops = 0;
    let mut reqs = Vec::new();
    loop {
        if loops == 0 {
            clean_pid(queue, control::datetime::now_secs());
            loops = 30;
        }
        let n = match input.read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return 0,
        };
        decoder.feed(&buf[..n], &mut reqs);
        for req in reqs.drain(..) {
            loops -= 1;
            if output
                .write_all(&[answer(queue, req)])
                .and_then(|()| output.flush())
                .is_err()
            {
                return 100;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_remove_their_files() {
        let d = tempfile::tempdir().unwrap();
        let q = d.path();
        layout::create(q, None).unwrap();
        fs::write(q.join(layout::intd(24)), "x").unwrap();
        fs::write(q.join(layout::todo(24)), "x").unwrap();
        fs::write(q.join(layout::mess(24)), "x").unwrap();
        fs::write(q.join("pid/1.2.3"), "x").unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        fs::File::options()
            .write(true)
            .open(q.join("pid/1.2.3"))
            .unwrap()
            .set_times(fs::FileTimes::new().set_accessed(old).set_modified(old))
            .unwrap();
        fs::write(q.join("pid/4.5.6"), "fresh").unwrap();
        let mut out = Vec::new();
        let input: &[u8] = b"todo/24\0foop/24\0foop/24\0bad\0";
        assert_eq!(run(q, input, &mut out), 0);
        assert_eq!(out, b"+++x");
        assert!(!q.join(layout::todo(24)).exists());
        assert!(!q.join(layout::mess(24)).exists());
        assert!(!q.join("pid/1.2.3").exists());
        assert!(q.join("pid/4.5.6").exists());
    }
}
