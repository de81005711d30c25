//! qmail-inject (qmail-inject.8, qmail-header.5): read a message, fix its
//! header, choose its envelope, and queue it.
//!
//! The header work is in [`Injector`], without I/O: it takes the header
//! fields one by one and returns the header to write once the header
//! ends. [`main`] reads stdin, feeds it through
//! [`crate::headerbody::HeaderBody`] and writes to qmail-queue (or to
//! stdout with `-n`).
//!
//! An envelope address holding a CR, LF or NUL is refused (exit 100)
//! before qmail-queue is started, wherever it came from (`-f`, the
//! arguments, QMAILUSER and friends, Return-Path, the recipient fields):
//! qmail-queue's envelope ends an address at a NUL, so a NUL would make
//! one recipient two, and a CR or LF would reach qmail-remote's SMTP
//! command lines.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStringExt;

use control::qmail_queue::QueueClient;
use control::{ConstMap, Home};
use sys::getopt::{Getopt, Opt};

use crate::headerbody::{Event, HeaderBody};
use crate::hfield::{self, Field};
use crate::rewrite::Rewriter;
use crate::token822::{self, Kind, Token};

/// Folding width for rewritten address fields.
const LINELEN: usize = 80;

/// A reason to stop: exit code (100 permanent, 111 temporary) and the
/// text after `qmail-inject: fatal: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    pub code: i32,
    pub text: Vec<u8>,
}

impl Fatal {
    fn perm(text: impl Into<Vec<u8>>) -> Fatal {
        Fatal {
            code: 100,
            text: text.into(),
        }
    }

    fn temp(text: impl Into<Vec<u8>>) -> Fatal {
        Fatal {
            code: 111,
            text: text.into(),
        }
    }

    /// Usage error: qmail-inject prints nothing and exits 100.
    fn usage() -> Fatal {
        Fatal::perm(Vec::new())
    }
}

fn unparsable(line: &[u8]) -> Fatal {
    let mut t = b"unable to parse this line:\n".to_vec();
    t.extend_from_slice(line);
    Fatal::perm(t)
}

/// Where recipients come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `-A`: arguments if there are any, else the header.
    Default,
    /// `-a`
    Args,
    /// `-h`
    Header,
    /// `-H`
    Both,
}

/// qmail-inject's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub strategy: Strategy,
    /// `-N` (queue, the default) or `-n` (print).
    pub queue: bool,
    /// `-f`, already rewritten.
    pub sender: Option<Vec<u8>>,
    pub recipients: Vec<Vec<u8>>,
}

/// The settings from the environment (QMAILINJECT and the user and host
/// variables) and the control files.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rewriter: Rewriter,
    pub idhost: Vec<u8>,
    /// QMAILINJECT `c`: `From: user@host (Full Name)`.
    pub name_comment: bool,
    /// `s`: ignore an incoming Return-Path.
    pub delete_sender: bool,
    /// `f`: delete an incoming From.
    pub delete_from: bool,
    /// `i`: delete an incoming Message-ID.
    pub delete_message_id: bool,
    /// `r`: per-recipient VERP.
    pub verp_recipient: bool,
    /// `m`: per-message VERP.
    pub verp_message: bool,
    pub mailhost: Option<Vec<u8>>,
    pub mailuser: Vec<u8>,
    pub mailrhost: Option<Vec<u8>>,
    pub mailruser: Vec<u8>,
    pub fullname: Option<Vec<u8>>,
    /// QMAILMFTFILE's addresses.
    pub mft: Option<ConstMap>,
    pub pid: u32,
    pub now: i64,
}

/// Look up an environment variable as bytes.
pub type EnvFn<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

