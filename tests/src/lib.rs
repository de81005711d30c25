//! Support for the end-to-end tests in `tests/tests/`: they run the real
//! binaries of the workspace, never library calls.
//!
//! - [`bin`]: path of one of our binaries, built on first use.
//! - [`original`]: path of the Debian tool we compare with, or `None`
//!   (and a line saying the comparison is skipped); [`skip_missing`] for
//!   other peers.
//! - [`Proc`]: a spawned process that is killed by pid when dropped.
//! - [`poll_until`]: wait for a condition with a deadline (no sleeps as
//!   synchronisation elsewhere).
//! - [`read_line_from`]: read one line of a child's output with a deadline.
//! - [`dns`]: an authoritative DNS server on loopback.
//! - [`log`]: a child's output kept line by line, waited on with a deadline.
//! - [`rng`]: a seeded generator for random input and timing.
//! - [`pipeline`]: a running one-folder system for mail through the
//!   whole local path.
//! - [`net`]: a loopback address of a test's own, connecting from one.
//! - [`tcprules`]: run a tcprules on given rules text.
//! - [`script`]: stand-in programs as executable shell scripts.

#![forbid(unsafe_code)]

pub mod dns;
pub mod log;
pub mod net;
pub mod pipeline;
pub mod postfix;
pub mod rng;
pub mod script;
pub mod tcprules;

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The directory cargo puts this profile's binaries in: the test
/// executable lives in `<target>/<profile>/deps/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is in <target>/<profile>/deps")
        .to_path_buf()
}

/// Path of our binary `name`.
///
/// `cargo test` builds only the binaries of the package under test, so the
/// first call for each name builds that binary with the same profile
/// (cargo has released its lock by the time tests run). Building one
/// binary at a time keeps a test from depending on unrelated crates.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|n| n == name) {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--bin", name])
            .current_dir(workspace());
        if target_dir().file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build --bin {name} failed");
        built.push(name.to_string());
    }
    let path = target_dir().join(name);
    assert!(path.exists(), "no binary {}", path.display());
    path
}

/// Path of the original tool (e.g. Debian's `/usr/bin/tcprules`), or
/// `None` after printing why the comparison is skipped. CI installs the
/// originals, so there these comparisons always run; set
/// `REQUIRE_ORIGINALS=1` to make a missing original a failure.
pub fn original(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        return Some(p);
    }
    skip_or_fail(path, "SKIPPED comparison");
    None
}

/// For a peer that is not installed (a Python package, Postfix): print
/// that the test is skipped and return true, or fail when
/// `REQUIRE_ORIGINALS` is set, as [`original`] does.
pub fn skip_missing(what: &str) -> bool {
    skip_or_fail(what, "SKIPPED");
    true
}

fn skip_or_fail(what: &str, label: &str) {
    assert!(
        std::env::var_os("REQUIRE_ORIGINALS").is_none(),
        "{what} is not installed and REQUIRE_ORIGINALS is set"
    );
    eprintln!("{label}: {what} is not installed");
}

/// Where `name` is found in `$PATH` (or /usr/sbin, /sbin, where Debian
/// puts the daemons we run as peers), if anywhere.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// True when the tests run as root (needed for -u/-g and qmail's users).
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Print why a root-only test is skipped and return true when it must be.
pub fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("SKIPPED (needs root): {what}");
    true
}

/// Call `f` until it returns `Some`, at most until `timeout` has passed.
/// Polls every few milliseconds; the deadline bounds the loop.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A child process that is killed (SIGKILL, by pid) and reaped when
/// dropped, so a failing test leaves nothing running.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
}

impl Proc {
    /// Spawn `cmd` with stdin null unless the caller set it.
    pub fn spawn(cmd: &mut Command) -> io::Result<Proc> {
        Ok(Proc {
            child: cmd.spawn()?,
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `sig` to the child.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig);
    }

    /// Wait for the child to exit, at most `timeout`; `None` if it did not.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        poll_until(timeout, || self.child.try_wait().ok().flatten())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Read one line (without its newline) from `r`, in a helper thread so a
/// silent child cannot hang the test: `None` after `timeout`.
pub fn read_line_from<R: Read + Send + 'static>(
    r: R,
    timeout: Duration,
) -> Option<(String, BufReader<R>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut br = BufReader::new(r);
        let mut line = String::new();
        let res = br.read_line(&mut line).map(|_| line);
        let _ = tx.send(res.map(|l| (l, br)));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok((mut line, br))) => {
            while line.ends_with('\n') || line.ends_with('\r') {
                line.pop();
            }
            Some((line, br))
        }
        _ => None,
    }
}

/// A `Command` for one of our binaries, with a clean stdin.
pub fn command(name: &str) -> Command {
    let mut cmd = Command::new(bin(name));
    cmd.stdin(Stdio::null());
    cmd
}
