//! A private Postfix as an SMTP client (config, queue and log under a
//! temporary folder, no listener; never the system's): it relays every
//! message to a relayhost on loopback with `smtp_tls_security_level =
//! encrypt` and SASL, as a site relaying through us would.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Proc;

const T: Duration = Duration::from_secs(20);

/// A private Postfix client that relays everything to 127.0.0.1:`port`,
/// logging in as `user` with `password`; None (and a word on stderr)
/// without root or Postfix.
pub struct Client {
    dir: tempfile::TempDir,
    master: Option<Proc>,
}

impl Client {
    pub fn start(port: u16, user: &str, password: &str) -> Option<Client> {
        if !crate::is_root() {
            eprintln!("skipped: Postfix's master needs root");
            return None;
        }
        let Some(postfix) = crate::which("postfix") else {
            eprintln!("skipped: Postfix is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["etc", "spool", "data"] {
            std::fs::create_dir(d.join(sub)).unwrap();
        }
        let st = Command::new("chown")
            .arg("postfix:postfix")
            .arg(d.join("data"))
            .status()
            .unwrap();
        assert!(st.success());
        // texthash: the value is the rest of the line, so a password
        // with a space is kept whole.
        std::fs::write(
            d.join("etc/sasl_passwd"),
            format!("[127.0.0.1]:{port} {user}:{password}\n"),
        )
        .unwrap();
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
myhostname = client.pf.test
mydomain = pf.test
myorigin = pf.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
relayhost = [127.0.0.1]:{port}
smtp_tls_security_level = encrypt
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:{w}/etc/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
smtp_dns_support_level = disabled
smtp_host_lookup = native
disable_dns_lookups = yes
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
            "pickup     unix  n       -       n       60      1       pickup
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
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
",
        )
        .unwrap();
        let out = Command::new(&postfix)
            .arg("-c")
            .arg(d.join("etc"))
            .arg("check")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postfix check failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(d.join("maillog")).unwrap_or_default()
        );
        let mut cmd = Command::new(&postfix);
        cmd.arg("-c")
            .arg(d.join("etc"))
            .arg("start-fg")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let master = Some(Proc::spawn(&mut cmd).unwrap());
        let pid = d.join("spool/pid/master.pid");
        let mut c = Client { dir, master };
        // The master is up when its pid file is written.
        let up = crate::poll_until(T, || pid.exists().then_some(()));
        if up.is_none() {
            c.stop();
            panic!("Postfix did not start: {}", c.maillog());
        }
        Some(c)
    }

    fn conf(&self) -> std::path::PathBuf {
        self.dir.path().join("etc")
    }

    pub fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Postfix's sendmail: one message from `from` to `to`.
    pub fn send(&self, from: &str, to: &str, subject: &str) {
        let mut child = Command::new("/usr/sbin/sendmail")
            .arg("-C")
            .arg(self.conf())
            .args(["-f", from, to])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("Subject: {subject}\n\nrelayed by Postfix\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    /// Wait for a maillog line with every one of `parts`.
    pub fn wait_log(&self, parts: &[&str]) -> String {
        crate::poll_until(T, || {
            self.maillog()
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no Postfix log line with {parts:?}:\n{}", self.maillog()))
    }

    pub fn stop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(self.conf())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut m) = self.master.take() {
            let _ = m.wait_timeout(T);
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Cyrus SASL's PLAIN plugin (libsasl2-modules, only recommended by
/// Postfix's libsasl2-2): without it Postfix finds no mechanism to use.
pub fn sasl_modules() -> bool {
    let ok = [
        "/usr/lib/x86_64-linux-gnu/sasl2",
        "/usr/lib/aarch64-linux-gnu/sasl2",
        "/usr/lib/sasl2",
    ]
    .iter()
    .any(|d| Path::new(d).join("libplain.so.2").exists());
    if !ok {
        eprintln!("skipped: libsasl2-modules (Cyrus PLAIN/LOGIN) is not installed");
    }
    ok
}
