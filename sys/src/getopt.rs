//! djb's `getopt` (qmail's and ucspi-tcp's `sgetopt.c`), for the programs
//! whose command line is djb's: tcpserver, tcp-env, qmail-local, preline,
//! qmail-inject, sendmail. It lives in `sys`, the leaf every side uses, so
//! the ucspi side needs nothing of the mail side for it.
//!
//! POSIX rules: options come before the operands; `-xyz` bundles flags;
//! an option that takes an argument uses the rest of its word or the next
//! word; `--` ends the options; a lone `-` is an operand. When a flag is
//! given twice (or `-n` then `-N`) the caller sees both and the last wins.
//! Arguments are bytes, not UTF-8: addresses need not be.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// One option from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt {
    /// A flag, or an option with its argument.
    Found(u8, Option<Vec<u8>>),
    /// A letter not in the spec, or an option missing its argument.
    Bad(u8),
}

/// Walks the options of `args` (without the program name) by `spec`, in
/// getopt's syntax: `"nNf:"` means flags `n` and `N` and `f` with an
/// argument.
#[derive(Debug)]
pub struct Getopt {
    args: Vec<Vec<u8>>,
    spec: &'static [u8],
    /// Index of the word being read.
    ind: usize,
    /// Position in that word (0: at the start of a new word).
    pos: usize,
}

impl Getopt {
    /// Options of `args`, which exclude the program name.
    pub fn new(args: impl IntoIterator<Item = OsString>, spec: &'static str) -> Getopt {
        Getopt {
            args: args.into_iter().map(OsStringExt::into_vec).collect(),
            spec: spec.as_bytes(),
            ind: 0,
            pos: 0,
        }
    }

    /// Skip what is left of the current word (sendmail's `-E` and `-J`,
    /// whose argument is optional and glued on).
    pub fn skip_rest_of_word(&mut self) {
        if self.pos > 0 {
            self.ind += 1;
            self.pos = 0;
        }
    }

    /// The operands after the options; call when `next` returned `None`.
    pub fn operands(self) -> Vec<Vec<u8>> {
        self.args.into_iter().skip(self.ind).collect()
    }

    /// What djb's getopt prints (after `program: `) for [`Opt::Bad`]`(c)`:
    /// `illegal option -- c`, or `option requires an argument -- c` for a
    /// letter of the spec left without its argument.
    pub fn complaint(&self, c: u8) -> String {
        match self.takes_arg(c) {
            Some(true) => format!("option requires an argument -- {}", c as char),
            _ => format!("illegal option -- {}", c as char),
        }
    }

    fn takes_arg(&self, c: u8) -> Option<bool> {
        let i = self.spec.iter().position(|&s| s == c && s != b':')?;
        Some(self.spec.get(i + 1) == Some(&b':'))
    }
}

impl Iterator for Getopt {
    type Item = Opt;

    fn next(&mut self) -> Option<Opt> {
        if self.pos == 0 {
            let word = self.args.get(self.ind)?;
            if word.len() < 2 || word[0] != b'-' {
                return None;
            }
            if word == b"--" {
                self.ind += 1;
                return None;
            }
            self.pos = 1;
        }
        let word = &self.args[self.ind];
        let c = word[self.pos];
        self.pos += 1;
        let at_end = self.pos >= word.len();
        match self.takes_arg(c) {
            None => {
                if at_end {
                    self.ind += 1;
                    self.pos = 0;
                }
                Some(Opt::Bad(c))
            }
            Some(false) => {
                if at_end {
                    self.ind += 1;
                    self.pos = 0;
                }
                Some(Opt::Found(c, None))
            }
            Some(true) => {
                let arg = if !at_end {
                    let a = word[self.pos..].to_vec();
                    self.ind += 1;
                    a
                } else {
                    match self.args.get(self.ind + 1) {
                        Some(a) => {
                            let a = a.clone();
                            self.ind += 2;
                            a
                        }
                        None => {
                            self.ind += 1;
                            self.pos = 0;
                            return Some(Opt::Bad(c));
                        }
                    }
                };
                self.pos = 0;
                Some(Opt::Found(c, Some(arg)))
            }
        }
    }
}

/// The program's name as qmail sees it: the last path component of
/// argv[0] (sendmail acts as `mailq` or `newaliases` by that name).
pub fn progname(argv0: &std::ffi::OsStr) -> Vec<u8> {
    let b = argv0.as_bytes();
    match b.iter().rposition(|&c| c == b'/') {
        Some(i) => b[i + 1..].to_vec(),
        None => b.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], spec: &'static str) -> (Vec<Opt>, Vec<Vec<u8>>) {
        let mut g = Getopt::new(args.iter().map(OsString::from), spec);
        let opts: Vec<Opt> = g.by_ref().collect();
        (opts, g.operands())
    }

    #[test]
    fn bundles_arguments_and_operands() {
        let (o, rest) = run(&["-nN", "-fjoe@x", "-f", "y", "a", "-n"], "nNf:");
        assert_eq!(
            o,
            vec![
                Opt::Found(b'n', None),
                Opt::Found(b'N', None),
                Opt::Found(b'f', Some(b"joe@x".to_vec())),
                Opt::Found(b'f', Some(b"y".to_vec())),
            ]
        );
        assert_eq!(rest, vec![b"a".to_vec(), b"-n".to_vec()]);
    }

    #[test]
    fn double_dash_and_lone_dash_end_options() {
        let (o, rest) = run(&["-n", "--", "-x"], "n");
        assert_eq!(o, vec![Opt::Found(b'n', None)]);
        assert_eq!(rest, vec![b"-x".to_vec()]);
        let (o, rest) = run(&["-", "x"], "n");
        assert!(o.is_empty());
        assert_eq!(rest.len(), 2);
        let (_, rest) = run(&["--", "", "", "x"], "n");
        assert_eq!(rest, vec![b"".to_vec(), b"".to_vec(), b"x".to_vec()]);
    }

    #[test]
    fn unknown_letters_and_missing_arguments_are_bad() {
        let (o, _) = run(&["-q"], "n");
        assert_eq!(o, vec![Opt::Bad(b'q')]);
        let (o, _) = run(&["-f"], "f:");
        assert_eq!(o, vec![Opt::Bad(b'f')]);
        let (o, _) = run(&["-:"], "f:");
        assert_eq!(o, vec![Opt::Bad(b':')]);
        let g = Getopt::new(Vec::<OsString>::new(), "nf:");
        assert_eq!(g.complaint(b'q'), "illegal option -- q");
        assert_eq!(g.complaint(b'f'), "option requires an argument -- f");
        assert_eq!(g.complaint(b'n'), "illegal option -- n");
        assert_eq!(g.complaint(b':'), "illegal option -- :");
    }

    #[test]
    fn skipping_the_rest_of_a_word() {
        let mut g = Getopt::new(["-Exyz", "-t", "a"].map(OsString::from), "Et");
        assert_eq!(g.next(), Some(Opt::Found(b'E', None)));
        g.skip_rest_of_word();
        assert_eq!(g.next(), Some(Opt::Found(b't', None)));
        assert_eq!(g.next(), None);
        assert_eq!(g.operands(), vec![b"a".to_vec()]);
        assert_eq!(progname(std::ffi::OsStr::new("/usr/sbin/mailq")), b"mailq");
    }
}
