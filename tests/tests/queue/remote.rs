//! Remote deliveries through the real qmail-remote: qmail-send ->
//! qmail-rspawn -> qmail-remote -> an SMTP server this test runs on
//! 127.0.0.1 (reached through control/smtproutes, no DNS).
//!
//! Mode: one-folder (non-root).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::support::System;

const T: Duration = Duration::from_secs(30);

/// A minimal SMTP server: answers every connection, refusing recipients
/// whose address starts with `bad`, and keeps the message bodies.
struct Server {
    port: u16,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn server() -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let _ = conn.set_read_timeout(Some(T));
            let mut w = conn.try_clone().unwrap();
            let mut r = BufReader::new(conn);
            let _ = w.write_all(b"220 fake ESMTP\r\n");
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let cmd = line.to_ascii_uppercase();
                let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                    b"250 fake\r\n"
                } else if cmd.starts_with("MAIL") {
                    b"250 ok\r\n"
                } else if cmd.starts_with("RCPT") {
                    if cmd.contains("<BAD") {
                        b"550 no such user\r\n"
                    } else {
                        b"250 ok\r\n"
                    }
                } else if cmd.starts_with("DATA") {
                    let _ = w.write_all(b"354 go\r\n");
                    let mut body = Vec::new();
                    loop {
                        let mut l = Vec::new();
                        if r.read_until(b'\n', &mut l).unwrap_or(0) == 0 || l == b".\r\n" {
                            break;
                        }
                        body.extend_from_slice(&l);
                    }
                    b.lock().unwrap().push(body);
                    b"250 ok queued\r\n"
                } else if cmd.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"502 what\r\n"
                };
                let _ = w.write_all(reply);
            }
        }
    });
    Server { port, bodies }
}

#[test]
fn remote_recipients_go_out_through_qmail_remote() {
    let srv = server();
    let mut s = System::new();
    s.standin_delivery();
    s.real("qmail-remote");
    s.control(
        "smtproutes",
        &format!("remote.example:127.0.0.1:{}\n", srv.port),
    );
    s.start("./Mailbox");

    let msg = b"Subject: out\n\nto the world\n";
    assert_eq!(
        s.inject("alice@test.example", &["bob@remote.example"], msg),
        0
    );
    assert!(
        s.wait_log(
            "success: 127.0.0.1_accepted_message./Remote_host_said:_250_ok_queued/",
            T
        ),
        "{:#?}",
        s.log_lines()
    );
    let body = srv.bodies.lock().unwrap()[0].clone();
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with("Received: (qmail "), "{text}");
    assert!(
        text.ends_with("\r\nSubject: out\r\n\r\nto the world\r\n"),
        "{text}"
    );

    // A refused recipient bounces with qmail-remote's words.
    assert_eq!(
        s.inject("alice@test.example", &["bad@remote.example"], msg),
        0
    );
    assert!(
        s.wait_log(
            "failure: 127.0.0.1_does_not_like_recipient./Remote_host_said:_550_no_such_user/Giving_up_on_127.0.0.1./",
            T
        ),
        "{:#?}",
        s.log_lines()
    );
    let bounce = e2e::poll_until(T, || {
        let m = s.mailbox("alice");
        (!m.is_empty()).then_some(m)
    })
    .unwrap();
    assert!(
        bounce[0].contains("<bad@remote.example>:\n127.0.0.1 does not like recipient.\nRemote host said: 550 no such user\nGiving up on 127.0.0.1.\n\n"),
        "{}",
        bounce[0]
    );
    s.stop();
}
