//! qmail-showctl (qmail-showctl.8): the compiled-in settings, then every
//! control file with its value or, marked `(Default.)`, the default the
//! programs use, in 1.03's words and order; then the files this system
//! adds; then any other file in `control/`, which nothing reads.
//!
//! The defaults are the ones our programs apply (smtpd's `config`,
//! send's `controls`, inject, remote); the test `qmail103_admin`
//! compares this report with what qmail-smtpd actually does.

use std::io;

use control::Home;

/// The ids in the report's header: qmail's users alias, qmaild, qmaill,
/// root, qmailp, qmailq, qmailr, qmails, and groups nofiles, qmail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub users: [u32; 8],
    pub groups: [u32; 2],
}

impl Ids {
    /// From the password and group files; a name that is missing (the
    /// one-folder mode, where everything runs as one user) shows as our
    /// own uid or gid.
    pub fn lookup() -> Ids {
        use queue::owners::{gid_of, uid_of};
        let me = nix::unistd::getuid().as_raw();
        let my_gid = nix::unistd::getgid().as_raw();
        let u = |n| uid_of(n).unwrap_or(me);
        let g = |n| gid_of(n).unwrap_or(my_gid);
        Ids {
            users: [
                u("alias"),
                u("qmaild"),
                u("qmaill"),
                0,
                u("qmailp"),
                u("qmailq"),
                u("qmailr"),
                u("qmails"),
            ],
            groups: [g("nofiles"), g("qmail")],
        }
    }
}

/// Control files the report covers, so the last part can name the rest.
pub const KNOWN: &[&str] = &[
    "badmailfrom",
    "bouncefrom",
    "bouncehost",
    "concurrencylocal",
    "concurrencyremote",
    "databytes",
    "defaultdomain",
    "defaulthost",
    "doublebouncehost",
    "doublebounceto",
    "envnoathost",
    "helohost",
    "idhost",
    "localiphost",
    "locals",
    "me",
    "morercpthosts",
    "morercpthosts.cdb",
    "percenthack",
    "plusdomain",
    "qmqpservers",
    "queuelifetime",
    "rcpthosts",
    "smtpgreeting",
    "smtproutes",
    "timeoutconnect",
    "timeoutremote",
    "timeoutsmtpd",
    "virtualdomains",
    // Ours:
    "concurrencyincoming",
    "defaultdelivery",
    "resolvers",
    "timeoutqmtpd",
    "timeoutqmqpd",
];

/// Bytes outside printable ASCII become `?`, as in 1.03's `safeput`.
fn safe(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(
        s.iter()
            .map(|&b| if (32..=126).contains(&b) { b } else { b'?' }),
    );
}

struct Report<'a> {
    home: &'a Home,
    me: Option<Vec<u8>>,
    out: Vec<u8>,
}

impl Report<'_> {
    fn head(&mut self, name: &str) {
        self.out.extend_from_slice(format!("\n{name}: ").as_bytes());
    }

    fn int(&mut self, name: &str, def: &str, pre: &str, post: &str) {
        self.head(name);
        let line = match self.home.int(name) {
            Ok(None) => format!("(Default.) {pre}{def}{post}.\n"),
            Ok(Some(i)) => format!("{pre}{}{post}.\n", i.min(u64::from(u32::MAX))),
            Err(_) => "Oops! Trouble reading this file.\n".into(),
        };
        self.out.extend_from_slice(line.as_bytes());
    }

    /// `flagme`: the default is control/me when that exists.
    fn str(&mut self, name: &str, flagme: bool, def: &str, pre: &str) {
        self.head(name);
        let value = match self.home.line(name) {
            Ok(Some(v)) => v,
            Ok(None) => {
                self.out.extend_from_slice(b"(Default.) ");
                match (&self.me, flagme) {
                    (Some(me), true) => me.clone(),
                    _ => def.as_bytes().to_vec(),
                }
            }
            Err(_) => {
                self.out
                    .extend_from_slice(b"Oops! Trouble reading this file.\n");
                return;
            }
        };
        self.out.extend_from_slice(pre.as_bytes());
        let mut o = std::mem::take(&mut self.out);
        safe(&mut o, &value);
        self.out = o;
        self.out.extend_from_slice(b".\n");
    }

    /// `Some(true)`: the file exists.
    fn list(&mut self, name: &str, def: &str, pre: &str, post: &str) -> Option<bool> {
        self.head(name);
        match self.home.list(name) {
            Ok(None) => {
                self.out
                    .extend_from_slice(format!("(Default.) {def}\n").as_bytes());
                Some(false)
            }
            Ok(Some(entries)) => {
                self.out.push(b'\n');
                for e in entries {
                    self.out.extend_from_slice(pre.as_bytes());
                    let mut o = std::mem::take(&mut self.out);
                    safe(&mut o, &e);
                    self.out = o;
                    self.out.extend_from_slice(post.as_bytes());
                    self.out.push(b'\n');
                }
                Some(true)
            }
            Err(_) => {
                self.out
                    .extend_from_slice(b"Oops! Trouble reading this file.\n");
                None
            }
        }
    }
}

