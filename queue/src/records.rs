//! The queue's NUL-terminated record formats, parsed without I/O: bytes
//! go in as they arrive, in pieces of any size.
//!
//! - The envelope qmail-queue reads on fd 1: `F<sender>\0(T<rcpt>\0)*\0`
//!   ([`EnvelopeChecker`]).
//! - `intd/N` and `todo/N`: `u<uid>\0p<pid>\0F<sender>\0(T<rcpt>\0)*`
//!   ([`TodoParser`]).
//! - `info/N`: `F<sender>\0` ([`parse_info`]).
//! - `local/N`, `remote/N`: `T<addr>\0` or `D<addr>\0` per recipient, a
//!   `T` overwritten in place by `D` when that recipient is done
//!   ([`ChannelParser`]).

/// qmail-queue's limit: an address is at most 1002 bytes before its NUL.
pub const ADDR_MAX: usize = 1003;

/// Our limit on recipients in one envelope (qmail has none). qmail-send
/// works through a message's recipients as one unit, so this bounds what
/// one local user can make it chew on; it is far above what qmail-smtpd
/// takes in one session or a list manager passes in one message.
pub const RCPT_MAX: usize = 10_000;

/// Our limit on the bytes of one envelope, letters and NULs included
/// (qmail has none): 4 MiB, about 4,000 addresses of the longest kind or
/// all [`RCPT_MAX`] recipients at up to 418 bytes each.
pub const ENVELOPE_MAX: usize = 4 * 1024 * 1024;

/// Cuts NUL-terminated records out of a byte stream. A record longer than
/// `max` bytes is an error rather than unbounded memory.
#[derive(Debug)]
pub struct Splitter {
    buf: Vec<u8>,
    max: usize,
}

/// A record was longer than the splitter's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong;

impl Splitter {
    pub fn new(max: usize) -> Splitter {
        Splitter {
            buf: Vec::new(),
            max,
        }
    }

    /// Take bytes from the front of `input` up to and including the next
    /// NUL. Returns the record without its NUL once complete; `Ok(None)`
    /// means `input` is used up and the record continues in the next
    /// piece.
    pub fn take(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, TooLong> {
        match input.iter().position(|&b| b == 0) {
            Some(n) => {
                if self.buf.len() + n > self.max {
                    return Err(TooLong);
                }
                self.buf.extend_from_slice(&input[..n]);
                *input = &input[n + 1..];
                Ok(Some(std::mem::take(&mut self.buf)))
            }
            None => {
                if self.buf.len() + input.len() > self.max {
                    return Err(TooLong);
                }
                self.buf.extend_from_slice(input);
                *input = &[];
                Ok(None)
            }
        }
    }

    /// Bytes of an unfinished record are waiting.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// What is wrong with an envelope; each maps to qmail-queue's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Not `F` first, a record that is neither `T` nor the end, or a CR
    /// or LF inside an address: 91.
    Format,
    /// An address of 1003 bytes or more: 11.
    TooLong,
    /// More than [`RCPT_MAX`] recipients: 13.
    TooManyRecipients,
    /// More than [`ENVELOPE_MAX`] bytes: 14.
    TooBig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvState {
    Start,
    /// Inside the sender or a recipient; bytes so far.
    Addr(usize),
    /// After an address: `T` or the final NUL.
    Next,
    Done,
}

/// Checks the envelope qmail-queue reads on fd 1, byte by byte as
/// qmail-queue does, and produces what goes into `intd/N`: the envelope
/// without its final NUL.
///
/// Beyond qmail's checks it refuses a CR or LF inside an address: such an
/// address would reach an SMTP command line of qmail-remote, where it
/// splits the command (a NUL cannot be inside an address at all: it ends
/// the record, and what follows must then be `T` or the end). It also
/// bounds the recipients and the bytes.
#[derive(Debug)]
pub struct EnvelopeChecker {
    state: EnvState,
    rcpts: usize,
    bytes: usize,
    rcpt_max: usize,
    bytes_max: usize,
}

impl Default for EnvelopeChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvelopeChecker {
    /// A checker with qmail-queue's limits, [`RCPT_MAX`] and
    /// [`ENVELOPE_MAX`].
    pub fn new() -> EnvelopeChecker {
        Self::with_limits(RCPT_MAX, ENVELOPE_MAX)
    }

    /// A checker taking at most `rcpt_max` recipients and `bytes_max`
    /// bytes.
    pub fn with_limits(rcpt_max: usize, bytes_max: usize) -> EnvelopeChecker {
        EnvelopeChecker {
            state: EnvState::Start,
            rcpts: 0,
            bytes: 0,
            rcpt_max,
            bytes_max,
        }
    }

    /// Feed the next piece; checked bytes are appended to `out`. Returns
    /// `Some(n)` once the final NUL was seen at `input[n - 1]`: the rest
    /// of the input is not part of the envelope and is ignored.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<usize>, EnvelopeError> {
        for (i, &b) in input.iter().enumerate() {
            if self.state != EnvState::Done {
                self.bytes += 1;
                if self.bytes > self.bytes_max {
                    return Err(EnvelopeError::TooBig);
                }
            }
            self.state = match self.state {
                EnvState::Start => {
                    if b != b'F' {
                        return Err(EnvelopeError::Format);
                    }
                    out.push(b);
                    EnvState::Addr(0)
                }
                EnvState::Addr(len) => {
                    if len >= ADDR_MAX - 1 && b != 0 {
                        return Err(EnvelopeError::TooLong);
                    }
                    if b == b'\r' || b == b'\n' {
                        return Err(EnvelopeError::Format);
                    }
                    out.push(b);
                    if b == 0 {
                        EnvState::Next
                    } else {
                        EnvState::Addr(len + 1)
                    }
                }
                EnvState::Next => match b {
                    0 => {
                        self.state = EnvState::Done;
                        return Ok(Some(i + 1));
                    }
                    b'T' => {
                        self.rcpts += 1;
                        if self.rcpts > self.rcpt_max {
                            return Err(EnvelopeError::TooManyRecipients);
                        }
                        out.push(b);
                        EnvState::Addr(0)
                    }
                    _ => return Err(EnvelopeError::Format),
                },
                EnvState::Done => return Ok(Some(i)),
            };
        }
        Ok(if self.state == EnvState::Done {
            Some(0)
        } else {
            None
        })
    }

    /// The final NUL has been seen.
    pub fn done(&self) -> bool {
        self.state == EnvState::Done
    }
}

/// One record of a todo file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TodoRecord {
    /// `u`: the uid that queued the message.
    Uid(u64),
    /// `p`: qmail-queue's pid.
    Pid(u64),
    /// `F`: the envelope sender.
    From(Vec<u8>),
    /// `T`: a recipient.
    To(Vec<u8>),
}

