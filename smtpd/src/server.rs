//! The process around a [`Session`]: qmail-smtpd's `main`. The client is
//! on fd 0 (read) and fd 1 (write), as tcpserver and tcp-env arrange;
//! every read and every write waits at most timeoutsmtpd seconds.
//!
//! Startup, as qmail: chdir to the qmail home (failing with `421 unable to
//! read controls`), read the control files (same reply on failure), list
//! this host's addresses (`421 unable to figure out my IP addresses`),
//! greet. Then: write what the session has to say, read when it needs
//! more, until it is done. EOF or a read error ends the process with exit
//! 1 and no reply; so does a write error or write timeout. A read timeout
//! is answered `451 timeout (#4.4.2)`.
//!
//! TLS: when `control/servercert.pem` (chain and key, netqmail's TLS
//! patch) is readable at session start, EHLO offers STARTTLS; a broken
//! file is one log line and no STARTTLS, never a crash. After `220 ready
//! for tls` every byte already read is dropped (a client's pipelined
//! commands are never run inside TLS) and the handshake runs under the
//! same timeouts as everything else. With `SMTPS` in the environment the
//! handshake comes first, before the greeting (port 465).
//!
//! AUTH: `qmail-smtpd [hostname] checkprogram subprogram ...` (the
//! qmail-smtpd-auth command line) runs the checkprogram for each AUTH
//! with `user\0password\0\0` on fd 3, as cr.yp.to's checkpassword
//! interface says: exit 0 is yes, 1 no, anything else (or running
//! longer than `control/timeoutauth`, default 60 seconds, when it is
//! killed) a temporary failure. Each failure's reply waits one second
//! more than the one before, at most five.
//!
//! When `control/rcpthosts` is missing (and `ALLOW_OPEN_RELAY=1` is not
//! set) a session without RELAYCLIENT refuses every recipient; it says so
//! in one line on stderr (the log under tcpserver), so the admin learns
//! why mail is refused.

use std::ffi::OsString;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::Home;

use crate::auth::Policy;
use crate::config::{Config, Peer, process_env};
use crate::reply;
use crate::session::{Action, AuthResult, QmailQueue, Session};

/// Bytes read from the client at a time.
const READ_SIZE: usize = 64 * 1024;

/// This host's addresses (qmail's `ipme`, the rule in [`sys::ipme`]).
pub fn ipme() -> io::Result<Vec<IpAddr>> {
    Ok(sys::ipme::IpMe::load()?.addrs().collect())
}

/// What reading from the client gave.
enum Read {
    Bytes(usize),
    Eof,
    Timeout,
}

/// One read with qmail's timeout (`sys::timed`, shared by every server).
fn read_timeout(fd: BorrowedFd<'_>, buf: &mut [u8], timeout: Duration) -> io::Result<Read> {
    match sys::timed::read(fd, buf, timeout) {
        Ok(0) => Ok(Read::Eof),
        Ok(n) => Ok(Read::Bytes(n)),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(Read::Timeout),
        Err(e) => Err(e),
    }
}

/// Write all of `buf`, each write waiting at most `timeout`.
fn write_timeout(fd: BorrowedFd<'_>, buf: &[u8], timeout: Duration) -> io::Result<()> {
    sys::timed::write_all(fd, buf, timeout)
}

/// A fatal startup reply, written with qmail's default timeout.
fn die(text: &[u8]) -> i32 {
    let out = io::stdout();
    let _ = write_timeout(
        out.as_fd(),
        text,
        Duration::from_secs(crate::config::DEFAULT_TIMEOUT),
    );
    1
}

/// One line for the log on fd 2, unless fd 2 is the client's connection
/// too (inetd and xinetd give the socket as fds 0, 1 and 2), where the
/// line would reach the client instead.
fn warn(line: &[u8]) {
    if line.is_empty() || !stderr_is_log() {
        return;
    }
    let _ = io::Write::write_all(&mut io::stderr(), line);
}

/// fd 2 is not the client's connection.
fn stderr_is_log() -> bool {
    use nix::sys::stat::fstat;
    let same = |a: &libc::stat, b: &libc::stat| a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    !matches!(
        (fstat(io::stdout().as_fd()), fstat(io::stderr().as_fd())),
        (Ok(out), Ok(err)) if same(&out, &err)
    )
}

fn now() -> i64 {
    control::datetime::now_secs()
}

/// The default for `control/timeoutauth`, in seconds.
pub const DEFAULT_AUTH_TIMEOUT: u64 = 60;

/// The longest delay before a failed AUTH's reply.
const MAX_AUTH_DELAY: u64 = 5;

/// The client's connection: plain fds, or TLS over them.
enum Conn<'a> {
    Plain(BorrowedFd<'a>, BorrowedFd<'a>),
    Tls(Box<tls::fds::TlsFds<'a>>),
}

