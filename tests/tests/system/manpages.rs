//! Every page reference in man/ (`.BR name (n)`, `name(n)`,
//! `\fBname\fR(n)`) resolves: to a page of ours in man/, or to another
//! package's well-known page listed here.

use std::collections::BTreeSet;

/// Pages of other packages that our pages name.
const ELSEWHERE: &[&str] = &[
    "biff(1)",
    "clone(2)",
    "crypt(3)",
    "crypt(5)",
    "getspnam_r(3)",
    "groupadd(8)",
    "shadow(5)",
    "syslog(3)",
    "useradd(8)",
];

fn word_before(s: &str) -> Option<String> {
    let s = s
        .strip_suffix("\\fR")
        .or_else(|| s.strip_suffix("\\fP"))
        .unwrap_or(s);
    let start = s
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_ascii_alphanumeric() || "._+-".contains(c))
        .last()
        .map(|(i, _)| i)?;
    let mut w = &s[start..];
    // A font change (`\fB`) just before the name.
    if s[..start].ends_with('\\') && (w.starts_with("fB") || w.starts_with("fI")) {
        w = &w[2..];
    }
    let w = w.trim_start_matches(['.', '-']);
    (!w.is_empty() && w.starts_with(|c: char| c.is_ascii_alphabetic())).then(|| w.to_string())
}

/// The references in one page's text.
fn references(text: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    for line in text.lines() {
        // `.BR name (8)` and friends: the section is the next argument.
        let mut args = line.split_whitespace();
        if let Some(".BR" | ".IR" | ".RB" | ".B" | ".I") = args.next() {
            let args: Vec<&str> = args.collect();
            for pair in args.windows(2) {
                let sec = pair[1].as_bytes();
                if sec.len() >= 3
                    && sec[0] == b'('
                    && sec[1].is_ascii_digit()
                    && sec[2] == b')'
                    && let Some(w) = word_before(pair[0].trim_matches('"'))
                {
                    refs.insert(format!("{w}({})", sec[1] as char));
                }
            }
        }
        // `name(8)` anywhere.
        let b = line.as_bytes();
        for i in 1..b.len().saturating_sub(2) {
            if b[i] == b'('
                && b[i + 1].is_ascii_digit()
                && b[i + 2] == b')'
                && let Some(w) = word_before(&line[..i])
            {
                refs.insert(format!("{w}({})", b[i + 1] as char));
            }
        }
    }
    refs
}

#[test]
fn the_scanner_finds_each_form() {
    let r = references(".BR qmail-local (8),\nsee \\fBtcpserver\\fR(1) and dot-qmail(5).\n.B x\n");
    assert_eq!(
        r.into_iter().collect::<Vec<_>>(),
        ["dot-qmail(5)", "qmail-local(8)", "tcpserver(1)"]
    );
}

#[test]
fn every_see_also_reference_resolves() {
    let dir = e2e::workspace().join("man");
    let pages: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut missing = Vec::new();
    let mut count = 0;
    for page in &pages {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        for r in references(&text) {
            count += 1;
            let (name, sec) = r.trim_end_matches(')').split_once('(').unwrap();
            let ours = pages.contains(&format!("{name}.{sec}"));
            if !ours && !ELSEWHERE.contains(&r.as_str()) {
                missing.push(format!("{page}: {r}"));
            }
        }
    }
    assert!(
        count > 200,
        "only {count} references found: the scanner is broken"
    );
    assert!(
        missing.is_empty(),
        "references to pages that do not exist:\n{}",
        missing.join("\n")
    );
    // The pages issue 16 asked for.
    for p in [
        "qmail-control.5",
        "tcp-environ.5",
        "qmail-command.8",
        "cdb.5",
        "qmail-limits.7",
    ] {
        assert!(pages.contains(p), "no man/{p}");
    }
}