impl Settings {
    /// Read QMAILINJECT, QMAILUSER and friends through `env`, and the
    /// control files under `home`.
    pub fn load(home: &Home, env: EnvFn<'_>) -> Result<Settings, Fatal> {
        let first = |names: &[&str]| names.iter().find_map(|n| env(n));
        let opts = env("QMAILINJECT").unwrap_or_default();
        let has = |c: u8| opts.contains(&c);

        let mailhost = first(&["QMAILHOST", "MAILHOST"]);
        let mailuser = first(&["QMAILUSER", "MAILUSER", "USER", "LOGNAME"])
            .unwrap_or_else(|| b"anonymous".to_vec());
        let mft = match env("QMAILMFTFILE") {
            None => None,
            Some(path) => match std::fs::read(std::ffi::OsStr::new(&OsString::from_vec(path))) {
                Ok(text) => Some(ConstMap::from_list(&control::file::parse_list(&text))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(_) => return Err(Fatal::temp("read error")),
            },
        };

        let read_err = |_| Fatal::temp("read error");
        let me = home.me().map_err(read_err)?;
        let rldef = |name: &str, default: &str| -> Result<Vec<u8>, Fatal> {
            Ok(match home.line(name).map_err(read_err)? {
                Some(v) => v,
                None => me.clone().unwrap_or_else(|| default.as_bytes().to_vec()),
            })
        };
        let defaultdomain = env("QMAILDEFAULTDOMAIN")
            .map_or_else(|| rldef("defaultdomain", "defaultdomain"), Ok)?;
        let defaulthost =
            env("QMAILDEFAULTHOST").map_or_else(|| rldef("defaulthost", "defaulthost"), Ok)?;
        let plusdomain =
            env("QMAILPLUSDOMAIN").map_or_else(|| rldef("plusdomain", "plusdomain"), Ok)?;
        let idhost = env("QMAILIDHOST").map_or_else(|| rldef("idhost", "idhost"), Ok)?;
        let rewriter = Rewriter::new(&defaulthost, &defaultdomain, &plusdomain)
            .map_err(|line| unparsable(&line))?;

        Ok(Settings {
            rewriter,
            idhost,
            name_comment: has(b'c'),
            delete_sender: has(b's'),
            delete_from: has(b'f'),
            delete_message_id: has(b'i'),
            verp_recipient: has(b'r'),
            verp_message: has(b'm'),
            mailrhost: env("QMAILSHOST").or_else(|| mailhost.clone()),
            mailruser: env("QMAILSUSER").unwrap_or_else(|| mailuser.clone()),
            mailhost,
            mailuser,
            fullname: first(&["QMAILNAME", "MAILNAME", "NAME"]),
            mft,
            pid: std::process::id(),
            now: control::datetime::now_secs(),
        })
    }
}

/// Parse the arguments after the program name.
pub fn parse_args(
    args: impl IntoIterator<Item = OsString>,
    rewriter: &Rewriter,
) -> Result<Options, Fatal> {
    let mut o = Options {
        strategy: Strategy::Default,
        queue: true,
        sender: None,
        recipients: Vec::new(),
    };
    let mut g = Getopt::new(args, "aAhHnNf:");
    for opt in g.by_ref() {
        match opt {
            Opt::Found(b'a', _) => o.strategy = Strategy::Args,
            Opt::Found(b'A', _) => o.strategy = Strategy::Default,
            Opt::Found(b'h', _) => o.strategy = Strategy::Header,
            Opt::Found(b'H', _) => o.strategy = Strategy::Both,
            Opt::Found(b'n', _) => o.queue = false,
            Opt::Found(b'N', _) => o.queue = true,
            Opt::Found(b'f', Some(s)) => {
                let quoted = control::quote::quote2(&s);
                let s = rewriter.address(&s).ok_or_else(|| unparsable(&quoted))?;
                o.sender = Some(s);
            }
            _ => return Err(Fatal::usage()),
        }
    }
    o.recipients = g.operands();
    if o.strategy == Strategy::Default {
        o.strategy = if o.recipients.is_empty() {
            Strategy::Header
        } else {
            Strategy::Args
        };
    }
    if o.strategy == Strategy::Header {
        o.recipients.clear();
    }
    Ok(o)
}

/// The header work of one message.
pub struct Injector {
    settings: Settings,
    queue: bool,
    sender: Option<Vec<u8>>,
    /// Header recipients are used (not `-a`).
    use_header: bool,
    seen: HashSet<Field>,
    saved: Vec<Vec<u8>>,
    /// Recipients from To, Cc, Bcc, Apparently-To.
    hr: Vec<Vec<u8>>,
    /// Recipients from To and Cc (for Mail-Followup-To).
    tocc: Vec<Vec<u8>>,
    /// Recipients from Resent-To, -Cc, -Bcc.
    hrr: Vec<Vec<u8>>,
    /// Recipients from the command line.
    args: Vec<Vec<u8>>,
    resent: bool,
}

/// Reverse, unquote, for an address handed out in reverse order.
fn raw(addr: &[Token]) -> Vec<u8> {
    let mut fwd = addr.to_vec();
    fwd.reverse();
    token822::unquote(&fwd)
}

impl Injector {
    /// Start a message. Command-line recipients are rewritten here; one
    /// that does not parse is fatal.
    pub fn new(settings: Settings, options: &Options) -> Result<Injector, Fatal> {
        let mut args = Vec::new();
        for r in &options.recipients {
            match settings.rewriter.address(r) {
                Some(a) => args.push(a),
                None => {
                    let mut t = b"unable to parse address: ".to_vec();
                    t.extend_from_slice(r);
                    return Err(Fatal::perm(t));
                }
            }
        }
        Ok(Injector {
            queue: options.queue,
            sender: options.sender.clone(),
            use_header: options.strategy != Strategy::Args,
            settings,
            seen: HashSet::new(),
            saved: Vec::new(),
            hr: Vec::new(),
            tocc: Vec::new(),
            hrr: Vec::new(),
            args,
            resent: false,
        })
    }

