//! `tcprules`' job: rules text in, cdb file out, atomically.
//!
//! As 0.88: create the temporary file (`O_WRONLY|O_NONBLOCK|O_TRUNC|
//! O_CREAT`, mode 0644 less the umask) before reading anything, write each
//! rule's records as its line is read, finish the cdb, fsync, close and
//! rename over the target. On any error the target is untouched. One
//! deliberate difference: the temporary file is removed on error (0.88
//! leaves it behind, possibly partial) unless it is the target itself or
//! not a regular file.

use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::cdb_make::CdbMake;
use crate::{CompileError as Error, keys, parse};

/// Compile the rules text read from `input` into the cdb `cdb`, through
/// the temporary file `tmp` (same filesystem: it is renamed).
pub fn compile(input: &mut impl BufRead, cdb: &Path, tmp: &Path) -> Result<(), Error> {
    let file = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NONBLOCK)
        .open(tmp)
        .map_err(|e| Error::Create(tmp.to_path_buf(), e))?;
    // Remove only a regular file that is not the target: `tcprules x.cdb
    // x.cdb` works in 0.88 (the rename is a no-op), and a temp named
    // /dev/full must never be unlinked.
    let removable = match (file.metadata(), fs::metadata(cdb)) {
        (Ok(a), Ok(b)) => a.is_file() && !(a.dev() == b.dev() && a.ino() == b.ino()),
        (Ok(a), Err(_)) => a.is_file(),
        _ => false,
    };
    let cleanup = |e: Error| {
        if removable {
            let _ = fs::remove_file(tmp);
        }
        e
    };
    write_rules(input, file, tmp).map_err(cleanup)?;
    fs::rename(tmp, cdb).map_err(|err| {
        cleanup(Error::Move {
            tmp: tmp.to_path_buf(),
            cdb: cdb.to_path_buf(),
            err,
        })
    })
}

fn write_rules(input: &mut impl BufRead, file: File, tmp: &Path) -> Result<(), Error> {
    let werr = |e: io::Error| Error::Write(tmp.to_path_buf(), e);
    let mut out = CdbMake::new(BufWriter::with_capacity(1 << 16, file));
    compile_into(input, &mut out).map_err(|e| match e {
        Error::Cdb(e) => werr(e),
        e => e,
    })?;
    let buf = out.finish().map_err(werr)?;
    let file = buf.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_all().map_err(werr)?;
    Ok(())
}

/// Read rules text from `input` and add each rule's records to `out`.
/// Errors: `Parse` for a bad line, `Input` for a read error, `Cdb` for a
/// write error.
pub fn compile_into<W: io::Write + io::Seek>(
    input: &mut impl BufRead,
    out: &mut CdbMake<W>,
) -> Result<(), Error> {
    let mut line = Vec::with_capacity(256);
    let mut data = Vec::with_capacity(256);
    let mut scratch = Vec::with_capacity(64);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(Error::Input)? == 0 {
            return Ok(());
        }
        let Some(text) = parse::strip(&line) else {
            continue;
        };
        let bad = || Error::Parse(text.to_vec());
        let Some(rule) = parse::parse_line(text, &mut data).map_err(|_| bad())? else {
            continue;
        };
        let keys = keys::keys(rule.address, rule.ipv6).map_err(|_| bad())?;
        keys.for_each(&mut scratch, |k| out.add(k, &data))
            .map_err(Error::Cdb)?;
    }
}

