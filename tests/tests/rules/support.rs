//! Shared by the `rules_*` tests: running tcprules and tcprulescheck
//! (ours or Debian's) on given input, a seeded generator of rules files,
//! a minimal cdb writer (to make files other tools would have made), and
//! a small parallel map (the machine has two cores).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use e2e::rng::Rng;

/// What one tcprules run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub code: Option<i32>,
    pub stderr: Vec<u8>,
    /// The cdb after the run (None: absent).
    pub cdb: Option<Vec<u8>>,
    pub tmp_left: bool,
}

/// Run `tcprules dir/NAME.cdb dir/NAME.tmp < input` with `bin`.
pub fn compile(bin: &Path, dir: &Path, name: &str, input: &[u8]) -> Compiled {
    let cdb = dir.join(format!("{name}.cdb"));
    let tmp = dir.join(format!("{name}.tmp"));
    let out = e2e::tcprules::run(bin, &cdb, &tmp, input);
    Compiled {
        code: out.status.code(),
        stderr: out.stderr,
        cdb: std::fs::read(&cdb).ok(),
        tmp_left: tmp.exists(),
    }
}

/// Run `tcprulescheck cdb` with exactly `env` (the environment cleared
/// first); (exit code, stdout, stderr).
pub fn check(bin: &Path, cdb: &Path, env: &[(&str, &str)]) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let out = Command::new(bin)
        .arg(cdb)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run tcprulescheck");
    (out.status.code(), out.stdout, out.stderr)
}

/// Our binaries and Debian's, or None (after a line saying why) when
/// Debian's are not installed.
pub fn both() -> Option<(PathBuf, PathBuf, PathBuf, PathBuf)> {
    let deb_rules = e2e::original("/usr/bin/tcprules")?;
    let deb_check = e2e::original("/usr/bin/tcprulescheck")?;
    Some((
        e2e::bin("tcprules"),
        e2e::bin("tcprulescheck"),
        deb_rules,
        deb_check,
    ))
}

/// A temporary directory on tmpfs when there is one: every tcprules run
/// fsyncs, which costs milliseconds on a disk and nothing on tmpfs.
pub fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rules-test")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("tempdir")
}

/// `f` over `items` on two threads, results in order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let threads = 2;
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let f = &f;
        let chunks: Vec<_> = out
            .chunks_mut(items.len().div_ceil(threads).max(1))
            .enumerate()
            .map(|(c, slots)| {
                s.spawn(move || {
                    let base = c * items.len().div_ceil(threads).max(1);
                    for (i, slot) in slots.iter_mut().enumerate() {
                        *slot = Some(f(base + i, &items[base + i]));
                    }
                })
            })
            .collect();
        for c in chunks {
            c.join().expect("worker");
        }
    });
    out.into_iter().map(|r| r.expect("filled")).collect()
}

/// One generated rules file: the text, and client environments worth
/// checking against it (addresses, hosts and ident names its rules name,
/// and some that match nothing).
pub struct Generated {
    pub text: Vec<u8>,
    pub clients: Vec<Vec<(String, String)>>,
}

