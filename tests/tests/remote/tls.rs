//! qmail-remote's opportunistic STARTTLS against a fake server that
//! speaks TLS (rustls, a certificate made for the test): TLS used when
//! offered, EHLO again under TLS, PIPELINING after TLS, SNI from the MX
//! name, a refused STARTTLS, and a broken handshake that falls back to
//! a second, plain connection.

use super::support::{Fake, FakeServer, Home, MESSAGE, Tls, crlf, show, tls_server_config};
use e2e::dns::{DnsServer, Zone};

const ARGS: [&str; 3] = ["example.test", "a@example.org", "b@example.test"];

fn tls_fake() -> Fake {
    Fake {
        tls: Tls::On,
        cert: Some(tls_server_config("mx.example.test")),
        ..Fake::default()
    }
}

#[test]
fn starttls_when_offered() {
    let server = FakeServer::start(tls_fake());
    let home = Home::new();
    home.route("example.test", server.addr);
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "r\\0K127.0.0.1 accepted message.\nRemote host said: 250 ok 12345 queued\n\\0"
    );
    let seen = server.wait_for(1);
    assert!(seen[0].tls, "the session was encrypted");
    assert_eq!(
        seen[0].commands,
        [
            "EHLO me.test",
            "STARTTLS",
            "EHLO me.test",
            "MAIL FROM:<a@example.org>",
            "RCPT TO:<b@example.test>",
            "DATA",
            "QUIT"
        ]
    );
    assert_eq!(seen[0].body.as_deref(), Some(&crlf(MESSAGE)[..]));
    assert_eq!(seen[0].sni, None, "no SNI for a relay given as an address");
}

#[test]
fn pipelining_under_tls_and_sni_from_the_mx_name() {
    let server = FakeServer::start_many(
        "127.0.0.2".parse().unwrap(),
        vec![Fake {
            pipelining: true,
            ..tls_fake()
        }],
    );
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 10, "mx.example.test")
            .a("mx.example.test", [127, 0, 0, 2].into()),
    )
    .unwrap();
    let home = Home::new();
    home.control("resolvers", &format!("{}\n", dns.addr()));
    home.control(
        "smtproutes",
        &format!("example.test::{}\n", server.addr.port()),
    );
    let out = home.run(&ARGS, MESSAGE);
    assert!(
        show(&out).starts_with("r\\0K127.0.0.2 accepted message."),
        "{}",
        show(&out)
    );
    let seen = server.wait_for(1);
    assert!(seen[0].tls);
    assert!(seen[0].pipelined, "{:?}", seen[0].commands);
    assert_eq!(seen[0].sni.as_deref(), Some("mx.example.test"));
}

#[test]
fn a_refused_starttls_goes_on_in_the_clear() {
    let server = FakeServer::start(Fake {
        tls: Tls::Refuse,
        ..Fake::default()
    });
    let home = Home::new();
    home.route("example.test", server.addr);
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).starts_with("r\\0K127.0.0.1 accepted message."));
    let seen = server.wait_for(1);
    assert!(!seen[0].tls);
    assert_eq!(
        &seen[0].commands[..3],
        ["EHLO me.test", "STARTTLS", "MAIL FROM:<a@example.org>"]
    );
}

#[test]
fn a_failed_handshake_delivers_without_tls_on_a_new_connection() {
    let server = FakeServer::start(Fake {
        tls: Tls::Broken,
        ..Fake::default()
    });
    let home = Home::new();
    home.route("example.test", server.addr);
    let out = home.run(&ARGS, MESSAGE);
    let text = show(&out);
    assert!(
        text.starts_with(
            "r\\0K127.0.0.1 accepted message.\nRemote host said: 250 ok 12345 queued\nTLS with 127.0.0.1 failed ("
        ),
        "{text}"
    );
    assert!(
        text.ends_with("), so I went on without TLS.\n\\0"),
        "{text}"
    );
    let seen = server.wait_for(2);
    assert_eq!(seen[0].commands, ["EHLO me.test", "STARTTLS"]);
    assert!(!seen[1].commands.iter().any(|c| c == "STARTTLS"));
    assert_eq!(seen[1].body.as_deref(), Some(&crlf(MESSAGE)[..]));
}
