//! Our tcprules and tcprulescheck beside Debian's (ucspi-tcp 0.88) on
//! hand-written input: the fixture sample and its 46 edge cases, more
//! hand-written files, every error path, usage lines and file modes.
//! Where we differ on purpose (an empty variable name is refused, CIDR and
//! IPv6 keys, the temporary file removed on error) the test says so.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::support::*;

fn testdata(name: &str) -> PathBuf {
    e2e::workspace().join("rules/testdata").join(name)
}

/// Decode a Python bytes literal (the fixture's notation).
fn pybytes(s: &str) -> Vec<u8> {
    let s = s.trim();
    let b = s.as_bytes();
    let inner = &b[2..b.len() - 1];
    let mut out = Vec::new();
    let mut i = 0;
    while i < inner.len() {
        if inner[i] == b'\\' {
            i += 1;
            match inner[i] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'x' => {
                    let h = std::str::from_utf8(&inner[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(h, 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
        } else {
            out.push(inner[i]);
        }
        i += 1;
    }
    out
}

/// The 46 inputs of tcprules-edgecases.expected.txt.
fn edge_inputs() -> Vec<Vec<u8>> {
    let text = fs::read_to_string(testdata("tcprules-edgecases.expected.txt")).unwrap();
    let v: Vec<Vec<u8>> = text
        .split("=== input: ")
        .skip(1)
        .map(|c| pybytes(c.lines().next().unwrap()))
        .collect();
    assert_eq!(v.len(), 46);
    v
}

/// Hand-written files beyond the fixture: a realistic tcp.smtp, long
/// lines, odd bytes, many variables, duplicates.
fn more_inputs() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        b"# /etc/tcp.smtp\n127.:allow,RELAYCLIENT=\"\"\n192.168.1.:allow,RELAYCLIENT=\"\",RBLSMTPD=\"\"\n10.0.0.5-9:allow,RELAYCLIENT=\"\"\n=mx.example.com:allow,RELAYCLIENT=\"\"\n=.spammer.example:deny\n:allow\n".to_vec(),
        b"1.2.3.4:allow,A=\"1\",B='2',C=/3/,D=|4|,E=x5x,F=\"\",G=\"a b\",H=\"=,:\"\n".to_vec(),
        b"1.2.3.4:allow\n1.2.3.4:deny\n1.2.3.4:allow,X=\"third\"\n".to_vec(),
        b"1.2.3.\x00x:allow\n".to_vec(),
        b"1.2\x003.1-3:allow\n".to_vec(),
        b"1.2.3.4:deny,X=\"a\x00b\"\n".to_vec(),
        b"bad\x00:line\n".to_vec(),
        b"\xff\xfe:allow\n\xc3\xa9=x:deny\n".to_vec(),
        b"0-255.:allow\n".to_vec(),
        b"1.2.3.0-18446744073709551615:allow\n".to_vec(),
        b"1.2.3.18446744073709551616-2:allow\n".to_vec(),
        b"#only a comment".to_vec(),
        b"\n\n\n".to_vec(),
        b"no colon at all".to_vec(),
        b"x:allow,".to_vec(),
        b"=:deny\n=.:allow\n=..:allow\n".to_vec(),
        b"joe@:allow\n@:deny\n@=:allow\n".to_vec(),
        b"1.2.3.4:allow,X=\"".to_vec(),
        b"1.2.3.4:allow,X=\"v\" \n".to_vec(),
    ];
    let mut long = b"1.2.3.4:allow,BIG=\"".to_vec();
    long.extend(std::iter::repeat_n(b'x', 100_000));
    long.extend_from_slice(b"\"\n:deny\n");
    v.push(long);
    let mut many = Vec::new();
    for i in 0..3000 {
        many.extend_from_slice(
            format!("10.{}.{}.{}:allow,N=\"{i}\"\n", i % 7, i % 250, i % 199).as_bytes(),
        );
    }
    v.push(many);
    v
}

/// The inputs where we differ from 0.88 on purpose, and what we do.
fn deliberate(input: &[u8]) -> Option<&'static str> {
    if input.windows(2).any(|w| w == b",=") {
        Some("empty name refused")
    } else if input.starts_with(b"::1:") {
        Some("IPv6 key")
    } else if input.starts_with(b"1.2.3.0/24:") {
        Some("CIDR key")
    } else {
        None
    }
}

#[test]
fn the_sample_compiles_to_the_fixture_bytes() {
    let dir = scratch_dir();
    let rules = fs::read(testdata("tcprules-sample.rules")).unwrap();
    let want = fs::read(testdata("tcprules-sample.cdb")).unwrap();
    let ours = compile(&e2e::bin("tcprules"), dir.path(), "s", &rules);
    assert_eq!(ours.code, Some(0), "{}", show(&ours.stderr));
    assert!(ours.stderr.is_empty());
    assert_eq!(ours.cdb.as_deref(), Some(&want[..]));
    assert!(!ours.tmp_left);
    if let Some(deb) = e2e::original("/usr/bin/tcprules") {
        let theirs = compile(&deb, dir.path(), "d", &rules);
        assert_eq!(
            theirs.cdb.as_deref(),
            Some(&want[..]),
            "the fixture still matches Debian"
        );
    }
}

#[test]
fn hand_written_files_compile_identically() {
    let Some((ours, _, deb, _)) = both() else {
        return;
    };
    let dir = scratch_dir();
    let inputs: Vec<Vec<u8>> = edge_inputs().into_iter().chain(more_inputs()).collect();
    let results = par_map(&inputs, |i, input| {
        let a = compile(&ours, dir.path(), &format!("o{i}"), input);
        let b = compile(&deb, dir.path(), &format!("d{i}"), input);
        (a, b)
    });
    let mut differences = Vec::new();
    for (input, (a, b)) in inputs.iter().zip(&results) {
        match deliberate(input) {
            Some("empty name refused") => {
                assert_eq!(b.code, Some(0));
                assert_eq!(a.code, Some(100), "{}", show(input));
                assert!(
                    show(&a.stderr).starts_with("tcprules: fatal: unable to parse this line: ")
                );
            }
            Some(_) => assert_eq!(a.code, Some(0), "{}", show(&a.stderr)),
            None => {
                if (a.code, &a.stderr, &a.cdb) != (b.code, &b.stderr, &b.cdb) {
                    differences.push(format!(
                        "{:?}: ours {:?} {:?}, Debian's {:?} {:?}",
                        show(input),
                        a.code,
                        show(&a.stderr),
                        b.code,
                        show(&b.stderr)
                    ));
                }
                if a.code != Some(0) {
                    // 0.88 leaves its temporary file; we remove ours.
                    assert!(b.tmp_left && !a.tmp_left, "{}", show(input));
                }
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// (env, expected stdout, expected exit) of tcprulescheck-sample.expected.txt
/// that concern the sample cdb.
fn check_cases() -> Vec<(Vec<(String, String)>, String)> {
    let text = fs::read_to_string(testdata("tcprulescheck-sample.expected.txt")).unwrap();
    let mut cases = Vec::new();
    for case in text.split("=== env: ").skip(1) {
        let (head, rest) = case.split_once('\n').unwrap();
        let out = rest.split("--- exit").next().unwrap().to_string();
        let env = if head.starts_with("(none") {
            vec![]
        } else {
            head.split(' ')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect()
        };
        cases.push((env, out));
    }
    assert_eq!(cases.len(), 16);
    cases
}

#[test]
fn tcprulescheck_prints_the_fixture_output() {
    let ours = e2e::bin("tcprulescheck");
    let cdb = testdata("tcprules-sample.cdb");
    let deb = e2e::original("/usr/bin/tcprulescheck");
    for (env, want) in check_cases() {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (code, out, err) = check(&ours, &cdb, &env);
        assert_eq!(
            (code, show(&out), show(&err)),
            (Some(0), want.clone(), String::new()),
            "{env:?}"
        );
        if let Some(deb) = &deb {
            assert_eq!(show(&check(deb, &cdb, &env).1), want, "Debian {env:?}");
        }
    }
}

#[test]
fn tcprulescheck_on_many_clients_matches_debian() {
    let Some((ours, our_check, _, deb_check)) = both() else {
        return;
    };
    let dir = scratch_dir();
    let rules = fs::read(testdata("tcprules-sample.rules")).unwrap();
    assert_eq!(compile(&ours, dir.path(), "s", &rules).code, Some(0));
    let cdb = dir.path().join("s.cdb");
    let ips = [
        "127.0.0.1",
        "127.0.0.2",
        "127.1.2.3",
        "18.23.0.32",
        "18.23.0.3",
        "10.0.0.1",
        "10.0.",
        "10.2.7.7",
        "10.3.0.0",
        "10.4.0.0",
        "1.2.3.99",
        "1.2.3.100",
        "1.2.3.104",
        "1.2.3.105",
        "192.168.0.1",
        "192.16.0.1",
        "9.9.9.9",
        "",
        "0.0.0.0",
        "::1",
        "1.2.3.",
        "127.",
        "x",
    ];
    let hosts = [
        None,
        Some(""),
        Some("host.example.com"),
        Some("a.b.example.com"),
        Some("example.com"),
        Some(".com"),
    ];
    let infos = [None, Some(""), Some("joe"), Some("bill")];
    let mut envs = Vec::new();
    for ip in ips {
        for host in hosts {
            for info in infos {
                let mut env = vec![("TCPREMOTEIP", ip)];
                if let Some(h) = host {
                    env.push(("TCPREMOTEHOST", h));
                }
                if let Some(i) = info {
                    env.push(("TCPREMOTEINFO", i));
                }
                envs.push(env);
            }
        }
    }
    // Every ip once with every host and info: 552 clients.
    let diffs: Vec<String> = par_map(&envs, |_, env| {
        let a = check(&our_check, &cdb, env);
        let b = check(&deb_check, &cdb, env);
        if a == b {
            String::new()
        } else {
            format!("{env:?}: ours {:?}, Debian's {:?}", show(&a.1), show(&b.1))
        }
    })
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn tcprulescheck_errors_match_debian() {
    let ours = e2e::bin("tcprulescheck");
    let deb = e2e::original("/usr/bin/tcprulescheck");
    let dir = scratch_dir();
    let sample = fs::read(testdata("tcprules-sample.cdb")).unwrap();
    let trunc = dir.path().join("trunc.cdb");
    fs::write(&trunc, &sample[..100]).unwrap();
    let zero = dir.path().join("zero.cdb");
    fs::write(&zero, b"").unwrap();
    let missing = dir.path().join("missing.cdb");
    let env = [("TCPREMOTEIP", "127.0.0.1")];
    let cases: [(&Path, String); 3] = [
        (
            &missing,
            format!(
                "tcprulescheck: fatal: unable to read {}: file does not exist\n",
                missing.display()
            ),
        ),
        (
            &trunc,
            format!(
                "tcprulescheck: fatal: unable to read {}: protocol error\n",
                trunc.display()
            ),
        ),
        (
            &zero,
            format!(
                "tcprulescheck: fatal: unable to read {}: invalid argument\n",
                zero.display()
            ),
        ),
    ];
    for (path, want) in &cases {
        let (code, out, err) = check(&ours, path, &env);
        assert_eq!(
            (code, show(&out), show(&err)),
            (Some(111), String::new(), want.clone())
        );
        if let Some(deb) = &deb {
            assert_eq!(check(deb, path, &env), (code, out, err));
        }
    }
    // A directory: 0.88 crashes; we report it.
    let (code, _, err) = check(&ours, dir.path(), &env);
    assert_eq!(code, Some(111));
    assert!(show(&err).ends_with(": is a directory\n"), "{}", show(&err));
    // Usage.
    let out = Command::new(&ours).env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        show(&out.stderr),
        "tcprulescheck: usage: tcprulescheck rules.cdb\n"
    );
    if let Some(deb) = &deb {
        let d = Command::new(deb).env_clear().output().unwrap();
        assert_eq!((d.status.code(), d.stderr), (Some(100), out.stderr));
    }
}

/// Run tcprules with `args` and `stdin`, under `umask`; (exit, stderr).
fn run_rules(bin: &Path, args: &[&Path], stdin: Stdio, umask: &str) -> (Option<i32>, String) {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args)
        .stdin(stdin)
        .output()
        .unwrap();
    (out.status.code(), show(&out.stderr))
}

#[test]
fn tcprules_errors_match_debian_and_leave_the_target_alone() {
    let ours = e2e::bin("tcprules");
    let deb = e2e::original("/usr/bin/tcprules");
    let dir = scratch_dir();
    let d = dir.path();
    let target = d.join("t.cdb");
    let before = fs::read(testdata("tcprules-sample.cdb")).unwrap();
    let input = |s: &str| {
        let p = d.join("input");
        fs::write(&p, s).unwrap();
        Stdio::from(fs::File::open(&p).unwrap())
    };
    let nodir = d.join("nodir");
    // (args, stdin, expected stderr, whether 0.88 made its temp)
    type Case<'a> = (Vec<PathBuf>, Box<dyn Fn() -> Stdio + 'a>, String, bool);
    let cases: Vec<Case> = vec![
        // (args, stdin, expected stderr, temp is made)
        (
            vec![target.clone(), nodir.join("t.tmp")],
            Box::new(|| input(":allow\n")),
            format!(
                "tcprules: fatal: unable to create {}/t.tmp: file does not exist\n",
                nodir.display()
            ),
            false,
        ),
        (
            vec![nodir.join("t.cdb"), d.join("t.tmp")],
            Box::new(|| input(":allow\n")),
            format!(
                "tcprules: fatal: unable to move {}/t.tmp to {}/t.cdb: file does not exist\n",
                d.display(),
                nodir.display()
            ),
            true,
        ),
        (
            vec![target.clone(), d.join("t.tmp")],
            Box::new(|| Stdio::from(fs::File::open(d).unwrap())),
            "tcprules: fatal: unable to read input: is a directory\n".to_string(),
            true,
        ),
        (
            vec![target.clone(), d.join("t.tmp")],
            Box::new(|| input("1.2.3.4:allow\r\n")),
            "tcprules: fatal: unable to parse this line: 1.2.3.4:allow\r\n".to_string(),
            true,
        ),
        (
            vec![target.clone(), PathBuf::from("/dev/full")],
            Box::new(|| input(":allow\n")),
            "tcprules: fatal: unable to write to /dev/full: out of disk space\n".to_string(),
            false,
        ),
    ];
    for (args, stdin, want, makes_temp) in &cases {
        let args: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
        for (who, bin) in [("ours", Some(&ours)), ("Debian's", deb.as_ref())] {
            let Some(bin) = bin else { continue };
            fs::write(&target, &before).unwrap();
            let _ = fs::remove_file(d.join("t.tmp"));
            let (code, err) = run_rules(bin, &args, stdin(), "022");
            let want_code = if want.contains("parse") { 100 } else { 111 };
            assert_eq!(
                (code, err.as_str()),
                (Some(want_code), want.as_str()),
                "{who}"
            );
            assert_eq!(
                fs::read(&target).unwrap(),
                before,
                "{who}: target untouched"
            );
            let left = d.join("t.tmp").exists();
            if who == "ours" {
                assert!(!left, "ours removes its temporary file: {want}");
            } else {
                assert_eq!(left, *makes_temp, "0.88 leaves its temporary file: {want}");
            }
        }
    }
    assert!(
        Path::new("/dev/full").exists(),
        "never unlink a device named as temp"
    );
}

#[test]
fn usage_and_modes_match_debian() {
    let ours = e2e::bin("tcprules");
    let deb = e2e::original("/usr/bin/tcprules");
    let dir = scratch_dir();
    let d = dir.path();
    for args in [vec![], vec![d.join("only.cdb")]] {
        let args: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
        let r = run_rules(&ours, &args, Stdio::null(), "022");
        assert_eq!(
            r,
            (
                Some(100),
                "tcprules: usage: tcprules rules.cdb rules.tmp\n".to_string()
            )
        );
        if let Some(deb) = &deb {
            assert_eq!(run_rules(deb, &args, Stdio::null(), "022"), r);
        }
    }
    // Mode 0644 less the umask, as 0.88's open_trunc.
    use std::os::unix::fs::PermissionsExt;
    for (umask, mode) in [("022", 0o644), ("077", 0o600), ("000", 0o644)] {
        let cdb = d.join(format!("m{umask}.cdb"));
        let tmp = d.join(format!("m{umask}.tmp"));
        let r = run_rules(&ours, &[&cdb, &tmp], Stdio::null(), umask);
        assert_eq!(r.0, Some(0));
        assert_eq!(
            fs::metadata(&cdb).unwrap().permissions().mode() & 0o777,
            mode,
            "umask {umask}"
        );
        if let Some(deb) = &deb {
            let dcdb = d.join(format!("d{umask}.cdb"));
            let r = run_rules(deb, &[&dcdb, &d.join("d.tmp")], Stdio::null(), umask);
            assert_eq!(r.0, Some(0));
            assert_eq!(
                fs::metadata(&dcdb).unwrap().permissions().mode() & 0o777,
                mode
            );
            assert_eq!(
                fs::read(&dcdb).unwrap(),
                fs::read(&cdb).unwrap(),
                "empty cdb"
            );
        }
    }
    // Operands are taken literally, `-` and `--` included.
    let r = Command::new(&ours)
        .arg("--")
        .arg("x.tmp")
        .current_dir(d)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0));
    assert_eq!(fs::read(d.join("--")).unwrap().len(), 2048);
}
