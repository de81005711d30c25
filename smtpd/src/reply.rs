//! Every reply qmail-smtpd sends, byte for byte as netqmail 1.06 sends
//! them (qmail-smtpd.c keeps them as one-line functions at its top; here
//! they are constants), plus the few this implementation adds.
//!
//! Replies that depend on configuration (the greeting, the EHLO list, the
//! `250 ok <time> qp <pid>` acceptance) are built in [`crate::session`].

/// NOOP, and MAIL and RCPT accepted.
pub const OK: &[u8] = b"250 ok\r\n";
/// RSET.
pub const FLUSHED: &[u8] = b"250 flushed\r\n";
/// DATA accepted: the client sends the message.
pub const GO_AHEAD: &[u8] = b"354 go ahead\r\n";
/// VRFY, whatever its argument.
pub const VRFY: &[u8] = b"252 send some mail, i'll try my best\r\n";
/// HELP (netqmail's text).
pub const HELP: &[u8] = b"214 netqmail home page: http://qmail.org/netqmail\r\n";
/// Any verb not in the table, and the empty line.
pub const UNIMPLEMENTED: &[u8] = b"502 unimplemented (#5.5.1)\r\n";
/// RCPT or DATA before MAIL.
pub const WANT_MAIL: &[u8] = b"503 MAIL first (#5.5.1)\r\n";
/// DATA without an accepted RCPT.
pub const WANT_RCPT: &[u8] = b"503 RCPT first (#5.5.1)\r\n";
/// An address longer than 899 bytes.
pub const SYNTAX: &[u8] = b"555 syntax error (#5.5.4)\r\n";
/// RCPT to a domain outside rcpthosts, for a client without RELAYCLIENT.
pub const NO_GATEWAY: &[u8] =
    b"553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n";
/// RCPT after a MAIL whose sender is in badmailfrom.
pub const BAD_MAIL_FROM: &[u8] =
    b"553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\r\n";
/// A message over databytes (after the final dot), or, as an addition,
/// a MAIL whose `SIZE=` is over it.
pub const TOO_BIG: &[u8] = b"552 sorry, that message size exceeds my databytes limit (#5.3.4)\r\n";
/// 100 or more Received/Delivered-To lines.
pub const TOO_MANY_HOPS: &[u8] = b"554 too many hops, this message is looping (#5.4.6)\r\n";
/// qmail-queue could not be started (pipe or fork failed).
pub const QQT_FAILURE: &[u8] = b"451 qqt failure (#4.3.0)\r\n";
/// A bare LF inside DATA; the connection is then closed.
pub const STRAY_NEWLINE: &[u8] = b"451 See http://pobox.com/~djb/docs/smtplf.html.\r\n";
/// No command (or message data) within timeoutsmtpd; then closed.
pub const TIMEOUT: &[u8] = b"451 timeout (#4.4.2)\r\n";
/// The control files could not be read; then closed.
pub const CONTROLS: &[u8] = b"421 unable to read controls (#4.3.0)\r\n";
/// This host's addresses could not be listed; then closed.
pub const IPME: &[u8] = b"421 unable to figure out my IP addresses (#4.3.0)\r\n";

// Additions (not in qmail 1.03/netqmail).

/// A command line longer than [`crate::session::MAX_LINE`] bytes.
pub const LINE_TOO_LONG: &[u8] = b"500 line too long (#5.5.2)\r\n";
/// More than [`crate::session::MAX_RECIPIENTS`] recipients for one
/// message; RFC 5321 4.5.3.1.10 asks for 452 so the client sends the rest
/// in another transaction.
pub const TOO_MANY_RECIPIENTS: &[u8] = b"452 too many recipients (#4.5.3)\r\n";
/// A recipient that routes through us by its local part (`a%b@us`,
/// `a!b@us`, `"a@b"@us`, `b!a`), for a client without RELAYCLIENT. The
/// text is the one of the widely used qmail relay-reject patch.
pub const NO_RELAY: &[u8] = b"553 we don't relay (#5.7.1)\r\n";
/// A MAIL whose address holds a CR or LF, or whose line held a NUL.
pub const BAD_SENDER_CHAR: &[u8] = b"501 bad character in address (#5.1.7)\r\n";
/// The same in a RCPT.
pub const BAD_RCPT_CHAR: &[u8] = b"501 bad character in address (#5.1.3)\r\n";
/// The RCPT after `maxrefusedrcpt` refused ones; then closed.
pub const TOO_MANY_REFUSED: &[u8] =
    b"421 too many refused recipients, closing connection (#4.7.0)\r\n";
