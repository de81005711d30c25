//! Randomized tests: arbitrary rules text never panics the parser and
//! never leaves a partial cdb (the target is either the complete new cdb
//! or untouched, and no temporary file stays); arbitrary cdb bytes and
//! clients never panic a lookup.

use std::fs;

use proptest::prelude::*;
use rules::cdb_read::{Cdb, records};
use rules::{
    Client, CompileError as Error, NetIndex, compile, compile_bytes, find_in, lookup,
    lookup_indexed,
};

/// A byte-string strategy (one type for literals of any length).
fn j(b: &'static [u8]) -> Just<&'static [u8]> {
    Just(b)
}

/// Rules text that is right often enough to reach every branch: lines
/// made of address pieces, a colon, an instruction, variables, and now
/// and then a stray byte, blank or delimiter.
fn rulish() -> impl Strategy<Value = Vec<u8>> {
    let addr_piece = prop_oneof![
        j(b"1.2.3.4"),
        j(b"10."),
        j(b"-"),
        j(b"."),
        j(b"255"),
        j(b"007"),
        j(b"18446744073709551616"),
        j(b"::1"),
        j(b"2001:db8::"),
        j(b"/"),
        j(b"/24"),
        j(b"/129"),
        j(b"%eth0"),
        j(b"@"),
        j(b"="),
        j(b"=.example.com"),
        j(b" "),
        j(b"\0"),
    ];
    let var = (
        prop_oneof![8 => j(b"X"), 1 => j(b""), 2 => j(b"A B"), 1 => j(b"R=")],
        prop_oneof![3 => Just(b'"'), 1 => Just(b'/'), 1 => Just(b'a'), 1 => any::<u8>()],
        prop_oneof![j(b"v"), j(b""), j(b"a:b,c"), j(b"\"")],
    )
        .prop_map(|(name, d, value)| {
            let mut v = vec![b','];
            v.extend_from_slice(name);
            v.push(b'=');
            v.push(d);
            v.extend(value.iter().filter(|&&c| c != d));
            v.push(d);
            v
        });
    let junk = prop_oneof![
        12 => Just(vec![]),
        1 => prop::collection::vec(
            prop_oneof![Just(b' '), Just(b'\t'), Just(b'\r'), Just(b','), Just(b':'), any::<u8>()],
            1..3
        ),
    ];
    let line = (
        prop::collection::vec(addr_piece, 0..5),
        prop_oneof![4 => j(b":"), 1 => j(b"")],
        prop_oneof![6 => j(b"allow"), 6 => j(b"deny"), 1 => j(b"ALLOW"), 1 => j(b"")],
        prop::collection::vec(var, 0..3),
        junk,
        prop_oneof![20 => j(b"\n"), 1 => j(b"\r\n"), 1 => j(b"")],
        prop_oneof![8 => j(b""), 1 => j(b"#"), 1 => j(b"\n")],
    )
        .prop_map(|(addr, colon, instr, vars, junk, end, lead)| {
            let mut l = lead.to_vec();
            l.extend(addr.concat());
            l.extend_from_slice(colon);
            l.extend_from_slice(instr);
            l.extend(vars.concat());
            l.extend(junk);
            l.extend_from_slice(end);
            l
        });
    prop::collection::vec(line, 0..6).prop_map(|v| v.concat())
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..300), rulish()]
}

/// Every record of a compiled cdb is found again, first duplicate first.
fn assert_complete(cdb: &[u8]) {
    let recs: Vec<(Vec<u8>, Vec<u8>)> = records(cdb)
        .map(|r| r.map(|(k, d)| (k.to_vec(), d.to_vec())).expect("record"))
        .collect();
    let mut c = Cdb::new(cdb);
    for (k, _) in &recs {
        let first = &recs.iter().find(|(k2, _)| k2 == k).unwrap().1;
        assert_eq!(c.find(k).expect("find").as_ref(), Some(first));
    }
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn compiling_never_panics_and_output_is_complete(text in input()) {
        match compile_bytes(&text) {
            Ok(cdb) => assert_complete(&cdb),
            Err(Error::Parse(line)) => {
                // The reported line is one of the input's lines.
                prop_assert!(text.split(|&c| c == b'\n').any(|l| l.starts_with(&line)));
            }
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }

    #[test]
    fn a_failed_compile_leaves_the_target_untouched(text in input()) {
        let dir = scratch();
        let cdb = dir.path().join("r.cdb");
        let tmp = dir.path().join("r.tmp");
        let before = compile_bytes(b"1.2.3.4:deny\n").unwrap();
        fs::write(&cdb, &before).unwrap();
        match compile(&mut &text[..], &cdb, &tmp) {
            Ok(()) => prop_assert_eq!(fs::read(&cdb).unwrap(), compile_bytes(&text).unwrap()),
            Err(e) => {
                prop_assert_eq!(e.exit_code(), 100);
                prop_assert_eq!(fs::read(&cdb).unwrap(), before);
            }
        }
        prop_assert!(!tmp.exists());
    }

    #[test]
    fn an_index_never_changes_the_answer(
        text in rulish(),
        ips in prop::collection::vec(
            prop_oneof![
                (any::<u8>(), any::<u8>()).prop_map(|(a, b)| format!("10.{a}.{b}.1")),
                (any::<u8>(), any::<u8>()).prop_map(|(a, b)| format!("{a}.{b}.3.4")),
                any::<u16>().prop_map(|a| format!("2001:db8::{a:x}")),
                any::<u128>().prop_map(|a| std::net::Ipv6Addr::from(a).to_string()),
                Just("::1".to_string()),
            ],
            1..8,
        ),
    ) {
        let Ok(cdb) = compile_bytes(&text) else { return Ok(()) };
        let dir = scratch();
        let p = dir.path().join("r.cdb");
        fs::write(&p, &cdb).unwrap();
        let ix = NetIndex::scan(&p).unwrap();
        for ip in &ips {
            let c = Client { ip: ip.as_bytes(), host: None, info: None };
            prop_assert_eq!(lookup_indexed(&p, &c, &ix).unwrap(), lookup(&p, &c).unwrap());
        }
    }

    #[test]
    fn lookups_never_panic(
        cdb in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..3000),
            rulish().prop_map(|t| compile_bytes(&t).unwrap_or_default()),
        ],
        ip in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..50),
            Just(b"1.2.3.4".to_vec()),
            Just(b"::1".to_vec()),
            Just(b"2001:db8::1%lo".to_vec()),
        ],
        host in prop::option::of(prop::collection::vec(any::<u8>(), 0..30)),
        info in prop::option::of(prop::collection::vec(any::<u8>(), 0..10)),
    ) {
        let client = Client { ip: &ip, host: host.as_deref(), info: info.as_deref() };
        if let Ok(Some(m)) = find_in(&cdb, &client) {
            let _ = m.decision();
        }
    }
}

#[test]
fn the_generator_reaches_rules_and_errors() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut with_records, mut refused) = (0, 0);
    for _ in 0..300 {
        let text = rulish().new_tree(&mut runner).unwrap().current();
        match compile_bytes(&text) {
            Ok(cdb) if cdb.len() > 2048 => with_records += 1,
            Ok(_) => {}
            Err(_) => refused += 1,
        }
    }
    assert!(with_records >= 20, "{with_records} inputs made records");
    assert!(refused >= 20, "{refused} inputs refused");
}
