//! stdin through a [`Filter`] to stdout; 111 on a read or write error,
//! as 0.88's `_exit(111)`.

use std::io::{Read, Write};

use crate::crlf::Filter;

pub fn run(f: &mut dyn Filter) -> i32 {
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; 8192];
    let mut out = Vec::with_capacity(16384);
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 111,
        };
        out.clear();
        if n == 0 {
            f.finish(&mut out);
        } else {
            f.feed(&buf[..n], &mut out);
        }
        if stdout
            .write_all(&out)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return 111;
        }
        if n == 0 {
            return 0;
        }
    }
}
