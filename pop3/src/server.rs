//! The two programs' process code: fds 0 and 1 are the client, fd 2 the
//! log. `popup` and `pop3d` return the exit code.
//!
//! Timeouts are qmail's 1200 seconds per read and per write; the
//! environment variable `POP3TIMEOUT` (seconds) changes them, an
//! addition of ours for sites and tests.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read as _};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use crate::blast::Blast;
use crate::line::LineReader;
use crate::{maildir, pop3d, popup};

fn timeout() -> Duration {
    let secs = std::env::var_os("POP3TIMEOUT")
        .map(|v| sys::scan::scan_ulong(v.as_bytes()))
        .filter(|&s| s > 0)
        .unwrap_or(crate::TIMEOUT_SECS);
    Duration::from_secs(secs)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

struct Client {
    input: io::Stdin,
    output: io::Stdout,
    timeout: Duration,
    lines: LineReader,
    buf: Vec<u8>,
    /// Bytes read and not yet given to `lines`.
    pending: (usize, usize),
}

impl Client {
    fn new(read_size: usize) -> Client {
        Client {
            input: io::stdin(),
            output: io::stdout(),
            timeout: timeout(),
            lines: LineReader::new(),
            buf: vec![0; read_size],
            pending: (0, 0),
        }
    }

    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        crate::io::write_all(self.output.as_fd(), bytes, self.timeout)
    }

    /// The next command line; an error at EOF, timeout or read error.
    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            let (start, end) = self.pending;
            if start < end {
                let (line, used) = self.lines.push(&self.buf[start..end]);
                self.pending.0 += used;
                if let Some(line) = line {
                    return Ok(line);
                }
                continue;
            }
            let n = crate::io::read(self.input.as_fd(), &mut self.buf, self.timeout)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.pending = (0, n);
        }
    }
}

/// How the checkpassword program ended.
enum Checked {
    /// Exit 0: qmail-pop3d ran the session.
    Done,
    Failed,
    Crashed,
}

/// qmail-popup HOSTNAME PROGRAM [ARG...]
pub fn popup(args: Vec<OsString>) -> i32 {
    let mut proxy = None;
    let code = popup_session(args, &mut proxy);
    if let Some(proxy) = proxy {
        // Our ends of the socketpair go (the checkpassword program's went
        // when it exited): the proxy reads EOF, sends close_notify, ends.
        if let Ok(null) = File::open("/dev/null") {
            let _ = nix::unistd::dup2_stdin(&null);
            let _ = nix::unistd::dup2_stdout(&null);
        }
        let _ = proxy.join();
    }
    code
}

/// `control/servercert.pem` now: `None` without one; a broken one is
/// logged and means no TLS.
fn load_cert() -> Option<std::sync::Arc<rustls::ServerConfig>> {
    let home = control::Home::from_env();
    match tls::server::from_file(&home.control("servercert.pem")) {
        Ok(c) => Some(c),
        Err(tls::Error::Read(e)) if e.kind() == io::ErrorKind::NotFound => None,
        Err(tls::Error::Read(e)) => {
            log(&format!(
                "qmail-popup: warning: unable to read control/servercert.pem: {}; no TLS\n",
                sys::describe(&e)
            ));
            None
        }
        Err(e) => {
            log(&format!(
                "qmail-popup: warning: unable to use control/servercert.pem: {e}; no TLS\n"
            ));
            None
        }
    }
}

fn log(line: &str) {
    let _ = io::Write::write_all(&mut io::stderr(), line.as_bytes());
}

/// Put TLS between the client and the rest of the session: a thread
/// does the handshake on (copies of) fds 0 and 1, then relays between
/// the client and a socketpair whose other end becomes our fds 0 and 1,
/// and so the checkpassword program's and qmail-pop3d's (TLS state
/// cannot cross an exec). Nothing more is read from the client here:
/// bytes it pipelined after STLS reach the handshake and fail it.
fn start_tls(
    config: std::sync::Arc<rustls::ServerConfig>,
    timeout: Duration,
) -> io::Result<std::thread::JoinHandle<()>> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    // Hold fd 3 while the new descriptors are made: check() needs it
    // free for checkpassword's pipe.
    let hold3 = File::open("/dev/null")?;
    let rfd = io::stdin().as_fd().try_clone_to_owned()?;
    let wfd = io::stdout().as_fd().try_clone_to_owned()?;
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    drop(hold3);
    nix::unistd::dup2_stdin(&theirs)?;
    nix::unistd::dup2_stdout(&theirs)?;
    drop(theirs);
    Ok(std::thread::spawn(move || {
        let relay = || -> io::Result<()> {
            let mut t = tls::fds::TlsFds::new(config, rfd.as_fd(), wfd.as_fd(), timeout)?;
            if let Err(e) = t.handshake() {
                log(&format!(
                    "qmail-popup: TLS handshake failed: {}\n",
                    sys::describe(&e)
                ));
                return Err(e);
            }
            t.proxy(ours.as_fd())
        };
        let _ = relay();
    }))
}

