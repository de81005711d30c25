//! ucspi-tcp's small tools beside Debian's 0.88, byte for byte: addcr,
//! delcr, fixcrio, recordio, argv0 (usage lines, failures, output), and
//! the clients over tcpclient (mconnect, tcpcat, who@, date@, finger@,
//! http@) against a server on loopback.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::support::*;

/// Run our `name` and Debian's on the same input; returns ours (and
/// asserts Debian's is the same when installed).
fn same(name: &str, args: &[&str], input: &[u8]) -> Out {
    let (ours, deb) = both(name);
    let o = run(&ours, args, &[], input);
    if let Some(d) = deb {
        let d = run(&d, args, &[], input);
        assert_eq!(o, d, "{name} {args:?} on {input:?}");
    }
    o
}

#[test]
fn addcr_and_delcr_match_debian() {
    let mut big = Vec::new();
    let mut rng = e2e::rng::Rng::new(12);
    for _ in 0..100_000 {
        big.push(*b"ab\r\n\r\n\r\0".get(rng.below(8) as usize).unwrap());
    }
    let inputs: [&[u8]; 7] = [
        b"",
        b"x\r\ny\rz\r",
        b"\r\r\n\n\r",
        b"no newline",
        b"a\nb\r\n",
        b"\r",
        &big,
    ];
    for input in inputs {
        same("addcr", &[], input);
        same("delcr", &[], input);
    }
    let o = same("delcr", &[], b"x\r\ny\rz\r\r\nq\n\r");
    assert_eq!((o.stdout, o.code), (b"x\ny\rz\r\nq\n\r".to_vec(), Some(0)));
    let o = same("addcr", &[], b"x\r\ny\n");
    assert_eq!((o.stdout, o.code), (b"x\r\r\ny\r\n".to_vec(), Some(0)));
}

#[test]
fn usage_lines_match_debian() {
    for (name, args) in [
        ("recordio", &[][..]),
        ("fixcrio", &[][..]),
        ("argv0", &[][..]),
        ("argv0", &["/bin/sh"][..]),
    ] {
        let o = same(name, args, b"");
        assert_eq!(o.code, Some(100), "{name}");
        assert!(
            o.err_text().starts_with(&format!("{name}: usage: {name} ")),
            "{o:?}"
        );
    }
}

#[test]
fn failures_to_run_match_debian() {
    let o = same("argv0", &["/nonexistent/prog", "x"], b"");
    assert_eq!(o.code, Some(111));
    assert_eq!(
        o.err_text(),
        "argv0: fatal: unable to run /nonexistent/prog: file does not exist\n"
    );
    for name in ["recordio", "fixcrio"] {
        let (ours, deb) = both(name);
        let o = run(&ours, &["/nonexistent/prog"], &[], b"");
        assert_eq!(o.code, Some(111));
        // Whether the relay sees the end of the input before the end of
        // the output (and prints `< [EOF]`) is a race, in 0.88 too.
        let lines_of = |b: &[u8]| -> Vec<String> {
            let mut l: Vec<String> = no_pids(b)
                .lines()
                .filter(|l| *l != "PID < [EOF]")
                .map(String::from)
                .collect();
            l.sort();
            l
        };
        let lines = lines_of(&o.stderr);
        let want = format!("{name}: fatal: unable to run /nonexistent/prog: file does not exist");
        assert!(lines.contains(&want), "{lines:?}");
        if let Some(d) = deb {
            let d = run(&d, &["/nonexistent/prog"], &[], b"");
            assert_eq!((&lines, o.code), (&lines_of(&d.stderr), d.code), "{name}");
        }
    }
}

