//! SMTP AUTH in qmail-smtpd through the checkpassword interface, with
//! our checkpassword in password file mode (and system mode, as root, in
//! a private /etc): swaks and smtplib log in and relay; the attacks are
//! refused: AUTH before TLS, bad base64, an empty user, a checkprogram
//! that hangs, relaying after a failed AUTH.

use std::process::Command;
use std::time::Instant;

use super::support::{
    JOE_PASSWORD, Opts, RunWith, Server, T, b64, have_swaks_tls, python, swaks, talk,
};

const NOGW: &str = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\r\n";

#[test]
fn swaks_auth_plain_and_login_relay_and_name_the_user() {
    if !have_swaks_tls() {
        return;
    }
    let srv = Server::start(Opts::default());
    for mech in ["PLAIN", "LOGIN"] {
        let out = swaks(
            &srv,
            &[
                "--tls",
                "--auth",
                mech,
                "--auth-user",
                "joe",
                "--auth-password",
                JOE_PASSWORD,
                "--from",
                "joe@example.com",
                "--to",
                "friend@elsewhere.example",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{mech}: {text}");
        assert!(text.contains("<~  235 ok, go ahead (#2.0.0)"), "{text}");
    }
    let q = srv.wait_queued(2);
    for (msg, env) in &q {
        assert!(
            msg.starts_with("Received: from unknown (HELO laptop.example.org) (joe@127.0.0.1)\n  by 0 with ESMTPSA (TLSv1.3:"),
            "{msg}"
        );
        assert!(env.contains("Tfriend@elsewhere.example\0"), "{env:?}");
    }
    let line = srv.wait_log(&["qmail-smtpd: tx ", "auth=joe", "result=250"]);
    assert!(
        line.contains(" from=<joe@example.com> rcpt=<friend@elsewhere.example>:250 "),
        "{line}"
    );
    assert!(
        !srv.stderr().contains(JOE_PASSWORD),
        "a password in the log"
    );
    srv.wait_log(&["qmail-smtpd: auth ok user=joe"]);
}

#[test]
fn smtplib_login_after_starttls_relays() {
    const LOGIN: &str = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo("laptop.example.org")
assert not s.has_extn("auth"), "AUTH offered in clear text"
s.starttls(context=ctx)
s.ehlo("laptop.example.org")
print(s.esmtp_features["auth"].strip())
s.login("joe", sys.argv[2])
s.sendmail("joe@example.com", ["friend@elsewhere.example"], "Subject: hi\r\n\r\nhello\r\n")
s.quit()
"#;
    let srv = Server::start(Opts::default());
    let out = python(LOGIN, &[&srv.port(), JOE_PASSWORD]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "LOGIN PLAIN\n");
    assert!(
        srv.wait_queued(1)[0]
            .1
            .contains("Tfriend@elsewhere.example\0")
    );
}

#[test]
fn auth_before_tls_is_refused() {
    let srv = Server::start(Opts::default());
    let plain = b64(format!("\0joe\0{JOE_PASSWORD}").as_bytes());
    let r = talk(
        &srv,
        false,
        &[
            "EHLO x",
            &format!("AUTH PLAIN {plain}"),
            "MAIL FROM:<joe@example.com>",
            "RCPT TO:<friend@elsewhere.example>",
        ],
    );
    assert_eq!(
        r,
        [
            "250-mx.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n",
            "538 encryption required for requested authentication mechanism (#5.7.11)\r\n",
            "250 ok\r\n",
            NOGW,
        ]
    );
}

#[test]
fn bad_base64_an_empty_user_and_cancel_get_their_replies() {
    let srv = Server::start(Opts::default());
    let r = talk(
        &srv,
        true,
        &[
            "AUTH PLAIN not*base64",
            &format!(
                "AUTH PLAIN {}",
                b64(format!("\0\0{JOE_PASSWORD}").as_bytes())
            ),
            "AUTH LOGIN",
            "*",
            "AUTH LOGIN",
            &b64(b"joe"),
            "%%%",
            "AUTH PLAIN",
            &b64(b"\0joe\0"),
        ],
    );
    assert_eq!(
        r,
        [
            "501 malformed auth input (#5.5.4)\r\n",
            "501 malformed auth input (#5.5.4)\r\n",
            "334 VXNlcm5hbWU6\r\n",
            "501 auth exchange cancelled (#5.0.0)\r\n",
            "334 VXNlcm5hbWU6\r\n",
            "334 UGFzc3dvcmQ6\r\n",
            "501 malformed auth input (#5.5.4)\r\n",
            "334 \r\n",
            "501 malformed auth input (#5.5.4)\r\n",
        ]
    );
}

#[test]
fn a_failed_auth_is_delayed_and_does_not_relay() {
    let srv = Server::start(Opts::default());
    let bad = format!("AUTH PLAIN {}", b64(b"\0joe\0wrong"));
    let started = Instant::now();
    let r = talk(
        &srv,
        true,
        &[
            &bad,
            "MAIL FROM:<joe@example.com>",
            "RCPT TO:<friend@elsewhere.example>",
        ],
    );
    assert!(
        started.elapsed().as_millis() >= 1000,
        "the failure was not delayed"
    );
    assert_eq!(
        r,
        ["535 authorization failed (#5.7.0)\r\n", "250 ok\r\n", NOGW]
    );
    srv.wait_log(&["qmail-smtpd: auth failed user=joe"]);
    assert!(!srv.stderr().contains("wrong"));
}

#[test]
fn a_hanging_checkprogram_is_killed_and_the_answer_is_temporary() {
    let srv0 = tempfile::tempdir().unwrap();
    let hang = e2e::script::executable(
        &srv0.path().join("hang.sh"),
        &format!(
            "#!/bin/sh\necho $$ > {}/pid\nexec sleep 600\n",
            srv0.path().display()
        ),
    );
    let srv = Server::start(Opts {
        args: Some(vec![
            "mx.example.com".into(),
            hang.display().to_string(),
            "/bin/true".into(),
        ]),
        control: vec![("timeoutauth", "1\n".into())],
        ..Opts::default()
    });
    let plain = b64(format!("\0joe\0{JOE_PASSWORD}").as_bytes());
    let r = talk(
        &srv,
        true,
        &[
            &format!("AUTH PLAIN {plain}"),
            "MAIL FROM:<joe@example.com>",
            "RCPT TO:<friend@elsewhere.example>",
        ],
    );
    assert_eq!(
        r,
        [
            "454 temporary authentication failure (#4.3.0)\r\n",
            "250 ok\r\n",
            NOGW
        ]
    );
    let pid: i32 = std::fs::read_to_string(srv0.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = e2e::poll_until(T, || {
        (nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err()).then_some(())
    });
    assert!(gone.is_some(), "the checkprogram still runs");
    srv.wait_log(&["checkprogram timed out"]);
}

#[test]
fn smtpauth_bang_requires_auth_and_minus_withdraws_it() {
    let srv = Server::start(Opts {
        env: vec![("SMTPAUTH", "!".into())],
        ..Opts::default()
    });
    let plain = b64(format!("\0joe\0{JOE_PASSWORD}").as_bytes());
    let r = talk(
        &srv,
        true,
        &[
            "MAIL FROM:<joe@example.com>",
            &format!("AUTH PLAIN {plain}"),
            "MAIL FROM:<joe@example.com>",
        ],
    );
    assert_eq!(
        r,
        [
            "530 authentication required (#5.7.0)\r\n",
            "235 ok, go ahead (#2.0.0)\r\n",
            "250 ok\r\n"
        ]
    );
    let srv = Server::start(Opts {
        env: vec![("SMTPAUTH", "-".into())],
        ..Opts::default()
    });
    let r = talk(&srv, true, &["EHLO x", &format!("AUTH PLAIN {plain}")]);
    assert_eq!(
        r,
        [
            "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            "502 unimplemented (#5.5.1)\r\n"
        ]
    );
}

#[test]
fn auth_cleartext_allows_auth_without_tls() {
    let srv = Server::start(Opts {
        cert: None,
        env: vec![("AUTH_CLEARTEXT", "1".into())],
        ..Opts::default()
    });
    let plain = b64(format!("\0joe\0{JOE_PASSWORD}").as_bytes());
    let r = talk(
        &srv,
        false,
        &[
            "EHLO x",
            &format!("AUTH PLAIN {plain}"),
            "MAIL FROM:<joe@example.com>",
            "RCPT TO:<friend@elsewhere.example>",
        ],
    );
    assert_eq!(
        r,
        [
            "250-mx.example.com\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH LOGIN PLAIN\r\n",
            "235 ok, go ahead (#2.0.0)\r\n",
            "250 ok\r\n",
            "250 ok\r\n"
        ]
    );
}

/// checkpassword run directly: `input` on fd 3, the subprogram prints
/// who and where it is. Returns (exit code, stdout).
fn checkpassword(env: &[(&str, &str)], input: &[u8], pre: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(pre.first().copied().unwrap_or("sh"));
    if !pre.is_empty() {
        cmd.args(&pre[1..]).arg("sh");
    }
    cmd.arg("-c")
        .arg("exec \"$@\" 3<&0 </dev/null")
        .arg("sh")
        .arg(e2e::bin("checkpassword"))
        .args([
            "sh",
            "-c",
            "echo $(id -u) $(id -G) $USER $HOME $(pwd) $SHELL",
        ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin_bytes(input);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

#[test]
fn checkpassword_password_file_mode_as_an_ordinary_user() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    std::fs::write(
        &file,
        format!(
            "joe:{}:{}\n",
            super::support::hash("pw"),
            dir.path().display()
        ),
    )
    .unwrap();
    // As nobody when we are root, else as ourselves.
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let pre: &[&str] = if e2e::is_root() { &nobody } else { &[] };
    if e2e::is_root() {
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let f = file.to_str().unwrap();
    let env = [("CHECKPASSWORD_FILE", f)];
    let (code, out) = checkpassword(&env, b"joe\0pw\0\0", pre);
    assert_eq!(code, 0, "{out}");
    let d = dir.path().display().to_string();
    let uid = if e2e::is_root() {
        "65534".to_string()
    } else {
        nix::unistd::getuid().to_string()
    };
    assert!(out.starts_with(&format!("{uid} ")), "{out}");
    assert!(out.contains(&format!(" joe {d} {d}")), "{out}");
    assert_eq!(checkpassword(&env, b"joe\0bad\0\0", pre).0, 1);
    assert_eq!(checkpassword(&env, b"amy\0pw\0\0", pre).0, 1);
    assert_eq!(checkpassword(&env, b"joe\0pw", pre).0, 2);
    assert_eq!(
        checkpassword(
            &[("CHECKPASSWORD_FILE", "/nonexistent/passwd")],
            b"joe\0pw\0\0",
            pre
        )
        .0,
        111
    );
}

#[test]
fn checkpassword_system_accounts_in_a_private_etc() {
    if e2e::skip_unless_root("checkpassword for system accounts") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    assert!(
        Command::new("cp")
            .args(["-a", "/etc"])
            .arg(&etc)
            .status()
            .unwrap()
            .success()
    );
    let home = dir.path().join("home/cpwtest");
    // Inside a private mount namespace whose /etc is the copy: make the
    // user (yescrypt, Debian's default, through chpasswd), then ask.
    let script = format!(
        r#"set -e
mount --bind "{etc}" /etc
useradd -M -d "{home}" -s /bin/sh cpwtest
mkdir -p "{home}"; chown cpwtest "{home}"
echo 'cpwtest:Pw yes' | chpasswd
grep '^cpwtest:\$y\$' /etc/shadow >/dev/null
run() {{ printf "$1" | sh -c 'exec "$@" 3<&0 </dev/null' sh "{cp}" sh -c 'echo $(id -u) $(id -G) $USER $HOME $(pwd) $SHELL'; echo "exit $?"; }}
run 'cpwtest\000Pw yes\000\000'
run 'cpwtest\000pw yes\000\000' || true
run 'nosuchuser\000Pw yes\000\000' || true
"#,
        etc = etc.display(),
        home = home.display(),
        cp = e2e::bin("checkpassword").display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(&script)
        .stdin_bytes(b"");
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && text.is_empty() {
        eprintln!(
            "SKIPPED: no private mount namespace: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f: Vec<&str> = lines[0].split(' ').collect();
    let h = home.display().to_string();
    // Its uid, its group only, USER, HOME, the cwd, SHELL.
    assert!(f[0].parse::<u32>().unwrap() > 0, "{text}");
    assert_eq!(f.len(), 6, "one group only: {text}");
    assert_eq!(
        &f[2..],
        ["cpwtest", h.as_str(), h.as_str(), "/bin/sh"],
        "{text}"
    );
    assert_eq!(&lines[1..], ["exit 0", "exit 1", "exit 1"], "{text}");
}
