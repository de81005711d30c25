//! Time one rules lookup, the file opened each time, as tcpserver does it.
//!
//! `lookup_timing CDB ROUNDS [IP... | @FILE]`: for each IP (default: an
//! exact hit, a prefix hit, an IPv4 miss that ends at the default rule
//! and an IPv6 miss, for gen-rules.py's rules) run ROUNDS lookups two
//! ways and print the time per lookup; `@FILE` instead cycles through the
//! addresses in FILE (one a line) and prints the mean:
//! - `pread_us`: `rules::lookup` (open, pread the header and a few small
//!   windows, close): what tcpserver uses;
//! - `indexed_us`: `rules::lookup_indexed` with a `NetIndex` made once
//!   (what a long-running caller such as tcpserver's parent can keep): the
//!   same, plus an fstat, minus the network lengths the file does not have;
//! - `mmap_us`: open, fstat, mmap, the same search on the mapping, munmap
//!   (djb's `cdb_init` way), for comparison.
//!
//! A first line gives the floor: opening and closing the file alone.
//! Each figure comes as wall time and as CPU time of this thread (which
//! a busy machine inflates less).
//!
//! Used by bench/rules/bench.sh.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

/// Nanoseconds this thread has run on a CPU (the first field of
/// /proc/thread-self/schedstat): unlike the wall clock, it does not count
/// time spent waiting for a CPU on a busy machine.
fn cpu_ns() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Wall and CPU microseconds per call of `f`.
fn per_us(rounds: u32, mut f: impl FnMut()) -> (f64, f64) {
    let (t, c) = (Instant::now(), cpu_ns());
    for _ in 0..rounds {
        f();
    }
    let n = f64::from(rounds);
    (
        t.elapsed().as_secs_f64() * 1e6 / n,
        (cpu_ns() - c) / 1e3 / n,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: lookup_timing CDB ROUNDS [IP...]");
        std::process::exit(100);
    }
    let path = Path::new(&args[1]);
    let rounds: u32 = args[2].parse().expect("ROUNDS");
    let t = Instant::now();
    let index = rules::NetIndex::scan(path).expect("scan");
    let scan_ms = t.elapsed().as_secs_f64() * 1e3;
    let floor = per_us(rounds, || {
        black_box(std::fs::File::open(path).expect("open"));
    });
    println!(
        "open_close_us={:.2} open_close_cpu_us={:.2} netindex_scan_ms={scan_ms:.2}",
        floor.0, floor.1
    );
    if let Some(file) = args.get(3).and_then(|a| a.strip_prefix('@')) {
        let text = std::fs::read_to_string(file).expect("queries");
        let ips: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        let mut i = 0;
        let mut run = |indexed: bool| {
            per_us(rounds, || {
                let client = rules::Client {
                    ip: ips[i % ips.len()].as_bytes(),
                    host: None,
                    info: None,
                };
                i += 1;
                let d = if indexed {
                    rules::lookup_indexed(path, black_box(&client), &index)
                } else {
                    rules::lookup(path, black_box(&client))
                };
                black_box(d.expect("lookup"));
            })
        };
        let pread = run(false);
        let indexed = run(true);
        println!(
            "queries={} pread_us={:.2} pread_cpu_us={:.2} indexed_us={:.2} indexed_cpu_us={:.2}",
            ips.len(),
            pread.0,
            pread.1,
            indexed.0,
            indexed.1
        );
        return;
    }
    let ips: Vec<String> = if args.len() > 3 {
        args[3..].to_vec()
    } else {
        ["127.0.0.1", "172.16.1.9", "198.51.100.7", "2001:db8::7"]
            .map(String::from)
            .to_vec()
    };
    for ip in &ips {
        let client = rules::Client {
            ip: ip.as_bytes(),
            host: None,
            info: None,
        };
        let first = rules::find(path, &client).expect("lookup");
        let mapped = || {
            let m = sys::mmap::Mapped::open(path).expect("mmap");
            rules::find_in(m.bytes(), black_box(&client)).expect("lookup")
        };
        assert_eq!(mapped(), first, "both ways agree");
        let pread = per_us(rounds, || {
            black_box(rules::lookup(path, black_box(&client)).expect("lookup"));
        });
        let indexed = per_us(rounds, || {
            black_box(rules::lookup_indexed(path, black_box(&client), &index).expect("lookup"));
        });
        let mmap = per_us(rounds, || {
            black_box(mapped());
        });
        let rule = first.map_or("(none)".to_string(), |m| {
            String::from_utf8_lossy(&m.shown).into_owned()
        });
        println!(
            "ip={ip} rule={rule:?} pread_us={:.2} pread_cpu_us={:.2} indexed_us={:.2} indexed_cpu_us={:.2} mmap_us={:.2} mmap_cpu_us={:.2}",
            pread.0, pread.1, indexed.0, indexed.1, mmap.0, mmap.1
        );
    }
}
