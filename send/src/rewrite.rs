//! Which channel a recipient goes to, and how its address is rewritten
//! on the way (qmail-send.c `rewrite`, `senderadd`, `stripvdomprepend`).
//!
//! 1. No `@`: append `@envnoathost`.
//! 2. While the domain is in `percenthack`, the last `%` of the local part
//!    becomes the `@` and the old domain is dropped.
//! 3. A domain in `locals` is local, unchanged.
//! 4. `virtualdomains`, first hit in this order: the whole address, the
//!    domain, each `.suffix` of it (longest first), the empty key. A hit
//!    with a prepend is local as `prepend-address`; a hit with an empty
//!    prepend is an exception: remote.
//! 5. Everything else is remote.

use control::ConstMap;

/// The tables the rewriting reads.
#[derive(Debug, Clone, Default)]
pub struct Rewriter {
    pub locals: ConstMap,
    pub vdoms: ConstMap,
    pub percenthack: ConstMap,
    pub envnoathost: Vec<u8>,
}

/// Where a recipient goes (defined with the queue's folders).
pub use queue::layout::Channel;

fn rchr(s: &[u8], c: u8) -> Option<usize> {
    s.iter().rposition(|&b| b == c)
}

impl Rewriter {
    /// The channel for `recip` and the address to store for it.
    pub fn rewrite(&self, recip: &[u8]) -> (Channel, Vec<u8>) {
        let mut addr = recip.to_vec();
        let mut i = match rchr(&addr, b'@') {
            Some(i) => i,
            None => {
                let i = addr.len();
                addr.push(b'@');
                addr.extend_from_slice(&self.envnoathost);
                i
            }
        };
        while self.percenthack.contains(&addr[i + 1..]) {
            let Some(j) = rchr(&addr[..i], b'%') else {
                break;
            };
            addr.truncate(i);
            i = j;
            addr[i] = b'@';
        }
        let at = rchr(&addr, b'@').unwrap_or(0);
        if self.locals.contains(&addr[at + 1..]) {
            return (Channel::Local, addr);
        }
        for i in 0..=addr.len() {
            if !(i == 0 || i == at + 1 || i == addr.len() || (i > at && addr[i] == b'.')) {
                continue;
            }
            if let Some(prepend) = self.vdoms.get(&addr[i..]) {
                if prepend.is_empty() {
                    break;
                }
                let mut out = prepend.to_vec();
                out.push(b'-');
                out.extend_from_slice(&addr);
                return (Channel::Local, out);
            }
        }
        (Channel::Remote, addr)
    }

    /// A recipient as the bounce names it: with the virtualdomains
    /// prepend taken off again.
    pub fn strip_vdom_prepend<'a>(&self, recip: &'a [u8]) -> &'a [u8] {
        let Some(at) = rchr(recip, b'@') else {
            return recip;
        };
        let domain = &recip[at + 1..];
        for i in 0..=domain.len() {
            if !(i == 0 || i == domain.len() || domain[i] == b'.') {
                continue;
            }
            if let Some(prepend) = self.vdoms.get(&domain[i..]) {
                if prepend.is_empty()
                    || !recip.starts_with(prepend)
                    || recip.get(prepend.len()) != Some(&b'-')
                {
                    break;
                }
                return &recip[prepend.len() + 1..];
            }
        }
        recip
    }
}

/// The envelope sender a delivery gets (VERP): a sender `pre-@host-@[]`
/// with recipient `box@dom` becomes `pre-box=dom@host`; any other sender
/// is unchanged.
pub fn sender_for(sender: &[u8], recip: &[u8]) -> Vec<u8> {
    let i = sender.len();
    if i >= 4 && sender.ends_with(b"-@[]") {
        let j = rchr(&sender[..i - 4], b'@').unwrap_or(i - 4);
        if let Some(k) = rchr(recip, b'@')
            && j + 5 <= i
        {
            let mut out = sender[..j].to_vec();
            out.extend_from_slice(&recip[..k]);
            out.push(b'=');
            out.extend_from_slice(&recip[k + 1..]);
            out.push(b'@');
            out.extend_from_slice(&sender[j + 1..i - 4]);
            return out;
        }
    }
    sender.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn rw() -> Rewriter {
        Rewriter {
            locals: ConstMap::from_list(&list(&["example.com", "localhost"])),
            vdoms: ConstMap::from_pairs(&list(&[
                "virt.example:joe",
                "boss@corp.example:ceo",
                ".sub.example:subs",
                "except.sub.example:",
                "corp.example:corp",
            ])),
            percenthack: ConstMap::from_list(&list(&["relay.example"])),
            envnoathost: b"example.com".to_vec(),
        }
    }

    fn check(addr: &str, chan: Channel, out: &str) {
        let (c, a) = rw().rewrite(addr.as_bytes());
        assert_eq!(
            (c, String::from_utf8(a).unwrap()),
            (chan, out.to_string()),
            "{addr}"
        );
    }

    #[test]
    fn locals_virtualdomains_and_remote() {
        check("joe@example.com", Channel::Local, "joe@example.com");
        check("Joe@EXAMPLE.com", Channel::Local, "Joe@EXAMPLE.com");
        check("joe", Channel::Local, "joe@example.com");
        check("info@virt.example", Channel::Local, "joe-info@virt.example");
        check("boss@corp.example", Channel::Local, "ceo-boss@corp.example");
        check("x@corp.example", Channel::Local, "corp-x@corp.example");
        check("x@a.sub.example", Channel::Local, "subs-x@a.sub.example");
        check(
            "x@except.sub.example",
            Channel::Remote,
            "x@except.sub.example",
        );
        check("bob@example.net", Channel::Remote, "bob@example.net");
    }

    #[test]
    fn percenthack_moves_the_at() {
        check(
            "u%example.net@relay.example",
            Channel::Remote,
            "u@example.net",
        );
        check(
            "u%example.com@relay.example",
            Channel::Local,
            "u@example.com",
        );
        check(
            "a%relay.example%example.com@relay.example",
            Channel::Local,
            "a%relay.example@example.com",
        );
        check("a%b%relay.example@relay.example", Channel::Remote, "a@b");
        check(
            "plain@relay.example",
            Channel::Remote,
            "plain@relay.example",
        );
    }

    #[test]
    fn bounces_name_the_address_without_prepend() {
        let r = rw();
        assert_eq!(
            r.strip_vdom_prepend(b"joe-info@virt.example"),
            b"info@virt.example"
        );
        assert_eq!(
            r.strip_vdom_prepend(b"subs-x@a.sub.example"),
            b"x@a.sub.example"
        );
        assert_eq!(
            r.strip_vdom_prepend(b"other@virt.example"),
            b"other@virt.example"
        );
        assert_eq!(r.strip_vdom_prepend(b"bob@example.net"), b"bob@example.net");
        assert_eq!(r.strip_vdom_prepend(b"noat"), b"noat");
    }

    #[test]
    fn verp_senders() {
        assert_eq!(
            sender_for(b"list-@host-@[]", b"box@dom"),
            b"list-box=dom@host"
        );
        assert_eq!(sender_for(b"list-@host-@[]", b"nobox"), b"list-@host-@[]");
        assert_eq!(sender_for(b"x-@[]", b"box@dom"), b"x-@[]");
        assert_eq!(sender_for(b"a@b", b"box@dom"), b"a@b");
        assert_eq!(sender_for(b"", b"box@dom"), b"");
    }
}
