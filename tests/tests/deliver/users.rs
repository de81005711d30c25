//! qmail-getpw, qmail-newu and preline end to end; and the path a mail for
//! a nonexistent local user takes: qmail-getpw hands it to the alias user,
//! and qmail-local there bounces it (exit 100, which qmail-lspawn reports
//! as `D` and qmail-send turns into a bounce).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const NOBODY: u32 = 65534;

fn getpw(home: &Path, local: &str, as_nobody: bool) -> Output {
    let mut c = Command::new(e2e::bin("qmail-getpw"));
    c.arg(local).env("QMAILHOME", home).stdin(Stdio::null());
    if as_nobody && e2e::is_root() {
        c.uid(NOBODY).gid(NOBODY);
    }
    c.output().unwrap()
}

/// A one-folder qmail home: users are mail/<name>. qmail-getpw runs in
/// the one-folder mode when it is neither root nor qmailp, so as root the
/// test runs it as nobody and gives the folder to nobody.
fn one_folder_home() -> (tempfile::TempDir, u32, u32) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["", "mail", "mail/joe", "mail/joe-list", "alias"] {
        let p = root.join(d);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        if e2e::is_root() {
            std::os::unix::fs::chown(&p, Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    let meta = fs::metadata(root).unwrap();
    (dir, meta.uid(), meta.gid())
}

#[test]
fn getpw_in_the_one_folder_mode() {
    let (dir, uid, gid) = one_folder_home();
    let root = dir.path().display().to_string();
    let fields = |local: &str| {
        let out = getpw(dir.path(), local, true);
        assert_eq!(out.status.code(), Some(0), "{local}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        fields("Joe"),
        format!("joe\0{uid}\0{gid}\0{root}/mail/joe\0\0\0")
    );
    assert_eq!(
        fields("joe-Foo-bar"),
        format!("joe\0{uid}\0{gid}\0{root}/mail/joe\0-\0Foo-bar\0")
    );
    assert_eq!(
        fields("joe-list-x"),
        format!("joe-list\0{uid}\0{gid}\0{root}/mail/joe-list\0-\0x\0")
    );
    assert_eq!(
        fields("Nobody.Here"),
        format!("alias\0{uid}\0{gid}\0{root}/alias\0-\0Nobody.Here\0")
    );
    // Path tricks are not users.
    assert!(fields("..").starts_with("alias\0"));
    // No alias folder: qmail-lspawn's "Unable to find alias user!".
    fs::remove_dir(dir.path().join("alias")).unwrap();
    assert_eq!(getpw(dir.path(), "stranger", true).status.code(), Some(116));
    // No argument at all.
    let out = Command::new(e2e::bin("qmail-getpw")).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
}

#[test]
fn getpw_with_the_password_database() {
    // Run as root, qmail-getpw uses the password database.
    if e2e::skip_unless_root("qmail-getpw with the password database") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Find a user qmail would accept: uid not 0, home owned by the user.
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    let valid = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        let (name, uid, gid, home) = (f[0], f[2].parse::<u32>().ok()?, f[3], f[5]);
        let m = fs::metadata(home).ok()?;
        (uid != 0 && m.uid() == uid && name.len() < 32 && !name.contains('-'))
            .then(|| format!("{name}\0{uid}\0{gid}\0{home}\0"))
    });
    let Some(prefix) = valid else {
        eprintln!("SKIPPED: no user in /etc/passwd owns its home directory");
        return;
    };
    let name = prefix.split('\0').next().unwrap().to_string();
    let out = getpw(dir.path(), &format!("{}-Ext", name.to_uppercase()), false);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{prefix}-\0Ext\0")
    );
    // root is never a delivery user; without an alias user, 116.
    let alias_exists = passwd.lines().any(|l| l.starts_with("alias:"));
    let out = getpw(dir.path(), "root", false);
    if alias_exists {
        assert!(out.stdout.starts_with(b"alias\0"));
    } else {
        assert_eq!(out.status.code(), Some(116));
    }
}

