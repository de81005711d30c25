//! The `sendmail` wrapper (qmail's `sendmail.c`): sendmail's command line
//! turned into a qmail-inject, qmail-smtpd or qmail-qread run. No I/O
//! here: [`plan`] says what to run, the binary runs it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use sys::getopt::{Getopt, Opt};

/// The usage line, printed with exit 100.
pub const USAGE: &str =
    "sendmail: usage: sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]";

/// What to run, in the qmail home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// `bin/qmail-inject` with these arguments; first remove `unset`
    /// from the environment, then set `set`.
    Inject {
        args: Vec<Vec<u8>>,
        unset: Vec<&'static str>,
        set: Vec<(&'static str, Vec<u8>)>,
    },
    /// `-bs`: `bin/qmail-smtpd` on stdin and stdout, with `set` added.
    Smtpd { set: Vec<(&'static str, Vec<u8>)> },
    /// `-bp` or the name `mailq`: `bin/qmail-qread`.
    Mailq,
    /// The name `newaliases`: refused.
    Newaliases,
    /// Bad options.
    Usage,
}

/// What `-bs` sets when the caller is not already an SMTP server
/// (`PROTO` unset): a trusted local client that may relay.
fn smtpd_env(proto_set: bool) -> Vec<(&'static str, Vec<u8>)> {
    if proto_set {
        return Vec::new();
    }
    [
        ("RELAYCLIENT", ""),
        ("DATABYTES", "0"),
        ("PROTO", "TCP"),
        ("TCPLOCALIP", "127.0.0.1"),
        ("TCPLOCALHOST", "localhost"),
        ("TCPREMOTEIP", "127.0.0.1"),
        ("TCPREMOTEHOST", "localhost"),
        ("TCPREMOTEINFO", "sendmail-bs"),
    ]
    .iter()
    .map(|&(k, v)| (k, v.as_bytes().to_vec()))
    .collect()
}

/// Decide what `sendmail` invoked as `progname` with `args` (after the
/// program name) does. `proto_set`: `PROTO` is in the environment.
pub fn plan(progname: &[u8], args: Vec<OsString>, proto_set: bool) -> Plan {
    let mut headers = false;
    let mut sender: Option<Vec<u8>> = None;
    let mut name: Option<Vec<u8>> = None;
    let mut g = Getopt::new(args, "vimte:f:p:o:B:F:EJxb:");
    while let Some(opt) = g.next() {
        match opt {
            Opt::Found(b't', _) => headers = true,
            Opt::Found(b'f', a) => sender = a,
            Opt::Found(b'F', a) => name = a,
            // Sony NEWS-OS: an optional argument glued on.
            Opt::Found(b'E' | b'J', _) => g.skip_rest_of_word(),
            Opt::Found(b'b', Some(a)) => match a.first() {
                Some(b'm') => {}
                Some(b'p') => return Plan::Mailq,
                Some(b's') => {
                    return Plan::Smtpd {
                        set: smtpd_env(proto_set),
                    };
                }
                _ => return Plan::Usage,
            },
            // -v -i -m -x, -e? -o? -p? -B?: qmail has one mode for each.
            Opt::Found(_, _) => {}
            Opt::Bad(_) => return Plan::Usage,
        }
    }
    let rest = g.operands();
    if progname == b"mailq" {
        return Plan::Mailq;
    }
    if progname == b"newaliases" {
        return Plan::Newaliases;
    }
    let mut qargs = vec![if headers {
        b"-H".to_vec()
    } else {
        b"-a".to_vec()
    }];
    let mut unset = Vec::new();
    let mut set = Vec::new();
    if let Some(s) = sender {
        qargs.push(b"-f".to_vec());
        qargs.push(s.clone());
        // The From: follows the envelope sender.
        unset = vec!["QMAILNAME", "MAILNAME", "NAME", "QMAILHOST", "MAILHOST"];
        match s.iter().rposition(|&b| b == b'@') {
            None => set.push(("QMAILUSER", s)),
            Some(at) => {
                set.push(("QMAILHOST", s[at + 1..].to_vec()));
                set.push(("QMAILUSER", s[..at].to_vec()));
            }
        }
    }
    // qmail drops -F when -f is given too; keeping the name is what the
    // caller asked for.
    if let Some(n) = name {
        set.push(("MAILNAME", n));
    }
    qargs.push(b"--".to_vec());
    qargs.extend(rest);
    Plan::Inject {
        args: qargs,
        unset,
        set,
    }
}

/// `plan` for the process's own command line.
pub fn plan_from_env() -> Plan {
    let mut argv = std::env::args_os();
    let progname = argv
        .next()
        .map(|a| sys::getopt::progname(&a))
        .unwrap_or_default();
    plan(
        &progname,
        argv.collect(),
        std::env::var_os("PROTO").is_some(),
    )
}

/// Bytes to an OS string.
pub fn os(b: &[u8]) -> OsString {
    OsString::from_vec(b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, args: &[&str]) -> Plan {
        plan(
            name.as_bytes(),
            args.iter().map(OsString::from).collect(),
            false,
        )
    }

    fn inject_args(pl: Plan) -> Vec<String> {
        match pl {
            Plan::Inject { args, .. } => args
                .into_iter()
                .map(|a| String::from_utf8(a).unwrap())
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn default_and_t() {
        assert_eq!(inject_args(p("sendmail", &["joe"])), ["-a", "--", "joe"]);
        assert_eq!(inject_args(p("sendmail", &["-t"])), ["-H", "--"]);
        assert_eq!(
            inject_args(p("sendmail", &["-oi", "-t", "-i", "-odb", "-v", "x"])),
            ["-H", "--", "x"]
        );
    }

    #[test]
    fn f_sets_the_from_user_and_host() {
        let pl = p(
            "sendmail",
            &["-F", "Joe Q", "-fjoe@x.org", "-Ex", "-J", "a"],
        );
        match pl {
            Plan::Inject { args, unset, set } => {
                assert_eq!(
                    args[..3],
                    [b"-a".to_vec(), b"-f".to_vec(), b"joe@x.org".to_vec()]
                );
                assert_eq!(args[4], b"a");
                assert!(unset.contains(&"MAILNAME"));
                assert!(set.contains(&("QMAILHOST", b"x.org".to_vec())));
                assert!(set.contains(&("QMAILUSER", b"joe".to_vec())));
                assert_eq!(set.last().unwrap(), &("MAILNAME", b"Joe Q".to_vec()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn modes_and_names() {
        assert_eq!(p("sendmail", &["-bp"]), Plan::Mailq);
        assert_eq!(p("mailq", &[]), Plan::Mailq);
        assert_eq!(p("newaliases", &[]), Plan::Newaliases);
        assert_eq!(p("sendmail", &["-bx"]), Plan::Usage);
        assert_eq!(p("sendmail", &["-q"]), Plan::Usage);
        assert!(matches!(p("sendmail", &["-bm", "x"]), Plan::Inject { .. }));
        match p("sendmail", &["-bs"]) {
            Plan::Smtpd { set } => assert!(set.contains(&("RELAYCLIENT", Vec::new()))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            plan(b"sendmail", vec![OsString::from("-bs")], true),
            Plan::Smtpd { set: vec![] }
        );
    }
}