/// A todo file record that qmail-send does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TodoError {
    /// The first byte of a record (0 for an empty record).
    UnknownRecord(u8),
    /// A record far longer than any envelope address.
    TooLong,
}

/// Parses a todo file piece by piece. A last record without its NUL is
/// ignored, as qmail-send's `getln` loop does.
#[derive(Debug)]
pub struct TodoParser {
    split: Splitter,
}

/// Records longer than this are damage, not addresses (qmail-queue
/// refuses 1003 bytes).
const RECORD_MAX: usize = 64 * 1024;

impl Default for TodoParser {
    fn default() -> Self {
        Self::new()
    }
}

impl TodoParser {
    pub fn new() -> TodoParser {
        TodoParser {
            split: Splitter::new(RECORD_MAX),
        }
    }

    /// Feed a piece; complete records are appended to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<TodoRecord>) -> Result<(), TodoError> {
        while !input.is_empty() {
            let Some(rec) = self
                .split
                .take(&mut input)
                .map_err(|_| TodoError::TooLong)?
            else {
                break;
            };
            out.push(match rec.first() {
                Some(b'u') => TodoRecord::Uid(scan_ulong(&rec[1..])),
                Some(b'p') => TodoRecord::Pid(scan_ulong(&rec[1..])),
                Some(b'F') => TodoRecord::From(rec[1..].to_vec()),
                Some(b'T') => TodoRecord::To(rec[1..].to_vec()),
                other => return Err(TodoError::UnknownRecord(other.copied().unwrap_or(0))),
            });
        }
        Ok(())
    }
}

/// Parse a whole todo file.
pub fn parse_todo(bytes: &[u8]) -> Result<Vec<TodoRecord>, TodoError> {
    let mut out = Vec::new();
    TodoParser::new().feed(bytes, &mut out)?;
    Ok(out)
}

/// djb's `scan_ulong`, kept under this path for the crates that read
/// records (qmail-lspawn's uids).
pub use control::file::scan_ulong;

/// The sender in an info file: its first record must be `F...\0`.
/// `None` for a damaged file (qmail-send's `getinfo` failing).
pub fn parse_info(bytes: &[u8]) -> Option<Vec<u8>> {
    let end = bytes.iter().position(|&b| b == 0)?;
    let rec = &bytes[..end];
    match rec.first() {
        Some(b'F') => Some(rec[1..].to_vec()),
        _ => None,
    }
}

/// One recipient of a channel file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// Offset of the `T`/`D` byte, where qmail-send writes `D`.
    pub offset: u64,
    /// Already delivered or bounced.
    pub done: bool,
    pub addr: Vec<u8>,
}

