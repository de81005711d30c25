//! `config-fast HOST`: the control files for a host with a known name,
//! as qmail's `config-fast` script writes them: `me`, `defaultdomain`
//! and `plusdomain` are replaced; the host is appended to `locals` and
//! `rcpthosts`. Every file ends up mode 0644. Files are replaced
//! atomically, since running daemons read them.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::{Context, Error};

/// The script's `sed 's/^\([^\.]*\)\.\([^\.]*\)\./\2\./'`: with at least
/// two dots, drop the first label (`mail.example.com` → `example.com`);
/// otherwise unchanged.
pub fn defaultdomain(fqdn: &str) -> String {
    let label = |s: &str| !s.contains(['.', '\\']);
    let mut parts = fqdn.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(first), Some(second), Some(rest)) if label(first) && label(second) => {
            format!("{second}.{rest}")
        }
        _ => fqdn.to_string(),
    }
}

/// The script's `sed 's/^.*\.\([^\.]*\)\.\([^\.]*\)$/\1.\2/'`: with at
/// least two dots, the last two labels (`a.b.example.com` →
/// `example.com`); otherwise unchanged.
pub fn plusdomain(fqdn: &str) -> String {
    let label = |s: &str| !s.contains(['.', '\\']);
    let mut parts = fqdn.rsplitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(last), Some(second), Some(_)) if label(last) && label(second) => {
            format!("{second}.{last}")
        }
        _ => fqdn.to_string(),
    }
}

/// Replace `control/NAME` with `text` atomically, mode 0644.
fn put(control: &Path, name: &str, text: &[u8]) -> Result<(), Error> {
    let path = control.join(name);
    let tmp = control.join(format!(".{name}.config-tmp"));
    let _ = fs::remove_file(&tmp);
    let what = || format!("write {}", tmp.display());
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .ctx(what)?;
        f.write_all(text).ctx(what)?;
        f.sync_all().ctx(|| format!("fsync {}", tmp.display()))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))
            .ctx(|| format!("chmod {}", tmp.display()))?;
        fs::rename(&tmp, &path).ctx(|| format!("rename {}", tmp.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Append the line `text` to `control/NAME` (the script's `>>`).
pub fn append(control: &Path, name: &str, text: &str) -> Result<(), Error> {
    let path = control.join(name);
    let mut bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).ctx(|| format!("read {}", path.display())),
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    put(control, name, &bytes)
}

/// Write the control files for `fqdn` below `home`, telling `out` what
/// is done in the script's words.
pub fn config_fast(home: &Path, fqdn: &str, out: &mut dyn Write) -> Result<(), Error> {
    let control = home.join("control");
    let say = |out: &mut dyn Write, line: String| {
        // The messages are a courtesy: a closed stdout changes nothing.
        let _ = writeln!(out, "{line}");
    };
    say(out, format!("Your fully qualified host name is {fqdn}."));
    say(out, format!("Putting {fqdn} into control/me..."));
    put(&control, "me", format!("{fqdn}\n").as_bytes())?;
    let ddom = defaultdomain(fqdn);
    say(out, format!("Putting {ddom} into control/defaultdomain..."));
    put(&control, "defaultdomain", format!("{ddom}\n").as_bytes())?;
    let pdom = plusdomain(fqdn);
    say(out, format!("Putting {pdom} into control/plusdomain..."));
    put(&control, "plusdomain", format!("{pdom}\n").as_bytes())?;
    say(out, format!("Putting {fqdn} into control/locals..."));
    append(&control, "locals", fqdn)?;
    say(out, format!("Putting {fqdn} into control/rcpthosts..."));
    append(&control, "rcpthosts", fqdn)?;
    say(
        out,
        format!("Now qmail will refuse to accept SMTP messages except to {fqdn}."),
    );
    say(
        out,
        "Make sure to change rcpthosts if you add hosts to locals or virtualdomains!".into(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn domains_follow_the_scripts_sed() {
        assert_eq!(defaultdomain("mail.example.com"), "example.com");
        assert_eq!(defaultdomain("a.b.c.d"), "b.c.d");
        assert_eq!(defaultdomain("example.com"), "example.com");
        assert_eq!(defaultdomain("localhost"), "localhost");
        assert_eq!(plusdomain("mail.example.com"), "example.com");
        assert_eq!(plusdomain("a.b.c.d"), "c.d");
        assert_eq!(plusdomain("example.com"), "example.com");
        assert_eq!(plusdomain("localhost"), "localhost");
        // sed's [^\.] excludes backslashes too.
        assert_eq!(defaultdomain("a\\b.c.d"), "a\\b.c.d");
        assert_eq!(plusdomain("x.a\\b.c"), "x.a\\b.c");
    }

    #[test]
    fn writes_and_appends_as_the_script() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("control")).unwrap();
        fs::write(dir.path().join("control/locals"), "localhost").unwrap();
        let mut out = Vec::new();
        config_fast(dir.path(), "mail.example.com", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Your fully qualified host name is mail.example.com.\n\
             Putting mail.example.com into control/me...\n\
             Putting example.com into control/defaultdomain...\n\
             Putting example.com into control/plusdomain...\n\
             Putting mail.example.com into control/locals...\n\
             Putting mail.example.com into control/rcpthosts...\n\
             Now qmail will refuse to accept SMTP messages except to mail.example.com.\n\
             Make sure to change rcpthosts if you add hosts to locals or virtualdomains!\n"
        );
        let read = |n: &str| fs::read_to_string(dir.path().join("control").join(n)).unwrap();
        assert_eq!(read("me"), "mail.example.com\n");
        assert_eq!(read("defaultdomain"), "example.com\n");
        assert_eq!(read("plusdomain"), "example.com\n");
        assert_eq!(read("locals"), "localhost\nmail.example.com\n");
        assert_eq!(read("rcpthosts"), "mail.example.com\n");
        let mode = fs::metadata(dir.path().join("control/me")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o644);
        // The control directory must exist.
        let missing = tempfile::tempdir().unwrap();
        let err = config_fast(missing.path(), "x.y", &mut Vec::new()).unwrap_err();
        assert!(err.to_string().starts_with("unable to write"), "{err}");
    }
}
