//! rblsmtpd beside Debian's 0.88, byte for byte: usage and failures, the
//! whole dialogue with a listed client (451 and 553), the exec for an
//! unlisted one, -a, TXT texts with odd bytes, failed lookups; ours
//! alone: the deadline on a DNS server that never answers, IPv6 under
//! tcpserver on [::1], and the A-record form. Every name is answered by
//! the test's own DNS server.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::support::*;
use e2e::dns::{DnsServer, Zone};

/// Everything a client might say, each command once.
const DIALOGUE: &[u8] = b"HELO x\r\nehlo y\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nNoOp\r\nRSET\r\nVRFY x\r\nmailx\r\nQUIT\r\nHELO after\r\n";

fn answers(reject: &str) -> String {
    let ok = "250 rblsmtpd.local\r\n";
    format!(
        "220 rblsmtpd.local\r\n{ok}{ok}{ok}{reject}\r\n{reject}\r\n{ok}{ok}{reject}\r\n{reject}\r\n221 rblsmtpd.local\r\n"
    )
}

fn zone() -> Zone {
    Zone::new()
        .txt("4.3.2.1.rbl.test", "Listed: see http://rbl.test/?1.2.3.4")
        .txt_bytes(
            "5.3.2.1.rbl.test",
            &[b"odd\x01\xff", b" \x7f~ ", b"two strings"],
        )
        .txt_bytes("5.3.2.1.rbl.test", &[b" and a second record"])
        .txt("6.3.2.1.rbl.test", &"x".repeat(250))
        .a("4.3.2.1.good.test", Ipv4Addr::new(127, 0, 0, 2))
        .a("4.3.2.1.zen.test", Ipv4Addr::new(127, 0, 0, 4))
        .a("5.3.2.1.zen.test", Ipv4Addr::new(127, 255, 255, 254))
        .txt("4.3.2.1.zen.test", "zen's own text")
        .servfail("4.3.2.1.broken.test")
        .silent("4.3.2.1.slow.test")
}

struct Setup {
    dns: DnsServer,
    impls: Vec<PathBuf>,
}

fn setup() -> Setup {
    let (dns, debian_can) = dns(zone());
    let (ours, deb) = both("rblsmtpd");
    let mut impls = vec![ours];
    if debian_can {
        impls.extend(deb);
    }
    Setup { dns, impls }
}

impl Setup {
    /// Run every implementation as client `ip`; asserts they agree (pids
    /// normalised) and returns ours: (stdout, stderr, code).
    fn same(
        &self,
        ip: &str,
        args: &[&str],
        extra: &[(&str, &str)],
        input: &[u8],
    ) -> (String, String, Option<i32>) {
        let dnsip = self.dns.dnscacheip();
        let mut env = vec![("DNSCACHEIP", dnsip.as_str()), ("TCPREMOTEIP", ip)];
        env.extend_from_slice(extra);
        let runs: Vec<(String, String, Option<i32>)> = self
            .impls
            .iter()
            .map(|p| {
                let o = run(p, args, &env, input);
                (o.out_text(), no_pids(&o.stderr), o.code)
            })
            .collect();
        for r in &runs[1..] {
            assert_eq!(&runs[0], r, "{args:?} {extra:?}: ours, then Debian's");
        }
        runs[0].clone()
    }
}

#[test]
fn usage_and_failures_match_debian() {
    let s = setup();
    let usage = "rblsmtpd: usage: rblsmtpd [ -b ] [ -R ] [ -t timeout ] [ -r base ] [ -a base ] smtpd [ arg ... ]\n";
    let none: &[(&str, &str)] = &[];
    let (_, e, c) = s.same("1.2.3.9", &[], none, b"");
    assert_eq!((e.as_str(), c), (usage, Some(100)));
    let (_, e, c) = s.same("1.2.3.9", &["-x", "smtpd"], none, b"");
    assert_eq!(
        (e, c),
        (format!("rblsmtpd: illegal option -- x\n{usage}"), Some(100))
    );
    let (_, e, _) = s.same("1.2.3.9", &["-r"], none, b"");
    assert_eq!(
        e,
        format!("rblsmtpd: option requires an argument -- r\n{usage}")
    );
    // -R is in 0.88's usage line but not among its options.
    let (_, e, _) = s.same("1.2.3.9", &["-R", "true"], none, b"");
    assert_eq!(e, format!("rblsmtpd: illegal option -- R\n{usage}"));
    s.same("1.2.3.9", &["-t"], none, b"");
    s.same("1.2.3.9", &["-r", "rbl.test", "-t", "5"], none, b"");
    let (_, e, c) = s.same(
        "1.2.3.9",
        &["-r", "rbl.test", "/nonexistent/smtpd"],
        none,
        b"",
    );
    assert_eq!(
        (e.as_str(), c),
        (
            "rblsmtpd: fatal: unable to run /nonexistent/smtpd: file does not exist\n",
            Some(111)
        )
    );
}

