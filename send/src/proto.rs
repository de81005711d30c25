//! The pipe protocols between qmail-send and its helpers, without I/O.
//!
//! qmail-send → spawner (qmail-lspawn, qmail-rspawn), one command per
//! delivery:
//! `<slot byte><split>/<id>\0<sender>\0<recipient>\0`.
//!
//! spawner → qmail-send, one report per delivery (and the slot count, a
//! single byte, once at start):
//! `<slot byte><K|Z|D><text>\0`.
//!
//! qmail-send → qmail-clean: `foop/<id>\0` (remove intd and mess) or
//! `todo/<id>\0` (remove intd and todo); the answer is one byte: `+`
//! done, `!` an unlink failed, `x` a malformed request.

use control::status::Status;

/// qmail-send keeps at most this much of a report (`REPORTMAX`).
pub const REPORT_MAX: usize = 10000;

/// Spawner fields longer than this are refused like qmail's out of
/// memory (the message id is at most 100 bytes anyway).
const FIELD_MAX: usize = 64 * 1024;

/// A delivery command as the spawner reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    pub slot: u8,
    /// `split/id`, relative to `queue/mess`.
    pub messid: Vec<u8>,
    pub sender: Vec<u8>,
    pub recip: Vec<u8>,
    /// A field was too long: the spawner answers "out of memory".
    pub abort: bool,
}

/// The command bytes qmail-send writes.
pub fn encode_command(slot: u8, messid: &[u8], sender: &[u8], recip: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(messid.len() + sender.len() + recip.len() + 4);
    v.push(slot);
    for f in [messid, sender, recip] {
        v.extend_from_slice(f);
        v.push(0);
    }
    v
}

/// Reads commands on the spawner side (spawn.c `getcmd`).
#[derive(Debug, Default)]
pub struct CommandDecoder {
    /// 0: slot byte; 1: messid; 2: sender; 3: recipient.
    stage: u8,
    cur: Command,
}

impl CommandDecoder {
    pub fn new() -> CommandDecoder {
        CommandDecoder::default()
    }

    /// Feed bytes; complete commands are appended to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Command>) {
        for &b in input {
            if self.stage == 0 {
                self.cur = Command {
                    slot: b,
                    ..Command::default()
                };
                self.stage = 1;
                continue;
            }
            if b == 0 {
                self.stage += 1;
                if self.stage == 4 {
                    out.push(std::mem::take(&mut self.cur));
                    self.stage = 0;
                }
                continue;
            }
            let field = match self.stage {
                1 => &mut self.cur.messid,
                2 => &mut self.cur.sender,
                _ => &mut self.cur.recip,
            };
            if field.len() >= FIELD_MAX {
                self.cur.abort = true;
            } else {
                field.push(b);
            }
        }
    }
}

/// A report line: slot, result letter and text.
pub fn encode_report(slot: u8, report: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(report.len() + 2);
    v.push(slot);
    // The report ends at its first NUL (qmail prints it as a C string).
    let end = report.iter().position(|&b| b == 0).unwrap_or(report.len());
    v.extend_from_slice(&report[..end]);
    v.push(0);
    v
}

/// A report as qmail-send reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub slot: u8,
    /// `K`, `Z`, `D`; `None` for anything else (a mangled report).
    pub result: Option<Status>,
    pub text: Vec<u8>,
}

/// Reads reports on qmail-send's side (qmail-send.c `del_dochan`). A
/// report ends at a NUL that is not its first byte (slot 0 is a NUL);
/// reports longer than [`REPORT_MAX`] are cut.
#[derive(Debug, Default)]
pub struct ReportDecoder {
    line: Vec<u8>,
}

impl ReportDecoder {
    pub fn new() -> ReportDecoder {
        ReportDecoder::default()
    }

    /// Feed bytes; complete reports are appended to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Report>) {
        for &b in input {
            if b == 0 && !self.line.is_empty() {
                let line = std::mem::take(&mut self.line);
                out.push(Report {
                    slot: line[0],
                    result: line.get(1).copied().and_then(Status::from_byte),
                    text: line.get(2..).unwrap_or(&[]).to_vec(),
                });
            } else if self.line.len() < REPORT_MAX {
                self.line.push(b);
            }
        }
    }
}

/// A qmail-clean request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanRequest {
    /// `foop/N`: the message is done; remove `intd/N` and `mess/../N`.
    Foop(u64),
    /// `todo/N`: preprocessing is done; remove `intd/N` and `todo/N`.
    Todo(u64),
}

impl CleanRequest {
    pub fn encode(self) -> Vec<u8> {
        match self {
            CleanRequest::Foop(id) => format!("foop/{id}\0").into_bytes(),
            CleanRequest::Todo(id) => format!("todo/{id}\0").into_bytes(),
        }
    }
}

/// Reads requests on qmail-clean's side. Each item is the request, or
/// `None` for a malformed one (answered `x`).
#[derive(Debug, Default)]
pub struct CleanDecoder {
    line: Vec<u8>,
    too_long: bool,
}

