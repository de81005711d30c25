//! tcpcat and mconnect, which 0.88 ships as shell scripts over
//! tcpclient: the same script text, run by `/bin/sh` with our tcpclient
//! and mconnect-io from the directory this binary is in, so the output
//! is the scripts' own. (`who@`, `date@`, `finger@` and `http@` are
//! shell scripts in `scripts/`: a Cargo binary cannot be named with an
//! `@`.)

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// `tcpcat [host [port]]`
pub const TCPCAT: &str = "exec @tcpclient -RHl0 -- \"${1-0}\" \"${2-17}\" sh -c 'exec cat <&6'\n";
/// `mconnect [host [port]]`
pub const MCONNECT: &str = "exec @tcpclient -RHl0 -- \"${1-0}\" \"${2-25}\" @mconnect-io\n";

/// The directory of this binary, where its siblings are installed.
fn bindir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/usr/bin"))
}

/// A path quoted for sh (single quotes survive inside a '...' script by
/// the '\'' idiom, so the quoted form must not itself use single quotes:
/// backslash-escape every byte that is not plainly safe).
fn sh_word(p: &std::path::Path) -> String {
    let mut s = String::new();
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/._-+@%=:,".contains(&b) {
            s.push(b as char);
        } else {
            s.push('\\');
            s.push(b as char);
        }
    }
    s
}

/// The script with `@name` replaced by the sibling program's path.
pub fn text(template: &str, dir: &std::path::Path) -> String {
    let mut out = template.to_string();
    for prog in ["tcpclient", "mconnect-io"] {
        let path = sh_word(&dir.join(prog));
        out = out.replace(&format!("@{prog}"), &path);
    }
    out
}

/// Run `template` with `args` as `$1`...; returns only if sh cannot run.
pub fn run(name: &str, template: &str, args: Vec<OsString>) -> i32 {
    let script = text(template, &bindir());
    let err = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .arg(name)
        .args(args)
        .exec();
    crate::exec::fatal(name, &[b"unable to run /bin/sh: "], &err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_are_named_by_path() {
        let t = text(MCONNECT, std::path::Path::new("/opt/q bin"));
        assert_eq!(
            t,
            "exec /opt/q\\ bin/tcpclient -RHl0 -- \"${1-0}\" \"${2-25}\" /opt/q\\ bin/mconnect-io\n"
        );
    }
}
