//! The installation guide, as root, with our binaries: `qmail-setup`
//! (make setup check) creates qmail's users and groups and the home with
//! qmail's owners and modes; `config-fast`; a local user with a Maildir;
//! the boot files start the system: `rc` (qmail-start ./Maildir/) and the
//! daemontools/runit run script of qmail-smtpd (tcpserver as qmaild).
//! Then the guide's checks: the queue's processes run as their users;
//! `echo To: joe | qmail-inject` is delivered to joe; mail to a local
//! name that does not exist bounces to the sender; SMTP from 127.0.0.1
//! is delivered; a workstation listed in tcp.smtp may relay (to a second
//! instance, through smtproutes) and 127.0.0.2 may not; the inetd lines
//! of boot/inetd.conf run qmail-smtpd through tcp-env on an accepted
//! socket, the relay line with RELAYCLIENT from the environment; the
//! sendmail links reach the queue; SIGTERM stops qmail-send cleanly.
//!
//! Creating users must not change the machine the tests run on, so the
//! whole guide runs in a private mount namespace whose /etc is a copy
//! (`unshare -m`, then `nsenter` for every command). Needs root and
//! mount namespaces; skipped, with the reason, otherwise.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::support::{
    QmailRun, Smtp, T, bin, bins, descendants, listening_port, open_tempdir, send, wait_mail,
};

/// A private mount namespace whose /etc is a copy, held open by a
/// sleeping process.
struct Namespace {
    holder: e2e::Proc,
    etc: PathBuf,
    _dir: tempfile::TempDir,
}

impl Namespace {
    fn new() -> Result<Namespace, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let etc = dir.path().join("etc");
        let st = Command::new("cp")
            .args(["-a", "/etc"])
            .arg(&etc)
            .status()
            .map_err(|e| format!("cp: {e}"))?;
        if !st.success() {
            return Err("cannot copy /etc".into());
        }
        forget_qmail_accounts(&etc)?;
        let mut holder = e2e::Proc::spawn(
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
                .arg("mount --bind \"$0\" /etc && echo ready && exec sleep 86400")
                .arg(&etc)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .map_err(|e| format!("unshare: {e}"))?;
        let out = holder.child.stdout.take().unwrap();
        match e2e::read_line_from(out, T) {
            Some((line, _)) if line == "ready" => Ok(Namespace {
                holder,
                etc,
                _dir: dir,
            }),
            _ => {
                let mut err = String::new();
                let _ = holder.child.stderr.take().unwrap().read_to_string(&mut err);
                Err(format!("no private mount namespace: {}", err.trim()))
            }
        }
    }

    /// `prog` run inside the namespace (as root).
    fn cmd(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.pid().to_string())
            .args(["-m", "--"])
            .arg(prog);
        c.stdin(Stdio::null());
        c
    }

    /// `prog` inside the namespace as `user` (its uid and primary gid,
    /// no supplementary groups).
    fn cmd_as(&self, user: &str, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let (uid, gid) = self.user(user);
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.pid().to_string())
            .args(["-m", "-S"])
            .arg(uid.to_string())
            .arg("-G")
            .arg(gid.to_string())
            .arg("--")
            .arg(prog);
        c.stdin(Stdio::null());
        c
    }

    /// uid and gid of `name` in the namespace's /etc/passwd.
    fn user(&self, name: &str) -> (u32, u32) {
        let passwd = std::fs::read_to_string(self.etc.join("passwd")).unwrap();
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f[0] == name)
            .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
            .unwrap_or_else(|| panic!("no user {name} in the namespace"))
    }

    /// gid of group `name` in the namespace's /etc/group.
    fn group(&self, name: &str) -> u32 {
        let group = std::fs::read_to_string(self.etc.join("group")).unwrap();
        group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f[0] == name)
            .map(|f| f[2].parse().unwrap())
            .unwrap_or_else(|| panic!("no group {name} in the namespace"))
    }
}

/// qmail's users (INSTALL.ids) and groups.
const QMAIL_USERS: [&str; 7] = [
    "alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails",
];
const QMAIL_GROUPS: [&str; 2] = ["qmail", "nofiles"];

