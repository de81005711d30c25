//! qmail-pw2u (qmail-pw2u.8): turn a passwd file (on stdin) into
//! `users/assign` (on stdout), for sites that want qmail-lspawn to use
//! `users/cdb` rather than ask qmail-getpw.
//!
//! For each account with a non-zero uid (and, by default, no uppercase
//! letter in its name and a home directory that exists and belongs to
//! it) it writes an exact line for the user and a wildcard line for
//! `user-ext`; the `alias` user gets the catch-all `+:` line. It then
//! adds `users/subusers` and copies `users/append`, both read from the
//! qmail home like `users/include`, `users/exclude` and
//! `users/mailnames`, and ends the file with `.`.

use std::os::unix::fs::MetadataExt;

use control::{ConstMap, Home};

use crate::Fatal;

pub const USAGE: &str = "qmail-pw2u: usage: qmail-pw2u [ -/ohHuUC ] [ -c char ]";

/// What to do with a home directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeCheck {
    /// `-H`: do not look at it.
    Ignore,
    /// `-h`: stop when it does not exist; skip it when the user does
    /// not own it.
    Stop,
    /// `-o` (the default): skip the account in both cases.
    Skip,
}

/// The options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-/`: wildcard lines get `-/` as dash, for users' `.qmail` files
    /// in a subdirectory (`~/.qmail/` style names).
    pub slash: bool,
    pub home: HomeCheck,
    /// `-U` (default): skip names with uppercase letters; `-u`: keep.
    pub no_upper: bool,
    /// `-c char`: the user-ext delimiter, `-C`: none (no wildcard
    /// lines).
    pub delimiter: Option<u8>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            slash: false,
            home: HomeCheck::Skip,
            no_upper: true,
            delimiter: Some(b'-'),
        }
    }
}

/// Parse the command line (without argv[0]); `None` is a usage error.
pub fn parse_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<Options> {
    use sys::getopt::{Getopt, Opt};
    let mut o = Options::default();
    let mut g = Getopt::new(args, "/ohHuUc:C");
    for opt in g.by_ref() {
        match opt {
            Opt::Found(b'/', _) => o.slash = true,
            Opt::Found(b'o', _) => o.home = HomeCheck::Skip,
            Opt::Found(b'h', _) => o.home = HomeCheck::Stop,
            Opt::Found(b'H', _) => o.home = HomeCheck::Ignore,
            Opt::Found(b'u', _) => o.no_upper = false,
            Opt::Found(b'U', _) => o.no_upper = true,
            // 1.03 takes the first byte; an empty argument means none.
            Opt::Found(b'c', Some(a)) => o.delimiter = a.first().copied(),
            Opt::Found(b'C', _) => o.delimiter = None,
            _ => return None,
        }
    }
    Some(o)
}

fn read_control(home: &Home, name: &str) -> Result<Option<Vec<Vec<u8>>>, Fatal> {
    control::read_list(&home.root().join(name))
        .map_err(|_| Fatal::new(111, "qmail-pw2u: fatal: unable to read controls"))
}