fn popup_session(args: Vec<OsString>, proxy: &mut Option<std::thread::JoinHandle<()>>) -> i32 {
    use nix::sys::signal::Signal;
    let _ = sys::sigexit::ignore(&[Signal::SIGPIPE]);
    // qmail-popup's SIGALRM: exit 1 at once.
    let _ = sys::sigexit::exit_on(&[Signal::SIGALRM], 1);
    // One byte per read: what the client sends after PASS stays in the
    // socket for qmail-pop3d (qmail-popup 1.03 reads 128 and loses it).
    let mut client = Client::new(1);
    if args.len() < 3 {
        let _ = client.write(b"-ERR usage: popup hostname subprogram\r\n");
        return 1;
    }
    // fd 3 must be free for the pipe, as qmail closes it first.
    drop(sys::fds::inherited(3));
    let hostname = args[1].as_bytes().to_vec();
    let tries = std::env::var_os("POP3LOGINTRIES")
        .map(|v| sys::scan::scan_ulong(v.as_bytes()) as u32)
        .unwrap_or(1);
    let mut session = popup::Session::new(&hostname, std::process::id(), now() as u64, tries);
    let cert = load_cert();
    if std::env::var_os("POP3S").is_some() {
        let Some(config) = cert.clone() else {
            log("qmail-popup: fatal: POP3S is set but there is no usable control/servercert.pem\n");
            return 1;
        };
        match start_tls(config, client.timeout) {
            Ok(h) => *proxy = Some(h),
            Err(_) => return 1,
        }
        session.tls_started();
    } else if cert.is_some() {
        session.offer_tls(std::env::var_os("POP3_CLEARTEXT").is_some());
    }
    if client.write(&session.greeting()).is_err() {
        return 1;
    }
    loop {
        let Ok(line) = client.line() else { return 1 };
        let step = match session.command(&line) {
            popup::Step::Login { name, mut password } => {
                let checked = check(&args[2..], &name, &password, session.timestamp(), &client);
                password.fill(0);
                match checked {
                    Err(code) => return code,
                    Ok(Checked::Done) => return 1,
                    Ok(Checked::Crashed) => {
                        popup::Step::Close(b"-ERR aack, child crashed\r\n".to_vec())
                    }
                    Ok(Checked::Failed) => session.login_failed(),
                }
            }
            step => step,
        };
        match step {
            popup::Step::Reply(bytes) => {
                if client.write(&bytes).is_err() {
                    return 1;
                }
            }
            popup::Step::Close(bytes) => {
                let _ = client.write(&bytes);
                return 1;
            }
            popup::Step::StartTls => {
                let Some(config) = cert.clone() else {
                    return 1;
                };
                if client.write(popup::OK).is_err() {
                    return 1;
                }
                match start_tls(config, client.timeout) {
                    Ok(h) => *proxy = Some(h),
                    Err(_) => return 1,
                }
                // Nothing buffered survives (one-byte reads leave none).
                client.lines = LineReader::new();
                client.pending = (0, 0);
                session.tls_started();
            }
            popup::Step::Login { .. } => unreachable!("handled above"),
        }
    }
}