#[test]
fn recordio_lines_match_debian() {
    let long = "a".repeat(600);
    let cases: [(&[&str], Vec<u8>); 4] = [
        (
            &["sh", "-c", "cat >/dev/null; printf 'a\\nb\\n\\nc'"],
            b"hello\nwor".to_vec(),
        ),
        (&["cat"], format!("x\n{long}\n").into_bytes()),
        (&["sh", "-c", "cat; exit 3"], b"one\ntwo".to_vec()),
        (&["true"], Vec::new()),
    ];
    let (ours, deb) = both("recordio");
    for (args, input) in cases {
        let o = run(&ours, args, &[], &input);
        // Each direction's lines keep their order; the two directions
        // interleave as the packets happen to come.
        let split = |out: &Out| -> (Vec<String>, Vec<String>) {
            let t = no_pids(&out.stderr);
            let lines: Vec<String> = t.lines().map(String::from).collect();
            let dir = |d: &str| lines.iter().filter(|l| l.starts_with(d)).cloned().collect();
            (dir("PID <"), dir("PID >"))
        };
        let (inp, outp) = split(&o);
        assert_eq!(
            o.stdout.len(),
            if args[0] == "cat" {
                input.len()
            } else {
                o.stdout.len()
            }
        );
        assert_eq!(
            outp.last().map(String::as_str),
            Some("PID > [EOF]"),
            "{args:?}"
        );
        if args[0] == "cat" {
            // 256-byte packets: "x\n" and 254 a's, then 256, then the rest.
            assert_eq!(inp[0], "PID < x ");
            assert_eq!(inp[1], format!("PID < {}+", "a".repeat(254)));
            assert_eq!(inp[2], format!("PID < {}+", "a".repeat(256)));
            assert_eq!(inp[3], format!("PID < {} ", "a".repeat(90)));
        }
        if let Some(d) = &deb {
            let dout = run(d, args, &[], &input);
            assert_eq!((&o.stdout, o.code), (&dout.stdout, dout.code), "{args:?}");
            let (dinp, doutp) = split(&dout);
            assert_eq!(outp, doutp, "{args:?}");
            // The program may finish (and recordio stop) before the end of
            // the input is seen: compare what both saw.
            let n = inp.len().min(dinp.len());
            assert_eq!(inp[..n], dinp[..n], "{args:?}");
        }
    }
    let o = run(&ours, &["sh", "-c", "exit 3"], &[], b"");
    assert_eq!(o.code, Some(3));
}

#[test]
fn fixcrio_and_argv0_match_debian() {
    let o = same(
        "fixcrio",
        &["sh", "-c", "cat; printf 'o\\nq\\r\\n'"],
        b"a\nb\r\nc",
    );
    assert_eq!(o.stdout, b"a\r\nb\r\nco\r\nq\r\n");
    let o = same("fixcrio", &["sh", "-c", "cat >/dev/null; exit 7"], b"x\n");
    assert_eq!(o.code, Some(7));
    // sh -c takes the word after the script as its $0.
    let o = same("argv0", &["/bin/sh", "zz", "-c", "echo $0", "one"], b"");
    assert_eq!(o.stdout, b"one\n");
    let o = same("argv0", &["sh", "-sh", "-c", "echo $0"], b"");
    assert_eq!(o.stdout, b"-sh\n");
}

/// A directory holding our client scripts beside our tcpclient, addcr,
/// delcr and mconnect-io, as an installation has them.
fn our_scripts() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for prog in [
        "tcpclient",
        "addcr",
        "delcr",
        "mconnect-io",
        "mconnect",
        "tcpcat",
    ] {
        std::os::unix::fs::symlink(e2e::bin(prog), dir.path().join(prog)).unwrap();
    }
    for s in ["who@", "date@", "finger@", "http@"] {
        let from = e2e::workspace().join("ucspi-tools/scripts").join(s);
        std::fs::copy(&from, dir.path().join(s)).unwrap();
    }
    dir
}

/// Run client `name` (ours from `dir`, then Debian's) with `args` and
/// `input`; returns (ours, Debian's) outputs and what the server got.
fn client(
    dir: &tempfile::TempDir,
    name: &str,
    args: &[&str],
    input: &[u8],
    server: &Responder,
) -> Vec<(Out, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = vec![dir.path().join(name)];
    if let Some(d) = e2e::original(&format!("/usr/bin/{name}")) {
        paths.push(d);
    }
    paths
        .iter()
        .map(|p| {
            let before = server.requests.lock().unwrap().len();
            let o = run(p, args, &[], input);
            let reqs = server.requests.lock().unwrap();
            let got = reqs.get(before).cloned().unwrap_or_default();
            (o, got)
        })
        .collect()
}

fn all_same(runs: &[(Out, Vec<u8>)], what: &str) {
    for r in &runs[1..] {
        assert_eq!(&runs[0], r, "{what}: ours, then Debian's");
    }
}

