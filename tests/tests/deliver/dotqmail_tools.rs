//! qmail 1.03's .qmail helpers (bouncesaying, condredirect, except,
//! forward, qreceipt, qbiff) as a .qmail file runs them: through the real
//! qmail-local, with the message on a seekable fd 0 and the report on
//! fd 1 = fd 2, and a recording qmail-queue ($QMAILQUEUE) for what they
//! queue. predate, datemail and mailsubj are run directly. As root,
//! qmail-local runs as nobody in a home nobody owns.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const NOBODY: u32 = 65534;

const MESSAGE: &str = "Subject: spam offer\nFrom: alice@example.org\n\nbuy now\n";

fn chown(p: &Path) {
    if e2e::is_root() {
        std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
    }
}

/// joe's home, a Maildir in it, and a folder a recording qmail-queue
/// writes to.
struct Home {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("joe");
        for sub in ["", "Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"] {
            fs::create_dir_all(path.join(sub)).unwrap();
            fs::set_permissions(path.join(sub), fs::Permissions::from_mode(0o755)).unwrap();
            chown(&path.join(sub));
        }
        let q = dir.path().join("queued");
        fs::create_dir(&q).unwrap();
        fs::set_permissions(&q, fs::Permissions::from_mode(0o777)).unwrap();
        // Records each message as queued/N.mess and queued/N.env.
        e2e::script::sh(
            &dir.path().join("qq"),
            &format!(
                "d={q}; n=$(( $(ls $d | wc -l) / 2 )); cat > $d/$n.mess; cat <&1 > $d/$n.env; exit ${{QQEXIT:-0}}",
                q = q.display()
            ),
        );
        Home { dir, path }
    }

    fn file(&self, name: &str, text: &str) {
        let p = self.path.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        chown(&p);
    }

    fn delivered(&self) -> Vec<String> {
        fs::read_dir(self.path.join("Maildir/new"))
            .unwrap()
            .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }

    /// What the recording qmail-queue got: (message, envelope) pairs.
    fn queued(&self) -> Vec<(String, String)> {
        let q = self.dir.path().join("queued");
        let n = fs::read_dir(&q).unwrap().count() / 2;
        (0..n)
            .map(|i| {
                (
                    fs::read_to_string(q.join(format!("{i}.mess"))).unwrap(),
                    fs::read_to_string(q.join(format!("{i}.env"))).unwrap(),
                )
            })
            .collect()
    }

    /// Run qmail-local for joe-<ext>@example.com (joe himself for an
    /// empty ext) from `sender`.
    fn deliver(
        &self,
        ext: &str,
        sender: &str,
        message: &str,
        env: &[(&str, &str)],
    ) -> (i32, String) {
        let work = tempfile::tempdir().unwrap();
        let mpath = work.path().join("message");
        fs::write(&mpath, message).unwrap();
        let rpath = work.path().join("report");
        let report = fs::File::create(&rpath).unwrap();
        let local = if ext.is_empty() {
            "joe".to_string()
        } else {
            format!("joe-{ext}")
        };
        let mut cmd = Command::new(e2e::bin("qmail-local"));
        cmd.arg("--")
            .args([
                "joe",
                self.path.to_str().unwrap(),
                &local,
                if ext.is_empty() { "" } else { "-" },
                ext,
                "example.com",
                sender,
                "./Maildir/",
            ])
            .env("QMAILQUEUE", self.dir.path().join("qq"))
            .env("QMAILHOME", self.dir.path())
            .stdin(fs::File::open(&mpath).unwrap())
            .stdout(report.try_clone().unwrap())
            .stderr(report);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if e2e::is_root() {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let mut p = e2e::Proc::spawn(&mut cmd).unwrap();
        let st = p
            .wait_timeout(Duration::from_secs(60))
            .expect("qmail-local finished");
        (
            st.code().expect("exited"),
            fs::read_to_string(&rpath).unwrap(),
        )
    }
}

fn b(name: &str) -> String {
    e2e::bin(name).display().to_string()
}