    fn set_return(&mut self, addr: &[Token]) {
        if self.sender.is_none() {
            let mut s = raw(addr);
            if self.settings.verp_recipient {
                s.extend_from_slice(b"-@[]");
            }
            self.sender = Some(s);
        }
    }

    /// Take one header field (with its continuation lines).
    pub fn field(&mut self, mut h: Vec<u8>) -> Result<(), Fatal> {
        let kind = hfield::known(&h);
        let s = &self.settings;
        match kind {
            Some(Field::From) if s.delete_from => return Ok(()),
            Some(Field::MessageId) if s.delete_message_id => return Ok(()),
            Some(Field::ReturnPath) if s.delete_sender => return Ok(()),
            _ => {}
        }
        match kind {
            Some(k) => {
                self.seen.insert(k);
            }
            None => {
                if !hfield::valid(&h) {
                    let mut t = b"invalid header field: ".to_vec();
                    t.extend_from_slice(&h);
                    return Err(Fatal::perm(t));
                }
            }
        }
        #[derive(PartialEq)]
        enum Rw {
            ToCc,
            Hr,
            Hrr,
            Return,
            Sender,
        }
        let rw = match kind {
            Some(Field::To | Field::Cc) => Some(Rw::ToCc),
            Some(Field::Bcc | Field::ApparentlyTo) => Some(Rw::Hr),
            Some(Field::ResentTo | Field::ResentCc | Field::ResentBcc) => Some(Rw::Hrr),
            Some(Field::ReturnPath) => Some(Rw::Return),
            Some(
                Field::Sender
                | Field::From
                | Field::ReplyTo
                | Field::ReturnReceiptTo
                | Field::ErrorsTo
                | Field::ResentSender
                | Field::ResentFrom
                | Field::ResentReplyTo,
            ) => Some(Rw::Sender),
            _ => None,
        };
        if let Some(rw) = rw {
            // Recipient fields that do not parse are passed on as they
            // are; other address fields must parse.
            let may_fail = matches!(rw, Rw::ToCc | Rw::Hr | Rw::Hrr);
            let tokens = token822::parse(&h);
            let rewritten = tokens.and_then(|t| {
                let rewriter = self.settings.rewriter.clone();
                let mut returns: Vec<Vec<Token>> = Vec::new();
                let out = token822::addr_list(&t, &mut |addr: &mut Vec<Token>| {
                    rewriter.generic(addr);
                    match rw {
                        Rw::ToCc => {
                            self.hr.push(raw(addr));
                            self.tocc.push(raw(addr));
                        }
                        Rw::Hr => self.hr.push(raw(addr)),
                        Rw::Hrr => self.hrr.push(raw(addr)),
                        Rw::Return => returns.push(addr.clone()),
                        Rw::Sender => {}
                    }
                });
                for r in returns {
                    self.set_return(&r);
                }
                out
            });
            match rewritten {
                Some(out) => h = token822::unparse(&out, LINELEN),
                None if may_fail => {}
                None => return Err(unparsable(&h)),
            }
        }
        match kind {
            Some(Field::Bcc | Field::ResentBcc | Field::ReturnPath | Field::ContentLength) => {}
            _ => self.saved.push(h),
        }
        Ok(())
    }

