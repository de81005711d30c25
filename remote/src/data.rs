//! The message body as it goes after DATA (sans-IO, streaming).
//!
//! The queue stores messages with bare LF line ends. SMTP wants CRLF and
//! a dot doubled at the start of every line (RFC 5321 §4.5.2), then
//! `.` CRLF. As qmail's `blast()`, with notqmail's fix for CRs: a CR
//! that is already before an LF is not doubled (no CRCRLF), and a stray
//! CR becomes a line break of its own, so no bare CR ever reaches the
//! wire (bare CRs are what SMTP smuggling is made of). Unlike notqmail,
//! a dot right after such a stray CR is doubled too: it starts a line.
//!
//! A message whose last byte is not LF cannot be sent (qmail's
//! "partial final lines" bounce); [`Encoder::finish`] reports it.

/// Streaming encoder: feed the message in chunks of any size.
#[derive(Debug)]
pub struct Encoder {
    /// The next byte starts a line.
    at_line_start: bool,
    /// The previous byte was a CR whose fate depends on the next byte.
    pending_cr: bool,
    /// The last byte seen was LF (or nothing was seen yet).
    ended_with_lf: bool,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

/// The message did not end with LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialLine;

impl Encoder {
    /// An encoder at the start of a message.
    pub fn new() -> Encoder {
        Encoder {
            at_line_start: true,
            pending_cr: false,
            ended_with_lf: true,
        }
    }

    /// Append the wire form of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32 + 4);
        let mut rest = input;
        while !rest.is_empty() {
            if self.pending_cr {
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                self.at_line_start = true;
                if rest[0] == b'\n' {
                    // CRLF in the input: one line break, not two.
                    rest = &rest[1..];
                    self.ended_with_lf = true;
                    continue;
                }
            }
            if self.at_line_start {
                self.at_line_start = false;
                if rest[0] == b'.' {
                    out.push(b'.');
                }
            }
            // Copy up to the next CR or LF in one go.
            let stop = rest
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .unwrap_or(rest.len());
            out.extend_from_slice(&rest[..stop]);
            if stop < rest.len() {
                if rest[stop] == b'\n' {
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                    self.ended_with_lf = true;
                } else {
                    self.pending_cr = true;
                    self.ended_with_lf = false;
                }
                rest = &rest[stop + 1..];
            } else {
                self.ended_with_lf = stop == 0 && self.ended_with_lf;
                rest = &[];
            }
        }
    }

    /// The end of the message: append `.` CRLF, or refuse a message
    /// whose last line has no LF.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), PartialLine> {
        if self.pending_cr || !self.ended_with_lf {
            return Err(PartialLine);
        }
        out.extend_from_slice(b".\r\n");
        Ok(())
    }
}

/// Encode a whole message (for tests and small callers).
pub fn encode_all(message: &[u8]) -> Result<Vec<u8>, PartialLine> {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    enc.encode(message, &mut out);
    enc.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_everywhere(message: &[u8]) -> Result<Vec<u8>, PartialLine> {
        let whole = encode_all(message);
        for cut in 0..=message.len() {
            let mut enc = Encoder::new();
            let mut out = Vec::new();
            enc.encode(&message[..cut], &mut out);
            enc.encode(&message[cut..], &mut out);
            let r = enc.finish(&mut out).map(|()| out);
            assert_eq!(r, whole, "split at {cut}");
        }
        let mut enc = Encoder::new();
        let mut out = Vec::new();
        for b in message {
            enc.encode(std::slice::from_ref(b), &mut out);
        }
        assert_eq!(enc.finish(&mut out).map(|()| out), whole, "byte by byte");
        whole
    }

    #[test]
    fn lf_becomes_crlf_and_leading_dots_double() {
        assert_eq!(
            split_everywhere(b"Subject: x\n\n.hidden\n..two\nnot.first\n.\n").unwrap(),
            b"Subject: x\r\n\r\n..hidden\r\n...two\r\nnot.first\r\n..\r\n.\r\n"
        );
    }

    #[test]
    fn the_empty_message_is_just_the_dot() {
        assert_eq!(split_everywhere(b"").unwrap(), b".\r\n");
    }

    #[test]
    fn crlf_is_not_doubled_and_a_stray_cr_is_a_line_break() {
        assert_eq!(split_everywhere(b"a\r\nb\n").unwrap(), b"a\r\nb\r\n.\r\n");
        assert_eq!(split_everywhere(b"a\rb\n").unwrap(), b"a\r\nb\r\n.\r\n");
        assert_eq!(
            split_everywhere(b"a\r\r\nb\n").unwrap(),
            b"a\r\n\r\nb\r\n.\r\n"
        );
        // The smuggling shape: a dot after a stray CR is stuffed.
        assert_eq!(
            split_everywhere(b"a\r.\r\nb\n").unwrap(),
            b"a\r\n..\r\nb\r\n.\r\n"
        );
    }

    #[test]
    fn a_partial_final_line_is_refused() {
        assert_eq!(split_everywhere(b"no newline"), Err(PartialLine));
        assert_eq!(split_everywhere(b"line\nno newline"), Err(PartialLine));
        assert_eq!(split_everywhere(b"ends with cr\r"), Err(PartialLine));
    }

    /// Undo the wire form: what a server stores.
    fn decode(wire: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let body = wire.strip_suffix(b".\r\n").expect("ends with the dot");
        for line in body.split_inclusive(|&b| b == b'\n') {
            let line = line.strip_prefix(b".").unwrap_or(line);
            let line = line.strip_suffix(b"\r\n").expect("CRLF line");
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out
    }

    proptest! {
        #[test]
        fn wire_form_is_clean_and_round_trips(body in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'.'), Just(b'a'), any::<u8>()], 0..200),
            cut in 0usize..200)
        {
            let mut message = body.clone();
            message.push(b'\n');
            let wire = encode_all(&message).unwrap();
            // Every CR is followed by LF and every LF preceded by CR.
            for (i, &b) in wire.iter().enumerate() {
                if b == b'\r' { prop_assert_eq!(wire.get(i + 1), Some(&b'\n')); }
                if b == b'\n' { prop_assert!(i > 0 && wire[i - 1] == b'\r'); }
            }
            // The only line that is a lone dot is the last one.
            let lone = wire.windows(5).filter(|w| w == b"\r\n.\r\n").count();
            prop_assert_eq!(lone + usize::from(wire.starts_with(b".\r\n")), 1);
            // Without CRs, the server gets back exactly what we had.
            if !message.contains(&b'\r') {
                prop_assert_eq!(decode(&wire), message.clone());
            }
            // Chunking does not matter.
            let cut = cut.min(message.len());
            let mut enc = Encoder::new();
            let mut out = Vec::new();
            enc.encode(&message[..cut], &mut out);
            enc.encode(&message[cut..], &mut out);
            enc.finish(&mut out).unwrap();
            prop_assert_eq!(out, wire);
        }
    }
}
