//! README's first command, `qmail-run`: the whole system in one folder
//! walks the installation guide's checks. The queue's processes start;
//! `To: you` through qmail-inject reaches the local user; mail to a local
//! name that does not exist bounces to the sender; SMTP from 127.0.0.1
//! is delivered; 127.0.0.1 (listed in etc/tcp.smtp) may relay to a remote
//! address, which reaches a second instance on another loopback port
//! through smtproutes; 127.0.0.2 may not relay; a workstation added to
//! tcp.smtp may, after SIGHUP; Ctrl-C stops everything cleanly and a
//! message queued while stopped is delivered at the next start.
//!
//! Run as root, qmail-run becomes nobody: the test checks that no daemon
//! is left running as root.

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;

use super::support::{QmailRun, Smtp, descendants, open_tempdir, owner, send, wait_mail};

#[test]
fn qmail_run_walks_the_guide_in_one_folder() {
    super::support::bins();
    let dir = open_tempdir();
    let (uid, gid) = owner();

    // Instance B: the "remote" host remote.test, on its own port.
    let b_home = dir.path().join("b");
    std::fs::create_dir_all(b_home.join("control")).unwrap();
    for (f, text) in [
        ("me", "remote.test\n"),
        ("locals", "remote.test\n"),
        ("rcpthosts", "remote.test\n"),
    ] {
        std::fs::write(b_home.join("control").join(f), text).unwrap();
    }
    for p in [&b_home, &b_home.join("control")] {
        std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
    }
    let mut b = QmailRun::start(&b_home);

    let a_home = dir.path().join("a");
    let mut a = QmailRun::start(&a_home);

    // The queue's processes are up, none as root.
    let names = [
        "qmail-send",
        "qmail-lspawn",
        "qmail-rspawn",
        "qmail-clean",
        "tcpserver",
    ];
    let pid = a.proc.pid();
    let procs = e2e::poll_until(super::support::T, || {
        let procs = descendants(pid);
        names
            .iter()
            .all(|n| procs.iter().any(|p| p.name == *n))
            .then_some(procs)
    })
    .unwrap_or_else(|| panic!("the daemons did not all start: {:#?}", descendants(pid)));
    for name in names {
        let p = procs
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no {name} under qmail-run: {procs:#?}"));
        assert_eq!(p.uid, uid, "{name} runs as uid {}", p.uid);
    }
    assert_eq!(
        std::fs::metadata(&a_home).unwrap().uid(),
        uid,
        "the folder belongs to the user the system runs as"
    );

    // echo to: you | qmail-inject
    assert_eq!(a.inject(&[], "To: you\nSubject: injected\n\nhello\n"), 0);
    let m = wait_mail(&a.maildir("you"), "Subject: injected");
    assert!(m.contains("Delivered-To: you@mail.localhost"), "{m}");

    // A local name that does not exist: the bounce goes to the sender.
    assert_eq!(
        a.inject(
            &["-fyou@mail.localhost"],
            "To: nosuchuser\nSubject: doomed\n\nhello\n"
        ),
        0
    );
    let bounce = wait_mail(&a.maildir("you"), "Subject: failure notice");
    assert!(bounce.contains("<nosuchuser@mail.localhost>:"), "{bounce}");
    assert!(bounce.contains("Subject: doomed"), "{bounce}");

    // SMTP from 127.0.0.1 to the local user.
    send(
        a.port,
        Ipv4Addr::LOCALHOST,
        "sender@example.org",
        &["you@localhost"],
        "Subject: over smtp\n\nhello\n",
    );
    wait_mail(&a.maildir("you"), "Subject: over smtp");

    // 127.0.0.1 may relay: the remote address reaches instance B.
    std::fs::write(
        a_home.join("control/smtproutes"),
        format!("remote.test:127.0.0.1:{}\n", b.port),
    )
    .unwrap();
    send(
        a.port,
        Ipv4Addr::LOCALHOST,
        "you@mail.localhost",
        &["you@remote.test"],
        "Subject: relayed\n\nhello\n",
    );
    let m = wait_mail(&b.maildir("you"), "Subject: relayed");
    assert!(m.contains("Delivered-To: you@remote.test"), "{m}");
    a.wait_log("accepted_message");

    // 127.0.0.2 is not in tcp.smtp's relay list: local mail only.
    let other = Ipv4Addr::new(127, 0, 0, 2);
    let mut s = Smtp::connect_from(other, a.port);
    let r = s.envelope("x@example.org", &["you@remote.test", "you@localhost"]);
    assert!(r[0].starts_with("553 "), "relay from 127.0.0.2: {r:?}");
    assert!(r[1].starts_with("250 "), "local from 127.0.0.2: {r:?}");
    s.quit();

    // A workstation listed in tcp.smtp may relay, once qmail-run has
    // recompiled the rules (SIGHUP).
    let ws = Ipv4Addr::new(127, 0, 0, 3);
    let rules = a_home.join("etc/tcp.smtp");
    let text = std::fs::read_to_string(&rules).unwrap();
    std::fs::write(&rules, format!("127.0.0.3:allow,RELAYCLIENT=\"\"\n{text}")).unwrap();
    a.proc.signal(nix::sys::signal::Signal::SIGHUP);
    a.wait_log("SIGHUP: recompiling");
    let relayed = e2e::poll_until(super::support::T, || {
        let mut s = Smtp::connect_from(ws, a.port);
        let r = s.envelope("ws@example.org", &["you@remote.test"]);
        s.quit();
        r[0].starts_with("250").then_some(())
    });
    assert!(relayed.is_some(), "the workstation never got to relay");
    send(
        a.port,
        ws,
        "ws@example.org",
        &["you@remote.test"],
        "Subject: from the workstation\n\nhello\n",
    );
    wait_mail(&b.maildir("you"), "Subject: from the workstation");

    // Ctrl-C: a clean stop, exit 0.
    let st = a.interrupt();
    assert_eq!(st.code(), Some(0), "{:#?}", a.log());
    a.wait_log("stopped cleanly");
    assert!(descendants(a.proc.pid()).is_empty());

    // Queued while stopped (qmail-queue needs no daemon), delivered at the
    // next start.
    assert_eq!(
        super::support::inject(&a_home, &[], "To: you\nSubject: while stopped\n\nhello\n"),
        0
    );
    assert!(
        super::support::new_mail(&a.maildir("you"))
            .iter()
            .all(|m| !m.contains("while stopped"))
    );
    let mut a2 = QmailRun::start(&a_home);
    wait_mail(&a2.maildir("you"), "Subject: while stopped");
    assert_eq!(a2.interrupt().code(), Some(0));
    assert_eq!(b.interrupt().code(), Some(0), "{:#?}", b.log());
}

#[test]
fn usage_and_a_taken_port_fail_clearly() {
    let out = std::process::Command::new(super::support::bin("qmail-run"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("qmail-run: usage: qmail-run"),
        "{out:?}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = open_tempdir();
    let mut cmd = std::process::Command::new(super::support::bin("qmail-run"));
    cmd.arg("--home")
        .arg(dir.path().join("q"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("CARGO")
        .env_remove("CARGO_MANIFEST_DIR")
        .stdin(std::process::Stdio::null());
    if e2e::is_root() {
        cmd.args(["--user", "nobody"]);
    }
    let mut p = e2e::Proc::spawn(cmd.stdout(std::process::Stdio::piped())).unwrap();
    let st = p
        .wait_timeout(super::support::T)
        .expect("qmail-run gave up");
    let mut out = String::new();
    use std::io::Read;
    p.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(st.code(), Some(111), "{out}");
    assert!(
        out.contains("unable to bind: address already used"),
        "{out}"
    );
    assert!(out.contains("the system did not come up"), "{out}");
    assert!(descendants(p.pid()).is_empty());
}
