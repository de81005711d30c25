//! The IPv6 and CIDR additions: our tcprules writes ucspi-tcp6's keys for
//! them (byte for byte as its tcprules does), our tcprulescheck finds
//! rules in the key forms of all three tools (0.88, Debian's
//! ucspi-tcp-ipv6, ucspi-tcp6), exact and dotted rules beat networks,
//! longer networks beat shorter, and bad addresses are refused.

use std::fs;
use std::path::{Path, PathBuf};

use super::support::*;

fn testdata(name: &str) -> PathBuf {
    e2e::workspace().join("rules/testdata").join(name)
}

/// key="..." and data_hex=... of each record in a .records.txt fixture.
fn fixture_records(name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let text = fs::read_to_string(testdata(name)).unwrap();
    text.lines()
        .filter(|l| l.starts_with("rec@"))
        .map(|l| {
            let key = l.split(" key=\"").nth(1).unwrap();
            let key = &key[..key.find("\" data=").unwrap()];
            let hex = l.split("data_hex=").nth(1).unwrap();
            let data = if hex.starts_with("(empty)") {
                vec![]
            } else {
                hex.split(' ')
                    .map(|h| u8::from_str_radix(h, 16).unwrap())
                    .collect()
            };
            (key.as_bytes().to_vec(), data)
        })
        .collect()
}

fn run_check(cdb: &Path, env: &[(&str, &str)]) -> String {
    let (code, out, err) = check(&e2e::bin("tcprulescheck"), cdb, env);
    assert_eq!((code, show(&err)), (Some(0), String::new()), "{env:?}");
    show(&out)
}

#[test]
fn ucspi_tcp6_sample_gives_its_keys_byte_for_byte() {
    let dir = scratch_dir();
    let rules = fs::read(testdata("ucspi-tcp6-sample.rules")).unwrap();
    let r = compile(&e2e::bin("tcprules"), dir.path(), "six", &rules);
    assert_eq!(r.code, Some(0), "{}", show(&r.stderr));
    let cdb = r.cdb.unwrap();
    let want = fixture_records("ucspi-tcp6-sample.cdb.records.txt");
    assert_eq!(want.len(), 13);
    assert_eq!(records(&cdb), want);
    // The records come in the same order, so the file is the same too.
    let refs: Vec<(&[u8], &[u8])> = want.iter().map(|(k, d)| (&k[..], &d[..])).collect();
    assert_eq!(cdb, cdb_bytes(&refs));
    assert_eq!(cdb.len(), 2720, "ucspi-tcp6's file size");
}

#[test]
fn tcprulescheck_shows_ipv6_and_cidr_hits_readably() {
    let dir = scratch_dir();
    let rules = fs::read(testdata("ucspi-tcp6-sample.rules")).unwrap();
    assert_eq!(
        compile(&e2e::bin("tcprules"), dir.path(), "six", &rules).code,
        Some(0)
    );
    let cdb = dir.path().join("six.cdb");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("TCPREMOTEIP", "::1")],
            "rule ::1:\nset environment variable RELAYCLIENT=\nset environment variable V6=loop\nallow connection\n",
        ),
        (
            &[("TCPREMOTEIP", "0:0::1")],
            "rule ::1:\nset environment variable RELAYCLIENT=\nset environment variable V6=loop\nallow connection\n",
        ),
        (
            &[("TCPREMOTEIP", "::1"), ("TCPREMOTEINFO", "joe")],
            "rule joe@::1:\nset environment variable WHO=joe\nallow connection\n",
        ),
        (
            &[("TCPREMOTEIP", "2001:db8:1:2::5")],
            "rule 2001:db8:1::/48:\nset environment variable NET=db8-1\nallow connection\n",
        ),
        (
            &[("TCPREMOTEIP", "2001:db8:2::5")],
            "rule 2001:db8::/32:\ndeny connection\n",
        ),
        (
            &[("TCPREMOTEIP", "10.20.30.40")],
            "rule 10.0.0.0/8:\nset environment variable CIDR4=10/8\nallow connection\n",
        ),
        (
            &[("TCPREMOTEIP", "192.168.1.77")],
            "rule 192.168.1.0/24:\ndeny connection\n",
        ),
        (
            &[("TCPREMOTEIP", "172.16.5.5")],
            "rule 172.16.:\nset environment variable CLASS=b\nallow connection\n",
        ),
        (
            &[("TCPREMOTEIP", "1.2.3.101")],
            "rule 1.2.3.101:\nallow connection\n",
        ),
        (
            &[("TCPREMOTEIP", "::ffff:10.1.1.1")],
            "rule :\ndeny connection\n",
        ),
        (
            &[
                ("TCPREMOTEIP", "8.8.8.8"),
                ("TCPREMOTEHOST", "host.example.com"),
            ],
            "rule =host.example.com:\nset environment variable URL=http://x:80/\nallow connection\n",
        ),
        (&[("TCPREMOTEIP", "8.8.8.8")], "rule :\ndeny connection\n"),
    ];
    for (env, want) in cases {
        assert_eq!(run_check(&cdb, env), *want, "{env:?}");
    }
}