/// Remove qmail's users and groups from the copy of /etc at `etc`, so the
/// guide starts as on a machine qmail was never installed on, whatever
/// earlier runs or a hand install left on this one (an alias user whose
/// home is /var/qmail/alias would defer every bounce of the install the
/// test makes elsewhere).
fn forget_qmail_accounts(etc: &Path) -> Result<(), String> {
    for (file, names) in [
        ("passwd", &QMAIL_USERS[..]),
        ("shadow", &QMAIL_USERS[..]),
        ("group", &QMAIL_GROUPS[..]),
        ("gshadow", &QMAIL_GROUPS[..]),
    ] {
        let path = etc.join(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("read {}: {e}", path.display())),
        };
        std::fs::write(&path, without_entries(&text, names))
            .map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// `text` (a passwd-style file) without the lines whose first field is
/// one of `names`.
fn without_entries(text: &str, names: &[&str]) -> String {
    text.split_inclusive('\n')
        .filter(|line| !names.contains(&line.split(':').next().unwrap_or("")))
        .collect()
}

#[test]
fn the_etc_copy_forgets_only_qmails_accounts() {
    let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                  alias:x:999:995::/var/qmail/alias:/usr/sbin/nologin\n\
                  qmailq:x:992:994::/var/qmail:/usr/sbin/nologin\n\
                  aliasx:x:1000:1000::/home/aliasx:/bin/sh\n\
                  qmails:x:990:994::/var/qmail:/usr/sbin/nologin";
    assert_eq!(
        without_entries(passwd, &QMAIL_USERS),
        "root:x:0:0:root:/root:/bin/bash\naliasx:x:1000:1000::/home/aliasx:/bin/sh\n"
    );
    let group = "nofiles:x:995:\nqmail:x:994:\nmail:x:8:qmails\n";
    assert_eq!(without_entries(group, &QMAIL_GROUPS), "mail:x:8:qmails\n");
}

fn output(mut c: Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn with_stdin(mut c: Command, input: &str) -> i32 {
    let mut child = c.stdin(Stdio::piped()).spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait().unwrap().code().unwrap_or(-1)
}

/// A daemon started in the namespace with its output kept.
struct Daemon {
    proc: e2e::Proc,
    log: e2e::log::Log,
}

impl Daemon {
    fn start(mut c: Command, label: &'static str) -> Daemon {
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut proc = e2e::Proc::spawn(&mut c).unwrap();
        let log = e2e::log::Log::new();
        log.follow(proc.child.stdout.take().unwrap(), Some(label));
        log.follow(proc.child.stderr.take().unwrap(), Some(label));
        Daemon { proc, log }
    }

    fn wait_log(&self, needle: &str) {
        let ok = e2e::poll_until(T, || self.log.find(needle));
        assert!(
            ok.is_some(),
            "no {needle:?} in {}",
            self.log.lines().join("\n")
        );
    }
}

/// One entry of a super-server's configuration: who runs what, with
/// which variables, and whether its clients may relay (the entries on
/// the loopback address).
#[derive(Debug)]
struct Entry {
    label: String,
    user: String,
    group: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    relay: bool,
}

/// The lines of an inetd.conf: `addr:service stream tcp nowait
/// user:group server argv0 args...`.
fn inetd_entries(path: &Path) -> Vec<Entry> {
    let conf = std::fs::read_to_string(path).unwrap();
    conf.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            assert_eq!(f[1..4], ["stream", "tcp", "nowait"], "{l}");
            let (user, group) = f[4].split_once(':').unwrap();
            let mut argv = vec![f[5].clone()];
            argv.extend(f[7..].iter().cloned());
            Entry {
                label: format!("inetd {}", f[0]),
                user: user.into(),
                group: group.into(),
                argv,
                env: Vec::new(),
                relay: f[0].starts_with("127.0.0.1:"),
            }
        })
        .collect()
}

/// The services of an xinetd file: `server`, `server_args`, `user`,
/// `group`, `env` and `bind` of each block.
fn xinetd_entries(path: &Path) -> Vec<Entry> {
    let conf = std::fs::read_to_string(path).unwrap();
    conf.split("service ")
        .skip(1)
        .map(|block| {
            let attr = |k: &str| -> String {
                block
                    .lines()
                    .filter_map(|l| l.trim().split_once('='))
                    .find(|(name, _)| name.trim() == k)
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default()
            };
            let mut argv = vec![attr("server")];
            argv.extend(attr("server_args").split_whitespace().map(str::to_string));
            let env = attr("env")
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Entry {
                label: format!("xinetd {}", attr("id")),
                user: attr("user"),
                group: attr("group"),
                argv,
                env,
                relay: attr("bind") == "127.0.0.1",
            }
        })
        .collect()
}

