//! `-x` rules: allow, deny and variables by client address (127.0.0.1
//! against 127.0.0.2), missing, unreadable and corrupt cdbs, and rules
//! recompiled while connections keep coming. Logs are compared with
//! Debian's tcpserver where it is installed.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::support::*;

const RULES: &str = "127.0.0.1:allow,RELAYCLIENT=\"\",WHO=\"one\"\n\
127.0.0.2:deny\n\
127.0.0.3:allow,TCPREMOTEIP=\"faked\",PROTO=\"X\"\n\
:allow,WHO=\"default\"\n";

/// Serve `/usr/bin/env` with `-x cdb` and `args`; one connection from
/// `from`; (client output, normalised log).
fn one(imp: Impl, args: &[&str], cdb: &Path, from: Ipv4Addr) -> (String, Vec<String>) {
    let bin = imp.path().unwrap();
    let cdb = cdb.to_str().unwrap();
    let mut a: Vec<&str> = vec!["-v", "-H", "-R", "-l", "0", "-x", cdb];
    a.extend(args);
    a.extend(["127.0.0.1", "0", "/usr/bin/env"]);
    let srv = Server::start(&bin, &a, |_| {});
    let (out, cport) = fetch_from(IpAddr::V4(from), srv.addr());
    let log = srv.wait_ends(1);
    let ports = [(srv.port, "LPORT"), (cport, "RPORT")];
    (out, normalise_all(&log, &ports))
}

fn compare(args: &[&str], cdb: &Path, from: Ipv4Addr) -> (String, Vec<String>) {
    let (out, log) = one(Impl::Ours, args, cdb, from);
    if Impl::Debian.path().is_some() {
        let (dout, dlog) = one(Impl::Debian, args, cdb, from);
        let strip = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| !l.starts_with("TCPLOCALPORT=") && !l.starts_with("TCPREMOTEPORT="))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(strip(&out), strip(&dout), "{args:?} from {from}");
        assert_eq!(log, dlog, "{args:?} from {from}");
    }
    (out, log)
}

#[test]
fn allow_deny_and_variables_by_address() {
    let dir = tempfile::tempdir().unwrap();
    let cdb = dir.path().join("r.cdb");
    compile_rules(&cdb, RULES);

    let (out, log) = compare(&[], &cdb, Ipv4Addr::new(127, 0, 0, 1));
    assert!(out.lines().any(|l| l == "RELAYCLIENT="), "{out}");
    assert!(out.lines().any(|l| l == "WHO=one"), "{out}");
    assert!(log.iter().any(|l| l.starts_with("tcpserver: ok PID ")));

    let (out, log) = compare(&[], &cdb, Ipv4Addr::new(127, 0, 0, 2));
    assert_eq!(out, "", "a denied client gets nothing");
    assert_eq!(
        log[2..],
        [
            "tcpserver: pid PID from 127.0.0.2",
            "tcpserver: deny PID 0:127.0.0.1:LPORT :127.0.0.2::RPORT",
            "tcpserver: end PID status 25600",
            "tcpserver: status: 0/40",
        ]
    );

    // A rule may override the server's own variables; the log shows the
    // real ones.
    let (out, log) = compare(&[], &cdb, Ipv4Addr::new(127, 0, 0, 3));
    assert!(out.lines().any(|l| l == "TCPREMOTEIP=faked"), "{out}");
    assert!(out.lines().any(|l| l == "PROTO=X"), "{out}");
    assert!(log.contains(&"tcpserver: ok PID 0:127.0.0.1:LPORT :127.0.0.3::RPORT".to_string()));

    let (out, _) = compare(&[], &cdb, Ipv4Addr::new(127, 0, 0, 4));
    assert!(out.lines().any(|l| l == "WHO=default"), "{out}");
}

#[test]
fn a_denied_client_still_gets_the_banner() {
    let dir = tempfile::tempdir().unwrap();
    let cdb = dir.path().join("r.cdb");
    compile_rules(&cdb, RULES);
    let (out, _) = compare(&["-B", "220 hi\r\n"], &cdb, Ipv4Addr::new(127, 0, 0, 2));
    assert_eq!(out, "220 hi\r\n");
    let (out, _) = compare(&["-B", "220 hi\r\n"], &cdb, Ipv4Addr::new(127, 0, 0, 1));
    assert!(out.starts_with("220 hi\r\n") && out.contains("WHO=one"));
}

