//! Postfix as a client relaying through us: a private Postfix (its own
//! config dir, queue and data under a temporary directory, no listener;
//! never the system's) with `relayhost = [127.0.0.1]:PORT`,
//! `smtp_tls_security_level = encrypt` and SASL (Cyrus's PLAIN/LOGIN
//! from libsasl2-modules) hands a message for an outside domain to our
//! qmail-smtpd under our tcpserver, which relays it only after AUTH: our
//! transaction log names TLS and the user. With a wrong password the
//! message is not relayed. Needs root (Postfix's master) and Postfix.

use e2e::postfix::{Client, sasl_modules};

use super::support::{JOE_PASSWORD, Opts, Server};

#[test]
fn postfix_relays_through_us_with_starttls_and_sasl() {
    if !sasl_modules() {
        return;
    }
    let srv = Server::start(Opts::default());
    let Some(pf) = Client::start(srv.addr.port(), "joe", JOE_PASSWORD) else {
        return;
    };
    pf.send(
        "joe@example.com",
        "friend@elsewhere.example",
        "through postfix",
    );
    // The transaction line comes after qmail-queue has exited: both of
    // the recording queue's files are whole then.
    let line = srv.wait_log(&["qmail-smtpd: tx ", "auth=joe", "result=250"]);
    let q = srv.wait_queued(1);
    let (msg, env) = &q[0];
    assert!(msg.contains("Subject: through postfix"), "{msg}");
    assert!(msg.contains("(joe@127.0.0.1)"), "{msg}");
    assert!(msg.contains(" with ESMTPSA (TLSv1."), "{msg}");
    assert!(env.contains("Tfriend@elsewhere.example\0"), "{env:?}");
    assert!(line.contains(" tls=TLSv1."), "{line}");
    assert!(
        line.contains("rcpt=<friend@elsewhere.example>:250"),
        "{line}"
    );
    pf.wait_log(&["status=sent", "relay=127.0.0.1[127.0.0.1]"]);
}

#[test]
fn postfix_with_a_wrong_password_relays_nothing() {
    if !sasl_modules() {
        return;
    }
    let srv = Server::start(Opts::default());
    let Some(pf) = Client::start(srv.addr.port(), "joe", "not the password") else {
        return;
    };
    pf.send(
        "joe@example.com",
        "friend@elsewhere.example",
        "wrong password",
    );
    // Postfix keeps it queued (smtp_sasl_auth_soft_bounce): the session
    // is over once it says so.
    pf.wait_log(&["SASL authentication failed"]);
    pf.wait_log(&["status=deferred", "SASL authentication failed"]);
    srv.wait_log(&["qmail-smtpd: auth failed user=joe"]);
    assert!(srv.queued().is_empty(), "{:?}", srv.queued());
}
