//! The whole local path: qmail-inject -> qmail-queue -> qmail-send ->
//! qmail-lspawn -> qmail-getpw -> qmail-local -> a Maildir, in the
//! one-folder mode (as root, everything runs as nobody in a home nobody
//! owns), and a bounce for a local user who does not exist.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const NOBODY: u32 = 65534;

fn mkdir(p: &Path) {
    fs::create_dir_all(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Give everything under `p` to nobody when we are root.
fn give_away(p: &Path) {
    if !e2e::is_root() {
        return;
    }
    let status = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(p)
        .status()
        .unwrap();
    assert!(status.success());
}

struct System {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bindir: PathBuf,
    send: Option<e2e::Proc>,
}

impl System {
    fn start() -> System {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("qmail");
        mkdir(&root);
        mkdir(&root.join("control"));
        fs::write(root.join("control/me"), "mail.example.com\n").unwrap();
        fs::write(root.join("control/locals"), "mail.example.com\n").unwrap();
        // The queue as qmail's `make setup` makes it, given to nobody
        // below with the rest.
        queue::layout::create(&root.join("queue"), None).unwrap();
        for d in [
            "mail/joe/Maildir/tmp",
            "mail/joe/Maildir/new",
            "mail/joe/Maildir/cur",
            "alias",
        ] {
            mkdir(&root.join(d));
        }
        give_away(&root);

        // Every program of the system, found on PATH as qmail-start
        // expects, and in bin/ for the ones run from the qmail home.
        let mut bindir = PathBuf::new();
        mkdir(&root.join("bin"));
        for name in [
            "qmail-start",
            "qmail-send",
            "qmail-lspawn",
            "qmail-rspawn",
            "qmail-clean",
            "qmail-remote",
            "qmail-queue",
            "qmail-getpw",
            "qmail-local",
            "qmail-inject",
            "sendmail",
            "preline",
        ] {
            let b = e2e::bin(name);
            bindir = b.parent().unwrap().to_path_buf();
            std::os::unix::fs::symlink(&b, root.join("bin").join(name)).unwrap();
        }

        let log = fs::File::create(dir.path().join("log")).unwrap();
        let mut cmd = Command::new(root.join("bin/qmail-start"));
        cmd.arg("./Maildir/")
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bindir.display()))
            .env("QMAILHOME", &root)
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        if e2e::is_root() {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let send = e2e::Proc::spawn(&mut cmd).unwrap();
        System {
            _dir: dir,
            root,
            bindir,
            send: Some(send),
        }
    }

    fn inject(&self, args: &[&str], msg: &str) {
        self.submit("qmail-inject", args, msg);
    }

    fn submit(&self, prog: &str, args: &[&str], msg: &str) {
        use std::io::Write;
        let mut cmd = Command::new(self.bindir.join(prog));
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("QMAILHOME", &self.root)
            .env("USER", "joe")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped());
        if e2e::is_root() {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(msg.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn wait_for_mail(&self, count: usize) -> Vec<String> {
        let new = self.root.join("mail/joe/Maildir/new");
        let got = e2e::poll_until(Duration::from_secs(30), || {
            let files: Vec<PathBuf> = fs::read_dir(&new)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            (files.len() >= count).then_some(files)
        });
        let log = fs::read_to_string(self._dir.path().join("log")).unwrap_or_default();
        let files = got.unwrap_or_else(|| panic!("no delivery; qmail-send log:\n{log}"));
        let mut texts: Vec<String> = files
            .iter()
            .map(|f| fs::read_to_string(f).unwrap())
            .collect();
        texts.sort();
        texts
    }
}

impl Drop for System {
    fn drop(&mut self) {
        if let Some(mut p) = self.send.take() {
            let pgid = nix::unistd::Pid::from_raw(p.pid() as i32);
            p.signal(nix::sys::signal::Signal::SIGTERM);
            let _ = p.wait_timeout(Duration::from_secs(10));
            // The spawners and qmail-clean are in the same process group.
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[test]
fn echo_to_joe_pipe_qmail_inject_reaches_the_maildir() {
    let sys = System::start();
    sys.inject(&[], "to: joe\nSubject: through the queue\n\nhello\n");
    let mail = sys.wait_for_mail(1);
    let m = &mail[0];
    assert!(
        m.starts_with(
            "Return-Path: <joe@mail.example.com>\nDelivered-To: joe@mail.example.com\nReceived: (qmail "
        ),
        "{m}"
    );
    assert!(m.contains("\nFrom: joe@mail.example.com\n"), "{m}");
    assert!(
        m.ends_with("\nto: joe@mail.example.com\nSubject: through the queue\n\nhello\n"),
        "{m}"
    );
}

#[test]
fn a_nonexistent_local_user_bounces_to_the_sender() {
    let sys = System::start();
    sys.inject(
        &["nosuchuser@mail.example.com"],
        "Subject: lost\n\nwhere?\n",
    );
    let mail = sys.wait_for_mail(1);
    let m = &mail[0];
    assert!(
        m.starts_with("Return-Path: <>\nDelivered-To: joe@mail.example.com\n"),
        "{m}"
    );
    assert!(
        m.contains("Hi. This is the qmail-send program at mail.example.com."),
        "{m}"
    );
    assert!(
        m.contains(
            "<nosuchuser@mail.example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n"
        ),
        "{m}"
    );
    assert!(m.contains("Subject: lost\n\nwhere?\n"), "{m}");
}

#[test]
fn sendmail_t_reaches_the_maildir() {
    let sys = System::start();
    // Bcc goes to joe's extension "copy", delivered to the same Maildir.
    let copy = sys.root.join("mail/joe/.qmail-copy");
    fs::write(&copy, "./Maildir/\n").unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o644)).unwrap();
    give_away(&copy);
    sys.submit(
        "sendmail",
        &["-t", "-oi", "-f", "boss@mail.example.com", "-F", "The Boss"],
        "To: joe@mail.example.com\nBcc: joe-copy@mail.example.com\nSubject: memo\n\n.\nbody\n",
    );
    let mail = sys.wait_for_mail(2);
    let rp = "Return-Path: <boss@mail.example.com>\n";
    assert!(
        mail.iter()
            .any(|m| m.starts_with(&format!("{rp}Delivered-To: joe@mail.example.com\n")))
    );
    assert!(
        mail.iter()
            .any(|m| m.starts_with(&format!("{rp}Delivered-To: joe-copy@mail.example.com\n")))
    );
    for m in &mail {
        assert!(
            m.contains("\nFrom: \"The Boss\" <boss@mail.example.com>\n"),
            "{m}"
        );
        assert!(!m.contains("Bcc"), "{m}");
        assert!(m.ends_with("\nSubject: memo\n\n.\nbody\n"), "{m}");
    }
}

#[test]
fn a_dot_qmail_forward_goes_back_through_the_queue() {
    let sys = System::start();
    let fwd = sys.root.join("mail/joe/.qmail-fwd");
    fs::write(&fwd, "&joe@mail.example.com\n").unwrap();
    fs::set_permissions(&fwd, fs::Permissions::from_mode(0o644)).unwrap();
    give_away(&fwd);
    sys.inject(&["joe-fwd@mail.example.com"], "Subject: fwd\n\nforwarded\n");
    let mail = sys.wait_for_mail(1);
    let m = &mail[0];
    // The forwarded copy keeps the original sender and carries both
    // Delivered-To lines, the newest first.
    assert!(
        m.starts_with(
            "Return-Path: <joe@mail.example.com>\nDelivered-To: joe@mail.example.com\n\
             Received: (qmail "
        ),
        "{m}"
    );
    assert!(
        m.contains("\nDelivered-To: joe-fwd@mail.example.com\nReceived: (qmail "),
        "{m}"
    );
    assert!(m.ends_with("Subject: fwd\n\nforwarded\n"), "{m}");
}
