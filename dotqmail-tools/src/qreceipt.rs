//! qreceipt (qmail 1.03's qreceipt.1): when the message asks for a
//! notice on delivery to this address (`Notice-Requested-Upon-Delivery-To:`
//! naming exactly `deliveryaddress`), send the envelope sender a short
//! success notice. It reads only the header, and never fails the
//! delivery for a message that asks nothing.

use std::io::BufRead;

use control::Home;
use control::qmail_queue::QueueClient;
use inject::headerbody::{Event, HeaderBody};
use inject::hfield::{self, Field};
use inject::token822;

use crate::Outcome;

pub const USAGE: &str = "qreceipt: usage: qreceipt deliveryaddress";

/// What the header asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    /// Some Notice-Requested-Upon-Delivery-To address is the target.
    pub wanted: bool,
    /// The whole Message-ID field, newline included.
    pub message_id: Option<Vec<u8>>,
}

/// Read the header from `input` and see what it asks of `target`.
/// `Err(field)`: a notice field that is not an address list.
pub fn scan(target: &[u8], input: &mut dyn BufRead) -> std::io::Result<Result<Request, Vec<u8>>> {
    let mut hb = HeaderBody::new();
    let mut req = Request::default();
    let mut events = Vec::new();
    let mut line = Vec::new();
    let mut done = false;
    while !done {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            hb.finish(&mut events);
        } else {
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            hb.line(&line, &mut events);
        }
        for ev in events.drain(..) {
            match ev {
                Event::Field(f) => match hfield::known(&f) {
                    Some(Field::MessageId) => req.message_id = Some(f),
                    Some(Field::NoticeRequestedUponDeliveryTo) => {
                        let Some(tokens) = token822::parse(&f) else {
                            return Ok(Err(f));
                        };
                        let mut hit = false;
                        let parsed = token822::addr_list(&tokens, &mut |addr| {
                            let mut forward = addr.clone();
                            forward.reverse();
                            if token822::unquote(&forward) == target {
                                hit = true;
                            }
                        });
                        if parsed.is_none() {
                            return Ok(Err(f));
                        }
                        req.wanted |= hit;
                    }
                    _ => {}
                },
                Event::EndOfHeader | Event::Body(_) => done = true,
            }
        }
        if line.is_empty() {
            done = true;
        }
    }
    Ok(Ok(req))
}

/// The notice qreceipt queues for `returnpath` (already quote2'ed).
pub fn notice(quoted: &[u8], target: &[u8], message_id: Option<&[u8]>) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(b"From: DELIVERY NOTICE SYSTEM <");
    m.extend_from_slice(quoted);
    m.extend_from_slice(b">\nTo: <");
    m.extend_from_slice(quoted);
    m.extend_from_slice(
        b">\nSubject: success notice\n\n\
Hi! This is the qreceipt program. Your message was delivered to the\n\
following address: ",
    );
    m.extend_from_slice(target);
    m.extend_from_slice(b". Thanks for asking.\n");
    if let Some(id) = message_id {
        m.extend_from_slice(b"Your ");
        m.extend_from_slice(id);
    }
    m
}

/// qreceipt's whole job; `sender` is `$SENDER`.
pub fn run(
    home: &Home,
    target: Option<&[u8]>,
    sender: Option<&[u8]>,
    input: &mut dyn BufRead,
) -> Outcome {
    let (Some(target), Some(sender)) = (target, sender) else {
        return Outcome::say(100, USAGE);
    };
    let req = match scan(target, input) {
        Ok(Ok(r)) => r,
        Ok(Err(field)) => {
            let mut t = b"qreceipt: fatal: unable to parse this: ".to_vec();
            t.extend_from_slice(field.strip_suffix(b"\n").unwrap_or(&field));
            return Outcome::say(100, t);
        }
        Err(_) => return Outcome::say(111, "qreceipt: fatal: read error"),
    };
    if !req.wanted || sender.is_empty() || sender == b"#@[]" {
        return Outcome::quiet(0);
    }
    let quoted = control::quote::quote2(sender);
    let Ok(mut qq) = QueueClient::open(home) else {
        return Outcome::say(111, "qreceipt: fatal: unable to fork");
    };
    qq.put(&notice(&quoted, target, req.message_id.as_deref()));
    match qq.close(b"", &[sender]) {
        Ok(()) => Outcome::quiet(0),
        Err(e) if e.permanent => Outcome::say(100, "qreceipt: fatal: permanent qmail-queue error"),
        Err(_) => Outcome::say(111, "qreceipt: fatal: temporary qmail-queue error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_str(target: &str, msg: &str) -> Request {
        scan(target.as_bytes(), &mut msg.as_bytes())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn only_an_exact_request_counts() {
        let r = scan_str(
            "joe@example.com",
            "Message-ID: <1@x>\nNotice-Requested-Upon-Delivery-To: Joe <joe@example.com>, bob@x\n\nbody\n",
        );
        assert!(r.wanted);
        assert_eq!(r.message_id.as_deref(), Some(&b"Message-ID: <1@x>\n"[..]));
        assert!(
            !scan_str(
                "joe@example.com",
                "Notice-Requested-Upon-Delivery-To: bob@x\n\n"
            )
            .wanted
        );
        assert!(
            !scan_str(
                "joe@example.com",
                "Subject: x\n\nNotice-Requested-Upon-Delivery-To: joe@example.com\n"
            )
            .wanted
        );
    }

    #[test]
    fn the_notice_text() {
        let n = notice(b"a@b", b"joe@example.com", Some(b"Message-ID: <1@x>\n"));
        assert_eq!(
            String::from_utf8(n).unwrap(),
            "From: DELIVERY NOTICE SYSTEM <a@b>\nTo: <a@b>\nSubject: success notice\n\n\
Hi! This is the qreceipt program. Your message was delivered to the\n\
following address: joe@example.com. Thanks for asking.\nYour Message-ID: <1@x>\n"
        );
    }
}
