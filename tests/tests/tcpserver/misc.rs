//! The rest of the command line and the life cycle, against Debian's
//! tcpserver where installed: usage errors, port and host names, bind
//! failures, -B, -b, -1, exec failure, the descriptors a handler gets,
//! SIGTERM, and systemd socket activation.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Command, Stdio};

use super::support::*;
use e2e::dns::{DnsServer, Zone};
use e2e::net::unique_loopback;
use nix::sys::signal::Signal;

/// What `ls /proc/self/fd` prints when started straight from this test:
/// 0, 1, 2, ls's own 3, and whatever this process inherited without
/// close-on-exec (cargo's jobserver pipes). A handler must see the same:
/// inherited descriptors pass through (as in 0.88), none of tcpserver's.
fn baseline_fds() -> String {
    let out = Command::new("/bin/ls")
        .arg("/proc/self/fd")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Run to completion (for commands that fail at startup): (code, stderr).
fn run_fail(imp: Impl, args: &[&str]) -> (Option<i32>, String) {
    let bin = imp.path().unwrap();
    let mut cmd = Command::new(bin);
    base_env(&mut cmd);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut p = e2e::Proc::spawn(&mut cmd).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(p.child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let st = p.wait_timeout(STEP).expect("tcpserver did not exit");
    (st.code(), err)
}

#[test]
fn usage_errors_match_debian() {
    let cases: [&[&str]; 12] = [
        &[],
        &["0"],
        &["0", "25"],
        &["-Z", "0", "25", "p"],
        &["-vZ", "0", "25", "p"],
        &["-c"],
        &["-q", "0"],
        &["-1v", "-l"],
        &["-:", "0", "25", "p"],
        &["--", "0"],
        &["-c", "5", "-qZ", "0", "25", "p"],
        &["-x", "-q", "0"],
    ];
    for args in cases {
        let (code, err) = run_fail(Impl::Ours, args);
        assert_eq!(code, Some(100), "{args:?}");
        if Impl::Debian.path().is_some() {
            assert_eq!((code, err), run_fail(Impl::Debian, args), "{args:?}");
        }
    }
}

#[test]
fn startup_failures_match_debian() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let cases: [&[&str]; 4] = [
        &["127.0.0.1", "nosuchservice", "/bin/true"],
        &["-q", "127.0.0.1", "nosuchservice", "/bin/true"],
        &["127.0.0.1", &port, "/bin/true"],
        &["-q", "127.0.0.1", &port, "/bin/true"],
    ];
    let want = [
        "tcpserver: fatal: unable to figure out port number for nosuchservice\n",
        "",
        "tcpserver: fatal: unable to bind: address already used\n",
        "",
    ];
    for (args, want) in cases.iter().zip(want) {
        let (code, err) = run_fail(Impl::Ours, args);
        assert_eq!((code, err.as_str()), (Some(111), want), "{args:?}");
        if Impl::Debian.path().is_some() {
            assert_eq!(run_fail(Impl::Debian, args), (code, err), "{args:?}");
        }
    }
    // A bad port name wins over a missing program, as in 0.88.
    let (code, err) = run_fail(Impl::Ours, &["0", "nosuchservice"]);
    assert_eq!(code, Some(111), "{err}");
}

#[test]
fn port_and_host_by_name() {
    if e2e::skip_unless_root("port 25 and DNS on port 53") {
        return;
    }
    let host_ip = unique_loopback();
    let dns = DnsServer::start_at(
        SocketAddr::from((unique_loopback(), 53)),
        Zone::new().a("srv.example", host_ip),
    )
    .unwrap();
    for imp in Impl::both() {
        let bin = imp.path().unwrap();
        let srv = Server::start(
            &bin,
            &[
                "-H",
                "-R",
                "-l",
                "0",
                "srv.example",
                "smtp",
                "/bin/echo",
                "hi",
            ],
            |c| {
                c.env("DNSCACHEIP", dns.dnscacheip());
            },
        );
        assert_eq!(srv.port, 25);
        let (out, _) = fetch(SocketAddr::from((host_ip, 25)));
        assert_eq!(out, "hi\n");
    }
    for imp in Impl::both() {
        let bin = imp.path().unwrap();
        let out = Command::new(bin)
            .env_clear()
            .env("DNSCACHEIP", dns.dnscacheip())
            .args(["nosuch.example", "0", "/bin/true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(111));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "tcpserver: fatal: no IP address for nosuch.example\n"
        );
    }
}

#[test]
fn host_by_name_through_a_dns_port() {
    // Our extension: $DNSCACHEIP with a port, no root needed.
    let dns = DnsServer::start(Zone::new().a("srv.example", Ipv4Addr::LOCALHOST)).unwrap();
    let bin = Impl::Ours.path().unwrap();
    let srv = Server::start(
        &bin,
        &["-H", "-R", "-l", "0", "srv.example", "0", "/bin/echo", "hi"],
        |c| {
            c.env("DNSCACHEIP", dns.dnscacheip());
        },
    );
    assert_eq!(fetch(srv.addr()).0, "hi\n");
    let mut cmd = Command::new(&bin);
    base_env(&mut cmd);
    cmd.env("DNSCACHEIP", dns.dnscacheip())
        .args(["nosuch.example", "0", "/bin/true"])
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tcpserver: fatal: no IP address for nosuch.example\n"
    );
}

/// One connection to `/bin/sh -c SCRIPT` with `args`; (output, log).
fn session(imp: Impl, args: &[&str], prog: &[&str]) -> (String, Vec<String>) {
    let bin = imp.path().unwrap();
    let mut a: Vec<&str> = vec!["-v", "-H", "-R", "-l", "0"];
    a.extend(args);
    a.extend(["127.0.0.1", "0"]);
    a.extend(prog);
    let srv = Server::start(&bin, &a, |_| {});
    let (out, cport) = fetch(srv.addr());
    let log = srv.wait_ends(1);
    (
        out,
        normalise_all(&log, &[(srv.port, "LPORT"), (cport, "RPORT")]),
    )
}

#[test]
fn banner_exec_failure_and_descriptors_match_debian() {
    let cases: [(&[&str], &[&str]); 4] = [
        (&["-B", "banner without newline"], &["/bin/echo", "x"]),
        (&[], &["./nonexistent"]),
        (&[], &["nonexistent-program"]),
        (&[], &["/bin/ls", "/proc/self/fd"]),
    ];
    for (args, prog) in cases {
        let (out, log) = session(Impl::Ours, args, prog);
        match prog[0] {
            "/bin/echo" => assert_eq!(out, "banner without newlinex\n"),
            "/bin/ls" => assert_eq!(out, baseline_fds(), "stray descriptors"),
            p => {
                assert_eq!(out, "");
                assert_eq!(
                    log[3..],
                    [
                        "tcpserver: ok PID 0:127.0.0.1:LPORT :127.0.0.1::RPORT".to_string(),
                        format!(
                            "tcpserver: warning: dropping connection, unable to run {p}: file does not exist"
                        ),
                        "tcpserver: end PID status 28416".to_string(),
                        "tcpserver: status: 0/40".to_string(),
                    ]
                );
            }
        }
        if Impl::Debian.path().is_some() {
            assert_eq!(
                (out, log),
                session(Impl::Debian, args, prog),
                "{args:?} {prog:?}"
            );
        }
    }
}

/// True when `prog` runs; otherwise say why the test is skipped.
fn have(prog: &str) -> bool {
    let ok = Command::new(prog)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!("SKIPPED: {prog} is not installed");
    }
    ok
}

