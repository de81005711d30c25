//! Per-rule limits: a rule's `MAXCONIP` (ucspi-tcp6's name) caps the
//! connections at once from one client address, `MAXCONNC` (the limits
//! patch's name) those from one /24 (IPv6: /64), so an office NAT and a
//! stranger get different limits. Rules compiled with our tcprules.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};

use super::support::*;

/// A handler that says hello, then answers the client's line.
const HOLDER: &str = "echo hi; read x; echo \"got $x\"";

const RULES: &str = "127.0.0.2:allow,MAXCONIP=\"1\"\n\
                     127.0.0.3:allow,MAXCONIP=\"3\"\n\
                     127.0.9.:allow,MAXCONNC=\"2\"\n\
                     :allow\n";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A connection whose handler runs (it said hello).
fn held(from: IpAddr, srv: &Server) -> TcpStream {
    let mut s = connect_from(from, srv.addr());
    let mut hi = [0u8; 3];
    s.read_exact(&mut hi).unwrap();
    assert_eq!(&hi, b"hi\n", "from {from}");
    s
}

/// A connection that is closed without a handler; its port.
fn refused(from: IpAddr, srv: &Server) -> u16 {
    let s = connect_from(from, srv.addr());
    let port = s.local_addr().unwrap().port();
    assert_eq!(read_all(s), "", "from {from}: a handler ran");
    port
}

fn finish(mut s: TcpStream) {
    s.write_all(b"x\n").unwrap();
    assert_eq!(read_all(s), "got x\n");
}

#[test]
fn maxconip_and_maxconnc_from_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cdb = dir.path().join("rules.cdb");
    let out = e2e::tcprules::run(
        &e2e::bin("tcprules"),
        &cdb,
        &dir.path().join("rules.tmp"),
        RULES.as_bytes(),
    );
    assert!(out.status.success(), "{out:?}");
    let h = script(dir.path(), "holder", HOLDER);
    let srv = Server::start(
        &Impl::Ours.path().unwrap(),
        &[
            "-v",
            "-H",
            "-R",
            "-l",
            "0",
            "-x",
            cdb.to_str().unwrap(),
            "127.0.0.1",
            "0",
            h.to_str().unwrap(),
        ],
        |_| {},
    );
    let lport = srv.port;
    let deny =
        |from: &str, why: &str| format!("tcpserver: deny PID 0:127.0.0.1:LPORT :{from}::P {why}");
    let denied = |from: &str, port: u16| -> String {
        let want = format!(":{from}::{port} ");
        let log = srv.wait_log(&format!("the deny of {from}:{port}"), |l| {
            l.iter().any(|x| x.contains(&want))
        });
        let line = log.iter().find(|x| x.contains(&want)).unwrap();
        normalise(line, &[(lport, "LPORT"), (port, "P")])
    };

    // 127.0.0.2 may have one connection at once.
    let a = held(ip("127.0.0.2"), &srv);
    let p = refused(ip("127.0.0.2"), &srv);
    assert_eq!(
        denied("127.0.0.2", p),
        deny("127.0.0.2", "ip connection limit:1 exceeded")
    );
    // 127.0.0.3 three, whatever 127.0.0.2 holds.
    let b: Vec<TcpStream> = (0..3).map(|_| held(ip("127.0.0.3"), &srv)).collect();
    let p = refused(ip("127.0.0.3"), &srv);
    assert_eq!(
        denied("127.0.0.3", p),
        deny("127.0.0.3", "ip connection limit:3 exceeded")
    );
    // A client no limit names is not limited by theirs.
    let free: Vec<TcpStream> = (0..4).map(|_| held(ip("127.0.0.4"), &srv)).collect();
    // 127.0.9.0/24 may have two at once, from any of its addresses.
    let n1 = held(ip("127.0.9.1"), &srv);
    let n2 = held(ip("127.0.9.2"), &srv);
    let p = refused(ip("127.0.9.3"), &srv);
    assert_eq!(
        denied("127.0.9.3", p),
        deny("127.0.9.3", "net connection limit:2 exceeded")
    );

    // When 127.0.0.2's connection ends, it may connect again.
    finish(a);
    srv.wait_ends(4);
    finish(held(ip("127.0.0.2"), &srv));
    for s in b.into_iter().chain(free).chain([n1, n2]) {
        finish(s);
    }
    // Refused connections end as denied ones do (exit 100).
    let log = srv.wait_ends(14);
    let statuses = |code: &str| {
        log.iter()
            .filter(|l| l.starts_with("tcpserver: end ") && l.ends_with(code))
            .count()
    };
    assert_eq!((statuses(" status 25600"), statuses(" status 0")), (3, 11));
    assert_eq!(
        log.last().map(String::as_str),
        Some("tcpserver: status: 0/40")
    );
}

/// `MAXCONIP` in tcpserver's own environment is the default (as
/// ucspi-tcp6 reads it), for clients whose rule sets none, with or
/// without `-x`.
#[test]
fn maxconip_from_the_environment_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let h = script(dir.path(), "holder", HOLDER);
    let srv = Server::start(
        &Impl::Ours.path().unwrap(),
        &[
            "-v",
            "-H",
            "-R",
            "-l",
            "0",
            "127.0.0.1",
            "0",
            h.to_str().unwrap(),
        ],
        |c| {
            c.env("MAXCONIP", "2");
        },
    );
    let from = IpAddr::V4(e2e::net::unique_loopback());
    let a = held(from, &srv);
    let b = held(from, &srv);
    let p = refused(from, &srv);
    let want = format!(":{from}::{p} ip connection limit:2 exceeded");
    srv.wait_log("the deny with its reason", |l| {
        l.iter()
            .any(|x| x.starts_with("tcpserver: deny ") && x.ends_with(&want))
    });
    finish(a);
    finish(b);
}

/// An IPv6 client's rule limits it too (its /64 is its net).
#[test]
fn maxconip_for_an_ipv6_client() {
    let dir = tempfile::tempdir().unwrap();
    let cdb = dir.path().join("rules.cdb");
    let out = e2e::tcprules::run(
        &e2e::bin("tcprules"),
        &cdb,
        &dir.path().join("rules.tmp"),
        b"::1:allow,MAXCONIP=\"1\"\n",
    );
    assert!(out.status.success(), "{out:?}");
    let h = script(dir.path(), "holder", HOLDER);
    let srv = Server::start(
        &Impl::Ours.path().unwrap(),
        &[
            "-v",
            "-H",
            "-R",
            "-l",
            "0",
            "-x",
            cdb.to_str().unwrap(),
            "::1",
            "0",
            h.to_str().unwrap(),
        ],
        |_| {},
    );
    let to = std::net::SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), srv.port);
    let mut a = e2e::net::connect_from(ip("::1"), to, STEP);
    let mut hi = [0u8; 3];
    a.read_exact(&mut hi).unwrap();
    let b = e2e::net::connect_from(ip("::1"), to, STEP);
    let p = b.local_addr().unwrap().port();
    assert_eq!(read_all(b), "");
    let want = format!(":::1::{p} ip connection limit:1 exceeded");
    srv.wait_log("the deny of ::1", |l| {
        l.iter()
            .any(|x| x.starts_with("tcpserver: deny ") && x.ends_with(&want))
    });
    finish(a);
}
