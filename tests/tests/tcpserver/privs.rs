//! `-u`, `-g` and `-U`: the handler prints `id -u`, `id -g`, `id -G`;
//! compared with Debian's tcpserver. Root only.

use super::support::*;

fn ids(imp: Impl, args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let h = script(dir.path(), "ids", "id -u; id -g; id -G");
    let bin = imp.path().unwrap();
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["-H", "-R", "-l", "0", "127.0.0.1", "0", h.to_str().unwrap()]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let srv = Server::start(&bin, &a, |c| {
        for (k, v) in env {
            c.env(k, v);
        }
    });
    fetch(srv.addr()).0
}

#[test]
fn uid_gid_and_capital_u_match_debian() {
    if e2e::skip_unless_root("-u/-g/-U change users") {
        return;
    }
    let env = [("UID", "1003"), ("GID", "1002")];
    let cases: [(&[&str], &str); 5] = [
        (&["-u", "65534", "-g", "65534"], "65534\n65534\n65534\n"),
        (&["-g", "65534"], "0\n65534\n65534\n"),
        (&["-U"], "1003\n1002\n1002\n"),
        (&["-U", "-u", "65534"], "65534\n1002\n1002\n"),
        (&["-u", "0", "-g", "0"], "0\n0\n0\n"),
    ];
    for (args, want) in cases {
        let got = ids(Impl::Ours, args, &env);
        assert_eq!(got, want, "{args:?}");
        if Impl::Debian.path().is_some() {
            assert_eq!(got, ids(Impl::Debian, args, &env), "{args:?}");
        }
    }
    // -u alone: the uid changes, the gid stays; 0.88 keeps root's
    // supplementary groups, we keep only the gid (here the same: root
    // is in group 0 alone).
    assert_eq!(ids(Impl::Ours, &["-u", "65534"], &env), "65534\n0\n0\n");
}

#[test]
fn names_for_u_and_g_are_usage_errors_not_root() {
    // 0.88 reads `-u qmaild` as 0 and runs the handler as root.
    let bin = Impl::Ours.path().unwrap();
    for args in [["-u", "qmaild"], ["-g", "nogroup"], ["-c", "abc"]] {
        let out = std::process::Command::new(&bin)
            .args(args)
            .args(["127.0.0.1", "0", "/bin/true"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(100), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.ends_with("tcpserver: usage: tcpserver [ -1UXpPhHrRoOdDqQv ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] host port program\n"), "{err}");
    }
}

#[test]
fn u_without_g_keeps_gid_0_but_says_so() {
    if e2e::skip_unless_root("-u changes users") {
        return;
    }
    // 0.88 keeps root's group with -u alone, and so do we (command
    // lines keep working), but the handler then runs in group 0: warn.
    let dir = tempfile::tempdir().unwrap();
    let h = script(dir.path(), "ids", "id -u; id -g");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = Impl::Ours.path().unwrap();
    let args = ["-u", "65534", "-H", "-R", "-l", "0", "127.0.0.1", "0"];
    let mut a = args.to_vec();
    a.push(h.to_str().unwrap());
    let srv = Server::start(&bin, &a, |_| {});
    assert_eq!(fetch(srv.addr()).0, "65534\n0\n");
    srv.wait_log("the -u warning", |l| {
        l.iter()
            .any(|x| x == "tcpserver: warning: -u without -g: the handler keeps group 0 (give -g)")
    });
    // With -g, or -q, no warning.
    let mut a = vec!["-g", "65534"];
    a.extend(args);
    a.push(h.to_str().unwrap());
    let srv = Server::start(&bin, &a, |_| {});
    assert_eq!(fetch(srv.addr()).0, "65534\n65534\n");
    assert!(
        !srv.log().iter().any(|l| l.contains("warning")),
        "{:?}",
        srv.log()
    );
}