/// A channel file record that is neither `T` nor `D`, at this offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelError {
    pub offset: u64,
}

/// Parses a channel file piece by piece, keeping each record's offset.
#[derive(Debug)]
pub struct ChannelParser {
    split: Splitter,
    /// Offset of the record being read.
    start: u64,
    /// Bytes consumed so far.
    pos: u64,
}

impl Default for ChannelParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ChannelParser {
    pub fn new() -> ChannelParser {
        ChannelParser {
            split: Splitter::new(RECORD_MAX),
            start: 0,
            pos: 0,
        }
    }

    /// Feed a piece; complete records are appended to `out`.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<ChannelRecord>,
    ) -> Result<(), ChannelError> {
        while !input.is_empty() {
            let before = input.len();
            let rec = self
                .split
                .take(&mut input)
                .map_err(|_| ChannelError { offset: self.start })?;
            self.pos += (before - input.len()) as u64;
            let Some(rec) = rec else { break };
            let offset = self.start;
            self.start = self.pos;
            let done = match rec.first() {
                Some(b'T') => false,
                Some(b'D') => true,
                _ => return Err(ChannelError { offset }),
            };
            out.push(ChannelRecord {
                offset,
                done,
                addr: rec[1..].to_vec(),
            });
        }
        Ok(())
    }
}

