//! What a session is told before it starts: the control files (read once
//! at startup, as qmail does) and the client as tcpserver or tcp-env
//! describe it in the environment.

use std::io;
use std::net::IpAddr;

use control::{ConstMap, Home};

use crate::rcpthosts::RcptHosts;

/// qmail's default for `control/timeoutsmtpd`, in seconds.
pub const DEFAULT_TIMEOUT: u64 = 1200;

/// The default for `control/maxrefusedrcpt` (see [`Config::max_refused`]).
pub const DEFAULT_MAX_REFUSED: u64 = 100;

/// The server's settings, from `control/` and the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `control/smtpgreeting`, else `control/me`.
    pub greeting: Vec<u8>,
    /// `control/localiphost`, else `control/me`; `None` when neither
    /// exists, and then address literals are never rewritten.
    pub localiphost: Option<Vec<u8>>,
    /// `control/timeoutsmtpd`: seconds allowed for each read and write.
    pub timeout: u64,
    /// `control/rcpthosts` and `control/morercpthosts.cdb`.
    pub rcpthosts: RcptHosts,
    /// `control/badmailfrom`: whole addresses and `@domain` entries.
    pub badmailfrom: Option<ConstMap>,
    /// `control/databytes`, overridden by `$DATABYTES`: the largest
    /// message accepted, 0 for no limit.
    pub databytes: u64,
    /// This host's addresses, for the `[ip]` literal rewrite.
    pub ipme: Vec<IpAddr>,
    /// `control/maxrefusedrcpt`, overridden by `$MAXREFUSEDRCPT`: after
    /// this many RCPTs answered 5xx the session gets 421 and is closed
    /// (0: no limit). Default [`DEFAULT_MAX_REFUSED`].
    pub max_refused: u64,
    /// SMTP AUTH: offered, required, in clear text (the server fills it
    /// from its command line and `SMTPAUTH`; none by default).
    pub auth: crate::auth::Policy,
}

/// The control files could not be read.
#[derive(Debug)]
pub struct ControlError(pub io::Error);

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unable to read controls: {}", sys::describe(&self.0))
    }
}

impl std::error::Error for ControlError {}

impl From<io::Error> for ControlError {
    fn from(e: io::Error) -> Self {
        ControlError(e)
    }
}

impl Config {
    /// Read the control files of `home`; `env` gives environment
    /// variables (`DATABYTES`, `MAXREFUSEDRCPT`, `ALLOW_OPEN_RELAY`).
    /// `ipme` is left empty for the caller.
    ///
    /// A missing file means the default; any other failure, or neither
    /// smtpgreeting nor me, is an error (`421 unable to read controls`).
    pub fn load(
        home: &Home,
        env: &dyn Fn(&str) -> Option<Vec<u8>>,
    ) -> Result<Config, ControlError> {
        let me = home.me()?;
        let greeting = match home.line("smtpgreeting")? {
            Some(g) => g,
            None => me.clone().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "neither smtpgreeting nor me exists",
                )
            })?,
        };
        let localiphost = match home.line("localiphost")? {
            Some(l) => Some(l),
            None => me,
        };
        // qmail stores the number in an int: wrap as C does, and then
        // anything not positive means 1 second.
        let timeout = match home.int("timeoutsmtpd")? {
            Some(t) => {
                let t = t as i32;
                if t <= 0 { 1 } else { t as u64 }
            }
            None => DEFAULT_TIMEOUT,
        };
        // Only the exact value 1: a typo or `=0` keeps the safe default.
        let open_relay = env("ALLOW_OPEN_RELAY").as_deref() == Some(b"1");
        let rcpthosts = RcptHosts::load(home)?.allow_open_relay(open_relay);
        let badmailfrom = home.list("badmailfrom")?.map(|l| ConstMap::from_list(&l));
        let mut databytes = home.int("databytes")?.unwrap_or(0);
        if let Some(v) = env("DATABYTES") {
            // qmail's scan_ulong: no leading digit means 0, no limit.
            databytes = control::file::parse_ulong(&v).unwrap_or(0);
        }
        let mut max_refused = home.int("maxrefusedrcpt")?.unwrap_or(DEFAULT_MAX_REFUSED);
        if let Some(v) = env("MAXREFUSEDRCPT") {
            max_refused = control::file::parse_ulong(&v).unwrap_or(DEFAULT_MAX_REFUSED);
        }
        Ok(Config {
            greeting,
            localiphost,
            timeout,
            rcpthosts,
            badmailfrom,
            databytes,
            ipme: Vec::new(),
            max_refused,
            auth: crate::auth::Policy::default(),
        })
    }
}

/// The client, from the UCSPI environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// TCPREMOTEIP, else `unknown`.
    pub remote_ip: Vec<u8>,
    /// TCPREMOTEHOST, else `unknown`.
    pub remote_host: Vec<u8>,
    /// TCPREMOTEINFO (RFC 1413), if known.
    pub remote_info: Option<Vec<u8>>,
    /// TCPLOCALHOST, else TCPLOCALIP, else `unknown`.
    pub local: Vec<u8>,
    /// RELAYCLIENT: when set (even empty), rcpthosts is not consulted and
    /// the value is appended to every recipient.
    pub relay_client: Option<Vec<u8>>,
}

