//! qmail-remote's TLS policy and SIZE against fake servers:
//! - a destination listed in `control/tlsdestinations` gets verified
//!   TLS (chain to a trusted CA, here one named by `control/tlscafile`,
//!   and the host's name) or nothing: no STARTTLS (a server that never
//!   offered it, or a man in the middle that strips it), a refused
//!   STARTTLS, a failed handshake, an unknown CA or a wrong name are all
//!   deferrals, and the message is never sent in the clear;
//! - destinations not listed keep opportunistic TLS;
//! - SIZE (RFC 1870): `MAIL FROM:<...> SIZE=n` when offered, and a
//!   message over the server's limit bounces before MAIL.

use super::support::{Fake, FakeServer, Home, MESSAGE, TestCa, Tls, crlf, show, tls_server_config};
use e2e::dns::{DnsServer, Zone};

const ARGS: [&str; 3] = ["example.test", "a@example.org", "b@example.test"];

/// A home that routes example.test to `relay.test:port`, relay.test
/// being 127.0.0.1 in a test DNS server, trusting `ca`.
fn home_for(server: &FakeServer, dns: &DnsServer, ca: &TestCa, destinations: &str) -> Home {
    let home = Home::new();
    home.control("resolvers", &format!("{}\n", dns.addr()));
    home.control(
        "smtproutes",
        &format!("example.test:relay.test:{}\n", server.addr.port()),
    );
    std::fs::write(home.path().join("ca.pem"), &ca.cert_pem).unwrap();
    home.control("tlscafile", "ca.pem\n");
    home.control("tlsdestinations", destinations);
    home
}

fn dns() -> DnsServer {
    DnsServer::start(Zone::new().a("relay.test", [127, 0, 0, 1].into())).unwrap()
}

fn verified_fake(ca: &TestCa, names: &[&str]) -> Fake {
    Fake {
        tls: Tls::On,
        cert: Some(ca.server_config(names)),
        ..Fake::default()
    }
}

#[test]
fn a_verified_destination_with_a_good_certificate_is_delivered() {
    let ca = TestCa::new();
    let dns = dns();
    let server = FakeServer::start(verified_fake(&ca, &["relay.test"]));
    let port = server.addr.port();
    // Every spelling that covers this delivery: the relay's name, the
    // recipient's domain, a suffix, the wildcard, a name with the port.
    let lines = [
        "relay.test\n".to_string(),
        "example.test\n".into(),
        ".test\n".into(),
        "*\n".into(),
        format!("# comment\nRELAY.test:{port}\n"),
    ];
    for (n, line) in lines.iter().enumerate() {
        let home = home_for(&server, &dns, &ca, line);
        let out = home.run(&ARGS, MESSAGE);
        assert_eq!(
            show(&out),
            "r\\0K127.0.0.1 accepted message.\nRemote host said: 250 ok 12345 queued\n\\0",
            "tlsdestinations {line:?}"
        );
        let seen = server.wait_for(n + 1);
        assert!(seen[n].tls);
        assert_eq!(seen[n].sni.as_deref(), Some("relay.test"));
        assert_eq!(seen[n].body.as_deref(), Some(&crlf(MESSAGE)[..]));
    }
}

#[test]
fn a_downgrade_to_clear_text_is_refused() {
    let ca = TestCa::new();
    let dns = dns();
    // No STARTTLS in the EHLO reply (never offered, or stripped by a
    // man in the middle), STARTTLS refused, and an old HELO-only server.
    let cases = [
        (
            Fake::default(),
            "Zrelay.test (127.0.0.1) does not offer STARTTLS, and this destination gets mail only under verified TLS. (#4.7.0)\n\\0",
        ),
        (
            Fake {
                tls: Tls::Refuse,
                ..Fake::default()
            },
            "Zrelay.test (127.0.0.1) refused STARTTLS, and this destination gets mail only under verified TLS. (#4.7.0)\nRemote host said: 454 TLS not available\n\\0",
        ),
        (
            Fake {
                ehlo: None,
                ..Fake::default()
            },
            "Zrelay.test (127.0.0.1) does not offer STARTTLS, and this destination gets mail only under verified TLS. (#4.7.0)\n\\0",
        ),
    ];
    for (fake, want) in cases {
        let server = FakeServer::start(fake);
        let home = home_for(&server, &dns, &ca, "relay.test\n");
        let out = home.run(&ARGS, MESSAGE);
        assert_eq!(show(&out), want);
        let seen = server.wait_for(1);
        assert!(
            !seen[0].commands.iter().any(|c| c.starts_with("MAIL")),
            "{:?}",
            seen[0].commands
        );
        assert!(seen[0].body.is_none());
    }
}

