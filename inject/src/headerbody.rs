//! Splitting a message into header fields and body (qmail's
//! `headerbody.c`). No I/O: feed it lines, get events.
//!
//! - A field is a line that starts a valid field name plus the
//!   continuation lines (starting with a space or tab) after it.
//! - A header line starting with `From ` becomes the field
//!   `MBOX-Line: From ...`.
//! - An empty line ends the header. So does a line that is not a valid
//!   field: qmail-inject then inserts the empty line itself and the line
//!   becomes the first of the body.
//! - At the end of input a last line without a newline gets one.

/// What the splitter found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete header field, continuation lines and newlines included.
    Field(Vec<u8>),
    /// The header is over: add generated fields now.
    EndOfHeader,
    /// One line of the body (the empty separator line included).
    Body(Vec<u8>),
}

/// The splitter's state.
#[derive(Debug, Default)]
pub struct HeaderBody {
    in_body: bool,
    /// The field being collected.
    field: Option<Vec<u8>>,
}

impl HeaderBody {
    pub fn new() -> HeaderBody {
        HeaderBody::default()
    }

    /// Take one line; it ends with `\n` (the caller adds one to a final
    /// partial line, as qmail does).
    pub fn line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if self.in_body {
            out.push(Event::Body(line.to_vec()));
            return;
        }
        if let Some(field) = self.field.as_mut() {
            if matches!(line.first(), Some(b' ' | b'\t')) {
                field.extend_from_slice(line);
                return;
            }
            out.push(Event::Field(self.field.take().unwrap_or_default()));
        }
        if line == b"\n" {
            self.in_body = true;
            out.push(Event::EndOfHeader);
            out.push(Event::Body(line.to_vec()));
        } else if line.starts_with(b"From ") {
            let mut f = b"MBOX-Line: ".to_vec();
            f.extend_from_slice(line);
            self.field = Some(f);
        } else if crate::hfield::valid(line) {
            self.field = Some(line.to_vec());
        } else {
            self.in_body = true;
            out.push(Event::EndOfHeader);
            out.push(Event::Body(b"\n".to_vec()));
            out.push(Event::Body(line.to_vec()));
        }
    }

    /// The input is over. A message without a body ends its header here.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if self.in_body {
            return;
        }
        if let Some(f) = self.field.take() {
            out.push(Event::Field(f));
        }
        self.in_body = true;
        out.push(Event::EndOfHeader);
    }
}

/// Split `input` into lines the way qmail reads them and run them all
/// through a splitter (for tests and small messages).
pub fn split(input: &[u8]) -> Vec<Event> {
    let mut hb = HeaderBody::new();
    let mut out = Vec::new();
    for line in lines(input) {
        hb.line(&line, &mut out);
    }
    hb.finish(&mut out);
    out
}

/// The lines of `input`, each ending in `\n` (one added to a final
/// partial line).
pub fn lines(input: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    input.split_inclusive(|&b| b == b'\n').map(|l| {
        let mut l = l.to_vec();
        if l.last() != Some(&b'\n') {
            l.push(b'\n');
        }
        l
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event::*;

    fn f(s: &str) -> Event {
        Field(s.as_bytes().to_vec())
    }
    fn b(s: &str) -> Event {
        Body(s.as_bytes().to_vec())
    }

    #[test]
    fn fields_continuations_and_body() {
        assert_eq!(
            split(b"To: a,\n  b\nSubject: x\n\nbody\nmore"),
            vec![
                f("To: a,\n  b\n"),
                f("Subject: x\n"),
                EndOfHeader,
                b("\n"),
                b("body\n"),
                b("more\n")
            ]
        );
    }

    #[test]
    fn a_bad_line_ends_the_header_with_an_inserted_blank_line() {
        assert_eq!(
            split(b"Subject: x\nnot a header\nrest\n"),
            vec![
                f("Subject: x\n"),
                EndOfHeader,
                b("\n"),
                b("not a header\n"),
                b("rest\n")
            ]
        );
        assert_eq!(
            split(b" leading: space\n"),
            vec![EndOfHeader, b("\n"), b(" leading: space\n")]
        );
    }

    #[test]
    fn mbox_from_lines_and_headers_without_body() {
        assert_eq!(
            split(b"From joe Fri\nTo: x"),
            vec![f("MBOX-Line: From joe Fri\n"), f("To: x\n"), EndOfHeader]
        );
        assert_eq!(split(b""), vec![EndOfHeader]);
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_events() {
        // The splitter takes whole lines; check that line boundaries
        // found by `lines` agree with a byte-at-a-time reader.
        let msg = b"To: a\n b\nX: y\n\nbody\nend";
        let whole = split(msg);
        let mut hb = HeaderBody::new();
        let mut out = Vec::new();
        let mut cur = Vec::new();
        for &byte in msg {
            cur.push(byte);
            if byte == b'\n' {
                hb.line(&cur, &mut out);
                cur.clear();
            }
        }
        if !cur.is_empty() {
            cur.push(b'\n');
            hb.line(&cur, &mut out);
        }
        hb.finish(&mut out);
        assert_eq!(whole, out);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let ev = split(&bytes);
            proptest::prop_assert_eq!(ev.iter().filter(|e| **e == EndOfHeader).count(), 1);
        }
    }
}
