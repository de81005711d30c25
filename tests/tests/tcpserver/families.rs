//! ucspi-tcp6's `-4`, `-6` and `-I interface`: the family of `0`, `::`,
//! `:0` and names, and the interface the listener is bound to.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener};
use std::process::{Command, Stdio};

use super::support::*;

/// What the handler shows of its connection.
const SHOW: &str = "echo \"$PROTO $TCPLOCALIP ${TCP6INTERFACE-none}\"";

fn start(args: &[&str], dns: Option<&e2e::dns::DnsServer>) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let h = script(dir.path(), "show", SHOW);
    let mut all = vec!["-H", "-R", "-l", "0"];
    all.extend_from_slice(args);
    all.push(h.to_str().unwrap());
    let srv = Server::start(&Impl::Ours.path().unwrap(), &all, |c| {
        if let Some(d) = dns {
            c.env("DNSCACHEIP", d.dnscacheip());
        }
    });
    (srv, dir)
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)
}

/// tcpserver with `args` must fail at startup: (exit code, stderr).
fn fails(args: &[&str], dns: &e2e::dns::DnsServer) -> (Option<i32>, String) {
    let mut cmd = Command::new(Impl::Ours.path().unwrap());
    base_env(&mut cmd);
    cmd.env("DNSCACHEIP", dns.dnscacheip())
        .args(args)
        .arg("/bin/true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut p = e2e::Proc::spawn(&mut cmd).unwrap();
    let err = p.child.stderr.take().unwrap();
    let (text, _) = e2e::read_line_from(err, STEP).expect("no message");
    (p.wait_timeout(STEP).and_then(|s| s.code()), text)
}

#[test]
fn six_and_four_choose_the_family_of_0_and_of_names() {
    // -6 0: all IPv6 addresses, IPv6 only (an IPv4 server may have the
    // same port: binding 127.0.0.1 to it works).
    let (srv, _d) = start(&["-6", "0", "0"], None);
    assert_eq!(fetch(v6(srv.port)).0, "TCP6 ::1 none\n");
    TcpListener::bind(("127.0.0.1", srv.port)).expect("-6 0 took the IPv4 side too");
    // -4 :0: IPv4 only, though :0 is otherwise both families.
    let (srv, _d) = start(&["-4", ":0", "0"], None);
    assert_eq!(fetch(srv.addr()).0, "TCP 127.0.0.1 none\n");
    let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    s.set_only_v6(true).unwrap();
    s.bind(&v6(srv.port).into())
        .expect("-4 :0 took the IPv6 side too");
    drop(s);
    // -4 :: is 0.0.0.0 too.
    let (srv, _d) = start(&["-4", "::", "0"], None);
    assert_eq!(fetch(srv.addr()).0, "TCP 127.0.0.1 none\n");

    // Names: A records by default and with -4 (0.88), AAAA with -6.
    let zone = e2e::dns::Zone::new()
        .a("both.example", "127.0.0.1".parse().unwrap())
        .aaaa("both.example", Ipv6Addr::LOCALHOST)
        .a("four.example", "127.0.0.1".parse().unwrap());
    let dns = e2e::dns::DnsServer::start(zone).unwrap();
    let (srv, _d) = start(&["-6", "both.example", "0"], Some(&dns));
    assert_eq!(fetch(v6(srv.port)).0, "TCP6 ::1 none\n");
    let (srv, _d) = start(&["-4", "both.example", "0"], Some(&dns));
    assert_eq!(fetch(srv.addr()).0, "TCP 127.0.0.1 none\n");
    let (srv, _d) = start(&["both.example", "0"], Some(&dns));
    assert_eq!(fetch(srv.addr()).0, "TCP 127.0.0.1 none\n");
    assert_eq!(
        fails(&["-6", "four.example", "0"], &dns),
        (
            Some(111),
            "tcpserver: fatal: no IP address for four.example".into()
        )
    );
}

#[test]
fn interface_binds_the_listener_to_it() {
    // An IPv6 client learns the interface, as from ucspi-tcp6.
    let (srv, _d) = start(&["-I", "lo", "::1", "0"], None);
    assert_eq!(fetch(v6(srv.port)).0, "TCP6 ::1 lo\n");
    let (srv, _d) = start(&["-Ilo", "127.0.0.1", "0"], None);
    assert_eq!(fetch(srv.addr()).0, "TCP 127.0.0.1 none\n");
    match Command::new("ss").args(["-ltnH"]).output() {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let want = format!("127.0.0.1%lo:{}", srv.port);
            assert!(text.contains(&want), "ss shows no {want}:\n{text}");
        }
        _ => eprintln!("skipped: no ss(8) to show the listener's device"),
    }
    let dns = e2e::dns::DnsServer::start(e2e::dns::Zone::new()).unwrap();
    assert_eq!(
        fails(&["-I", "nosuch0", "127.0.0.1", "0"], &dns),
        (
            Some(111),
            "tcpserver: fatal: unable to bind to interface nosuch0: device does not support operation"
                .into()
        )
    );
}