/// A rules file mixing every form ucspi-tcp 0.88 accepts: exact
/// addresses, dotted prefixes, last-part and middle ranges (odd ones too:
/// reversed, past 255, open-ended, leading zeros), `=host`, `=.domain`,
/// `=`, the empty default, `info@ip`, `info@=host`, `@ip`, allow and deny
/// with any number of variables and any delimiter, comments, blank lines,
/// lines without a colon, stray spaces and tabs, duplicate keys. With
/// `bad`, one line 0.88 refuses is put somewhere in the file.
pub fn generate(seed: u64, bad: bool) -> Generated {
    let mut r = Rng::new(seed);
    let nets = ["10", "127", "192", "172", "1"];
    let mut ips: Vec<String> = Vec::new();
    let mut hosts: Vec<String> = Vec::new();
    let mut infos: Vec<String> = vec!["joe".into(), "".into()];
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let n = 3 + r.below(25);
    let octet = |r: &mut Rng| r.below(256).to_string();
    for i in 0..n {
        let a = r.pick(&nets).to_string();
        let (b, c, d) = (octet(&mut r), octet(&mut r), octet(&mut r));
        let address: String = match r.below(17) {
            0 | 1 => {
                let ip = format!("{a}.{b}.{c}.{d}");
                ips.push(ip.clone());
                ip
            }
            2 => {
                ips.push(format!("{a}.{b}.{c}.{}", r.below(256)));
                format!("{a}.{b}.{c}.")
            }
            3 => {
                ips.push(format!("{a}.{b}.{c}.{d}"));
                format!("{a}.{b}.")
            }
            4 => {
                ips.push(format!("{a}.{b}.{c}.{d}"));
                format!("{a}.")
            }
            5 => {
                let lo = r.below(260);
                let hi = lo + r.below(12);
                ips.push(format!("{a}.{b}.{c}.{}", lo + r.below(3)));
                format!("{a}.{b}.{c}.{lo}-{hi}")
            }
            6 => {
                // Odd ranges: reversed, open-ended, zero-padded, past 255.
                ips.push(format!("{a}.{b}.{c}.1"));
                let top = r.below(300);
                r.pick(&[
                    format!("{a}.{b}.{c}.9-7"),
                    format!("{a}.{b}.{c}.-2"),
                    format!("{a}.{b}.{c}.250-"),
                    format!("{a}.{b}.{c}.007-009"),
                    format!("{a}.{b}.{c}.250-300"),
                    format!("{a}.{b}.{c}.1-2.5"),
                    format!("{a}.2-3.{c}.4-5"),
                    "-".to_string(),
                    format!("{a}-{top}."),
                ])
                .clone()
            }
            7 => {
                let lo = r.below(256);
                ips.push(format!("{a}.{}.{c}.{d}", (lo + 1).min(255)));
                format!("{a}.{lo}-{}.", lo + r.below(4))
            }
            8 => {
                let h = format!("h{i}.d{}.example.{}", r.below(3), r.pick(&["com", "org"]));
                hosts.push(h.clone());
                format!("={h}")
            }
            9 => {
                let h = format!("mail.d{}.example.com", r.below(3));
                hosts.push(h.clone());
                format!("=.d{}.example.com", r.below(3))
            }
            10 => "=".to_string(),
            11 => String::new(),
            12 => {
                let info = format!("u{}", r.below(4));
                infos.push(info.clone());
                let ip = format!("{a}.{b}.{c}.{d}");
                ips.push(ip.clone());
                format!("{info}@{ip}")
            }
            13 => {
                let info = format!("u{}", r.below(4));
                infos.push(info.clone());
                let h = format!("h{i}.example.com");
                hosts.push(h.clone());
                format!("{info}@={h}")
            }
            14 => {
                let ip = format!("{a}.{b}.{c}.{d}");
                ips.push(ip.clone());
                format!("@{ip}")
            }
            15 => {
                // A duplicate of an earlier address, or a mixed-case host.
                match ips.last() {
                    Some(ip) if r.chance(70) => ip.clone(),
                    _ => "=Host.Example.COM".to_string(),
                }
            }
            _ => {
                // Stray blanks kept in the key.
                let ip = format!("{a}.{b}.{c}.{d}");
                ips.push(ip.clone());
                r.pick(&[format!(" {ip}"), format!("{ip} "), format!("\t{ip}")])
                    .clone()
            }
        };
        let mut line = address.into_bytes();
        line.push(b':');
        line.extend_from_slice(if r.chance(35) { b"deny" } else { b"allow" });
        for v in 0..r.below(4) {
            let name = r.pick(&[
                "RELAYCLIENT",
                "TCPLOCALHOST",
                "X",
                "RBLSMTPD",
                " SP ACE",
                "A_B",
            ]);
            let delim = *r.pick(b"\"'/|a%");
            let values = [
                "",
                "movie.edu",
                "@fix.me",
                "a b c",
                "x=y,z:w",
                "-blocked",
                "v",
            ];
            let value: Vec<u8> = r.pick(&values).bytes().filter(|&c| c != delim).collect();
            line.push(b',');
            line.extend_from_slice(name.as_bytes());
            if v == 2 {
                line.extend_from_slice(b"2");
            }
            line.push(b'=');
            line.push(delim);
            line.extend_from_slice(&value);
            line.push(delim);
        }
        match r.below(12) {
            0 => line.extend_from_slice(b" \t "),
            1 => line.push(b' '),
            _ => {}
        }
        lines.push(line);
        match r.below(10) {
            0 => lines.push(b"# a comment: with:colons,and=stuff".to_vec()),
            1 => lines.push(Vec::new()),
            2 => lines.push(b"a line without any colon".to_vec()),
            3 => lines.push(b"   ".to_vec()),
            _ => {}
        }
    }
    if bad {
        let bads: [&[u8]; 12] = [
            b"1.2.3.4:allowx",
            b"1.2.3.4: allow",
            b"1.2.3.4:ALLOW",
            b"1.2.3.4:allow,X=",
            b"1.2.3.4:allow,X=\"unterminated",
            b"1.2.3.4:allow,X",
            b"1.2.3.4:allow,X=\"a\"Y=\"b\"",
            b"1.2.3.4:allow,X=\"a\",",
            b"1.2.3.4:allow\r",
            b"a:b:allow",
            b"1.2.3.a-b:deny",
            b"1.2.3.1-2-3:allow",
        ];
        let at = r.below(lines.len() as u64 + 1) as usize;
        lines.insert(at, r.pick(&bads).to_vec());
    }
    let mut text = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        text.extend_from_slice(l);
        // Sometimes the last line has no newline.
        if i + 1 < lines.len() || r.chance(80) {
            text.push(b'\n');
        }
    }
    ips.extend(["127.0.0.1", "9.9.9.9", "1.2.3.4", "0.0.0.0"].map(String::from));
    hosts.push("other.example.net".into());
    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut env = vec![("TCPREMOTEIP".to_string(), r.pick(&ips).clone())];
        if r.chance(50) {
            env.push(("TCPREMOTEHOST".into(), r.pick(&hosts).clone()));
        }
        if r.chance(40) {
            env.push(("TCPREMOTEINFO".into(), r.pick(&infos).clone()));
        }
        clients.push(env);
    }
    Generated { text, clients }
}

