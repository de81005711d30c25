//! The line-end filters. Each keeps the state a byte split across two
//! reads needs, so the output never depends on how input arrived.

/// A byte filter: `feed` transforms a chunk, `finish` flushes at EOF.
pub trait Filter {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>);
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

/// addcr: a CR before every LF, even one that already has a CR before it
/// (0.88 does not look back).
#[derive(Debug, Default)]
pub struct AddCr;

impl Filter for AddCr {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if b == b'\n' {
                out.push(b'\r');
            }
            out.push(b);
        }
    }
}

/// delcr: drops a CR right before an LF; a CR anywhere else, and a CR
/// ending the input, is kept.
#[derive(Debug, Default)]
pub struct DelCr {
    pending_cr: bool,
}

impl Filter for DelCr {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            match b {
                b'\n' => {
                    self.pending_cr = false;
                    out.push(b);
                }
                b'\r' => {
                    if self.pending_cr {
                        out.push(b'\r');
                    }
                    self.pending_cr = true;
                }
                _ => {
                    if self.pending_cr {
                        out.push(b'\r');
                    }
                    self.pending_cr = false;
                    out.push(b);
                }
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

/// fixcrio's direction filter: a CR before each LF that lacks one.
#[derive(Debug, Default)]
pub struct FixCr {
    last: u8,
}

impl Filter for FixCr {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if b == b'\n' && self.last != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            self.last = b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter's output for `input` fed in pieces split at `cuts`.
    fn run(f: &mut dyn Filter, input: &[u8], cut: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let (a, b) = input.split_at(cut);
        f.feed(a, &mut out);
        f.feed(b, &mut out);
        f.finish(&mut out);
        out
    }

    #[test]
    fn filters_at_every_split() {
        let input = b"x\r\ny\rz\r\r\nq\n\r";
        for cut in 0..=input.len() {
            assert_eq!(run(&mut DelCr::default(), input, cut), b"x\ny\rz\r\nq\n\r");
            assert_eq!(run(&mut AddCr, input, cut), b"x\r\r\ny\rz\r\r\r\nq\r\n\r");
            assert_eq!(
                run(&mut FixCr::default(), input, cut),
                b"x\r\ny\rz\r\r\nq\r\n\r"
            );
        }
    }
}