/// Parse a whole channel file.
pub fn parse_channel(bytes: &[u8]) -> Result<Vec<ChannelRecord>, ChannelError> {
    let mut out = Vec::new();
    ChannelParser::new().feed(bytes, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` split at `at` (two pieces) and at every byte.
    fn pieces(input: &[u8]) -> Vec<Vec<&[u8]>> {
        let mut all = vec![vec![input]];
        for at in 0..=input.len() {
            all.push(vec![&input[..at], &input[at..]]);
        }
        all.push(input.chunks(1).collect());
        all
    }

    fn check_envelope(input: &[u8]) -> Result<(Vec<u8>, usize), EnvelopeError> {
        let mut results = Vec::new();
        for split in pieces(input) {
            let mut c = EnvelopeChecker::new();
            let mut out = Vec::new();
            let mut consumed = 0;
            let mut res = Ok(None);
            for p in split {
                res = c.feed(p, &mut out);
                match res {
                    Ok(Some(n)) => {
                        consumed += n;
                        break;
                    }
                    Ok(None) => consumed += p.len(),
                    Err(_) => break,
                }
            }
            results
                .push(res.map(|r| (out.clone(), if r.is_some() { consumed } else { usize::MAX })));
        }
        for r in &results[1..] {
            assert_eq!(r, &results[0]);
        }
        results.remove(0)
    }

    #[test]
    fn envelopes_check_like_qmail_queue() {
        let (out, n) = check_envelope(b"Fa@b\0Tc@d\0Te@f\0\0extra").unwrap();
        assert_eq!(out, b"Fa@b\0Tc@d\0Te@f\0");
        assert_eq!(n, 16);
        let (out, _) = check_envelope(b"F\0\0").unwrap();
        assert_eq!(out, b"F\0");
        assert_eq!(check_envelope(b"Xa\0\0"), Err(EnvelopeError::Format));
        assert_eq!(check_envelope(b"Fa\0Xb\0\0"), Err(EnvelopeError::Format));
        // Unfinished: needs more input.
        assert_eq!(check_envelope(b"Fa\0Tb").unwrap().1, usize::MAX);
    }

    #[test]
    fn addresses_stop_at_1002_bytes() {
        let mut ok = b"F".to_vec();
        ok.extend(std::iter::repeat_n(b'a', 1002));
        ok.extend_from_slice(b"\0\0");
        assert!(check_envelope(&ok).is_ok());
        let mut long = b"F".to_vec();
        long.extend(std::iter::repeat_n(b'a', 1003));
        long.extend_from_slice(b"\0\0");
        assert_eq!(check_envelope(&long), Err(EnvelopeError::TooLong));
        let mut rcpt = b"Fa\0T".to_vec();
        rcpt.extend(std::iter::repeat_n(b'a', 1003));
        rcpt.extend_from_slice(b"\0\0");
        assert_eq!(check_envelope(&rcpt), Err(EnvelopeError::TooLong));
    }

    #[test]
    fn cr_and_lf_inside_addresses_are_format_errors() {
        for env in [
            &b"Fa\rRSET@b\0Tc@d\0\0"[..],
            b"Fa\nb\0Tc@d\0\0",
            b"Fa@b\0Tjo\re@example.com\0\0",
            b"Fa@b\0Tc@d\0Tb\nRSET@victim.example\0\0",
            b"F\r\0\0",
        ] {
            assert_eq!(check_envelope(env), Err(EnvelopeError::Format), "{env:?}");
        }
        // Other control bytes are qmail's business, as before.
        assert!(check_envelope(b"Fa\tb\0Tc\x7fd\0\0").is_ok());
        // A NUL ends the address: what follows must be T or the end.
        assert_eq!(check_envelope(b"Fa\0b@c\0\0"), Err(EnvelopeError::Format));
    }

    fn check_with(env: &[u8], rcpts: usize, bytes: usize) -> Result<Option<usize>, EnvelopeError> {
        let mut out = Vec::new();
        let mut c = EnvelopeChecker::with_limits(rcpts, bytes);
        let mut res = Ok(None);
        for b in env.chunks(3) {
            res = c.feed(b, &mut out);
            if !matches!(res, Ok(None)) {
                break;
            }
        }
        res
    }

    #[test]
    fn recipients_and_bytes_are_bounded() {
        let env = b"Fa\0Tb\0Tc\0\0"; // 10 bytes, 2 recipients
        assert!(matches!(check_with(env, 2, 10), Ok(Some(_))));
        assert_eq!(
            check_with(env, 1, 10),
            Err(EnvelopeError::TooManyRecipients)
        );
        assert_eq!(check_with(env, 2, 9), Err(EnvelopeError::TooBig));
        // Bytes after the final NUL are not read, so they do not count.
        assert!(matches!(check_with(b"F\0\0trailing", 0, 3), Ok(Some(_))));
        let c = EnvelopeChecker::new();
        assert_eq!((c.rcpt_max, c.bytes_max), (RCPT_MAX, ENVELOPE_MAX));
    }

    fn todo_all_ways(input: &[u8]) -> Result<Vec<TodoRecord>, TodoError> {
        let whole = parse_todo(input);
        for split in pieces(input) {
            let mut p = TodoParser::new();
            let mut out = Vec::new();
            let mut res = Ok(());
            for piece in split {
                res = p.feed(piece, &mut out);
                if res.is_err() {
                    break;
                }
            }
            assert_eq!(res.map(|()| out), whole);
        }
        whole
    }

    #[test]
    fn todo_records_parse_at_any_split() {
        let recs = todo_all_ways(b"u1001\0p4242\0Falice@x\0Tbob@y\0Tcarol@z\0").unwrap();
        assert_eq!(
            recs,
            vec![
                TodoRecord::Uid(1001),
                TodoRecord::Pid(4242),
                TodoRecord::From(b"alice@x".to_vec()),
                TodoRecord::To(b"bob@y".to_vec()),
                TodoRecord::To(b"carol@z".to_vec()),
            ]
        );
        // An unterminated last record is ignored, as getln's !match.
        assert_eq!(
            todo_all_ways(b"u1\0Tpart").unwrap(),
            vec![TodoRecord::Uid(1)]
        );
        assert_eq!(
            todo_all_ways(b"u1\0Xfoo\0"),
            Err(TodoError::UnknownRecord(b'X'))
        );
        assert_eq!(todo_all_ways(b"u1\0\0"), Err(TodoError::UnknownRecord(0)));
        assert_eq!(todo_all_ways(b"uabc\0").unwrap(), vec![TodoRecord::Uid(0)]);
    }

    #[test]
    fn todo_records_are_bounded() {
        let big = vec![b'T'; RECORD_MAX + 10];
        assert_eq!(parse_todo(&big), Err(TodoError::TooLong));
    }

    #[test]
    fn info_needs_an_f_record() {
        assert_eq!(parse_info(b"Falice@x\0"), Some(b"alice@x".to_vec()));
        assert_eq!(parse_info(b"F\0"), Some(Vec::new()));
        assert_eq!(parse_info(b"Falice"), None);
        assert_eq!(parse_info(b"Talice\0"), None);
        assert_eq!(parse_info(b""), None);
    }

    #[test]
    fn channel_records_keep_offsets_at_any_split() {
        let input = b"Ta@b\0Dc@d\0Te@f\0Tpartial";
        let whole = parse_channel(input).unwrap();
        assert_eq!(
            whole,
            vec![
                ChannelRecord {
                    offset: 0,
                    done: false,
                    addr: b"a@b".to_vec()
                },
                ChannelRecord {
                    offset: 5,
                    done: true,
                    addr: b"c@d".to_vec()
                },
                ChannelRecord {
                    offset: 10,
                    done: false,
                    addr: b"e@f".to_vec()
                },
            ]
        );
        for split in pieces(input) {
            let mut p = ChannelParser::new();
            let mut out = Vec::new();
            for piece in split {
                p.feed(piece, &mut out).unwrap();
            }
            assert_eq!(out, whole);
        }
        assert_eq!(parse_channel(b"Ta\0Xb\0"), Err(ChannelError { offset: 3 }));
    }
}
