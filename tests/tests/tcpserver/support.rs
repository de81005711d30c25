//! Shared by the `tcpserver_*` and `tcpenv_*` tests: run a tcpserver
//! (ours or Debian's) and read its log, connect from chosen loopback
//! addresses, an identd on loopback, rules compiled to a cdb, and
//! normalising pids and ports for byte comparisons. The DNS server they
//! ask is [`e2e::dns`]; their own loopback addresses come from
//! [`e2e::net::unique_loopback`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use e2e::Proc;

/// How long any single step of a test may take.
pub const STEP: Duration = Duration::from_secs(20);

/// Which implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Ours,
    Debian,
}

impl Impl {
    /// The binary, or `None` (skip) for a Debian tool that is missing.
    pub fn path(self) -> Option<PathBuf> {
        match self {
            Impl::Ours => Some(e2e::bin("tcpserver")),
            Impl::Debian => e2e::original("/usr/bin/tcpserver"),
        }
    }

    /// Ours, and Debian's when installed.
    pub fn both() -> Vec<Impl> {
        let mut v = vec![Impl::Ours];
        if Impl::Debian.path().is_some() {
            v.push(Impl::Debian);
        }
        v
    }
}

/// The environment every server in these tests starts with (nothing of
/// the test runner's leaks in, so ours and Debian's see the same).
pub fn base_env(cmd: &mut Command) {
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("DNSCACHEIP", "127.0.0.254:9");
}

/// A running tcpserver whose stderr is collected line by line.
pub struct Server {
    pub proc: Proc,
    pub port: u16,
    lines: e2e::log::Log,
    _reader: JoinHandle<()>,
}

impl Server {
    /// Start `bin` with `-1` added before `args`; waits for the port.
    pub fn start(bin: &Path, args: &[&str], setup: impl FnOnce(&mut Command)) -> Server {
        let mut cmd = Command::new(bin);
        base_env(&mut cmd);
        setup(&mut cmd);
        cmd.arg("-1")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Server::spawn(cmd)
    }

    /// Start a prepared command that prints the port on stdout.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut proc = Proc::spawn(&mut cmd).expect("spawn tcpserver");
        let stdout = proc.child.stdout.take().unwrap();
        let (line, _) = e2e::read_line_from(stdout, STEP).expect("tcpserver printed no port");
        let port: u16 = line.trim().parse().expect("port number");
        let stderr = proc.child.stderr.take().unwrap();
        let lines = e2e::log::Log::new();
        let reader = lines.follow(stderr, None);
        Server {
            proc,
            port,
            lines,
            _reader: reader,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The log so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lines()
    }

    /// Wait until `pred` holds for the log; panics after [`STEP`].
    pub fn wait_log(&self, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        self.lines
            .wait(STEP, |l| pred(l).then(|| l.to_vec()))
            .unwrap_or_else(|| panic!("log never showed {what}: {:#?}", self.log()))
    }

    /// Wait until `n` `end` lines are in the log, each followed by its
    /// `status` line.
    pub fn wait_ends(&self, n: usize) -> Vec<String> {
        self.wait_log(&format!("{n} end lines"), |l| {
            l.iter()
                .filter(|x| x.starts_with("tcpserver: end "))
                .count()
                >= n
                && l.last()
                    .is_some_and(|x| x.starts_with("tcpserver: status: "))
        })
    }

    /// Wait for the server to exit (after a signal); its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        self.proc.wait_timeout(STEP).and_then(|s| s.code())
    }
}

/// A connection from `from` (a loopback address, port chosen by the
/// kernel) to `to`.
pub fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    e2e::net::connect_from(from, to, STEP)
}

pub fn connect(to: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&to, STEP).unwrap();
    s.set_read_timeout(Some(STEP)).unwrap();
    s
}

/// Everything the server side writes until it closes.
pub fn read_all(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read until EOF");
    String::from_utf8_lossy(&out).into_owned()
}

