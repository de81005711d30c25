//! qmail-remote's routing through DNS: MX preference order, the
//! implicit MX, NXDOMAIN and SERVFAIL, null MX, the self-MX check,
//! smtproutes relays by name, CNAMEs, AAAA and the shuffle among equal
//! preferences. All lookups go to a DNS server the test runs on
//! loopback (named in `control/resolvers`).
//!
//! MX hosts live on 127.0.0.2 and up (127.0.0.1 is an interface
//! address, so it counts as "me"), all on one port; `domain::port` in
//! smtproutes says "MX as usual, but on this port".

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

use super::support::{Fake, FakeServer, Home, MESSAGE, crlf, show};
use e2e::dns::{DnsServer, Zone};

fn lo(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// Fake servers on 127.0.0.N for each N in `hosts`, all on one port.
fn servers(hosts: &[u8]) -> (Vec<FakeServer>, u16) {
    for _ in 0..20 {
        let first = TcpListener::bind(SocketAddr::new(IpAddr::V4(lo(hosts[0])), 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let mut listeners = vec![first];
        for &h in &hosts[1..] {
            match TcpListener::bind(SocketAddr::new(IpAddr::V4(lo(h)), port)) {
                Ok(l) => listeners.push(l),
                Err(_) => break,
            }
        }
        if listeners.len() == hosts.len() {
            let servers = listeners
                .into_iter()
                .map(|l| FakeServer::on(l, vec![Fake::default()]))
                .collect();
            return (servers, port);
        }
    }
    panic!("no port free on all of {hosts:?}");
}

fn home_with(dns: &DnsServer, routes: &str) -> Home {
    let home = Home::new();
    home.control("resolvers", &format!("{}\n", dns.addr()));
    home.control("smtproutes", routes);
    home
}

const ARGS: [&str; 3] = ["example.test", "a@example.org", "b@example.test"];

#[test]
fn mx_lookup_and_delivery() {
    let (s, port) = servers(&[2]);
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 10, "mx.example.test")
            .a("mx.example.test", lo(2)),
    )
    .unwrap();
    let home = home_with(&dns, &format!("example.test::{port}\n"));
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "r\\0K127.0.0.2 accepted message.\nRemote host said: 250 ok 12345 queued\n\\0"
    );
    assert_eq!(
        s[0].wait_for(1)[0].body.as_deref(),
        Some(&crlf(MESSAGE)[..])
    );
    let q = dns.queries();
    assert!(q.contains(&("example.test".into(), 15)), "MX asked: {q:?}");
    assert!(q.contains(&("mx.example.test".into(), 1)), "A asked: {q:?}");
}

#[test]
fn lower_preference_first_and_the_next_mx_when_one_is_down() {
    let (s, port) = servers(&[2, 4]);
    let routes = format!("example.test::{port}\n");
    // mx-a (127.0.0.2) preferred.
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 20, "mx-b.test")
            .mx("example.test", 10, "mx-a.test")
            .a("mx-a.test", lo(2))
            .a("mx-b.test", lo(4)),
    )
    .unwrap();
    let out = home_with(&dns, &routes).run(&ARGS, MESSAGE);
    assert!(show(&out).contains("K127.0.0.2 accepted"), "{}", show(&out));
    // mx-b (127.0.0.4) preferred.
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 10, "mx-b.test")
            .mx("example.test", 20, "mx-a.test")
            .a("mx-a.test", lo(2))
            .a("mx-b.test", lo(4)),
    )
    .unwrap();
    let out = home_with(&dns, &routes).run(&ARGS, MESSAGE);
    assert!(show(&out).contains("K127.0.0.4 accepted"), "{}", show(&out));
    assert_eq!(s[0].seen().len(), 1);
    assert_eq!(s[1].seen().len(), 1);
    // The best MX refuses connections (nothing on 127.0.0.3): the next.
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 5, "dead.test")
            .mx("example.test", 10, "mx-a.test")
            .a("dead.test", lo(3))
            .a("mx-a.test", lo(2)),
    )
    .unwrap();
    let out = home_with(&dns, &routes).run(&ARGS, MESSAGE);
    assert!(show(&out).contains("K127.0.0.2 accepted"), "{}", show(&out));
}

#[test]
fn equal_preferences_are_shuffled() {
    let (s, port) = servers(&[2, 4]);
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 10, "mx-a.test")
            .mx("example.test", 10, "mx-b.test")
            .a("mx-a.test", lo(2))
            .a("mx-b.test", lo(4)),
    )
    .unwrap();
    let home = home_with(&dns, &format!("example.test::{port}\n"));
    // 16 runs: both servers get mail unless the shuffle is broken (the
    // chance of one of them getting none is 2^-15).
    for _ in 0..16 {
        let out = home.run(&ARGS, MESSAGE);
        assert!(show(&out).starts_with("r\\0K"));
    }
    let (a, b) = (s[0].seen().len(), s[1].seen().len());
    assert_eq!(a + b, 16);
    assert!(a > 0 && b > 0, "127.0.0.2 got {a}, 127.0.0.4 got {b}");
}

