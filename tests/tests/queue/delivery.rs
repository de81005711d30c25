//! The queue end to end: qmail-queue, qmail-start and its daemons,
//! delivering through our real qmail-local into Maildirs and through
//! stand-in programs, with qmail-send's log checked line by line.
//!
//! Mode: the one-folder (non-root) mode throughout: as root the whole
//! system runs as nobody (see `queue_support`).

use std::fs;
use std::time::Duration;

use super::support::System;

const T: Duration = Duration::from_secs(30);

fn message(n: usize) -> Vec<u8> {
    format!("From: alice@example.org\nTo: joe@test.example\nSubject: test {n}\n\nbody {n}\n")
        .into_bytes()
}

#[test]
fn a_queued_message_lands_in_the_maildir_byte_for_byte() {
    let mut s = System::new();
    s.start_delivering_to_maildir("joe");
    let msg = message(1);
    assert_eq!(
        s.inject("alice@example.org", &["joe@test.example"], &msg),
        0
    );
    let got = e2e::poll_until(T, || {
        let d = s.delivered("joe");
        (!d.is_empty()).then_some(d)
    })
    .expect("delivered");
    assert_eq!(got.len(), 1);
    let text = String::from_utf8(got[0].clone()).unwrap();
    let mut lines = text.splitn(4, '\n');
    assert_eq!(lines.next(), Some("Return-Path: <alice@example.org>"));
    assert_eq!(lines.next(), Some("Delivered-To: joe@test.example"));
    let received = lines.next().unwrap();
    assert!(
        received.starts_with("Received: (qmail ")
            && received.contains(" invoked by uid ")
            && received.ends_with(" -0000"),
        "{received}"
    );
    assert_eq!(lines.next().unwrap().as_bytes(), &msg[..]);

    assert!(s.wait_log("end msg ", T), "{:?}", s.log_lines());
    let log = s.log_lines();
    let id: u64 = log
        .iter()
        .find_map(|l| l.strip_prefix("new msg "))
        .unwrap()
        .parse()
        .unwrap();
    let size = received.len() + 1 + msg.len();
    let expect = [
        format!("new msg {id}"),
        format!("info msg {id}: bytes {size} from <alice@example.org> qp "),
        format!("starting delivery 1: msg {id} to local joe@test.example"),
        "status: local 1/10 remote 0/20".to_string(),
        "delivery 1: success: did_1+0+0/".to_string(),
        "status: local 0/10 remote 0/20".to_string(),
        format!("end msg {id}"),
    ];
    let mut at = 0;
    for e in &expect {
        let found = log[at..].iter().position(|l| l.starts_with(e.as_str()));
        assert!(found.is_some(), "no {e:?} after line {at} in {log:#?}");
        at += found.unwrap() + 1;
    }
    // Everything is cleaned up.
    e2e::poll_until(T, || (s.count("mess") == 0).then_some(())).expect("mess removed");
    // Idle means asleep: a busy loop (say, on a trigger fifo that stays
    // readable) would burn a second of CPU here.
    let pid = s.send.as_ref().unwrap().pid();
    let cpu = || {
        let st = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<&str> = st.rsplit_once(')').unwrap().1.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(1)); // measuring idleness, not waiting for an event
    assert!(cpu() - before < 20, "qmail-send used CPU while idle");
    assert_eq!(s.count("info"), 0);
    assert_eq!(s.count("local"), 0);
    assert_eq!(s.count("todo"), 0);
    assert_eq!(s.count("intd"), 0);
    s.stop();
    assert!(s.log_lines().last().unwrap() == "status: exiting");
}

