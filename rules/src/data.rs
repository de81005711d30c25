//! The value stored with each key: NUL-terminated items, `D` for deny and
//! `+NAME=VALUE` for a variable (`allow` with no variables is empty).
//! [`crate::parse`] builds it; this module reads it back.

use crate::Decision;

/// The NUL-terminated items of `data`, in order; a trailing part without
/// NUL is ignored, as tcpserver's `found()` does.
pub fn items(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let nul = rest.iter().position(|&c| c == 0)?;
        let item = &rest[..nul];
        rest = &rest[nul + 1..];
        Some(item)
    })
}

/// What tcpserver does with a record: deny when any item is `D`; else
/// allow with every `+NAME=VALUE` item in order. An item without `=` is
/// ignored (as in 0.88) and so is one with an empty name (0.88 would have
/// exported a nameless variable).
pub fn decide(data: &[u8]) -> Decision {
    let mut env = Vec::new();
    for item in items(data) {
        match item.first() {
            Some(b'D') => return Decision::Deny,
            Some(b'+') => {
                let nv = &item[1..];
                if let Some(eq) = nv.iter().position(|&c| c == b'=')
                    && eq > 0
                {
                    env.push((nv[..eq].to_vec(), nv[eq + 1..].to_vec()));
                }
            }
            _ => {}
        }
    }
    Decision::Allow { env }
}

/// tcprulescheck's report of a record found under `shown`, byte for byte
/// as 0.88 prints it: the rule line, each `+` item (up to its NUL) as
/// a `set environment variable` line, then the verdict; printing stops at
/// the first `D` item.
pub fn report(shown: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + data.len() * 2);
    out.extend_from_slice(b"rule ");
    out.extend_from_slice(shown);
    out.extend_from_slice(b":\n");
    for item in items(data) {
        match item.first() {
            Some(b'D') => {
                out.extend_from_slice(b"deny connection\n");
                return out;
            }
            Some(b'+') => {
                out.extend_from_slice(b"set environment variable ");
                out.extend_from_slice(&item[1..]);
                out.push(b'\n');
            }
            _ => {}
        }
    }
    out.extend_from_slice(b"allow connection\n");
    out
}

/// tcprulescheck's report when no rule matched.
pub const REPORT_DEFAULT: &[u8] = b"default:\nallow connection\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Decision {
        Decision::Allow {
            env: pairs
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn decisions() {
        assert_eq!(decide(b""), env(&[]));
        assert_eq!(decide(b"D\0"), Decision::Deny);
        assert_eq!(decide(b"D\0+WHY=blocked\0"), Decision::Deny);
        assert_eq!(decide(b"+X=1\0D\0"), Decision::Deny);
        assert_eq!(
            decide(b"+RELAYCLIENT=\0+TCPLOCALHOST=movie.edu\0"),
            env(&[("RELAYCLIENT", ""), ("TCPLOCALHOST", "movie.edu")])
        );
        assert_eq!(decide(b"+X=\0+X=2\0"), env(&[("X", ""), ("X", "2")]));
        assert_eq!(decide(b"+=v\0+NOEQ\0junk\0+A=b=c\0"), env(&[("A", "b=c")]));
        assert_eq!(decide(b"+A=1\0+B=2"), env(&[("A", "1")]));
        assert_eq!(decide(b"D"), env(&[]));
    }

    #[test]
    fn reports() {
        assert_eq!(report(b"", b"D\0"), b"rule :\ndeny connection\n");
        assert_eq!(
            report(b"127.0.0.1", b"+RELAYCLIENT=\0+TCPLOCALHOST=movie.edu\0"),
            &b"rule 127.0.0.1:\nset environment variable RELAYCLIENT=\nset environment variable TCPLOCALHOST=movie.edu\nallow connection\n"[..]
        );
        assert_eq!(
            report(b"x", b"+A=1\0D\0+B=2\0"),
            &b"rule x:\nset environment variable A=1\ndeny connection\n"[..]
        );
        assert_eq!(
            report(b"x", b"+NOEQ\0?\0"),
            &b"rule x:\nset environment variable NOEQ\nallow connection\n"[..]
        );
    }
}
