//! qmail-inject's address rewriting (qmail-inject.8, "ADDRESS
//! REWRITING"). No I/O. Addresses arrive as tokens in reverse order
//! (rightmost first), the way [`crate::token822::addr_list`] hands them
//! out.
//!
//! 1. `<>` and `<x@[]>` are left alone.
//! 2. A source route (`@a,@b:user@host`) is dropped.
//! 3. A trailing dot or a leading-`@` artefact is removed.
//! 4. No `@`: `@defaulthost` is appended.
//! 5. A host ending in `+`: the `+` becomes `.plusdomain`.
//! 6. A host without a dot (and not a `[literal]`): `.defaultdomain`.

use crate::token822::{self, Kind, Token};

/// The hosts used in rewriting, already tokenized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewriter {
    /// `@defaulthost`
    pub defaulthost: Vec<Token>,
    /// `.defaultdomain`
    pub defaultdomain: Vec<Token>,
    /// `.plusdomain`
    pub plusdomain: Vec<Token>,
}

impl Rewriter {
    /// Tokenize the three control values; `Err` names the one that does
    /// not parse (qmail-inject then refuses to run).
    pub fn new(
        defaulthost: &[u8],
        defaultdomain: &[u8],
        plusdomain: &[u8],
    ) -> Result<Rewriter, Vec<u8>> {
        let tok = |prefix: u8, v: &[u8]| {
            let mut s = vec![prefix];
            s.extend_from_slice(v);
            token822::parse(&s).ok_or(s)
        };
        Ok(Rewriter {
            defaultdomain: tok(b'.', defaultdomain)?,
            defaulthost: tok(b'@', defaulthost)?,
            plusdomain: tok(b'.', plusdomain)?,
        })
    }

    /// Rewrite one address (tokens in reverse order) in place.
    pub fn generic(&self, addr: &mut Vec<Token>) {
        if addr.is_empty() {
            return;
        }
        if addr.len() >= 2
            && addr[1].kind == Kind::At
            && addr[0].kind == Kind::Literal
            && addr[0].text.is_empty()
        {
            return;
        }
        // Source route: drop from the left up to the colon.
        if addr[addr.len() - 1].kind == Kind::At {
            while let Some(t) = addr.pop() {
                if t.kind == Kind::Colon {
                    break;
                }
            }
        }
        if addr.is_empty() {
            return;
        }
        if addr[0].kind == Kind::Dot {
            addr.remove(0);
        }
        if addr.is_empty() {
            return;
        }
        if addr[0].kind == Kind::At {
            addr.remove(0);
        }
        if addr.is_empty() {
            return;
        }
        if !addr.iter().any(|t| t.kind == Kind::At) {
            prepend_reversed(addr, &self.defaulthost);
        }
        if addr[0].kind == Kind::Atom && addr[0].text.last() == Some(&b'+') {
            addr[0].text.pop();
            prepend_reversed(addr, &self.plusdomain);
        }
        let host = addr.iter().take_while(|t| t.kind != Kind::At);
        let mut dot_or_literal = false;
        for t in host {
            if matches!(t.kind, Kind::Dot | Kind::Literal) {
                dot_or_literal = true;
            }
        }
        if !dot_or_literal {
            prepend_reversed(addr, &self.defaultdomain);
        }
    }

    /// Rewrite an address given as bytes (a command-line recipient or
    /// `-f`): quote it, tokenize, rewrite, and give back its raw form.
    /// `None`: it does not parse.
    pub fn address(&self, addr: &[u8]) -> Option<Vec<u8>> {
        let quoted = control::quote::quote2(addr);
        let mut t = token822::parse(&quoted)?;
        t.reverse();
        self.generic(&mut t);
        t.reverse();
        Some(token822::unquote(&t))
    }
}

/// Put `extra` (in normal order) on the right end of the reversed `addr`.
fn prepend_reversed(addr: &mut Vec<Token>, extra: &[Token]) {
    let mut new: Vec<Token> = extra.iter().rev().cloned().collect();
    new.append(addr);
    *addr = new;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw() -> Rewriter {
        Rewriter::new(b"mail.example.com", b"example.com", b"plus.example.net").unwrap()
    }

    fn r(s: &str) -> String {
        String::from_utf8(rw().address(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn qmails_rewriting_rules() {
        assert_eq!(r("joe"), "joe@mail.example.com");
        assert_eq!(r("joe@host"), "joe@host.example.com");
        assert_eq!(r("joe@host.org"), "joe@host.org");
        assert_eq!(r("joe@host+"), "joe@host.plus.example.net");
        assert_eq!(r("joe@[1.2.3.4]"), "joe@[1.2.3.4]");
        assert_eq!(r("joe@host."), "joe@host.example.com");
        // On the command line the route is quoted into the local part.
        assert_eq!(r("@a,@b:joe@x.org"), "@a,@b:joe@x.org");
        // In a header it is a route, and dropped.
        let mut t = token822::parse(b"@a,@b:joe@x.org").unwrap();
        t.reverse();
        rw().generic(&mut t);
        t.reverse();
        assert_eq!(token822::unquote(&t), b"joe@x.org");
        assert_eq!(r(""), "");
        assert_eq!(r("#@[]"), "#@[]");
        assert_eq!(r("john smith@x.org"), "john smith@x.org");
    }

    #[test]
    fn unparsable_controls_are_reported() {
        assert!(Rewriter::new(b"a(b", b"x", b"y").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_addresses_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            let _ = rw().address(&bytes);
            if let Some(mut t) = token822::parse(&bytes) {
                rw().generic(&mut t);
            }
        }
    }
}
