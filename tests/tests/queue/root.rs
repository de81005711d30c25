//! Root mode: qmail-start run as root with qmail's users. Each daemon runs
//! as its own user (qmail-send as qmails, qmail-rspawn as qmailr,
//! qmail-clean as qmailq, qmail-lspawn as root), qmail-queue is setuid
//! qmailq, deliveries run as the recipient's user and never as root.
//!
//! Needs root; skipped otherwise. When qmail's users and groups do not
//! exist, the test creates them (system accounts, no login) and removes
//! exactly the ones it created at the end.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use super::support::{NOBODY, RunAs, System};

const T: Duration = Duration::from_secs(30);

const GROUPS: &[&str] = &["qmail", "nofiles"];
const USERS: &[(&str, &str)] = &[
    ("alias", "nofiles"),
    ("qmaild", "nofiles"),
    ("qmaill", "nofiles"),
    ("qmailp", "nofiles"),
    ("qmailq", "qmail"),
    ("qmailr", "qmail"),
    ("qmails", "qmail"),
];

/// qmail's accounts, removed on drop if we made them.
struct Accounts {
    users: Vec<&'static str>,
    groups: Vec<&'static str>,
}

fn run(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status().unwrap();
    assert!(st.success(), "{cmd} {args:?}");
}

impl Accounts {
    fn ensure() -> Accounts {
        let mut a = Accounts {
            users: Vec::new(),
            groups: Vec::new(),
        };
        for g in GROUPS {
            if queue::owners::gid_of(g).is_none() {
                run("groupadd", &["--system", g]);
                a.groups.push(g);
            }
        }
        for (u, g) in USERS {
            if queue::owners::uid_of(u).is_none() {
                run(
                    "useradd",
                    &[
                        "--system",
                        "--gid",
                        g,
                        "--no-create-home",
                        "--home-dir",
                        "/nonexistent",
                        "--shell",
                        "/usr/sbin/nologin",
                        u,
                    ],
                );
                a.users.push(u);
            }
        }
        a
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        for u in &self.users {
            let _ = Command::new("userdel").arg(u).status();
        }
        for g in &self.groups {
            let _ = Command::new("groupdel").arg(g).status();
        }
    }
}

fn proc_uid(pid: i32) -> u32 {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap() // effective
}

fn proc_name(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn root_mode_gives_each_daemon_its_user_and_never_delivers_as_root() {
    if e2e::skip_unless_root("qmail-start as root with qmail's users") {
        return;
    }
    let _accounts = Accounts::ensure();
    let ids = queue::owners::Ids::lookup().unwrap();
    let mut s = System::with(RunAs::Root);
    s.real("qmail-local");
    s.real("qmail-getpw");
    s.real("qmail-newu");
    // joe is nobody; the alias user takes the rest; rootie would be root.
    let mail = s.home.join("mail");
    fs::set_permissions(&mail, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let joe = s.maildir("joe");
    super::support::chown_r(&mail.join("joe"), NOBODY);
    std::os::unix::fs::chown(s.home.join("alias"), Some(ids.alias), Some(ids.nofiles)).unwrap();
    fs::write(
        s.home.join("users/assign"),
        format!(
            "=joe:nobody:{NOBODY}:{NOBODY}:{}:::\n=rootie:root:0:0:/root:::\n+:alias:{}:{}:{}:-::\n.\n",
            mail.join("joe").display(),
            ids.alias,
            ids.nofiles,
            s.home.join("alias").display()
        ),
    )
    .unwrap();
    assert!(s.command("qmail-newu").status().unwrap().success());

    s.start("./Maildir/");
    // Who runs what.
    let send_pid = s.send.as_ref().unwrap().pid() as i32;
    assert_eq!(proc_uid(send_pid), ids.qmails, "qmail-send runs as qmails");
    let helpers = s.helpers();
    let mut seen = Vec::new();
    for &h in &helpers {
        let want = match proc_name(h).as_str() {
            "qmail-lspawn" => 0,
            "qmail-rspawn" => ids.qmailr,
            "qmail-clean" => ids.qmailq,
            other => panic!("unexpected helper {other}"),
        };
        assert_eq!(proc_uid(h), want, "{}", proc_name(h));
        seen.push(proc_name(h));
    }
    seen.sort();
    assert_eq!(seen, ["qmail-clean", "qmail-lspawn", "qmail-rspawn"]);

    // A delivery as joe's user.
    assert_eq!(
        s.inject(
            "joe@test.example",
            &["joe@test.example"],
            b"Subject: root mode\n\nhi\n"
        ),
        0
    );
    let f = e2e::poll_until(T, || {
        fs::read_dir(joe.join("new"))
            .unwrap()
            .flatten()
            .next()
            .map(|e| e.path())
    })
    .unwrap_or_else(|| panic!("{:#?}", s.log_lines()));
    assert_eq!(
        fs::metadata(&f).unwrap().uid(),
        NOBODY,
        "delivered as the user"
    );
    let text = fs::read_to_string(&f).unwrap();
    assert!(text.contains("\nReceived: (qmail "), "{text}");
    assert!(
        text.contains(" invoked by uid 0); "),
        "root ran qmail-queue: {text}"
    );

    // Never as root.
    assert_eq!(
        s.inject("joe@test.example", &["rootie@test.example"], b"x\n"),
        0
    );
    assert!(
        s.wait_log("deferral: Not_allowed_to_perform_deliveries_as_root./", T),
        "{:#?}",
        s.log_lines()
    );

    // A bounce is queued by qmails through the setuid qmail-queue.
    assert_eq!(
        s.inject("joe@test.example", &["nosuch@test.example"], b"x\n"),
        0
    );
    assert!(
        s.wait_log("failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/", T),
        "{:#?}",
        s.log_lines()
    );
    let bounce = e2e::poll_until(T, || {
        fs::read_dir(joe.join("new"))
            .unwrap()
            .flatten()
            .map(|e| fs::read_to_string(e.path()).unwrap())
            .find(|t| t.contains("Subject: failure notice"))
    })
    .unwrap_or_else(|| panic!("{:#?}", s.log_lines()));
    assert!(bounce.contains(" invoked for bounce); "), "{bounce}");
    assert!(bounce.starts_with("Return-Path: <>\n"), "{bounce}");

    // Queue files have qmail's owners.
    let ids_in_info = s.queued();
    assert!(!ids_in_info.is_empty(), "rootie's message waits");
    let id = ids_in_info[0];
    let q = s.queue();
    assert_eq!(
        fs::metadata(q.join(queue::layout::mess(id))).unwrap().uid(),
        ids.qmailq
    );
    assert_eq!(
        fs::metadata(q.join(queue::layout::info(id))).unwrap().uid(),
        ids.qmails
    );
    assert_eq!(
        fs::metadata(q.join(queue::layout::channel(id, queue::layout::Channel::Local)))
            .unwrap()
            .uid(),
        ids.qmails
    );
    s.stop();
}