/// Run the checkpassword program with `name\0password\0timestamp\0` on
/// its fd 3; `Err(exit code)` when qmail-popup must stop at once.
fn check(
    program: &[OsString],
    name: &[u8],
    password: &[u8],
    timestamp: &[u8],
    client: &Client,
) -> Result<Checked, i32> {
    let fail = |text: &[u8]| {
        let _ = client.write(text);
        Err(1)
    };
    let Ok((read_end, write_end)) = nix::unistd::pipe() else {
        return fail(b"-ERR unable to open pipe\r\n");
    };
    if read_end.as_raw_fd() != 3 {
        return fail(b"-ERR unable to open pipe\r\n");
    }
    // The child keeps only the read end, on fd 3 (not close-on-exec).
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    if fcntl(&write_end, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).is_err() {
        return fail(b"-ERR unable to open pipe\r\n");
    }
    // std's Command searches PATH as execvp does, keeps fds 0, 1, 2 and
    // 3 and the environment, and puts SIGPIPE back to default.
    let child = Command::new(&program[0]).args(&program[1..]).spawn();
    drop(read_end);
    let mut child = match child {
        Ok(c) => c,
        // No process: qmail's "unable to fork".
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)) => {
            return fail(b"-ERR unable to fork\r\n");
        }
        // Exec failed: qmail's child exits 1, "authorization failed".
        Err(_) => return Ok(Checked::Failed),
    };
    let mut data = Vec::with_capacity(name.len() + password.len() + timestamp.len() + 3);
    for part in [name, password, timestamp] {
        data.extend_from_slice(part);
        data.push(0);
    }
    let written = nix::unistd::write(&write_end, &data).map(|n| n == data.len());
    data.fill(0);
    drop(write_end);
    if written != Ok(true) {
        let _ = child.wait();
        return fail(b"-ERR unable to write pipe\r\n");
    }
    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return fail(b"-ERR aack, child crashed\r\n"),
        }
    };
    Ok(if status.signal().is_some() {
        Checked::Crashed
    } else if status.code() == Some(0) {
        Checked::Done
    } else {
        Checked::Failed
    })
}

/// qmail-pop3d MAILDIRNAME, run as the user in the home directory.
pub fn pop3d(args: Vec<OsString>) -> i32 {
    use nix::sys::signal::Signal;
    let _ = sys::sigexit::ignore(&[Signal::SIGPIPE]);
    let _ = sys::sigexit::exit_on(&[Signal::SIGALRM], 0);
    if nix::unistd::getuid().is_root() {
        let _ = io::Write::write_all(
            &mut io::stderr(),
            b"qmail-pop3d invoked as uid 0, terminating\n",
        );
        return 1;
    }
    let client = Client::new(64 * 1024);
    let Some(dir) = args.get(1) else {
        let _ = client.write(b"-ERR this user has no $HOME/Maildir\r\n");
        return 0;
    };
    if std::env::set_current_dir(dir).is_err() {
        let _ = client.write(b"-ERR this user has no $HOME/Maildir\r\n");
        return 0;
    }
    let now = now();
    maildir::clean_tmp(now);
    let Ok(messages) = maildir::scan(now) else {
        let _ = client.write(b"-ERR unable to scan $HOME/Maildir\r\n");
        return 0;
    };
    let _ = pop3d_session(client, pop3d::Session::new(messages));
    0
}

/// The TRANSACTION state until QUIT, EOF, a timeout or an error: only
/// QUIT changes the Maildir.
fn pop3d_session(mut client: Client, mut session: pop3d::Session) -> io::Result<()> {
    client.write(pop3d::OK)?;
    loop {
        let line = client.line()?;
        match session.command(&line) {
            pop3d::Step::Reply(bytes) => client.write(&bytes)?,
            pop3d::Step::Send { index, body_lines } => {
                let m = session.messages()[index].clone();
                let file = File::open(&m.path).or_else(|e| {
                    // Moved by another reader? Found by its unique name.
                    let path = maildir::relocate(&m).ok_or(e)?;
                    let file = File::open(&path)?;
                    session.set_path(index, path);
                    Ok::<File, io::Error>(file)
                });
                match file {
                    Err(_) => client.write(b"-ERR unable to open that message\r\n")?,
                    Ok(file) => send(&client, file, body_lines)?,
                }
            }
            pop3d::Step::Quit => {
                let mut out = maildir::update(session.messages());
                out.extend_from_slice(pop3d::OK);
                return client.write(&out);
            }
        }
    }
}

/// `+OK `, the message as [`Blast`] makes it, the end; streamed.
fn send(client: &Client, mut file: File, body_lines: Option<u64>) -> io::Result<()> {
    const CHUNK: usize = 64 * 1024;
    let mut blast = Blast::new(body_lines);
    let mut out = Vec::with_capacity(CHUNK * 2 + 16);
    out.extend_from_slice(pop3d::OK);
    let mut buf = vec![0; CHUNK];
    loop {
        // A read error ends the session (qmail's die()): the client has
        // had +OK and part of a message, so no reply can repair it.
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                client.write(&out)?;
                return Err(e);
            }
        };
        if n == 0 {
            break;
        }
        let more = blast.feed(&buf[..n], &mut out);
        if out.len() >= CHUNK {
            client.write(&out)?;
            out.clear();
        }
        if !more {
            break;
        }
    }
    blast.finish(&mut out);
    client.write(&out)
}
