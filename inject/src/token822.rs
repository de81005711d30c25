//! RFC 822 tokens, as qmail-inject reads and writes address fields
//! (qmail's `token822.c`). No I/O.
//!
//! - [`parse`] splits a header field into atoms, quoted strings, domain
//!   literals, comments and specials; unbalanced quotes, comments or
//!   literals, or a stray `)` or `]`, make it unparsable.
//! - [`addr_list`] walks an address-list field from right to left, hands
//!   each address to a rewriting function (in reversed token order, as
//!   qmail does) and puts commas between addresses written without one
//!   (`djb fred` becomes `djb, fred`).
//! - [`unparse`] writes tokens back, folding after commas at 80 columns;
//!   [`unquote`] gives an address's raw bytes for the envelope.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Atom,
    Quote,
    Literal,
    Comment,
    Comma,
    At,
    Dot,
    Left,
    Right,
    Semi,
    Colon,
}

/// The specials and their bytes: [`parse`] reads them, [`unparse`] and
/// [`unquote`] write them.
const SPECIALS: [(u8, Kind); 7] = [
    (b'.', Kind::Dot),
    (b',', Kind::Comma),
    (b'@', Kind::At),
    (b'<', Kind::Left),
    (b'>', Kind::Right),
    (b':', Kind::Colon),
    (b';', Kind::Semi),
];

impl Kind {
    /// The special written as byte `b`, if `b` is one.
    fn special(b: u8) -> Option<Kind> {
        SPECIALS.iter().find(|&&(c, _)| c == b).map(|&(_, k)| k)
    }

    /// The byte of a special; `None` for atoms, quoted strings, literals
    /// and comments, which have text.
    fn byte(self) -> Option<u8> {
        SPECIALS.iter().find(|&&(_, k)| k == self).map(|&(c, _)| c)
    }
}

/// One token; `text` is the unescaped content of atoms, quoted strings,
/// literals and comments, and empty for specials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub text: Vec<u8>,
}

impl Token {
    pub fn new(kind: Kind, text: &[u8]) -> Token {
        Token {
            kind,
            text: text.to_vec(),
        }
    }

    pub fn special(kind: Kind) -> Token {
        Token {
            kind,
            text: Vec::new(),
        }
    }
}

fn atom_ok(b: u8) -> bool {
    !matches!(
        b,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b'('
            | b'['
            | b'"'
            | b'<'
            | b'>'
            | b';'
            | b':'
            | b'@'
            | b','
            | b'.'
    )
}

/// Read a bracketed token (comment, quoted string or literal) starting
/// after its opening byte at `*i`; `None` if it never closes.
fn bracketed(s: &[u8], i: &mut usize, close: u8, nests: bool) -> Option<Vec<u8>> {
    let mut text = Vec::new();
    let mut level = 1;
    loop {
        *i += 1;
        let &c = s.get(*i)?;
        match c {
            b'(' if nests => level += 1,
            b')' if nests => {
                level -= 1;
                if level == 0 {
                    return Some(text);
                }
            }
            c if c == close && !nests => return Some(text),
            b'\\' => {
                *i += 1;
                text.push(*s.get(*i)?);
            }
            c => text.push(c),
        }
    }
}

/// Split `s` into tokens; `None` if it is not lexically valid.
pub fn parse(s: &[u8]) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if let Some(kind) = Kind::special(s[i]) {
            out.push(Token::special(kind));
            i += 1;
            continue;
        }
        match s[i] {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b')' | b']' => return None,
            b'(' => {
                let text = bracketed(s, &mut i, b')', true)?;
                out.push(Token {
                    kind: Kind::Comment,
                    text,
                });
            }
            b'"' => {
                let text = bracketed(s, &mut i, b'"', false)?;
                out.push(Token {
                    kind: Kind::Quote,
                    text,
                });
            }
            b'[' => {
                let text = bracketed(s, &mut i, b']', false)?;
                out.push(Token {
                    kind: Kind::Literal,
                    text,
                });
            }
            _ => {
                let mut text = Vec::new();
                loop {
                    if s[i] == b'\\' {
                        i += 1;
                        if i >= s.len() {
                            break;
                        }
                    }
                    text.push(s[i]);
                    i += 1;
                    if i >= s.len() || !atom_ok(s[i]) {
                        break;
                    }
                }
                i -= 1;
                // An atom holding bytes an atom may not show is written
                // back as a quoted string.
                let bad = text
                    .iter()
                    .any(|&c| !(32..=126).contains(&c) || matches!(c, b')' | b']' | b'\\'));
                out.push(Token {
                    kind: if bad { Kind::Quote } else { Kind::Atom },
                    text,
                });
            }
        }
        i += 1;
    }
    Some(out)
}

