//! Shared by the pop3 tests: a user's home with a Maildir, a stand-in
//! checkpassword program, the POP3 chain under our tcpserver on a
//! loopback port, a line-by-line client, and Python's poplib.
//!
//! Run as root, the stand-in checkpassword becomes `nobody` (setpriv)
//! before it runs qmail-pop3d, which refuses root; the home belongs to
//! nobody then.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use e2e::Proc;

/// How long anything in these tests may take.
pub const T: Duration = Duration::from_secs(60);

pub const USER: &str = "pop3t1";
pub const PASS: &str = "secret1";

/// The uid and gid the user runs as: nobody as root, else ourselves.
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

fn chown(p: &Path) {
    if e2e::is_root() {
        let (u, g) = owner();
        std::os::unix::fs::chown(p, Some(u), Some(g)).unwrap();
    }
}

/// A temporary folder with `home/Maildir/{new,cur,tmp}` in it, the home
/// belonging to the user.
pub struct Mailbox {
    pub dir: tempfile::TempDir,
    seq: u32,
}

impl Mailbox {
    pub fn new() -> Mailbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mb = Mailbox { dir, seq: 0 };
        std::fs::create_dir(mb.home()).unwrap();
        chown(&mb.home());
        std::fs::create_dir(mb.maildir()).unwrap();
        chown(&mb.maildir());
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir(mb.maildir().join(sub)).unwrap();
            chown(&mb.maildir().join(sub));
        }
        mb
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn maildir(&self) -> PathBuf {
        self.home().join("Maildir")
    }

    /// Write a message into `sub` (`new` or `cur`) with a Maildir name
    /// and an mtime `age` seconds ago (qmail-pop3d lists only messages
    /// older than the current second); its unique name back.
    pub fn put(&mut self, sub: &str, text: &[u8], age: u64) -> String {
        self.seq += 1;
        let t = SystemTime::now() - Duration::from_secs(age);
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        let uniq = format!("{secs}.M{}P{}.pop.test", self.seq, std::process::id());
        let name = if sub == "cur" {
            format!("{uniq}:2,S")
        } else {
            uniq.clone()
        };
        self.put_named(&format!("{sub}/{name}"), text, t);
        uniq
    }

    /// Write `path` (below the Maildir) with this mtime.
    pub fn put_named(&self, path: &str, text: &[u8], mtime: SystemTime) {
        let p = self.maildir().join(path);
        std::fs::write(&p, text).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        chown(&p);
    }

    /// The names in `sub`, sorted.
    pub fn names(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.maildir().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    /// The stand-in checkpassword program: reads `name\0password\0
    /// timestamp\0` on fd 3, accepts USER with PASS (or APOP's digest of
    /// the timestamp and PASS), sets USER and HOME, changes to the home
    /// and runs its arguments as the user. Exits 1 for a wrong password.
    pub fn checkpassword(&self) -> PathBuf {
        let (uid, gid) = owner();
        let drop_to = if e2e::is_root() {
            format!("setpriv --reuid={uid} --regid={gid} --clear-groups")
        } else {
            String::new()
        };
        let path = self.dir.path().join("checkpassword");
        e2e::script::sh(
            &path,
            &format!(
                r#"data=$(head -c 512 <&3 | tr '\0' '\n')
exec 3<&-
name=$(printf '%s\n' "$data" | sed -n 1p)
pass=$(printf '%s\n' "$data" | sed -n 2p)
ts=$(printf '%s\n' "$data" | sed -n 3p)
[ "$name" = "{USER}" ] || exit 1
apop=$(printf '%s%s' "$ts" "{PASS}" | md5sum | cut -d' ' -f1)
[ "$pass" = "{PASS}" ] || [ "$pass" = "$apop" ] || exit 1
USER="$name"; HOME="{home}"; export USER HOME
cd "$HOME" || exit 111
exec {drop_to} "$@""#,
                home = self.home().display()
            ),
        )
    }

    /// qmail-popup pop.test checkpassword qmail-pop3d Maildir under our
    /// tcpserver on 127.0.0.1, with extra environment `env`.
    pub fn serve(&self, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(e2e::bin("tcpserver"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // A qmail home without control/servercert.pem unless the test
            // gives one: never the machine's /var/qmail.
            .env("QMAILHOME", self.dir.path())
            .envs(env.iter().copied())
            .args(["-1", "-v", "127.0.0.1", "0"])
            .arg(e2e::bin("qmail-popup"))
            .arg("pop.test")
            .arg(self.checkpassword())
            .arg(e2e::bin("qmail-pop3d"))
            .arg("Maildir")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd).expect("spawn tcpserver");
        let stdout = proc.child.stdout.take().unwrap();
        let (line, _) = e2e::read_line_from(stdout, T).expect("tcpserver printed no port");
        let port: u16 = line.trim().parse().expect("port number");
        let log = e2e::log::Log::new();
        log.follow(proc.child.stderr.take().unwrap(), None);
        Server {
            _proc: proc,
            port,
            log,
        }
    }
}

/// The chain under tcpserver.
pub struct Server {
    /// Killed when the test ends.
    _proc: Proc,
    pub port: u16,
    pub log: e2e::log::Log,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Wait until tcpserver has logged `n` ends of connections.
    pub fn wait_ends(&self, n: usize) {
        self.log
            .wait(T, |l| {
                (l.iter().filter(|l| l.contains(" end ")).count() >= n).then_some(())
            })
            .unwrap_or_else(|| panic!("not {n} ends: {:?}", self.log.lines()));
    }
}

/// One POP3 connection read line by line.
pub struct Pop {
    pub r: BufReader<TcpStream>,
}

impl Pop {
    pub fn connect(addr: SocketAddr) -> Pop {
        let s = TcpStream::connect_timeout(&addr, T).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        Pop {
            r: BufReader::new(s),
        }
    }

    /// One line, CRLF included ("" at EOF).
    pub fn line(&mut self) -> String {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).unwrap();
        String::from_utf8_lossy(&l).into_owned()
    }

    /// Lines up to and including `.\r\n`, concatenated.
    pub fn multi(&mut self) -> String {
        let mut out = String::new();
        for _ in 0..1_000_000 {
            let l = self.line();
            out.push_str(&l);
            if l == ".\r\n" || l.is_empty() {
                return out;
            }
        }
        panic!("no end of a multi-line reply")
    }

    pub fn send(&mut self, bytes: &str) {
        self.r.get_mut().write_all(bytes.as_bytes()).unwrap();
    }

    /// Send one command; its one-line reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n"));
        self.line()
    }

    /// Greeting, USER, PASS; asserts the login worked.
    pub fn login(addr: SocketAddr) -> Pop {
        let mut p = Pop::connect(addr);
        assert!(p.line().starts_with("+OK <"));
        assert_eq!(p.cmd(&format!("USER {USER}")), "+OK \r\n");
        assert_eq!(p.cmd(&format!("PASS {PASS}")), "+OK \r\n");
        p
    }

    /// Everything until the server closes.
    pub fn rest(mut self) -> String {
        let mut s = Vec::new();
        let _ = self.r.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    }
}

