//! bouncesaying and forward through the whole system, in the one-folder
//! mode: qmail-inject -> qmail-queue -> qmail-send -> qmail-lspawn ->
//! qmail-local, which runs the helper from a .qmail file (found on PATH,
//! as a site's bin/ would be); the bounce comes back to the sender, the
//! forwarded copy reaches another user's Maildir. The system is
//! `e2e::pipeline`'s.

use std::fs;

use e2e::pipeline::System;

#[test]
fn bouncesaying_in_a_dot_qmail_bounces_to_the_sender() {
    let sys = System::start();
    sys.dot_qmail(
        "joe",
        ".qmail-closed",
        "|bouncesaying 'This address is closed.'\n",
    );
    sys.inject(
        &["joe-closed@mail.example.com"],
        "Subject: anyone?\n\nhello\n",
    );
    let mail = sys.wait_for_mail(1);
    let m = &mail[0];
    assert!(
        m.starts_with("Return-Path: <>\nDelivered-To: joe@mail.example.com\n"),
        "{m}"
    );
    assert!(
        m.contains("<joe-closed@mail.example.com>:\nThis address is closed.\n"),
        "{m}"
    );
    assert!(m.contains("Subject: anyone?\n\nhello\n"), "{m}");
}

#[test]
fn forward_in_a_dot_qmail_reaches_another_maildir() {
    let sys = System::start();
    sys.dot_qmail("joe", ".qmail-fwd", "|forward bob@mail.example.com\n");
    sys.inject(
        &["joe-fwd@mail.example.com"],
        "Subject: for bob\n\nforwarded\n",
    );
    let mail = sys.wait_for_mail_of("bob", 1);
    let m = &mail[0];
    // forward's envelope sender is NEWSENDER (the original sender here);
    // its copy carries joe-fwd's Delivered-To line under bob's.
    assert!(
        m.starts_with(
            "Return-Path: <joe@mail.example.com>\nDelivered-To: bob@mail.example.com\nReceived: (qmail "
        ),
        "{m}"
    );
    assert!(
        m.contains("\nDelivered-To: joe-fwd@mail.example.com\n"),
        "{m}"
    );
    assert!(m.ends_with("Subject: for bob\n\nforwarded\n"), "{m}");
    assert_eq!(
        fs::read_dir(sys.root.join("mail/joe/Maildir/new"))
            .unwrap()
            .count(),
        0
    );
}