/// Convert `passwd` into users/assign text.
pub fn convert(opts: &Options, home: &Home, passwd: &[u8]) -> Result<Vec<u8>, Fatal> {
    let include = read_control(home, "users/include")?.map(|l| ConstMap::from_list(&l));
    let exclude = read_control(home, "users/exclude")?.map(|l| ConstMap::from_list(&l));
    let mailnames = read_control(home, "users/mailnames")?.map(|l| ConstMap::from_pairs(&l));
    let dashcolon: &[u8] = if opts.slash { b"-/:" } else { b"-:" };
    let mut out = Vec::new();
    // user -> ":user:uid:gid:home:" for users/subusers.
    let mut all: Vec<Vec<u8>> = Vec::new();
    let mut alias = false;
    for line in passwd.split(|&b| b == b'\n') {
        if line.contains(&0) {
            continue;
        }
        let f: Vec<&[u8]> = line.splitn(7, |&b| b == b':').collect();
        // Seven fields: the home is the sixth and needs a colon after it.
        if f.len() < 7 {
            continue;
        }
        let (user, uid, gid, dir) = (f[0], f[2], f[3], f[5]);
        let uidn = control::file::parse_ulong(uid).unwrap_or(0);
        if uidn == 0 {
            continue;
        }
        if opts.no_upper && user.iter().any(u8::is_ascii_uppercase) {
            continue;
        }
        if include.as_ref().is_some_and(|m| !m.contains(user)) {
            continue;
        }
        if exclude.as_ref().is_some_and(|m| m.contains(user)) {
            continue;
        }
        if opts.home != HomeCheck::Ignore {
            use std::os::unix::ffi::OsStrExt;
            let path = std::ffi::OsStr::from_bytes(dir);
            match std::fs::metadata(path) {
                Ok(st) if st.uid() as u64 != uidn => continue,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound && opts.home == HomeCheck::Skip =>
                {
                    continue;
                }
                Err(_) => {
                    return Err(Fatal::new(
                        111,
                        format!(
                            "qmail-pw2u: fatal: unable to stat {}",
                            String::from_utf8_lossy(dir)
                        ),
                    ));
                }
            }
        }
        let mut uugh = b":".to_vec();
        for (i, part) in [user, uid, gid, dir].iter().enumerate() {
            if i > 0 {
                uugh.push(b':');
            }
            uugh.extend_from_slice(part);
        }
        uugh.push(b':');
        // "user:" then uugh, so the map's value keeps uugh's colon.
        let mut entry = user.to_vec();
        entry.push(b':');
        entry.extend_from_slice(&uugh);
        all.push(entry);

        if user == b"alias" {
            out.push(b'+');
            out.extend_from_slice(&uugh);
            out.extend_from_slice(dashcolon);
            out.extend_from_slice(b":\n");
            alias = true;
        }
        let names: Vec<Vec<u8>> = match mailnames.as_ref().and_then(|m| m.get(user)) {
            Some(v) => v
                .split(|&b| b == b':')
                .filter(|n| !n.is_empty())
                .map(<[u8]>::to_vec)
                .collect(),
            None => vec![user.to_vec()],
        };
        for n in names {
            out.push(b'=');
            out.extend_from_slice(&n);
            out.extend_from_slice(&uugh);
            out.extend_from_slice(b"::\n");
            if let Some(d) = opts.delimiter {
                out.push(b'+');
                out.extend_from_slice(&n);
                out.push(d);
                out.extend_from_slice(&uugh);
                out.extend_from_slice(dashcolon);
                out.extend_from_slice(b":\n");
            }
        }
    }
    if !alias {
        return Err(Fatal::new(
            111,
            "qmail-pw2u: fatal: unable to find alias user",
        ));
    }
    let users = ConstMap::from_pairs(&all);
    match std::fs::read(home.root().join("users/subusers")) {
        Ok(text) => {
            for line in text.split(|&b| b == b'\n') {
                let f: Vec<&[u8]> = line.splitn(4, |&b| b == b':').collect();
                if f.len() < 4 {
                    continue;
                }
                let (sub, user, pre) = (f[0], f[1], f[2]);
                let Some(uugh) = users.get(user) else {
                    return Err(Fatal::new(
                        111,
                        format!(
                            "qmail-pw2u: fatal: unable to find {} user for subuser",
                            String::from_utf8_lossy(user)
                        ),
                    ));
                };
                out.push(b'=');
                out.extend_from_slice(sub);
                out.extend_from_slice(uugh);
                out.extend_from_slice(dashcolon);
                out.extend_from_slice(pre);
                out.extend_from_slice(b":\n");
                if let Some(d) = opts.delimiter {
                    out.push(b'+');
                    out.extend_from_slice(sub);
                    out.push(d);
                    out.extend_from_slice(uugh);
                    out.extend_from_slice(dashcolon);
                    out.extend_from_slice(pre);
                    out.extend_from_slice(b"-:\n");
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => {
            return Err(Fatal::new(
                111,
                "qmail-pw2u: fatal: unable to read controls",
            ));
        }
    }
    match std::fs::read(home.root().join("users/append")) {
        Ok(text) => out.extend_from_slice(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => {
            return Err(Fatal::new(
                111,
                "qmail-pw2u: fatal: unable to read controls",
            ));
        }
    }
    out.extend_from_slice(b".\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n\
alias:x:7790:2108::/var/qmail/alias:/bin/true\n\
joe:x:1000:100:Joe:/home/joe:/bin/sh\n\
Bob:x:1001:100::/home/bob:/bin/sh\n\
short:x:1002:100\n";

    #[test]
    fn accounts_become_assign_lines() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let opts = Options {
            home: HomeCheck::Ignore,
            ..Options::default()
        };
        let out = convert(&opts, &home, PASSWD).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "+:alias:7790:2108:/var/qmail/alias:-::\n\
             =alias:alias:7790:2108:/var/qmail/alias:::\n\
             +alias-:alias:7790:2108:/var/qmail/alias:-::\n\
             =joe:joe:1000:100:/home/joe:::\n\
             +joe-:joe:1000:100:/home/joe:-::\n\
             .\n"
        );
        // Subusers, appended lines, -C and -u.
        std::fs::create_dir(dir.path().join("users")).unwrap();
        std::fs::write(dir.path().join("users/subusers"), "sales:joe:sales:\n").unwrap();
        std::fs::write(dir.path().join("users/append"), "=x:joe:1000:100:/h:::\n").unwrap();
        let opts = Options {
            home: HomeCheck::Ignore,
            no_upper: false,
            delimiter: None,
            slash: false,
        };
        let text = String::from_utf8(convert(&opts, &home, PASSWD).unwrap()).unwrap();
        assert!(text.contains("=Bob:Bob:1001:100:/home/bob:::\n"), "{text}");
        assert!(!text.contains("+joe-"), "{text}");
        assert!(
            text.ends_with("=sales:joe:1000:100:/home/joe:-:sales:\n=x:joe:1000:100:/h:::\n.\n"),
            "{text}"
        );
    }

    #[test]
    fn homes_are_checked_and_alias_is_required() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        // /home/joe and /var/qmail/alias do not exist here.
        let e = convert(&Options::default(), &home, PASSWD).unwrap_err();
        assert_eq!(e.text, "qmail-pw2u: fatal: unable to find alias user");
        let opts = Options {
            home: HomeCheck::Stop,
            ..Options::default()
        };
        let e = convert(&opts, &home, PASSWD).unwrap_err();
        assert_eq!(e.text, "qmail-pw2u: fatal: unable to stat /var/qmail/alias");
        assert!(parse_args(["-x".into()]).is_none());
        assert_eq!(
            parse_args(["-c+".into(), "-/".into()]).unwrap().delimiter,
            Some(b'+')
        );
    }
}