#[test]
fn a_missing_cdb_drops_unless_x() {
    let dir = tempfile::tempdir().unwrap();
    let cdb = dir.path().join("missing.cdb");
    let lo = Ipv4Addr::LOCALHOST;
    let (out, log) = compare(&[], &cdb, lo);
    assert_eq!(out, "");
    assert_eq!(
        log[2..],
        [
            "tcpserver: pid PID from 127.0.0.1".to_string(),
            format!(
                "tcpserver: warning: dropping connection, unable to read {}: file does not exist",
                cdb.display()
            ),
            "tcpserver: end PID status 28416".to_string(),
            "tcpserver: status: 0/40".to_string(),
        ]
    );
    let (out, log) = compare(&["-X"], &cdb, lo);
    assert!(out.contains("PROTO=TCP"));
    assert!(log.iter().any(|l| l.starts_with("tcpserver: ok ")));
}

#[test]
fn an_unreadable_cdb_drops_even_with_capital_x() {
    if e2e::skip_unless_root("-u 65534 to make a root-only cdb unreadable") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cdb = dir.path().join("priv.cdb");
    compile_rules(&cdb, RULES);
    std::fs::set_permissions(&cdb, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (out, log) = compare(
        &["-u", "65534", "-g", "65534", "-X"],
        &cdb,
        Ipv4Addr::LOCALHOST,
    );
    assert_eq!(out, "");
    assert!(
        log.contains(&format!(
            "tcpserver: warning: dropping connection, unable to read {}: access denied",
            cdb.display()
        )),
        "{log:#?}"
    );
    assert!(log.contains(&"tcpserver: end PID status 28416".to_string()));
}

#[test]
fn corrupt_cdbs_drop_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.cdb");
    compile_rules(&good, RULES);
    let bytes = std::fs::read(&good).unwrap();
    let cases: [(&str, Vec<u8>); 3] = [
        ("empty.cdb", Vec::new()),
        ("short.cdb", bytes[..100].to_vec()),
        ("half.cdb", bytes[..bytes.len() / 2 + 1].to_vec()),
    ];
    for (name, data) in cases {
        let cdb = dir.path().join(name);
        std::fs::write(&cdb, &data).unwrap();
        let (out, log) = compare(&[], &cdb, Ipv4Addr::LOCALHOST);
        assert_eq!(out, "", "{name}");
        let prefix = format!(
            "tcpserver: warning: dropping connection, unable to read {}: ",
            cdb.display()
        );
        assert!(
            log.iter().any(|l| l.starts_with(&prefix)),
            "{name}: {log:#?}"
        );
        assert!(
            log.contains(&"tcpserver: end PID status 28416".to_string()),
            "{name}"
        );
    }
    // A directory named as the cdb (0.88's tcprulescheck crashed on one).
    let (out, log) = one(Impl::Ours, &[], dir.path(), Ipv4Addr::LOCALHOST);
    assert_eq!(out, "");
    assert!(
        log.contains(&"tcpserver: end PID status 28416".to_string()),
        "{log:#?}"
    );
}

