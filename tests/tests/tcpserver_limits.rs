//! Concurrency: `-c` (stop accepting at the limit, resume when a child
//! exits), the per-client limit `-C`, and accept errors (EMFILE) that
//! must pause the server, never end it.

mod tcpserver_support;

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use e2e::net::unique_loopback;
use tcpserver_support::*;

/// A handler that answers once the client has sent a line.
const WAITER: &str = "read x; echo \"got $x\"";

fn pids(log: &[String]) -> usize {
    log.iter()
        .filter(|l| l.starts_with("tcpserver: pid "))
        .count()
}

/// Two clients at `-c 1`: the second waits in the kernel's queue until
/// the first handler ends. Returns the normalised log.
fn limit_one(imp: Impl, dir: &std::path::Path) -> Vec<String> {
    let bin = imp.path().unwrap();
    let h = script(dir, "waiter", WAITER);
    let srv = Server::start(
        &bin,
        &[
            "-v",
            "-c",
            "1",
            "-H",
            "-R",
            "-l",
            "0",
            "127.0.0.1",
            "0",
            h.to_str().unwrap(),
        ],
        |_| {},
    );
    let mut c1 = connect(srv.addr());
    srv.wait_log("the first connection", |l| {
        pids(l) == 1 && l.iter().any(|x| x.contains(" ok "))
    });
    let mut c2 = connect(srv.addr());
    c2.write_all(b"two\n").unwrap();
    // The second is not taken while the first runs (bounded look).
    let early = e2e::poll_until(Duration::from_millis(300), || {
        (pids(&srv.log()) > 1).then_some(())
    });
    assert!(early.is_none(), "accepted beyond -c 1: {:#?}", srv.log());
    c1.write_all(b"one\n").unwrap();
    let p1 = c1.local_addr().unwrap().port();
    let p2 = c2.local_addr().unwrap().port();
    assert_eq!(read_all(c1), "got one\n");
    assert_eq!(read_all(c2), "got two\n");
    let log = srv.wait_ends(2);
    normalise_all(&log, &[(srv.port, "LPORT"), (p1, "P1"), (p2, "P2")])
}

#[test]
fn limit_c_defers_accept_until_a_child_exits() {
    let dir = tempfile::tempdir().unwrap();
    let log = limit_one(Impl::Ours, dir.path());
    assert_eq!(
        log,
        [
            "tcpserver: status: 0/1",
            "tcpserver: status: 1/1",
            "tcpserver: pid PID from 127.0.0.1",
            "tcpserver: ok PID 0:127.0.0.1:LPORT :127.0.0.1::P1",
            "tcpserver: end PID status 0",
            "tcpserver: status: 0/1",
            "tcpserver: status: 1/1",
            "tcpserver: pid PID from 127.0.0.1",
            "tcpserver: ok PID 0:127.0.0.1:LPORT :127.0.0.1::P2",
            "tcpserver: end PID status 0",
            "tcpserver: status: 0/1",
        ]
    );
    if Impl::Debian.path().is_some() {
        assert_eq!(log, limit_one(Impl::Debian, dir.path()));
    }
}

