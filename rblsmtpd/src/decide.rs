//! The command line and the decision, as 0.88 makes it: `$RBLSMTPD`
//! first, then each option in the order given, so `-b` or `-c` affects
//! only the lists named after it, and the first list that decides ends
//! the lookups. A failed lookup fails open unless `-c` came before it.
//! Debian's 0.88 has no default list (upstream asked `rbl.maps.vix.com`).
//!
//! Added: `-r zone:text` asks for the A record a modern DNSBL answers
//! with (`127.0.0.x`) instead of TXT and blocks with `text`, `%IP%`
//! replaced by the client's address (ucspi-tcp6's form); an empty text
//! takes the zone's TXT text if it has one. A 0.88 command line has no
//! colon in a list's name, so it behaves as before.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use sys::getopt::{Getopt, Opt};
use sys::scan::scan_ulong;

use crate::lookup::{Lookups, TempFail, listed_name};

const SPEC: &str = "bBcCt:r:a:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `-b` (true) / `-B`: 553 rather than 451 for the lists after it.
    Bounce(bool),
    /// `-c` (true) / `-C`: a failed lookup blocks rather than passes.
    FailClosed(bool),
    Timeout(u64),
    /// `-r base`
    Rbl(Vec<u8>),
    /// `-a base`
    AntiRbl(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub steps: Vec<Step>,
    pub program: Vec<OsString>,
}

impl Options {
    /// The dialogue's timeout: the last `-t` (default 60).
    pub fn final_timeout(&self) -> u64 {
        self.steps
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::Timeout(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(60)
    }

    /// How long all lookups together may take: the timeout too (60 s for
    /// `-t 0`), so a dead resolver never holds a client longer than a
    /// blocked one is held.
    pub fn lookup_limit(&self) -> Duration {
        match self.final_timeout() {
            0 => Duration::from_secs(60),
            t => Duration::from_secs(t),
        }
    }
}

/// The options; `Err` carries getopt's complaint line.
pub fn parse(args: Vec<OsString>) -> Result<Options, Vec<u8>> {
    let mut g = Getopt::new(args, SPEC);
    let mut steps = Vec::new();
    for o in g.by_ref() {
        match o {
            Opt::Found(c, arg) => {
                let arg = arg.unwrap_or_default();
                steps.push(match c {
                    b'b' => Step::Bounce(true),
                    b'B' => Step::Bounce(false),
                    b'c' => Step::FailClosed(true),
                    b'C' => Step::FailClosed(false),
                    b't' => Step::Timeout(scan_ulong(&arg)),
                    b'r' => Step::Rbl(arg),
                    _ => Step::AntiRbl(arg),
                });
            }
            Opt::Bad(c) => {
                let what: &[u8] = if SPEC.as_bytes().contains(&c) {
                    b"option requires an argument"
                } else {
                    b"illegal option"
                };
                return Err([&b"rblsmtpd: "[..], what, b" -- ", &[c], b"\n"].concat());
            }
        }
    }
    let program = g.operands().into_iter().map(OsString::from_vec).collect();
    Ok(Options { steps, program })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the SMTP server.
    Pass,
    /// Hold the dialogue with this code and text.
    Block { code: u16, text: Vec<u8> },
}

/// 0.88's decision states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Undecided,
    Accept,
    /// 451
    Reject,
    /// 553
    Bounce,
}

/// Where the answers come from (DNS in the program, a table in tests).
pub trait Dns {
    fn txt(&mut self, name: &[u8]) -> Result<Vec<u8>, TempFail>;
    fn a(&mut self, name: &[u8]) -> Result<Vec<Ipv4Addr>, TempFail>;
}

impl Dns for Lookups {
    fn txt(&mut self, name: &[u8]) -> Result<Vec<u8>, TempFail> {
        Lookups::txt(self, name)
    }
    fn a(&mut self, name: &[u8]) -> Result<Vec<Ipv4Addr>, TempFail> {
        Lookups::a(self, name)
    }
}

/// An A answer of a modern DNSBL that means "listed": 127.0.0.0/8, but
/// not the 127.255.255.x codes lists use for "query refused".
fn is_listing(ip: &Ipv4Addr) -> bool {
    let o = ip.octets();
    o[0] == 127 && !(o[1] == 255 && o[2] == 255)
}

/// `%IP%` in `template` replaced by `ip`.
fn fill(template: &[u8], ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len() + ip.len());
    let mut i = 0;
    while i < template.len() {
        if template[i..].starts_with(b"%IP%") {
            out.extend_from_slice(ip);
            i += 4;
        } else {
            out.push(template[i]);
            i += 1;
        }
    }
    out
}