/// Compile rules text held in memory into cdb bytes (tests, tools).
pub fn compile_bytes(text: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = CdbMake::new(io::Cursor::new(Vec::new()));
    compile_into(&mut &text[..], &mut out)?;
    Ok(out.finish().map_err(Error::Cdb)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdb_read::records;

    const SAMPLE_RULES: &[u8] = include_bytes!("../testdata/tcprules-sample.rules");
    const SAMPLE_CDB: &[u8] = include_bytes!("../testdata/tcprules-sample.cdb");
    const EDGE: &str = include_str!("../testdata/tcprules-edgecases.expected.txt");

    #[test]
    fn the_sample_compiles_to_debians_bytes() {
        assert_eq!(compile_bytes(SAMPLE_RULES).unwrap(), SAMPLE_CDB);
    }

    /// Decode a Python bytes literal as the fixture writes them.
    fn pybytes(s: &str) -> Vec<u8> {
        let s = s.trim();
        let inner = &s[2..s.len() - 1];
        let quote = s.as_bytes()[1];
        let b = inner.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' {
                i += 1;
                match b[i] {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'x' => {
                        out.push(u8::from_str_radix(&inner[i + 1..i + 3], 16).unwrap());
                        i += 2;
                    }
                    c => out.push(c),
                }
            } else {
                out.push(b[i]);
            }
            i += 1;
        }
        let _ = quote;
        out
    }

    /// Split `b'key' => b'data'` at the ` => ` between the literals.
    fn record(line: &str) -> (Vec<u8>, Vec<u8>) {
        let line = line.trim();
        let q = line.as_bytes()[1] as char;
        let end = line[2..].find(q).unwrap() + 2;
        // A key never contains its own quote unescaped.
        (pybytes(&line[..=end]), pybytes(&line[end + 5..]))
    }

    #[test]
    fn every_fixture_edge_case() {
        let mut cases = 0;
        for case in EDGE.split("=== input: ").skip(1) {
            let mut lines = case.lines();
            let input = pybytes(lines.next().unwrap());
            let exit: i32 = lines.next().unwrap()["exit: ".len()..].parse().unwrap();
            let got = compile_bytes(&input);
            // The one deliberate difference: an empty name is refused.
            if input.windows(3).any(|w| w == b",=\"") {
                assert!(matches!(got, Err(Error::Parse(_))));
                cases += 1;
                continue;
            }
            // The IPv6 and CIDR additions: 0.88 refuses `::1` and stores
            // `1.2.3.0/24` as a key no lookup ever makes; we store
            // ucspi-tcp6's keys.
            let addition: Option<&[u8]> = match &input[..] {
                b"::1:allow\n" => Some(b"0000:0000:0000:0000:0000:0000:0000:0001"),
                b"1.2.3.0/24:allow\n" => Some(b"_0000000h000000o0000000wx"),
                _ => None,
            };
            if let Some(key) = addition {
                let f = got.unwrap();
                let recs: Vec<_> = records(&f).map(Result::unwrap).collect();
                assert_eq!(recs, [(key, &b""[..])]);
                cases += 1;
                continue;
            }
            if exit == 100 {
                let stderr = pybytes(&lines.next().unwrap()["stderr: ".len()..]);
                // 0.88 prints the line up to a NUL (tcprules' message()).
                let Err(Error::Parse(line)) = got else {
                    panic!("0.88 refused this: {}", String::from_utf8_lossy(&input))
                };
                let end = line.iter().position(|&c| c == 0).unwrap_or(line.len());
                let mut msg = b"tcprules: fatal: unable to parse this line: ".to_vec();
                msg.extend_from_slice(&line[..end]);
                msg.push(b'\n');
                assert_eq!(msg, stderr, "{}", String::from_utf8_lossy(&input));
            } else {
                let f = got.unwrap();
                let want: Vec<(Vec<u8>, Vec<u8>)> =
                    lines.filter(|l| l.starts_with("  b")).map(record).collect();
                let have: Vec<(Vec<u8>, Vec<u8>)> = records(&f)
                    .map(|r| r.map(|(k, d)| (k.to_vec(), d.to_vec())).unwrap())
                    .collect();
                assert_eq!(have, want, "{}", String::from_utf8_lossy(&input));
            }
            cases += 1;
        }
        assert_eq!(cases, 46);
    }

    #[test]
    fn files_are_replaced_atomically_and_temps_removed_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let cdb = dir.path().join("r.cdb");
        let tmp = dir.path().join("r.tmp");
        compile(&mut &b"1.2.3.4:deny\n"[..], &cdb, &tmp).unwrap();
        let first = fs::read(&cdb).unwrap();
        assert!(!tmp.exists());
        let e = compile(&mut &b"1.2.3.5:allow\nbad:line\n"[..], &cdb, &tmp).unwrap_err();
        assert!(matches!(&e, Error::Parse(l) if l == b"bad:line"), "{e}");
        assert_eq!(e.exit_code(), 100);
        assert_eq!(fs::read(&cdb).unwrap(), first);
        assert!(!tmp.exists());
        // Rename across a missing directory fails: target untouched.
        let e = compile(&mut &b""[..], &dir.path().join("no/x.cdb"), &tmp).unwrap_err();
        assert!(
            matches!(&e, Error::Move { err, .. } if err.raw_os_error() == Some(libc::ENOENT)),
            "{e}"
        );
        assert!(!tmp.exists());
        let e = compile(&mut &b""[..], &cdb, &dir.path().join("no/x.tmp")).unwrap_err();
        assert_eq!(e.exit_code(), 111);
        assert!(
            matches!(&e, Error::Create(_, err) if err.raw_os_error() == Some(libc::ENOENT)),
            "{e}"
        );
        // The same file as target and temp: works, and an error keeps it.
        compile(&mut &b":allow\n"[..], &cdb, &cdb).unwrap();
        assert!(compile(&mut &b"x:y\n"[..], &cdb, &cdb).is_err());
        assert!(cdb.exists());
    }
}