#[test]
fn bouncesaying_bounces_or_lets_delivery_go_on() {
    let h = Home::new();
    h.file(
        ".qmail-closed",
        &format!(
            "|{} 'This address is closed.'\n./Maildir/\n",
            b("bouncesaying")
        ),
    );
    let (code, report) = h.deliver("closed", "alice@example.org", MESSAGE, &[]);
    assert_eq!((code, report.as_str()), (100, "This address is closed.\n"));
    assert!(h.delivered().is_empty());

    // With a program: bounce only when it exits 0.
    h.file(
        ".qmail-filter",
        &format!(
            "|{} 'No spam here.' grep -q '^Subject: spam'\n./Maildir/\n",
            b("bouncesaying")
        ),
    );
    let (code, report) = h.deliver("filter", "alice@example.org", MESSAGE, &[]);
    assert_eq!((code, report.as_str()), (100, "No spam here.\n"));
    let (code, report) = h.deliver("filter", "alice@example.org", "Subject: hello\n\nhi\n", &[]);
    assert_eq!((code, report.as_str()), (0, "did 1+0+1\n"));
    assert_eq!(h.delivered().len(), 1);

    // A temporary error of the program keeps the message queued.
    h.file(
        ".qmail-temp",
        &format!("|{} 'no' sh -c 'exit 111'\n", b("bouncesaying")),
    );
    let (code, report) = h.deliver("temp", "alice@example.org", MESSAGE, &[]);
    assert_eq!(
        (code, report.as_str()),
        (111, "bouncesaying: fatal: temporary child error\n")
    );
    // And a usage error is permanent, with 1.03's usage line.
    h.file(".qmail-usage", &format!("|{}\n", b("bouncesaying")));
    let (code, report) = h.deliver("usage", "alice@example.org", MESSAGE, &[]);
    assert_eq!(
        (code, report.as_str()),
        (
            100,
            "bouncesaying: usage: bouncesaying error [ program [ arg ... ] ]\n"
        )
    );
}

#[test]
fn except_turns_success_into_a_bounce() {
    let h = Home::new();
    h.file(
        ".qmail-x",
        &format!(
            "|{} 'Only spam is accepted here.' {} grep -q spam\n./Maildir/\n",
            b("bouncesaying"),
            b("except")
        ),
    );
    let (code, report) = h.deliver("x", "alice@example.org", "Subject: ham\n\nham\n", &[]);
    assert_eq!(
        (code, report.as_str()),
        (100, "Only spam is accepted here.\n")
    );
    let (code, _) = h.deliver("x", "alice@example.org", MESSAGE, &[]);
    assert_eq!(code, 0);
    assert_eq!(h.delivered().len(), 1);
    // except itself: 0 -> 100, other -> 0.
    h.file(".qmail-y", &format!("|{} true\n./Maildir/\n", b("except")));
    assert_eq!(h.deliver("y", "alice@example.org", MESSAGE, &[]).0, 100);
}

#[test]
fn condredirect_sends_elsewhere_and_stops_the_file() {
    let h = Home::new();
    h.file(
        ".qmail-c",
        &format!(
            "|{} spam@example.net grep -q '^Subject: spam'\n./Maildir/\n",
            b("condredirect")
        ),
    );
    let (code, report) = h.deliver("c", "alice@example.org", MESSAGE, &[]);
    assert_eq!(code, 0, "{report}");
    assert!(report.starts_with("condredirect: qp "), "{report}");
    assert!(report.ends_with("\ndid 0+0+1\n"), "{report}");
    // Exit 99: the Maildir line after it was skipped.
    assert!(h.delivered().is_empty());
    let q = h.queued();
    assert_eq!(q.len(), 1);
    // The whole message (grep read part of it: it was rewound), after
    // qmail-local's Delivered-To line; the sender is SENDER.
    assert_eq!(
        q[0].0,
        format!("Delivered-To: joe-c@example.com\n{MESSAGE}")
    );
    assert_eq!(q[0].1, "Falice@example.org\0Tspam@example.net\0\0");

    // The program says no: delivery goes on.
    let (code, report) = h.deliver("c", "alice@example.org", "Subject: ham\n\nok\n", &[]);
    assert_eq!((code, report.as_str()), (0, "did 1+0+1\n"));
    assert_eq!(h.queued().len(), 1);

    // qmail-queue's refusal is the helper's: permanent -> 100.
    let (code, report) = h.deliver("c", "alice@example.org", MESSAGE, &[("QQEXIT", "31")]);
    assert_eq!(
        (code, report.as_str()),
        (
            100,
            "condredirect: fatal: mail server permanently rejected message (#5.3.0)\n"
        )
    );
}

#[test]
fn forward_uses_newsender_and_dtline() {
    let h = Home::new();
    h.file(
        ".qmail-list",
        &format!("|{} a@example.net b@example.org\n", b("forward")),
    );
    let (code, report) = h.deliver("list", "alice@example.org", MESSAGE, &[]);
    assert_eq!(code, 0, "{report}");
    assert!(report.starts_with("forward: qp "), "{report}");
    let q = h.queued();
    assert_eq!(
        q[0].0,
        format!("Delivered-To: joe-list@example.com\n{MESSAGE}")
    );
    assert_eq!(
        q[0].1,
        "Falice@example.org\0Ta@example.net\0Tb@example.org\0\0"
    );
    // With an owner file, NEWSENDER is the owner (qmail-local's rule).
    h.file(".qmail-list-owner", "&alice@example.org\n");
    assert_eq!(h.deliver("list", "alice@example.org", MESSAGE, &[]).0, 0);
    assert_eq!(
        h.queued()[1].1,
        "Fjoe-list-owner@example.com\0Ta@example.net\0Tb@example.org\0\0"
    );
    // Temporary qmail-queue trouble: 111, the message stays queued.
    let (code, report) = h.deliver("list", "alice@example.org", MESSAGE, &[("QQEXIT", "53")]);
    assert_eq!(
        (code, report.as_str()),
        (
            111,
            "forward: fatal: qq write error or disk full (#4.3.0)\n"
        )
    );
}

