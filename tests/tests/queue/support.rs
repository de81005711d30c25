//! A whole queue system in a temporary qmail home, for the queue tests.
//!
//! Our binaries are copied into `HOME/bin` (as the installation puts
//! them) and found through `PATH`, as qmail's rc script arranges; stand-in
//! delivery programs are small `/bin/sh` scripts written into the same
//! `bin/`.
//!
//! Modes: as root, [`System::new`] runs everything as `nobody` (uid 65534)
//! in a home nobody owns: qmail's one-folder (non-root) mode, with no
//! program ever running as root. As an ordinary user it runs as that user,
//! the same mode. [`System::new_root`] runs qmail-start as root with
//! qmail's users (root mode).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::time::Duration;

use e2e::Proc;

pub const NOBODY: u32 = 65534;

/// The binaries the queue needs, ours.
pub const QUEUE_BINS: &[&str] = &[
    "qmail-queue",
    "qmail-send",
    "qmail-start",
    "qmail-lspawn",
    "qmail-rspawn",
    "qmail-clean",
    "qmail-qread",
    "qmail-qstat",
];

/// Who runs the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunAs {
    /// Ourselves when not root; nobody when root (the one-folder mode).
    Single,
    /// Root with qmail's users (root mode).
    Root,
}

pub struct System {
    /// Holds the temporary home; removed when the system is dropped.
    _dir: tempfile::TempDir,
    pub home: PathBuf,
    /// uid the one-folder mode runs as (None: ourselves).
    pub uid: Option<u32>,
    pub send: Option<Proc>,
    /// What qmail-send logged, line by line.
    pub log: e2e::log::Log,
}

/// Copy `src` to `dst` as an executable.
pub fn install(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("tmp");
    fs::copy(src, &tmp).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(&tmp, dst).unwrap();
}

impl System {
    /// A one-folder system: control/me and locals say `test.example`.
    pub fn new() -> System {
        Self::with(RunAs::Single)
    }

    pub fn with(run_as: RunAs) -> System {
        let dir = tempfile::Builder::new().prefix("qtest").tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("qmail");
        fs::create_dir(&home).unwrap();
        let uid = if run_as == RunAs::Single && e2e::is_root() {
            Some(NOBODY)
        } else {
            None
        };
        let s = System {
            _dir: dir,
            home,
            uid,
            send: None,
            log: e2e::log::Log::new(),
        };
        for d in ["bin", "control", "alias", "mail", "users"] {
            fs::create_dir(s.home.join(d)).unwrap();
        }
        for b in QUEUE_BINS {
            install(&e2e::bin(b), &s.home.join("bin").join(b));
        }
        s.control("me", "test.example\n");
        s.control("locals", "test.example\n");
        let ids = if run_as == RunAs::Root {
            Some(queue::owners::Ids::lookup().expect("qmail's users"))
        } else {
            None
        };
        queue::layout::create(&s.home.join("queue"), ids.as_ref()).unwrap();
        if let Some(ids) = &ids {
            // qmail-queue is setuid qmailq with its home fixed in it, as
            // installed: set-id, it ignores QMAILHOME.
            let qq = s.home.join("bin/qmail-queue");
            let mut bytes = fs::read(&qq).unwrap();
            queue::home::fix(&mut bytes, &s.home).unwrap();
            fs::write(&qq, &bytes).unwrap();
            std::os::unix::fs::chown(&qq, Some(ids.qmailq), Some(ids.qmail)).unwrap();
            fs::set_permissions(&qq, fs::Permissions::from_mode(0o4711)).unwrap();
        }
        s.chown_all();
        s
    }

    /// Give everything to the one-folder user (as root).
    pub fn chown_all(&self) {
        if let Some(uid) = self.uid {
            chown_r(&self.home, uid);
        }
    }

    pub fn control(&self, name: &str, text: &str) {
        let p = self.home.join("control").join(name);
        fs::write(&p, text).unwrap();
        if let Some(uid) = self.uid {
            std::os::unix::fs::chown(&p, Some(uid), Some(uid)).unwrap();
        }
    }

    /// A stand-in program in `bin/`.
    pub fn script(&self, name: &str, body: &str) {
        e2e::script::sh(&self.home.join("bin").join(name), body);
    }