#[test]
fn a_bad_certificate_or_handshake_is_a_deferral_not_a_fallback() {
    let ca = TestCa::new();
    let other_ca = TestCa::new();
    let dns = dns();
    let cases = [
        (
            verified_fake(&other_ca, &["relay.test"]),
            "invalid peer certificate",
        ),
        (
            Fake {
                tls: Tls::On,
                cert: Some(tls_server_config("relay.test")),
                ..Fake::default()
            },
            "invalid peer certificate",
        ),
        (
            verified_fake(&ca, &["other.test"]),
            "not valid for name \"relay.test\"",
        ),
        (
            Fake {
                tls: Tls::Broken,
                ..Fake::default()
            },
            "",
        ),
    ];
    for (fake, why) in cases {
        let server = FakeServer::start(fake);
        let home = home_for(&server, &dns, &ca, "relay.test\n");
        let out = home.run(&ARGS, MESSAGE);
        let text = show(&out);
        assert!(
            text.starts_with("ZTLS with relay.test (127.0.0.1) failed (")
                && text.contains(why)
                && text.ends_with(
                    "), and this destination gets mail only under verified TLS. (#4.7.5)\n\\0"
                ),
            "{text}"
        );
        let seen = server.wait_for(1);
        assert!(seen.iter().all(|s| s.body.is_none()));
        assert!(!seen[0].commands.iter().any(|c| c.starts_with("MAIL")));
    }
}

#[test]
fn destinations_not_listed_stay_opportunistic() {
    let ca = TestCa::new();
    let dns = dns();
    let server = FakeServer::start(Fake {
        tls: Tls::On,
        cert: Some(tls_server_config("self-signed.test")),
        ..Fake::default()
    });
    // Listed: another host, this relay on another port, a sibling domain.
    let home = home_for(
        &server,
        &dns,
        &ca,
        &format!(
            "other.test\nrelay.test:{}\n.relay.test\n",
            server.addr.port() ^ 1
        ),
    );
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).starts_with("r\\0K127.0.0.1 accepted message."));
    assert!(server.wait_for(1)[0].tls);
}

#[test]
fn size_is_declared_and_a_message_too_big_bounces_before_mail() {
    // 108 bytes as sent: 98 bytes and 10 line ends that become CRLF.
    let server = FakeServer::start(Fake {
        size: Some(10_000_000),
        pipelining: true,
        ..Fake::default()
    });
    let home = Home::new();
    home.route("example.test", server.addr);
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).starts_with("r\\0K127.0.0.1 accepted message."));
    let seen = server.wait_for(1);
    assert_eq!(seen[0].commands[1], "MAIL FROM:<a@example.org> SIZE=108");
    assert!(seen[0].pipelined);

    let server = FakeServer::start(Fake {
        size: Some(0),
        ..Fake::default()
    });
    home.route("example.test", server.addr);
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).starts_with("r\\0K127.0.0.1 accepted message."));
    assert_eq!(
        server.wait_for(1)[0].commands[1],
        "MAIL FROM:<a@example.org> SIZE=108",
        "SIZE 0 means no limit"
    );

    let server = FakeServer::start(Fake {
        size: Some(100),
        ..Fake::default()
    });
    home.route("example.test", server.addr);
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "DConnected to 127.0.0.1 but the message is too big for it: 108 bytes, it takes at most 100. (#5.3.4)\n\\0"
    );
    let seen = server.wait_for(1);
    assert_eq!(seen[0].commands, ["EHLO me.test", "QUIT"]);

    // Without SIZE in the EHLO reply, MAIL carries no parameter.
    let server = FakeServer::start(Fake::default());
    home.route("example.test", server.addr);
    home.run(&ARGS, MESSAGE);
    assert_eq!(
        server.wait_for(1)[0].commands[1],
        "MAIL FROM:<a@example.org>"
    );
}

