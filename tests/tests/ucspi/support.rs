//! Shared by the `ucspi_*` tests: run one of our programs or Debian's
//! with given arguments, environment and input and collect everything it
//! writes; a small TCP server on loopback that answers each connection
//! with fixed bytes; a DNS server Debian's tools can reach.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use e2e::Proc;
use e2e::dns::{DnsServer, Zone};

/// How long one program run may take.
pub const STEP: Duration = Duration::from_secs(30);

/// What a run wrote and how it ended (`None`: killed after [`STEP`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: Option<i32>,
}

impl Out {
    pub fn err_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn out_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Our program `name` and Debian's (`None` when not installed).
pub fn both(name: &str) -> (PathBuf, Option<PathBuf>) {
    (e2e::bin(name), e2e::original(&format!("/usr/bin/{name}")))
}

/// Run `prog args` with only `PATH` and `env` in its environment and
/// `input` on stdin.
pub fn run(prog: &Path, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Out {
    let mut cmd = Command::new(prog);
    cmd.args(args).env_clear().env("PATH", "/usr/bin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cmd(cmd, input)
}

pub fn run_cmd(mut cmd: Command, input: &[u8]) -> Out {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd).expect("spawn");
    let mut stdin = p.child.stdin.take().unwrap();
    let input = input.to_vec();
    // Feed and drain from threads so no pipe fills up and blocks.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let o = drain(Box::new(p.child.stdout.take().unwrap()));
    let e = drain(Box::new(p.child.stderr.take().unwrap()));
    let code = p.wait_timeout(STEP).map(|s| {
        use std::os::unix::process::ExitStatusExt;
        s.code().unwrap_or(128 + s.signal().unwrap_or(0))
    });
    if code.is_none() {
        drop(p);
    }
    let _ = feeder.join();
    Out {
        stdout: o.join().unwrap(),
        stderr: e.join().unwrap(),
        code,
    }
}

/// Replace each run of digits at the start of a line, and after `pid `,
/// with `PID` (recordio's and rblsmtpd's pids).
pub fn no_pids(b: &[u8]) -> String {
    let t = String::from_utf8_lossy(b);
    let mut out = String::new();
    for line in t.split_inclusive('\n') {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let line = if digits > 0 {
            format!("PID{}", &line[digits..])
        } else {
            line.to_string()
        };
        let line = match line.find(" pid ") {
            Some(i) => {
                let rest = &line[i + 5..];
                let d = rest.chars().take_while(char::is_ascii_digit).count();
                format!("{} pid PID{}", &line[..i], &rest[d..])
            }
            None => line,
        };
        out.push_str(&line);
    }
    out
}

/// A TCP server on `addr` (port 0: any) that, for each connection, reads
/// until it has seen `until` (or at once if empty), records what it read
/// and writes `reply`, then closes.
pub struct Responder {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    pub fn start(addr: SocketAddr, until: &'static [u8], reply: &'static [u8]) -> Responder {
        let l = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = l.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s2, r2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for c in l.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = c else { continue };
                let _ = c.set_read_timeout(Some(STEP));
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                while !until.is_empty() && !got.windows(until.len()).any(|w| w == until) {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                r2.lock().unwrap().push(got);
                let _ = c.write_all(reply);
            }
        });
        Responder {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// DNS for `zone` on a fresh 127.x address, port 53 when root (djb's
/// resolver in Debian's tools asks only port 53), else on any port; the
/// flag says whether Debian's tools can use it.
pub fn dns(zone: Zone) -> (DnsServer, bool) {
    if e2e::is_root() {
        let ip = e2e::net::unique_loopback();
        let s = DnsServer::start_at(SocketAddr::new(IpAddr::V4(ip), 53), zone).unwrap();
        (s, true)
    } else {
        eprintln!("not root: DNS on a high port, no comparison with Debian");
        (DnsServer::start(zone).unwrap(), false)
    }
}
