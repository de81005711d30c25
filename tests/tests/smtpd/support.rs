//! Helpers for the TLS and AUTH topics: qmail-smtpd under our tcpserver
//! with a test certificate made by rcgen, a checkprogram on its command
//! line, and a recording queue; clients are swaks, Python (smtplib and
//! ssl), openssl s_client and raw sockets.
//!
//! No rules file: no client gets RELAYCLIENT, so relaying needs AUTH.
//! Accepted domain: `example.com`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use e2e::Proc;

pub const T: Duration = Duration::from_secs(20);

/// The recording queue: message to q/<pid>.msg, envelope to q/<pid>.env.
const QUEUE_SCRIPT: &str = r#"#!/bin/sh
cat > "$QDIR/q/$$.msg"
cat 0<&1 > "$QDIR/q/$$.env"
exit 0
"#;

/// joe's password, and its hash in `control/passwd`.
pub const JOE_PASSWORD: &str = "s3cret pass";

/// A certificate chain and key for `mx.example.com`, in one PEM text.
pub fn servercert() -> String {
    let c = rcgen::generate_simple_self_signed(vec!["mx.example.com".into()]).unwrap();
    format!("{}{}", c.cert.pem(), c.signing_key.serialize_pem())
}

/// How to start the server.
pub struct Opts {
    /// Write control/servercert.pem (else none).
    pub cert: Option<String>,
    pub env: Vec<(&'static str, String)>,
    /// qmail-smtpd's arguments; `None`: `mx.example.com checkpassword
    /// /bin/true` with checkpassword in password file mode.
    pub args: Option<Vec<String>>,
    pub control: Vec<(&'static str, String)>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            cert: Some(servercert()),
            env: vec![],
            args: None,
            control: vec![],
        }
    }
}

pub struct Server {
    _proc: Proc,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start(opts: Opts) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let control = d.join("home/control");
        std::fs::create_dir_all(&control).unwrap();
        std::fs::create_dir_all(d.join("q")).unwrap();
        std::fs::write(control.join("me"), "mx.example.com\n").unwrap();
        std::fs::write(control.join("rcpthosts"), "example.com\n").unwrap();
        std::fs::write(
            control.join("passwd"),
            format!("# test users\njoe:{}\n", hash(JOE_PASSWORD)),
        )
        .unwrap();
        if let Some(pem) = &opts.cert {
            std::fs::write(control.join("servercert.pem"), pem).unwrap();
        }
        for (name, body) in &opts.control {
            std::fs::write(control.join(name), body).unwrap();
        }
        let queue = e2e::script::executable(&d.join("qq.sh"), QUEUE_SCRIPT);
        let args = opts.args.clone().unwrap_or_else(|| {
            vec![
                "mx.example.com".into(),
                e2e::bin("checkpassword").display().to_string(),
                "/bin/true".into(),
            ]
        });
        let mut cmd = Command::new(e2e::bin("tcpserver"));
        cmd.args(["-1", "-R", "-H", "-l", "0", "127.0.0.1", "0"])
            .arg(e2e::bin("qmail-smtpd"))
            .args(&args)
            .env("QMAILHOME", d.join("home"))
            .env("QMAILQUEUE", &queue)
            .env("QDIR", d)
            .env("CHECKPASSWORD_FILE", "control/passwd")
            .env_remove("RELAYCLIENT")
            .env_remove("SMTPS")
            .env_remove("SMTPAUTH")
            .env_remove("AUTH_CLEARTEXT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(d.join("stderr")).unwrap());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut proc = Proc::spawn(&mut cmd).unwrap();
        let out = proc.child.stdout.take().unwrap();
        let (line, _) = e2e::read_line_from(out, T).expect("tcpserver prints its port");
        let port: u16 = line.trim().parse().expect("a port number");
        Server {
            _proc: proc,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        }
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    pub fn control(&self, name: &str) -> PathBuf {
        self.dir.path().join("home/control").join(name)
    }

    /// What tcpserver and qmail-smtpd wrote on stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join("stderr")).unwrap())
            .into_owned()
    }