#[test]
fn backlog_is_set_as_asked() {
    // ss (iproute2) shows a listener's backlog as its Send-Q.
    if !have("ss") {
        return;
    }
    for imp in Impl::both() {
        let bin = imp.path().unwrap();
        for (args, want) in [(&["-b", "3"][..], "3"), (&[][..], "20")] {
            let mut a = args.to_vec();
            a.extend(["127.0.0.1", "0", "/bin/true"]);
            let srv = Server::start(&bin, &a, |_| {});
            let out = Command::new("ss")
                .args(["-Hltn", &format!("sport = :{}", srv.port)])
                .output()
                .unwrap();
            let line = String::from_utf8_lossy(&out.stdout).to_string();
            let send_q = line.split_whitespace().nth(2).unwrap_or("");
            assert_eq!(send_q, want, "{imp:?} {args:?}: {line}");
        }
    }
}

/// SIGTERM: the server exits 0 at once; a running handler is left alone
/// and finishes; no `end` line is printed for it.
fn sigterm(imp: Impl) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let h = script(dir.path(), "waiter", "read x; echo \"got $x\"");
    let bin = imp.path().unwrap();
    let mut srv = Server::start(
        &bin,
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
        |_| {},
    );
    let mut c = connect(srv.addr());
    let cport = c.local_addr().unwrap().port();
    srv.wait_log("the ok line", |l| l.iter().any(|x| x.contains(" ok ")));
    srv.proc.signal(Signal::SIGTERM);
    assert_eq!(srv.wait_exit(), Some(0));
    std::io::Write::write_all(&mut c, b"still\n").unwrap();
    assert_eq!(read_all(c), "got still\n");
    normalise_all(&srv.log(), &[(srv.port, "LPORT"), (cport, "RPORT")])
}