/// The log line (stderr) of a session that refuses every recipient
/// because `control/rcpthosts` is missing.
pub const NO_RCPTHOSTS_LOG: &[u8] = b"qmail-smtpd: warning: control/rcpthosts does not exist, so every recipient is refused to clients without RELAYCLIENT: create it, or set ALLOW_OPEN_RELAY=1 for qmail's open relay\n";

// STARTTLS (RFC 3207), the texts of netqmail's TLS patch.

/// STARTTLS accepted: the handshake follows.
pub const TLS_READY: &[u8] = b"220 ready for tls\r\n";
/// STARTTLS with an argument (RFC 3207 allows none).
pub const TLS_SYNTAX: &[u8] = b"501 syntax error, STARTTLS takes no argument (#5.5.4)\r\n";
/// STARTTLS inside TLS.
pub const TLS_AGAIN: &[u8] = b"503 TLS already active (#5.5.1)\r\n";

// SMTP AUTH (RFC 4954), the texts of the qmail-smtpd-auth patch.

/// AUTH succeeded.
pub const AUTH_OK: &[u8] = b"235 ok, go ahead (#2.0.0)\r\n";
/// The checkprogram said no.
pub const AUTH_FAILED: &[u8] = b"535 authorization failed (#5.7.0)\r\n";
/// The checkprogram failed temporarily, could not run or hung.
pub const AUTH_TEMPORARY: &[u8] = b"454 temporary authentication failure (#4.3.0)\r\n";
/// A response that is not base64, or an empty user or password.
pub const AUTH_MALFORMED: &[u8] = b"501 malformed auth input (#5.5.4)\r\n";
/// The client answered `*`.
pub const AUTH_CANCELLED: &[u8] = b"501 auth exchange cancelled (#5.0.0)\r\n";
/// A mechanism we do not have.
pub const AUTH_MECHANISM: &[u8] = b"504 auth type unimplemented (#5.5.1)\r\n";
/// AUTH after a successful AUTH.
pub const AUTH_AGAIN: &[u8] = b"503 you're already authenticated (#5.5.0)\r\n";
/// AUTH between MAIL and the end of the transaction.
pub const AUTH_IN_MAIL: &[u8] = b"503 no auth during mail transaction (#5.5.0)\r\n";
/// AUTH outside TLS when clear text is not allowed (RFC 4954's 538).
pub const AUTH_NEEDS_TLS: &[u8] =
    b"538 encryption required for requested authentication mechanism (#5.7.11)\r\n";
/// MAIL before AUTH when `SMTPAUTH` holds `!`.
pub const AUTH_REQUIRED: &[u8] = b"530 authentication required (#5.7.0)\r\n";
/// The AUTH after [`crate::session::MAX_AUTH_FAILURES`] failed ones;
/// then closed.
pub const AUTH_TOO_MANY: &[u8] =
    b"421 too many authentication failures, closing connection (#4.7.0)\r\n";
/// LOGIN's prompts: `Username:` and `Password:` in base64.
pub const LOGIN_USER: &[u8] = b"334 VXNlcm5hbWU6\r\n";
pub const LOGIN_PASS: &[u8] = b"334 UGFzc3dvcmQ6\r\n";
/// PLAIN without an initial response: send it.
pub const PLAIN_GO: &[u8] = b"334 \r\n";
