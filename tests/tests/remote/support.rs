//! Shared by the `remote_*` tests: a qmail home for qmail-remote, a way
//! to run it and read its reports, a scriptable fake SMTP server (plain
//! or with STARTTLS), and a test certificate made at run time.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single step of a test may take.
pub const STEP: Duration = Duration::from_secs(30);

/// A qmail home in a temporary directory with the controls
/// qmail-remote reads.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    /// `control/me` = `me.test`, `control/timeoutremote` = 10; a
    /// `queue/lock/tcpto` of zeros as qmail-rspawn leaves it.
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("control")).unwrap();
        std::fs::create_dir_all(dir.path().join("queue/lock")).unwrap();
        std::fs::write(dir.path().join("queue/lock/tcpto"), [0u8; 1024]).unwrap();
        let h = Home { dir };
        h.control("me", "me.test\n");
        h.control("timeoutremote", "10\n");
        h
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `control/name`.
    pub fn control(&self, name: &str, body: &str) {
        std::fs::write(self.dir.path().join("control").join(name), body).unwrap();
    }

    /// Route `domain` to `addr` through smtproutes (IPv6 in brackets).
    pub fn route(&self, domain: &str, addr: SocketAddr) {
        let relay = match addr.ip() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        self.control("smtproutes", &format!("{domain}:{relay}:{}\n", addr.port()));
    }

    /// Run qmail-remote with `message` on fd 0 (a file, as qmail-rspawn
    /// gives it); returns fd 1.
    pub fn run(&self, args: &[&str], message: &[u8]) -> Vec<u8> {
        self.run_env(args, message, &[])
    }

    /// As [`Home::run`], with extra environment.
    pub fn run_env(&self, args: &[&str], message: &[u8], env: &[(&str, &str)]) -> Vec<u8> {
        let mpath = self.dir.path().join("message");
        std::fs::write(&mpath, message).unwrap();
        let mut cmd = Command::new(e2e::bin("qmail-remote"));
        cmd.args(args)
            .env("QMAILHOME", self.dir.path())
            .stdin(std::fs::File::open(&mpath).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut p = e2e::Proc::spawn(&mut cmd).unwrap();
        let mut out = p.child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            let _ = tx.send(v);
        });
        let out = rx.recv_timeout(STEP * 2).expect("qmail-remote finishes");
        let status = p.wait_timeout(STEP).expect("qmail-remote exits");
        assert_eq!(status.code(), Some(0), "qmail-remote always exits 0");
        out
    }

    /// The tcpto table.
    pub fn tcpto(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("queue/lock/tcpto")).unwrap()
    }
}

/// Reports as text, NULs shown as `\0`, for readable assertions.
pub fn show(out: &[u8]) -> String {
    String::from_utf8_lossy(out).replace('\0', "\\0")
}

/// A message as the queue stores it.
pub const MESSAGE: &[u8] = b"From: a@example.org\nTo: b@example.test\nSubject: test\n\nline one\n.leading dot\n..two dots\n.\nlast line\n";

/// What a server stores for [`MESSAGE`]: CRLF line ends, dots undone.
pub fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in message {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// A self-signed certificate and key for `name`, made now.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

pub fn test_cert(name: &str) -> TestCert {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    TestCert {
        cert_pem: ck.cert.pem(),
        key_pem: ck.signing_key.serialize_pem(),
        cert_der: ck.cert.der().to_vec(),
        key_der: ck.signing_key.serialize_der(),
    }
}

/// What the fake server does with STARTTLS.
#[derive(Clone, Debug, PartialEq)]
pub enum Tls {
    /// Not offered.
    Off,
    /// Offered and done properly.
    On,
    /// Offered; answers `454 ...` to the command.
    Refuse,
    /// Offered; says 220 and then sends garbage instead of a handshake.
    Broken,
}

/// How the fake server behaves; the replies are complete reply texts
/// without the final CRLF (multi-line with "\r\n" inside).
#[derive(Clone, Debug)]
pub struct Fake {
    pub greeting: String,
    /// `None`: answer EHLO with 502, as an old HELO-only server.
    pub ehlo: Option<String>,
    pub helo: String,
    pub mail: String,
    /// Replies to RCPT in order; the last one repeats.
    pub rcpt: Vec<String>,
    pub data: String,
    pub after: String,
    pub tls: Tls,
    /// Offer PIPELINING, and prove the client uses it: read up to DATA
    /// before answering MAIL.
    pub pipelining: bool,
    /// Go silent (never answer) after this many replies.
    pub stall_after: Option<usize>,
    /// Close the connection after this many replies.
    pub close_after: Option<usize>,
    /// The rustls config when `tls` is `On`.
    pub cert: Option<Arc<rustls::ServerConfig>>,
    /// Offer `AUTH <this>` in the EHLO reply (e.g. "PLAIN LOGIN").
    pub auth: Option<String>,
    /// The final reply to AUTH.
    pub auth_reply: String,
    /// Offer `SIZE <this>` in the EHLO reply.
    pub size: Option<u64>,
}

impl Default for Fake {
    fn default() -> Fake {
        Fake {
            greeting: "220 fake.test ESMTP".into(),
            ehlo: Some("250-fake.test\r\n250 8BITMIME".into()),
            helo: "250 fake.test".into(),
            mail: "250 ok".into(),
            rcpt: vec!["250 ok".into()],
            data: "354 go ahead".into(),
            after: "250 ok 12345 queued".into(),
            tls: Tls::Off,
            pipelining: false,
            stall_after: None,
            close_after: None,
            cert: None,
            auth: None,
            auth_reply: "235 2.7.0 Authentication successful".into(),
            size: None,
        }
    }
}

/// What one connection saw.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Command lines, without CRLF.
    pub commands: Vec<String>,
    /// The message as received (dot-stuffing undone, CRLF kept).
    pub body: Option<Vec<u8>>,
    /// TLS was negotiated.
    pub tls: bool,
    /// MAIL, RCPT and DATA all arrived before the MAIL reply went out.
    pub pipelined: bool,
    /// The client's SNI.
    pub sni: Option<String>,
}