/// Owner, group and mode (with the type bits) of `p`.
fn stat(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid(), m.mode())
}

/// An alias user left by another install (home /var/qmail/alias) is kept,
/// but qmail-setup and qmail-setup -c say that this home cannot deliver
/// bounces or postmaster's mail, and exit 111.
#[test]
fn setup_warns_when_the_alias_user_lives_elsewhere() {
    if e2e::skip_unless_root("qmail-setup with a foreign alias user") {
        return;
    }
    let bins = bins();
    let ns = match Namespace::new() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED qmail-setup with a foreign alias user: {why}");
            return;
        }
    };
    let mut c = ns.cmd("groupadd");
    c.args(["-r", "nofiles"]);
    assert_eq!(output(c).0, 0, "groupadd in the namespace");
    let mut c = ns.cmd("useradd");
    c.args([
        "-r",
        "-M",
        "-g",
        "nofiles",
        "-d",
        "/var/qmail/alias",
        "alias",
    ]);
    assert_eq!(output(c).0, 0, "useradd in the namespace");
    let dir = open_tempdir();
    let home = dir.path().join("qmail");
    let want = format!(
        "instcheck: warning: user alias has home /var/qmail/alias, not {}: \
         mail to postmaster and bounces cannot be delivered\n",
        home.join("alias").display()
    );
    let mut c = ns.cmd(bin("qmail-setup"));
    c.arg("-b").arg(&bins).arg(&home);
    let (code, out, err) = output(c);
    assert_eq!((code, err.as_str()), (111, want.as_str()), "{out}");
    // The rest of the install went ahead; the user was left alone.
    assert!(home.join("bin/qmail-queue").is_file());
    let passwd = std::fs::read_to_string(ns.etc.join("passwd")).unwrap();
    assert!(passwd.contains(":/var/qmail/alias:"), "{passwd}");
    let mut c = ns.cmd(bin("qmail-setup"));
    c.arg("-c").arg(&home);
    assert_eq!(output(c), (111, String::new(), want));
}