    /// `From:` (or `Resent-From:`) for this user.
    fn default_from(&self) -> Result<Vec<u8>, Fatal> {
        let s = &self.settings;
        let mut t = vec![Token::new(Kind::Atom, b"From"), Token::special(Kind::Colon)];
        let named = s.fullname.as_ref().filter(|_| !s.name_comment);
        if let Some(n) = named {
            t.push(Token::new(Kind::Quote, n));
            t.push(Token::special(Kind::Left));
        }
        let kind = if control::quote::quote_need(&s.mailuser) {
            Kind::Quote
        } else {
            Kind::Atom
        };
        t.push(Token::new(kind, &s.mailuser));
        if let Some(h) = &s.mailhost {
            t.push(Token::special(Kind::At));
            t.push(Token::new(Kind::Atom, h));
        }
        if named.is_some() {
            t.push(Token::special(Kind::Right));
        }
        if let (Some(n), true) = (&s.fullname, s.name_comment) {
            t.push(Token::new(Kind::Comment, n));
        }
        let text = token822::unparse(&t, LINELEN);
        let parsed = token822::parse(&text).ok_or_else(|| unparsable(&text))?;
        let rewriter = &s.rewriter;
        let out = token822::addr_list(&parsed, &mut |a: &mut Vec<Token>| rewriter.generic(a))
            .ok_or_else(|| unparsable(&text))?;
        Ok(token822::unparse(&out, LINELEN))
    }

    /// The envelope sender when neither `-f` nor a Return-Path gave one.
    fn default_return_path(&mut self) -> Result<(), Fatal> {
        let s = &self.settings;
        let mut user = s.mailruser.clone();
        if s.verp_message {
            user.extend_from_slice(format!("-{}.{}", s.now, s.pid).as_bytes());
        }
        if s.verp_recipient {
            user.push(b'-');
        }
        let mut t = vec![
            Token::new(Kind::Atom, b"Return-Path"),
            Token::special(Kind::Colon),
            Token::new(Kind::Quote, &user),
        ];
        if let Some(h) = &s.mailrhost {
            t.push(Token::special(Kind::At));
            t.push(Token::new(Kind::Atom, h));
        }
        let text = token822::unparse(&t, LINELEN);
        let parsed = token822::parse(&text).ok_or_else(|| unparsable(&text))?;
        let rewriter = s.rewriter.clone();
        let mut found = Vec::new();
        token822::addr_list(&parsed, &mut |a: &mut Vec<Token>| {
            rewriter.generic(a);
            found.push(a.clone());
        })
        .ok_or_else(|| unparsable(&text))?;
        for a in found {
            self.set_return(&a);
        }
        Ok(())
    }

