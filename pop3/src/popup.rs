//! qmail-popup's session (RFC 1939's AUTHORIZATION state), sans-IO: each
//! command line gives a [`Step`]; the process code runs the
//! checkpassword program for [`Step::Login`] and reports back with
//! [`Session::login_failed`] when it did not log the client in.
//!
//! The replies are qmail's bytes (reference: pop3.md §3). Our additions,
//! all in commands qmail answers `-ERR authorization first`:
//! - `CAPA` (RFC 2449). PIPELINING is true here: the process code reads
//!   the client one byte at a time before the login, so nothing sent
//!   after PASS is lost to qmail-pop3d (qmail-popup 1.03 loses it).
//! - `AUTH PLAIN` (RFC 5034, RFC 4616), through the same checkpassword
//!   call as PASS: authcid as the name, the password, the timestamp.
//! - A settable number of login tries per connection; qmail's one (a
//!   failed login closes the connection) is the default.
//!
//! - `STLS` (RFC 2595) when the process code has a certificate
//!   ([`Session::offer_tls`]): [`Step::StartTls`], after which the
//!   session stays in AUTHORIZATION and CAPA no longer lists STLS. While
//!   STLS is offered and not done, USER, PASS and AUTH PLAIN are refused
//!   (`-ERR [AUTH] ...`, RFC 3206) unless clear text is allowed
//!   (`POP3_CLEARTEXT`); APOP never sends the password and stays open.

use crate::{base64, line};

pub const OK: &[u8] = b"+OK \r\n";

/// CAPA before the login.
pub const CAPA: &[u8] = b"+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\n.\r\n";

/// The most login tries a setting may allow.
pub const MAX_TRIES: u32 = 10;

#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes.
    Reply(Vec<u8>),
    /// Run the checkpassword program with this name and password (and
    /// the greeting's timestamp) on fd 3.
    Login { name: Vec<u8>, password: Vec<u8> },
    /// Write these bytes and exit 1.
    Close(Vec<u8>),
    /// Write `+OK`, then run the TLS handshake on the client's fds.
    StartTls,
}

/// The reply to USER, PASS and AUTH before STLS when clear text is not
/// allowed.
pub const NEED_TLS: &[u8] = b"-ERR [AUTH] STLS first: no password in clear text\r\n";

fn err(text: &str) -> Step {
    Step::Reply(format!("-ERR {text}\r\n").into_bytes())
}

#[derive(Debug)]
pub struct Session {
    timestamp: Vec<u8>,
    /// The name of the last accepted USER.
    user: Option<Vec<u8>>,
    /// `AUTH PLAIN` without an initial response: the next line is it.
    plain_pending: bool,
    tries_left: u32,
    /// STLS is offered now (a certificate, TLS not yet on).
    stls: bool,
    /// Passwords may be sent outside TLS even when STLS is offered.
    cleartext: bool,
}

impl Session {
    /// `hostname` goes verbatim into the timestamp `<PID.TIME@HOSTNAME>`;
    /// `tries`: failed logins allowed before the connection closes.
    pub fn new(hostname: &[u8], pid: u32, time: u64, tries: u32) -> Session {
        let mut timestamp = format!("<{pid}.{time}@").into_bytes();
        timestamp.extend_from_slice(hostname);
        timestamp.push(b'>');
        Session {
            timestamp,
            user: None,
            plain_pending: false,
            tries_left: tries.clamp(1, MAX_TRIES),
            stls: false,
            cleartext: true,
        }
    }

    /// Offer STLS; `cleartext`: still accept passwords outside TLS.
    pub fn offer_tls(&mut self, cleartext: bool) {
        self.stls = true;
        self.cleartext = cleartext;
    }

    /// TLS is on (after [`Step::StartTls`] or POP3S): no STLS any more,
    /// passwords allowed. The USER given before is forgotten.
    pub fn tls_started(&mut self) {
        self.stls = false;
        self.cleartext = true;
        self.user = None;
        self.plain_pending = false;
    }

    /// Passwords are refused here and now.
    fn needs_tls(&self) -> bool {
        self.stls && !self.cleartext
    }

    /// CAPA: qmail-popup's with STLS while offered; without USER and
    /// SASL while passwords wait for TLS.
    fn capa(&self) -> Vec<u8> {
        let mut c = b"+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\n".to_vec();
        if !self.needs_tls() {
            c.extend_from_slice(b"USER\r\nSASL PLAIN\r\n");
        }
        if self.stls {
            c.extend_from_slice(b"STLS\r\n");
        }
        c.extend_from_slice(b".\r\n");
        c
    }