#[test]
fn sigterm_exits_and_leaves_children_alone() {
    let log = sigterm(Impl::Ours);
    assert!(
        !log.iter().any(|l| l.starts_with("tcpserver: end")),
        "{log:#?}"
    );
    if Impl::Debian.path().is_some() {
        assert_eq!(log, sigterm(Impl::Debian));
    }
}

/// Start ours the way systemd would: the listening socket on fd 3,
/// LISTEN_FDS=1, LISTEN_PID=its pid. `wrap` runs before exec (setpriv).
fn activated(listener: TcpListener, wrap: &[&str], prog: &[&str]) -> Server {
    let bin = Impl::Ours.path().unwrap();
    let mut cmd = Command::new("/bin/sh");
    base_env(&mut cmd);
    // The host and port operands are ignored when sockets are handed over.
    let mut script =
        String::from("exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=x exec");
    for w in wrap {
        script.push(' ');
        script.push_str(w);
    }
    script.push_str(" \"$0\" -1 -v -H -R -l 0 0 0");
    for p in prog {
        script.push(' ');
        script.push_str(p);
    }
    cmd.arg("-c")
        .arg(script)
        .arg(&bin)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Server::spawn(cmd)
}

#[test]
fn socket_activation_uses_the_handed_over_socket() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let srv = activated(l, &[], &["/usr/bin/env"]);
    assert_eq!(srv.port, port, "-1 prints the handed-over socket's port");
    let (out, _) = fetch(srv.addr());
    assert!(
        out.lines().any(|l| l == format!("TCPLOCALPORT={port}")),
        "{out}"
    );
    assert!(
        !out.contains("LISTEN_"),
        "LISTEN_* leaked to the handler: {out}"
    );
    let (out, _) = fetch(srv.addr());
    assert!(out.contains("PROTO=TCP"));
    let srv2 = activated(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        &[],
        &["/bin/ls", "/proc/self/fd"],
    );
    assert_eq!(
        fetch(srv2.addr()).0,
        baseline_fds(),
        "the listening socket leaked"
    );
}

#[test]
fn socket_activation_serves_port_25_without_root() {
    if e2e::skip_unless_root("binding port 25 to hand it over") || !have("setpriv") {
        return;
    }
    let ip = unique_loopback();
    let l = TcpListener::bind((ip, 25)).unwrap();
    let _srv = activated(
        l,
        &[
            "setpriv",
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
        ],
        &["/bin/sh", "-c", "'id -u; echo $TCPLOCALPORT'"],
    );
    let (out, _) = fetch(SocketAddr::from((ip, 25)));
    assert_eq!(out, "65534\n25\n");
}