/// Run a Python 3 script with `args`; its stdout, asserting exit 0.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A free port on 127.0.0.1 for a server that cannot be given port 0
/// (Dovecot's listeners): bound by the kernel's choice, then released.
/// Another process may take it in between; [`Dovecot::start`] retries.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's Dovecot, private: its own config, base_dir and log in a
/// temporary folder, IMAP and POP3 on loopback ports, one passwd-file
/// user (`USER`/`PASS`) whose home is `home`. Needs root (Dovecot's
/// master drops to its own users) and the dovecot-imapd and
/// dovecot-pop3d packages.
pub struct Dovecot {
    proc: Proc,
    /// Config, sockets and log; removed when the test ends.
    _dir: tempfile::TempDir,
    pub imap: u16,
    pub pop3: u16,
}

pub const DOVECOT: &str = "/usr/sbin/dovecot";

impl Dovecot {
    /// False (after saying why) when Dovecot cannot run here.
    pub fn available() -> bool {
        if e2e::original(DOVECOT).is_none() {
            return false;
        }
        !e2e::skip_unless_root("Dovecot runs its master as root")
    }

    pub fn start(home: &Path) -> Dovecot {
        Dovecot::start_with(home, None)
    }

    /// With `checkpassword`: the boot file's documented alternative,
    /// Dovecot's checkpassword passdb running that program (the one
    /// qmail-popup runs) and the prefetch userdb, instead of the
    /// passwd-file.
    pub fn start_with(home: &Path, checkpassword: Option<&Path>) -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (uid, gid) = owner();
        let users = dir.path().join("users");
        std::fs::write(
            &users,
            format!("{USER}:{{PLAIN}}{PASS}:{uid}:{gid}::{}::\n", home.display()),
        )
        .unwrap();
        for attempt in 0..5 {
            let (imap, pop3) = (free_port(), free_port());
            let conf = dir.path().join("dovecot.conf");
            let text = std::fs::read_to_string(e2e::workspace().join("boot/dovecot/dovecot.conf"))
                .unwrap();
            // The boot file with the test's paths and ports.
            let text = text
                .replace("/etc/dovecot/qmail-users", &users.display().to_string())
                .replace("listen = *, ::", "listen = 127.0.0.1")
                .replace("port = 143", &format!("port = {imap}"))
                .replace("port = 110", &format!("port = {pop3}"));
            let text = match checkpassword {
                None => text,
                Some(prog) => {
                    let passdb = format!(
                        "passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {u}\n}}\n\
userdb {{\n  driver = passwd-file\n  args = username_format=%u {u}\n}}\n",
                        u = users.display()
                    );
                    assert!(text.contains(&passdb), "the boot file's passdb changed");
                    text.replace(
                        &passdb,
                        &format!(
                            "passdb {{\n  driver = checkpassword\n  args = {}\n}}\n\
userdb {{\n  driver = prefetch\n}}\n\
import_environment = TZ CORE_OUTOFMEM CORE_ERROR LISTEN_PID LISTEN_FDS INSECURE_SETUID=1\n\
service auth {{\n  user = root\n}}\n",
                            prog.display()
                        ),
                    )
                }
            };
            let d = dir.path().display();
            std::fs::write(
                &conf,
                format!(
                    "{text}\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
log_path = {d}/dovecot.log\ninstance_name = pop3test{attempt}{pid}\n\
auth_failure_delay = 0\n",
                    pid = std::process::id()
                ),
            )
            .unwrap();
            let mut cmd = Command::new(DOVECOT);
            cmd.arg("-F")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut proc = Proc::spawn(&mut cmd).expect("spawn dovecot");
            let up = e2e::poll_until(Duration::from_secs(20), || {
                if proc.child.try_wait().ok().flatten().is_some() {
                    return Some(false);
                }
                let ok = [imap, pop3].iter().all(|&p| {
                    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, p)), T)
                        .ok()
                        .and_then(|s| {
                            s.set_read_timeout(Some(T)).ok()?;
                            let mut l = String::new();
                            BufReader::new(s).read_line(&mut l).ok()?;
                            l.contains("Dovecot").then_some(())
                        })
                        .is_some()
                });
                ok.then_some(true)
            });
            if up == Some(true) {
                return Dovecot {
                    proc,
                    _dir: dir,
                    imap,
                    pop3,
                };
            }
        }
        let log = std::fs::read_to_string(dir.path().join("dovecot.log")).unwrap_or_default();
        panic!("Dovecot did not start: {log}");
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; Proc's drop kills
        // it if it has not ended by then.
        self.proc.signal(nix::sys::signal::Signal::SIGTERM);
        self.proc.wait_timeout(Duration::from_secs(10));
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self._dir.path().join("dovecot.log"));
            eprintln!("Dovecot's log:\n{}", log.unwrap_or_default());
        }
    }
}
