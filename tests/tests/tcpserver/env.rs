//! The environment a handler sees and the log lines, compared with
//! Debian's tcpserver (ucspi-tcp 0.88) where it is installed: plain,
//! with DNS names and ident answers from servers on loopback, with the
//! paranoid check, and for IPv6 and dual-stack listeners.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::support::*;
use e2e::dns::{DnsServer, Zone};
use e2e::net::unique_loopback;

/// Run `args` + `127.0.0.1 0 /usr/bin/env` under `imp`, connect once from
/// `from`; returns (env lines, log lines), ports normalised.
fn env_and_log(
    imp: Impl,
    args: &[&str],
    from: IpAddr,
    extra_env: &[(&str, &str)],
) -> (Vec<String>, Vec<String>) {
    let bin = imp.path().unwrap();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["127.0.0.1", "0", "/usr/bin/env"]);
    let srv = Server::start(&bin, &all, |c| {
        for (k, v) in extra_env {
            c.env(k, v);
        }
    });
    let (out, cport) = fetch_from(from, srv.addr());
    let verbose = args
        .iter()
        .any(|a| a.starts_with('-') && !a.starts_with("-l") && a.contains('v'));
    let log = if verbose {
        srv.wait_ends(1)
    } else {
        Vec::new()
    };
    let ports = [(srv.port, "LPORT"), (cport, "RPORT")];
    (env_lines(&out, &ports), normalise_all(&log, &ports))
}

#[test]
fn plain_environment_and_log_match_debian() {
    let stale = [
        ("TCPREMOTEHOST", "stale.example"),
        ("TCPREMOTEINFO", "stale"),
        ("FOO", "bar"),
    ];
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (env, log) = env_and_log(Impl::Ours, &["-v", "-H", "-R", "-l", "0"], lo, &stale);
    // The inherited TCPREMOTEHOST and TCPREMOTEINFO are removed (-H, -R);
    // pathexec's order: each change takes the removed slot's last entry.
    let want = [
        "PATH=/usr/bin:/bin",
        "DNSCACHEIP=127.0.0.254:9",
        "FOO=bar",
        "PROTO=TCP",
        "TCPLOCALIP=127.0.0.1",
        "TCPLOCALPORT=LPORT",
        "TCPLOCALHOST=0",
        "TCPREMOTEIP=127.0.0.1",
        "TCPREMOTEPORT=RPORT",
    ];
    let mut got = env.clone();
    got.sort();
    let mut w: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    w.sort();
    assert_eq!(got, w);
    assert_eq!(
        log,
        [
            "tcpserver: status: 0/40",
            "tcpserver: status: 1/40",
            "tcpserver: pid PID from 127.0.0.1",
            "tcpserver: ok PID 0:127.0.0.1:LPORT :127.0.0.1::RPORT",
            "tcpserver: end PID status 0",
            "tcpserver: status: 0/40",
        ]
    );
    if Impl::Debian.path().is_some() {
        let (denv, dlog) = env_and_log(Impl::Debian, &["-v", "-H", "-R", "-l", "0"], lo, &stale);
        // Byte for byte, in the same order.
        assert_eq!(env, denv);
        assert_eq!(log, dlog);
    }
}

#[test]
fn local_name_option_and_quiet_defaults_match_debian() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for args in [
        &["-H", "-R", "-l", "mail.example"][..],
        &["-HRlbox.example", "-Q"][..],
        &["-q", "-H", "-R", "-l", ""][..],
    ] {
        let (env, _) = env_and_log(Impl::Ours, args, lo, &[]);
        if Impl::Debian.path().is_some() {
            let (denv, _) = env_and_log(Impl::Debian, args, lo, &[]);
            assert_eq!(env, denv, "{args:?}");
        }
    }
}

/// DNS for the names: on a unique 127.x address on port 53 when root
/// (Debian's resolver knows only port 53), else on any port (ours only).
fn dns_for(zone: Zone) -> (DnsServer, bool) {
    if e2e::is_root() {
        let ip = unique_loopback();
        (
            DnsServer::start_at(SocketAddr::from((ip, 53)), zone).unwrap(),
            true,
        )
    } else {
        eprintln!("not root: DNS on a high port, no comparison with Debian");
        (DnsServer::start(zone).unwrap(), false)
    }
}

