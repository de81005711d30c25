//! splogger: log lines from stdin to syslog.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use setup::syslog::{LOG_MAIL, Lines, Syslog, datagram, stamp_now};

fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let tag = args
        .first()
        .map_or_else(|| b"splogger".to_vec(), |a| a.as_bytes().to_vec());
    let facility = match args.get(1) {
        Some(f) => control::file::parse_ulong(f.as_bytes()).unwrap_or(0) as u32 * 8,
        None => LOG_MAIL,
    };
    let mut log = Syslog::new();
    let mut lines = Lines::new();
    let mut stamp = stamp_now;
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for m in lines.feed(&buf[..n], &mut stamp) {
            log.send(&datagram(facility, &tag, &m));
        }
    }
    if let Some(m) = lines.flush(&mut stamp) {
        log.send(&datagram(facility, &tag, &m));
    }
}
