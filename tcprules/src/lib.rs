//! tcprules and tcprulescheck: the command lines, messages and exit codes
//! of ucspi-tcp 0.88 around the `rules` library.
//!
//! - [`tcprules_main`]: `tcprules rules.cdb rules.tmp < rules.txt`
//! - [`tcprulescheck_main`]: `tcprulescheck rules.cdb`, the client taken
//!   from TCPREMOTEIP, TCPREMOTEHOST and TCPREMOTEINFO
//!
//! Both exit 100 on a usage error (printing the original's `usage:` line,
//! not clap's text) and 111 on a system error, with djb's error wording.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use clap::{Arg, ArgAction, Command, value_parser};

const TCPRULES_USAGE: &str = "tcprules: usage: tcprules rules.cdb rules.tmp";
const TCPRULESCHECK_USAGE: &str = "tcprulescheck: usage: tcprulescheck rules.cdb";

/// The operands, taken as the original takes them: words in order, a
/// leading `-` being part of a file name (0.88 has no options), extra
/// words ignored. `None` on any clap error.
fn operands(name: &'static str, args: impl IntoIterator<Item = OsString>) -> Option<Vec<OsString>> {
    // An explicit `--` first, so that clap takes every word (even `--`
    // or `--help`) as an operand.
    let mut args = args.into_iter();
    let argv0 = args.next().unwrap_or_else(|| name.into());
    let args = [argv0, "--".into()].into_iter().chain(args);
    let m = Command::new(name)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("operands")
                .num_args(0..)
                .action(ArgAction::Append)
                .allow_hyphen_values(true)
                .trailing_var_arg(true)
                .value_parser(value_parser!(OsString)),
        )
        .try_get_matches_from(args)
        .ok()?;
    Some(
        m.get_many::<OsString>("operands")
            .map(|v| v.cloned().collect())
            .unwrap_or_default(),
    )
}

/// The message after `tcprules: fatal: `, in djb's words, as raw bytes:
/// 0.88 prints a bad line as it is (up to a NUL byte, being C), not as
/// UTF-8.
pub fn message(e: &rules::CompileError) -> Vec<u8> {
    use rules::CompileError as E;
    let d = sys::errstr::describe;
    let mut m = Vec::new();
    let mut path_err = |what: &[u8], p: &std::path::Path, e: &io::Error| {
        m.extend_from_slice(what);
        m.extend_from_slice(p.as_os_str().as_bytes());
        m.extend_from_slice(b": ");
        m.extend_from_slice(d(e).as_bytes());
    };
    match e {
        E::Create(p, e) => path_err(b"unable to create ", p, e),
        E::Write(p, e) => path_err(b"unable to write to ", p, e),
        E::Parse(line) => {
            m.extend_from_slice(b"unable to parse this line: ");
            let end = line.iter().position(|&c| c == 0).unwrap_or(line.len());
            m.extend_from_slice(&line[..end]);
        }
        E::Input(e) => {
            m.extend_from_slice(b"unable to read input: ");
            m.extend_from_slice(d(e).as_bytes());
        }
        E::Move { tmp, cdb, err } => {
            m.extend_from_slice(b"unable to move ");
            m.extend_from_slice(tmp.as_os_str().as_bytes());
            m.extend_from_slice(b" to ");
            m.extend_from_slice(cdb.as_os_str().as_bytes());
            m.extend_from_slice(b": ");
            m.extend_from_slice(d(err).as_bytes());
        }
        // compile() reports cdb errors as Write; kept for completeness.
        E::Cdb(e) => m.extend_from_slice(d(e).as_bytes()),
    }
    m
}

fn die(prefix: &[u8], msg: &[u8], code: i32) -> i32 {
    let mut line = prefix.to_vec();
    line.extend_from_slice(msg);
    line.push(b'\n');
    let _ = io::stderr().write_all(&line);
    code
}

/// `tcprules rules.cdb rules.tmp`: read rules text on stdin, write the
/// cdb to rules.tmp, then rename it to rules.cdb. Returns the exit code.
pub fn tcprules_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let ops = operands("tcprules", args).unwrap_or_default();
    let [cdb, tmp, ..] = &ops[..] else {
        return die(b"", TCPRULES_USAGE.as_bytes(), 100);
    };
    let mut input = io::BufReader::with_capacity(1 << 16, io::stdin().lock());
    match rules::compile(&mut input, &PathBuf::from(cdb), &PathBuf::from(tmp)) {
        Ok(()) => 0,
        Err(e) => die(b"tcprules: fatal: ", &message(&e), e.exit_code()),
    }
}