pub fn run(opts: &Options, ip: &[u8], env: Option<&[u8]>, dns: &mut dyn Dns) -> Decision {
    let mut state = State::Undecided;
    let mut text = Vec::new();
    let (mut bounce, mut fail_closed, mut must_not_bounce) = (false, false, false);
    match env {
        Some([]) => state = State::Accept,
        Some([b'-', rest @ ..]) => {
            text = rest.to_vec();
            state = State::Bounce;
        }
        Some(t) => {
            text = t.to_vec();
            state = State::Reject;
        }
        None => {}
    }
    for step in &opts.steps {
        match step {
            Step::Bounce(b) => bounce = *b,
            Step::FailClosed(c) => fail_closed = *c,
            Step::Timeout(_) => {}
            Step::Rbl(_) | Step::AntiRbl(_) if state != State::Undecided => {}
            Step::Rbl(base) => {
                let found = match base.iter().position(|&b| b == b':') {
                    None => dns.txt(&listed_name(ip, base)),
                    Some(i) => {
                        let name = listed_name(ip, &base[..i]);
                        dns.a(&name).map(|ips| {
                            if !ips.iter().any(is_listing) {
                                return Vec::new();
                            }
                            let t = fill(&base[i + 1..], ip);
                            if !t.is_empty() {
                                return t;
                            }
                            match dns.txt(&name) {
                                Ok(t) if !t.is_empty() => t,
                                _ => [&b"listed in "[..], &base[..i]].concat(),
                            }
                        })
                    }
                };
                match found {
                    Err(TempFail) => {
                        must_not_bounce = true;
                        if fail_closed {
                            text = b"temporary RBL lookup error".to_vec();
                            state = State::Reject;
                        }
                    }
                    Ok(t) if !t.is_empty() => {
                        text = t;
                        state = if bounce { State::Bounce } else { State::Reject };
                    }
                    Ok(_) => {}
                }
            }
            Step::AntiRbl(base) => match dns.a(&listed_name(ip, base)) {
                Err(TempFail) => {
                    must_not_bounce = true;
                    if !fail_closed {
                        state = State::Accept;
                    }
                }
                Ok(ips) if !ips.is_empty() => state = State::Accept,
                Ok(_) => {}
            },
        }
    }
    match state {
        State::Reject | State::Bounce => Decision::Block {
            code: if must_not_bounce || state == State::Reject {
                451
            } else {
                553
            },
            text,
        },
        _ => Decision::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Table(Vec<(&'static str, Result<Vec<u8>, TempFail>)>, Vec<String>);

    impl Dns for Table {
        fn txt(&mut self, name: &[u8]) -> Result<Vec<u8>, TempFail> {
            let n = format!("TXT {}", String::from_utf8_lossy(name));
            self.1.push(n.clone());
            self.0
                .iter()
                .find(|(k, _)| *k == n)
                .map_or(Ok(Vec::new()), |(_, v)| v.clone())
        }
        fn a(&mut self, name: &[u8]) -> Result<Vec<Ipv4Addr>, TempFail> {
            let n = format!("A {}", String::from_utf8_lossy(name));
            self.1.push(n.clone());
            let r = self
                .0
                .iter()
                .find(|(k, _)| *k == n)
                .map_or(Ok(Vec::new()), |(_, v)| v.clone());
            r.map(|b| {
                b.chunks(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                    .collect()
            })
        }
    }

    fn decide(args: &[&str], env: Option<&str>) -> (Decision, Vec<String>) {
        let mut t = Table(
            vec![
                ("TXT 4.3.2.1.rbl", Ok(b"listed".to_vec())),
                ("TXT 4.3.2.1.down", Err(TempFail)),
                ("A 4.3.2.1.good", Ok(vec![127, 0, 0, 2])),
                ("A 4.3.2.1.zen", Ok(vec![127, 0, 0, 4])),
                ("A 4.3.2.1.refused", Ok(vec![127, 255, 255, 254])),
            ],
            Vec::new(),
        );
        let mut a: Vec<OsString> = args.iter().map(OsString::from).collect();
        a.push("smtpd".into());
        let o = parse(a).unwrap();
        (run(&o, b"1.2.3.4", env.map(str::as_bytes), &mut t), t.1)
    }

    fn block(code: u16, text: &str) -> Decision {
        Decision::Block {
            code,
            text: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn options_apply_in_order() {
        assert_eq!(decide(&["-r", "rbl"], None).0, block(451, "listed"));
        assert_eq!(decide(&["-b", "-r", "rbl"], None).0, block(553, "listed"));
        assert_eq!(decide(&["-r", "rbl", "-b"], None).0, block(451, "listed"));
        let (d, asked) = decide(&["-a", "good", "-r", "rbl"], None);
        assert_eq!(
            (d, asked),
            (Decision::Pass, vec!["A 4.3.2.1.good".to_string()])
        );
        // A failed lookup: open, but a later hit is 451 even with -b.
        assert_eq!(decide(&["-r", "down"], None).0, Decision::Pass);
        assert_eq!(
            decide(&["-b", "-r", "down", "-r", "rbl"], None).0,
            block(451, "listed")
        );
        assert_eq!(
            decide(&["-c", "-r", "down", "-r", "rbl"], None).0,
            block(451, "temporary RBL lookup error")
        );
    }

    #[test]
    fn the_variable_comes_first() {
        let (d, asked) = decide(&["-r", "rbl"], Some(""));
        assert_eq!((d, asked.len()), (Decision::Pass, 0));
        assert_eq!(decide(&["-r", "rbl"], Some("-go")).0, block(553, "go"));
        assert_eq!(decide(&[], Some("wait")).0, block(451, "wait"));
        assert_eq!(decide(&[], None).0, Decision::Pass);
    }

    #[test]
    fn a_record_lists() {
        assert_eq!(
            decide(&["-r", "zen:see %IP%!"], None).0,
            block(451, "see 1.2.3.4!")
        );
        assert_eq!(decide(&["-r", "zen:"], None).0, block(451, "listed in zen"));
        assert_eq!(decide(&["-r", "refused:x"], None).0, Decision::Pass);
        assert_eq!(decide(&["-r", "none:x"], None).0, Decision::Pass);
    }

    #[test]
    fn getopt_complaints() {
        let e = parse(vec!["-x".into()]).unwrap_err();
        assert_eq!(e, b"rblsmtpd: illegal option -- x\n");
        let e = parse(vec!["-r".into()]).unwrap_err();
        assert_eq!(e, b"rblsmtpd: option requires an argument -- r\n");
    }
}