impl Conn<'_> {
    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Read> {
        match self {
            Conn::Plain(r, _) => read_timeout(*r, buf, timeout),
            Conn::Tls(t) => match t.read(buf) {
                Ok(0) => Ok(Read::Eof),
                Ok(n) => Ok(Read::Bytes(n)),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(Read::Timeout),
                Err(e) => Err(e),
            },
        }
    }

    fn write_all(&mut self, buf: &[u8], timeout: Duration) -> io::Result<()> {
        match self {
            Conn::Plain(_, w) => write_timeout(*w, buf, timeout),
            Conn::Tls(t) => t.write_all(buf),
        }
    }

    fn close(&mut self) {
        if let Conn::Tls(t) = self {
            t.close();
        }
    }
}

/// The checkprogram and its arguments from qmail-smtpd's command line:
/// `hostname checkprogram subprogram ...` (qmail-smtpd-auth), or
/// `checkprogram subprogram` without the hostname. Fewer arguments: no
/// AUTH (qmail ignores its arguments).
pub fn checkprogram(args: &[OsString]) -> &[OsString] {
    match args.len() {
        0 | 1 => &[],
        2 => args,
        _ => &args[1..],
    }
}

/// Run the checkprogram `argv` for `user` and `password` (checkpassword's
/// fd 3), killing it after `timeout`.
pub fn check_password(
    argv: &[OsString],
    user: &[u8],
    password: &[u8],
    timeout: Duration,
) -> AuthResult {
    // std puts a child's pipes only on fds 0 to 2; the shell moves ours
    // to fd 3 and gives the checkprogram /dev/null as its input, which
    // needs no unsafe fork code here.
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("exec \"$@\" 3<&0 </dev/null")
        .arg("qmail-smtpd")
        .args(argv)
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    if !stderr_is_log() {
        // Under inetd fd 2 is the client: its complaints must not go there.
        cmd.stderr(Stdio::null());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            warn(
                format!(
                    "qmail-smtpd: warning: unable to run checkprogram: {}\n",
                    sys::describe(&e)
                )
                .as_bytes(),
            );
            return AuthResult::Temporary;
        }
    };
    if let Some(mut fd3) = child.stdin.take() {
        let mut data = Vec::with_capacity(user.len() + password.len() + 3);
        data.extend_from_slice(user);
        data.push(0);
        data.extend_from_slice(password);
        data.extend_from_slice(b"\0\0");
        // A checkprogram that exits without reading is its own answer.
        let _ = io::Write::write_all(&mut fd3, &data);
    }
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return match status.code() {
                    Some(0) => AuthResult::Yes,
                    Some(1) => AuthResult::No,
                    _ => {
                        warn(
                            format!("qmail-smtpd: warning: checkprogram failed: {status}\n")
                                .as_bytes(),
                        );
                        AuthResult::Temporary
                    }
                };
            }
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(nap.min(deadline.saturating_duration_since(Instant::now())));
                nap = (nap * 2).min(Duration::from_millis(50));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                warn(b"qmail-smtpd: warning: checkprogram timed out, killed\n");
                return AuthResult::Temporary;
            }
        }
    }
}

/// The server certificate for this session: `Ok(None)` when there is
/// none, an error line for the log when it is unusable.
fn load_cert(home: &Home) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let path = home.control("servercert.pem");
    match tls::server::from_file(&path) {
        Ok(c) => Ok(Some(c)),
        Err(tls::Error::Read(e)) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(tls::Error::Read(e)) => Err(format!(
            "unable to read control/servercert.pem: {}",
            sys::describe(&e)
        )),
        Err(e) => Err(format!("unable to use control/servercert.pem: {e}")),
    }
}

/// Run the TLS handshake on the client's fds.
fn handshake<'a>(
    config: Arc<rustls::ServerConfig>,
    rfd: BorrowedFd<'a>,
    wfd: BorrowedFd<'a>,
    timeout: Duration,
) -> io::Result<Box<tls::fds::TlsFds<'a>>> {
    let mut t = Box::new(tls::fds::TlsFds::new(config, rfd, wfd, timeout)?);
    t.handshake()?;
    Ok(t)
}