    /// Stand-in qmail-getpw and qmail-local: a local part starting `soft`
    /// fails temporarily (exit 111), `hard` permanently (exit 100);
    /// anything else is written to `mail/<local>.<pid>` after a line
    /// `sender <...>`.
    pub fn standin_delivery(&self) {
        self.script(
            "qmail-getpw",
            "printf 'u\\0%s\\0%s\\0%s\\0-\\0%s\\0' \"$(id -u)\" \"$(id -g)\" \"$QMAILHOME/mail\" \"$1\"",
        );
        self.script(
            "qmail-local",
            r#"case "$4" in
soft*) echo "Sorry, try later. (#4.3.0)"; exit 111;;
hard*) echo "Sorry, no mailbox here by that name. (#5.1.1)"; exit 100;;
esac
f="$QMAILHOME/mail/$4.$$"
{ echo "sender <$8>"; cat; } > "$f.tmp" && mv "$f.tmp" "$f"
echo "did 0+0+1"
exit 0"#,
        );
        self.chown_all();
    }

    /// What the stand-in qmail-local delivered to `local`, sorted.
    pub fn mailbox(&self, local: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.home.join("mail"))
            .unwrap()
            .filter_map(|e| {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                let (l, rest) = name.rsplit_once('.')?;
                (l == local && rest.chars().all(|c| c.is_ascii_digit()))
                    .then(|| fs::read_to_string(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    }

    /// Our real binary `name` in `bin/`.
    pub fn real(&self, name: &str) {
        install(&e2e::bin(name), &self.home.join("bin").join(name));
    }

    /// A Maildir for `user` at `mail/user/Maildir/`, where the one-folder
    /// qmail-getpw puts user homes.
    pub fn maildir(&self, user: &str) -> PathBuf {
        let m = self.home.join("mail").join(user).join("Maildir");
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(m.join(sub)).unwrap();
        }
        fs::set_permissions(
            self.home.join("mail").join(user),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        if let Some(uid) = self.uid {
            chown_r(&self.home.join("mail").join(user), uid);
        }
        m
    }

    /// The files in a Maildir's new/, contents sorted.
    pub fn delivered(&self, user: &str) -> Vec<Vec<u8>> {
        let dir = self.home.join("mail").join(user).join("Maildir/new");
        let mut v: Vec<Vec<u8>> = match fs::read_dir(&dir) {
            Ok(d) => d.map(|e| fs::read(e.unwrap().path()).unwrap()).collect(),
            Err(_) => Vec::new(),
        };
        v.sort();
        v
    }

    fn path_env(&self) -> String {
        format!("{}:/usr/bin:/bin", self.home.join("bin").display())
    }

    /// A command for one of the system's programs, as the system's user.
    pub fn command(&self, prog: &str) -> Command {
        let mut c = Command::new(self.home.join("bin").join(prog));
        c.env_clear()
            .env("PATH", self.path_env())
            .env("QMAILHOME", &self.home)
            .current_dir(&self.home);
        if let Some(uid) = self.uid {
            c.uid(uid).gid(uid);
        }
        c
    }

    /// Start with real delivery: our qmail-local and qmail-getpw, and
    /// `./Maildir/` as the default delivery, into a Maildir for `user`.
    pub fn start_delivering_to_maildir(&mut self, user: &str) {
        self.real("qmail-local");
        self.real("qmail-getpw");
        self.maildir(user);
        self.chown_all();
        self.start("./Maildir/");
    }

    /// Start qmail-start with `defaultdelivery`; its log is collected.
    pub fn start(&mut self, defaultdelivery: &str) {
        self.start_with(&[defaultdelivery], &[]);
    }

    /// Start qmail-start with these arguments and extra environment.
    pub fn start_with(&mut self, args: &[&str], env: &[(&str, &str)]) {
        let mut c = Command::new(self.home.join("bin/qmail-start"));
        c.args(args)
            .env_clear()
            .env("PATH", self.path_env())
            .env("QMAILHOME", &self.home)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(uid) = self.uid {
            c.uid(uid).gid(uid);
        }
        let started = self.log_count("status: local 0/");
        let mut p = Proc::spawn(&mut c).unwrap();
        self.log.follow(p.child.stdout.take().unwrap(), None);
        self.send = Some(p);
        assert!(
            self.wait_log_n("status: local 0/", started + 1, Duration::from_secs(20)),
            "qmail-send did not start: {:?}",
            self.log_lines()
        );
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lines()
    }

    /// Lines containing `pat`.
    pub fn log_count(&self, pat: &str) -> usize {
        self.log.count(pat)
    }

    /// Wait until a log line contains `pat`.
    pub fn wait_log(&self, pat: &str, t: Duration) -> bool {
        self.wait_log_n(pat, 1, t)
    }

    pub fn wait_log_n(&self, pat: &str, n: usize, t: Duration) -> bool {
        e2e::poll_until(t, || (self.log_count(pat) >= n).then_some(())).is_some()
    }

    /// The pids of qmail-send's children (the spawners, qmail-clean).
    pub fn helpers(&self) -> Vec<i32> {
        let Some(p) = &self.send else {
            return Vec::new();
        };
        let pid = p.pid();
        let mut out = Vec::new();
        if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                if let Ok(s) = fs::read_to_string(t.path().join("children")) {
                    out.extend(s.split_whitespace().filter_map(|x| x.parse::<i32>().ok()));
                }
            }
        }
        out
    }

    /// TERM qmail-send and wait for it to exit; the helpers follow when
    /// their pipes close.
    pub fn stop(&mut self) {
        let helpers = self.helpers();
        if let Some(mut p) = self.send.take() {
            p.signal(nix::sys::signal::Signal::SIGTERM);
            let st = p.wait_timeout(Duration::from_secs(30));
            assert!(st.is_some(), "qmail-send did not exit on TERM");
        }
        reap(&helpers);
    }

    /// kill -9 qmail-send, and its helpers.
    pub fn kill(&mut self) {
        let helpers = self.helpers();
        self.send.take(); // Proc's drop: SIGKILL by pid, reaped
        reap(&helpers);
    }

    /// Send a signal to qmail-send.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(p) = &self.send {
            p.signal(sig);
        }
    }

    /// Queue a message through bin/qmail-queue; its exit code.
    pub fn inject(&self, sender: &str, rcpts: &[&str], msg: &[u8]) -> i32 {
        let env = control::qmail_queue::envelope(sender.as_bytes(), rcpts);
        self.inject_raw(msg, &env)
    }

    /// Queue with a raw envelope.
    pub fn inject_raw(&self, msg: &[u8], env: &[u8]) -> i32 {
        let (er, mut ew) = std::io::pipe().unwrap();
        let mut c = self.command("qmail-queue");
        c.stdin(Stdio::piped()).stdout(Stdio::from(er));
        let mut p = Proc::spawn(&mut c).unwrap();
        let mut stdin = p.child.stdin.take().unwrap();
        let msg = msg.to_vec();
        let w = std::thread::spawn(move || {
            let _ = stdin.write_all(&msg);
        });
        let _ = w.join();
        let _ = ew.write_all(env);
        drop(ew);
        let st = p
            .wait_timeout(Duration::from_secs(30))
            .expect("qmail-queue exits");
        st.code().unwrap_or(-1)
    }

    /// The queue directory.
    pub fn queue(&self) -> PathBuf {
        self.home.join("queue")
    }

    /// Ids of messages in `queue/info`.
    pub fn queued(&self) -> Vec<u64> {
        queue::layout::scan_split(&self.queue().join("info")).unwrap()
    }

    /// Number of files under queue/DIR.
    pub fn count(&self, dir: &str) -> usize {
        count_files(&self.queue().join(dir))
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let helpers = self.helpers();
        self.send.take();
        reap(&helpers);
    }
}