#[test]
fn listed_client_dialogue_matches_debian() {
    let s = setup();
    let none: &[(&str, &str)] = &[];
    let text = "Listed: see http://rbl.test/?1.2.3.4";
    // Temporary (451), the default.
    let (o, e, c) = s.same("1.2.3.4", &["-r", "rbl.test", "smtpd"], none, DIALOGUE);
    assert_eq!(o, answers(&format!("451 {text}")));
    assert_eq!(e, format!("rblsmtpd: 1.2.3.4 pid PID: 451 {text}\n"));
    assert_eq!(c, Some(0));
    // Permanent (553) with -b, which counts only for the lists after it.
    let (o, e, _) = s.same(
        "1.2.3.4",
        &["-b", "-r", "rbl.test", "smtpd"],
        none,
        DIALOGUE,
    );
    assert_eq!(o, answers(&format!("553 {text}")));
    assert_eq!(e, format!("rblsmtpd: 1.2.3.4 pid PID: 553 {text}\n"));
    let (o, _, _) = s.same(
        "1.2.3.4",
        &["-r", "rbl.test", "-b", "smtpd"],
        none,
        DIALOGUE,
    );
    assert_eq!(o, answers(&format!("451 {text}")));
    let (o, _, _) = s.same(
        "1.2.3.4",
        &["-b", "-B", "-r", "rbl.test", "smtpd"],
        none,
        DIALOGUE,
    );
    assert_eq!(o, answers(&format!("451 {text}")));
    // $RBLSMTPD decides before any list: text, -text, empty.
    let (o, e, _) = s.same(
        "1.2.3.9",
        &["-r", "rbl.test", "smtpd"],
        &[("RBLSMTPD", "No mail from you\x01")],
        DIALOGUE,
    );
    assert_eq!(o, answers("451 No mail from you?"));
    assert_eq!(e, "rblsmtpd: 1.2.3.9 pid PID: 451 No mail from you?\n");
    let (o, _, _) = s.same("1.2.3.9", &["smtpd"], &[("RBLSMTPD", "-Go away")], DIALOGUE);
    assert_eq!(o, answers("553 Go away"));
    // -t 0: the reply once, no dialogue.
    let (o, _, c) = s.same(
        "1.2.3.4",
        &["-t0", "-r", "rbl.test", "smtpd"],
        none,
        DIALOGUE,
    );
    assert_eq!((o, c), (format!("451 {text}\r\n"), Some(0)));
    // The client leaves without QUIT: the dialogue just ends.
    let (o, _, c) = s.same(
        "1.2.3.4",
        &["-r", "rbl.test", "smtpd"],
        none,
        b"HELO x\r\nMAIL",
    );
    assert_eq!(
        (o, c),
        (
            "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n".to_string(),
            Some(0)
        )
    );
}

#[test]
fn odd_txt_texts_match_debian() {
    let s = setup();
    let none: &[(&str, &str)] = &[];
    let (o, e, _) = s.same(
        "1.2.3.5",
        &["-r", "rbl.test", "smtpd"],
        none,
        b"RCPT\r\nQUIT\r\n",
    );
    let text = "odd?? ?~ two strings and a second record";
    assert_eq!(
        o,
        format!("220 rblsmtpd.local\r\n451 {text}\r\n221 rblsmtpd.local\r\n")
    );
    assert_eq!(e, format!("rblsmtpd: 1.2.3.5 pid PID: 451 {text}\n"));
    // Cut to 200 bytes.
    let (o, _, _) = s.same("1.2.3.6", &["-t0", "-r", "rbl.test", "smtpd"], none, b"");
    assert_eq!(o, format!("451 {}\r\n", "x".repeat(200)));
}