#[test]
fn cdbs_made_by_debians_ucspi_tcp_ipv6_work() {
    // The records its tcprules wrote (fixture debian-ucspi-tcp-ipv6):
    // compressed text keys, and prefixes ending in a colon.
    let dir = scratch_dir();
    let fefe = dir.path().join("fefe.cdb");
    fs::write(
        &fefe,
        cdb_bytes(&[
            (b"::1", b"+V6=yes\0"),
            (b"2001:db8::/32", b"D\0"),
            (b"2001:db8:1", b"+PFX=db8-1\0"),
            (b"127.0.0.1", b"+X=a:b\0"),
            (b"10.", b"D\0"),
            (b"", b"D\0"),
        ]),
    )
    .unwrap();
    let p = dir.path().join("p.cdb");
    fs::write(&p, cdb_bytes(&[(b"2001:db8:1:", b"+PFX=db8-1\0")])).unwrap();
    let ip = |ip| [("TCPREMOTEIP", ip)];
    assert_eq!(
        run_check(&fefe, &ip("::1")),
        "rule ::1:\nset environment variable V6=yes\nallow connection\n"
    );
    assert_eq!(
        run_check(&fefe, &ip("2001:db8:1:2::5")),
        "rule :\ndeny connection\n"
    );
    assert_eq!(
        run_check(&fefe, &ip("127.0.0.1")),
        "rule 127.0.0.1:\nset environment variable X=a:b\nallow connection\n"
    );
    assert_eq!(
        run_check(&p, &ip("2001:db8:1:2::5")),
        "rule 2001:db8:1::\nset environment variable PFX=db8-1\nallow connection\n"
    );
    // A non-canonical client address still finds the compressed key.
    assert_eq!(
        run_check(&fefe, &ip("0000::0001")),
        "rule ::1:\nset environment variable V6=yes\nallow connection\n"
    );
}

#[test]
fn exact_and_dotted_rules_beat_networks_and_longer_networks_win() {
    let dir = scratch_dir();
    let rules = b"10.0.0.0/8:allow,N=\"8\"\n\
10.1.0.0/16:allow,N=\"16\"\n\
10.1.2.3/32:allow,N=\"32\"\n\
10.1.3.:allow,N=\"dotted\"\n\
10.9.9.9:allow,N=\"exact\"\n\
10.9.0.0/16:deny\n\
128.0.0.0/1:allow,N=\"1\"\n\
=mx.example.com:allow,N=\"host\"\n\
2001:db8::/32:allow,N=\"v6-32\"\n\
2001:db8:ab::/48:allow,N=\"v6-48\"\n\
2001:db8:ab::1:allow,N=\"v6-exact\"\n\
joe@2001:db8::9:allow,N=\"v6-info\"\n\
:deny\n";
    let r = compile(&e2e::bin("tcprules"), dir.path(), "p", rules);
    assert_eq!(r.code, Some(0), "{}", show(&r.stderr));
    let cdb = dir.path().join("p.cdb");
    let first = |env: &[(&str, &str)]| run_check(&cdb, env).lines().next().unwrap().to_string();
    let ip = |ip| [("TCPREMOTEIP", ip)];
    assert_eq!(first(&ip("10.200.0.1")), "rule 10.0.0.0/8:");
    assert_eq!(first(&ip("10.1.200.1")), "rule 10.1.0.0/16:");
    assert_eq!(first(&ip("10.1.2.3")), "rule 10.1.2.3/32:");
    assert_eq!(first(&ip("10.1.3.4")), "rule 10.1.3.:");
    assert_eq!(first(&ip("10.9.9.9")), "rule 10.9.9.9:");
    assert_eq!(first(&ip("10.9.9.8")), "rule 10.9.0.0/16:");
    assert_eq!(first(&ip("200.0.0.1")), "rule 128.0.0.0/1:");
    assert_eq!(first(&ip("11.0.0.1")), "rule :");
    assert_eq!(
        first(&[
            ("TCPREMOTEIP", "10.1.200.1"),
            ("TCPREMOTEHOST", "mx.example.com")
        ]),
        "rule =mx.example.com:"
    );
    assert_eq!(first(&ip("2001:db8:ff::1")), "rule 2001:db8::/32:");
    assert_eq!(first(&ip("2001:db8:ab::2")), "rule 2001:db8:ab::/48:");
    assert_eq!(first(&ip("2001:db8:ab::1")), "rule 2001:db8:ab::1:");
    assert_eq!(first(&ip("2001:db9::1")), "rule :");
    assert_eq!(
        first(&[("TCPREMOTEIP", "2001:db8::9"), ("TCPREMOTEINFO", "joe")]),
        "rule joe@2001:db8::9:"
    );
    assert_eq!(
        first(&[("TCPREMOTEIP", "2001:db8::9"), ("TCPREMOTEINFO", "bob")]),
        "rule 2001:db8::/32:"
    );

    // 0.88's tcprulescheck reads the same file: the rules it knows
    // still work, the new keys are invisible to it.
    if let Some(deb) = e2e::original("/usr/bin/tcprulescheck") {
        for env in [ip("10.9.9.9"), ip("10.1.3.4"), ip("11.0.0.1")] {
            let (code, out, _) = check(&deb, &cdb, &env);
            assert_eq!((code, show(&out)), (Some(0), run_check(&cdb, &env)));
        }
    }
}

#[test]
fn bad_ipv6_and_cidr_addresses_are_refused() {
    let ours = e2e::bin("tcprules");
    let dir = scratch_dir();
    for line in [
        "2001:db8::/129:deny",
        "10.0.0.0/33:deny",
        "10.0.0.0/0:deny",
        "::/0:deny",
        "[::1]:deny",
        "zz::1:allow",
        "10.0.0/8:allow",
        "foo/8:allow",
        "joe@::1/64:allow",
        "=host:with:colons:allow",
        "2001:db8:1::allow",
        "::1:allow,=\"nameless\"",
    ] {
        let input = format!(":allow\n{line}\n");
        let r = compile(&ours, dir.path(), "bad", input.as_bytes());
        assert_eq!(
            (r.code, show(&r.stderr)),
            (
                Some(100),
                format!("tcprules: fatal: unable to parse this line: {line}\n")
            ),
        );
        assert!(r.cdb.is_none() && !r.tmp_left, "{line}");
    }
}
