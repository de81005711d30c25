//! README's two commands, as written, on a fresh clone of the committed
//! repository: the first (the whole system in ./qmail-run/) runs in the
//! background until SMTP answers, a message sent to you@localhost is found
//! in qmail-run/mail/you/Maildir/new/, then SIGINT (Ctrl-C) stops it and
//! it exits 0 having said it stopped cleanly. The second (the test suite)
//! runs in the clone with a libtest filter that selects only this test,
//! which there sees `QMAIL_README_NESTED` and returns at once: the whole
//! suite compiles from a clean clone and its harness runs, without
//! running the suite twice or recursing.
//!
//! The clone lives in a fixed folder below the temporary directory (named
//! after this build's target folder), re-cloned every run; its own
//! `CARGO_TARGET_DIR` beside it is kept between runs, so only what
//! changed is rebuilt. The clone must not share our target folder:
//! its binaries have the same names and would replace ours under running
//! tests. The first command's SMTP address comes from `QMAILRUN_LISTEN`
//! (port 0, the kernel's choice, read from its start line) so the test
//! needs no fixed port; the command line itself is the README's.

use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::support::{send, wait_mail};

/// A cold build of the whole workspace may take this long.
const BUILD: Duration = Duration::from_secs(3600);

/// The two commands of README's first code block, comments removed.
fn readme_commands(readme: &str) -> (String, String) {
    let block = readme.split("```").nth(1).expect("README has a code block");
    let mut cmds = block
        .lines()
        .skip(1) // the language tag
        .map(|l| l.split(" #").next().unwrap().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let run = cmds.next().expect("a first command").to_string();
    let test = cmds.next().expect("a second command").to_string();
    (run, test)
}

/// The fixed folder of this build's clone and its target folder.
fn base() -> PathBuf {
    let target = std::env::current_exe().unwrap();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    target.parent().unwrap().parent().unwrap().hash(&mut h);
    let uid = nix::unistd::getuid().as_raw();
    std::env::temp_dir().join(format!("qmail-readme-{uid}-{:016x}", h.finish()))
}

/// A shell command in `dir` with cargo in PATH and our target folder.
fn shell(dir: &Path, target: &Path, line: &str) -> Command {
    let cargo = PathBuf::from(env!("CARGO"));
    let mut path = std::ffi::OsString::from(cargo.parent().unwrap());
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut c = Command::new("/bin/sh");
    c.arg("-c")
        .arg(format!("exec {line}"))
        .current_dir(dir)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target)
        .env("QMAIL_README_NESTED", "1")
        // We are run by cargo test; the clone's commands must not see our
        // cargo's variables.
        .env_remove("CARGO")
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("CARGO_MANIFEST_PATH")
        .env_remove("CARGO_PKG_NAME")
        .env_remove("RUST_TEST_THREADS")
        .stdin(Stdio::null());
    c
}

#[test]
fn the_readme_commands_work_on_a_fresh_clone() {
    if std::env::var_os("QMAIL_README_NESTED").is_some() {
        eprintln!("SKIPPED: already inside the README test's clone");
        return;
    }
    let git = Command::new("git").arg("--version").output();
    if !git.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: git is not installed");
        return;
    }
    let base = base();
    std::fs::create_dir_all(&base).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    // One run at a time per folder.
    let lock = std::fs::File::create(base.join("lock")).unwrap();
    nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap();
    let repo = base.join("repo");
    let target = base.join("target");
    if repo.exists() {
        // A qmail-run folder of a run as root belongs to nobody; root may
        // still remove it.
        std::fs::remove_dir_all(&repo).unwrap();
    }
    let st = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(e2e::workspace())
        .arg(&repo)
        .status()
        .unwrap();
    assert!(st.success(), "git clone failed");
    std::fs::set_permissions(&repo, std::fs::Permissions::from_mode(0o755)).unwrap();

    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let (run, test) = readme_commands(&readme);
    eprintln!("README's commands: {run:?} and {test:?}");

    // The first command, in the background until SMTP answers.
    let mut cmd = shell(&repo, &target, &run);
    cmd.env("QMAILRUN_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = e2e::Proc::spawn(&mut cmd).unwrap();
    let lines = e2e::log::Log::new();
    lines.follow(proc.child.stdout.take().unwrap(), Some("readme"));
    lines.follow(proc.child.stderr.take().unwrap(), Some("readme"));
    let seen = |needle: &str| lines.find(needle);
    let banner = e2e::poll_until(BUILD, || {
        if let Ok(Some(st)) = proc.child.try_wait() {
            panic!("{run:?} ended before SMTP answered: {st}");
        }
        seen(super::support::SMTP_ON)
    })
    .expect("the system never came up");
    let port = super::support::smtp_port(&banner);
    send(
        port,
        Ipv4Addr::LOCALHOST,
        "me@example.com",
        &["you@localhost"],
        "Subject: hello from the README test\n\nIt works.\n",
    );
    let maildir = repo.join("qmail-run/mail/you/Maildir");
    let m = wait_mail(&maildir, "Subject: hello from the README test");
    assert!(m.contains("Delivered-To: you@localhost"), "{m}");

    // Ctrl-C.
    proc.signal(nix::sys::signal::Signal::SIGINT);
    let st = proc
        .wait_timeout(Duration::from_secs(120))
        .expect("qmail-run did not stop after SIGINT");
    assert_eq!(st.code(), Some(0), "exit status after SIGINT: {st}");
    assert!(seen("stopped cleanly").is_some(), "{:#?}", lines.lines());
    assert!(
        super::support::descendants(proc.pid()).is_empty(),
        "processes left behind"
    );

    // The second command, filtered to this test (which returns at once in
    // the clone).
    let filtered = format!("{test} -- the_readme_commands_work_on_a_fresh_clone");
    let mut cmd = shell(&repo, &target, &filtered);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut proc = e2e::Proc::spawn(&mut cmd).unwrap();
    let lines = e2e::log::Log::new();
    lines.follow(proc.child.stdout.take().unwrap(), Some("readme"));
    lines.follow(proc.child.stderr.take().unwrap(), Some("readme"));
    let st = proc
        .wait_timeout(BUILD)
        .expect("the test command did not finish");
    assert!(st.success(), "{filtered:?} failed: {st}");
    let out = lines.lines().join("\n");
    assert!(
        out.contains("test readme::the_readme_commands_work_on_a_fresh_clone ... ok"),
        "{out}"
    );
}

#[test]
fn readme_commands_are_read_from_the_first_block() {
    let (run, test) = readme_commands(
        "# x\n\n```sh\ncargo run --release --bin qmail-run   # a system\ncargo test --workspace  # tests\n```\n",
    );
    assert_eq!(run, "cargo run --release --bin qmail-run");
    assert_eq!(test, "cargo test --workspace");
}
