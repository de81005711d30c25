//! tcpclient beside Debian's 0.88: usage and failures, the program's
//! environment and fds 6 and 7, names from a loopback DNS server, each
//! address of a name in turn, the x+y connect timeouts, ident; and, ours
//! only, IPv6 on [::1] with ucspi-tcp6's -4, -6 and -I.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::support::*;
use e2e::dns::Zone;
use e2e::net::unique_loopback;

/// The program tcpclient runs: its environment, then what it reads on
/// fd 6, then which fds it has open.
/// (The shell's own fds, 10 and up, are left out.)
const SHOW: &str = "env; echo ---; cat <&6; echo ---; for f in 0 1 2 3 4 5 6 7 8 9; do [ -e /proc/$$/fd/$f ] && echo $f; done; true";

fn tcpclient(path: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    run(path, args, env, b"")
}

/// `out` with `TCPLOCALPORT=n` (and TCP6LOCALPORT) replaced, and the
/// lines of the environment sorted out from the rest.
fn normal(o: &Out, port: u16) -> String {
    let t = o.out_text();
    t.split('\n')
        .map(|l| {
            let mut l = l.to_string();
            for k in ["TCPLOCALPORT=", "TCP6LOCALPORT="] {
                if l.starts_with(k) && l[k.len()..].chars().all(|c| c.is_ascii_digit()) {
                    l = format!("{k}LPORT");
                }
            }
            l.replace(&port.to_string(), "RPORT")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn usage_and_failures_match_debian() {
    let (ours, deb) = both("tcpclient");
    let port = free_port().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["127.0.0.1"],
        vec!["127.0.0.1", "25"],
        vec!["-x", "127.0.0.1", "25", "true"],
        vec!["-T"],
        vec!["-i", "zz", "127.0.0.1", "25", "true"],
        vec!["127.0.0.1", "no-such-service"],
        vec!["-RH", "127.0.0.1", &port, "true"],
        vec!["-q", "-RH", "127.0.0.1", &port, "true"],
        vec!["-q", "127.0.0.1", "no-such-service", "true"],
        vec!["-RHl0", "0", &port, "true"],
        vec!["-RHl0", "", &port, "true"],
    ];
    for args in &cases {
        let o = tcpclient(&ours, args, &[("DNSCACHEIP", "127.0.0.254")]);
        if let Some(d) = &deb {
            let d = tcpclient(d, args, &[("DNSCACHEIP", "127.0.0.254")]);
            assert_eq!(o, d, "{args:?}");
        }
    }
    let o = tcpclient(&ours, &["-RH", "127.0.0.1", &port, "true"], &[]);
    assert_eq!(
        (o.err_text(), o.code),
        (
            format!("tcpclient: unable to connect to 127.0.0.1 port {port}: connection refused\n"),
            Some(111)
        )
    );
    let o = tcpclient(&ours, &["127.0.0.1", "x"], &[]);
    assert_eq!(o.code, Some(111), "the port is judged before the program");
    assert_eq!(
        o.err_text(),
        "tcpclient: fatal: unable to figure out port number for x\n"
    );
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn environment_and_fds_match_debian() {
    let (ours, deb) = both("tcpclient");
    let srv = Responder::start("127.0.0.1:0".parse().unwrap(), b"ping\n", b"hello\r\n");
    let port = srv.addr.port().to_string();
    let prog = format!("echo ping >&7; {SHOW}");
    let env = [
        ("DNSCACHEIP", "127.0.0.254"),
        ("TCPREMOTEHOST", "stale"),
        ("FOO", "bar"),
    ];
    let args = ["-RHl0", "-v", "127.0.0.1", &port, "sh", "-c", &prog];
    let o = tcpclient(&ours, &args, &env);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(srv.requests.lock().unwrap()[0], b"ping\n");
    let text = normal(&o, srv.addr.port());
    let want_env = [
        "PROTO=TCP",
        "TCPLOCALPORT=LPORT",
        "TCPLOCALIP=127.0.0.1",
        "TCPLOCALHOST=0",
        "TCPREMOTEPORT=RPORT",
        "TCPREMOTEIP=127.0.0.1",
        "FOO=bar",
    ];
    for w in want_env {
        assert!(text.lines().any(|l| l == w), "{w} in {text}");
    }
    assert!(!text.contains("TCPREMOTEHOST"), "-H removes it: {text}");
    assert!(text.contains("---\nhello\r\n---\n0\n1\n2\n"), "{text}");
    assert!(text.ends_with("\n6\n7\n"), "fds 6 and 7 only: {text}");
    assert_eq!(
        o.err_text(),
        format!("tcpclient: connected to 127.0.0.1 port {port}\n")
    );
    if let Some(d) = deb {
        let d = tcpclient(&d, &args, &env);
        assert_eq!(
            text,
            normal(&d, srv.addr.port()),
            "same variables in the same order"
        );
        assert_eq!((o.stderr, o.code), (d.stderr, d.code));
    }
}

#[test]
fn names_from_dns_and_ident_match_debian() {
    let ip = unique_loopback();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (dns, debian_can) = dns(Zone::new()
        .a("srv.test", ip)
        .ptr(IpAddr::V4(ip), "Srv.EXAMPLE.test")
        .ptr(lo, "Local.Ex_ample.test")
        .a("nx-ptr.test", Ipv4Addr::new(127, 0, 0, 1)));
    let dnsip = dns.dnscacheip();
    let srv = Responder::start(SocketAddr::new(IpAddr::V4(ip), 0), b"", b"hi\r\n");
    let port = srv.addr.port().to_string();
    // An identd on the server's address: tcpclient asks it who we are.
    let identd = e2e::is_root().then(|| {
        Responder::start(
            SocketAddr::new(IpAddr::V4(ip), 113),
            b"\r\n",
            b"1 , 2 : USERID : UNIX : joe\r\n",
        )
    });
    let env = [("DNSCACHEIP", dnsip.as_str())];
    let (ours, deb) = both("tcpclient");
    let mut runs = vec![ours];
    if debian_can {
        runs.extend(deb);
    }
    let mut results = Vec::new();
    for p in &runs {
        let o = tcpclient(
            p,
            &["srv.test", &port, "sh", "-c", "env | grep ^TCP | sort"],
            &env,
        );
        results.push((normal(&o, srv.addr.port()), o.stderr, o.code));
    }
    let text = &results[0].0;
    assert!(text.contains("TCPREMOTEHOST=srv.example.test"), "{text}");
    assert!(text.contains(&format!("TCPREMOTEIP={ip}")), "{text}");
    if identd.is_some() {
        assert!(text.contains("TCPREMOTEINFO=joe"), "{text}");
    }
    for r in &results[1..] {
        assert_eq!(&results[0], r);
    }
    // A name without a PTR, a name without an address.
    for args in [
        &[
            "-R",
            "nx-ptr.test",
            &port,
            "sh",
            "-c",
            "env | grep ^TCP | sort",
        ][..],
        &["-RH", "nx.test", &port, "true"][..],
    ] {
        let r: Vec<(String, Vec<u8>, Option<i32>)> = runs
            .iter()
            .map(|p| {
                let o = tcpclient(p, args, &env);
                (normal(&o, srv.addr.port()), o.stderr, o.code)
            })
            .collect();
        if args[1] == "nx.test" {
            assert_eq!(r[0].1, b"tcpclient: fatal: no IP address for nx.test\n");
        }
        for x in &r[1..] {
            assert_eq!(&r[0], x, "{args:?}");
        }
    }
}

#[test]
fn each_address_of_a_name_is_tried_in_turn() {
    let (up, down1, down2) = (unique_loopback(), unique_loopback(), unique_loopback());
    let srv = Responder::start(SocketAddr::new(IpAddr::V4(up), 0), b"", b"");
    let port = srv.addr.port();
    let (dns, debian_can) = dns(Zone::new()
        .a("two.test", down1)
        .a("two.test", up)
        .a("dead.test", down1)
        .a("dead.test", down2));
    let env = [("DNSCACHEIP", dns.dnscacheip())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (ours, deb) = both("tcpclient");
    let mut impls = vec![ours];
    if debian_can {
        impls.extend(deb);
    }
    let ps = port.to_string();
    for p in &impls {
        // In random order, as djb's dns_sortip: run it a few times.
        for _ in 0..4 {
            let o = tcpclient(
                p,
                &["-RHl0", "two.test", &ps, "sh", "-c", "echo $TCPREMOTEIP"],
                &env,
            );
            assert_eq!(
                (o.out_text(), o.code),
                (format!("{up}\n"), Some(0)),
                "{p:?}"
            );
            let e = o.err_text();
            let refused = format!(
                "tcpclient: unable to connect to {down1} port {port}: connection refused\n"
            );
            assert!(e.is_empty() || e == refused, "{e}");
        }
        let o = tcpclient(p, &["-RHl0", "dead.test", &ps, "true"], &env);
        let mut lines: Vec<String> = o.err_text().lines().map(String::from).collect();
        lines.sort();
        let mut want: Vec<String> = [down1, down2]
            .iter()
            .map(|d| format!("tcpclient: unable to connect to {d} port {port}: connection refused"))
            .collect();
        want.sort();
        assert_eq!((lines, o.code), (want, Some(111)), "{p:?}");
    }
}

/// A listener whose accept queue is full, so a new connection attempt
/// gets no answer and times out.
fn unanswering() -> (socket2::Socket, Vec<std::net::TcpStream>, SocketAddr) {
    unanswering_on_port(0)
}

/// [`unanswering`] on a fresh address and the given port (0: any).
fn unanswering_on_port(port: u16) -> (socket2::Socket, Vec<std::net::TcpStream>, SocketAddr) {
    let ip = unique_loopback();
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(IpAddr::V4(ip), port).into())
        .unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    // Fill the queue: connects that complete until one would hang.
    for _ in 0..4 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(c) => fill.push(c),
            Err(_) => break,
        }
    }
    (s, fill, addr)
}

#[test]
fn connect_timeouts_match_debian() {
    let (_l, _fill, addr) = unanswering();
    let (ours, deb) = both("tcpclient");
    let port = addr.port().to_string();
    let host = addr.ip().to_string();
    for p in std::iter::once(ours).chain(deb) {
        // One address: x+y at once.
        let t = Instant::now();
        let o = tcpclient(&p, &["-RHl0", "-T", "1+1", &host, &port, "true"], &[]);
        let took = t.elapsed();
        assert_eq!(
            (o.err_text(), o.code),
            (
                format!("tcpclient: unable to connect to {host} port {port}: timed out\n"),
                Some(111)
            ),
            "{p:?}"
        );
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(10),
            "{took:?}"
        );
        // -T 1 is 1+0.
        let t = Instant::now();
        let o = tcpclient(&p, &["-RHl0", "-T1", &host, &port, "true"], &[]);
        assert_eq!(o.code, Some(111));
        assert!(
            t.elapsed() < Duration::from_millis(1900),
            "{:?}",
            t.elapsed()
        );
    }
}

