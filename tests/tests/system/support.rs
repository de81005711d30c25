//! Shared by the `system_*` tests: the whole system built and installed,
//! an SMTP client that can speak from any 127.x address, the process
//! tree under a daemon, Maildirs, and `qmail-run` as a child.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::time::Duration;

/// How long anything in these tests may take.
pub const T: Duration = Duration::from_secs(60);

/// The uid and gid the one-folder system runs as: `nobody` when the
/// tests run as root (qmail-run becomes nobody), else ourselves.
pub fn owner() -> (u32, u32) {
    if e2e::is_root() {
        let u = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        (u.uid.as_raw(), u.gid.as_raw())
    } else {
        (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    }
}

/// Run `cmd` as the one-folder system's owner.
pub fn as_owner(cmd: &mut Command) -> &mut Command {
    if e2e::is_root() {
        let (uid, gid) = owner();
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// Every program of the system built with one `cargo build` (once per
/// test process); the folder they are in.
pub fn bins() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            // The test runs from <target>/<profile>/deps/.
            let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "--quiet"]).current_dir(e2e::workspace());
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            for &(name, _, _) in setup::hier::BINARIES {
                cmd.args(["--bin", name]);
            }
            assert!(cmd.status().unwrap().success(), "cargo build failed");
            dir
        })
        .clone()
}

/// Path of our program `name`, built with the others.
pub fn bin(name: &str) -> PathBuf {
    let p = bins().join(name);
    assert!(p.is_file(), "no {}", p.display());
    p
}

/// A temporary folder that other users can enter (the daemons may run
/// as nobody).
pub fn open_tempdir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// One SMTP session with line-by-line replies.
pub struct Smtp {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Smtp {
    /// Connect to 127.0.0.1:`port` from `from` (any 127.x address).
    pub fn connect_from(from: Ipv4Addr, port: u16) -> Smtp {
        let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let tcp = e2e::net::connect_from(IpAddr::V4(from), to, Duration::from_secs(10));
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let w = tcp.try_clone().unwrap();
        let mut smtp = Smtp {
            r: BufReader::new(tcp),
            w,
        };
        let greeting = smtp.reply();
        assert!(greeting.starts_with("220 "), "greeting {greeting:?}");
        smtp
    }

    pub fn connect(port: u16) -> Smtp {
        Smtp::connect_from(Ipv4Addr::LOCALHOST, port)
    }

    /// The next reply (the last line of a multi-line one).
    pub fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).unwrap();
            assert!(n > 0, "connection closed while waiting for a reply");
            let line = line.trim_end().to_string();
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line;
            }
        }
    }

    /// Send one command line, return the reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    /// HELO, MAIL, each RCPT: the RCPT replies.
    pub fn envelope(&mut self, from: &str, to: &[&str]) -> Vec<String> {
        assert!(self.cmd("HELO test").starts_with("250"));
        assert!(self.cmd(&format!("MAIL FROM:<{from}>")).starts_with("250"));
        to.iter()
            .map(|t| self.cmd(&format!("RCPT TO:<{t}>")))
            .collect()
    }

    /// DATA with `body` (LF line ends, no final dot); the final reply.
    pub fn data(&mut self, body: &str) -> String {
        let r = self.cmd("DATA");
        assert!(r.starts_with("354"), "DATA: {r}");
        let mut text = body.replace('\n', "\r\n");
        if !text.ends_with("\r\n") {
            text.push_str("\r\n");
        }
        text.push_str(".\r\n");
        self.w.write_all(text.as_bytes()).unwrap();
        self.reply()
    }

    pub fn quit(mut self) {
        let _ = self.cmd("QUIT");
    }
}

/// Send one message over SMTP from `from_ip`; panics unless every RCPT and
/// the DATA are accepted.
pub fn send(port: u16, from_ip: Ipv4Addr, from: &str, to: &[&str], body: &str) {
    let mut s = Smtp::connect_from(from_ip, port);
    for r in s.envelope(from, to) {
        assert!(r.starts_with("250"), "RCPT: {r}");
    }
    let r = s.data(body);
    assert!(r.starts_with("250 ok"), "DATA: {r}");
    s.quit();
}

/// The messages in `maildir/new`, read whole.
pub fn new_mail(maildir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

/// Wait until a message containing `needle` is in `maildir/new`.
pub fn wait_mail(maildir: &Path, needle: &str) -> String {
    e2e::poll_until(T, || {
        new_mail(maildir).into_iter().find(|m| m.contains(needle))
    })
    .unwrap_or_else(|| {
        panic!(
            "no message with {needle:?} in {} (has {:?})",
            maildir.display(),
            new_mail(maildir)
        )
    })
}

/// A process as /proc shows it.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    pub name: String,
    pub uid: u32,
    /// `R`, `S`, ... `Z` for a zombie.
    pub state: char,
}

