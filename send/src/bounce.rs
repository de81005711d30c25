//! Bounce messages in QSBMF, qmail's bounce format (qmail-send.c
//! `addbounce`, `injectbounce`; cr.yp.to/proto/qsbmf.txt).
//!
//! Each permanent failure appends a paragraph to `bounce/N`; when the
//! whole message is done, one bounce carries all of them back to the
//! sender, followed by the original message.

use control::datetime::{DateTime, date822};
use control::quote::{quote, quote2};

/// The paragraph `bounce/N` gets for one failed recipient: `<recip>:`
/// (newlines in the address become `_`), the report, and a blank line. A
/// blank line inside the report becomes `/` so the paragraph holds
/// together.
pub fn paragraph(recip: &[u8], report: &[u8]) -> Vec<u8> {
    let mut t = b"<".to_vec();
    t.extend(recip.iter().map(|&b| if b == b'\n' { b'_' } else { b }));
    t.extend_from_slice(b">:\n");
    t.extend_from_slice(report);
    if !report.is_empty() && !report.ends_with(b"\n") {
        t.push(b'\n');
    }
    let mut pos = t.len().saturating_sub(2);
    while pos > 0 {
        if t[pos] == b'\n' && t[pos - 1] == b'\n' {
            t[pos] = b'/';
        }
        pos -= 1;
    }
    t.push(b'\n');
    t
}

/// The bounce's settings (qmail-send's controls).
#[derive(Debug, Clone)]
pub struct BounceConfig {
    /// `bouncefrom`, default `MAILER-DAEMON`.
    pub from: Vec<u8>,
    /// `bouncehost`.
    pub host: Vec<u8>,
    /// `doublebounceto@doublebouncehost`.
    pub double_to: Vec<u8>,
}

/// What to do with `bounce/N` for a message whose sender was `sender`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The sender was `#@[]`: a bounce of a double bounce is dropped.
    Discard,
    /// Send from `sender` (envelope) to `recip`.
    Send {
        sender: Vec<u8>,
        recip: Vec<u8>,
        double: bool,
    },
}

/// The original sender without a VERP tail: `pre-@host-@[]` → `pre-@host`.
pub fn unverp(sender: &[u8]) -> &[u8] {
    if sender.ends_with(b"-@[]") {
        &sender[..sender.len() - 4]
    } else {
        sender
    }
}

/// Who gets the bounce: the sender; for a message with the null sender
/// (a bounce that bounced), the postmaster, from `#@[]`.
pub fn plan(sender: &[u8], cfg: &BounceConfig) -> Plan {
    if sender == b"#@[]" {
        Plan::Discard
    } else if sender.is_empty() {
        Plan::Send {
            sender: b"#@[]".to_vec(),
            recip: cfg.double_to.clone(),
            double: true,
        }
    } else {
        Plan::Send {
            sender: Vec::new(),
            recip: sender.to_vec(),
            double: false,
        }
    }
}

/// Everything of the bounce before the failure paragraphs.
pub fn head(cfg: &BounceConfig, recip: &[u8], double: bool, now: i64) -> Vec<u8> {
    let mut h = format!("Date: {}\nFrom: ", date822(&DateTime::from_unix(now))).into_bytes();
    h.extend(quote(&cfg.from));
    h.push(b'@');
    h.extend_from_slice(&cfg.host);
    h.extend_from_slice(b"\nTo: ");
    h.extend(quote2(recip));
    h.extend_from_slice(b"\nSubject: failure notice\n\nHi. This is the qmail-send program at ");
    h.extend_from_slice(&cfg.host);
    h.extend_from_slice(if double {
        b".\nI tried to deliver a bounce message to this address, but the bounce bounced!\n\n"
            as &[u8]
    } else {
        b".\nI'm afraid I wasn't able to deliver your message to the following addresses.\n\
This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    });
    h
}

/// Between the paragraphs and the original message.
pub fn separator(double: bool, sender: &[u8]) -> Vec<u8> {
    let mut s = if double {
        b"--- Below this line is the original bounce.\n\n".to_vec()
    } else {
        b"--- Below this line is a copy of the message.\n\n".to_vec()
    };
    s.extend_from_slice(b"Return-Path: <");
    s.extend(quote2(sender));
    s.extend_from_slice(b">\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BounceConfig {
        BounceConfig {
            from: b"MAILER-DAEMON".to_vec(),
            host: b"mail.example.net".to_vec(),
            double_to: b"postmaster@mail.example.net".to_vec(),
        }
    }

    #[test]
    fn paragraphs_hold_together() {
        assert_eq!(
            paragraph(
                b"bob@example.net",
                b"Sorry, no mailbox here by that name. (#5.1.1)\n"
            ),
            b"<bob@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        );
        assert_eq!(
            paragraph(b"a\nb@c", b"no newline"),
            b"<a_b@c>:\nno newline\n\n"
        );
        assert_eq!(
            paragraph(b"x@y", b"first\n\nsecond\n\n\nthird\n"),
            b"<x@y>:\nfirst\n/second\n//third\n\n"
        );
        assert_eq!(paragraph(b"x@y", b""), b"<x@y>:\n\n");
    }

    #[test]
    fn who_gets_the_bounce() {
        let c = cfg();
        assert_eq!(
            plan(b"alice@example.org", &c),
            Plan::Send {
                sender: Vec::new(),
                recip: b"alice@example.org".to_vec(),
                double: false
            }
        );
        assert_eq!(
            plan(b"", &c),
            Plan::Send {
                sender: b"#@[]".to_vec(),
                recip: b"postmaster@mail.example.net".to_vec(),
                double: true
            }
        );
        assert_eq!(plan(b"#@[]", &c), Plan::Discard);
        assert_eq!(unverp(b"list-@host-@[]"), b"list-@host");
        assert_eq!(unverp(b"a@b"), b"a@b");
    }

    #[test]
    fn the_text_is_qsbmf() {
        let h = head(&cfg(), b"alice@example.org", false, 1_735_898_400);
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "Date: 3 Jan 2025 10:00:00 -0000\n\
From: MAILER-DAEMON@mail.example.net\n\
To: alice@example.org\n\
Subject: failure notice\n\
\n\
Hi. This is the qmail-send program at mail.example.net.\n\
I'm afraid I wasn't able to deliver your message to the following addresses.\n\
This is a permanent error; I've given up. Sorry it didn't work out.\n\
\n"
        );
        let h = head(&cfg(), b"postmaster@mail.example.net", true, 0);
        assert!(String::from_utf8(h).unwrap().ends_with(
            "I tried to deliver a bounce message to this address, but the bounce bounced!\n\n"
        ));
        assert_eq!(
            separator(false, b"alice@example.org"),
            b"--- Below this line is a copy of the message.\n\nReturn-Path: <alice@example.org>\n"
        );
        assert_eq!(
            separator(true, b""),
            b"--- Below this line is the original bounce.\n\nReturn-Path: <>\n"
        );
    }
}