#[test]
fn rules_recompiled_during_traffic_never_break_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let cdb = dir.path().join("live.cdb");
    let old = "127.0.0.1:allow,V=\"old\"\n:deny\n";
    let new = "127.0.0.1:allow,V=\"new\"\n:deny\n";
    compile_rules(&cdb, old);
    let bin = Impl::Ours.path().unwrap();
    let c = cdb.to_str().unwrap();
    let srv = Server::start(
        &bin,
        &[
            "-v",
            "-H",
            "-R",
            "-l",
            "0",
            "-x",
            c,
            "127.0.0.1",
            "0",
            "/usr/bin/env",
        ],
        |_| {},
    );
    let addr = srv.addr();
    const N: usize = 150;
    let clients = std::thread::spawn(move || {
        let mut seen = Vec::with_capacity(N);
        for _ in 0..N {
            let (out, _) = fetch(addr);
            let v = out
                .lines()
                .find_map(|l| l.strip_prefix("V="))
                .unwrap_or("NONE")
                .to_string();
            seen.push(v);
        }
        seen
    });
    let mut flips = 0;
    while !clients.is_finished() && flips < 400 {
        compile_rules(&cdb, if flips % 2 == 0 { new } else { old });
        flips += 1;
    }
    let seen = clients.join().unwrap();
    assert!(
        seen.iter().all(|v| v == "old" || v == "new"),
        "some connection saw neither rule set: {seen:?}"
    );
    assert!(flips > 1, "the rules never changed during the run");
    let log = srv.wait_ends(N);
    assert!(
        !log.iter().any(|l| l.contains("warning")),
        "{:#?}",
        log.iter()
            .filter(|l| l.contains("warning"))
            .collect::<Vec<_>>()
    );
    assert!(
        log.iter()
            .filter(|l| l.starts_with("tcpserver: end "))
            .all(|l| l.ends_with(" status 0"))
    );
}

#[test]
fn ipv6_and_cidr_rules_on_a_dual_stack_socket() {
    // IPv6 and CIDR keys need our tcprules (0.88's has neither).
    let dir = tempfile::tempdir().unwrap();
    let cdb = dir.path().join("six.cdb");
    let tmp = dir.path().join("six.tmp");
    let rules = "::1:allow,V6=\"yes\"\n127.0.0.0/8:allow,NET=\"loopback\"\n127.0.0.9:deny\n:deny\n";
    let out = e2e::tcprules::run(&e2e::bin("tcprules"), &cdb, &tmp, rules.as_bytes());
    assert!(out.status.success());
    let bin = Impl::Ours.path().unwrap();
    let srv = Server::start(
        &bin,
        &[
            "-v",
            "-H",
            "-R",
            "-l",
            "0",
            "-x",
            cdb.to_str().unwrap(),
            ":0",
            "0",
            "/usr/bin/env",
        ],
        |_| {},
    );
    let six: std::net::SocketAddr = format!("[::1]:{}", srv.port).parse().unwrap();
    let (out, _) = fetch(six);
    assert!(
        out.lines().any(|l| l == "V6=yes") && out.contains("PROTO=TCP6"),
        "{out}"
    );
    let (out, _) = fetch_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5)), srv.addr());
    assert!(
        out.lines().any(|l| l == "NET=loopback") && out.contains("PROTO=TCP\n"),
        "{out}"
    );
    // An exact address beats the CIDR rule.
    let (out, _) = fetch_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), srv.addr());
    assert_eq!(out, "");
    let log = srv.wait_ends(3);
    assert!(
        log.iter()
            .any(|l| l.starts_with("tcpserver: deny ") && l.contains(":127.0.0.9::")),
        "{log:#?}"
    );
}

#[test]
fn a_slow_rules_rescan_does_not_stall_the_accept_loop() {
    // A 4 GiB sparse "cdb": its header says the records run to the end,
    // so indexing its network lengths reads every byte (minutes), while a
    // lookup reads only the empty hash tables and finds nothing (allow).
    // tcpserver must keep serving while the index is built, with the
    // answers of a plain lookup.
    let dir = tempfile::tempdir().unwrap();
    let cdb = dir.path().join("big.cdb");
    let f = std::fs::File::create(&cdb).unwrap();
    std::io::Write::write_all(&mut &f, &0xffff_fff0u32.to_le_bytes()).unwrap();
    f.set_len(1 << 32).unwrap();
    drop(f);
    let bin = Impl::Ours.path().unwrap();
    let srv = Server::start(
        &bin,
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
            "/usr/bin/env",
        ],
        |_| {},
    );
    let deadline = std::time::Duration::from_secs(5);
    for i in 0..3 {
        let t = std::time::Instant::now();
        let s = connect(srv.addr());
        s.set_read_timeout(Some(deadline)).unwrap();
        let mut out = String::new();
        let got = std::io::Read::read_to_string(&mut &s, &mut out);
        assert!(
            got.is_ok() && out.contains("PROTO=TCP"),
            "connection {i} not served within {deadline:?} ({:?}): {got:?} {out:?}",
            t.elapsed()
        );
    }
    srv.wait_ends(3);
}
