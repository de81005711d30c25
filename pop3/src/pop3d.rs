//! qmail-pop3d's session after the login (RFC 1939's TRANSACTION state),
//! sans-IO: each command line gives a [`Step`]; the process code sends
//! messages and applies QUIT's changes to the Maildir.
//!
//! The replies are qmail's bytes (reference: pop3.md §5): `+OK ` with its
//! space, STAT counting deleted messages in N but not in the size, sizes
//! as the files' bytes on disk, LAST as the highest number DELE'd. CAPA
//! (RFC 2449) is our addition; qmail answers it `-ERR unimplemented`.

use crate::line;

/// One message of the list fixed at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `new/NAME` or `cur/NAME`, relative to the Maildir.
    pub path: String,
    /// The file's size on disk (LF line ends counted once, as qmail does).
    pub size: u64,
    pub deleted: bool,
}

impl Message {
    /// The unique id: the name after `new/` or `cur/` up to its first `:`,
    /// so it survives the move to `cur/` and the flags added there.
    pub fn uid(&self) -> &str {
        let name = self.path.split_once('/').map_or(&self.path[..], |(_, n)| n);
        name.split(':').next().unwrap_or(name)
    }
}

/// What the process does for a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes.
    Reply(Vec<u8>),
    /// Open message `index`: if that fails, `-ERR unable to open that
    /// message`; else `+OK `, the message through a
    /// [`crate::blast::Blast`] with this limit, and the end.
    Send {
        index: usize,
        body_lines: Option<u64>,
    },
    /// QUIT: unlink the deleted messages and move the rest of `new/` to
    /// `cur/` ([`crate::maildir::update`]), then `+OK ` and exit 0.
    Quit,
}

pub const OK: &[u8] = b"+OK \r\n";

/// Our CAPA after the login: what qmail-pop3d does beyond RFC 1939's
/// minimum. No USER or SASL: they belong to the state before.
pub const CAPA: &[u8] = b"+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\n.\r\n";

fn err(text: &str) -> Step {
    Step::Reply(format!("-ERR {text}\r\n").into_bytes())
}

#[derive(Debug)]
pub struct Session {
    messages: Vec<Message>,
    last: usize,
}

impl Session {
    pub fn new(messages: Vec<Message>) -> Session {
        Session { messages, last: 0 }
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Message `index` was found at `path` (another reader moved it).
    pub fn set_path(&mut self, index: usize, path: String) {
        self.messages[index].path = path;
    }

    /// qmail's `msgno()`: leading digits, then the checks in its order.
    fn number(&self, arg: &[u8]) -> Result<usize, Step> {
        let digits = arg.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(err("syntax error"));
        }
        let n = sys::scan::scan_ulong(arg);
        if n == 0 {
            return Err(err("messages are counted from 1"));
        }
        let i = usize::try_from(n - 1).unwrap_or(usize::MAX);
        match self.messages.get(i) {
            None => Err(err("not that many messages")),
            Some(m) if m.deleted => Err(err("already deleted")),
            Some(_) => Ok(i),
        }
    }

    fn listing(&self, arg: &[u8], item: impl Fn(&Message) -> String) -> Step {
        if arg.is_empty() {
            let mut out = OK.to_vec();
            for (i, m) in self.messages.iter().enumerate() {
                if !m.deleted {
                    out.extend_from_slice(format!("{} {}\r\n", i + 1, item(m)).as_bytes());
                }
            }
            out.extend_from_slice(b".\r\n");
            return Step::Reply(out);
        }
        match self.number(arg) {
            Ok(i) => {
                Step::Reply(format!("+OK {} {}\r\n", i + 1, item(&self.messages[i])).into_bytes())
            }
            Err(e) => e,
        }
    }