/// The whole report, and the exit code (111 when control/ cannot be
/// read, with the report so far).
pub fn report(home: &Home, ids: &Ids) -> (Vec<u8>, i32) {
    let mut out = Vec::new();
    let u = ids.users.map(|i| i.to_string()).join(", ");
    let g = ids.groups.map(|i| i.to_string()).join(", ");
    out.extend_from_slice(
        format!(
            "qmail home directory: {}.\nuser-ext delimiter: -.\npaternalism (in decimal): 2.\n\
             silent concurrency limit: {}.\nsubdirectory split: {}.\nuser ids: {u}.\ngroup ids: {g}.\n",
            home.root().display(),
            send::spawner::SLOTS,
            queue::layout::SPLIT,
        )
        .as_bytes(),
    );
    let dir = home.control("");
    let names = match std::fs::read_dir(&dir) {
        Ok(d) => d,
        Err(e) => {
            let what = if home.root().is_dir() {
                "Oops! Unable to chdir to control.\n".to_string()
            } else if e.kind() == io::ErrorKind::NotFound {
                format!("Oops! Unable to chdir to {}.\n", home.root().display())
            } else {
                "Oops! Unable to open current directory.\n".to_string()
            };
            out.extend_from_slice(what.as_bytes());
            return (out, 111);
        }
    };
    let me = match home.me() {
        Ok(me) => me,
        Err(_) => {
            out.extend_from_slice(b"Oops! Trouble reading control/me.");
            return (out, 111);
        }
    };
    let mut r = Report { home, me, out };
    r.list(
        "badmailfrom",
        "Any MAIL FROM is allowed.",
        "",
        " not accepted in MAIL FROM.",
    );
    r.str("bouncefrom", false, "MAILER-DAEMON", "Bounce user name is ");
    r.str("bouncehost", true, "bouncehost", "Bounce host name is ");
    r.int("concurrencylocal", "10", "Local concurrency is ", "");
    r.int("concurrencyremote", "20", "Remote concurrency is ", "");
    r.int("databytes", "0", "SMTP DATA limit is ", " bytes");
    r.str(
        "defaultdomain",
        true,
        "defaultdomain",
        "Default domain name is ",
    );
    r.str("defaulthost", true, "defaulthost", "Default host name is ");
    r.str(
        "doublebouncehost",
        true,
        "doublebouncehost",
        "2B recipient host: ",
    );
    r.str("doublebounceto", false, "postmaster", "2B recipient user: ");
    r.str(
        "envnoathost",
        true,
        "envnoathost",
        "Presumed domain name is ",
    );
    r.str(
        "helohost",
        true,
        "helohost",
        "SMTP client HELO host name is ",
    );
    r.str("idhost", true, "idhost", "Message-ID host name is ");
    r.str(
        "localiphost",
        true,
        "localiphost",
        "Local IP address becomes ",
    );
    r.list(
        "locals",
        "Messages for me are delivered locally.",
        "Messages for ",
        " are delivered locally.",
    );
    r.str("me", false, "undefined! Uh-oh", "My name is ");
    r.list(
        "percenthack",
        "The percent hack is not allowed.",
        "The percent hack is allowed for user%host@",
        ".",
    );
    r.str("plusdomain", true, "plusdomain", "Plus domain name is ");
    r.list("qmqpservers", "No QMQP servers.", "QMQP server: ", ".");
    r.int(
        "queuelifetime",
        "604800",
        "Message lifetime in the queue is ",
        " seconds",
    );
    let pre = "SMTP clients may send messages to recipients at ";
    if r.list(
        "rcpthosts",
        "SMTP clients may send messages to any recipient.",
        pre,
        ".",
    ) == Some(true)
    {
        r.list("morercpthosts", "No effect.", pre, ".");
    } else {
        r.list(
            "morercpthosts",
            "No rcpthosts; morercpthosts is irrelevant.",
            "No rcpthosts; doesn't matter that morercpthosts has ",
            ".",
        );
    }
    r.out.extend_from_slice(b"\nmorercpthosts.cdb: ");
    let mtime = |n: &str| {
        std::fs::metadata(home.control(n))
            .ok()
            .and_then(|m| m.modified().ok())
    };
    let text: &[u8] = match (mtime("morercpthosts"), mtime("morercpthosts.cdb")) {
        (None, None) => b"(Default.) No effect.\n",
        (None, Some(_)) => b"Oops! morercpthosts.cdb exists but morercpthosts doesn't.\n",
        (Some(_), None) => b"Oops! morercpthosts exists but morercpthosts.cdb doesn't.\n",
        (Some(src), Some(cdb)) if src > cdb => {
            b"Oops! morercpthosts.cdb is older than morercpthosts.\n"
        }
        _ => b"Modified recently enough; hopefully up to date.\n",
    };
    r.out.extend_from_slice(text);
    r.str("smtpgreeting", true, "smtpgreeting", "SMTP greeting: 220 ");
    r.list(
        "smtproutes",
        "No artificial SMTP routes.",
        "SMTP route: ",
        "",
    );
    r.int(
        "timeoutconnect",
        "60",
        "SMTP client connection timeout is ",
        " seconds",
    );
    r.int(
        "timeoutremote",
        "1200",
        "SMTP client data timeout is ",
        " seconds",
    );
    r.int(
        "timeoutsmtpd",
        "1200",
        "SMTP server data timeout is ",
        " seconds",
    );
    r.list(
        "virtualdomains",
        "No virtual domains.",
        "Virtual domain: ",
        "",
    );

    // The files this system adds to 1.03's.
    r.int(
        "concurrencyincoming",
        "40",
        "SMTP server concurrency (run script) is ",
        "",
    );
    r.str(
        "defaultdelivery",
        false,
        "./Maildir/",
        "Default delivery (rc) is ",
    );
    r.list(
        "resolvers",
        "Name servers from /etc/resolv.conf.",
        "Name server: ",
        ".",
    );
    r.int(
        "timeoutqmtpd",
        "1200",
        "QMTP server data timeout is ",
        " seconds",
    );
    r.int(
        "timeoutqmqpd",
        "1200",
        "QMQP server data timeout is ",
        " seconds",
    );

    let mut others: Vec<Vec<u8>> = names
        .filter_map(Result::ok)
        .map(|e| {
            use std::os::unix::ffi::OsStrExt;
            e.file_name().as_bytes().to_vec()
        })
        .filter(|n| !KNOWN.iter().any(|k| k.as_bytes() == n.as_slice()))
        .collect();
    others.sort();
    for n in others {
        r.out.push(b'\n');
        r.out.extend_from_slice(&n);
        r.out
            .extend_from_slice(b": I have no idea what this file does.\n");
    }
    (r.out, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_values_and_strangers() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        std::fs::create_dir(dir.path().join("control")).unwrap();
        let w = |n: &str, t: &str| std::fs::write(home.control(n), t).unwrap();
        w("me", "mail.example.com\n");
        w("databytes", "1000\n");
        w("rcpthosts", "example.com\n.example.com\n");
        w("weird", "");
        let ids = Ids {
            users: [1, 2, 3, 0, 4, 5, 6, 7],
            groups: [8, 9],
        };
        let (out, code) = report(&home, &ids);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(code, 0);
        assert!(text.starts_with(&format!(
            "qmail home directory: {}.\nuser-ext delimiter: -.\n",
            dir.path().display()
        )));
        assert!(text.contains("user ids: 1, 2, 3, 0, 4, 5, 6, 7.\ngroup ids: 8, 9.\n"));
        for want in [
            "\nbadmailfrom: (Default.) Any MAIL FROM is allowed.\n",
            "\nbouncehost: (Default.) Bounce host name is mail.example.com.\n",
            "\nbouncefrom: (Default.) Bounce user name is MAILER-DAEMON.\n",
            "\ndatabytes: SMTP DATA limit is 1000 bytes.\n",
            "\nconcurrencylocal: (Default.) Local concurrency is 10.\n",
            "\nme: My name is mail.example.com.\n",
            "\nrcpthosts: \nSMTP clients may send messages to recipients at example.com.\n\
             SMTP clients may send messages to recipients at .example.com.\n",
            "\nmorercpthosts: (Default.) No effect.\n",
            "\nmorercpthosts.cdb: (Default.) No effect.\n",
            "\nsmtpgreeting: (Default.) SMTP greeting: 220 mail.example.com.\n",
            "\nweird: I have no idea what this file does.\n",
        ] {
            assert!(text.contains(want), "{want:?} in\n{text}");
        }
    }
}
