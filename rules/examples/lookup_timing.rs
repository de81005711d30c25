//! Time one rules lookup, the file opened each time, as tcpserver does it.
//!
//! `lookup_timing CDB ROUNDS [IP... | @FILE]`: for each IP (default: an
//! exact hit, a prefix hit, an IPv4 miss that ends at the default rule
//! and an IPv6 miss, for gen-rules.py's rules) run ROUNDS lookups two
//! ways and print the time per lookup; `@FILE` instead cycles through the
//! addresses in FILE (one a line) and prints the mean:
//! - `pread_us`: `rules::lookup` (open, pread the header and a few small
//!   windows, close): what tcpserver uses;
//! - `mmap_us`: open, fstat, mmap, the same search on the mapping, munmap
//!   (djb's `cdb_init` way), for comparison.
//!
//! A first line gives the floor: opening and closing the file alone.
//!
//! Used by bench/rules/bench.sh.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

fn per_us(rounds: u32, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..rounds {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: lookup_timing CDB ROUNDS [IP...]");
        std::process::exit(100);
    }
    let path = Path::new(&args[1]);
    let rounds: u32 = args[2].parse().expect("ROUNDS");
    let floor = per_us(rounds, || {
        black_box(std::fs::File::open(path).expect("open"));
    });
    println!("open_close_us={floor:.2}");
    if let Some(file) = args.get(3).and_then(|a| a.strip_prefix('@')) {
        let text = std::fs::read_to_string(file).expect("queries");
        let ips: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
        let mut i = 0;
        let pread = per_us(rounds, || {
            let client = rules::Client {
                ip: ips[i % ips.len()].as_bytes(),
                host: None,
                info: None,
            };
            i += 1;
            black_box(rules::lookup(path, black_box(&client)).expect("lookup"));
        });
        println!("queries={} pread_us={pread:.2}", ips.len());
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
        let mmap = per_us(rounds, || {
            black_box(mapped());
        });
        let rule = first.map_or("(none)".to_string(), |m| {
            String::from_utf8_lossy(&m.shown).into_owned()
        });
        println!("ip={ip} rule={rule:?} pread_us={pread:.2} mmap_us={mmap:.2}");
    }
}