#[test]
fn unlisted_clients_get_the_server() {
    let s = setup();
    let none: &[(&str, &str)] = &[];
    let prog = ["sh", "-c", "echo ran $0 $1; cat", "smtpd", "arg"];
    let with = |pre: &[&'static str]| -> Vec<&str> { pre.iter().copied().chain(prog).collect() };
    let (o, e, c) = s.same("1.2.3.9", &with(&["-r", "rbl.test"]), none, b"input\n");
    assert_eq!(
        (o.as_str(), e.as_str(), c),
        ("ran smtpd arg\ninput\n", "", Some(0))
    );
    // -a: an anti-listed client passes without the RBL being asked.
    let before = s.dns.queries().len();
    let (o, _, _) = s.same(
        "1.2.3.4",
        &with(&["-a", "good.test", "-r", "rbl.test"]),
        none,
        b"",
    );
    assert_eq!(o, "ran smtpd arg\n");
    let asked: Vec<String> = s.dns.queries()[before..]
        .iter()
        .map(|q| q.0.clone())
        .collect();
    assert!(asked.iter().all(|q| q == "4.3.2.1.good.test"), "{asked:?}");
    // An empty $RBLSMTPD: no lookups at all.
    let before = s.dns.queries().len();
    let (o, _, _) = s.same(
        "1.2.3.4",
        &with(&["-r", "rbl.test"]),
        &[("RBLSMTPD", "")],
        b"",
    );
    assert_eq!(o, "ran smtpd arg\n");
    assert_eq!(s.dns.queries().len(), before);
    // Debian's 0.88 has no default list.
    let before = s.dns.queries().len();
    s.same("1.2.3.4", &prog, none, b"");
    assert_eq!(s.dns.queries().len(), before);
}

#[test]
fn failed_lookups_match_debian() {
    // A server failure: djb's resolver retries for about 11 s, so both
    // get a timeout (-t) long enough not to cut it, and the cases run
    // side by side.
    let s = setup();
    let none: &[(&str, &str)] = &[];
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let args = ["-t", "40", "-r", "broken.test", "echo", "open"];
            let (o, _, c) = s.same("1.2.3.4", &args, none, b"");
            assert_eq!((o.as_str(), c), ("open\n", Some(0)));
        });
        // Fail closed with -c.
        sc.spawn(|| {
            let args = ["-t", "40", "-c", "-r", "broken.test", "smtpd"];
            let (o, e, _) = s.same("1.2.3.4", &args, none, b"QUIT\r\n");
            assert_eq!(o, "220 rblsmtpd.local\r\n221 rblsmtpd.local\r\n");
            assert_eq!(
                e,
                "rblsmtpd: 1.2.3.4 pid PID: 451 temporary RBL lookup error\n"
            );
        });
        // A failure makes a later hit 451 even under -b.
        sc.spawn(|| {
            let args = [
                "-t",
                "40",
                "-b",
                "-r",
                "broken.test",
                "-r",
                "rbl.test",
                "smtpd",
            ];
            let (o, _, _) = s.same("1.2.3.4", &args, none, b"x\r\n");
            assert!(
                o.ends_with("\r\n451 Listed: see http://rbl.test/?1.2.3.4\r\n"),
                "{o}"
            );
        });
    });
}

#[test]
fn a_dns_server_that_never_answers_is_not_waited_past_the_timeout() {
    // 0.88 waits out djb's whole schedule (about a minute); ours stops
    // at the -t deadline and treats the lookup as failed.
    let (dns, _) = dns(zone());
    let r = e2e::bin("rblsmtpd");
    let dnsip = dns.dnscacheip();
    let env = [("DNSCACHEIP", dnsip.as_str()), ("TCPREMOTEIP", "1.2.3.4")];
    let t = Instant::now();
    let o = run(
        &r,
        &["-t", "2", "-r", "slow.test", "echo", "open"],
        &env,
        b"",
    );
    assert_eq!((o.out_text(), o.code), ("open\n".to_string(), Some(0)));
    assert!(
        t.elapsed() >= Duration::from_millis(1900) && t.elapsed() < Duration::from_secs(6),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let o = run(
        &r,
        &["-t", "2", "-c", "-r", "slow.test", "smtpd"],
        &env,
        b"",
    );
    assert_eq!(o.out_text(), "220 rblsmtpd.local\r\n");
    assert_eq!(
        no_pids(&o.stderr),
        "rblsmtpd: 1.2.3.4 pid PID: 451 temporary RBL lookup error\n"
    );
    // The lookups and then the dialogue, each bounded by -t.
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
}

#[test]
fn a_record_lists_and_ipv6_clients() {
    let (dns, _) = dns(zone().txt(
        &format!(
            "{}.rbl.test",
            e2e::dns::reverse_name(IpAddr::V6(Ipv6Addr::LOCALHOST)).trim_end_matches(".ip6.arpa")
        ),
        "six is listed",
    ));
    let r = e2e::bin("rblsmtpd");
    let dnsip = dns.dnscacheip();
    let env = |ip: &'static str| {
        vec![
            ("DNSCACHEIP", dnsip.clone()),
            ("TCPREMOTEIP", ip.to_string()),
        ]
    };
    let go = |ip: &'static str, args: &[&str]| -> Out {
        let e = env(ip);
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(&r, args, &e, b"")
    };
    let o = go(
        "1.2.3.4",
        &[
            "-t0",
            "-r",
            "zen.test:Blocked %IP%, see https://zen.test/",
            "smtpd",
        ],
    );
    assert_eq!(
        o.out_text(),
        "451 Blocked 1.2.3.4, see https://zen.test/\r\n"
    );
    let o = go("1.2.3.4", &["-t0", "-b", "-r", "zen.test:", "smtpd"]);
    assert_eq!(o.out_text(), "553 zen's own text\r\n");
    // 127.255.255.x is a list's error code, not a listing.
    let o = go("1.2.3.5", &["-t0", "-r", "zen.test:x", "echo", "open"]);
    assert_eq!(o.out_text(), "open\n");
    let o = go("::1", &["-t0", "-r", "rbl.test", "smtpd"]);
    assert_eq!(o.out_text(), "451 six is listed\r\n");
    let q = dns.queries();
    assert!(
        q.iter()
            .any(|(n, t)| n.starts_with("1.0.0.0.") && n.ends_with(".0.rbl.test") && *t == 16),
        "{q:?}"
    );

    // Under tcpserver on [::1]: the whole dialogue over IPv6.
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no IPv6 loopback");
        return;
    }
    let mut cmd = std::process::Command::new(e2e::bin("tcpserver"));
    cmd.args([
        "-1",
        "-v",
        "-RHl0",
        "::1",
        "0",
        r.to_str().unwrap(),
        "-r",
        "rbl.test",
        "echo",
        "open",
    ])
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .env("DNSCACHEIP", &dnsip)
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut srv = e2e::Proc::spawn(&mut cmd).unwrap();
    let (port, _) =
        e2e::read_line_from(srv.child.stdout.take().unwrap(), STEP).expect("tcpserver's port");
    let log = e2e::log::Log::new();
    log.follow(srv.child.stderr.take().unwrap(), Some("tcpserver"));
    let addr: std::net::SocketAddr = format!("[::1]:{}", port.trim()).parse().unwrap();
    let mut c = std::net::TcpStream::connect_timeout(&addr, STEP).unwrap();
    c.set_read_timeout(Some(STEP)).unwrap();
    c.write_all(b"EHLO six\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nQUIT\r\n")
        .unwrap();
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(
        got,
        "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n451 six is listed\r\n221 rblsmtpd.local\r\n"
    );
    let line = log
        .wait(STEP, |l| {
            l.iter()
                .find(|x| x.starts_with("rblsmtpd: ::1 pid "))
                .cloned()
        })
        .expect("rblsmtpd's log line");
    assert!(line.ends_with(": 451 six is listed"), "{line}");
    drop(srv);
}