#[test]
fn local_and_remote_recipients_go_their_ways() {
    let mut s = System::new();
    s.control("virtualdomains", "virt.example:joe\n");
    s.control("concurrencylocal", "3\n");
    s.control("concurrencyremote", "500\n"); // capped at the spawner's 120
    // Stand-ins that record their arguments.
    let rec = s.home.join("calls");
    fs::create_dir(&rec).unwrap();
    s.chown_all();
    s.script(
        "qmail-getpw",
        "printf 'joe\\0%s\\0%s\\0%s\\0-\\0%s\\0' \"$(id -u)\" \"$(id -g)\" \"$QMAILHOME/mail/joe\" \"$1\"",
    );
    s.script(
        "qmail-local",
        &format!(
            "echo \"local $*\" >> {rec}/log; cat > {rec}/msg.$$; echo did 0+0+1; exit 0",
            rec = rec.display()
        ),
    );
    s.script(
        "qmail-remote",
        &format!(
            "echo \"remote $*\" >> {rec}/log; cat > /dev/null; printf 'r\\0K127.0.0.1 accepted message.\\nRemote host said: 250 ok\\n\\0'",
            rec = rec.display()
        ),
    );
    s.start("./Maildir/");
    assert_eq!(
        s.inject(
            "list-@test.example-@[]",
            &[
                "info@virt.example",
                "bob@remote.example",
                "JOE@test.example"
            ],
            b"hi\n"
        ),
        0
    );
    assert!(s.wait_log("end msg ", T), "{:#?}", s.log_lines());
    let mut calls: Vec<String> = fs::read_to_string(rec.join("log"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            format!(
                "local -- joe {}/mail/joe JOE - JOE test.example list-JOE=test.example@test.example ./Maildir/",
                s.home.display()
            ),
            format!(
                "local -- joe {}/mail/joe joe-info - joe-info virt.example list-joe-info=virt.example@test.example ./Maildir/",
                s.home.display()
            ),
            "remote remote.example list-bob=remote.example@test.example bob@remote.example"
                .to_string(),
        ]
    );
    let log = s.log_lines().join("\n");
    assert!(log.contains("status: local 0/3 remote 0/120"), "{log}");
    assert!(log.contains("to remote bob@remote.example"), "{log}");
    assert!(
        log.contains(": success: 127.0.0.1_accepted_message./Remote_host_said:_250_ok/"),
        "{log}"
    );
    assert!(log.contains(": success: did_0+0+1/"), "{log}");
    s.stop();
}

#[test]
fn qmail_queue_refuses_bad_envelopes_and_leaves_nothing() {
    let s = System::new();
    assert_eq!(s.inject_raw(b"m\n", b"Xa\0\0"), 91);
    assert_eq!(s.inject_raw(b"m\n", b"Fa\0Tb"), 54);
    let mut long = b"Fa\0T".to_vec();
    long.extend(std::iter::repeat_n(b'x', 1003));
    long.extend_from_slice(b"\0\0");
    assert_eq!(s.inject_raw(b"m\n", &long), 11);
    for d in ["mess", "intd", "todo", "pid"] {
        assert_eq!(s.count(d), 0, "{d}");
    }
    // A good one, for contrast, shows in qmail-qstat and qmail-qread.
    assert_eq!(s.inject("a@b", &["c@d"], b"m\n"), 0);
    let out = s.command("qmail-qstat").output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "messages in queue: 1\nmessages in queue but not yet preprocessed: 1\n"
    );
}

#[test]
fn a_full_disk_is_a_temporary_error_and_no_truncated_message() {
    let Some(prlimit) = e2e::original("/usr/bin/prlimit") else {
        return;
    };
    let s = System::new();
    // A file size limit makes the write fail as a full disk would.
    let (er, mut ew) = std::io::pipe().unwrap();
    let mut cmd = std::process::Command::new(prlimit);
    cmd.arg("--fsize=4096")
        .arg(s.home.join("bin/qmail-queue"))
        .env_clear()
        .env("QMAILHOME", &s.home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::from(er));
    if let Some(uid) = s.uid {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(uid);
    }
    let mut p = e2e::Proc::spawn(&mut cmd).unwrap();
    let mut stdin = p.child.stdin.take().unwrap();
    let w = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&vec![b'x'; 100_000]);
    });
    use std::io::Write;
    let _ = ew.write_all(b"Fa@b\0Tc@d\0\0");
    drop(ew);
    let st = p.wait_timeout(T).unwrap();
    let _ = w.join();
    assert_eq!(st.code(), Some(53), "qq write error or disk full");
    for d in ["mess", "intd", "todo", "pid"] {
        assert_eq!(s.count(d), 0, "{d}");
    }
}

#[test]
fn the_logger_gets_the_log_and_bounces_go_through_qmailqueue() {
    let mut s = System::new();
    s.standin_delivery();
    // QMAILQUEUE (netqmail): qmail-send queues its bounces through it.
    let rec = s.home.join("qq-calls");
    s.script(
        "qq-filter",
        &format!(
            "echo called >> {}; exec \"$QMAILHOME/bin/qmail-queue\"",
            rec.display()
        ),
    );
    s.chown_all();
    s.start_with(
        &["./Mailbox", "sed", "-u", "s/^/logged: /"],
        &[("QMAILQUEUE", "bin/qq-filter")],
    );
    assert!(s.log_lines().iter().all(|l| l.starts_with("logged: ")));
    assert_eq!(
        s.inject("alice@test.example", &["hard@test.example"], b"x\n"),
        0
    );
    assert!(s.wait_log("logged: bounce msg ", T), "{:#?}", s.log_lines());
    assert!(e2e::poll_until(T, || (s.mailbox("alice").len() == 1).then_some(())).is_some());
    assert_eq!(fs::read_to_string(&rec).unwrap(), "called\n");
    s.stop();
}