#[test]
fn tcpcat_and_mconnect_match_debian() {
    let dir = our_scripts();
    let srv = Responder::start(
        "127.0.0.1:0".parse().unwrap(),
        b"",
        b"line one\r\n\x01two\r\n",
    );
    let port = srv.addr.port().to_string();
    let runs = client(&dir, "tcpcat", &["127.0.0.1", &port], b"", &srv);
    assert_eq!(runs[0].0.stdout, b"line one\r\n\x01two\r\n");
    all_same(&runs, "tcpcat");
    // mconnect sends its input with CRs added; what it prints races with
    // the end of its input (0.88 stops at once), so only the server's
    // side is compared.
    let smtp = Responder::start("127.0.0.1:0".parse().unwrap(), b"QUIT\r\n", b"220 x\r\n");
    let port = smtp.addr.port().to_string();
    let runs = client(
        &dir,
        "mconnect",
        &["127.0.0.1", &port],
        b"HELO a\nQUIT\n",
        &smtp,
    );
    assert_eq!(runs[0].1, b"HELO a\r\nQUIT\r\n");
    for r in &runs[1..] {
        assert_eq!((&r.0.code, &r.1), (&runs[0].0.code, &runs[0].1));
    }
    // Nothing listening: tcpclient's message and exit code.
    drop(srv);
    let refused = format!("{}", free_port());
    let runs = client(&dir, "tcpcat", &["127.0.0.1", &refused], b"", &smtp);
    assert_eq!(runs[0].0.code, Some(111));
    assert_eq!(
        runs[0].0.err_text(),
        format!("tcpclient: unable to connect to 127.0.0.1 port {refused}: connection refused\n")
    );
    all_same(&runs, "tcpcat refused");
}

/// A port nothing listens on (bound, then closed).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn at_clients_match_debian() {
    if e2e::skip_unless_root("who@, date@ and finger@ use ports 11, 13 and 79") {
        return;
    }
    let dir = our_scripts();
    let ip = IpAddr::V4(e2e::net::unique_loopback());
    let host = ip.to_string();
    let who = Responder::start(
        SocketAddr::new(ip, 11),
        b"",
        b"root  tty1\r\nodd \x01\x7f\xe9\r\nlast",
    );
    let runs = client(&dir, "who@", &[&host], b"", &who);
    assert_eq!(runs[0].0.out_text(), "root  tty1\nodd ^A^?M-i\nlast");
    all_same(&runs, "who@");
    let date = Responder::start(
        SocketAddr::new(ip, 13),
        b"",
        b"Wed Dec  2 20:00:00 2026\r\n",
    );
    let runs = client(&dir, "date@", &[&host], b"", &date);
    assert_eq!(runs[0].0.out_text(), "Wed Dec  2 20:00:00 2026\n");
    all_same(&runs, "date@");
    let finger = Responder::start(
        SocketAddr::new(ip, 79),
        b"\n",
        b"Login: joe\r\n\tPlan:\x02\r\n",
    );
    let runs = client(&dir, "finger@", &[&host, "joe"], b"", &finger);
    assert_eq!(runs[0].1, b"joe\r\n");
    assert_eq!(runs[0].0.out_text(), "Login: joe\n\tPlan:^B\n");
    all_same(&runs, "finger@");
    let runs = client(&dir, "finger@", &[&host], b"", &finger);
    assert_eq!(runs[0].1, b"\r\n");
    all_same(&runs, "finger@ without a user");
    let http = Responder::start(
        SocketAddr::new(ip, 0),
        b"\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n<p>body</p>\r\nmore\r\n",
    );
    let port = http.addr.port().to_string();
    let runs = client(&dir, "http@", &[&host, "a/b.html", &port], b"", &http);
    assert_eq!(
        String::from_utf8_lossy(&runs[0].1),
        format!("GET /a/b.html HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n")
    );
    assert_eq!(runs[0].0.out_text(), "<p>body</p>\nmore\n");
    all_same(&runs, "http@");
    // Nothing on port 11 of another address.
    let other = e2e::net::unique_loopback().to_string();
    let runs = client(&dir, "who@", &[&other], b"", &who);
    assert_eq!(
        runs[0].0.err_text(),
        format!("tcpclient: unable to connect to {other} port 11: connection refused\n")
    );
    all_same(&runs, "who@ refused");
}
