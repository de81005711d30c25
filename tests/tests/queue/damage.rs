//! Damaged queue files: logged and set aside, never a crash or a loop,
//! while the rest of the queue keeps flowing.
//!
//! Mode: one-folder (non-root), stand-in deliveries (see
//! `super::support::System::standin_delivery`).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use super::support::System;

const T: Duration = Duration::from_secs(30);

/// A message file in the queue as qmail-queue would make it: its name is
/// its inode number. Returns the id.
fn mess(s: &System, text: &[u8]) -> u64 {
    let tmp = s.queue().join("pid/handmade");
    fs::write(&tmp, text).unwrap();
    let id = fs::metadata(&tmp).unwrap().ino();
    fs::hard_link(&tmp, s.queue().join(queue::layout::mess(id))).unwrap();
    fs::remove_file(&tmp).unwrap();
    id
}

fn write(s: &System, rel: &str, bytes: &[u8]) {
    fs::write(s.queue().join(rel), bytes).unwrap();
}

#[test]
fn damaged_files_are_set_aside_and_the_queue_flows_on() {
    let mut s = System::new();
    s.standin_delivery();
    // todo with an unknown record type.
    let bad_todo = mess(&s, b"x\n");
    write(
        &s,
        &queue::layout::todo(bad_todo),
        b"u1\0p2\0Fa@b\0Xjunk\0Tok1@test.example\0",
    );
    // todo without a sender.
    let no_from = mess(&s, b"x\n");
    write(
        &s,
        &queue::layout::todo(no_from),
        b"u1\0p2\0Tok1@test.example\0",
    );
    // info that is not F...\0, with a local recipient waiting.
    let bad_info = mess(&s, b"x\n");
    write(&s, &queue::layout::info(bad_info), b"garbage");
    write(
        &s,
        &queue::layout::channel(bad_info, queue::layout::Channel::Local),
        b"Tok2@test.example\0",
    );
    // A channel file with a damaged record after a good one.
    let bad_chan = mess(&s, b"Subject: half\n\n");
    write(&s, &queue::layout::info(bad_chan), b"Falice@test.example\0");
    write(
        &s,
        &queue::layout::channel(bad_chan, queue::layout::Channel::Local),
        b"Tok3@test.example\0Qgarbage\0Tok4@test.example\0",
    );
    // Names that are not message ids.
    write(&s, "todo/notanumber", b"junk");
    write(&s, "todo/12x", b"junk");
    s.chown_all();

    s.start("./Mailbox");
    let todo_warning =
        format!("warning: unknown record type in todo/{bad_todo}; message set aside");
    assert!(s.wait_log(&todo_warning, T), "{:#?}", s.log_lines());
    assert!(s.wait_log(
        &format!("warning: no sender in todo/{no_from}; message set aside"),
        T
    ));
    let info_warning = format!(
        "warning: damaged {}; message set aside",
        queue::layout::info(bad_info)
    );
    assert!(s.wait_log(&info_warning, T), "{:#?}", s.log_lines());
    let chan_warning = format!(
        "warning: unknown record type in {}!",
        queue::layout::channel(bad_chan, queue::layout::Channel::Local)
    );
    assert!(s.wait_log(&chan_warning, T), "{:#?}", s.log_lines());
    // The record before the damage was delivered.
    assert!(e2e::poll_until(T, || (s.mailbox("ok3").len() == 1).then_some(())).is_some());

    // The queue keeps working, and each trigger does not repeat the
    // warnings: several new messages come and go.
    for i in 0..5 {
        assert_eq!(
            s.inject(
                "alice@test.example",
                &["fresh@test.example"],
                format!("m{i}\n").as_bytes()
            ),
            0
        );
    }
    assert!(
        e2e::poll_until(T, || (s.mailbox("fresh").len() == 5).then_some(())).is_some(),
        "{:#?}",
        s.log_lines()
    );
    assert_eq!(s.log_count(&todo_warning), 1);
    assert_eq!(s.log_count(&info_warning), 1);
    assert_eq!(
        s.mailbox("ok1").len(),
        0,
        "nothing from a damaged todo was delivered"
    );
    assert_eq!(s.mailbox("ok2").len(), 0);
    // Set aside, not lost: the files are still there for the admin.
    assert!(s.queue().join(queue::layout::todo(bad_todo)).exists());
    assert!(s.queue().join(queue::layout::mess(bad_info)).exists());
    s.stop();
    assert_eq!(
        s.log_lines().last().map(String::as_str),
        Some("status: exiting")
    );
}

#[test]
fn a_second_qmail_send_refuses_to_start() {
    let mut s = System::new();
    s.start("./Mailbox");
    let out = s
        .command("qmail-start")
        .arg("./Mailbox")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("alert: cannot start: qmail-send is already running"),
        "{out:?}"
    );
    s.stop();
}

#[test]
fn missing_controls_stop_qmail_send_with_an_alert() {
    let s = System::new();
    fs::remove_file(s.home.join("control/me")).unwrap();
    fs::remove_file(s.home.join("control/locals")).unwrap();
    let out = s
        .command("qmail-start")
        .arg("./Mailbox")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "alert: cannot start: unable to read controls\n"
    );
}