/// The process `pid`, if it is alive.
pub fn proc_of(pid: u32) -> Option<ProcInfo> {
    proc_info(pid)
}

/// Every process of the machine.
pub fn all_procs() -> Vec<ProcInfo> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_info)
        .collect()
}

fn proc_info(pid: u32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_string();
    let mut rest = stat[close + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(ProcInfo {
        pid,
        ppid,
        name,
        uid,
        state,
    })
}

/// Every process below `root` (not `root` itself), zombies left out.
pub fn descendants(root: u32) -> Vec<ProcInfo> {
    let all: Vec<ProcInfo> = all_procs().into_iter().filter(|p| p.state != 'Z').collect();
    let mut out: Vec<ProcInfo> = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for c in all.iter().filter(|c| c.ppid == p) {
            if !out.iter().any(|o| o.pid == c.pid) {
                frontier.push(c.pid);
                out.push(c.clone());
            }
        }
    }
    out
}

/// The port `pid` listens on (TCP over IPv4), from /proc.
pub fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_string)
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // local_address st ... inode: state 0A is LISTEN.
        if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
            u16::from_str_radix(f[1].split(':').nth(1)?, 16).ok()
        } else {
            None
        }
    })
}

/// What qmail-run's start line says before the SMTP port.
pub const SMTP_ON: &str = "SMTP on 127.0.0.1:";

/// The port in qmail-run's start line (`... SMTP on 127.0.0.1:PORT; ...`).
pub fn smtp_port(line: &str) -> u16 {
    line.split(SMTP_ON)
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// Program `prog` of the system installed in `home` (running or not),
/// with QMAILHOME set, as the owner.
pub fn command(home: &Path, prog: &str) -> Command {
    let mut c = Command::new(home.join("bin").join(prog));
    c.env("QMAILHOME", home);
    as_owner(&mut c);
    c
}

/// Feed `msg` to the qmail-inject of the system in `home` with `args`;
/// its exit code.
pub fn inject(home: &Path, args: &[&str], msg: &str) -> i32 {
    let mut c = command(home, "qmail-inject");
    c.args(args).stdin(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(msg.as_bytes())
        .unwrap();
    child.wait().unwrap().code().unwrap_or(-1)
}

/// `qmail-run` as a child, its output collected line by line.
pub struct QmailRun {
    pub proc: e2e::Proc,
    pub home: PathBuf,
    lines: e2e::log::Log,
    pub port: u16,
}

impl QmailRun {
    /// Start qmail-run on `home` with SMTP on 127.0.0.1, a port the
    /// kernel picks; returns once the start line names the port.
    pub fn start(home: &Path) -> QmailRun {
        let mut cmd = Command::new(bin("qmail-run"));
        cmd.arg("--home").arg(home);
        if e2e::is_root() {
            cmd.args(["--user", "nobody"]);
        }
        cmd.env("QMAILRUN_LISTEN", "127.0.0.1:0")
            // Started by cargo test, not cargo run: nothing to build.
            .env_remove("CARGO")
            .env_remove("CARGO_MANIFEST_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = e2e::Proc::spawn(&mut cmd).unwrap();
        let lines = e2e::log::Log::new();
        lines.follow(proc.child.stdout.take().unwrap(), Some("qmail-run"));
        lines.follow(proc.child.stderr.take().unwrap(), Some("qmail-run"));
        let mut run = QmailRun {
            proc,
            home: home.to_path_buf(),
            lines,
            port: 0,
        };
        let line = run.wait_log(SMTP_ON);
        run.port = smtp_port(&line);
        run
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lines()
    }

    /// Wait for a log line containing `needle`; the line.
    pub fn wait_log(&mut self, needle: &str) -> String {
        let found = e2e::poll_until(T, || self.lines.find(needle));
        found.unwrap_or_else(|| {
            let status = self.proc.child.try_wait();
            panic!(
                "no log line with {needle:?} (qmail-run: {status:?}): {:#?}",
                self.log()
            )
        })
    }

    /// The one-folder Maildir of local user `user`.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.home.join("mail").join(user).join("Maildir")
    }

    /// Feed `msg` to qmail-inject with `args`; its exit code.
    pub fn inject(&self, args: &[&str], msg: &str) -> i32 {
        inject(&self.home, args, msg)
    }

    /// Ctrl-C: SIGINT to qmail-run alone; its exit status.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        self.proc.signal(nix::sys::signal::Signal::SIGINT);
        self.proc
            .wait_timeout(T)
            .unwrap_or_else(|| panic!("qmail-run did not stop: {:#?}", self.log()))
    }
}