/// qmail-clean refuses requests over 100 bytes (with the NUL).
const CLEAN_MAX: usize = 100;

impl CleanDecoder {
    pub fn new() -> CleanDecoder {
        CleanDecoder::default()
    }

    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Option<CleanRequest>>) {
        for &b in input {
            if b != 0 {
                if self.line.len() < CLEAN_MAX {
                    self.line.push(b);
                } else {
                    self.too_long = true;
                }
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let too_long = std::mem::take(&mut self.too_long);
            out.push(if too_long { None } else { parse_clean(&line) });
        }
    }
}

fn parse_clean(line: &[u8]) -> Option<CleanRequest> {
    // With its NUL the request is 7..=100 bytes.
    if line.len() + 1 < 7 || line.len() + 1 > CLEAN_MAX {
        return None;
    }
    let (kind, digits) = line.split_at(5);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let id = std::str::from_utf8(digits).ok()?.parse().ok()?;
    match kind {
        b"foop/" => Some(CleanRequest::Foop(id)),
        b"todo/" => Some(CleanRequest::Todo(id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way of cutting `input` in two, and byte by byte.
    fn splits(input: &[u8]) -> Vec<Vec<&[u8]>> {
        let mut all: Vec<Vec<&[u8]>> = (0..=input.len())
            .map(|at| vec![&input[..at], &input[at..]])
            .collect();
        all.push(input.chunks(1).collect());
        all
    }

    #[test]
    fn commands_round_trip_at_any_split() {
        let mut input = encode_command(0, b"5/1234", b"a@b", b"c@d");
        input.extend(encode_command(119, b"0/23", b"", b"e@f"));
        for split in splits(&input) {
            let mut d = CommandDecoder::new();
            let mut out = Vec::new();
            for p in split {
                d.feed(p, &mut out);
            }
            assert_eq!(out.len(), 2);
            assert_eq!(out[0].slot, 0);
            assert_eq!(out[0].messid, b"5/1234");
            assert_eq!(out[0].sender, b"a@b");
            assert_eq!(out[0].recip, b"c@d");
            assert!(!out[0].abort);
            assert_eq!(out[1].slot, 119);
            assert_eq!(out[1].sender, b"");
        }
    }

    #[test]
    fn huge_fields_abort_the_command_only() {
        let mut input = vec![3];
        input.extend(std::iter::repeat_n(b'x', FIELD_MAX + 5));
        input.extend_from_slice(b"\0s\0r\0");
        input.extend(encode_command(4, b"1/1", b"s", b"r"));
        let mut d = CommandDecoder::new();
        let mut out = Vec::new();
        d.feed(&input, &mut out);
        assert!(out[0].abort);
        assert!(!out[1].abort);
        assert_eq!(out[1].slot, 4);
    }

    #[test]
    fn reports_at_any_split() {
        let mut input = encode_report(0, b"Kdid 0+0+1\n");
        input.extend(encode_report(7, b"ZSorry\0ignored"));
        input.extend(encode_report(2, b""));
        for split in splits(&input) {
            let mut d = ReportDecoder::new();
            let mut out = Vec::new();
            for p in split {
                d.feed(p, &mut out);
            }
            assert_eq!(
                out,
                vec![
                    Report {
                        slot: 0,
                        result: Some(Status::K),
                        text: b"did 0+0+1\n".to_vec()
                    },
                    Report {
                        slot: 7,
                        result: Some(Status::Z),
                        text: b"Sorry".to_vec()
                    },
                    Report {
                        slot: 2,
                        result: None,
                        text: Vec::new()
                    },
                ]
            );
        }
    }

    #[test]
    fn long_reports_are_cut() {
        let mut input = vec![1, b'D'];
        input.extend(std::iter::repeat_n(b'y', 20000));
        input.push(0);
        let mut d = ReportDecoder::new();
        let mut out = Vec::new();
        d.feed(&input, &mut out);
        assert_eq!(out[0].text.len(), REPORT_MAX - 2);
    }

    #[test]
    fn clean_requests_at_any_split() {
        let mut input = CleanRequest::Foop(1234).encode();
        input.extend(CleanRequest::Todo(7).encode());
        input.extend(b"todo/\0foop/12x\0nope/123\0ab\0");
        let mut long = b"todo/".to_vec();
        long.extend(std::iter::repeat_n(b'1', 200));
        long.push(0);
        input.extend(&long);
        for split in splits(&input) {
            let mut d = CleanDecoder::new();
            let mut out = Vec::new();
            for p in split {
                d.feed(p, &mut out);
            }
            assert_eq!(
                out,
                vec![
                    Some(CleanRequest::Foop(1234)),
                    Some(CleanRequest::Todo(7)),
                    None,
                    None,
                    None,
                    None,
                    None
                ]
            );
        }
    }
}