/// `tcprulescheck rules.cdb`: print which rule applies to the client in
/// TCPREMOTEIP (default `0.0.0.0`), TCPREMOTEHOST and TCPREMOTEINFO.
/// Returns the exit code.
pub fn tcprulescheck_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let ops = operands("tcprulescheck", args).unwrap_or_default();
    let Some(cdb) = ops.first() else {
        return die(b"", TCPRULESCHECK_USAGE.as_bytes(), 100);
    };
    let ip = std::env::var_os("TCPREMOTEIP").unwrap_or_else(|| "0.0.0.0".into());
    let host = std::env::var_os("TCPREMOTEHOST");
    let info = std::env::var_os("TCPREMOTEINFO");
    let client = rules::Client {
        ip: ip.as_bytes(),
        host: host.as_deref().map(|h| h.as_bytes()),
        info: info.as_deref().map(|i| i.as_bytes()),
    };
    match check(&PathBuf::from(cdb), &client) {
        Ok(report) => {
            // 0.88 ignores a failed write to stdout, and so do we.
            let _ = io::stdout().write_all(&report);
            0
        }
        Err(e) => {
            let mut msg = b"unable to read ".to_vec();
            msg.extend_from_slice(cdb.as_bytes());
            msg.extend_from_slice(b": ");
            msg.extend_from_slice(sys::errstr::describe(&e).as_bytes());
            die(b"tcprulescheck: fatal: ", &msg, 111)
        }
    }
}

/// tcprulescheck's output for `client`, byte for byte as 0.88's for IPv4
/// (IPv6 and CIDR keys are shown readably: `::1`, `10.0.0.0/8`).
pub fn check(cdb: &std::path::Path, client: &rules::Client<'_>) -> io::Result<Vec<u8>> {
    Ok(match rules::find(cdb, client)? {
        Some(m) => rules::data::report(&m.shown, &m.data),
        None => rules::data::REPORT_DEFAULT.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(args: &[&str]) -> Option<Vec<String>> {
        operands("tcprules", args.iter().map(OsString::from))
            .map(|v| v.into_iter().map(|s| s.into_string().unwrap()).collect())
    }

    #[test]
    fn messages_in_djbs_words() {
        use rules::CompileError as E;
        let enoent = || io::Error::from_raw_os_error(libc::ENOENT);
        let cases: [(E, &[u8]); 5] = [
            (
                E::Parse(b"1.2.3.4:bogus\0tail".to_vec()),
                b"unable to parse this line: 1.2.3.4:bogus",
            ),
            (
                E::Create("t.tmp".into(), enoent()),
                b"unable to create t.tmp: file does not exist",
            ),
            (
                E::Write("t.tmp".into(), io::Error::from_raw_os_error(libc::ENOSPC)),
                b"unable to write to t.tmp: out of disk space",
            ),
            (
                E::Input(enoent()),
                b"unable to read input: file does not exist",
            ),
            (
                E::Move {
                    tmp: "t.tmp".into(),
                    cdb: "t.cdb".into(),
                    err: enoent(),
                },
                b"unable to move t.tmp to t.cdb: file does not exist",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(
                String::from_utf8_lossy(&message(&e)),
                String::from_utf8_lossy(want)
            );
        }
    }

    #[test]
    fn operands_are_taken_literally() {
        assert_eq!(ops(&["tcprules"]), Some(vec![]));
        assert_eq!(
            ops(&["tcprules", "a", "b"]),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            ops(&["tcprules", "-x", "b", "c"]),
            Some(vec!["-x".into(), "b".into(), "c".into()])
        );
        assert_eq!(ops(&["tcprules", "--help"]), Some(vec!["--help".into()]));
        assert_eq!(
            ops(&["tcprules", "--", "x"]),
            Some(vec!["--".into(), "x".into()])
        );
        assert_eq!(
            ops(&["tcprules", "-V", "--", "--"]),
            Some(vec!["-V".into(), "--".into(), "--".into()])
        );
    }
}