/// A man in the middle: forwards one connection to `upstream`, and
/// drops every `STARTTLS` line from the server's EHLO replies.
fn stripping_proxy(
    upstream: std::net::SocketAddr,
) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        let server = std::net::TcpStream::connect(upstream).unwrap();
        let timeout = Some(super::support::STEP);
        client.set_read_timeout(timeout).unwrap();
        server.set_read_timeout(timeout).unwrap();
        let (mut c2s_in, mut c2s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let up = std::thread::spawn(move || {
            let _ = std::io::copy(&mut c2s_in, &mut c2s_out);
            let _ = c2s_out.shutdown(std::net::Shutdown::Write);
        });
        let mut from_server = BufReader::new(server);
        let mut to_client = client;
        let mut line = Vec::new();
        loop {
            line.clear();
            match from_server.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if line.len() > 4 && line[4..].to_ascii_uppercase().starts_with(b"STARTTLS") {
                continue;
            }
            if to_client.write_all(&line).is_err() {
                break;
            }
        }
        let _ = to_client.shutdown(std::net::Shutdown::Both);
        let _ = up.join();
    });
    (addr, t)
}

#[test]
fn a_man_in_the_middle_that_strips_starttls_gets_nothing() {
    let ca = TestCa::new();
    let dns = dns();
    let server = FakeServer::start(verified_fake(&ca, &["relay.test"]));
    let (proxy, thread) = stripping_proxy(server.addr);
    let home = Home::new();
    home.control("resolvers", &format!("{}\n", dns.addr()));
    home.control(
        "smtproutes",
        &format!("example.test:relay.test:{}\n", proxy.port()),
    );
    std::fs::write(home.path().join("ca.pem"), &ca.cert_pem).unwrap();
    home.control("tlscafile", "ca.pem\n");
    home.control("tlsdestinations", "example.test\n");
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "Zrelay.test (127.0.0.1) does not offer STARTTLS, and this destination gets mail only under verified TLS. (#4.7.0)\n\\0"
    );
    thread.join().unwrap();
    let seen = server.wait_for(1);
    assert_eq!(seen[0].commands, ["EHLO me.test", "QUIT"]);
    assert!(seen[0].body.is_none());

    // Without the policy the same man in the middle gets the message in
    // the clear: what tlsdestinations is for.
    let (proxy, thread) = stripping_proxy(server.addr);
    home.control("tlsdestinations", "other.test\n");
    home.control(
        "smtproutes",
        &format!("example.test:relay.test:{}\n", proxy.port()),
    );
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).starts_with("r\\0K127.0.0.1 accepted message."));
    thread.join().unwrap();
    let seen = server.wait_for(2);
    assert!(!seen[1].tls && seen[1].body.is_some());
}

#[test]
fn an_unreadable_ca_file_defers_verified_destinations_only() {
    let ca = TestCa::new();
    let dns = dns();
    let server = FakeServer::start(verified_fake(&ca, &["relay.test"]));
    let home = home_for(&server, &dns, &ca, "relay.test\n");
    home.control("tlscafile", "missing.pem\n");
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "ZUnable to read the CA file missing.pem that control/tlscafile names: file does not exist. (#4.3.0)\n\\0"
    );
    // Not listed: delivered as ever.
    home.control("tlsdestinations", "other.test\n");
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).starts_with("r\\0K127.0.0.1 accepted message."));
    let seen = server.wait_for(1);
    assert_eq!(seen.len(), 1, "no connection for the deferred delivery");
}
