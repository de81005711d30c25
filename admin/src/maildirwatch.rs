//! maildirwatch (maildirwatch.1): a screen, redrawn every 30 seconds,
//! with one entry per message in `$MAILDIR/new`: sender and recipient
//! (from Return-Path and Delivered-To), the From: line in bold, and the
//! start of the subject and body (158 bytes).

use std::io::BufRead;

use inject::headerbody::{Event, HeaderBody};
use inject::hfield::{self, Field};

/// Clear the screen (home, then erase).
pub const CLEAR: &[u8] = b"\x1b[;H\x1b[;J";

fn skip_name(f: &[u8]) -> usize {
    let mut i = f.iter().position(|&b| b == b':').map_or(f.len(), |c| c + 1);
    while i < f.len() && matches!(f[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

fn value(f: &[u8]) -> Vec<u8> {
    let v = &f[skip_name(f)..];
    v.strip_suffix(b"\n").unwrap_or(v).to_vec()
}

/// The entry for one message.
pub fn entry(r: &mut dyn BufRead) -> std::io::Result<Vec<u8>> {
    let mut sender = b"?".to_vec();
    let mut recipient = b"?".to_vec();
    let mut from = Vec::new();
    let mut text = Vec::new();
    let mut hb = HeaderBody::new();
    let mut events = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 || text.len() >= 158 {
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
                    Some(Field::Subject) => text.extend_from_slice(&f[skip_name(&f)..]),
                    Some(Field::DeliveredTo) => recipient = value(&f),
                    Some(Field::ReturnPath) => sender = value(&f),
                    Some(Field::From) => from = f.strip_suffix(b"\n").unwrap_or(&f).to_vec(),
                    _ => {}
                },
                Event::Body(b) => text.extend_from_slice(&b),
                Event::EndOfHeader => {}
            }
        }
        if line.is_empty() || text.len() >= 158 {
            break;
        }
    }
    text.truncate(158);
    let clean = |v: &mut Vec<u8>, with: u8| {
        for b in v.iter_mut() {
            if !(32..=126).contains(b) {
                *b = with;
            }
        }
    };
    clean(&mut from, b'/');
    clean(&mut sender, b'?');
    clean(&mut recipient, b'?');
    clean(&mut text, b'/');
    let mut out = b"FROM ".to_vec();
    out.extend_from_slice(&sender);
    out.extend_from_slice(b" TO <");
    out.extend_from_slice(&recipient);
    out.extend_from_slice(b">\n");
    if !from.is_empty() {
        out.extend_from_slice(b"\x1b[1m");
        out.extend_from_slice(&from);
        out.extend_from_slice(b"\x1b[0m\n");
    }
    out.extend_from_slice(&text);
    out.extend_from_slice(b"\n\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry() {
        let e = entry(
            &mut &b"Return-Path: <a@b>\nDelivered-To: joe@x\nFrom: Al <a@b>\nSubject: hi\n\nbody\n"
                [..],
        )
        .unwrap();
        assert_eq!(
            e,
            b"FROM <a@b> TO <joe@x>\n\x1b[1mFrom: Al <a@b>\x1b[0m\nhi//body/\n\n".to_vec()
        );
        let e = entry(&mut &b"X: y\n\n"[..]).unwrap();
        assert_eq!(e, b"FROM ? TO <?>\n/\n\n".to_vec());
    }
}
