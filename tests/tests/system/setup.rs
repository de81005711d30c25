//! `qmail-setup` (make setup check) and `config-fast` as an ordinary
//! user: the one-folder layout, a check that names what is wrong, and the
//! list of programs and man pages kept complete.
//!
//! Run as root, the test runs them as nobody in a folder nobody owns.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use super::support::{as_owner, bin, bins, open_tempdir, owner};

fn run(mut c: Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn setup_check_and_config_fast_in_one_folder() {
    let bins = bins();
    let dir = open_tempdir();
    let (uid, gid) = owner();
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    let home = dir.path().join("qmail");

    // QMAILHOME names the home when no argument does.
    let mut c = Command::new(bin("qmail-setup"));
    c.arg("-b").arg(&bins).env("QMAILHOME", &home);
    as_owner(&mut c);
    let (code, out, err) = run(c);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    let meta = std::fs::metadata(home.join("bin/qmail-queue")).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (uid, gid, 0o711)
    );
    for d in [
        "control",
        "users",
        "alias/Maildir/new",
        "mail",
        "queue/todo",
        "man/man8",
    ] {
        assert!(home.join(d).is_dir(), "{d}");
    }
    for f in [
        "alias/.qmail-postmaster",
        "alias/.qmail-mailer-daemon",
        "alias/.qmail-root",
    ] {
        assert_eq!(std::fs::metadata(home.join(f)).unwrap().len(), 0, "{f}");
    }

    // -c: only the check; problems are named in instcheck's words.
    std::fs::set_permissions(
        home.join("bin/qmail-send"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    std::fs::remove_dir(home.join("queue/bounce")).unwrap();
    let mut c = Command::new(bin("qmail-setup"));
    c.arg("-c").arg(&home);
    as_owner(&mut c);
    let (code, _, err) = run(c);
    assert_eq!(code, 111);
    let h = home.display();
    assert_eq!(
        err,
        format!(
            "instcheck: warning: {h}/bin/qmail-send has wrong permissions\n\
             instcheck: warning: {h}/queue/bounce does not exist\n"
        )
    );
    // Setup again repairs it.
    let mut c = Command::new(bin("qmail-setup"));
    c.arg("-b").arg(&bins).arg(&home);
    as_owner(&mut c);
    assert_eq!(run(c).0, 0);

    // config-fast
    let mut c = Command::new(home.join("bin/config-fast"));
    c.arg("mail.example.com").env("QMAILHOME", &home);
    as_owner(&mut c);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Your fully qualified host name is mail.example.com.\n\
         Putting mail.example.com into control/me...\n\
         Putting example.com into control/defaultdomain...\n\
         Putting example.com into control/plusdomain...\n\
         Putting mail.example.com into control/locals...\n\
         Putting mail.example.com into control/rcpthosts...\n\
         Now qmail will refuse to accept SMTP messages except to mail.example.com.\n\
         Make sure to change rcpthosts if you add hosts to locals or virtualdomains!\n"
    );
    let read = |f: &str| std::fs::read_to_string(home.join("control").join(f)).unwrap();
    assert_eq!(read("me"), "mail.example.com\n");
    assert_eq!(read("locals"), "mail.example.com\n");

    // Usage errors exit 100 with the usage line.
    let (code, _, err) = run(Command::new(home.join("bin/config-fast")));
    assert_eq!(
        (code, err.as_str()),
        (100, "config-fast: usage: config-fast host.domain\n")
    );
    let (code, _, err) = run(Command::new(home.join("bin/maildirmake")));
    assert_eq!(
        (code, err.as_str()),
        (100, "maildirmake: usage: maildirmake name\n")
    );
    let mut c = Command::new(bin("qmail-setup"));
    c.arg("-x");
    let (code, _, err) = run(c);
    assert_eq!(code, 100);
    assert!(err.starts_with("qmail-setup: usage: qmail-setup"), "{err}");
}

/// The binary targets of the workspace, from cargo metadata.
fn workspace_binaries() -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(e2e::workspace())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // Targets look like {"kind":["bin"],...,"name":"tcpserver",...}; a
    // small scan is enough.
    let mut names = Vec::new();
    for part in text.split("\"kind\":[\"bin\"]").skip(1) {
        let name = part
            .split("\"name\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        names.push(name.to_string());
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_program_is_installed_with_its_man_page() {
    let mut installed: Vec<String> = setup::hier::BINARIES
        .iter()
        .map(|(n, _, _)| n.to_string())
        .collect();
    installed.sort();
    assert_eq!(
        workspace_binaries(),
        installed,
        "setup::hier::BINARIES must list every program of the workspace"
    );
    let pages: Vec<String> = std::fs::read_dir(e2e::workspace().join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in &installed {
        assert!(
            pages
                .iter()
                .any(|p| p.rsplit_once('.').is_some_and(|(stem, _)| stem == name)),
            "no man page for {name} in man/"
        );
    }
    // The scripts (Cargo refuses `@` in a binary name): every file of
    // ucspi-tools/scripts is listed, each with its man page.
    let mut scripts: Vec<String> = setup::hier::SCRIPTS
        .iter()
        .map(|(n, _, _)| n.to_string())
        .collect();
    scripts.sort();
    let mut shipped: Vec<String> = std::fs::read_dir(e2e::workspace().join("ucspi-tools/scripts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    shipped.sort();
    assert_eq!(
        shipped, scripts,
        "setup::hier::SCRIPTS must list every script of ucspi-tools/scripts"
    );
    for name in &scripts {
        assert!(
            pages.contains(&format!("{name}.1")),
            "no man page for {name} in man/"
        );
    }
}

/// The `@` scripts are installed in `bin/` (root's, 0755 in the system
/// way; here the one folder's owner's) and run there: `date@` finds the
/// installed tcpclient and delcr beside itself and reads a daytime
/// server on loopback.
#[test]
fn installed_date_at_reads_a_daytime_server() {
    let bins = bins();
    let dir = open_tempdir();
    let (uid, gid) = owner();
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    let home = dir.path().join("qmail");
    let mut c = Command::new(bin("qmail-setup"));
    c.arg("-b").arg(&bins).arg(&home);
    as_owner(&mut c);
    let (code, out, err) = run(c);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    for (name, _, mode) in setup::hier::SCRIPTS {
        let path = home.join("bin").join(name);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (uid, gid, *mode),
            "{name}"
        );
        let want = std::fs::read(e2e::workspace().join("ucspi-tools/scripts").join(name));
        assert_eq!(std::fs::read(&path).unwrap(), want.unwrap(), "{name}");
    }
    // The check knows them too: a changed mode is named.
    std::fs::set_permissions(
        home.join("bin/date@"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut c = Command::new(bin("qmail-setup"));
    c.arg("-c").arg(&home);
    as_owner(&mut c);
    let (code, _, err) = run(c);
    assert_eq!(
        (code, err),
        (
            111,
            format!(
                "instcheck: warning: {}/bin/date@ has wrong permissions\n",
                home.display()
            )
        )
    );
    let mut c = Command::new(bin("qmail-setup"));
    c.arg("-b").arg(&bins).arg(&home);
    as_owner(&mut c);
    assert_eq!(run(c).0, 0);

    if e2e::skip_unless_root("date@ connects to port 13") {
        return;
    }
    let ip = e2e::net::unique_loopback();
    let l = std::net::TcpListener::bind((ip, 13)).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        std::io::Write::write_all(&mut s, b"Wed Dec  2 20:00:00 2026\r\n\x01").unwrap();
    });
    let mut c = Command::new(home.join("bin/date@"));
    c.arg(ip.to_string())
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    let (code, out, err) = run(c);
    server.join().unwrap();
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "Wed Dec  2 20:00:00 2026\n^A", "")
    );
}

#[test]
fn boot_scripts_are_valid_shell_and_name_the_home() {
    let mut scripts = 0;
    for f in setup::embedded::BOOT_FILES {
        let text = std::str::from_utf8(f.bytes).unwrap();
        if f.exec {
            assert!(text.starts_with("#!/bin/sh\n"), "{}", f.path);
            let st = Command::new("/bin/sh")
                .arg("-n")
                .arg(e2e::workspace().join("boot").join(f.path))
                .status()
                .unwrap();
            assert!(st.success(), "sh -n {}", f.path);
            scripts += 1;
        }
        // Everything that runs a program of the system finds it below
        // /var/qmail, which qmail-setup replaces with the real home.
        let runs = text
            .lines()
            .filter(|l| {
                !l.starts_with('#')
                    && !l.starts_with("Description=")
                    && !l.starts_with("Documentation=")
            })
            .any(|l| l.contains("qmail-start") || l.contains("qmail-smtpd"));
        if runs {
            assert!(text.contains("/var/qmail"), "{}", f.path);
        }
    }
    assert!(scripts >= 8, "{scripts} scripts");
}
