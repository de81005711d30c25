//! qmail's tcp-env under a real accepted socket: our tcpserver runs
//! `env -i ... tcp-env ... /usr/bin/env` (the `env -i` makes it look like
//! inetd started it: no PROTO), and the client reads what the program saw.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};

use super::support::*;
use e2e::dns::{DnsServer, Zone};
use e2e::net::unique_loopback;

/// Serve `handler` under our tcpserver (-H -R -l 0); one connection from
/// `from`; (output, client port, server port).
fn under_tcpserver(handler: &[&str], from: IpAddr) -> (String, u16, u16) {
    let bin = Impl::Ours.path().unwrap();
    let mut a = vec!["-H", "-R", "-l", "0", "127.0.0.1", "0"];
    a.extend(handler);
    let srv = Server::start(&bin, &a, |_| {});
    let (out, cport) = fetch_from(from, srv.addr());
    (out, cport, srv.port)
}

fn tcp_env() -> String {
    e2e::bin("tcp-env").to_str().unwrap().to_string()
}

#[test]
fn sets_the_variables_in_qmails_order() {
    let client = unique_loopback();
    let dns = DnsServer::start(
        Zone::new()
            .ptr(IpAddr::V4(Ipv4Addr::LOCALHOST), "Local.Example")
            .ptr(IpAddr::V4(client), "client.example"),
    )
    .unwrap();
    let te = tcp_env();
    let dnscacheip = format!("DNSCACHEIP={}", dns.dnscacheip());
    let (out, cport, sport) = under_tcpserver(
        &[
            "/usr/bin/env",
            "-i",
            "PATH=/usr/bin:/bin",
            &dnscacheip,
            "TCPREMOTEINFO=stale",
            &te,
            "-R",
            "/usr/bin/env",
        ],
        IpAddr::V4(client),
    );
    let got = env_lines(&out, &[(sport, "LPORT"), (cport, "RPORT")]);
    assert_eq!(
        got,
        [
            "PATH=/usr/bin:/bin".to_string(),
            dnscacheip.clone(),
            "TCPREMOTEHOST=client.example".to_string(),
            "PROTO=TCP".to_string(),
            "TCPLOCALPORT=LPORT".to_string(),
            "TCPLOCALIP=127.0.0.1".to_string(),
            "TCPLOCALHOST=local.example".to_string(),
            "TCPREMOTEPORT=RPORT".to_string(),
            format!("TCPREMOTEIP={client}"),
        ]
    );
}

#[test]
fn no_name_unsets_and_a_dead_resolver_says_softdnserror() {
    let dns = DnsServer::start(Zone::new()).unwrap();
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let te = tcp_env();
    for (server, want) in [
        (dns.dnscacheip(), None),
        (dead_addr.to_string(), Some("softdnserror")),
    ] {
        let d = format!("DNSCACHEIP={server}");
        let (out, _, _) = under_tcpserver(
            &[
                "/usr/bin/env",
                "-i",
                "PATH=/usr/bin:/bin",
                &d,
                &te,
                "-R",
                "/usr/bin/env",
            ],
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        );
        let host = out.lines().find_map(|l| l.strip_prefix("TCPREMOTEHOST="));
        let local = out.lines().find_map(|l| l.strip_prefix("TCPLOCALHOST="));
        assert_eq!(host, want, "{out}");
        assert_eq!(local, want, "{out}");
    }
}

#[test]
fn ident_fills_tcpremoteinfo() {
    if e2e::skip_unless_root("identd on port 113 of the client address") {
        return;
    }
    let client = unique_loopback();
    let _identd = Identd::start(IpAddr::V4(client), "USERID : UNIX : joe");
    let dns = DnsServer::start(Zone::new()).unwrap();
    let d = format!("DNSCACHEIP={}", dns.dnscacheip());
    let te = tcp_env();
    let (out, _, _) = under_tcpserver(
        &[
            "/usr/bin/env",
            "-i",
            "PATH=/usr/bin:/bin",
            &d,
            &te,
            "-t",
            "5",
            "/usr/bin/env",
        ],
        IpAddr::V4(client),
    );
    assert!(out.lines().any(|l| l == "TCPREMOTEINFO=joe"), "{out}");
}

#[test]
fn under_tcpserver_it_changes_nothing() {
    let te = tcp_env();
    let (plain, cport1, sport1) =
        under_tcpserver(&["/usr/bin/env"], IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (wrapped, cport2, sport2) =
        under_tcpserver(&[&te, "/usr/bin/env"], IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(
        env_lines(&plain, &[(sport1, "L"), (cport1, "R")]),
        env_lines(&wrapped, &[(sport2, "L"), (cport2, "R")])
    );
    assert!(wrapped.contains("TCPLOCALHOST=0"));
}

#[test]
fn ipv6_sockets_get_tcp6() {
    let bin = Impl::Ours.path().unwrap();
    let te = tcp_env();
    let srv = Server::start(
        &bin,
        &[
            "-H",
            "-R",
            "-l",
            "0",
            "::1",
            "0",
            "/usr/bin/env",
            "-i",
            "DNSCACHEIP=127.0.0.1:9",
            &te,
            "-R",
            "/usr/bin/env",
        ],
        |_| {},
    );
    let (out, _) = fetch(SocketAddr::new("::1".parse().unwrap(), srv.port));
    for want in [
        "PROTO=TCP6",
        "TCPLOCALIP=::1",
        "TCPREMOTEIP=::1",
        "TCP6REMOTEIP=::1",
    ] {
        assert!(out.lines().any(|l| l == want), "{want} missing: {out}");
    }
}

#[test]
fn failures_exit_111_silently() {
    let bin = e2e::bin("tcp-env");
    // No program; fd 0 not a socket.
    for args in [&[][..], &["/usr/bin/env"][..]] {
        let out = Command::new(&bin)
            .env_clear()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(111), "{args:?}");
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{args:?}");
    }
    // An unknown option is reported by getopt and otherwise ignored.
    let out = Command::new(&bin)
        .env_clear()
        .args(["-x", "/usr/bin/env"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tcp-env: illegal option -- x\n"
    );
    // With PROTO=TCP the socket is not even looked at.
    let out = Command::new(&bin)
        .env_clear()
        .env("PROTO", "TCP")
        .args(["/bin/echo", "ran"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"ran\n");
}

#[test]
fn ident_answer_with_a_nul_fills_tcp6remoteinfo_too() {
    // qmail cuts an ident answer at its first NUL; the TCP6 copy was
    // built from the uncut bytes and silently dropped.
    if e2e::skip_unless_root("identd on port 113 of ::1") {
        return;
    }
    let _identd = Identd::start("::1".parse().unwrap(), "!1,2 : USERID : UNIX : jo\0e\r\n");
    let bin = Impl::Ours.path().unwrap();
    let te = tcp_env();
    let srv = Server::start(
        &bin,
        &[
            "-H",
            "-R",
            "-l",
            "0",
            "::1",
            "0",
            "/usr/bin/env",
            "-i",
            "DNSCACHEIP=127.0.0.1:9",
            &te,
            "-t",
            "5",
            "/usr/bin/env",
        ],
        |_| {},
    );
    let (out, _) = fetch(SocketAddr::new("::1".parse().unwrap(), srv.port));
    for want in ["TCPREMOTEINFO=jo", "TCP6REMOTEINFO=jo"] {
        assert!(out.lines().any(|l| l == want), "{want} missing: {out}");
    }
}