#[test]
fn per_client_limit_refuses_the_excess_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let h = script(
        dir.path(),
        "waiter",
        "echo \"n=$TCPCONCURRENCY\"; read x; echo \"got $x\"",
    );
    let bin = Impl::Ours.path().unwrap();
    let srv = Server::start(
        &bin,
        &[
            "-v",
            "-C",
            "2:421 too many from you\\r\\n",
            "-H",
            "-R",
            "-l",
            "0",
            "127.0.0.1",
            "0",
            h.to_str().unwrap(),
        ],
        |_| {},
    );
    let a = IpAddr::V4(unique_loopback());
    let b = IpAddr::V4(unique_loopback());
    let mut held = Vec::new();
    for i in 1..=2 {
        let mut s = connect_from(a, srv.addr());
        let mut first = [0u8; 4];
        std::io::Read::read_exact(&mut s, &mut first).unwrap();
        assert_eq!(&first, format!("n={i}\n").as_bytes());
        held.push(s);
    }
    // The third from the same address is refused with the message.
    let third = connect_from(a, srv.addr());
    let tport = third.local_addr().unwrap().port();
    assert_eq!(read_all(third), "421 too many from you\r\n");
    let log = srv.wait_log("the refusal", |l| {
        l.iter().any(|x| x.starts_with("tcpserver: refuse "))
    });
    assert!(
        log.contains(&format!("tcpserver: refuse {a} {tport} 2/2")),
        "{log:#?}"
    );
    // Another address is not limited by a's connections.
    let mut other = connect_from(b, srv.addr());
    other.write_all(b"b\n").unwrap();
    assert_eq!(read_all(other), "n=1\ngot b\n");
    // When one of a's ends, a gets a slot again.
    let mut s = held.pop().unwrap();
    s.write_all(b"x\n").unwrap();
    assert!(read_all(s).ends_with("got x\n"));
    srv.wait_ends(2);
    let mut again = connect_from(a, srv.addr());
    again.write_all(b"y\n").unwrap();
    assert_eq!(read_all(again), "n=2\ngot y\n");
    let mut s = held.pop().unwrap();
    s.write_all(b"z\n").unwrap();
    assert!(read_all(s).ends_with("got z\n"));
    // Refused connections never counted as children.
    let log = srv.wait_ends(4);
    assert_eq!(
        log.last().map(String::as_str),
        Some("tcpserver: status: 0/40")
    );
}

#[test]
fn accept_errors_pause_the_server_and_never_end_it() {
    // With 6 descriptors, all taken by stdio, the self-pipe and the
    // listener, every accept fails with EMFILE. (Descriptors 3 to 9 the
    // test runner may pass down are closed first.)
    let bin = Impl::Ours.path().unwrap();
    let mut cmd = std::process::Command::new("/bin/sh");
    base_env(&mut cmd);
    cmd.arg("-c")
        .arg("exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; ulimit -n 6 && exec \"$0\" -1 -v -H -R -l 0 127.0.0.1 0 /bin/true")
        .arg(&bin)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut srv = Server::spawn(cmd);
    let _c = connect(srv.addr());
    let log = srv.wait_log("three accept warnings", |l| {
        l.iter().filter(|x| x.contains("unable to accept")).count() >= 3
    });
    let warnings: Vec<&String> = log
        .iter()
        .filter(|x| x.contains("unable to accept"))
        .collect();
    assert_eq!(
        warnings[0],
        "tcpserver: warning: unable to accept: process cannot open more files; pausing 10 ms"
    );
    assert_eq!(
        warnings[1],
        "tcpserver: warning: unable to accept: process cannot open more files; pausing 20 ms"
    );
    assert!(
        srv.proc.child.try_wait().unwrap().is_none(),
        "the server died"
    );
    srv.proc.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(srv.wait_exit(), Some(0));
}

#[test]
fn per_client_limit_counts_ipv4_on_a_dual_stack_socket_by_address() {
    // IPv6 clients count per /64; IPv4 ones arriving as ::ffff:a.b.c.d
    // (all in one /64) must still count per address.
    let dir = tempfile::tempdir().unwrap();
    let h = script(dir.path(), "waiter", "echo \"n=$TCPCONCURRENCY\"; read x");
    let bin = Impl::Ours.path().unwrap();
    let srv = Server::start(
        &bin,
        &[
            "-v",
            "-C",
            "1:full\\n",
            "-H",
            "-R",
            "-l",
            "0",
            ":0",
            "0",
            h.to_str().unwrap(),
        ],
        |_| {},
    );
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect_from(IpAddr::V4(unique_loopback()), srv.addr());
        let mut first = [0u8; 4];
        std::io::Read::read_exact(&mut s, &mut first).unwrap();
        assert_eq!(&first, b"n=1\n");
        held.push(s);
    }
    for mut s in held {
        s.write_all(b"x\n").unwrap();
        read_all(s);
    }
    let log = srv.wait_ends(2);
    assert!(
        !log.iter().any(|l| l.starts_with("tcpserver: refuse ")),
        "{log:#?}"
    );
}