fn is_word(k: Kind) -> bool {
    matches!(k, Kind::Atom | Kind::Literal | Kind::Quote | Kind::Comment)
}

fn need_space(last: Option<Kind>, next: Kind) -> bool {
    let Some(last) = last else {
        return false;
    };
    if matches!(last, Kind::Colon | Kind::Comma) || next == Kind::Left {
        return true;
    }
    is_word(last) && is_word(next)
}

/// Write `tokens` back as header text ending in a newline, folding after
/// commas so lines stay within `line_len` where possible (0: never fold).
pub fn unparse(tokens: &[Token], line_len: usize) -> Vec<u8> {
    let mut s: Vec<u8> = Vec::new();
    let mut line_start = 0usize;
    let mut fold: Option<usize> = None;
    // qmail's NSUW: put a candidate fold here; drop the previous one if
    // the line up to here still fits.
    let fold_here = |s: &mut Vec<u8>, fold: &mut Option<usize>, line_start: &mut usize| {
        let fits = line_len == 0 || s.len() - *line_start <= line_len;
        match *fold {
            Some(f) if fits => {
                s.drain(f..f + 2);
                s.extend_from_slice(b"\n ");
                *fold = Some(s.len() - 2);
            }
            _ => {
                if let Some(f) = *fold {
                    *line_start = f + 1;
                }
                *fold = Some(s.len());
                s.extend_from_slice(b"\n ");
            }
        }
    };
    let mut last = None;
    for t in tokens {
        if need_space(last, t.kind) {
            s.push(b' ');
        }
        last = Some(t.kind);
        if let Some(b) = t.kind.byte() {
            s.push(b);
            if t.kind == Kind::Comma {
                fold_here(&mut s, &mut fold, &mut line_start);
            }
            continue;
        }
        // An atom, quoted string, literal or comment.
        let (open, close) = match t.kind {
            Kind::Quote => (Some(b'"'), Some(b'"')),
            Kind::Literal => (Some(b'['), Some(b']')),
            Kind::Comment => (Some(b'('), Some(b')')),
            _ => (None, None),
        };
        s.extend(open);
        for &c in &t.text {
            if matches!(c, b'"' | b'[' | b']' | b'(' | b')' | b'\\' | b'\r' | b'\n') {
                s.push(b'\\');
            }
            s.push(c);
        }
        s.extend(close);
    }
    fold_here(&mut s, &mut fold, &mut line_start);
    s.pop();
    s
}

/// The raw bytes of `tokens` (comments dropped, quotes removed).
pub fn unquote(tokens: &[Token]) -> Vec<u8> {
    let mut s = Vec::new();
    for t in tokens {
        if let Some(b) = t.kind.byte() {
            s.push(b);
            continue;
        }
        match t.kind {
            Kind::Atom | Kind::Quote => s.extend_from_slice(&t.text),
            Kind::Literal => {
                s.push(b'[');
                s.extend_from_slice(&t.text);
                s.push(b']');
            }
            // Comments are dropped; specials were written above.
            _ => {}
        }
    }
    s
}

