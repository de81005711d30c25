//! The boot files serve POP3 as written: the daemontools run script and
//! the systemd unit (with a socket handed over as qmail-pop3d.socket
//! would), each with /var/qmail pointing at our binaries and the
//! stand-in checkpassword in place of /bin/checkpassword.

use std::net::TcpListener;
use std::process::{Command, Stdio};

use super::support::{Mailbox, Pop, T};

/// A qmail home whose bin/ holds our programs, with control/me.
fn home(mb: &Mailbox) -> std::path::PathBuf {
    let home = mb.dir.path().join("qmail");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::create_dir_all(home.join("control")).unwrap();
    std::fs::write(home.join("control/me"), "pop.test\n").unwrap();
    for b in ["tcpserver", "qmail-popup", "qmail-pop3d"] {
        std::os::unix::fs::symlink(e2e::bin(b), home.join("bin").join(b)).unwrap();
    }
    home
}

fn boot_file(name: &str, home: &std::path::Path, checkpassword: &std::path::Path) -> String {
    std::fs::read_to_string(e2e::workspace().join("boot").join(name))
        .unwrap()
        .replace("/var/qmail", &home.display().to_string())
        .replace("/bin/checkpassword", &checkpassword.display().to_string())
}

fn session(port: u16) {
    let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
    let mut p = e2e::poll_until(T, || {
        std::net::TcpStream::connect(addr).ok()?;
        Some(())
    })
    .map(|_| Pop::login(addr))
    .expect("no POP3 server");
    assert_eq!(p.cmd("STAT"), "+OK 1 4\r\n");
    assert_eq!(p.cmd("QUIT"), "+OK \r\n");
}

#[test]
fn the_run_script_serves_pop3() {
    let mut mb = Mailbox::new();
    mb.put("new", b"hi!\n", 10);
    let home = home(&mb);
    let script = mb.dir.path().join("run");
    e2e::script::executable(
        &script,
        &boot_file("service/qmail-pop3d/run", &home, &mb.checkpassword()),
    );
    // tcpserver cannot print the port it got here; a port the kernel
    // chose and released, retried if someone else takes it first.
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(&script);
        cmd.env("IP", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RULES", mb.dir.path().join("none.cdb"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut proc = e2e::Proc::spawn(&mut cmd).unwrap();
        let log = e2e::log::Log::new();
        log.follow(proc.child.stdout.take().unwrap(), None);
        let up = log.wait(T, |l| {
            l.iter()
                .find(|l| l.contains("status: 0/40") || l.contains("fatal"))
                .cloned()
        });
        if up.as_deref().is_some_and(|l| l.contains("status: 0/40")) {
            session(port);
            return;
        }
        drop(proc);
    }
    panic!("the run script did not start tcpserver");
}

#[test]
fn the_systemd_unit_serves_pop3_on_a_handed_over_socket() {
    let mut mb = Mailbox::new();
    mb.put("new", b"hi!\n", 10);
    let home = home(&mb);
    let unit = boot_file("systemd/qmail-pop3d.service", &home, &mb.checkpassword());
    let key = |k: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(k))
            .map(str::to_string)
            .collect()
    };
    assert!(key("User=").is_empty(), "checkpassword needs root");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let exec = key("ExecStart=")[0].replace("%H", "pop.test");
    let mut c = Command::new("/bin/sh");
    c.env_clear()
        .arg("-c")
        .arg("exec 3<&0 0</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec \"$@\"")
        .arg("sh")
        .args(exec.split_whitespace())
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(listener)))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for e in key("Environment=") {
        let (k, v) = e.split_once('=').unwrap();
        c.env(k, v);
    }
    let _proc = e2e::Proc::spawn(&mut c).unwrap();
    session(port);
}
