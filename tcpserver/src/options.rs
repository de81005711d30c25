//! The command line of tcpserver 0.88, read with djb's getopt
//! (`sys::getopt`, the one every djb-style program here uses): options
//! stop at the first operand, clustering (`-vRHl0`) and attached
//! arguments (`-c20`) work, an option's argument may start with a dash
//! (`-x -X` names the file `-X`), and when options contradict each other
//! (`-v -q`, `-u 5 -U`) the later one wins. A bad option gets getopt's
//! complaint and the usage line, exit 100.
//!
//! Added from ucspi-tcp6: `-4`, `-6` (the family of `0`, `::`, `:0`
//! and of a name) and `-I interface`; the usage line stays 0.88's.
//!
//! Deliberate difference: `-c`, `-u`, `-g`, `-b`, `-t` and `-C` must be
//! numbers. 0.88 reads a number prefix and silently takes 0 otherwise, so
//! `-u qmaild` ran the server as root; here that is a usage error.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use sys::getopt::{Getopt, Opt};

/// The usage line of 0.88, byte for byte (printed after `tcpserver: `).
pub const USAGE: &str = "usage: tcpserver [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] host port program";

/// The option letters, in getopt's syntax (`-C` is ours: the per-client
/// limit; `-4`, `-6`, `-I` are ucspi-tcp6's).
const SPEC: &str = "1UXpPhHrRoOdDqQv46c:x:B:g:u:b:l:t:C:I:";

/// The address family `-4` or `-6` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Neither: `0` is IPv4, `::` IPv6, `:0` both, a name its A records.
    Any,
    /// `-4`: `0`, `::` and `:0` are 0.0.0.0; a name its A records.
    V4,
    /// `-6`: `0` is `::` (IPv6 only); a name its AAAA records.
    V6,
}

/// How much tcpserver prints on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// `-q`: nothing at all, not even fatal errors.
    Quiet,
    /// `-Q` (default): errors and warnings.
    Errors,
    /// `-v`: also status, pid, ok/deny and end lines.
    Verbose,
}

/// The per-client limit, `-C n[:message]` (as ipsvd's tcpsvd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerClient {
    pub max: u32,
    /// Written to a refused client before the connection is closed.
    pub message: Vec<u8>,
}

/// Everything the command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub limit: u64,
    pub rules: Option<PathBuf>,
    pub allow_missing_rules: bool,
    pub banner: Vec<u8>,
    /// 0 (the default) leaves the gid alone, as in the original.
    pub gid: u32,
    /// 0 (the default) leaves the uid alone, as in the original.
    pub uid: u32,
    pub print_port: bool,
    pub backlog: i32,
    pub kill_ip_options: bool,
    pub nodelay: bool,
    pub verbosity: Verbosity,
    pub remote_host: bool,
    pub paranoid: bool,
    pub local_name: Option<Vec<u8>>,
    pub remote_info: bool,
    pub ident_timeout: u64,
    pub per_client: Option<PerClient>,
    pub family: Family,
    /// `-I`: the interface the listener is bound to.
    pub interface: Option<Vec<u8>>,
    pub host: Vec<u8>,
    pub port: Vec<u8>,
    /// The program and its arguments. Empty is a usage error, reported
    /// after the port has been looked up, as 0.88 does.
    pub program: Vec<OsString>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limit: 40,
            rules: None,
            allow_missing_rules: false,
            banner: Vec::new(),
            gid: 0,
            uid: 0,
            print_port: false,
            backlog: 20,
            kill_ip_options: true,
            nodelay: false,
            verbosity: Verbosity::Errors,
            remote_host: true,
            paranoid: false,
            local_name: None,
            remote_info: true,
            ident_timeout: 26,
            per_client: None,
            family: Family::Any,
            interface: None,
            host: Vec::new(),
            port: Vec::new(),
            program: Vec::new(),
        }
    }
}

