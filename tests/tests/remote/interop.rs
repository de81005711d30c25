//! qmail-remote against real SMTP servers on loopback:
//! - our own qmail-smtpd under our tcpserver (smtproutes to its port),
//!   with a recording stand-in for qmail-queue;
//! - Python's aiosmtpd (`pip install aiosmtpd`), in the clear and with
//!   STARTTLS;
//! - Debian's Postfix (`apt-get install postfix`), run as a private
//!   instance (its own config directory, queue and port on 127.0.0.1),
//!   with STARTTLS offered, delivering into a Maildir we read back;
//!   once more with a certificate from a test CA, as a destination of
//!   `control/tlsdestinations` (verified TLS, SIZE declared).
//!
//! aiosmtpd and Postfix are "originals": missing, the test says it is
//! skipped, unless `REQUIRE_ORIGINALS` is set (CI), when it fails.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::support::{Home, MESSAGE, STEP, crlf, show, test_cert};
use e2e::Proc;

const ARGS: [&str; 3] = ["example.test", "a@example.org", "b@example.test"];

/// A message with the headers Postfix would otherwise add.
const FULL_MESSAGE: &[u8] = b"Date: 1 Jan 2026 00:00:00 -0000\nMessage-ID: <1@example.org>\nFrom: a@example.org\nTo: b@example.test\nSubject: interop\n\nline one\n.leading dot\n\n.\nlast line\n";

// ---------------------------------------------------------------- qmail-smtpd

/// Records what qmail-smtpd hands to qmail-queue.
const QUEUE_SCRIPT: &str = r#"#!/bin/sh
cat > "$QDIR/msg.tmp"
cat 0<&1 > "$QDIR/env.tmp"
mv "$QDIR/msg.tmp" "$QDIR/msg"
mv "$QDIR/env.tmp" "$QDIR/env"
exit 0
"#;

#[test]
fn to_our_qmail_smtpd() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("home/control")).unwrap();
    std::fs::write(d.join("home/control/me"), "mx.example.test\n").unwrap();
    std::fs::write(d.join("home/control/rcpthosts"), "example.test\n").unwrap();
    let script = e2e::script::executable(&d.join("qq.sh"), QUEUE_SCRIPT);
    let mut cmd = Command::new(e2e::bin("tcpserver"));
    cmd.args(["-1", "-R", "-H", "-l", "0", "127.0.0.1", "0"])
        .arg(e2e::bin("qmail-smtpd"))
        .env("QMAILHOME", d.join("home"))
        .env("QMAILQUEUE", &script)
        .env("QDIR", d)
        .env_remove("RELAYCLIENT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut server = Proc::spawn(&mut cmd).unwrap();
    let (line, _) = e2e::read_line_from(server.child.stdout.take().unwrap(), STEP)
        .expect("tcpserver prints its port");
    let port: u16 = line.trim().parse().unwrap();

    let home = Home::new();
    home.route("example.test", SocketAddr::new([127, 0, 0, 1].into(), port));
    let out = home.run(&ARGS, MESSAGE);
    let text = show(&out);
    assert!(
        text.starts_with("r\\0K127.0.0.1 accepted message.\nRemote host said: 250 ok "),
        "{text}"
    );
    let msg = std::fs::read(d.join("msg")).unwrap();
    let env = std::fs::read(d.join("env")).unwrap();
    assert_eq!(env, b"Fa@example.org\0Tb@example.test\0\0");
    // qmail-smtpd's Received line, then the message byte for byte.
    assert!(
        msg.starts_with(b"Received: from unknown (HELO me.test) (127.0.0.1)\n"),
        "{}",
        String::from_utf8_lossy(&msg)
    );
    assert!(msg.ends_with(MESSAGE));
    drop(server);
}

// ---------------------------------------------------------------- aiosmtpd

const AIOSMTPD: &str = r#"
import asyncio, os, ssl, sys
from aiosmtpd.smtp import SMTP

outdir = sys.argv[1]
ctx = None
if len(sys.argv) > 3:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])

class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outdir) if f.endswith(".env")])
        with open(os.path.join(outdir, "%d.msg" % n), "wb") as f:
            f.write(envelope.original_content)
        with open(os.path.join(outdir, "%d.tmp" % n), "w") as f:
            f.write("%s\n%s\n%s\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos),
                                      "tls" if session.ssl else "plain"))
        os.rename(os.path.join(outdir, "%d.tmp" % n), os.path.join(outdir, "%d.env" % n))
        return "250 2.0.0 Ok: queued as %d" % n

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), tls_context=ctx, hostname="aio.test"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