/// Connect, read everything, return (output, client port).
pub fn fetch(to: SocketAddr) -> (String, u16) {
    let s = connect(to);
    let port = s.local_addr().unwrap().port();
    (read_all(s), port)
}

pub fn fetch_from(from: IpAddr, to: SocketAddr) -> (String, u16) {
    let s = connect_from(from, to);
    let port = s.local_addr().unwrap().port();
    (read_all(s), port)
}

/// Replace pids (after `pid`, `ok`, `deny`, `end`) with `PID` and the
/// given port numbers with names, so two runs compare equal.
pub fn normalise(line: &str, ports: &[(u16, &str)]) -> String {
    let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
    for i in 1..words.len() {
        if matches!(words[i - 1].as_str(), "pid" | "ok" | "deny" | "end")
            && words[i].chars().all(|c| c.is_ascii_digit())
            && !words[i].is_empty()
        {
            words[i] = "PID".into();
        }
    }
    let mut s = words.join(" ");
    for (p, name) in ports {
        let p = p.to_string();
        // Ports appear after ':' or '=' and end the field.
        for sep in [':', '='] {
            let from_end = format!("{sep}{p}");
            if s.ends_with(&from_end) {
                s.truncate(s.len() - from_end.len());
                s.push(sep);
                s.push_str(name);
            }
            s = s.replace(&format!("{sep}{p} "), &format!("{sep}{name} "));
            s = s.replace(&format!("{sep}{p}:"), &format!("{sep}{name}:"));
        }
    }
    s
}

pub fn normalise_all(lines: &[String], ports: &[(u16, &str)]) -> Vec<String> {
    lines.iter().map(|l| normalise(l, ports)).collect()
}

/// An identd on `ip`:113 (root only) that answers each query line with
/// `QUERY : reply` (or the raw `reply` when it starts with `!`; `!hang`
/// never answers and holds the connection until the identd is dropped).
pub struct Identd {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Identd {
    pub fn start(ip: IpAddr, reply: &str) -> Identd {
        let l = TcpListener::bind((ip, 113)).expect("bind identd (root?)");
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let reply = reply.to_string();
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(STEP));
                        let mut br = BufReader::new(c.try_clone().unwrap());
                        let mut q = String::new();
                        let _ = br.read_line(&mut q);
                        if reply == "!hang" {
                            while !s2.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            continue;
                        }
                        let out = match reply.strip_prefix('!') {
                            Some(raw) => raw.to_string(),
                            None => format!("{} : {}\r\n", q.trim_end(), reply),
                        };
                        let _ = c.write_all(out.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Identd {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Identd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Compile `rules` text to `cdb` with tcprules (Debian's when installed,
/// else ours); the temporary file sits next to it.
pub fn compile_rules(cdb: &Path, rules: &str) {
    let tool = if Path::new("/usr/bin/tcprules").exists() {
        PathBuf::from("/usr/bin/tcprules")
    } else {
        e2e::bin("tcprules")
    };
    let out = e2e::tcprules::run(&tool, cdb, &cdb.with_extension("tmp"), rules.as_bytes());
    assert!(
        out.status.success(),
        "tcprules failed on {rules:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Write an executable shell script `dir/name`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    e2e::script::sh(&dir.join(name), body)
}

/// Lines of `text` with the port values replaced, for env dumps.
pub fn env_lines(text: &str, ports: &[(u16, &str)]) -> Vec<String> {
    text.lines()
        .map(|l| {
            let mut l = l.to_string();
            for (p, name) in ports {
                for key in [
                    "TCPLOCALPORT=",
                    "TCPREMOTEPORT=",
                    "TCP6LOCALPORT=",
                    "TCP6REMOTEPORT=",
                ] {
                    if l == format!("{key}{p}") {
                        l = format!("{key}{name}");
                    }
                }
            }
            l
        })
        .collect()
}

/// Seconds since `t`, for messages.
pub fn since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}