/// Why the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// The lines to print on stderr before exiting 100.
    lines: Vec<String>,
    /// `-q` was given and the options parsed: print nothing (getopt's own
    /// complaints come before `-q` takes effect, a missing operand after).
    quiet: bool,
}

impl UsageError {
    fn new(lines: Vec<String>, quiet: bool) -> Self {
        UsageError { lines, quiet }
    }

    /// The text to print (empty when `-q` silences it).
    pub fn text(&self) -> String {
        if self.quiet {
            return String::new();
        }
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

fn usage_line() -> String {
    format!("tcpserver: {USAGE}")
}

/// A number made of ASCII digits only.
fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The bare usage complaint (`-q` silences it).
pub fn usage(quiet: bool) -> UsageError {
    UsageError::new(vec![usage_line()], quiet)
}

/// Parse `args` (without the program name). `env` gives `$UID` and `$GID`
/// for `-U`.
pub fn parse(
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Options, UsageError> {
    let mut o = Options::default();
    // Arguments whose last value counts, judged once all are read (a
    // bad early `-c x` that a later `-c 5` replaces is no error).
    let mut limit = None;
    let mut backlog = None;
    let mut timeout = None;
    let mut per_client = None;
    // -u and -g against -U: whichever comes later wins; -U only sets what
    // $UID and $GID define.
    let mut uid = Id::Unset;
    let mut gid = Id::Unset;
    let mut g = Getopt::new(args, SPEC);
    while let Some(opt) = g.next() {
        let (c, arg) = match opt {
            Opt::Found(c, arg) => (c, arg),
            Opt::Bad(c) => {
                let lines = vec![format!("tcpserver: {}", g.complaint(c)), usage_line()];
                return Err(UsageError::new(lines, false));
            }
        };
        let arg = arg.unwrap_or_default();
        match c {
            b'v' => o.verbosity = Verbosity::Verbose,
            b'q' => o.verbosity = Verbosity::Quiet,
            b'Q' => o.verbosity = Verbosity::Errors,
            b'c' => limit = Some(arg),
            b'b' => backlog = Some(arg),
            b't' => timeout = Some(arg),
            b'x' => o.rules = Some(PathBuf::from(OsString::from_vec(arg))),
            b'X' => o.allow_missing_rules = true,
            b'B' => o.banner = arg,
            b'1' => o.print_port = true,
            b'o' => o.kill_ip_options = false,
            b'O' => o.kill_ip_options = true,
            b'd' => o.nodelay = false,
            b'D' => o.nodelay = true,
            b'h' => o.remote_host = true,
            b'H' => o.remote_host = false,
            b'p' => o.paranoid = true,
            b'P' => o.paranoid = false,
            b'r' => o.remote_info = true,
            b'R' => o.remote_info = false,
            b'l' => o.local_name = Some(arg),
            b'u' => uid = Id::Given(arg),
            b'g' => gid = Id::Given(arg),
            // -U only sets what $UID and $GID define.
            b'U' => {
                if env("UID").is_some() {
                    uid = Id::FromEnv;
                }
                if env("GID").is_some() {
                    gid = Id::FromEnv;
                }
            }
            b'C' => per_client = Some(arg),
            b'4' => o.family = Family::V4,
            b'6' => o.family = Family::V6,
            b'I' => o.interface = Some(arg),
            _ => {}
        }
    }
    let bad = |what: &str, v: &[u8]| {
        UsageError::new(
            vec![
                format!(
                    "tcpserver: {what} must be a number: {}",
                    String::from_utf8_lossy(v)
                ),
                usage_line(),
            ],
            false,
        )
    };
    let num = |v: Option<Vec<u8>>, what: &str| -> Result<Option<u64>, UsageError> {
        match v {
            None => Ok(None),
            Some(v) => number(&v).map(Some).ok_or_else(|| bad(what, &v)),
        }
    };
    let id32 = |v: u64, what: &str, raw: &[u8]| u32::try_from(v).map_err(|_| bad(what, raw));

    if let Some(c) = num(limit, "limit")? {
        if c == 0 {
            // 0.88 would never accept a connection.
            return Err(UsageError::new(
                vec!["tcpserver: limit must be at least 1".into(), usage_line()],
                false,
            ));
        }
        o.limit = c;
    }
    if let Some(b) = num(backlog, "backlog")? {
        o.backlog = b.min(i32::MAX as u64) as i32;
    }
    if let Some(t) = num(timeout, "timeout")? {
        o.ident_timeout = t;
    }
    for (id, var, what) in [(uid, "UID", "uid"), (gid, "GID", "gid")] {
        let val = match id {
            Id::Unset => 0,
            Id::Given(raw) => {
                let n = number(&raw).ok_or_else(|| bad(what, &raw))?;
                id32(n, what, &raw)?
            }
            Id::FromEnv => match env(var) {
                None => 0,
                Some(v) => {
                    let v = v.as_bytes();
                    let shown = format!("${var}");
                    let n = number(v).ok_or_else(|| bad(&shown, v))?;
                    id32(n, &shown, v)?
                }
            },
        };
        if var == "UID" {
            o.uid = val;
        } else {
            o.gid = val;
        }
    }

    if let Some(raw) = per_client {
        let (n, msg) = match raw.iter().position(|&b| b == b':') {
            Some(i) => (&raw[..i], Some(&raw[i + 1..])),
            None => (&raw[..], None),
        };
        let max = number(n)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v > 0)
            .ok_or_else(|| bad("per-client limit", &raw))?;
        o.per_client = Some(PerClient {
            max,
            message: msg.map(unescape).unwrap_or_default(),
        });
    }

    let quiet = o.verbosity == Verbosity::Quiet;
    let mut ops = g.operands();
    if ops.len() < 2 {
        return Err(UsageError::new(vec![usage_line()], quiet));
    }
    o.program = ops
        .split_off(2)
        .into_iter()
        .map(OsString::from_vec)
        .collect();
    o.port = ops.pop().unwrap_or_default();
    o.host = ops.pop().unwrap_or_default();
    Ok(o)
}

/// Where a uid or gid comes from: the last of `-u`/`-g` and `-U` wins.
#[derive(Debug)]
enum Id {
    Unset,
    Given(Vec<u8>),
    FromEnv,
}

/// ipsvd's escapes in a `-C n:message`: `\n`, `\r`, `\\`.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            match s[i + 1] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b'\\' => out.push(b'\\'),
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Options, UsageError> {
        p_env(s, &[])
    }

    fn p_env(s: &str, env: &[(&str, &str)]) -> Result<Options, UsageError> {
        let args = s.split_whitespace().map(OsString::from).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        parse(args, move |k| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn defaults_are_the_originals() {
        let o = p("0 25 prog").unwrap();
        assert_eq!(o.limit, 40);
        assert_eq!(o.backlog, 20);
        assert_eq!(o.ident_timeout, 26);
        assert!(o.remote_host && o.remote_info && o.kill_ip_options);
        assert!(!o.paranoid && !o.nodelay && !o.print_port);
        assert_eq!(o.verbosity, Verbosity::Errors);
        assert_eq!(o.host, b"0");
        assert_eq!(o.port, b"25");
        assert_eq!(o.program, vec![OsString::from("prog")]);
    }

    #[test]
    fn clusters_attached_arguments_and_the_last_word_wins() {
        let o = p("-vRHl0 -c20 -q -v -x -X 0 smtp prog -v -c 3").unwrap();
        assert_eq!(o.verbosity, Verbosity::Verbose);
        assert!(!o.remote_info && !o.remote_host);
        assert_eq!(o.local_name.as_deref(), Some(&b"0"[..]));
        assert_eq!(o.limit, 20);
        assert_eq!(o.rules, Some(PathBuf::from("-X")));
        assert!(!o.allow_missing_rules);
        assert_eq!(o.program.len(), 4);
        let o = p("-v -Q -hHh -pP -Dd -oO 0 1 x").unwrap();
        assert_eq!(o.verbosity, Verbosity::Errors);
        assert!(o.remote_host && !o.paranoid && !o.nodelay && o.kill_ip_options);
    }

    #[test]
    fn options_stop_at_the_first_operand() {
        let o = p("0 -v 25 prog").unwrap();
        assert_eq!(o.port, b"-v");
        assert_eq!(o.verbosity, Verbosity::Errors);
        let o = p("-- -v 25 prog").unwrap();
        assert_eq!(o.host, b"-v");
    }

    #[test]
    fn u_and_g_against_capital_u() {
        let env = [("UID", "1003"), ("GID", "1002")];
        let o = p_env("-U 0 25 p", &env).unwrap();
        assert_eq!((o.uid, o.gid), (1003, 1002));
        let o = p_env("-U -u 7 0 25 p", &env).unwrap();
        assert_eq!((o.uid, o.gid), (7, 1002));
        let o = p_env("-u 7 -U 0 25 p", &env).unwrap();
        assert_eq!((o.uid, o.gid), (1003, 1002));
        let o = p_env("-u 7 -U 0 25 p", &[]).unwrap();
        assert_eq!((o.uid, o.gid), (7, 0));
        assert!(p_env("-U 0 25 p", &[("UID", "qmaild")]).is_err());
    }

    #[test]
    fn non_numbers_are_usage_errors() {
        for bad in [
            "-u qmaild 0 25 p",
            "-g nogroup 0 25 p",
            "-c abc 0 25 p",
            "-c 0 0 25 p",
            "-u 65534abc 0 25 p",
            "-b x 0 25 p",
            "-t 1s 0 25 p",
            "-C x 0 25 p",
        ] {
            let e = p(bad).unwrap_err();
            assert!(
                e.text().ends_with(&format!("tcpserver: {USAGE}\n")),
                "{bad}"
            );
        }
    }

    #[test]
    fn getopt_messages() {
        let e = p("-Z 0 25 p").unwrap_err();
        assert_eq!(
            e.text(),
            format!("tcpserver: illegal option -- Z\ntcpserver: {USAGE}\n")
        );
        let e = p("-vZ 0 25 p").unwrap_err();
        assert!(e.text().starts_with("tcpserver: illegal option -- Z\n"));
        let e = p("-c").unwrap_err();
        assert_eq!(
            e.text(),
            format!("tcpserver: option requires an argument -- c\ntcpserver: {USAGE}\n")
        );
        let e = p("0").unwrap_err();
        assert_eq!(e.text(), format!("tcpserver: {USAGE}\n"));
        assert!(p("0 25").unwrap().program.is_empty());
        // -q silences a missing operand, not a broken option.
        assert_eq!(p("-q 0").unwrap_err().text(), "");
        assert!(!p("-q -Z 0 25 p").unwrap_err().text().is_empty());
    }

    #[test]
    fn ucspi_tcp6_family_and_interface() {
        let o = p("0 25 p").unwrap();
        assert_eq!((o.family, o.interface), (Family::Any, None));
        let o = p("-46 -Ieth0 0 25 p").unwrap();
        assert_eq!(
            (o.family, o.interface),
            (Family::V6, Some(b"eth0".to_vec()))
        );
        let o = p("-6v4 -I lo 0 25 p").unwrap();
        assert_eq!((o.family, o.verbosity), (Family::V4, Verbosity::Verbose));
        let e = p("-I").unwrap_err();
        assert!(
            e.text()
                .starts_with("tcpserver: option requires an argument -- I\n")
        );
    }

    #[test]
    fn per_client_limit_with_message() {
        let o = p("-C 2:421\\ttoo\\r\\n 0 25 p").unwrap();
        let pc = o.per_client.unwrap();
        assert_eq!(pc.max, 2);
        assert_eq!(pc.message, b"421\\ttoo\r\n");
        let o = p("-C3 0 25 p").unwrap();
        assert_eq!(o.per_client.unwrap().message, b"");
    }
}