/// djb's cdb hash.
pub fn cdb_hash(key: &[u8]) -> u32 {
    key.iter()
        .fold(5381u32, |h, &c| (h << 5).wrapping_add(h) ^ u32::from(c))
}

/// A cdb holding `records` in order, written as cdb_make writes it: to
/// make files that other tools (ucspi-tcp6, Debian's ucspi-tcp-ipv6)
/// would have written, without those tools.
pub fn cdb_bytes(records: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![0u8; 2048];
    let mut slots: Vec<Vec<(u32, u32)>> = vec![Vec::new(); 256];
    for (k, d) in records {
        let h = cdb_hash(k);
        slots[(h & 255) as usize].push((h, out.len() as u32));
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(d.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(d);
    }
    for (i, table) in slots.iter().enumerate() {
        let len = table.len() * 2;
        let pos = out.len() as u32;
        out[i * 8..i * 8 + 4].copy_from_slice(&pos.to_le_bytes());
        out[i * 8 + 4..i * 8 + 8].copy_from_slice(&(len as u32).to_le_bytes());
        let mut t = vec![(0u32, 0u32); len];
        for &(h, p) in table {
            let mut w = ((h >> 8) as usize) % len;
            while t[w].1 != 0 {
                w = (w + 1) % len;
            }
            t[w] = (h, p);
        }
        for (h, p) in t {
            out.extend_from_slice(&h.to_le_bytes());
            out.extend_from_slice(&p.to_le_bytes());
        }
    }
    out
}

/// The records of a cdb, in file order.
pub fn records(cdb: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let u = |p: usize| u32::from_le_bytes(cdb[p..p + 4].try_into().unwrap()) as usize;
    let end = u(0);
    let mut pos = 2048;
    let mut out = Vec::new();
    while pos < end {
        let (k, d) = (u(pos), u(pos + 4));
        out.push((
            cdb[pos + 8..pos + 8 + k].to_vec(),
            cdb[pos + 8 + k..pos + 8 + k + d].to_vec(),
        ));
        pos += 8 + k + d;
    }
    out
}

/// Bytes shown readably in assertion messages.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
