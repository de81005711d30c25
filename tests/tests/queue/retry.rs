//! Retries on qmail's schedule, queuelifetime, bounces in QSBMF, double
//! and triple bounces, SIGALRM and SIGHUP.
//!
//! The schedule is checked without waiting hours: qmail-send stores each
//! job's next attempt in the mtime of its channel file when it exits
//! (TERM), and takes the message's age from the mtime of its info file.
//! The test reads the stored time, then moves the message's birth back
//! ("time passes") and restarts; the next attempt must come at once and
//! the stored time must be the next square of the schedule.
//!
//! Mode: one-folder (non-root) throughout; deliveries go through stand-in
//! qmail-getpw and qmail-local scripts: a local part starting `soft`
//! fails temporarily (exit 111), `hard` permanently (exit 100), anything
//! else is written to `mail/<local>.<pid>` with its sender.

use std::path::PathBuf;
use std::time::Duration;

use super::support::{System, mtime, now, set_times};
use nix::sys::signal::Signal;

const T: Duration = Duration::from_secs(30);

fn system() -> System {
    let s = System::new();
    s.standin_delivery();
    s
}

fn mailbox(s: &System, local: &str) -> Vec<String> {
    s.mailbox(local)
}

fn only_id(s: &System) -> u64 {
    let ids = s.queued();
    assert_eq!(ids.len(), 1, "one message in the queue");
    ids[0]
}

fn info(s: &System, id: u64) -> PathBuf {
    s.queue().join(queue::layout::info(id))
}

fn local(s: &System, id: u64) -> PathBuf {
    s.queue()
        .join(queue::layout::channel(id, queue::layout::Channel::Local))
}

#[test]
fn deferrals_follow_the_schedule_across_restarts_then_expire_into_one_bounce() {
    let mut s = system();
    s.control("queuelifetime", "1000\n");
    s.start("./Mailbox");
    assert_eq!(
        s.inject(
            "alice@test.example",
            &["soft@test.example"],
            b"Subject: x\n\nhello\n"
        ),
        0
    );
    assert!(
        s.wait_log("delivery 1: deferral: Sorry,_try_later._(#4.3.0)/", T),
        "{:#?}",
        s.log_lines()
    );
    s.stop();
    let id = only_id(&s);
    let birth = mtime(&info(&s, id));
    // Attempt 1 at age 0: the next is at birth + 10^2 (qmail's
    // birth + (isqrt(age) + 10)^2, 10 being the local channel's skip). On
    // a loaded machine the attempt may start a second or more after the
    // birth: any age up to now is qmail's answer for some attempt time.
    let first = mtime(&local(&s, id));
    let ages = 0..=(now() - birth);
    assert!(
        ages.clone()
            .any(|age| first == birth + (age.isqrt() + 10).pow(2)),
        "next attempt at birth + {}, not birth + (isqrt(age) + 10)^2 for an age in {ages:?}",
        first - birth
    );

    // Restarted before its time, it waits: no attempt, and the stored
    // time survives the next TERM.
    let starts = s.log_count("starting delivery");
    s.start("./Mailbox");
    assert!(!s.wait_log_n("starting delivery", starts + 1, Duration::from_secs(2)));
    s.stop();
    assert_eq!(mtime(&local(&s, id)), first);

    // 100 s pass: attempt 2 at once, next at (2*10)^2 = 400 s of age.
    let b2 = now() - 100;
    set_times(&info(&s, id), b2);
    set_times(&local(&s, id), b2 + 100);
    let starts = s.log_count("starting delivery");
    s.start("./Mailbox");
    assert!(s.wait_log_n("deferral: Sorry,_try_later.", 2, T));
    assert_eq!(s.log_count("starting delivery"), starts + 1);
    s.stop();
    assert_eq!(mtime(&local(&s, id)), b2 + 400);

    // 300 s more: attempt 3 at age 400, next at 900.
    let b3 = now() - 400;
    set_times(&info(&s, id), b3);
    set_times(&local(&s, id), b3 + 400);
    s.start("./Mailbox");
    assert!(s.wait_log_n("deferral: Sorry,_try_later.", 3, T));
    s.stop();
    assert_eq!(mtime(&local(&s, id)), b3 + 900);

    // Past queuelifetime (1000 s): one more attempt, and its deferral
    // becomes a failure and a bounce.
    let b4 = now() - 1100;
    set_times(&info(&s, id), b4);
    set_times(&local(&s, id), b4 + 1100);
    s.start("./Mailbox");
    assert!(
        s.wait_log(
            "failure: Sorry,_try_later._(#4.3.0)/I'm_not_going_to_try_again;_this_message_has_been_in_the_queue_too_long./",
            T
        ),
        "{:#?}",
        s.log_lines()
    );
    assert!(s.wait_log(&format!("bounce msg {id} qp "), T));
    assert!(s.wait_log(&format!("end msg {id}"), T));
    let bounce = e2e::poll_until(T, || {
        let m = mailbox(&s, "alice");
        (!m.is_empty()).then_some(m)
    })
    .unwrap();
    assert_eq!(bounce.len(), 1, "one bounce");
    let b = &bounce[0];
    assert!(b.starts_with("sender <>\nReceived: (qmail "), "{b}");
    let body = b.split_once("\nDate: ").unwrap().1;
    let (date, rest) = body.split_once('\n').unwrap();
    assert!(date.ends_with(" -0000"));
    assert_eq!(
        rest.split("Return-Path: <alice@test.example>\n")
            .next()
            .unwrap(),
        "From: MAILER-DAEMON@test.example\n\
To: alice@test.example\n\
Subject: failure notice\n\
\n\
Hi. This is the qmail-send program at test.example.\n\
I'm afraid I wasn't able to deliver your message to the following addresses.\n\
This is a permanent error; I've given up. Sorry it didn't work out.\n\
\n\
<soft@test.example>:\n\
Sorry, try later. (#4.3.0)\n\
I'm not going to try again; this message has been in the queue too long.\n\
\n\
--- Below this line is a copy of the message.\n\
\n"
    );
    assert!(b.contains("Return-Path: <alice@test.example>\nReceived: (qmail "));
    assert!(b.ends_with("Subject: x\n\nhello\n"));
    // The bounce itself was delivered and everything is gone.
    assert!(s.wait_log_n("end msg ", 2, T));
    e2e::poll_until(T, || (s.count("mess") == 0).then_some(())).expect("queue empty");
    s.stop();
}

