//! qmail-send's memory does not grow with the envelope: the todo file and
//! the channel files are read through a bounded buffer, recipient by
//! recipient, as qmail does (issue 10, item 4).
//!
//! Mode: one-folder (non-root). The spawners are stand-ins (a small
//! Python program speaking qmail-send's spawner protocol, answering `K`
//! at once), so twenty thousand deliveries take seconds, not a fork each.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use super::support::System;

/// A spawner that takes every command and reports success for it.
const SPAWNER: &str = r#"
import os
os.write(1, bytes([100]))
buf = b""
while True:
    data = os.read(0, 65536)
    if not data:
        break
    buf += data
    while buf:
        # <slot><messid>\0<sender>\0<recipient>\0
        end = 1
        for _ in range(3):
            end = buf.find(b"\0", end)
            if end < 0:
                break
            end += 1
        if end < 0:
            break
        os.write(1, bytes([buf[0]]) + b"Kdid 0+0+1/\n\0")
        buf = buf[end:]
"#;

/// A message file named by its inode number, as qmail-queue makes it.
fn mess(s: &System, text: &[u8]) -> u64 {
    let tmp = s.queue().join("pid/handmade");
    fs::write(&tmp, text).unwrap();
    let id = fs::metadata(&tmp).unwrap().ino();
    fs::hard_link(&tmp, s.queue().join(queue::layout::mess(id))).unwrap();
    fs::remove_file(&tmp).unwrap();
    id
}

/// Peak resident memory of a process, in kB.
fn vm_hwm(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_huge_envelope_is_delivered_in_bounded_memory() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        e2e::skip_missing("python3");
        return;
    }
    let mut s = System::new();
    for name in ["qmail-lspawn", "qmail-rspawn"] {
        e2e::script::executable(
            &s.home.join("bin").join(name),
            &format!("#!{}\n{SPAWNER}", python.display()),
        );
    }
    s.control("concurrencylocal", "100\n");
    s.control("concurrencyremote", "100\n");

    // 20,000 recipients of about 1,000 bytes each, half local, half
    // remote: a 20 MB todo file (more than qmail-queue will take, so it
    // is written directly).
    const EACH: usize = 10_000;
    let id = mess(&s, b"Subject: many\n\nhello\n");
    let mut todo = b"u1000\0p4242\0Fsender@test.example\0".to_vec();
    let pad = "x".repeat(960);
    for i in 0..EACH {
        todo.extend_from_slice(format!("Tl{i}-{pad}@test.example\0").as_bytes());
        todo.extend_from_slice(format!("Tr{i}-{pad}@remote.example\0").as_bytes());
    }
    assert!(todo.len() > 19_000_000);
    fs::write(s.queue().join(queue::layout::todo(id)), &todo).unwrap();
    drop(todo);
    s.chown_all();

    s.start("./Mailbox");
    let pid = s.send.as_ref().unwrap().pid();
    // Done when qmail-clean has removed the message (cheaper to watch than
    // sixty thousand log lines).
    let empty = || {
        ["todo", "info", "local", "remote", "mess"]
            .iter()
            .all(|d| s.count(d) == 0)
            .then_some(())
    };
    assert!(
        e2e::poll_until(Duration::from_secs(300), empty).is_some(),
        "not done: {} deliveries logged",
        s.log_count(": success: ")
    );
    let peak = vm_hwm(pid);
    eprintln!("qmail-send's peak RSS: {peak} kB");
    // The log reader may still be behind.
    assert!(s.wait_log(&format!("end msg {id}"), Duration::from_secs(60)));
    assert_eq!(s.log_count(": success: did_0+0+1//"), 2 * EACH);
    assert_eq!(s.log_count(" to local l"), EACH);
    assert_eq!(s.log_count(" to remote r"), EACH);
    s.stop();
    // Whole envelopes in memory cost over 40 MB here; recipient by
    // recipient it is under 3 MB of program and buffers.
    assert!(
        peak < 8 * 1024,
        "qmail-send's peak RSS was {peak} kB for a 20 MB envelope"
    );
}