    /// The header is over: the text that goes before the body (with `-n`
    /// a Return-Path first, then the fields qmail-inject adds, then the
    /// kept fields).
    pub fn end_of_header(&mut self) -> Result<Vec<u8>, Fatal> {
        use Field::*;
        self.resent = [
            ResentSender,
            ResentFrom,
            ResentReplyTo,
            ResentTo,
            ResentCc,
            ResentBcc,
            ResentDate,
            ResentMessageId,
        ]
        .iter()
        .any(|f| self.seen.contains(f));
        if self.sender.is_none() {
            self.default_return_path()?;
        }
        let mut out = Vec::new();
        if !self.queue {
            out.extend_from_slice(b"Return-Path: <");
            out.extend_from_slice(&control::quote::quote2(self.sender()));
            out.extend_from_slice(b">\n");
        }
        let t = control::datetime::DateTime::from_unix(self.settings.now);
        let date = format!("Date: {}\n", control::datetime::date822(&t));
        let mut msgid = format!(
            "Message-ID: <{}.{}.qmail@",
            control::datetime::stamp(&t),
            self.settings.pid
        )
        .into_bytes();
        msgid.extend_from_slice(&self.settings.idhost);
        msgid.extend_from_slice(b">\n");
        let seen = |f: Field| self.seen.contains(&f);
        if self.resent {
            if !seen(ResentDate) {
                out.extend_from_slice(b"Resent-");
                out.extend_from_slice(date.as_bytes());
            }
            if !seen(ResentMessageId) {
                out.extend_from_slice(b"Resent-");
                out.extend_from_slice(&msgid);
            }
            if !seen(ResentFrom) {
                out.extend_from_slice(b"Resent-");
                out.extend_from_slice(&self.default_from()?);
            }
            if !seen(ResentTo) && !seen(ResentCc) {
                out.extend_from_slice(b"Resent-Cc: recipient list not shown: ;\n");
            }
        } else {
            if !seen(Date) {
                out.extend_from_slice(date.as_bytes());
            }
            if !seen(MessageId) {
                out.extend_from_slice(&msgid);
            }
            if !seen(From) {
                out.extend_from_slice(&self.default_from()?);
            }
            if !seen(To) && !seen(Cc) {
                out.extend_from_slice(b"Cc: recipient list not shown: ;\n");
            }
            self.mail_followup_to(&mut out);
        }
        for h in &self.saved {
            out.extend_from_slice(h);
        }
        Ok(out)
    }

    fn mail_followup_to(&self, out: &mut Vec<u8>) {
        let Some(mft) = &self.settings.mft else {
            return;
        };
        if self.seen.contains(&Field::MailFollowupTo) || !self.tocc.iter().any(|a| mft.contains(a))
        {
            return;
        }
        out.extend_from_slice(b"Mail-Followup-To: ");
        for (i, a) in self.tocc.iter().rev().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",\n  ");
            }
            out.extend_from_slice(&control::quote::quote2(a));
        }
        out.push(b'\n');
    }

    /// Refuse an envelope that no later program can carry (see the
    /// module doc); call after [`end_of_header`](Self::end_of_header).
    pub fn check_envelope(&self) -> Result<(), Fatal> {
        let bad = |a: &[u8]| a.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0));
        let refuse = |which: &str, a: &[u8]| {
            let mut t = format!("{which} address holds a CR, LF or NUL: ").into_bytes();
            for &b in a {
                match b {
                    b'\r' => t.extend_from_slice(b"\\r"),
                    b'\n' => t.extend_from_slice(b"\\n"),
                    0 => t.extend_from_slice(b"\\0"),
                    _ => t.push(b),
                }
            }
            Err(Fatal::perm(t))
        };
        if bad(self.sender()) {
            return refuse("sender", self.sender());
        }
        match self.recipients().iter().find(|r| bad(r)) {
            Some(r) => refuse("recipient", r),
            None => Ok(()),
        }
    }

    /// The envelope sender (after [`end_of_header`](Self::end_of_header)).
    pub fn sender(&self) -> &[u8] {
        self.sender.as_deref().unwrap_or_default()
    }

    /// The envelope recipients: the command line's, then the header's
    /// (the Resent- fields' for a resent message) unless `-a`.
    pub fn recipients(&self) -> Vec<Vec<u8>> {
        let mut r = self.args.clone();
        if self.use_header {
            r.extend(
                if self.resent { &self.hrr } else { &self.hr }
                    .iter()
                    .cloned(),
            );
        }
        r
    }
}