    /// Wait for a log line containing every one of `parts`.
    pub fn wait_log(&self, parts: &[&str]) -> String {
        e2e::poll_until(T, || {
            self.stderr()
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no log line with {parts:?} in:\n{}", self.stderr()))
    }

    /// The messages queued so far, with their envelopes.
    pub fn queued(&self) -> Vec<(String, String)> {
        let q = self.dir.path().join("q");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&q).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "env") {
                let env = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                let msg = std::fs::read(p.with_extension("msg")).unwrap();
                out.push((String::from_utf8_lossy(&msg).into_owned(), env));
            }
        }
        out
    }

    /// Wait until `n` messages are queued.
    pub fn wait_queued(&self, n: usize) -> Vec<(String, String)> {
        e2e::poll_until(T, || Some(self.queued()).filter(|q| q.len() >= n))
            .unwrap_or_else(|| panic!("fewer than {n} messages queued"))
    }
}

/// sha512-crypt of `password`, by openssl.
pub fn hash(password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin_bytes(password.as_bytes());
    assert!(out.status.success(), "openssl passwd failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Run a command with `input` on stdin, killed after [`T`].
pub trait RunWith {
    fn stdin_bytes(&mut self, input: &[u8]) -> Output;
}

impl RunWith for Command {
    fn stdin_bytes(&mut self, input: &[u8]) -> Output {
        use std::io::Write;
        self.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut p = Proc::spawn(self).unwrap();
        let mut stdin = p.child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let stdout = p.child.stdout.take().unwrap();
        let stderr = p.child.stderr.take().unwrap();
        let read = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = r.read_to_end(&mut v);
                v
            })
        };
        let (o, e) = (read(Box::new(stdout)), read(Box::new(stderr)));
        let status = p.wait_timeout(T).expect("the command finishes in time");
        let _ = writer.join();
        Output {
            status,
            stdout: o.join().unwrap(),
            stderr: e.join().unwrap(),
        }
    }
}

/// Run a Python script with `args`, returning its output.
pub fn python(script: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin_bytes(b"")
}

/// swaks against the server, with `args` after the common ones.
pub fn swaks(srv: &Server, args: &[&str]) -> Output {
    Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &srv.port()])
        .args(["--helo", "laptop.example.org", "--timeout", "20"])
        .args(args)
        .stdin_bytes(b"")
}

/// Whether swaks can do TLS (it needs Net::SSLeay, which Debian's
/// swaks only recommends).
pub fn have_swaks_tls() -> bool {
    if !have("swaks") {
        return false;
    }
    let out = Command::new("swaks").arg("--support").stdin_bytes(b"");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.contains("=== TLS supported") || !e2e::skip_missing("swaks with TLS (libnet-ssleay-perl)")
}

/// Whether `tool` can be run (swaks, openssl are Debian packages CI
/// installs); prints why a test is skipped otherwise.
pub fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| Path::new(&d).join(tool).exists()));
    found || !e2e::skip_missing(tool)
}

/// Python: greeting, then (with `tls`) EHLO and STARTTLS, then each line
/// of `lines` and its reply; prints one reply a line, as Python bytes.
const TALK: &str = r#"
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb")
def reply(f):
    out = b""
    while True:
        l = f.readline()
        out += l
        if len(l) < 4 or l[3:4] != b"-":
            return out
reply(f)
if sys.argv[2] == "tls":
    s.sendall(b"EHLO laptop.example.org\r\n"); reply(f)
    s.sendall(b"STARTTLS\r\n"); reply(f)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(s, server_hostname="mx.example.com")
    f = s.makefile("rb")
for line in sys.argv[3:]:
    s.sendall(line.encode() + b"\r\n")
    print(reply(f).hex())
"#;

/// The replies to `lines`, inside TLS when `tls`, as text (CR LF kept).
pub fn talk(srv: &Server, tls: bool, lines: &[&str]) -> Vec<String> {
    let port = srv.port();
    let mut args = vec![port.as_str(), if tls { "tls" } else { "plain" }];
    args.extend_from_slice(lines);
    let out = python(TALK, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let bytes: Vec<u8> = (0..l.len() / 2)
                .map(|i| u8::from_str_radix(&l[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            String::from_utf8(bytes).unwrap()
        })
        .collect()
}

/// base64 of `s` (Python's, so the test does not use our encoder).
pub fn b64(s: &[u8]) -> String {
    let out = Command::new("base64").arg("-w0").stdin_bytes(s);
    String::from_utf8(out.stdout).unwrap()
}