#[test]
fn no_mx_means_the_hosts_own_address() {
    let (_s, port) = servers(&[2]);
    let dns = DnsServer::start(Zone::new().a("example.test", lo(2))).unwrap();
    let out = home_with(&dns, &format!("example.test::{port}\n")).run(&ARGS, MESSAGE);
    assert!(show(&out).contains("K127.0.0.2 accepted"), "{}", show(&out));
}

#[test]
fn mx_through_a_cname() {
    let (_s, port) = servers(&[2]);
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 10, "mx.example.test")
            .cname("mx.example.test", "real.example.test")
            .a("real.example.test", lo(2)),
    )
    .unwrap();
    let out = home_with(&dns, &format!("example.test::{port}\n")).run(&ARGS, MESSAGE);
    assert!(show(&out).contains("K127.0.0.2 accepted"), "{}", show(&out));
}

#[test]
fn dns_failures_map_to_qmails_texts() {
    let dns = DnsServer::start(
        Zone::new()
            .servfail("soft.test")
            .mx("softmx.test", 10, "broken-mx.test")
            .servfail("broken-mx.test")
            .mx("nullmx.test", 0, ".")
            .mx("gone.test", 10, "nx-mx.test"),
    )
    .unwrap();
    let home = home_with(&dns, "");
    let run = |host: &str| show(&home.run(&[host, "a@example.org", "b@x"], MESSAGE));
    assert_eq!(
        run("nx.test"),
        "DSorry, I couldn't find any host named nx.test. (#5.1.2)\n\\0"
    );
    assert_eq!(
        run("soft.test"),
        "ZSorry, I couldn't find any host by that name. (#4.1.2)\n\\0"
    );
    assert_eq!(
        run("softmx.test"),
        "ZSorry, I couldn't find any host by that name. (#4.1.2)\n\\0"
    );
    assert_eq!(
        run("nullmx.test"),
        "DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n\\0"
    );
    assert_eq!(
        run("gone.test"),
        "DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n\\0"
    );
}

#[test]
fn our_own_mx_is_never_used() {
    let (s, port) = servers(&[2]);
    let routes = format!("example.test::{port}\n");
    // We (127.0.0.1) are the best MX: nothing better is left.
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 10, "us.test")
            .mx("example.test", 20, "other.test")
            .a("us.test", lo(1))
            .a("other.test", lo(2)),
    )
    .unwrap();
    let out = home_with(&dns, &routes).run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "DSorry. Although I'm listed as a best-preference MX or A for that host,\n\
         it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n\\0"
    );
    // Without MX, an A record that is ours: the same.
    let dns = DnsServer::start(Zone::new().a("example.test", lo(1))).unwrap();
    let out = home_with(&dns, &routes).run(&ARGS, MESSAGE);
    assert!(show(&out).starts_with("DSorry. Although I'm listed"));
    // A better MX than us is used.
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 5, "other.test")
            .mx("example.test", 10, "us.test")
            .a("us.test", lo(1))
            .a("other.test", lo(2)),
    )
    .unwrap();
    let out = home_with(&dns, &routes).run(&ARGS, MESSAGE);
    assert!(show(&out).contains("K127.0.0.2 accepted"), "{}", show(&out));
    assert_eq!(s[0].seen().len(), 1);
}

#[test]
fn an_smtproutes_relay_by_name_skips_mx_and_the_self_check() {
    let fake = FakeServer::start(Fake::default()); // on 127.0.0.1, which is us
    let dns = DnsServer::start(
        Zone::new()
            .mx("example.test", 10, "elsewhere.test")
            .a("relay.test", lo(1)),
    )
    .unwrap();
    let home = home_with(&dns, &format!(".test:relay.test:{}\n", fake.addr.port()));
    let out = home.run(&ARGS, MESSAGE);
    assert!(show(&out).contains("K127.0.0.1 accepted"), "{}", show(&out));
    let q = dns.queries();
    assert!(
        !q.iter().any(|(_, t)| *t == 15),
        "no MX lookup for a relay: {q:?}"
    );
}

#[test]
fn aaaa_records_are_used() {
    if !super::support::have_ipv6() {
        eprintln!("SKIPPED: [::1] is not available here");
        return;
    }
    let server = FakeServer::start_many("::1".parse().unwrap(), vec![Fake::default()]);
    let dns = DnsServer::start(Zone::new().aaaa("relay6.test", "::1".parse().unwrap())).unwrap();
    let home = home_with(
        &dns,
        &format!("example.test:relay6.test:{}\n", server.addr.port()),
    );
    let out = home.run(&ARGS, MESSAGE);
    assert_eq!(
        show(&out),
        "r\\0K::1 accepted message.\nRemote host said: 250 ok 12345 queued\n\\0"
    );
}