#[test]
fn a_nonexistent_user_bounces_through_the_alias_user() {
    let (dir, _, _) = one_folder_home();
    let out = getpw(dir.path(), "nosuchuser", true);
    assert_eq!(out.status.code(), Some(0));
    let fields: Vec<Vec<u8>> = out.stdout.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    let s = |i: usize| String::from_utf8(fields[i].clone()).unwrap();
    assert_eq!(s(0), "alias");
    // Run qmail-local exactly as qmail-lspawn would with these fields.
    let msg = dir.path().join("msg");
    fs::write(&msg, "Subject: hi\n\nhello\n").unwrap();
    let mut c = Command::new(e2e::bin("qmail-local"));
    c.args([
        "--",
        &s(0),
        &s(3),
        "nosuchuser",
        &s(4),
        &s(5),
        "example.com",
    ])
    .args(["alice@example.org", "./Mailbox"])
    .stdin(fs::File::open(&msg).unwrap());
    if e2e::is_root() {
        c.uid(NOBODY).gid(NOBODY);
    }
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Sorry, no mailbox here by that name. (#5.1.1)\n"
    );
    // With a catch-all .qmail-default the alias user takes it.
    let catchall = dir.path().join("alias/.qmail-default");
    fs::write(&catchall, "./Mailbox\n").unwrap();
    fs::set_permissions(&catchall, fs::Permissions::from_mode(0o644)).unwrap();
    let out = c.stdin(fs::File::open(&msg).unwrap()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mbox = fs::read_to_string(dir.path().join("alias/Mailbox")).unwrap();
    assert!(mbox.contains("Delivered-To: nosuchuser@example.com\n"));
}

#[test]
fn newu_builds_the_users_cdb() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("users")).unwrap();
    fs::write(
        dir.path().join("users/assign"),
        "=Joe:joe:1001:100:/home/joe:::\n+joe-:joe:1001:100:/home/joe:-::\n+:alias:7790:2108:/var/qmail/alias:-::\n.\n",
    )
    .unwrap();
    let out = Command::new(e2e::bin("qmail-newu"))
        .env("QMAILHOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("users/cdb.tmp").exists());
    let db = cdb::CDB::open(dir.path().join("users/cdb")).unwrap();
    let get = |k: &[u8]| db.find(k).next().map(|r| r.unwrap());
    assert_eq!(
        get(b"!joe\0").unwrap(),
        b"joe\x001001\x00100\x00/home/joe\0\0"
    );
    assert_eq!(
        get(b"!joe-").unwrap(),
        b"joe\x001001\x00100\x00/home/joe\0-\0"
    );
    assert_eq!(
        get(b"!").unwrap(),
        b"alias\x007790\x002108\x00/var/qmail/alias\0-\0"
    );
    assert_eq!(get(b"").unwrap(), b"-");
    let mode = fs::metadata(dir.path().join("users/cdb")).unwrap().mode();
    assert_eq!(mode & 0o777, 0o644);

    // A bad file leaves the old cdb in place.
    fs::write(dir.path().join("users/assign"), "=x:y\n.\n").unwrap();
    let out = Command::new(e2e::bin("qmail-newu"))
        .env("QMAILHOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "qmail-newu: fatal: bad format in users/assign (line 1)\n"
    );
    assert!(
        cdb::CDB::open(dir.path().join("users/cdb"))
            .unwrap()
            .find(b"!joe\0")
            .next()
            .is_some()
    );
}

#[test]
fn preline_adds_the_three_lines() {
    let out = Command::new(e2e::bin("preline"))
        .args(["-d", "cat"])
        .env("UFLINE", "From a@b Fri Jan 03 10:00:00 2025\n")
        .env("RPLINE", "Return-Path: <a@b>\n")
        .env("DTLINE", "Delivered-To: c@d\n")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"body\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        out.stdout,
        b"From a@b Fri Jan 03 10:00:00 2025\nReturn-Path: <a@b>\nbody\n"
    );
    // The program's exit code is preline's.
    let out = Command::new(e2e::bin("preline"))
        .args(["sh", "-c", "cat >/dev/null; exit 99"])
        .env("UFLINE", "")
        .env("RPLINE", "")
        .env("DTLINE", "")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(99));
    // Without qmail-local's variables: usage.
    let out = Command::new(e2e::bin("preline"))
        .arg("cat")
        .env_remove("UFLINE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "preline: usage: preline cmd [ arg ... ]\n"
    );
}