/// A fake SMTP server on loopback serving every connection with the
/// same [`Fake`] behaviour (or one per connection in order).
pub struct FakeServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(fake: Fake) -> FakeServer {
        FakeServer::start_many("127.0.0.1".parse().unwrap(), vec![fake])
    }

    /// Behaviours for the first connections in order; the last repeats.
    pub fn start_many(ip: IpAddr, fakes: Vec<Fake>) -> FakeServer {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
        FakeServer::on(listener, fakes)
    }

    /// Serve `fakes` on a listener the caller bound.
    pub fn on(listener: TcpListener, fakes: Vec<Fake>) -> FakeServer {
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let seen = seen.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                for conn in listener.incoming() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let fake = fakes[n.min(fakes.len() - 1)].clone();
                    n += 1;
                    let mut s = Seen::default();
                    let _ = serve(conn, &fake, &mut s);
                    seen.lock().unwrap().push(s);
                }
            })
        };
        FakeServer {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// The connections served so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Wait until `n` connections have ended.
    pub fn wait_for(&self, n: usize) -> Vec<Seen> {
        e2e::poll_until(STEP, || {
            let s = self.seen();
            (s.len() >= n).then_some(s)
        })
        .expect("the fake server saw the connections")
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A line reader over a stream that can be swapped for TLS.
struct Conn {
    io: Box<dyn Stream>,
    buf: Vec<u8>,
    replies: usize,
}

impl Conn {
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(line);
            }
            if self.buf.len() > 100_000 {
                return Err(io::Error::other("line too long"));
            }
            let mut chunk = [0u8; 4096];
            let n = self.io.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn reply(&mut self, fake: &Fake, text: &str) -> io::Result<()> {
        if fake.stall_after == Some(self.replies) {
            // Say nothing more and wait for the client to time out
            // and hang up.
            let mut sink = [0u8; 4096];
            while self.io.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
            return Err(io::Error::other("stalled"));
        }
        if fake.close_after == Some(self.replies) {
            return Err(io::Error::other("closed"));
        }
        self.replies += 1;
        // One write per reply: two small writes would meet Nagle and
        // delayed ACKs and cost 40 ms each.
        self.io.write_all(format!("{text}\r\n").as_bytes())?;
        self.io.flush()
    }
}

fn upper(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .trim_end_matches(['\r', '\n'])
        .to_string()
}

fn serve(tcp: TcpStream, fake: &Fake, seen: &mut Seen) -> io::Result<()> {
    tcp.set_read_timeout(Some(STEP))?;
    let tcp_for_tls = tcp.try_clone()?;
    let mut c = Conn {
        io: Box::new(tcp),
        buf: Vec::new(),
        replies: 0,
    };
    let mut tcp_for_tls = Some(tcp_for_tls);
    c.reply(fake, &fake.greeting)?;
    let mut rcpts = 0;
    let mut tls_offered = fake.tls != Tls::Off;
    loop {
        let line = c.read_line()?;
        let cmd = upper(&line);
        seen.commands.push(cmd.clone());
        let verb = cmd
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => match &fake.ehlo {
                None => c.reply(fake, "502 unimplemented")?,
                Some(r) => {
                    let mut r = r.clone();
                    if tls_offered {
                        r = r.replacen("250 ", "250-STARTTLS\r\n250 ", 1);
                    }
                    if fake.pipelining {
                        r = r.replacen("250 ", "250-PIPELINING\r\n250 ", 1);
                    }
                    if let Some(a) = &fake.auth {
                        r = r.replacen("250 ", &format!("250-AUTH {a}\r\n250 "), 1);
                    }
                    if let Some(n) = fake.size {
                        r = r.replacen("250 ", &format!("250-SIZE {n}\r\n250 "), 1);
                    }
                    c.reply(fake, &r)?;
                }
            },
            "HELO" => c.reply(fake, &fake.helo)?,
            "STARTTLS" => match fake.tls {
                Tls::Refuse => c.reply(fake, "454 TLS not available")?,
                Tls::Broken => {
                    c.reply(fake, "220 ready for tls")?;
                    c.io.write_all(b"this is not a TLS handshake\r\n")?;
                    c.io.flush()?;
                    // Read what the client sends until it gives up.
                    let mut sink = [0u8; 4096];
                    while c.io.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
                    return Ok(());
                }
                Tls::On => {
                    c.reply(fake, "220 ready for tls")?;
                    let config = fake.cert.clone().expect("a certificate for Tls::On");
                    let tcp = tcp_for_tls.take().expect("one STARTTLS");
                    let mut conn =
                        rustls::ServerConnection::new(config).map_err(io::Error::other)?;
                    let mut tcp2 = tcp.try_clone()?;
                    while conn.is_handshaking() {
                        conn.complete_io(&mut tcp2)?;
                    }
                    seen.sni = conn.server_name().map(str::to_string);
                    seen.tls = true;
                    c.io = Box::new(rustls::StreamOwned::new(conn, tcp));
                    c.buf.clear();
                    tls_offered = false;
                }
                Tls::Off => c.reply(fake, "502 unimplemented")?,
            },
            "MAIL" => {
                if fake.pipelining {
                    // Take every command up to DATA before answering.
                    let mut held = Vec::new();
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while Instant::now() < deadline {
                        let l = c.read_line()?;
                        let u = upper(&l);
                        seen.commands.push(u.clone());
                        let done = u.eq_ignore_ascii_case("DATA");
                        held.push(u);
                        if done {
                            break;
                        }
                    }
                    seen.pipelined = held.last().is_some_and(|l| l.eq_ignore_ascii_case("DATA"));
                    c.reply(fake, &fake.mail)?;
                    let mut accepted = false;
                    for h in &held {
                        if h.to_ascii_uppercase().starts_with("RCPT") {
                            let r = fake.rcpt[rcpts.min(fake.rcpt.len() - 1)].clone();
                            rcpts += 1;
                            accepted |= r.starts_with('2');
                            c.reply(fake, &r)?;
                        } else if h.eq_ignore_ascii_case("DATA") {
                            if !accepted || !fake.mail.starts_with('2') {
                                c.reply(fake, "554 no valid recipients")?;
                            } else {
                                c.reply(fake, &fake.data)?;
                                if fake.data.starts_with('3') {
                                    read_body(&mut c, seen)?;
                                    c.reply(fake, &fake.after)?;
                                }
                            }
                        }
                    }
                } else {
                    c.reply(fake, &fake.mail)?;
                }
            }
            "RCPT" => {
                let r = fake.rcpt[rcpts.min(fake.rcpt.len() - 1)].clone();
                rcpts += 1;
                c.reply(fake, &r)?;
            }
            "DATA" => {
                c.reply(fake, &fake.data)?;
                if fake.data.starts_with('3') {
                    read_body(&mut c, seen)?;
                    c.reply(fake, &fake.after)?;
                }
            }
            "QUIT" => {
                let _ = c.reply(fake, "221 bye");
                return Ok(());
            }
            "AUTH" => {
                let mech = cmd.split(' ').nth(1).unwrap_or("").to_ascii_uppercase();
                if mech == "LOGIN" {
                    c.reply(fake, "334 VXNlcm5hbWU6")?;
                    seen.commands.push(upper(&c.read_line()?));
                    c.reply(fake, "334 UGFzc3dvcmQ6")?;
                    seen.commands.push(upper(&c.read_line()?));
                }
                c.reply(fake, &fake.auth_reply)?;
            }
            "RSET" | "NOOP" => c.reply(fake, "250 ok")?,
            _ => c.reply(fake, "502 unimplemented")?,
        }
    }
}

