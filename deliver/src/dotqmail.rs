//! `.qmail` files (dot-qmail.5), without any I/O: which files to try for
//! an address extension, and what each line of the chosen file means.

/// The extension as it may appear in a file name: lowercased, with every
/// `.` turned into `:` so that an address cannot name `../` files.
pub fn safe_ext(ext: &[u8]) -> Vec<u8> {
    ext.iter()
        .map(|&b| match b.to_ascii_lowercase() {
            b'.' => b':',
            c => c,
        })
        .collect()
}

/// One file name to try, and the `DEFAULT` it sets when it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `.qmail-...`, relative to the home directory.
    pub name: Vec<u8>,
    /// The part of the (original-case) extension matched by `default`.
    pub default: Option<Vec<u8>>,
}

/// The files qmail-local tries, in order, for `dash` and `ext`: the exact
/// `.qmail<dash><ext>`, then `-default` files from the longest prefix
/// down. For ext `a-b-c`: `.qmail-a-b-c`, `.qmail-a-b-default`,
/// `.qmail-a-default`, `.qmail-default`. For the bare user (no dash, no
/// ext), `.qmail` then `.qmaildefault`, as in qmail.
pub fn candidates(dash: &[u8], ext: &[u8]) -> Vec<Candidate> {
    let safe = safe_ext(ext);
    let mut out = Vec::new();
    let name = |prefix: &[u8], tail: &[u8]| {
        let mut n = b".qmail".to_vec();
        n.extend_from_slice(dash);
        n.extend_from_slice(prefix);
        n.extend_from_slice(tail);
        n
    };
    // The exact file; if the extension itself ends in "default", it
    // still sets DEFAULT (qmail does this too).
    let default = safe
        .len()
        .checked_sub(7)
        .filter(|&i| &safe[i..] == b"default")
        .map(|i| ext[i..].to_vec());
    out.push(Candidate {
        name: name(&safe, b""),
        default,
    });
    for i in (0..=safe.len()).rev() {
        if i == 0 || safe[i - 1] == b'-' {
            out.push(Candidate {
                name: name(&safe[..i], b"default"),
                default: Some(ext[i..].to_vec()),
            });
        }
    }
    out
}

/// What one line of a `.qmail` file asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `./Maildir/` or `/path/Maildir/`: a line starting with `.` or `/`
    /// and ending with `/`.
    Maildir(Vec<u8>),
    /// Any other line starting with `.` or `/`: an mbox file.
    Mbox(Vec<u8>),
    /// `|command`: run by `/bin/sh -c` with the message on stdin.
    Program(Vec<u8>),
    /// `&address` or a bare `address`: forward a copy.
    Forward(Vec<u8>),
}

/// Why a `.qmail` file cannot be used. `temporary` errors are qmail's
/// (exit 111: the user is probably editing the file); the others are
/// lines that can never work (exit 100, bounced with this text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub temporary: bool,
    pub text: String,
}

impl LineError {
    fn temp(text: &str) -> LineError {
        LineError {
            temporary: true,
            text: text.to_string(),
        }
    }

    fn perm(lineno: usize, why: &str) -> LineError {
        LineError {
            temporary: false,
            text: format!(".qmail line {lineno} is malformed: {why}. (#5.2.0)"),
        }
    }
}

/// Why an address on a forward line can never be delivered: qmail would
/// hand it to qmail-queue as is, and the copy would go nowhere useful.
fn bad_forward(addr: &[u8]) -> Option<&'static str> {
    if addr.is_empty() {
        return Some("empty forward address");
    }
    if addr.iter().any(|&b| b == b' ' || b == b'\t') {
        return Some("forward address contains a space");
    }
    if addr.iter().any(|&b| b < 32 || b == 127) {
        return Some("forward address contains a control character");
    }
    if addr.iter().any(|&b| b == b'<' || b == b'>') {
        return Some("forward address must not be in angle brackets");
    }
    None
}