/// Rewrite every address of an address-list field. `field` holds the
/// whole field, its name and colon first (those two tokens are kept as
/// they are). `rewrite` gets each address with its tokens in reverse
/// order (rightmost first) and may change it. `None`: not an address list.
pub fn addr_list(field: &[Token], rewrite: &mut dyn FnMut(&mut Vec<Token>)) -> Option<Vec<Token>> {
    let mut out: Vec<Token> = Vec::new();
    let mut addr: Vec<Token> = Vec::new();
    let mut in_group = false;
    let mut word_ok = true;
    let beginning = 2isize;
    let mut t = field.len() as isize - 1;
    let tok = |t: isize| &field[t as usize];

    fn flush(
        rewrite: &mut dyn FnMut(&mut Vec<Token>),
        out: &mut Vec<Token>,
        addr: &mut Vec<Token>,
        comma: bool,
    ) {
        if !addr.is_empty() {
            rewrite(addr);
            out.append(addr);
            if comma {
                out.push(Token::special(Kind::Comma));
            }
        }
    }

    while t >= beginning {
        match tok(t).kind {
            Kind::Semi => {
                flush(rewrite, &mut out, &mut addr, true);
                if in_group {
                    return None;
                }
                in_group = true;
                word_ok = true;
            }
            Kind::Colon => {
                flush(rewrite, &mut out, &mut addr, false);
                if !in_group {
                    return None;
                }
                in_group = false;
                while t >= beginning && tok(t).kind != Kind::Comma {
                    out.push(tok(t).clone());
                    t -= 1;
                }
                if t >= beginning {
                    out.push(tok(t).clone());
                    t -= 1;
                }
                word_ok = true;
                continue;
            }
            Kind::Right => {
                flush(rewrite, &mut out, &mut addr, true);
                out.push(tok(t).clone());
                t -= 1;
                while t >= beginning && tok(t).kind != Kind::Left {
                    addr.push(tok(t).clone());
                    t -= 1;
                }
                // Even an empty address counts here: <>.
                rewrite(&mut addr);
                out.append(&mut addr);
                if t < beginning {
                    return None;
                }
                out.push(tok(t).clone());
                t -= 1;
                while t >= beginning
                    && matches!(
                        tok(t).kind,
                        Kind::Comment | Kind::Atom | Kind::Quote | Kind::At | Kind::Dot
                    )
                {
                    out.push(tok(t).clone());
                    t -= 1;
                }
                word_ok = false;
                continue;
            }
            Kind::Atom | Kind::Quote | Kind::Literal => {
                if !word_ok {
                    flush(rewrite, &mut out, &mut addr, true);
                }
                word_ok = false;
                addr.push(tok(t).clone());
                t -= 1;
                continue;
            }
            // A comment is lexically a space: it does not end a word.
            Kind::Comment => {}
            Kind::Comma => {
                flush(rewrite, &mut out, &mut addr, false);
                word_ok = true;
            }
            Kind::At | Kind::Dot | Kind::Left => {
                word_ok = true;
                addr.push(tok(t).clone());
                t -= 1;
                continue;
            }
        }
        out.push(tok(t).clone());
        t -= 1;
    }
    flush(rewrite, &mut out, &mut addr, false);
    let mut t = (t + 1) as usize;
    while t > 0 {
        t -= 1;
        out.push(field[t].clone());
    }
    out.reverse();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) -> String {
        let t = parse(s.as_bytes()).unwrap();
        String::from_utf8(unparse(&t, 80)).unwrap()
    }

    #[test]
    fn tokens_of_a_field() {
        let t = parse(b"To: \"Joe Q\" <joe@[1.2.3.4]> (x (y)), a.b").unwrap();
        let kinds: Vec<Kind> = t.iter().map(|t| t.kind).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [
                Atom, Colon, Quote, Left, Atom, At, Literal, Right, Comment, Comma, Atom, Dot, Atom
            ]
        );
        assert_eq!(t[2].text, b"Joe Q");
        assert_eq!(t[6].text, b"1.2.3.4");
        // Nested parentheses are dropped from the comment's text.
        assert_eq!(t[8].text, b"x y");
    }

    #[test]
    fn unbalanced_fields_do_not_parse() {
        for bad in [")a", "]a", "(x", "\"x", "[x", "\"x\\", "(x\\"] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(parse(b"").unwrap().is_empty());
        // Inside an atom a closing bracket is just a byte.
        assert_eq!(parse(b"a)").unwrap()[0].kind, Kind::Quote);
    }

    #[test]
    fn atoms_with_odd_bytes_become_quoted() {
        let t = parse(b"a\\)b \xe9").unwrap();
        assert_eq!(t[0].kind, Kind::Quote);
        assert_eq!(t[0].text, b"a)b");
        assert_eq!(t[1].kind, Kind::Quote);
        assert_eq!(unparse(&t, 80), b"\"a\\)b\" \"\xe9\"\n");
    }

    #[test]
    fn unquote_writes_every_special_and_drops_comments() {
        let t = parse(b"g: \"a b\".c@[1] (x), <d>;").unwrap();
        assert_eq!(unquote(&t), b"g:a b.c@[1],<d>;");
    }

    #[test]
    fn unparse_spacing() {
        assert_eq!(roundtrip("To:a@b"), "To: a@b\n");
        assert_eq!(roundtrip("To: Joe <a@b>"), "To: Joe <a@b>\n");
        assert_eq!(roundtrip("To: a@b (Joe)"), "To: a@b (Joe)\n");
        assert_eq!(roundtrip("To: a@b,c@d"), "To: a@b, c@d\n");
        assert_eq!(roundtrip("Cc: list: a@b, c@d;"), "Cc: list: a@b, c@d;\n");
    }

    #[test]
    fn long_lists_fold_after_commas() {
        let addrs: Vec<String> = (0..8).map(|i| format!("user{i}@example.com")).collect();
        let line = format!("To: {}", addrs.join(", "));
        let out = roundtrip(&line);
        for l in out.lines() {
            assert!(l.len() <= 80, "{l:?}");
        }
        assert!(out.contains(",\n  user"));
        assert_eq!(out.replace(",\n  ", ", "), format!("{line}\n"));
    }

    #[test]
    fn unquote_gives_raw_bytes() {
        let t = parse(b"\"a b\"@[1.2.3.4] (c)").unwrap();
        assert_eq!(unquote(&t), b"a b@[1.2.3.4]");
    }

    fn rewritten(field: &str) -> (String, Vec<String>) {
        let t = parse(field.as_bytes()).unwrap();
        let mut seen = Vec::new();
        let out = addr_list(&t, &mut |a: &mut Vec<Token>| {
            let mut fwd = a.clone();
            fwd.reverse();
            seen.push(String::from_utf8(unquote(&fwd)).unwrap());
            if !a.is_empty() && !a.iter().any(|t| t.kind == Kind::At) {
                a.insert(0, Token::new(Kind::Atom, b"host"));
                a.insert(1, Token::special(Kind::At));
            }
        })
        .unwrap();
        (String::from_utf8(unparse(&out, 80)).unwrap(), seen)
    }

    #[test]
    fn address_lists() {
        let (out, seen) = rewritten("To: djb fred");
        assert_eq!(out, "To: djb@host, fred@host\n");
        assert_eq!(seen, ["fred", "djb"]);
        let (out, seen) = rewritten("To: \"Joe\" <joe>, ann (Ann)");
        assert_eq!(out, "To: \"Joe\" <joe@host>, ann@host (Ann)\n");
        assert_eq!(seen, ["ann", "joe"]);
        let (out, seen) = rewritten("To: friends: a, b;, c");
        assert_eq!(out, "To: friends: a@host, b@host;, c@host\n");
        assert_eq!(seen.len(), 3);
        let (out, _) = rewritten("To: <>");
        assert_eq!(out, "To: <>\n");
        assert!(addr_list(&parse(b"To: a;").unwrap(), &mut |_| {}).is_some());
        assert!(addr_list(&parse(b"To: a: b").unwrap(), &mut |_| {}).is_none());
        assert!(addr_list(&parse(b"To: a>").unwrap(), &mut |_| {}).is_none());
        assert!(addr_list(&parse(b"To: a;;").unwrap(), &mut |_| {}).is_none());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if let Some(t) = parse(&bytes) {
                let _ = unparse(&t, 80);
                let _ = unquote(&t);
                if let Some(out) = addr_list(&t, &mut |_| {}) {
                    let _ = unparse(&out, 80);
                }
            }
        }

        #[test]
        fn unparse_then_parse_keeps_the_tokens(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            if let Some(mut t) = parse(&bytes) {
                // An empty atom (a lone backslash) writes nothing.
                t.retain(|t| !(t.kind == Kind::Atom && t.text.is_empty()));
                let text = unparse(&t, 0);
                let again = parse(&text).unwrap();
                // Unparse may turn a bad atom into a quoted string; the
                // bytes stay the same.
                proptest::prop_assert_eq!(again.len(), t.len());
                for (a, b) in again.iter().zip(&t) {
                    proptest::prop_assert_eq!(&a.text, &b.text);
                }
            }
        }
    }
}