#[test]
fn names_from_dns_and_ident_match_debian() {
    if e2e::skip_unless_root("identd on port 113 of the client address") {
        return;
    }
    let client = unique_loopback();
    let (dns, _) = dns_for(
        Zone::new()
            .ptr(IpAddr::V4(Ipv4Addr::LOCALHOST), "Local.EXAMPLE.com")
            .ptr(IpAddr::V4(client), "Client.Ex_ample.COM"),
    );
    let _identd = Identd::start(IpAddr::V4(client), "USERID : UNIX : we:ird%user");
    let env = [("DNSCACHEIP", dns.dnscacheip())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (oenv, olog) = env_and_log(Impl::Ours, &["-v"], IpAddr::V4(client), &env);
    let has = |e: &[String], s: &str| e.iter().any(|l| l == s);
    assert!(has(&oenv, "TCPLOCALHOST=local.example.com"), "{oenv:?}");
    assert!(has(&oenv, "TCPREMOTEHOST=client.ex_ample.com"), "{oenv:?}");
    assert!(has(&oenv, "TCPREMOTEINFO=we:ird%user"), "{oenv:?}");
    let ok = format!(
        "tcpserver: ok PID local.example.com:127.0.0.1:LPORT client.ex_ample.com:{client}:we?ird?user:RPORT"
    );
    assert!(olog.contains(&ok), "{olog:#?}");
    if Impl::Debian.path().is_some() {
        let (denv, dlog) = env_and_log(Impl::Debian, &["-v"], IpAddr::V4(client), &env);
        assert_eq!(oenv, denv);
        assert_eq!(olog, dlog);
    }
}

#[test]
fn ident_oddities_match_debian() {
    if e2e::skip_unless_root("identd on port 113 of the client address") {
        return;
    }
    // Fewer than three colons: an empty but set TCPREMOTEINFO. A value
    // over 100 bytes is cut in the log. No reply: unset.
    let long = "x".repeat(150);
    for reply in [
        "ERROR : NO-USER".to_string(),
        format!("USERID : UNIX : {long}"),
        "!".to_string(),
    ] {
        let client = unique_loopback();
        let _identd = Identd::start(IpAddr::V4(client), &reply);
        let args = ["-v", "-H", "-l", "0"];
        let (oenv, olog) = env_and_log(Impl::Ours, &args, IpAddr::V4(client), &[]);
        if reply.starts_with("ERROR") {
            assert!(oenv.iter().any(|l| l == "TCPREMOTEINFO="), "{oenv:?}");
        }
        if reply == "!" {
            assert!(
                !oenv.iter().any(|l| l.starts_with("TCPREMOTEINFO")),
                "{oenv:?}"
            );
        }
        if Impl::Debian.path().is_some() {
            let (denv, dlog) = env_and_log(Impl::Debian, &args, IpAddr::V4(client), &[]);
            assert_eq!(oenv, denv, "{reply}");
            assert_eq!(olog, dlog, "{reply}");
        }
    }
}

#[test]
fn paranoid_check_both_ways_matches_debian() {
    let good = unique_loopback();
    let liar = unique_loopback();
    let (dns, port53) = dns_for(
        Zone::new()
            .ptr(IpAddr::V4(good), "good.example")
            .a("good.example", good)
            .ptr(IpAddr::V4(liar), "liar.example")
            .a("liar.example", Ipv4Addr::new(10, 9, 9, 9)),
    );
    let env = [("DNSCACHEIP", dns.dnscacheip())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (from, host) in [(good, Some("good.example")), (liar, None)] {
        for args in [
            &["-v", "-R", "-l", "0", "-p"][..],
            &["-v", "-R", "-l", "0"][..],
        ] {
            let (oenv, olog) = env_and_log(Impl::Ours, args, IpAddr::V4(from), &env);
            let shown = oenv
                .iter()
                .find_map(|l| l.strip_prefix("TCPREMOTEHOST="))
                .map(str::to_string);
            let paranoid = args.contains(&"-p");
            let want = if paranoid {
                host
            } else {
                Some(if host.is_some() {
                    "good.example"
                } else {
                    "liar.example"
                })
            };
            assert_eq!(shown.as_deref(), want, "{args:?} from {from}");
            if port53 && Impl::Debian.path().is_some() {
                let (denv, dlog) = env_and_log(Impl::Debian, args, IpAddr::V4(from), &env);
                assert_eq!(oenv, denv);
                assert_eq!(olog, dlog);
            }
        }
    }
}

#[test]
fn without_h_and_l_no_dns_query_is_made() {
    let dns = DnsServer::start(Zone::new()).unwrap();
    let env = [("DNSCACHEIP", dns.dnscacheip())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (oenv, _) = env_and_log(Impl::Ours, &["-H", "-R", "-l", "0"], lo, &env);
    assert!(oenv.iter().any(|l| l == "TCPLOCALHOST=0"));
    assert_eq!(dns.queries().len(), 0);
    // With lookups on but no names known: both PTR queries, names unset.
    let (oenv, olog) = env_and_log(Impl::Ours, &["-v", "-R"], lo, &env);
    assert!(dns.queries().len() >= 2);
    assert!(
        !oenv
            .iter()
            .any(|l| l.starts_with("TCPLOCALHOST") || l.starts_with("TCPREMOTEHOST"))
    );
    assert!(olog.contains(&"tcpserver: ok PID :127.0.0.1:LPORT :127.0.0.1::RPORT".to_string()));
}

#[test]
fn ipv6_clients_get_the_tcp6_variables() {
    let bin = Impl::Ours.path().unwrap();
    let srv = Server::start(
        &bin,
        &["-v", "-H", "-R", "-l", "0", "::1", "0", "/usr/bin/env"],
        |_| {},
    );
    let to: SocketAddr = format!("[::1]:{}", srv.port).parse().unwrap();
    let (out, cport) = fetch(to);
    let ports = [(srv.port, "LPORT"), (cport, "RPORT")];
    let mut env = env_lines(&out, &ports);
    env.sort();
    let mut want: Vec<String> = [
        "DNSCACHEIP=127.0.0.254:9",
        "PATH=/usr/bin:/bin",
        "PROTO=TCP6",
        "TCP6LOCALHOST=0",
        "TCP6LOCALIP=::1",
        "TCP6LOCALPORT=LPORT",
        "TCP6REMOTEIP=::1",
        "TCP6REMOTEPORT=RPORT",
        "TCPLOCALHOST=0",
        "TCPLOCALIP=::1",
        "TCPLOCALPORT=LPORT",
        "TCPREMOTEIP=::1",
        "TCPREMOTEPORT=RPORT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(env, want);
    let log = normalise_all(&srv.wait_ends(1), &ports);
    assert!(
        log.contains(&"tcpserver: pid PID from ::1".to_string())
            && log.contains(&"tcpserver: ok PID 0:::1:LPORT :::1::RPORT".to_string()),
        "{log:#?}"
    );
}

#[test]
fn dual_stack_ipv4_clients_look_exactly_like_0_88() {
    let bin = Impl::Ours.path().unwrap();
    let args = ["-v", "-H", "-R", "-l", "0"];
    let mut a: Vec<&str> = args.to_vec();
    a.extend([":0", "0", "/usr/bin/env"]);
    let srv = Server::start(&bin, &a, |_| {});
    let (out, cport) = fetch(srv.addr());
    let ports = [(srv.port, "LPORT"), (cport, "RPORT")];
    let env = env_lines(&out, &ports);
    let log = normalise_all(&srv.wait_ends(1), &ports);
    let (v4env, v4log) = env_and_log(Impl::Ours, &args, IpAddr::V4(Ipv4Addr::LOCALHOST), &[]);
    assert_eq!(env, v4env);
    assert_eq!(log, v4log);
    // And an IPv6 client of the same socket is a TCP6 one.
    let to: SocketAddr = format!("[::1]:{}", srv.port).parse().unwrap();
    let (out, _) = fetch(to);
    assert!(out.lines().any(|l| l == "PROTO=TCP6"), "{out}");
}

#[test]
fn ipv6_paranoid_check_uses_aaaa() {
    let six: IpAddr = "::1".parse().unwrap();
    let dns = DnsServer::start(
        Zone::new()
            .ptr(six, "Six.Example")
            .aaaa("six.example", "::1".parse().unwrap()),
    )
    .unwrap();
    let bin = Impl::Ours.path().unwrap();
    let srv = Server::start(
        &bin,
        &["-v", "-p", "-R", "-l", "0", "::1", "0", "/usr/bin/env"],
        |c| {
            c.env("DNSCACHEIP", dns.dnscacheip());
        },
    );
    let (out, _) = fetch(SocketAddr::new(six, srv.port));
    assert!(
        out.lines().any(|l| l == "TCPREMOTEHOST=six.example"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == "TCP6REMOTEHOST=six.example"),
        "{out}"
    );
}

#[test]
fn a_slow_lookup_holds_a_slot_but_never_the_accept_loop() {
    let slow = unique_loopback();
    let fast = unique_loopback();
    let dns = DnsServer::start(
        Zone::new()
            .ptr(IpAddr::V4(slow), "slow.example")
            .delay(
                &e2e::dns::reverse_name(IpAddr::V4(slow)),
                std::time::Duration::from_millis(1500),
            )
            .ptr(IpAddr::V4(fast), "fast.example"),
    )
    .unwrap();
    let bin = Impl::Ours.path().unwrap();
    for limit in ["40", "1"] {
        let srv = Server::start(
            &bin,
            &[
                "-v",
                "-c",
                limit,
                "-R",
                "-l",
                "0",
                "127.0.0.1",
                "0",
                "/bin/sh",
                "-c",
                "echo $TCPREMOTEHOST",
            ],
            |c| {
                c.env("DNSCACHEIP", dns.dnscacheip());
            },
        );
        let a = connect_from(IpAddr::V4(slow), srv.addr());
        srv.wait_log("the slow client's status line", |l| {
            l.iter()
                .any(|x| x == &format!("tcpserver: status: 1/{limit}"))
        });
        let t = std::time::Instant::now();
        let (b, _) = fetch_from(IpAddr::V4(fast), srv.addr());
        let fast_took = since(t);
        assert_eq!(b, "fast.example\n");
        assert_eq!(read_all(a), "slow.example\n");
        let log = srv.wait_ends(2);
        let oks: Vec<&String> = log.iter().filter(|l| l.contains(" ok ")).collect();
        if limit == "40" {
            // The fast client did not wait for the slow one's lookup.
            assert!(fast_took < 1.4, "the fast client waited {fast_took:.2} s");
            assert!(oks[0].contains("fast.example"), "{log:#?}");
        } else {
            // At -c 1 the pending lookup holds the only slot.
            assert!(oks[0].contains("slow.example"), "{log:#?}");
        }
    }
}

#[test]
fn ident_timeout_t_matches_debian() {
    if e2e::skip_unless_root("identd on port 113 of the client address") {
        return;
    }
    for imp in Impl::both() {
        let client = unique_loopback();
        let _identd = Identd::start(IpAddr::V4(client), "!hang");
        let t = std::time::Instant::now();
        let (env, log) = env_and_log(
            imp,
            &["-v", "-H", "-l", "0", "-t", "1"],
            IpAddr::V4(client),
            &[],
        );
        let took = since(t);
        assert!((0.9..5.0).contains(&took), "{imp:?}: {took:.2} s");
        assert!(
            !env.iter().any(|l| l.starts_with("TCPREMOTEINFO")),
            "{imp:?}: {env:?}"
        );
        assert!(
            log.contains(&format!(
                "tcpserver: ok PID 0:127.0.0.1:LPORT :{client}::RPORT"
            )),
            "{log:#?}"
        );
    }
}

#[test]
fn nodelay_with_capital_d_matches_debian() {
    // The handler asks its socket for TCP_NODELAY (python3 has the call).
    let probe = "import socket; s = socket.socket(fileno=0); print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))";
    if std::process::Command::new("python3")
        .arg("-c")
        .arg("1")
        .status()
        .is_err()
    {
        eprintln!("SKIPPED: python3 is not installed");
        return;
    }
    for imp in Impl::both() {
        let bin = imp.path().unwrap();
        for (flag, want) in [("-D", "1\n"), ("-d", "0\n")] {
            let srv = Server::start(
                &bin,
                &[
                    flag,
                    "-H",
                    "-R",
                    "-l",
                    "0",
                    "127.0.0.1",
                    "0",
                    "/usr/bin/env",
                    "python3",
                    "-c",
                    probe,
                ],
                |c| {
                    if let Some(p) = std::env::var_os("PATH") {
                        c.env("PATH", p);
                    }
                },
            );
            assert_eq!(fetch(srv.addr()).0, want, "{imp:?} {flag}");
        }
    }
}