/// Run qmail-smtpd on fds 0 and 1; returns the exit code.
pub fn run() -> i32 {
    let home = Home::from_env();
    let home = Home::new(std::path::absolute(home.root()).unwrap_or_else(|_| home.root().into()));
    if std::env::set_current_dir(home.root()).is_err() {
        return die(reply::CONTROLS);
    }
    let mut cfg = match Config::load(&home, &process_env) {
        Ok(c) => c,
        Err(_) => return die(reply::CONTROLS),
    };
    cfg.ipme = match ipme() {
        Ok(ips) => ips,
        Err(_) => return die(reply::IPME),
    };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let checkprog = checkprogram(&args).to_vec();
    cfg.auth = Policy::new(
        !checkprog.is_empty(),
        process_env("SMTPAUTH").as_deref(),
        process_env("AUTH_CLEARTEXT").as_deref(),
    );
    let auth_timeout = match home.int("timeoutauth") {
        Ok(Some(t)) if t > 0 => Duration::from_secs(t),
        Ok(_) => Duration::from_secs(DEFAULT_AUTH_TIMEOUT),
        Err(_) => return die(reply::CONTROLS),
    };
    let timeout = Duration::from_secs(cfg.timeout);
    let smtps = process_env("SMTPS").is_some();
    let cert = match load_cert(&home) {
        Ok(c) => c,
        Err(line) => {
            warn(format!("qmail-smtpd: warning: {line}; no TLS\n").as_bytes());
            None
        }
    };
    if smtps && cert.is_none() {
        warn(b"qmail-smtpd: fatal: SMTPS is set but there is no usable control/servercert.pem\n");
        return 1;
    }
    let peer = Peer::from_env(&process_env);
    if cfg.rcpthosts.refuses_all() && peer.relay_client.is_none() {
        warn(reply::NO_RCPTHOSTS_LOG);
    }
    // Never dropped: like qmail's _exit, leaving does not wait for a
    // qmail-queue that is still reading an unfinished message.
    let mut session = std::mem::ManuallyDrop::new(Session::new(cfg, peer, QmailQueue(home), now));

    let stdin = io::stdin();
    let stdout = io::stdout();
    let (rfd, wfd) = (stdin.as_fd(), stdout.as_fd());
    let mut conn = Conn::Plain(rfd, wfd);
    if smtps {
        let Some(config) = cert.clone() else {
            return 1;
        };
        match handshake(config, rfd, wfd, timeout) {
            Ok(t) => {
                session.tls_started(&t.version(), &t.cipher());
                conn = Conn::Tls(t);
            }
            Err(e) => {
                warn(
                    format!("qmail-smtpd: TLS handshake failed: {}\n", sys::describe(&e))
                        .as_bytes(),
                );
                return 1;
            }
        }
    } else {
        session.offer_tls(cert.is_some());
    }
    let mut buf = vec![0u8; READ_SIZE];
    let (mut start, mut end) = (0, 0);
    loop {
        let log = session.take_log();
        if !log.is_empty() {
            warn(&log);
        }
        let out = session.take_output();
        if !out.is_empty() && conn.write_all(&out, timeout).is_err() {
            return 1;
        }
        if let Some(exit) = session.done() {
            conn.close();
            return exit.code();
        }
        match session.take_action() {
            Some(Action::StartTls) => {
                // What the client sent after STARTTLS was sent in the
                // clear: drop it, never run it inside TLS.
                (start, end) = (0, 0);
                let Some(config) = cert.clone() else {
                    return 1;
                };
                match handshake(config, rfd, wfd, timeout) {
                    Ok(t) => {
                        session.tls_started(&t.version(), &t.cipher());
                        conn = Conn::Tls(t);
                    }
                    Err(e) => {
                        warn(
                            format!("qmail-smtpd: TLS handshake failed: {}\n", sys::describe(&e))
                                .as_bytes(),
                        );
                        session.eof();
                        warn(&session.take_log());
                        return 1;
                    }
                }
                continue;
            }
            Some(Action::CheckPassword { user, password }) => {
                let result = check_password(&checkprog, &user, &password, auth_timeout);
                let mut line = b"qmail-smtpd: auth ".to_vec();
                line.extend_from_slice(match result {
                    AuthResult::Yes => b"ok",
                    AuthResult::No => b"failed",
                    AuthResult::Temporary => b"temporary failure",
                });
                line.extend_from_slice(b" user=");
                line.extend(
                    user.iter()
                        .map(|&b| if (0x21..0x7f).contains(&b) { b } else { b'?' }),
                );
                line.push(b'\n');
                warn(&line);
                if result == AuthResult::No {
                    let n = u64::from(session.auth_failures()) + 1;
                    std::thread::sleep(Duration::from_secs(n.min(MAX_AUTH_DELAY)));
                }
                session.auth_result(result, user);
                continue;
            }
            None => {}
        }
        if start == end {
            match conn.read(&mut buf, timeout) {
                Ok(Read::Bytes(n)) => (start, end) = (0, n),
                Ok(Read::Timeout) => {
                    session.timeout();
                    continue;
                }
                Ok(Read::Eof) | Err(_) => {
                    session.eof();
                    warn(&session.take_log());
                    return 1;
                }
            }
        }
        start += session.feed(&buf[start..end]);
    }
}