#[test]
fn addresses_that_timed_out_are_tried_again() {
    // Two addresses that never answer, -T 1+1: each gets 1 s, then each
    // gets 1 s more, and only then is each reported (4 s in all).
    let (_l1, _f1, a1) = unanswering();
    let (_l2, _f2, a2) = unanswering_on_port(a1.port());
    let (dns, debian_can) = dns(Zone::new()
        .ip("slow.test", a1.ip())
        .ip("slow.test", a2.ip()));
    let dnsip = dns.dnscacheip();
    let env = [("DNSCACHEIP", dnsip.as_str())];
    let (ours, deb) = both("tcpclient");
    let mut impls = vec![ours];
    if debian_can {
        impls.extend(deb);
    }
    let port = a1.port().to_string();
    let outs: Vec<(Out, Duration)> = std::thread::scope(|s| {
        let hs: Vec<_> = impls
            .iter()
            .map(|p| {
                s.spawn(|| {
                    let t = Instant::now();
                    let args = ["-RHl0", "-T", "1+1", "slow.test", &port, "true"];
                    let o = tcpclient(p, &args, &env);
                    (o, t.elapsed())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (o, took) in &outs {
        let mut lines: Vec<String> = o.err_text().lines().map(String::from).collect();
        lines.sort();
        let mut want: Vec<String> = [a1.ip(), a2.ip()]
            .iter()
            .map(|ip| format!("tcpclient: unable to connect to {ip} port {port}: timed out"))
            .collect();
        want.sort();
        assert_eq!((lines, o.code), (want, Some(111)));
        assert!(
            *took >= Duration::from_millis(3900) && *took < Duration::from_secs(15),
            "{took:?}"
        );
    }
}

#[test]
fn ipv6_on_loopback() {
    let tc = e2e::bin("tcpclient");
    let Ok(l) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("SKIPPED: no IPv6 loopback");
        return;
    };
    drop(l);
    let srv = Responder::start("[::1]:0".parse().unwrap(), b"", b"six\r\n");
    let port = srv.addr.port();
    let ps = port.to_string();
    let (dns, _) = dns(Zone::new()
        .aaaa("six.test", Ipv6Addr::LOCALHOST)
        .ptr(IpAddr::V6(Ipv6Addr::LOCALHOST), "Loop6.test"));
    let dnsip = dns.dnscacheip();
    let env = [("DNSCACHEIP", dnsip.as_str())];
    let show = "env | grep ^TCP | sort; echo PROTO=$PROTO; cat <&6";
    for host in ["::1", "[::1]", "six.test"] {
        let o = tcpclient(&tc, &["-RHl0", host, &ps, "sh", "-c", show], &env);
        let text = normal(&o, port);
        let want = "TCP6LOCALHOST=0\nTCP6LOCALIP=::1\nTCP6LOCALPORT=LPORT\nTCP6REMOTEIP=::1\nTCP6REMOTEPORT=RPORT\n\
                    TCPLOCALHOST=0\nTCPLOCALIP=::1\nTCPLOCALPORT=LPORT\nTCPREMOTEIP=::1\nTCPREMOTEPORT=RPORT\nPROTO=TCP6\nsix\r\n";
        assert_eq!((text.as_str(), o.code), (want, Some(0)), "{host}: {o:?}");
    }
    // Names: -6 takes only AAAA records, -4 only A; 0 under -6 is ::1.
    let o = tcpclient(&tc, &["-4", "-RHl0", "six.test", &ps, "true"], &env);
    assert_eq!(
        o.err_text(),
        "tcpclient: fatal: no IP address for six.test\n"
    );
    let o = tcpclient(
        &tc,
        &["-6", "-RHl0", "0", &ps, "sh", "-c", "echo $TCPREMOTEIP"],
        &env,
    );
    assert_eq!(o.out_text(), "::1\n");
    // The remote name over IPv6, and TCP6INTERFACE with -I (root: it
    // binds the socket to the device).
    let o = tcpclient(
        &tc,
        &[
            "-R",
            "-l0",
            "::1",
            &ps,
            "sh",
            "-c",
            "echo $TCPREMOTEHOST $TCP6REMOTEHOST",
        ],
        &env,
    );
    assert_eq!(o.out_text(), "loop6.test loop6.test\n");
    if e2e::is_root() {
        let o = tcpclient(
            &tc,
            &[
                "-RHl0",
                "-6",
                "-I",
                "lo",
                "::1",
                &ps,
                "sh",
                "-c",
                "echo $TCP6INTERFACE",
            ],
            &env,
        );
        assert_eq!(
            (o.out_text(), o.code),
            ("lo\n".to_string(), Some(0)),
            "{o:?}"
        );
    }
    let o = tcpclient(
        &tc,
        &["-RHl0", "-I", "no-such-if0", "::1", &ps, "true"],
        &env,
    );
    assert_eq!(o.code, Some(111));
    assert!(
        o.err_text()
            .starts_with("tcpclient: fatal: unable to bind socket: "),
        "{o:?}"
    );
    // Bound to a chosen local address and port (-i, -p).
    let lp = free_port_v6();
    let o = tcpclient(
        &tc,
        &[
            "-RHl0",
            "-i",
            "::1",
            "-p",
            &lp.to_string(),
            "::1",
            &ps,
            "sh",
            "-c",
            "echo $TCPLOCALIP $TCPLOCALPORT",
        ],
        &env,
    );
    assert_eq!(o.out_text(), format!("::1 {lp}\n"));
}

fn free_port_v6() -> u16 {
    let l = std::net::TcpListener::bind("[::1]:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn local_address_and_port_match_debian() {
    let srv = Responder::start("127.0.0.1:0".parse().unwrap(), b"", b"");
    let ps = srv.addr.port().to_string();
    let me = unique_loopback().to_string();
    let (ours, deb) = both("tcpclient");
    for p in std::iter::once(ours).chain(deb) {
        let lp = free_port().to_string();
        let o = tcpclient(
            &p,
            &[
                "-RHl0",
                "-i",
                &me,
                "-p",
                &lp,
                "127.0.0.1",
                &ps,
                "sh",
                "-c",
                "echo $TCPLOCALIP $TCPLOCALPORT",
            ],
            &[],
        );
        assert_eq!(
            (o.out_text(), o.code),
            (format!("{me} {lp}\n"), Some(0)),
            "{p:?}"
        );
        // An address that is not ours: bind fails.
        let o = tcpclient(
            &p,
            &["-RHl0", "-i", "192.0.2.1", "127.0.0.1", &ps, "true"],
            &[],
        );
        assert_eq!(
            (o.err_text(), o.code),
            (
                "tcpclient: fatal: unable to bind socket: address not available\n".to_string(),
                Some(111)
            ),
            "{p:?}"
        );
    }
}

#[test]
fn a_failing_dns_server_matches_debian() {
    // SERVFAIL: djb's resolver keeps asking for about 11 s, then gives
    // up with a temporary failure; ours and Debian's run side by side.
    let (dns, debian_can) = dns(Zone::new().servfail("broken.test"));
    let dnsip = dns.dnscacheip();
    let env = [("DNSCACHEIP", dnsip.as_str())];
    let (ours, deb) = both("tcpclient");
    let mut impls = vec![ours];
    if debian_can {
        impls.extend(deb);
    }
    let outs: Vec<Out> = std::thread::scope(|s| {
        let hs: Vec<_> = impls
            .iter()
            .map(|p| s.spawn(|| tcpclient(p, &["-RHl0", "broken.test", "25", "true"], &env)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        (outs[0].err_text(), outs[0].code),
        (
            "tcpclient: fatal: temporarily unable to figure out IP address for broken.test: temporary failure\n"
                .to_string(),
            Some(111)
        )
    );
    for o in &outs[1..] {
        assert_eq!(&outs[0], o);
    }
}