#[test]
fn remote_deferrals_use_the_remote_schedule() {
    let mut s = system();
    s.script("qmail-remote", "cat >/dev/null; printf 'ZSorry, I wasn'\\''t able to establish an SMTP connection. (#4.4.1)\\n\\0'");
    s.start("./Mailbox");
    assert_eq!(
        s.inject("alice@test.example", &["bob@remote.example"], b"x\n"),
        0
    );
    assert!(
        s.wait_log(
            "deferral: Sorry,_I_wasn't_able_to_establish_an_SMTP_connection._(#4.4.1)/",
            T
        ),
        "{:#?}",
        s.log_lines()
    );
    s.stop();
    let id = only_id(&s);
    let remote = s
        .queue()
        .join(queue::layout::channel(id, queue::layout::Channel::Remote));
    assert_eq!(mtime(&remote), mtime(&info(&s, id)) + 400, "(20k)^2, k=1");
}

#[test]
fn alrm_retries_now_and_hup_rereads_locals() {
    let mut s = system();
    s.start("./Mailbox");
    assert_eq!(
        s.inject("alice@test.example", &["soft@test.example"], b"x\n"),
        0
    );
    assert!(s.wait_log_n("deferral: ", 1, T));
    // ALRM: every job is due now (qmail-tcpok + svc -a).
    s.signal(Signal::SIGALRM);
    assert!(s.wait_log_n("deferral: ", 2, T), "{:#?}", s.log_lines());

    // HUP: a domain added to locals is local from then on.
    s.script(
        "qmail-remote",
        "cat >/dev/null; printf 'r\\0Kremote ok\\n\\0'",
    );
    assert_eq!(
        s.inject("alice@test.example", &["carol@new.example"], b"x\n"),
        0
    );
    assert!(s.wait_log("to remote carol@new.example", T));
    s.control("locals", "test.example\nnew.example\n");
    s.signal(Signal::SIGHUP);
    // qmail-send logs nothing for HUP: send until a message goes local.
    let went_local = e2e::poll_until(T, || {
        assert_eq!(
            s.inject("alice@test.example", &["carol@new.example"], b"y\n"),
            0
        );
        s.wait_log("to local carol@new.example", Duration::from_millis(500))
            .then_some(())
    });
    assert!(went_local.is_some(), "{:#?}", s.log_lines());
    s.stop();
}

#[test]
fn one_bounce_for_all_failures_then_double_and_triple_bounces() {
    let mut s = system();
    s.control("doublebounceto", "pm\n");
    s.start("./Mailbox");
    // Two recipients fail, one succeeds: one bounce naming both. The
    // sender's own address fails too, so the bounce bounces: a double
    // bounce to pm@test.example from #@[].
    assert_eq!(
        s.inject(
            "hardsender@test.example",
            &[
                "hard1@test.example",
                "ok@test.example",
                "hard2@test.example"
            ],
            b"Subject: orig\n\noriginal\n"
        ),
        0
    );
    let pm = e2e::poll_until(T, || {
        let m = mailbox(&s, "pm");
        (!m.is_empty()).then_some(m)
    })
    .unwrap_or_else(|| panic!("no double bounce: {:#?}", s.log_lines()));
    assert_eq!(pm.len(), 1);
    let d = &pm[0];
    assert!(d.starts_with("sender <#@[]>\n"), "{d}");
    assert!(d.contains("\nFrom: MAILER-DAEMON@test.example\nTo: pm@test.example\nSubject: failure notice\n\nHi. This is the qmail-send program at test.example.\nI tried to deliver a bounce message to this address, but the bounce bounced!\n\n<hardsender@test.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is the original bounce.\n\nReturn-Path: <>\n"), "{d}");
    // The original bounce inside lists both failed recipients once, in
    // the order their deliveries ended.
    let para = |r: &str| format!("\n<{r}>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n");
    assert_eq!(d.matches(&para("hard1@test.example")).count(), 1, "{d}");
    assert_eq!(d.matches(&para("hard2@test.example")).count(), 1, "{d}");
    assert!(d.contains("(#5.1.1)\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <hardsender@test.example>\n"), "{d}");
    assert!(d.ends_with("Subject: orig\n\noriginal\n"));
    assert_eq!(mailbox(&s, "ok").len(), 1);
    assert_eq!(s.log_count("bounce msg "), 2);
    assert!(s.wait_log_n("end msg ", 3, T));

    // Triple: the postmaster address fails as well: dropped, logged.
    s.control("doublebounceto", "hardpm\n");
    s.stop();
    s.start("./Mailbox");
    assert_eq!(
        s.inject("hardsender@test.example", &["hard1@test.example"], b"x\n"),
        0
    );
    assert!(
        s.wait_log("triple bounce: discarding bounce/", T),
        "{:#?}",
        s.log_lines()
    );
    e2e::poll_until(T, || {
        (s.count("mess") == 0 && s.count("bounce") == 0).then_some(())
    })
    .expect("queue empty");
    s.stop();
}