    /// The APOP timestamp, brackets included.
    pub fn timestamp(&self) -> &[u8] {
        &self.timestamp
    }

    /// `+OK <PID.TIME@HOSTNAME>`.
    pub fn greeting(&self) -> Vec<u8> {
        let mut g = b"+OK ".to_vec();
        g.extend_from_slice(&self.timestamp);
        g.extend_from_slice(b"\r\n");
        g
    }

    /// The checkpassword program did not log the client in (any exit but
    /// 0): qmail's reply, and the connection closes when no try is left.
    pub fn login_failed(&mut self) -> Step {
        self.user = None;
        self.tries_left = self.tries_left.saturating_sub(1);
        let reply = b"-ERR authorization failed\r\n".to_vec();
        if self.tries_left == 0 {
            Step::Close(reply)
        } else {
            Step::Reply(reply)
        }
    }

    pub fn command(&mut self, line: &[u8]) -> Step {
        if self.plain_pending {
            self.plain_pending = false;
            if line == b"*" {
                return err("authentication aborted");
            }
            return self.plain(line);
        }
        let (verb, arg) = line::split(line);
        if self.needs_tls() && matches!(&verb[..], b"user" | b"pass" | b"auth") {
            return Step::Reply(NEED_TLS.to_vec());
        }
        match &verb[..] {
            b"stls" if self.stls => Step::StartTls,
            b"user" => {
                if arg.is_empty() {
                    return err("syntax error");
                }
                self.user = Some(arg.to_vec());
                Step::Reply(OK.to_vec())
            }
            b"pass" => match &self.user {
                None => err("USER first"),
                Some(_) if arg.is_empty() => err("syntax error"),
                Some(name) => Step::Login {
                    name: name.clone(),
                    password: arg.to_vec(),
                },
            },
            b"apop" => match arg.iter().position(|&b| b == b' ') {
                None => err("syntax error"),
                Some(i) => Step::Login {
                    name: arg[..i].to_vec(),
                    password: arg[i + 1..].to_vec(),
                },
            },
            b"auth" => self.auth(arg),
            b"capa" => Step::Reply(self.capa()),
            b"noop" => Step::Reply(OK.to_vec()),
            b"quit" => Step::Close(OK.to_vec()),
            _ => err("authorization first"),
        }
    }

    fn auth(&mut self, arg: &[u8]) -> Step {
        if arg.is_empty() {
            return Step::Reply(b"+OK \r\nPLAIN\r\n.\r\n".to_vec());
        }
        let (mech, initial) = line::split(arg);
        if mech != b"plain" {
            return err("unrecognized authentication type");
        }
        if initial.is_empty() {
            self.plain_pending = true;
            return Step::Reply(b"+ \r\n".to_vec());
        }
        self.plain(initial)
    }