fn have_aiosmtpd() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// aiosmtpd on 127.0.0.1; STARTTLS offered when `tls`.
fn aiosmtpd(tls: bool) -> (Proc, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("out")).unwrap();
    std::fs::write(d.join("server.py"), AIOSMTPD).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(d.join("server.py")).arg(d.join("out"));
    if tls {
        let c = test_cert("aio.test");
        std::fs::write(d.join("cert.pem"), c.cert_pem).unwrap();
        std::fs::write(d.join("key.pem"), c.key_pem).unwrap();
        cmd.arg(d.join("cert.pem")).arg(d.join("key.pem"));
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut p = Proc::spawn(&mut cmd).unwrap();
    let (line, _) = e2e::read_line_from(p.child.stdout.take().unwrap(), STEP)
        .expect("the aiosmtpd script prints its port");
    (p, line.trim().parse().unwrap(), dir)
}

#[test]
fn to_aiosmtpd_plain_and_with_starttls() {
    if !have_aiosmtpd() && e2e::skip_missing("Python's aiosmtpd (pip install aiosmtpd)") {
        return;
    }
    for tls in [false, true] {
        let (server, port, dir) = aiosmtpd(tls);
        let home = Home::new();
        home.route("example.test", SocketAddr::new([127, 0, 0, 1].into(), port));
        let out = home.run(
            &[
                "example.test",
                "a@example.org",
                "b@example.test",
                "c@example.test",
            ],
            MESSAGE,
        );
        assert_eq!(
            show(&out),
            "r\\0r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok: queued as 0\n\\0",
            "tls {tls}"
        );
        let out_dir = dir.path().join("out");
        let env = std::fs::read_to_string(out_dir.join("0.env")).unwrap();
        let want = format!(
            "a@example.org\nb@example.test,c@example.test\n{}\n",
            if tls { "tls" } else { "plain" }
        );
        assert_eq!(env, want);
        // aiosmtpd keeps the CRLFs and undoes the dot-stuffing.
        assert_eq!(std::fs::read(out_dir.join("0.msg")).unwrap(), crlf(MESSAGE));
        drop(server);
    }
}

// ---------------------------------------------------------------- Postfix

/// A private Postfix: config, queue, data and mail under one directory,
/// smtpd on 127.0.0.1:port, STARTTLS offered, mail for example.test
/// delivered by virtual(8) into `<dir>/mail/box/` as user nobody.
struct Postfix {
    dir: tempfile::TempDir,
    port: u16,
    master: Option<Proc>,
}

impl Postfix {
    fn conf(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    fn start() -> Option<Postfix> {
        let c = test_cert("pf.test");
        Postfix::start_with(&c.cert_pem, &c.key_pem)
    }

    /// As [`Postfix::start`], with this certificate and key (PEM).
    fn start_with(cert_pem: &str, key_pem: &str) -> Option<Postfix> {
        let postfix = super::support::which("postfix")?;
        // Postfix cannot listen on port 0: take a free port and let it
        // go just before Postfix binds it (tried again on a clash).
        for _ in 0..5 {
            let port = super::support::closed_port("127.0.0.1".parse().unwrap()).port();
            let mut pf = Postfix::configure(port, cert_pem, key_pem);
            let mut cmd = Command::new(&postfix);
            cmd.arg("-c")
                .arg(pf.conf())
                .arg("start-fg")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            pf.master = Some(Proc::spawn(&mut cmd).unwrap());
            let ready = e2e::poll_until(STEP, || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                let mut b = [0u8; 64];
                let n = s.read(&mut b).ok()?;
                b[..n].starts_with(b"220 pf.test").then_some(())
            });
            if ready.is_some() {
                return Some(pf);
            }
            pf.stop();
        }
        panic!("Postfix did not start");
    }