#[test]
fn a_rule_sets_rblsmtpd_under_tcpserver() {
    // The usual site: tcprules gives one client $RBLSMTPD (blocked
    // permanently, no lookup) and others an empty one (never blocked).
    let dir = tempfile::tempdir().unwrap();
    let cdb = dir.path().join("smtp.cdb");
    let blocked = e2e::net::unique_loopback();
    let rules = format!(
        "{blocked}:allow,RBLSMTPD=\"-Spam from %s is refused\"\n127.0.0.1:allow,RBLSMTPD=\"\"\n"
    );
    let o = e2e::tcprules::run(
        &e2e::bin("tcprules"),
        &cdb,
        &dir.path().join("smtp.tmp"),
        rules.as_bytes(),
    );
    assert!(o.status.success(), "{o:?}");
    let (dns, _) = dns(zone());
    let mut cmd = std::process::Command::new(e2e::bin("tcpserver"));
    cmd.args(["-1", "-RHl0", "-x", cdb.to_str().unwrap(), "127.0.0.1", "0"])
        .arg(e2e::bin("rblsmtpd"))
        .args(["-r", "rbl.test", "echo", "the real server"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("DNSCACHEIP", dns.dnscacheip())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut srv = e2e::Proc::spawn(&mut cmd).unwrap();
    let (port, _) = e2e::read_line_from(srv.child.stdout.take().unwrap(), STEP).expect("port");
    let log = e2e::log::Log::new();
    log.follow(srv.child.stderr.take().unwrap(), Some("tcpserver"));
    let port: u16 = port.trim().parse().unwrap();
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = e2e::net::connect_from(IpAddr::V4(blocked), to, STEP);
    c.write_all(b"HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nQUIT\r\n")
        .unwrap();
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(
        got,
        "220 rblsmtpd.local\r\n250 rblsmtpd.local\r\n250 rblsmtpd.local\r\n553 Spam from %s is refused\r\n221 rblsmtpd.local\r\n"
    );
    let want = format!("rblsmtpd: {blocked} pid ");
    let line = log
        .wait(STEP, |l| l.iter().find(|x| x.starts_with(&want)).cloned())
        .expect("rblsmtpd's log line");
    assert!(line.ends_with(": 553 Spam from %s is refused"), "{line}");
    let before = dns.queries().len();
    let mut c = e2e::net::connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), to, STEP);
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "the real server\n");
    assert_eq!(
        dns.queries().len(),
        before,
        "an empty $RBLSMTPD asks nothing"
    );
    drop(srv);
}