/// Where the message goes.
enum Sink<'a> {
    Queue(QueueClient),
    Print(&'a mut dyn Write),
}

impl Sink<'_> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Sink::Queue(q) => {
                q.put(b);
                Ok(())
            }
            Sink::Print(w) => w.write_all(b),
        }
    }
}

/// Run qmail-inject: `args` after the program name, the message on
/// `input`, `-n` output on `out`.
pub fn run(
    home: &Home,
    env: EnvFn<'_>,
    args: impl IntoIterator<Item = OsString>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), Fatal> {
    let settings = Settings::load(home, env)?;
    let options = parse_args(args, &settings.rewriter)?;
    let mut inj = Injector::new(settings, &options)?;
    let mut hb = HeaderBody::new();
    let mut sink: Option<Sink> = None;
    let mut out = Some(out);
    let mut events = Vec::new();
    let mut line = Vec::with_capacity(1024);
    let mut done = false;
    while !done {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|_| Fatal::temp("read error"))?;
        if n == 0 {
            hb.finish(&mut events);
            done = true;
        } else {
            if line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            hb.line(&line, &mut events);
        }
        for ev in events.drain(..) {
            match ev {
                Event::Field(h) => inj.field(h)?,
                Event::EndOfHeader => {
                    let header = inj.end_of_header()?;
                    inj.check_envelope()?;
                    let mut s = if options.queue {
                        let q = QueueClient::open(home)
                            .map_err(|_| Fatal::temp("unable to run qmail-queue"))?;
                        Sink::Queue(q)
                    } else {
                        Sink::Print(out.take().expect("one header"))
                    };
                    s.put(&header).map_err(|_| Fatal::temp("write error"))?;
                    sink = Some(s);
                }
                Event::Body(b) => {
                    if let Some(s) = sink.as_mut() {
                        s.put(&b).map_err(|_| Fatal::temp("write error"))?;
                    }
                }
            }
        }
    }
    match sink {
        Some(Sink::Queue(q)) => q.close(inj.sender(), &inj.recipients()).map_err(|e| Fatal {
            code: if e.permanent { 100 } else { 111 },
            text: e.text.into_bytes(),
        }),
        Some(Sink::Print(w)) => w.flush().map_err(|_| Fatal::temp("write error")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("control")).unwrap();
        std::fs::write(dir.path().join("control/me"), "mail.example.com\n").unwrap();
        std::fs::write(dir.path().join("control/defaultdomain"), "example.com\n").unwrap();
        let env: Vec<(String, Vec<u8>)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut s = Settings::load(&Home::new(dir.path()), &lookup).unwrap();
        s.pid = 4242;
        s.now = 1_735_898_400;
        s
    }

    fn inject(env: &[(&str, &str)], args: &[&str], msg: &str) -> (String, Vec<u8>, Vec<Vec<u8>>) {
        let s = settings(env);
        let mut argv: Vec<OsString> = vec!["-n".into()];
        argv.extend(args.iter().map(OsString::from));
        let o = parse_args(argv, &s.rewriter).unwrap();
        let mut inj = Injector::new(s, &o).unwrap();
        let mut text = Vec::new();
        for ev in crate::headerbody::split(msg.as_bytes()) {
            match ev {
                Event::Field(h) => inj.field(h).unwrap(),
                Event::EndOfHeader => text.extend(inj.end_of_header().unwrap()),
                Event::Body(b) => text.extend(b),
            }
        }
        (
            String::from_utf8(text).unwrap(),
            inj.sender().to_vec(),
            inj.recipients(),
        )
    }

    #[test]
    fn a_bare_message_gets_its_fields() {
        let (text, sender, rcpts) = inject(&[("USER", "joe")], &[], "To: fred\n\nhi\n");
        assert_eq!(
            text,
            "Return-Path: <joe@mail.example.com>\n\
             Date: 3 Jan 2025 10:00:00 -0000\n\
             Message-ID: <20250103100000.4242.qmail@mail.example.com>\n\
             From: joe@mail.example.com\n\
             To: fred@mail.example.com\n\
             \n\
             hi\n"
        );
        assert_eq!(sender, b"joe@mail.example.com");
        assert_eq!(rcpts, vec![b"fred@mail.example.com".to_vec()]);
    }

    #[test]
    fn names_hosts_and_no_to() {
        let env = [
            ("QMAILUSER", "ann"),
            ("QMAILHOST", "host"),
            ("QMAILNAME", "Ann Smith"),
            ("USER", "ignored"),
        ];
        let (text, sender, rcpts) = inject(&env, &["bob@x.org"], "Subject: s\n\nb\n");
        assert!(
            text.contains("From: \"Ann Smith\" <ann@host.example.com>\n"),
            "{text}"
        );
        assert!(text.contains("Cc: recipient list not shown: ;\n"));
        assert!(text.contains("Subject: s\n\nb\n"));
        assert_eq!(sender, b"ann@host.example.com");
        assert_eq!(rcpts, vec![b"bob@x.org".to_vec()]);
        let mut env = env.to_vec();
        env.push(("QMAILINJECT", "c"));
        let (text, _, _) = inject(&env, &[], "To: a@b.c\n\n");
        assert!(
            text.contains("From: ann@host.example.com (Ann Smith)\n"),
            "{text}"
        );
    }

    #[test]
    fn bcc_return_path_and_content_length_are_removed() {
        let msg = "Return-Path: <rp@x.org>\nTo: a@x.org\nBcc: hidden@x.org\n\
                   Content-Length: 3\nFrom: me@x.org\nDate: d\nMessage-ID: <m@x>\n\nbody";
        let (text, sender, rcpts) = inject(&[], &[], msg);
        assert_eq!(
            text,
            "Return-Path: <rp@x.org>\nTo: a@x.org\nFrom: me@x.org\nDate: d\nMessage-ID: <m@x>\n\nbody\n"
        );
        assert_eq!(sender, b"rp@x.org");
        assert_eq!(rcpts, vec![b"a@x.org".to_vec(), b"hidden@x.org".to_vec()]);
        // QMAILINJECT=s ignores the incoming Return-Path.
        let (_, sender, _) = inject(&[("QMAILINJECT", "s"), ("USER", "u")], &[], msg);
        assert_eq!(sender, b"u@mail.example.com");
    }

    #[test]
    fn recipient_strategies() {
        let msg = "To: a@x.org\nCc: b@x.org\nApparently-To: c@x.org\n\n";
        let r = |args: &[&str]| inject(&[], args, msg).2;
        assert_eq!(r(&[]).len(), 3);
        assert_eq!(r(&["d@x.org"]), vec![b"d@x.org".to_vec()]);
        assert_eq!(r(&["-a", "d@x.org"]), vec![b"d@x.org".to_vec()]);
        assert_eq!(r(&["-h", "d@x.org"]).len(), 3);
        assert_eq!(r(&["-H", "d@x.org"]).len(), 4);
        // A resent message goes to the Resent- recipients only.
        let (text, _, rc) = inject(&[], &[], "To: a@x.org\nResent-To: r@x.org\n\n");
        assert_eq!(rc, vec![b"r@x.org".to_vec()]);
        assert!(text.contains("Resent-Date: 3 Jan 2025"));
        assert!(text.contains("Resent-Message-ID: <"));
        assert!(text.contains("Resent-From: "));
        assert!(!text.contains("\nDate:"));
    }

    #[test]
    fn sender_options_and_verp() {
        let (_, sender, _) = inject(&[], &["-f", "boss"], "To: a@x.org\n\n");
        assert_eq!(sender, b"boss@mail.example.com");
        let (_, sender, _) = inject(&[], &["-f", ""], "To: a@x.org\n\n");
        assert_eq!(sender, b"");
        let (_, sender, _) = inject(
            &[("QMAILINJECT", "r"), ("USER", "list")],
            &[],
            "To: a@x.org\n\n",
        );
        assert_eq!(sender, b"list-@mail.example.com-@[]");
        let (_, sender, _) = inject(
            &[("QMAILINJECT", "m"), ("USER", "u")],
            &[],
            "To: a@x.org\n\n",
        );
        assert_eq!(sender, b"u-1735898400.4242@mail.example.com");
    }

    #[test]
    fn unparsable_fields() {
        // A To field that does not parse is passed on untouched.
        let (text, _, rcpts) = inject(&[], &["z@x.org"], "To: (broken\n\n");
        assert!(text.contains("To: (broken\n"));
        assert_eq!(rcpts.len(), 1);
        // A From field that does not parse is fatal.
        let s = settings(&[]);
        let o = parse_args(vec![OsString::from("-n")], &s.rewriter).unwrap();
        let mut inj = Injector::new(s, &o).unwrap();
        let e = inj.field(b"From: (broken\n".to_vec()).unwrap_err();
        assert_eq!(e.code, 100);
        assert!(e.text.starts_with(b"unable to parse this line:\n"));
    }

    /// Hands out its input one byte per read.
    struct Trickle<'a>(&'a [u8]);
    impl io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.is_empty()) {
                (Some((&b, rest)), false) => {
                    buf[0] = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn input_split_at_every_byte_gives_the_same_message() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("control")).unwrap();
        std::fs::write(dir.path().join("control/me"), "mail.example.com\n").unwrap();
        let home = Home::new(dir.path());
        let env = |k: &str| (k == "USER").then(|| b"joe".to_vec());
        let msg: &[u8] = b"From x\nTo: a,\n b\nDate: d\nMessage-ID: <i@x>\nX: y\n\nbody\nlast";
        let whole = |input: &mut dyn BufRead| {
            let mut out = Vec::new();
            run(&home, &env, [OsString::from("-n")], input, &mut out).unwrap();
            out
        };
        let expect = whole(&mut &msg[..]);
        assert_eq!(
            String::from_utf8(expect.clone()).unwrap(),
            "Return-Path: <joe@mail.example.com>\nFrom: joe@mail.example.com\n\
             MBOX-Line: From x\nTo: a@mail.example.com, b@mail.example.com\n\
             Date: d\nMessage-ID: <i@x>\nX: y\n\nbody\nlast\n"
        );
        for cut in 0..=msg.len() {
            let (a, b) = msg.split_at(cut);
            let mut r = io::BufReader::with_capacity(1, io::Read::chain(Trickle(a), Trickle(b)));
            assert_eq!(whole(&mut r), expect, "cut at {cut}");
        }
    }

    #[test]
    fn usage_errors() {
        let s = settings(&[]);
        let e = parse_args(vec![OsString::from("-x")], &s.rewriter).unwrap_err();
        assert_eq!(e.code, 100);
        let e = parse_args(vec![OsString::from("-f")], &s.rewriter).unwrap_err();
        assert_eq!(e.code, 100);
    }
}
