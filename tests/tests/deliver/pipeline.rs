//! The whole local path: qmail-inject -> qmail-queue -> qmail-send ->
//! qmail-lspawn -> qmail-getpw -> qmail-local -> a Maildir, in the
//! one-folder mode (as root, everything runs as nobody in a home nobody
//! owns), and a bounce for a local user who does not exist.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use e2e::pipeline::{System, give_away};

#[test]
fn echo_to_joe_pipe_qmail_inject_reaches_the_maildir() {
    let sys = System::start();
    sys.inject(&[], "to: joe\nSubject: through the queue\n\nhello\n");
    let mail = sys.wait_for_mail(1);
    let m = &mail[0];
    assert!(
        m.starts_with(
            "Return-Path: <joe@mail.example.com>\nDelivered-To: joe@mail.example.com\nReceived: (qmail "
        ),
        "{m}"
    );
    assert!(m.contains("\nFrom: joe@mail.example.com\n"), "{m}");
    assert!(
        m.ends_with("\nto: joe@mail.example.com\nSubject: through the queue\n\nhello\n"),
        "{m}"
    );
}

#[test]
fn a_nonexistent_local_user_bounces_to_the_sender() {
    let sys = System::start();
    sys.inject(
        &["nosuchuser@mail.example.com"],
        "Subject: lost\n\nwhere?\n",
    );
    let mail = sys.wait_for_mail(1);
    let m = &mail[0];
    assert!(
        m.starts_with("Return-Path: <>\nDelivered-To: joe@mail.example.com\n"),
        "{m}"
    );
    assert!(
        m.contains("Hi. This is the qmail-send program at mail.example.com."),
        "{m}"
    );
    assert!(
        m.contains(
            "<nosuchuser@mail.example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n"
        ),
        "{m}"
    );
    assert!(m.contains("Subject: lost\n\nwhere?\n"), "{m}");
}

#[test]
fn sendmail_t_reaches_the_maildir() {
    let sys = System::start();
    // Bcc goes to joe's extension "copy", delivered to the same Maildir.
    let copy = sys.root.join("mail/joe/.qmail-copy");
    fs::write(&copy, "./Maildir/\n").unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o644)).unwrap();
    give_away(&copy);
    sys.submit(
        "sendmail",
        &["-t", "-oi", "-f", "boss@mail.example.com", "-F", "The Boss"],
        "To: joe@mail.example.com\nBcc: joe-copy@mail.example.com\nSubject: memo\n\n.\nbody\n",
    );
    let mail = sys.wait_for_mail(2);
    let rp = "Return-Path: <boss@mail.example.com>\n";
    assert!(
        mail.iter()
            .any(|m| m.starts_with(&format!("{rp}Delivered-To: joe@mail.example.com\n")))
    );
    assert!(
        mail.iter()
            .any(|m| m.starts_with(&format!("{rp}Delivered-To: joe-copy@mail.example.com\n")))
    );
    for m in &mail {
        assert!(
            m.contains("\nFrom: \"The Boss\" <boss@mail.example.com>\n"),
            "{m}"
        );
        assert!(!m.contains("Bcc"), "{m}");
        assert!(m.ends_with("\nSubject: memo\n\n.\nbody\n"), "{m}");
    }
}

#[test]
fn a_dot_qmail_forward_goes_back_through_the_queue() {
    let sys = System::start();
    let fwd = sys.root.join("mail/joe/.qmail-fwd");
    fs::write(&fwd, "&joe@mail.example.com\n").unwrap();
    fs::set_permissions(&fwd, fs::Permissions::from_mode(0o644)).unwrap();
    give_away(&fwd);
    sys.inject(&["joe-fwd@mail.example.com"], "Subject: fwd\n\nforwarded\n");
    let mail = sys.wait_for_mail(1);
    let m = &mail[0];
    // The forwarded copy keeps the original sender and carries both
    // Delivered-To lines, the newest first.
    assert!(
        m.starts_with(
            "Return-Path: <joe@mail.example.com>\nDelivered-To: joe@mail.example.com\n\
             Received: (qmail "
        ),
        "{m}"
    );
    assert!(
        m.contains("\nDelivered-To: joe-fwd@mail.example.com\nReceived: (qmail "),
        "{m}"
    );
    assert!(m.ends_with("Subject: fwd\n\nforwarded\n"), "{m}");
}
