//! Netstrings: `<decimal length>:<bytes>,` (cr.yp.to/proto/netstrings).
//!
//! [`LenParser`] reads the length a byte at a time with a bound, so a
//! peer cannot make us wait for or reserve more than we allow: a length
//! with more digits than the bound has, or a value over it, is refused
//! as soon as it is seen.

/// Why a netstring could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not a netstring (a non-digit in the length, a missing comma, a
    /// zero-length QMTP message, a recipient longer than its list).
    BadProto,
    /// A length over the bound: more than we are willing to handle.
    TooBig,
}

/// The length of a netstring, read digit by digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LenParser {
    value: u64,
    digits: u32,
    max: u64,
}

impl LenParser {
    pub fn new(max: u64) -> LenParser {
        LenParser {
            value: 0,
            digits: 0,
            max,
        }
    }

    /// Take one byte: `Ok(Some(len))` at the colon.
    pub fn byte(&mut self, b: u8) -> Result<Option<u64>, Error> {
        match b {
            b':' if self.digits > 0 => Ok(Some(self.value)),
            b'0'..=b'9' => {
                self.digits += 1;
                self.value = self
                    .value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(b - b'0')))
                    .ok_or(Error::TooBig)?;
                if self.value > self.max || self.digits > 20 {
                    return Err(Error::TooBig);
                }
                Ok(None)
            }
            _ => Err(Error::BadProto),
        }
    }
}

/// `bytes` as a netstring.
pub fn encode(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.push(b',');
    out
}

/// A netstring's contents and the input after it.
pub type Split<'a> = (&'a [u8], &'a [u8]);

/// Decode one complete netstring at the start of `input`: the contents
/// and the rest. `Ok(None)`: more input is needed.
pub fn decode(input: &[u8], max: u64) -> Result<Option<Split<'_>>, Error> {
    let mut p = LenParser::new(max);
    for (i, &b) in input.iter().enumerate() {
        if let Some(len) = p.byte(b)? {
            let start = i + 1;
            let len = usize::try_from(len).map_err(|_| Error::TooBig)?;
            let Some(end) = start.checked_add(len) else {
                return Err(Error::TooBig);
            };
            if input.len() <= end {
                return Ok(None);
            }
            if input[end] != b',' {
                return Err(Error::BadProto);
            }
            return Ok(Some((&input[start..end], &input[end + 1..])));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        assert_eq!(encode(b"hello"), b"5:hello,");
        assert_eq!(encode(b""), b"0:,");
        assert_eq!(
            decode(b"5:hello,rest", 100),
            Ok(Some((&b"hello"[..], &b"rest"[..])))
        );
        assert_eq!(decode(b"5:hel", 100), Ok(None));
        assert_eq!(decode(b"5:hello;", 100), Err(Error::BadProto));
        assert_eq!(decode(b"x:", 100), Err(Error::BadProto));
        assert_eq!(decode(b":", 100), Err(Error::BadProto));
        assert_eq!(decode(b"101:", 100), Err(Error::TooBig));
        // A huge length is refused at its first digit over the bound,
        // before any of the promised bytes.
        assert_eq!(
            decode(b"99999999999999999999999999", 100),
            Err(Error::TooBig)
        );
        assert_eq!(decode(b"1000", 100), Err(Error::TooBig));
    }
}
