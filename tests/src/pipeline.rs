//! The whole local path as one running system, for the tests that mail
//! through it: qmail-inject -> qmail-queue -> qmail-send -> qmail-lspawn
//! -> qmail-getpw -> qmail-local -> Maildirs of joe and bob, in the
//! one-folder mode (as root, everything runs as nobody in a home nobody
//! owns). The `.qmail` helpers bouncesaying and forward are in `bin/`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The user everything runs as when the tests run as root.
pub const NOBODY: u32 = 65534;

/// A directory (and its parents), mode 0755.
pub fn mkdir(p: &Path) {
    fs::create_dir_all(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Give everything under `p` to nobody when we are root.
pub fn give_away(p: &Path) {
    if !crate::is_root() {
        return;
    }
    let status = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(p)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A running one-folder system: qmail-start and its daemons on a home
/// with users joe and bob, each with a Maildir.
pub struct System {
    _dir: tempfile::TempDir,
    /// The qmail home.
    pub root: PathBuf,
    bindir: PathBuf,
    send: Option<crate::Proc>,
}

impl System {
    pub fn start() -> System {
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
            let b = crate::bin(name);
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
        if crate::is_root() {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let send = crate::Proc::spawn(&mut cmd).unwrap();
        System {
            _dir: dir,
            root,
            bindir,
            send: Some(send),
        }
    }

    pub fn dot_qmail(&self, user: &str, name: &str, text: &str) {
        let p = self.root.join("mail").join(user).join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        give_away(&p);
    }

    pub fn inject(&self, args: &[&str], msg: &str) {
        self.submit("qmail-inject", args, msg);
    }

    pub fn submit(&self, prog: &str, args: &[&str], msg: &str) {
        use std::io::Write;
        let mut cmd = Command::new(self.bindir.join(prog));
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("QMAILHOME", &self.root)
            .env("USER", "joe")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped());
        if crate::is_root() {
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

    pub fn wait_for_mail(&self, count: usize) -> Vec<String> {
        self.wait_for_mail_of("joe", count)
    }

    pub fn wait_for_mail_of(&self, user: &str, count: usize) -> Vec<String> {
        let new = self.root.join(format!("mail/{user}/Maildir/new"));
        let got = crate::poll_until(Duration::from_secs(30), || {
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