#[test]
fn the_installation_guide_as_root() {
    if e2e::skip_unless_root("the installation guide as root (qmail's users)") {
        return;
    }
    let bins = bins();
    let ns = match Namespace::new() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED the installation guide as root: {why}");
            return;
        }
    };
    let dir = open_tempdir();
    let home = dir.path().join("qmail");

    // make setup check
    let mut c = ns.cmd(bin("qmail-setup"));
    c.arg("-b").arg(&bins).arg(&home);
    let (code, out, err) = output(c);
    assert_eq!(code, 0, "qmail-setup: {out}{err}");
    assert_eq!(err, "", "instcheck found problems");
    for u in [
        "alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails",
    ] {
        ns.user(u);
    }
    let (qmailq, _) = ns.user("qmailq");
    let (qmails, _) = ns.user("qmails");
    let (qmailr, _) = ns.user("qmailr");
    let (alias, _) = ns.user("alias");
    let qmail = ns.group("qmail");
    assert_eq!(
        stat(&home.join("bin/qmail-queue")),
        (qmailq, qmail, 0o104711)
    );
    assert_eq!(stat(&home.join("bin/qmail-lspawn")), (0, qmail, 0o100700));
    assert_eq!(stat(&home.join("alias")), (alias, qmail, 0o42755));
    assert_eq!(stat(&home.join("queue/info/0")), (qmails, qmail, 0o40700));
    assert_eq!(stat(&home.join("queue/mess/22")), (qmailq, qmail, 0o40750));
    assert_eq!(
        stat(&home.join("queue/lock/tcpto")),
        (qmailr, qmail, 0o100644)
    );
    assert!(
        home.join("man/man8/qmail-send.8").is_file()
            || home.join("man/man8/qmail-smtpd.8").is_file()
    );
    let rc = std::fs::read_to_string(home.join("rc")).unwrap();
    assert!(rc.contains(&format!("{}/bin", home.display())), "{rc}");
    // Run again: nothing to create, nothing wrong; -c only checks.
    let mut c = ns.cmd(bin("qmail-setup"));
    c.arg("-b").arg(&bins).arg(&home);
    let (code, out, err) = output(c);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    let mut c = ns.cmd(bin("qmail-setup"));
    c.arg("-c").arg(&home);
    assert_eq!(output(c).0, 0);

    // config-fast
    let mut c = ns.cmd(home.join("bin/config-fast"));
    c.arg("mail.example.test").env("QMAILHOME", &home);
    let (code, out, _) = output(c);
    assert_eq!(code, 0);
    assert!(
        out.contains("Putting example.test into control/defaultdomain..."),
        "{out}"
    );

    // A local user with a Maildir.
    let users = dir.path().join("users");
    std::fs::create_dir(&users).unwrap();
    let joe_home = users.join("joe");
    let mut c = ns.cmd("useradd");
    c.args(["-M", "-s", "/bin/sh", "-d"])
        .arg(&joe_home)
        .arg("joe");
    assert_eq!(output(c).0, 0, "useradd joe");
    let (joe_uid, joe_gid) = ns.user("joe");
    std::fs::create_dir(&joe_home).unwrap();
    std::os::unix::fs::chown(&joe_home, Some(joe_uid), Some(joe_gid)).unwrap();
    let mut c = ns.cmd_as("joe", home.join("bin/maildirmake"));
    c.arg(joe_home.join("Maildir"));
    assert_eq!(output(c).0, 0, "maildirmake");
    let joe_maildir = joe_home.join("Maildir");

    // tcp.smtp: this host and one workstation (127.0.0.3) may relay.
    let rules = dir.path().join("tcp.smtp");
    std::fs::write(
        &rules,
        "127.0.0.1:allow,RELAYCLIENT=\"\"\n127.0.0.3:allow,RELAYCLIENT=\"\"\n:allow\n",
    )
    .unwrap();
    let cdb = dir.path().join("tcp.smtp.cdb");
    let mut c = ns.cmd(home.join("bin/tcprules"));
    c.arg(&cdb)
        .arg(dir.path().join("tcp.smtp.tmp"))
        .stdin(std::fs::File::open(&rules).unwrap());
    assert_eq!(output(c).0, 0, "tcprules");

    // The second instance, remote.test, on its own port.
    let b_home = dir.path().join("b");
    std::fs::create_dir_all(b_home.join("control")).unwrap();
    for f in ["me", "locals", "rcpthosts"] {
        std::fs::write(b_home.join("control").join(f), "remote.test\n").unwrap();
    }
    let (nobody, nogroup) = super::support::owner();
    for p in [&b_home, &b_home.join("control")] {
        std::os::unix::fs::chown(p, Some(nobody), Some(nogroup)).unwrap();
    }
    let mut b = QmailRun::start(&b_home);
    std::fs::write(
        home.join("control/smtproutes"),
        format!("remote.test:127.0.0.1:{}\n", b.port),
    )
    .unwrap();

    // Boot: rc (qmail-start ./Maildir/) and the qmail-smtpd run script.
    let send_d = Daemon::start(ns.cmd(home.join("rc")), "qmail-send");
    let mut c = ns.cmd(home.join("boot/service/qmail-smtpd/run"));
    c.env("IP", "127.0.0.1").env("PORT", "0").env("RULES", &cdb);
    let smtpd_d = Daemon::start(c, "qmail-smtpd");
    smtpd_d.wait_log("tcpserver: status: 0/40");
    let port = e2e::poll_until(T, || listening_port(smtpd_d.proc.pid())).expect("tcpserver's port");

    // The queue's processes, each as its user.
    let want = [
        ("qmail-send", qmails),
        ("qmail-lspawn", 0),
        ("qmail-rspawn", qmailr),
        ("qmail-clean", qmailq),
    ];
    let spid = send_d.proc.pid();
    let procs = e2e::poll_until(T, || {
        let mut all = descendants(spid);
        all.extend(super::support::proc_of(spid));
        want.iter()
            .all(|(n, _)| all.iter().any(|p| p.name == *n))
            .then_some(all)
    })
    .expect("the queue's processes did not all start");
    for (name, uid) in want {
        let p = procs.iter().find(|p| p.name == name).unwrap();
        assert_eq!(p.uid, uid, "{name} runs as {}", p.uid);
    }
    let (qmaild, _) = ns.user("qmaild");
    assert_eq!(
        super::support::proc_of(smtpd_d.proc.pid()).map(|p| (p.name, p.uid)),
        Some(("tcpserver".to_string(), qmaild))
    );

    // echo To: joe | qmail-inject
    let mut c = ns.cmd_as("joe", home.join("bin/qmail-inject"));
    c.env("QMAILHOME", &home).env("USER", "joe");
    assert_eq!(with_stdin(c, "To: joe\nSubject: guide inject\n\nhi\n"), 0);
    let m = wait_mail(&joe_maildir, "Subject: guide inject");
    assert!(m.contains("Delivered-To: joe@mail.example.test"), "{m}");
    assert!(m.contains(&format!("invoked by uid {joe_uid}")), "{m}");

    // A local name that does not exist: the bounce goes back to joe.
    let mut c = ns.cmd_as("joe", home.join("bin/qmail-inject"));
    c.env("QMAILHOME", &home).env("USER", "joe");
    assert_eq!(
        with_stdin(c, "To: nosuchuser\nSubject: guide doomed\n\nhi\n"),
        0
    );
    let bounce = wait_mail(&joe_maildir, "Subject: failure notice");
    assert!(
        bounce.contains("<nosuchuser@mail.example.test>:"),
        "{bounce}"
    );
    assert!(
        bounce.contains("Sorry, no mailbox here by that name."),
        "{bounce}"
    );

    // SMTP from 127.0.0.1.
    send(
        port,
        Ipv4Addr::LOCALHOST,
        "someone@example.org",
        &["joe@mail.example.test"],
        "Subject: guide smtp\n\nhi\n",
    );
    let m = wait_mail(&joe_maildir, "Subject: guide smtp");
    assert!(m.contains("invoked from network"), "{m}");

    // The workstation relays to remote.test, which is the second instance.
    send(
        port,
        Ipv4Addr::new(127, 0, 0, 3),
        "joe@mail.example.test",
        &["you@remote.test"],
        "Subject: guide relayed\n\nhi\n",
    );
    wait_mail(&b.maildir("you"), "Subject: guide relayed");
    send_d.wait_log("accepted_message");
    // 127.0.0.2 may not relay.
    let mut s = Smtp::connect_from(Ipv4Addr::new(127, 0, 0, 2), port);
    let r = s.envelope(
        "x@example.org",
        &["you@remote.test", "joe@mail.example.test"],
    );
    assert!(r[0].starts_with("553 "), "{r:?}");
    assert!(r[1].starts_with("250 "), "{r:?}");
    s.quit();

    // inetd and xinetd: qmail-smtpd through tcp-env on an accepted
    // socket, each entry of boot/inetd.conf and boot/xinetd.d/smtp run as
    // the super-server would run it. The loopback entries relay.
    let dns = e2e::dns::DnsServer::start(
        e2e::dns::Zone::new().ptr(Ipv4Addr::LOCALHOST.into(), "localhost"),
    )
    .unwrap();
    let mut entries = inetd_entries(&home.join("boot/inetd.conf"));
    entries.extend(xinetd_entries(&home.join("boot/xinetd.d/smtp")));
    assert_eq!(entries.len(), 4, "{entries:#?}");
    for e in &entries {
        assert_eq!((e.user.as_str(), e.group.as_str()), ("qmaild", "nofiles"));
        let subject = format!("via {}", e.label);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let lport = listener.local_addr().unwrap().port();
        let body = format!("Subject: {subject}\n\nhi\n");
        let client = std::thread::spawn(move || {
            let mut s = Smtp::connect(lport);
            let r = s.envelope("joe@mail.example.test", &["you@remote.test"]);
            let d = r[0].starts_with("250").then(|| s.data(&body));
            s.quit();
            (r, d)
        });
        let (sock, _) = listener.accept().unwrap();
        let mut c = ns.cmd_as(&e.user, &e.argv[0]);
        c.args(&e.argv[1..])
            .env("DNSCACHEIP", dns.addr().to_string())
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(
                sock.try_clone().unwrap(),
            )))
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(sock)));
        for (k, v) in &e.env {
            c.env(k, v);
        }
        let mut p = e2e::Proc::spawn(&mut c).unwrap();
        let (r, d) = client.join().unwrap();
        let st = p.wait_timeout(T).expect("qmail-smtpd under tcp-env ended");
        assert!(st.success(), "{}: {st}", e.label);
        if e.relay {
            assert!(r[0].starts_with("250 "), "{}: {r:?}", e.label);
            assert!(d.unwrap().starts_with("250 ok"));
            let m = wait_mail(&b.maildir("you"), &subject);
            assert!(
                m.contains("Received: from localhost (HELO test) (127.0.0.1)"),
                "tcp-env's variables in qmail-smtpd's Received line: {m}"
            );
        } else {
            assert!(r[0].starts_with("553 "), "{}: {r:?}", e.label);
        }
    }

    // systemd: qmail-smtpd.service's tcpserver on a socket handed over
    // as qmail-smtpd.socket would (fd 3, LISTEN_FDS=1, LISTEN_PID), as
    // the unit's user, with the unit's environment and rules path.
    std::fs::copy(&cdb, ns.etc.join("tcp.smtp.cdb")).unwrap();
    let unit = std::fs::read_to_string(home.join("boot/systemd/qmail-smtpd.service")).unwrap();
    let key = |k: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(k))
            .map(str::to_string)
            .collect()
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uport = listener.local_addr().unwrap().port();
    let mut c = ns.cmd_as(&key("User=")[0], "/bin/sh");
    c.env_clear()
        .arg("-c")
        .arg("exec 3<&0 0</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec \"$@\"")
        .arg("sh")
        .args(key("ExecStart=")[0].split_whitespace())
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)));
    for e in key("Environment=") {
        let (k, v) = e.split_once('=').unwrap();
        c.env(k, v);
    }
    assert_eq!(key("Group="), ["nofiles"]);
    let unit_d = Daemon::start(c, "qmail-smtpd.service");
    unit_d.wait_log("tcpserver: status: 0/40");
    send(
        uport,
        Ipv4Addr::LOCALHOST,
        "someone@example.org",
        &["joe@mail.example.test"],
        "Subject: via systemd\n\nhi\n",
    );
    wait_mail(&joe_maildir, "Subject: via systemd");
    assert_eq!(
        super::support::proc_of(unit_d.proc.pid()).map(|p| (p.name, p.uid)),
        Some(("tcpserver".to_string(), qmaild))
    );
    unit_d.proc.signal(nix::sys::signal::Signal::SIGTERM);
    let mut unit_d = unit_d;
    assert!(unit_d.proc.wait_timeout(T).is_some());

    // The sendmail links, below a scratch root.
    let root = dir.path().join("root");
    for d in ["usr/sbin", "usr/lib", "usr/bin"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let mut c = Command::new(home.join("boot/sendmail-links"));
    c.arg(&root);
    let (code, out, err) = output(c);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_link(root.join("usr/sbin/sendmail")).unwrap(),
        home.join("bin/sendmail")
    );
    let mut c = ns.cmd_as("joe", root.join("usr/sbin/sendmail"));
    c.arg("-t").env("QMAILHOME", &home).env("USER", "joe");
    assert_eq!(with_stdin(c, "To: joe\nSubject: guide sendmail\n\nhi\n"), 0);
    wait_mail(&joe_maildir, "Subject: guide sendmail");

    // Stop: SIGTERM to qmail-send (qmail-start became it), tcpserver.
    send_d.proc.signal(nix::sys::signal::Signal::SIGTERM);
    send_d.wait_log("status: exiting");
    let mut send_d = send_d;
    let st = send_d.proc.wait_timeout(T).expect("qmail-send stopped");
    assert_eq!(st.code(), Some(0));
    let helpers: Vec<u32> = procs
        .iter()
        .filter(|p| p.name != "qmail-send")
        .map(|p| p.pid)
        .collect();
    let helpers_gone = e2e::poll_until(T, || {
        helpers
            .iter()
            .all(|&pid| super::support::proc_of(pid).is_none_or(|p| p.state == 'Z'))
            .then_some(())
    });
    assert!(
        helpers_gone.is_some(),
        "helpers left after qmail-send stopped"
    );
    let mut smtpd_d = smtpd_d;
    smtpd_d.proc.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(smtpd_d.proc.wait_timeout(T).is_some());
    assert_eq!(b.interrupt().code(), Some(0));
}