/// Kill (by pid) and wait for helpers still running.
pub fn reap(pids: &[i32]) {
    // They exit by themselves once qmail-send's pipes close; give them a
    // moment, then make sure.
    let alive = |pid: i32| {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    };
    let _ = e2e::poll_until(Duration::from_secs(10), || {
        pids.iter().all(|&p| !alive(p)).then_some(())
    });
    for &p in pids {
        if alive(p) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

pub fn count_files(p: &Path) -> usize {
    let Ok(d) = fs::read_dir(p) else { return 0 };
    d.map(|e| {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            count_files(&e.path())
        } else {
            1
        }
    })
    .sum()
}

pub fn chown_r(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
    if fs::symlink_metadata(p).unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap() {
            chown_r(&e.unwrap().path(), uid);
        }
    }
}

/// mtime of a file, seconds.
pub fn mtime(p: &Path) -> i64 {
    fs::metadata(p).unwrap().mtime()
}

/// Set a file's atime and mtime.
pub fn set_times(p: &Path, secs: i64) {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs as u64);
    fs::File::options()
        .write(true)
        .open(p)
        .or_else(|_| fs::File::open(p))
        .unwrap()
        .set_times(fs::FileTimes::new().set_accessed(t).set_modified(t))
        .unwrap();
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