    /// RFC 4616's `authzid NUL authcid NUL password`, base64 (`=` for
    /// empty). A proxy login (authzid not the authcid) is refused: the
    /// checkpassword interface has no place for it.
    fn plain(&mut self, text: &[u8]) -> Step {
        let decoded = if text == b"=" {
            Some(Vec::new())
        } else {
            base64::decode(text)
        };
        let Some(decoded) = decoded else {
            return err("syntax error");
        };
        let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        let [authzid, authcid, password] = parts[..] else {
            return err("syntax error");
        };
        if authcid.is_empty() || password.is_empty() {
            return err("syntax error");
        }
        if !authzid.is_empty() && authzid != authcid {
            return self.login_failed();
        }
        Step::Login {
            name: authcid.to_vec(),
            password: password.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::LineReader;

    fn run(s: &mut Session, input: &[u8], step: usize) -> String {
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
                        Step::Login { name, password } => out.push_str(&format!(
                            "<login {} {}>",
                            String::from_utf8_lossy(&name),
                            String::from_utf8_lossy(&password)
                        )),
                        Step::Close(b) => {
                            out.push_str(&String::from_utf8_lossy(&b));
                            out.push_str("<close>")
                        }
                        Step::StartTls => {
                            out.push_str("<stls>");
                            s.tls_started();
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn greeting_has_the_apop_timestamp() {
        let s = Session::new(b"pop.test", 32585, 1796234554, 1);
        assert_eq!(s.greeting(), b"+OK <32585.1796234554@pop.test>\r\n");
        assert_eq!(s.timestamp(), b"<32585.1796234554@pop.test>");
    }

    #[test]
    fn qmail_replies_split_at_every_byte() {
        let input = b"PASS x\r\nUSER\r\nUSER   \r\nSTAT\r\nCAPx\r\n\r\nNOOP a\r\nUSER a b\r\n\
PASS\r\nAPOP nospace\r\nAPOP bob  d1 d2\r\nPASS  secret \r\nQUIT\r\n";
        let want = "-ERR USER first\r\n-ERR syntax error\r\n-ERR syntax error\r\n\
-ERR authorization first\r\n-ERR authorization first\r\n-ERR authorization first\r\n\
+OK \r\n+OK \r\n-ERR syntax error\r\n-ERR syntax error\r\n<login bob  d1 d2>\
<login a b secret >+OK \r\n<close>";
        for step in 1..=input.len() {
            let mut s = Session::new(b"h", 1, 2, 1);
            assert_eq!(run(&mut s, input, step), want, "step {step}");
        }
    }

    #[test]
    fn one_failed_login_closes_as_in_qmail() {
        let mut s = Session::new(b"h", 1, 2, 1);
        assert_eq!(
            s.login_failed(),
            Step::Close(b"-ERR authorization failed\r\n".to_vec())
        );
    }

    #[test]
    fn login_tries_are_bounded() {
        let mut s = Session::new(b"h", 1, 2, 3);
        assert!(matches!(s.login_failed(), Step::Reply(_)));
        // After a failure, USER must come again.
        assert_eq!(run(&mut s, b"PASS x\r\n", 1), "-ERR USER first\r\n");
        assert!(matches!(s.login_failed(), Step::Reply(_)));
        assert!(matches!(s.login_failed(), Step::Close(_)));
        let mut s = Session::new(b"h", 1, 2, 1000);
        for _ in 1..MAX_TRIES {
            assert!(matches!(s.login_failed(), Step::Reply(_)));
        }
        assert!(matches!(s.login_failed(), Step::Close(_)));
    }

    #[test]
    fn capa_and_auth_plain() {
        let mut s = Session::new(b"h", 1, 2, 5);
        let input = b"CAPA\r\nAUTH\r\nAUTH CRAM-MD5\r\nauth plain AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n\
AUTH PLAIN\r\nAHRpbQBzZWNyZXQ=\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN x\r\nAUTH PLAIN =\r\n\
AUTH PLAIN YQBiAGM=\r\n";
        assert_eq!(
            run(&mut s, input, 1),
            "+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\n.\r\n\
+OK \r\nPLAIN\r\n.\r\n-ERR unrecognized authentication type\r\n<login tim tanstaaftanstaaf>\
+ \r\n<login tim secret>+ \r\n-ERR authentication aborted\r\n-ERR syntax error\r\n\
-ERR syntax error\r\n-ERR authorization failed\r\n"
        );
    }

    #[test]
    fn stls_and_no_password_in_clear_text() {
        let mut s = Session::new(b"h", 1, 2, 1);
        assert_eq!(run(&mut s, b"STLS\r\n", 1), "-ERR authorization first\r\n");
        s.offer_tls(false);
        let input = b"CAPA\r\nUSER a\r\nPASS b\r\nAUTH PLAIN AGEAYg==\r\nSTLS\r\n\
CAPA\r\nSTLS\r\nUSER a\r\nPASS b\r\n";
        let need = String::from_utf8_lossy(NEED_TLS);
        for step in 1..=input.len() {
            let mut s = Session::new(b"h", 1, 2, 1);
            s.offer_tls(false);
            assert_eq!(
                run(&mut s, input, step),
                format!(
                    "+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\nSTLS\r\n.\r\n{need}{need}{need}<stls>\
+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\n.\r\n\
-ERR authorization first\r\n+OK \r\n<login a b>"
                ),
                "step {step}"
            );
        }
        // POP3_CLEARTEXT: STLS offered, passwords allowed before it.
        let mut s = Session::new(b"h", 1, 2, 1);
        s.offer_tls(true);
        assert_eq!(
            run(&mut s, b"CAPA\r\nUSER a\r\nPASS b\r\n", 1),
            "+OK \r\nTOP\r\nUIDL\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\nSTLS\r\n.\r\n\
+OK \r\n<login a b>"
        );
    }
}
