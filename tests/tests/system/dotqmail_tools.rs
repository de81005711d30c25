//! bouncesaying and forward through the whole system, in the one-folder
//! mode: qmail-inject -> qmail-queue -> qmail-send -> qmail-lspawn ->
//! qmail-local, which runs the helper from a .qmail file (found on PATH,
//! as a site's bin/ would be); the bounce comes back to the sender, the
//! forwarded copy reaches another user's Maildir. The support code is
//! deliver_pipeline's.

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
            "mail/bob/Maildir/tmp",
            "mail/bob/Maildir/new",
            "mail/bob/Maildir/cur",
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
            "bouncesaying",
            "forward",
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

    fn dot_qmail(&self, user: &str, name: &str, text: &str) {
        let p = self.root.join("mail").join(user).join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        give_away(&p);
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
        self.wait_for_mail_of("joe", count)
    }

    fn wait_for_mail_of(&self, user: &str, count: usize) -> Vec<String> {
        let new = self.root.join(format!("mail/{user}/Maildir/new"));
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
fn bouncesaying_in_a_dot_qmail_bounces_to_the_sender() {
    let sys = System::start();
    sys.dot_qmail(
        "joe",
        ".qmail-closed",
        "|bouncesaying 'This address is closed.'\n",
    );
    sys.inject(
        &["joe-closed@mail.example.com"],
        "Subject: anyone?\n\nhello\n",
    );
    let mail = sys.wait_for_mail(1);
    let m = &mail[0];
    assert!(
        m.starts_with("Return-Path: <>\nDelivered-To: joe@mail.example.com\n"),
        "{m}"
    );
    assert!(
        m.contains("<joe-closed@mail.example.com>:\nThis address is closed.\n"),
        "{m}"
    );
    assert!(m.contains("Subject: anyone?\n\nhello\n"), "{m}");
}

#[test]
fn forward_in_a_dot_qmail_reaches_another_maildir() {
    let sys = System::start();
    sys.dot_qmail("joe", ".qmail-fwd", "|forward bob@mail.example.com\n");
    sys.inject(
        &["joe-fwd@mail.example.com"],
        "Subject: for bob\n\nforwarded\n",
    );
    let mail = sys.wait_for_mail_of("bob", 1);
    let m = &mail[0];
    // forward's envelope sender is NEWSENDER (the original sender here);
    // its copy carries joe-fwd's Delivered-To line under bob's.
    assert!(
        m.starts_with(
            "Return-Path: <joe@mail.example.com>\nDelivered-To: bob@mail.example.com\nReceived: (qmail "
        ),
        "{m}"
    );
    assert!(
        m.contains("\nDelivered-To: joe-fwd@mail.example.com\n"),
        "{m}"
    );
    assert!(m.ends_with("Subject: for bob\n\nforwarded\n"), "{m}");
    assert_eq!(
        fs::read_dir(sys.root.join("mail/joe/Maildir/new"))
            .unwrap()
            .count(),
        0
    );
}