#[test]
fn forward_and_condredirect_outside_qmail_local_say_what_is_missing() {
    let out = Command::new(e2e::bin("forward"))
        .arg("a@b")
        .env_remove("NEWSENDER")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(out.stderr, b"forward: fatal: NEWSENDER not set\n");
    let out = Command::new(e2e::bin("condredirect"))
        .arg("a@b")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        out.stderr,
        b"condredirect: usage: condredirect newaddress program [ arg ... ]\n"
    );
}

#[test]
fn qreceipt_answers_a_notice_request() {
    let h = Home::new();
    h.file(
        ".qmail",
        &format!("./Maildir/\n|{} joe@example.com\n", b("qreceipt")),
    );
    let asked = "Message-ID: <42@example.org>\n\
                 Notice-Requested-Upon-Delivery-To: Joe <joe@example.com>\n\nhi\n";
    let (code, report) = h.deliver("", "alice@example.org", asked, &[]);
    assert_eq!((code, report.as_str()), (0, "did 1+0+1\n"));
    let q = h.queued();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].1, "F\0Talice@example.org\0\0");
    assert_eq!(
        q[0].0,
        "From: DELIVERY NOTICE SYSTEM <alice@example.org>\nTo: <alice@example.org>\n\
         Subject: success notice\n\n\
         Hi! This is the qreceipt program. Your message was delivered to the\n\
         following address: joe@example.com. Thanks for asking.\n\
         Your Message-ID: <42@example.org>\n"
    );
    // No request, or a bounce (empty sender): no notice.
    assert_eq!(h.deliver("", "alice@example.org", MESSAGE, &[]).0, 0);
    assert_eq!(h.deliver("", "", asked, &[]).0, 0);
    assert_eq!(h.queued().len(), 1);
}

#[test]
fn qbiff_never_holds_up_delivery() {
    let h = Home::new();
    h.file(".qmail", &format!("|{}\n./Maildir/\n", b("qbiff")));
    let (code, report) = h.deliver("", "alice@example.org", MESSAGE, &[]);
    assert_eq!((code, report.as_str()), (0, "did 1+0+1\n"));
    assert_eq!(h.delivered().len(), 1);
}

#[test]
fn predate_prepends_a_local_date() {
    use std::io::Write;
    let mut child = Command::new(e2e::bin("predate"))
        .arg("cat")
        .env("TZ", "UTC-2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: x\n\nbody\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let (date, rest) = text.split_once('\n').unwrap();
    assert!(
        date.starts_with("Date: ") && date.ends_with(" +0200"),
        "{date}"
    );
    assert_eq!(rest, "Subject: x\n\nbody\n");
    // The child's exit code is predate's.
    let st = Command::new(e2e::bin("predate"))
        .args(["sh", "-c", "cat >/dev/null; exit 7"])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(7));
    let out = Command::new(e2e::bin("predate")).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(out.stderr, b"predate: usage: predate child\n");
}

#[test]
fn datemail_and_mailsubj_use_the_homes_programs() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    fs::create_dir(home.join("bin")).unwrap();
    std::os::unix::fs::symlink(e2e::bin("predate"), home.join("bin/predate")).unwrap();
    let got = home.join("got");
    for name in ["sendmail", "qmail-inject"] {
        e2e::script::sh(
            &home.join("bin").join(name),
            &format!("echo \"{name} $*\" > {g}; cat >> {g}", g = got.display()),
        );
    }
    let run = |prog: &str, args: &[&str], input: &str| {
        let mut c = Command::new(e2e::bin(prog))
            .args(args)
            .env("QMAILHOME", home)
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        assert_eq!(c.wait().unwrap().code(), Some(0));
        fs::read_to_string(&got).unwrap()
    };
    let text = run("datemail", &["-t"], "To: bob\n\nhi\n");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("sendmail -t"));
    let date = lines.next().unwrap();
    assert!(
        date.starts_with("Date: ") && date.ends_with(" +0000"),
        "{date}"
    );
    assert_eq!(lines.collect::<Vec<_>>(), ["To: bob", "", "hi"]);

    let text = run(
        "mailsubj",
        &["status report", "bob@example.org", "carol"],
        "all fine\n",
    );
    assert_eq!(
        text,
        "qmail-inject \nSubject: status report\nTo: bob@example.org carol\n\nall fine\n"
    );
}
