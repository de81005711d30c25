//! The embedded default: what qmail-run puts in its folder on top of the
//! one-folder install, only where nothing is there yet, so an admin's
//! edits survive restarts.
//!
//! - `control/`: `config-fast mail.localhost` (me, defaultdomain,
//!   plusdomain, locals, rcpthosts), plain `localhost` added to locals and
//!   rcpthosts, and `defaultdelivery` = `./Maildir/`. The name has a dot
//!   so that qmail-inject's `To: you` becomes `you@mail.localhost`
//!   (a name without one gets `.defaultdomain` appended);
//! - `mail/you/Maildir/`: one local user, `you@localhost`;
//! - `etc/tcp.smtp`: 127.0.0.1 may relay, everyone else may only send to
//!   local addresses; compiled to `etc/tcp.smtp.cdb` at every start.
//! - `etc/pop3.password` (mode 0600, random) and `etc/checkpassword`: the
//!   POP3 login of `you`, through the checkpassword interface that
//!   qmail-popup uses (a one-user stand-in until a real checkpassword
//!   program is installed).
//!
//! A folder whose `control/me` exists but whose `control/rcpthosts` does
//! not is refused, as the qmail-smtpd run script refuses it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{Context, Error, config, maildir};

/// The host name of the embedded default (`.localhost` is reserved for
/// this machine, RFC 6761).
pub const HOST: &str = "mail.localhost";
/// The short name that is local too.
pub const ALSO_LOCAL: &str = "localhost";
/// The one local user of the embedded default.
pub const USER: &str = "you";
/// The default delivery: the user's Maildir.
pub const DEFAULT_DELIVERY: &str = "./Maildir/";

/// The rules of the embedded default (tcprules syntax).
pub const TCP_SMTP: &str = "\
# Who may connect to qmail-run's SMTP port and who may relay: tcprules(1).
# qmail-run compiles this to tcp.smtp.cdb at every start and on SIGHUP.
# 127.0.0.1 may relay (RELAYCLIENT); any other client may only send to the
# hosts in control/rcpthosts.
127.0.0.1:allow,RELAYCLIENT=\"\"
:allow
";

/// Paths inside a qmail-run folder.
#[derive(Debug, Clone)]
pub struct Layout {
    pub home: PathBuf,
}

impl Layout {
    pub fn rules(&self) -> PathBuf {
        self.home.join("etc/tcp.smtp")
    }
    pub fn rules_cdb(&self) -> PathBuf {
        self.home.join("etc/tcp.smtp.cdb")
    }
    pub fn rules_tmp(&self) -> PathBuf {
        self.home.join("etc/tcp.smtp.tmp")
    }
    pub fn maildir(&self) -> PathBuf {
        self.home.join("mail").join(USER).join("Maildir")
    }
    pub fn pop3_password(&self) -> PathBuf {
        self.home.join("etc/pop3.password")
    }
    pub fn checkpassword(&self) -> PathBuf {
        self.home.join("etc/checkpassword")
    }
    pub fn bin(&self, name: &str) -> PathBuf {
        self.home.join("bin").join(name)
    }
    /// `control/defaultdelivery`'s first line, or the default.
    pub fn default_delivery(&self) -> Result<String, Error> {
        let path = self.home.join("control/defaultdelivery");
        match control::read_line(&path).ctx(|| format!("read {}", path.display()))? {
            Some(line) if !line.is_empty() => Ok(String::from_utf8_lossy(&line).into_owned()),
            _ => Ok(DEFAULT_DELIVERY.to_string()),
        }
    }
}

fn create_new(path: &Path, text: &str) -> Result<bool, Error> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .ctx(|| format!("write {}", path.display()))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).ctx(|| format!("create {}", path.display())),
    }
}

/// Add what is missing of the embedded default; `say` hears what is done.
pub fn configure(layout: &Layout, say: &mut dyn FnMut(&str)) -> Result<(), Error> {
    let home = &layout.home;
    if !home.join("control/me").exists() {
        let mut out = Vec::new();
        config::config_fast(home, HOST, &mut out)?;
        for line in String::from_utf8_lossy(&out).lines() {
            say(&format!("config-fast {HOST}: {line}"));
        }
        let control = home.join("control");
        config::append(&control, "locals", ALSO_LOCAL)?;
        config::append(&control, "rcpthosts", ALSO_LOCAL)?;
        say(&format!(
            "added {ALSO_LOCAL} to control/locals and control/rcpthosts"
        ));
    }
    // The run script's guard: without rcpthosts qmail-smtpd refuses
    // every recipient of a client that may not relay (qmail would relay
    // for anyone), so do not start an SMTP service that cannot work.
    if !home.join("control/rcpthosts").exists() {
        return Err(Error::Other(format!(
            "{}/control/rcpthosts is missing: refusing to run qmail-smtpd without it \
             (put the domains this host accepts mail for in it, one a line)",
            home.display()
        )));
    }
    create_new(
        &home.join("control/defaultdelivery"),
        &format!("{DEFAULT_DELIVERY}\n"),
    )?;
    let user = home.join("mail").join(USER);
    match fs::create_dir(&user) {
        Ok(()) => say(&format!(
            "made the local user {USER}@{ALSO_LOCAL}: {}",
            user.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).ctx(|| format!("mkdir {}", user.display())),
    }
    let md = layout.maildir();
    if !md.exists() {
        maildir::make(&md, None).ctx(|| format!("make the Maildir {}", md.display()))?;
    }
    let etc = home.join("etc");
    match fs::create_dir(&etc) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).ctx(|| format!("mkdir {}", etc.display())),
    }
    create_new(&layout.rules(), TCP_SMTP)?;
    pop3_login(layout)?;
    Ok(())
}

