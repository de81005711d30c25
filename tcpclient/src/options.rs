//! The command line, with djb's getopt and 0.88's number parsing
//! (`scan_ulong`: leading digits, 0 if none, so `-T 5` means 5+0).
//! Added from ucspi-tcp6: `-4`, `-6`, `-I interface`.

use std::ffi::OsString;
use std::net::IpAddr;

use sys::getopt::{Getopt, Opt};

pub const USAGE: &[u8] = b"tcpclient: usage: tcpclient [ -hHrRdDqQv ] [ -i localip ] [ -p localport ] [ -T timeoutconn ] [ -l localname ] [ -t timeoutinfo ] host port program\n";

const SPEC: &str = "46dDvqQhHrRi:p:t:T:l:I:";

/// Which address families a name may give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// 0.88's A records first, then AAAA (the addition).
    Any,
    /// `-4`
    V4,
    /// `-6`
    V6,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// 0 quiet, 1 errors, 2 also `connected to`.
    pub verbosity: u8,
    pub delay: bool,
    pub remote_host: bool,
    pub remote_info: bool,
    pub info_timeout: u64,
    pub conn_timeout: [u64; 2],
    pub local_ip: Option<IpAddr>,
    pub local_port: u16,
    pub local_name: Option<Vec<u8>>,
    pub family: Family,
    pub interface: Option<Vec<u8>>,
    pub host: Vec<u8>,
    pub port: Vec<u8>,
    pub program: Vec<OsString>,
}

/// djb's `scan_ulong`: the value of the leading digits and how many.
pub fn scan_ulong(s: &[u8]) -> (u64, usize) {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let v = s[..n].iter().fold(0u64, |v, &d| {
        v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
    });
    (v, n)
}

/// An address for `-i`: a dotted quad as djb's `ip4_scan` reads it (what
/// follows the fourth number is ignored), or, added, an IPv6 literal.
fn local_ip(s: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(s).ok()?;
    if let Ok(ip) = text.trim_start_matches('[').trim_end_matches(']').parse() {
        return Some(ip);
    }
    let mut out = [0u8; 4];
    let mut pos = 0;
    for (i, o) in out.iter_mut().enumerate() {
        let (v, n) = scan_ulong(&s[pos..]);
        if n == 0 {
            return None;
        }
        *o = v as u8;
        pos += n;
        if i < 3 {
            if s.get(pos) != Some(&b'.') {
                return None;
            }
            pos += 1;
        }
    }
    Some(IpAddr::from(out))
}

/// Why the command line was refused: getopt's complaint (if any) is
/// printed before the usage line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage(pub Vec<u8>);

pub fn parse(args: Vec<OsString>) -> Result<Options, Usage> {
    let mut o = Options {
        verbosity: 1,
        delay: true,
        remote_host: true,
        remote_info: true,
        info_timeout: 26,
        conn_timeout: [2, 58],
        local_ip: None,
        local_port: 0,
        local_name: None,
        family: Family::Any,
        interface: None,
        host: Vec::new(),
        port: Vec::new(),
        program: Vec::new(),
    };
    let mut g = Getopt::new(args, SPEC);
    for opt in g.by_ref() {
        let (c, arg) = match opt {
            Opt::Found(c, a) => (c, a.unwrap_or_default()),
            Opt::Bad(c) => {
                let what: &[u8] = if SPEC.as_bytes().contains(&c) {
                    b"option requires an argument"
                } else {
                    b"illegal option"
                };
                return Err(Usage(
                    [&b"tcpclient: "[..], what, b" -- ", &[c], b"\n"].concat(),
                ));
            }
        };
        match c {
            b'4' => o.family = Family::V4,
            b'6' => o.family = Family::V6,
            b'd' => o.delay = true,
            b'D' => o.delay = false,
            b'v' => o.verbosity = 2,
            b'q' => o.verbosity = 0,
            b'Q' => o.verbosity = 1,
            b'l' => o.local_name = Some(arg),
            b'H' => o.remote_host = false,
            b'h' => o.remote_host = true,
            b'R' => o.remote_info = false,
            b'r' => o.remote_info = true,
            b't' => o.info_timeout = scan_ulong(&arg).0,
            b'T' => {
                let (x, mut n) = scan_ulong(&arg);
                if arg.get(n) == Some(&b'+') {
                    n += 1;
                }
                o.conn_timeout = [x, scan_ulong(&arg[n..]).0];
            }
            b'i' => o.local_ip = Some(local_ip(&arg).ok_or(Usage(Vec::new()))?),
            b'p' => o.local_port = scan_ulong(&arg).0 as u16,
            _ => o.interface = Some(arg),
        }
    }
    let mut rest = g.operands().into_iter();
    let (Some(host), Some(port)) = (rest.next(), rest.next()) else {
        return Err(Usage(Vec::new()));
    };
    use std::os::unix::ffi::OsStringExt;
    // An empty program is refused by the caller, after the port: 0.88
    // complains about a bad port first.
    o.program = rest.map(OsString::from_vec).collect();
    o.host = host;
    o.port = port;
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, Usage> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn timeouts_and_numbers() {
        let o = p(&["-T", "3+7", "h", "1", "x"]).unwrap();
        assert_eq!(o.conn_timeout, [3, 7]);
        assert_eq!(p(&["-T5", "h", "1", "x"]).unwrap().conn_timeout, [5, 0]);
        assert_eq!(p(&["-T+9", "h", "1", "x"]).unwrap().conn_timeout, [0, 9]);
        assert_eq!(p(&["-p", "65537", "h", "1", "x"]).unwrap().local_port, 1);
        let o = p(&["-i", "127.0.0.2x", "h", "1", "x"]).unwrap();
        assert_eq!(o.local_ip, Some("127.0.0.2".parse().unwrap()));
        assert_eq!(
            p(&["-i", "::1", "h", "1", "x"]).unwrap().local_ip,
            Some("::1".parse().unwrap())
        );
        assert!(p(&["-i", "1.2", "h", "1", "x"]).is_err());
    }

    #[test]
    fn usage_errors() {
        assert_eq!(p(&["h"]), Err(Usage(Vec::new())));
        assert!(p(&["h", "1"]).unwrap().program.is_empty());
        assert_eq!(
            p(&["-x", "h", "1", "p"]),
            Err(Usage(b"tcpclient: illegal option -- x\n".to_vec()))
        );
        assert_eq!(
            p(&["h", "1", "p", "-T"]).unwrap().program,
            vec![OsString::from("p"), OsString::from("-T")]
        );
        assert_eq!(
            p(&["-T"]),
            Err(Usage(
                b"tcpclient: option requires an argument -- T\n".to_vec()
            ))
        );
        let o = p(&["-46", "-I", "eth0", "h", "1", "x"]).unwrap();
        assert_eq!(
            (o.family, o.interface),
            (Family::V6, Some(b"eth0".to_vec()))
        );
    }
}