/// The instructions of a `.qmail` file, in order.
///
/// `forward_only` is the file's owner-execute bit: file and program lines
/// are then refused (a `+list` line turns it on for the lines after it).
/// Trailing spaces and tabs are ignored; `#` lines are comments; a blank
/// line is allowed except as the first line.
///
/// The whole file is checked before anything is delivered: qmail stops at
/// the bad line after delivering the lines before it, so every retry
/// delivered those again; here a bad file delivers nothing.
pub fn parse(text: &[u8], mut forward_only: bool) -> Result<Vec<Instruction>, LineError> {
    let mut out = Vec::new();
    let mut text = text;
    if text.last() == Some(&b'\n') {
        text = &text[..text.len() - 1];
    }
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        let lineno = n + 1;
        let mut line = raw;
        while let [rest @ .., b' ' | b'\t'] = line {
            line = rest;
        }
        if line.contains(&0) {
            return Err(LineError::perm(lineno, "it contains a NUL byte"));
        }
        match line.first() {
            None => {
                if n == 0 {
                    return Err(LineError::temp(
                        "Uh-oh: first line of .qmail file is blank. (#4.2.1)",
                    ));
                }
            }
            Some(b'#') => {}
            Some(b'.' | b'/') => {
                if forward_only {
                    return Err(LineError::temp(
                        "Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)",
                    ));
                }
                if line.last() == Some(&b'/') {
                    out.push(Instruction::Maildir(line.to_vec()));
                } else {
                    out.push(Instruction::Mbox(line.to_vec()));
                }
            }
            Some(b'|') => {
                if forward_only {
                    return Err(LineError::temp(
                        "Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)",
                    ));
                }
                out.push(Instruction::Program(line[1..].to_vec()));
            }
            Some(b'+') => {
                // qmail's undocumented "+list"; other + lines are ignored
                // as in qmail.
                if &line[1..] == b"list" {
                    forward_only = true;
                }
            }
            Some(&first) => {
                let addr = if first == b'&' { &line[1..] } else { line };
                if let Some(why) = bad_forward(addr) {
                    return Err(LineError::perm(lineno, why));
                }
                out.push(Instruction::Forward(addr.to_vec()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dash: &str, ext: &str) -> Vec<String> {
        candidates(dash.as_bytes(), ext.as_bytes())
            .into_iter()
            .map(|c| String::from_utf8(c.name).unwrap())
            .collect()
    }

    #[test]
    fn the_default_cascade() {
        assert_eq!(names("", ""), [".qmail", ".qmaildefault"]);
        assert_eq!(names("-", ""), [".qmail-", ".qmail-default"]);
        assert_eq!(names("-", "a"), [".qmail-a", ".qmail-default"]);
        assert_eq!(
            names("-", "a-"),
            [".qmail-a-", ".qmail-a-default", ".qmail-default"]
        );
        assert_eq!(
            names("-", "a-b-c"),
            [
                ".qmail-a-b-c",
                ".qmail-a-b-default",
                ".qmail-a-default",
                ".qmail-default"
            ]
        );
    }

    #[test]
    fn extensions_are_lowercased_and_dots_become_colons() {
        assert_eq!(names("-", "Foo.Bar"), [".qmail-foo:bar", ".qmail-default"]);
        assert_eq!(names("-", "../x")[0], ".qmail-::/x");
    }

    #[test]
    fn default_holds_the_matched_part_in_its_case() {
        let c = candidates(b"-", b"List-Joe.Smith");
        assert_eq!(c[0].default, None);
        assert_eq!(c[1].name, b".qmail-list-default");
        assert_eq!(c[1].default.as_deref(), Some(&b"Joe.Smith"[..]));
        assert_eq!(c[2].default.as_deref(), Some(&b"List-Joe.Smith"[..]));
        let c = candidates(b"-", b"x-default");
        assert_eq!(c[0].default.as_deref(), Some(&b"default"[..]));
    }

    #[test]
    fn every_line_type() {
        let got = parse(
            b"# comment\n./Maildir/\n/var/mail/joe \t\n./Mailbox\n|preline procmail\n&joe@x\nfred\n\n",
            false,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                Instruction::Maildir(b"./Maildir/".to_vec()),
                Instruction::Mbox(b"/var/mail/joe".to_vec()),
                Instruction::Mbox(b"./Mailbox".to_vec()),
                Instruction::Program(b"preline procmail".to_vec()),
                Instruction::Forward(b"joe@x".to_vec()),
                Instruction::Forward(b"fred".to_vec()),
            ]
        );
        assert_eq!(parse(b"./Mailbox", false).unwrap().len(), 1);
    }

    #[test]
    fn qmails_temporary_errors() {
        let e = parse(b"\n./Mailbox\n", false).unwrap_err();
        assert!(e.temporary);
        assert_eq!(
            e.text,
            "Uh-oh: first line of .qmail file is blank. (#4.2.1)"
        );
        let e = parse(b"&a@b\n./Mailbox\n", true).unwrap_err();
        assert!(e.temporary);
        assert!(e.text.contains("file delivery but has x bit set"));
        let e = parse(b"|true\n", true).unwrap_err();
        assert!(e.text.contains("prog delivery"));
        assert!(parse(b"&a@b\nc@d\n", true).is_ok());
        let e = parse(b"./Mailbox\n+list\n|x\n", false).unwrap_err();
        assert!(e.text.contains("prog delivery"));
        assert!(parse(b"+other\n./Mailbox\n", false).is_ok());
    }

    #[test]
    fn malformed_forwards_are_permanent() {
        for bad in [
            &b"&\n"[..],
            b"& joe\n",
            b"joe smith\n",
            b"<joe@x>\n",
            b"a\rb\n",
            b"x\0y\n",
        ] {
            let e = parse(bad, false).unwrap_err();
            assert!(!e.temporary, "{bad:?}");
            assert!(
                e.text.starts_with(".qmail line 1 is malformed"),
                "{}",
                e.text
            );
        }
        let e = parse(b"# ok\njoe smith\n", false).unwrap_err();
        assert!(e.text.starts_with(".qmail line 2"));
    }

    proptest::proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            fo in proptest::bool::ANY,
        ) {
            let _ = parse(&bytes, fo);
            let _ = candidates(&bytes, &bytes);
        }

        #[test]
        fn candidates_never_escape_the_home(ext in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            for c in candidates(b"-", &ext) {
                proptest::prop_assert!(!c.name.contains(&b'.') || c.name.starts_with(b".qmail"));
                proptest::prop_assert_eq!(c.name.iter().filter(|&&b| b == b'.').count(), 1);
            }
        }
    }
}