    fn configure(port: u16, cert_pem: &str, key_pem: &str) -> Postfix {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Postfix's own users must reach the queue and the mail.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["etc", "spool", "data", "mail"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        chown(&d.join("data"), "postfix", "postfix");
        chown(&d.join("mail"), "nobody", "nogroup");
        std::fs::write(d.join("etc/cert.pem"), cert_pem).unwrap();
        std::fs::write(d.join("etc/key.pem"), key_pem).unwrap();
        std::fs::set_permissions(
            d.join("etc/key.pem"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let (uid, gid) = (id("-u", "nobody"), id("-g", "nobody"));
        let w = d.display();
        std::fs::write(
            d.join("etc/main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {w}/spool
data_directory = {w}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = {w}/maillog
maillog_file_prefixes = {w}/
myhostname = pf.test
mydomain = pf.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.254/32
smtpd_banner = $myhostname ESMTP Postfix
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
local_header_rewrite_clients =
virtual_mailbox_domains = example.test
virtual_mailbox_base = {w}/mail
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
smtpd_tls_security_level = may
smtpd_tls_cert_file = {w}/etc/cert.pem
smtpd_tls_key_file = {w}/etc/key.pem
smtpd_tls_received_header = yes
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
default_transport = error:no remote delivery in this test
relay_transport = error:no remote delivery in this test
alias_maps =
alias_database =
biff = no
readme_directory = no
"
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("etc/master.cf"),
            format!(
                "127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
local      unix  -       n       n       -       -       local
virtual    unix  -       n       n       -       -       virtual
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
"
            ),
        )
        .unwrap();
        let out = Command::new("postfix")
            .arg("-c")
            .arg(d.join("etc"))
            .arg("check")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postfix check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Postfix {
            dir,
            port,
            master: None,
        }
    }

    /// The delivered messages.
    fn delivered(&self) -> Vec<Vec<u8>> {
        let new = self.dir.path().join("mail/box/new");
        let Ok(rd) = std::fs::read_dir(&new) else {
            return Vec::new();
        };
        rd.filter_map(Result::ok)
            .map(|e| std::fs::read(e.path()).unwrap())
            .collect()
    }

    fn stop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(self.conf())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The master exits after "postfix stop"; if it does not, the
        // Proc kills it by pid when dropped.
        if let Some(mut m) = self.master.take() {
            let _ = m.wait_timeout(STEP);
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
    }
}

fn chown(path: &Path, user: &str, group: &str) {
    let st = Command::new("chown")
        .arg(format!("{user}:{group}"))
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

fn id(flag: &str, user: &str) -> String {
    let out = Command::new("id").args([flag, user]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn to_postfix_with_starttls() {
    if super::support::which("postfix").is_none()
        && e2e::skip_missing("Postfix (apt-get install postfix)")
    {
        return;
    }
    if e2e::skip_unless_root("a private Postfix instance") {
        return;
    }
    let pf = Postfix::start().unwrap();
    let home = Home::new();
    home.route(
        "example.test",
        SocketAddr::new(IpAddr::from([127, 0, 0, 1]), pf.port),
    );
    let out = home.run(&ARGS, FULL_MESSAGE);
    let text = show(&out);
    assert!(
        text.starts_with(
            "r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok: queued as "
        ),
        "{text}"
    );
    let got = e2e::poll_until(STEP, || pf.delivered().pop()).expect("Postfix delivered it");
    let got_text = String::from_utf8_lossy(&got);
    // Postfix notes the TLS session in its Received line.
    assert!(got_text.contains("(using TLSv1."), "{got_text}");
    assert!(
        got_text.contains("from me.test (unknown [127.0.0.1])"),
        "{got_text}"
    );
    assert!(
        got_text.starts_with("Return-Path: <a@example.org>\n"),
        "{got_text}"
    );
    assert!(got.ends_with(FULL_MESSAGE), "{got_text}");

    // A recipient Postfix does not know: the 5xx maps to a bounce.
    let out = home.run(
        &["example.test", "a@example.org", "b@elsewhere.test"],
        FULL_MESSAGE,
    );
    assert_eq!(
        show(&out),
        "h127.0.0.1 does not like recipient.\nRemote host said: 554 5.7.1 <b@elsewhere.test>: Relay access denied\n\\0DGiving up on 127.0.0.1.\n\\0"
    );
}

#[test]
fn to_postfix_as_a_verified_destination() {
    if super::support::which("postfix").is_none()
        && e2e::skip_missing("Postfix (apt-get install postfix)")
    {
        return;
    }
    if e2e::skip_unless_root("a private Postfix instance") {
        return;
    }
    let ca = super::support::TestCa::new();
    let (cert, key) = ca.issue_pem(&["pf.test"]);
    let pf = Postfix::start_with(&cert, &key).unwrap();
    let dns = e2e::dns::DnsServer::start(e2e::dns::Zone::new().a("pf.test", [127, 0, 0, 1].into()))
        .unwrap();
    let home = Home::new();
    home.control("resolvers", &format!("{}\n", dns.addr()));
    home.control("smtproutes", &format!("example.test:pf.test:{}\n", pf.port));
    std::fs::write(home.path().join("ca.pem"), &ca.cert_pem).unwrap();
    home.control("tlscafile", "ca.pem\n");
    home.control("tlsdestinations", "pf.test\n");
    let out = home.run(&ARGS, FULL_MESSAGE);
    let text = show(&out);
    assert!(
        text.starts_with(
            "r\\0K127.0.0.1 accepted message.\nRemote host said: 250 2.0.0 Ok: queued as "
        ),
        "{text}"
    );
    let got = e2e::poll_until(STEP, || pf.delivered().pop()).expect("Postfix delivered it");
    let got_text = String::from_utf8_lossy(&got);
    assert!(got_text.contains("(using TLSv1."), "{got_text}");
    assert!(got.ends_with(FULL_MESSAGE), "{got_text}");
    // Postfix offers SIZE 10240000, so MAIL carried SIZE=n: it took it.

    // The same Postfix with a certificate of its own making (not from
    // a CA we trust): deferred, never delivered.
    drop(pf);
    let pf = Postfix::start().unwrap();
    home.control("smtproutes", &format!("example.test:pf.test:{}\n", pf.port));
    let out = home.run(&ARGS, FULL_MESSAGE);
    let text = show(&out);
    assert!(
        text.starts_with("ZTLS with pf.test (127.0.0.1) failed (invalid peer certificate"),
        "{text}"
    );
    assert!(pf.delivered().is_empty());
}