/// Read the message up to the lone dot; undo the dot-stuffing.
fn read_body(c: &mut Conn, seen: &mut Seen) -> io::Result<()> {
    let mut body = Vec::new();
    loop {
        let line = c.read_line()?;
        if line == b".\r\n" {
            break;
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        body.extend_from_slice(line);
    }
    seen.body = Some(body);
    Ok(())
}

/// A rustls server configuration with a fresh certificate for `name`.
pub fn tls_server_config(name: &str) -> Arc<rustls::ServerConfig> {
    let c = test_cert(name);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(c.cert_der)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_der.into()),
        )
        .unwrap();
    Arc::new(config)
}

/// A port on `ip` where nothing listens (bound, then closed).
pub fn closed_port(ip: IpAddr) -> SocketAddr {
    let l = TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// [::1] works on this machine.
pub fn have_ipv6() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// The path of an installed program, if any.
pub fn which(name: &str) -> Option<PathBuf> {
    e2e::which(name)
}

/// A test CA: its certificate in PEM, and server configurations for
/// certificates it signs.
pub struct TestCa {
    pub cert_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "qmail-remote test CA");
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            cert_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (host names or addresses) signed by
    /// this CA, as PEM (certificate, then key).
    pub fn issue_pem(&self, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A server configuration with a certificate for `names`.
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        let (cert, key) = self.issue_pem(names);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap();
        Arc::new(config)
    }
}