impl Peer {
    /// From environment variables given by `env`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<Vec<u8>>) -> Peer {
        let unknown = || b"unknown".to_vec();
        Peer {
            remote_ip: env("TCPREMOTEIP").unwrap_or_else(unknown),
            remote_host: env("TCPREMOTEHOST").unwrap_or_else(unknown),
            remote_info: env("TCPREMOTEINFO"),
            local: env("TCPLOCALHOST")
                .or_else(|| env("TCPLOCALIP"))
                .unwrap_or_else(unknown),
            relay_client: env("RELAYCLIENT"),
        }
    }
}

/// The process environment as bytes, for [`Config::load`] and
/// [`Peer::from_env`].
pub fn process_env(name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    std::env::var_os(name).map(OsStringExt::into_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn home_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("control")).unwrap();
        for (name, body) in files {
            fs::write(dir.path().join("control").join(name), body).unwrap();
        }
        let home = Home::new(dir.path());
        (dir, home)
    }

    fn no_env(_: &str) -> Option<Vec<u8>> {
        None
    }

    #[test]
    fn defaults_come_from_me() {
        let (_d, home) = home_with(&[("me", "mx.example.com\n")]);
        let c = Config::load(&home, &no_env).unwrap();
        assert_eq!(c.greeting, b"mx.example.com");
        assert_eq!(c.localiphost.as_deref(), Some(&b"mx.example.com"[..]));
        assert_eq!(c.timeout, 1200);
        assert_eq!(c.databytes, 0);
        assert!(c.rcpthosts.refuses_all());
        assert!(c.badmailfrom.is_none());
        assert_eq!(c.max_refused, DEFAULT_MAX_REFUSED);
    }

    #[test]
    fn open_relay_only_when_asked_for_exactly() {
        let (_d, home) = home_with(&[("me", "x\n")]);
        for (value, open) in [("1", true), ("0", false), ("yes", false), ("", false)] {
            let env = |n: &str| (n == "ALLOW_OPEN_RELAY").then(|| value.as_bytes().to_vec());
            let c = Config::load(&home, &env).unwrap();
            assert_eq!(!c.rcpthosts.refuses_all(), open, "{value:?}");
        }
    }

    #[test]
    fn max_refused_from_file_and_environment() {
        let (_d, home) = home_with(&[("me", "x\n"), ("maxrefusedrcpt", "7\n")]);
        assert_eq!(Config::load(&home, &no_env).unwrap().max_refused, 7);
        let env = |n: &str| (n == "MAXREFUSEDRCPT").then(|| b"0".to_vec());
        assert_eq!(Config::load(&home, &env).unwrap().max_refused, 0);
    }

    #[test]
    fn files_override_and_follow_qmails_rules() {
        let (_d, home) = home_with(&[
            ("me", "me.example\n"),
            ("smtpgreeting", "greet.example  hello \t\nignored\n"),
            ("localiphost", "lip.example\n"),
            ("timeoutsmtpd", "0\n"),
            ("databytes", "1000 bytes\n"),
            ("rcpthosts", "# comment\n\nexample.com\n"),
            ("badmailfrom", "spam@example.org\n@bad.example\n"),
        ]);
        let c = Config::load(&home, &no_env).unwrap();
        assert_eq!(c.greeting, b"greet.example  hello");
        assert_eq!(c.localiphost.as_deref(), Some(&b"lip.example"[..]));
        assert_eq!(c.timeout, 1);
        assert_eq!(c.databytes, 1000);
        assert!(c.rcpthosts.restricted());
        assert!(c.badmailfrom.unwrap().contains(b"@BAD.example"));
    }

    #[test]
    fn databytes_environment_wins() {
        let (_d, home) = home_with(&[("me", "x\n"), ("databytes", "1000\n")]);
        let env = |n: &str| (n == "DATABYTES").then(|| b"50".to_vec());
        assert_eq!(Config::load(&home, &env).unwrap().databytes, 50);
        let env = |n: &str| (n == "DATABYTES").then(|| b"none".to_vec());
        assert_eq!(Config::load(&home, &env).unwrap().databytes, 0);
    }

    #[test]
    fn no_greeting_or_an_unreadable_file_is_an_error() {
        let (_d, home) = home_with(&[]);
        assert!(Config::load(&home, &no_env).is_err());
        let (d, home) = home_with(&[("me", "x\n")]);
        fs::create_dir(d.path().join("control/rcpthosts")).unwrap();
        assert!(Config::load(&home, &no_env).is_err());
    }

    #[test]
    fn peer_defaults() {
        let p = Peer::from_env(&no_env);
        assert_eq!(p.remote_ip, b"unknown");
        assert_eq!(p.local, b"unknown");
        assert_eq!(p.relay_client, None);
        let env = |n: &str| match n {
            "TCPLOCALIP" => Some(b"127.0.0.1".to_vec()),
            "RELAYCLIENT" => Some(Vec::new()),
            _ => None,
        };
        let p = Peer::from_env(&env);
        assert_eq!(p.local, b"127.0.0.1");
        assert_eq!(p.relay_client, Some(Vec::new()));
    }
}