/// The checkpassword program of qmail-run's POP3 service: `you` with the
/// first line of etc/pop3.password. It runs as qmail-run's user, which is
/// the user of every Maildir here, so it changes no ids. The home comes
/// from QMAILHOME, which tcpserver passes through qmail-popup.
pub const CHECKPASSWORD: &str = r#"#!/bin/sh
# qmail-run's checkpassword (the checkpassword interface, for
# qmail-popup): reads name\0password\0timestamp\0 on fd 3; the one user
# "you" logs in with the first line of $QMAILHOME/etc/pop3.password.
# Then runs its arguments (qmail-pop3d Maildir) in the user's folder.
data=$(head -c 512 <&3 | tr '\0' '\n')
exec 3<&-
name=$(printf '%s\n' "$data" | sed -n 1p)
pass=$(printf '%s\n' "$data" | sed -n 2p)
want=$(head -n 1 "$QMAILHOME/etc/pop3.password" 2>/dev/null)
[ "$name" = you ] && [ -n "$want" ] && [ "$pass" = "$want" ] || exit 1
USER=you
HOME="$QMAILHOME/mail/you"
export USER HOME
cd "$HOME" || exit 111
exec "$@"
"#;

/// A random password (hex of 12 bytes of /dev/urandom) in
/// etc/pop3.password, readable by its owner only, and the checkpassword
/// script; each written once, so an admin's choice stays.
fn pop3_login(layout: &Layout) -> Result<(), Error> {
    use std::io::{Read, Write};
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = layout.pop3_password();
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut f) => {
            let mut raw = [0u8; 12];
            fs::File::open("/dev/urandom")
                .and_then(|mut r| r.read_exact(&mut raw))
                .ctx(|| "read /dev/urandom".into())?;
            let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            f.write_all(format!("{hex}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .ctx(|| format!("write {}", path.display()))?;
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).ctx(|| format!("create {}", path.display())),
    }
    let script = layout.checkpassword();
    if create_new(&script, CHECKPASSWORD)? {
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))
            .ctx(|| format!("chmod {}", script.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configures_once_and_keeps_edits() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        for d in ["control", "mail"] {
            fs::create_dir(home.join(d)).unwrap();
        }
        let layout = Layout { home: home.clone() };
        let mut said = Vec::new();
        configure(&layout, &mut |s| said.push(s.to_string())).unwrap();
        assert!(
            said.iter()
                .any(|s| s.contains("Putting mail.localhost into control/me"))
        );
        assert_eq!(
            fs::read_to_string(home.join("control/rcpthosts")).unwrap(),
            "mail.localhost\nlocalhost\n"
        );
        assert!(layout.maildir().join("new").is_dir());
        assert_eq!(layout.default_delivery().unwrap(), "./Maildir/");
        let password = fs::read_to_string(layout.pop3_password()).unwrap();
        assert_eq!(password.len(), 25, "{password:?}");
        fs::write(layout.rules(), ":deny\n").unwrap();
        fs::write(home.join("control/defaultdelivery"), "./Mailbox\n").unwrap();
        let mut again = Vec::new();
        configure(&layout, &mut |s| again.push(s.to_string())).unwrap();
        assert!(again.is_empty(), "{again:?}");
        assert_eq!(fs::read_to_string(layout.rules()).unwrap(), ":deny\n");
        assert_eq!(
            fs::read_to_string(layout.pop3_password()).unwrap(),
            password
        );
        assert_eq!(layout.default_delivery().unwrap(), "./Mailbox");
        // locals was not appended to twice.
        assert_eq!(
            fs::read_to_string(home.join("control/locals")).unwrap(),
            "mail.localhost\nlocalhost\n"
        );
    }

    #[test]
    fn refuses_to_start_without_rcpthosts() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        for d in ["control", "mail"] {
            fs::create_dir(home.join(d)).unwrap();
        }
        let layout = Layout { home: home.clone() };
        configure(&layout, &mut |_| {}).unwrap();
        // An admin who removed it: no SMTP service rather than one that
        // refuses (or, with qmail, relays) everything.
        fs::remove_file(home.join("control/rcpthosts")).unwrap();
        let e = configure(&layout, &mut |_| {}).unwrap_err().to_string();
        assert!(e.contains("control/rcpthosts"), "{e}");
    }
}