    /// The step for one command line.
    pub fn command(&mut self, line: &[u8]) -> Step {
        let (verb, arg) = line::split(line);
        match &verb[..] {
            b"stat" => {
                let size: u64 = self
                    .messages
                    .iter()
                    .filter(|m| !m.deleted)
                    .map(|m| m.size)
                    .sum();
                Step::Reply(format!("+OK {} {}\r\n", self.messages.len(), size).into_bytes())
            }
            b"list" => self.listing(arg, |m| m.size.to_string()),
            b"uidl" => self.listing(arg, |m| m.uid().to_string()),
            b"retr" | b"top" => match self.number(arg) {
                Ok(index) => {
                    // qmail skips the number's digits and spaces; further
                    // digits are TOP's line count, else the whole message.
                    let digits = arg.iter().take_while(|b| b.is_ascii_digit()).count();
                    let rest = &arg[digits..];
                    let rest = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
                    let body_lines = rest
                        .first()
                        .filter(|b| b.is_ascii_digit())
                        .map(|_| sys::scan::scan_ulong(rest));
                    Step::Send { index, body_lines }
                }
                Err(e) => e,
            },
            b"dele" => match self.number(arg) {
                Ok(i) => {
                    self.messages[i].deleted = true;
                    self.last = self.last.max(i + 1);
                    Step::Reply(OK.to_vec())
                }
                Err(e) => e,
            },
            b"rset" => {
                for m in &mut self.messages {
                    m.deleted = false;
                }
                self.last = 0;
                Step::Reply(OK.to_vec())
            }
            b"last" => Step::Reply(format!("+OK {}\r\n", self.last).into_bytes()),
            b"noop" => Step::Reply(OK.to_vec()),
            b"capa" => Step::Reply(CAPA.to_vec()),
            b"quit" => Step::Quit,
            _ => err("unimplemented"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::LineReader;

    fn three() -> Session {
        Session::new(vec![
            Message {
                path: "cur/1.a.h:2,S".into(),
                size: 8,
                deleted: false,
            },
            Message {
                path: "new/2.b.h".into(),
                size: 9,
                deleted: false,
            },
            Message {
                path: "new/3.c.h".into(),
                size: 16,
                deleted: false,
            },
        ])
    }

    /// Feed `input` split every `step` bytes; the replies, with Send and
    /// Quit written as markers.
    fn run(input: &[u8], step: usize) -> String {
        let mut s = three();
        let mut r = LineReader::new();
        let mut out = String::new();
        for chunk in input.chunks(step) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let (line, used) = r.push(rest);
                rest = &rest[used..];
                if let Some(line) = line {
                    match s.command(&line) {
                        Step::Reply(b) => out.push_str(&String::from_utf8_lossy(&b)),
                        Step::Send { index, body_lines } => {
                            out.push_str(&format!("<send {index} {body_lines:?}>"))
                        }
                        Step::Quit => out.push_str("<quit>"),
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_observed_session_split_at_every_byte() {
        // reference pop3.md §7, with our Maildir names.
        let input = b"STAT\r\nLIST\r\nUIDL\r\nDELE 1\r\nSTAT\r\nLIST\r\nRETR 1\r\nLAST\r\n\
LIST 0\r\nLIST 9\r\nLIST x\r\nFOO\r\nQUIT\r\n";
        let want = "+OK 3 33\r\n+OK \r\n1 8\r\n2 9\r\n3 16\r\n.\r\n\
+OK \r\n1 1.a.h\r\n2 2.b.h\r\n3 3.c.h\r\n.\r\n+OK \r\n+OK 3 25\r\n\
+OK \r\n2 9\r\n3 16\r\n.\r\n-ERR already deleted\r\n+OK 1\r\n\
-ERR messages are counted from 1\r\n-ERR not that many messages\r\n\
-ERR syntax error\r\n-ERR unimplemented\r\n<quit>";
        for step in 1..=input.len() {
            assert_eq!(run(input, step), want, "step {step}");
        }
    }

    #[test]
    fn numbers_and_top_counts_as_qmail_reads_them() {
        let out = run(
            b"LIST 1x\r\nUIDL 2\r\nTOP 1 0\r\nTOP 2\r\nRETR 3 5\r\nTOP 1x 2\r\nTOP -1\r\n\
DELE 3\r\nDELE 2\r\nLAST\r\nRSET\r\nLAST\r\nSTAT\r\nnoop x\r\nCAPA\r\nUSER a\r\n\tSTAT\r\n",
            1,
        );
        assert_eq!(
            out,
            "+OK 1 8\r\n+OK 2 2.b.h\r\n<send 0 Some(0)><send 1 None><send 2 Some(5)>\
<send 0 None>-ERR syntax error\r\n+OK \r\n+OK \r\n+OK 3\r\n+OK \r\n+OK 0\r\n+OK 3 33\r\n\
+OK \r\n+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\n.\r\n-ERR unimplemented\r\n-ERR unimplemented\r\n"
        );
    }

    #[test]
    fn unique_ids_stop_at_the_first_colon() {
        let m = |p: &str| Message {
            path: p.into(),
            size: 0,
            deleted: false,
        };
        assert_eq!(
            m("cur/1700000300.M3P3.host:2,S").uid(),
            "1700000300.M3P3.host"
        );
        assert_eq!(m("new/1700000300.M3P3.host").uid(), "1700000300.M3P3.host");
        assert_eq!(m("cur/a:2,:2,").uid(), "a");
    }
}
