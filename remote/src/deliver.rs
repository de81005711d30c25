//! The whole run (qmail-remote's `main`).
//!
//! 1. Arguments: fewer than three is a usage bounce.
//! 2. The home (`QMAILHOME`) and its controls: `helohost` (default
//!    `me`; one of them must exist), `timeoutremote` (1200 s, every read
//!    and write), `timeoutconnect` (60 s), `smtproutes`, `resolvers`.
//! 3. The route: a relay from smtproutes (its addresses only), or the
//!    host's MX records, or its own addresses.
//! 4. The self-MX check: when one of our own addresses is an MX, only
//!    MXs with a strictly better (lower) preference are used; when none
//!    is left, a permanent error (we would be mailing ourselves). A
//!    relay from smtproutes is exempt.
//! 5. Each address in turn, skipping those tcpto says are down, until
//!    one connects; then the SMTP session decides the outcome. Only when
//!    no address connects is the result "no connection" (temporary).
//!
//! Addresses holding a CR, LF or NUL are never sent: quoting does not
//! help (`"a\<CR>b"@x` still puts a bare CR on the command line, which
//! some servers take as a line end, so the rest would be a command of
//! its own). Such a sender bounces the message; such a recipient gets
//! its own permanent `h` report, in argument order, and the others are
//! delivered. This is checked before anything else, without connecting.
//! A `helohost` (or `me`) holding one is a control-file error.
//!
//! STARTTLS that fails after the server said 220 (no common protocol
//! version or cipher, a broken certificate message, a reset during the
//! handshake): the connection is unusable, so qmail-remote connects to
//! the same address again at once and delivers without TLS, and says so
//! in the report ("TLS ... failed"). An admin gets what opportunistic
//! TLS promises (never less mail than without TLS) instead of mail that
//! stays in the queue for days because of one server's TLS bug; Postfix
//! does the same at its default opportunistic level. Each new delivery
//! tries TLS again, so a server that fixes its TLS gets encrypted mail
//! from then on.
//!
//! Not so for a destination in `control/tlsdestinations` (see `tls`):
//! there a failed handshake or a certificate that does not verify is a
//! deferral, and nothing is sent in the clear.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use control::{ConstMap, Home};

use crate::conn::{self, Outcome, TlsSetup};
use crate::ipme::IpMe;
use crate::mx::{self, DnsError, Lookup, Target};
use crate::report::{Letter, Report, text};
use crate::resolver::{Resolver, parse_server};
use crate::route::{literal, route};
use crate::session::{Params, Session};
use crate::tcpto::Tcpto;
use crate::tls::Destinations;

/// The control settings qmail-remote reads.
#[derive(Debug, Clone)]
pub struct Controls {
    /// `timeoutremote`.
    pub timeout: Duration,
    /// `timeoutconnect`.
    pub timeout_connect: Duration,
    /// `helohost`, else `me`.
    pub helo: Vec<u8>,
    /// `smtproutes`.
    pub routes: ConstMap,
    /// `resolvers` (empty: `/etc/resolv.conf`).
    pub resolvers: Vec<SocketAddr>,
    /// `tlsdestinations`.
    pub destinations: Destinations,
    /// The file `tlscafile` names (relative to the home).
    pub ca_file: Option<std::path::PathBuf>,
}

/// Read the controls; `None` on any failure (qmail's `temp_control`).
pub fn controls(home: &Home) -> Option<Controls> {
    // A zero timeout would mean "no timeout" to the socket layer; one
    // second is the least that makes sense.
    let secs = |v: Option<u64>, default: u64| Duration::from_secs(v.unwrap_or(default).max(1));
    let timeout = secs(home.int("timeoutremote").ok()?, 1200);
    let timeout_connect = secs(home.int("timeoutconnect").ok()?, 60);
    let helo = match home.line("helohost").ok()? {
        Some(h) => h,
        None => home.me().ok()??,
    };
    if !sendable(&helo) {
        return None;
    }
    let routes = ConstMap::from_pairs(&home.list("smtproutes").ok()?.unwrap_or_default());
    let mut resolvers = Vec::new();
    for line in home.list("resolvers").ok()?.unwrap_or_default() {
        resolvers.push(parse_server(&line)?);
    }
    let destinations = Destinations::new(&home.list("tlsdestinations").ok()?.unwrap_or_default());
    let ca_file = home
        .line("tlscafile")
        .ok()?
        .filter(|l| !l.is_empty())
        .map(|l| std::path::PathBuf::from(std::ffi::OsString::from_vec(l)));
    Some(Controls {
        timeout,
        timeout_connect,
        helo,
        routes,
        resolvers,
        destinations,
        ca_file,
    })
}

/// qmail's `addrmangle` without the CNAME lookup (notqmail dropped it,
/// RFC 5321 §5.1): the local part quoted as needed, the domain as it is;
/// an address without `@` as it is.
pub fn mangle(addr: &[u8]) -> Vec<u8> {
    match addr.iter().rposition(|&b| b == b'@') {
        None => addr.to_vec(),
        Some(at) => {
            let mut out = control::quote::quote(&addr[..at]);
            out.extend_from_slice(&addr[at..]);
            out
        }
    }
}

/// `addr` may go on an SMTP command line: it holds no CR, LF or NUL.
pub fn sendable(addr: &[u8]) -> bool {
    !addr.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

/// Put a `h` report for each recipient that was not sendable (`ok` is
/// false) among the session's reports for the others, in argument
/// order. The session reports a prefix of its recipients (it stops at a
/// message-level failure), so the merged list stops where it does.
fn merge_unsendable(mut report: Report, ok: &[bool]) -> Report {
    if ok.iter().all(|&k| k) {
        return report;
    }
    let mut sent = std::mem::take(&mut report.recipients).into_iter();
    for &k in ok {
        if k {
            match sent.next() {
                Some(r) => report.recipients.push(r),
                None => break,
            }
        } else {
            report
                .recipients
                .push((b'h', text::BAD_RECIPIENT.as_bytes().to_vec()));
        }
    }
    report
}

/// The message's last byte is not LF, so it can never be sent (checked
/// before connecting, so no transaction is opened for nothing; the
/// body encoder checks again for messages on pipes).
fn partial_final_line(message: &File) -> bool {
    let Ok(meta) = message.metadata() else {
        return false;
    };
    if !meta.is_file() || meta.len() == 0 {
        return false;
    }
    let mut last = [0u8; 1];
    matches!(message.read_at(&mut last, meta.len() - 1), Ok(1) if last[0] != b'\n')
}

/// A lookup that creates the resolver only when a lookup is needed, so
/// a literal or a relay given as an address never reads resolv.conf.
struct LazyResolver<'a> {
    servers: &'a [SocketAddr],
    resolver: Option<Resolver>,
}

impl LazyResolver<'_> {
    fn get(&mut self) -> Result<&mut Resolver, DnsError> {
        if self.resolver.is_none() {
            self.resolver = Some(Resolver::new(self.servers).map_err(|_| DnsError::Soft)?);
        }
        Ok(self.resolver.as_mut().expect("just set"))
    }
}

impl Lookup for LazyResolver<'_> {
    fn mx(&mut self, name: &str) -> Result<Vec<(u16, String)>, DnsError> {
        self.get()?.mx(name)
    }
    fn aaaa(&mut self, name: &str) -> Result<Vec<std::net::IpAddr>, DnsError> {
        self.get()?.aaaa(name)
    }
    fn a(&mut self, name: &str) -> Result<Vec<std::net::IpAddr>, DnsError> {
        self.get()?.a(name)
    }
}

/// The whole run: `args` are the arguments after the program name,
/// `message` is fd 0. Returns what to print on fd 1.
pub fn run(args: &[Vec<u8>], home: &Home, message: &mut File) -> Report {
    if args.len() < 3 {
        return Report::message(Letter::D, text::USAGE);
    }
    if !sendable(&args[1]) {
        return Report::message(Letter::D, text::BAD_SENDER);
    }
    let ok: Vec<bool> = args[2..].iter().map(|a| sendable(a)).collect();
    if !ok.contains(&true) {
        let mut r = Report::message(Letter::D, text::NO_RECIPIENT);
        r.recipients = vec![(b'h', text::BAD_RECIPIENT.as_bytes().to_vec()); ok.len()];
        return r;
    }
    let mut sendable_args = args[..2].to_vec();
    sendable_args.extend(args[2..].iter().filter(|a| sendable(a)).cloned());
    merge_unsendable(deliver(&sendable_args, home, message), &ok)
}

/// [`run`] for arguments whose addresses are all sendable.
fn deliver(args: &[Vec<u8>], home: &Home, message: &mut File) -> Report {
    let Ok(root) = std::fs::canonicalize(home.root()) else {
        return Report::message(Letter::Z, text::CHDIR);
    };
    if std::env::set_current_dir(&root).is_err() {
        return Report::message(Letter::Z, text::CHDIR);
    }
    let home = Home::new(root);
    let Some(ctl) = controls(&home) else {
        return Report::message(Letter::Z, text::CONTROL);
    };

    let r = route(&ctl.routes, &args[0]);
    let auth = if r.relay {
        match crate::auth::lookup(&home, &r.host) {
            Ok(Some(c)) => Some(c),
            Ok(None) => r.auth.clone(),
            Err(crate::auth::SecretsError::Exposed) => {
                return Report::message(Letter::Z, text::SECRETS_EXPOSED);
            }
            Err(crate::auth::SecretsError::Read(_)) => {
                return Report::message(Letter::Z, text::SECRETS_READ);
            }
        }
    } else {
        None
    };
    let sender = mangle(&args[1]);
    let recipients: Vec<Vec<u8>> = args[2..].iter().map(|a| mangle(a)).collect();
    let Ok(ipme) = IpMe::load() else {
        return Report::message(Letter::Z, text::OSERR);
    };

    let host = String::from_utf8_lossy(&r.host).into_owned();
    let mut lookup = LazyResolver {
        servers: &ctl.resolvers,
        resolver: None,
    };
    let found = if r.relay || literal(&r.host).is_some() {
        mx::ips(&mut lookup, &host)
    } else {
        mx::mx_ips(&mut lookup, &host, seed())
    };
    let targets = match found {
        Err(DnsError::Soft) => return Report::message(Letter::Z, text::DNS_SOFT),
        Err(DnsError::Hard) => return Report::message(Letter::D, text::dns_hard(&r.host)),
        Ok((t, true)) if t.is_empty() => return Report::message(Letter::Z, text::DNS_SOFT),
        Ok((t, _)) => t,
    };
    if targets.is_empty() {
        return Report::message(Letter::D, text::NOMX);
    }
    let prefme = if r.relay {
        300_000
    } else {
        targets
            .iter()
            .filter(|t| ipme.contains(&t.ip))
            .map(|t| t.pref)
            .min()
            .unwrap_or(100_000)
    };
    let targets: Vec<Target> = targets.into_iter().filter(|t| t.pref < prefme).collect();
    if targets.is_empty() {
        return Report::message(Letter::D, text::AMBIGMX);
    }
    if partial_final_line(message) {
        return Report::message(Letter::D, text::PARTIAL_LINE);
    }

    let size = wire_size(message);
    let tls_config = crate::tls::opportunistic();
    let mut verified_config = None;
    let mut try_tls = tls_config.is_some();
    let mut tls_note: Option<String> = None;
    let mut tcpto = Tcpto::new(home.queue().join("lock").join("tcpto"));
    let mut i = 0;
    while i < targets.len() {
        let t = &targets[i];
        if tcpto.is_down(&t.ip) {
            i += 1;
            continue;
        }
        // The policy first: a verified destination whose CA file is
        // unreadable is deferred before any connection.
        let name = t.name.as_deref().or(r.relay.then_some(host.as_str()));
        let label = match t.name.as_deref() {
            Some(n) => format!("{n} ({})", t.ip),
            None => t.ip.to_string(),
        };
        let ip = t.ip.to_string();
        let names = [
            &args[0][..],
            &r.host,
            name.unwrap_or("").as_bytes(),
            ip.as_bytes(),
        ];
        let require_tls = ctl.destinations.verified(&names, r.port);
        let config = if require_tls {
            if verified_config.is_none() {
                match make_verified(&ctl) {
                    Ok(c) => verified_config = Some(c),
                    Err(why) => return Report::message(Letter::Z, why),
                }
            }
            verified_config.clone()
        } else if try_tls {
            tls_config.clone()
        } else {
            None
        };
        let stream = match conn::connect(t.ip, r.port, ctl.timeout_connect) {
            Ok(s) => s,
            Err(e) => {
                let timed_out = matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                );
                tcpto.record(&t.ip, timed_out);
                i += 1;
                continue;
            }
        };
        tcpto.record(&t.ip, false);
        let params = Params {
            helo: ctl.helo.clone(),
            sender: sender.clone(),
            recipients: recipients.clone(),
            partner: ip.clone(),
            try_tls: config.is_some(),
            require_tls,
            auth: auth.clone(),
            size,
            label: label.clone(),
        };
        let tls = TlsSetup {
            config,
            name: t.name.as_deref(),
        };
        match conn::run(stream, ctl.timeout, Session::new(params), tls, message) {
            Outcome::Done(mut report) => {
                if let Some(note) = tls_note {
                    report.text.extend_from_slice(note.as_bytes());
                }
                return report;
            }
            Outcome::TlsFailed(why) if require_tls => {
                let text = format!(
                    "TLS with {label} failed ({}), and this destination gets mail only under verified TLS. (#4.7.5)\n",
                    why.replace('\n', " ")
                );
                return Report::message(Letter::Z, text);
            }
            Outcome::TlsFailed(why) => {
                // Same address again, in the clear (see the module doc).
                tls_note = Some(format!(
                    "TLS with {} failed ({}), so I went on without TLS.\n",
                    t.ip,
                    why.replace('\n', " ")
                ));
                try_tls = false;
            }
        }
    }
    Report::message(Letter::Z, text::NOCONN)
}

/// The verified configuration, or the deferral text saying why there
/// is none.
fn make_verified(ctl: &Controls) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    let extra = match &ctl.ca_file {
        None => None,
        Some(p) => match std::fs::read(p) {
            Ok(b) => Some(b),
            Err(e) => {
                return Err(format!(
                    "Unable to read the CA file {} that control/tlscafile names: {}. (#4.3.0)\n",
                    p.display(),
                    sys::errstr::describe(&e)
                ));
            }
        },
    };
    crate::tls::verified(extra.as_deref())
        .map_err(|e| format!("No trusted CA certificates for verified TLS ({e}). (#4.3.0)\n"))
}

/// The message's size as SMTP carries it (RFC 1870 asks for that):
/// its bytes plus a CR for each LF. Read with `pread`, so the offset
/// the body is sent from stays at 0. `None` when the message cannot be
/// read that way (a pipe; qmail-rspawn always gives a file).
fn wire_size(message: &File) -> Option<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut offset = 0u64;
    let mut lfs = 0u64;
    loop {
        match message.read_at(&mut buf, offset) {
            Ok(0) => break,
            Ok(n) => {
                lfs += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(offset + lfs)
}

/// qmail's seed for the MX shuffle: `now() + (getpid() << 16)`.
fn seed() -> u32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    now.wrapping_add(std::process::id() << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mangle_quotes_local_parts_only() {
        assert_eq!(mangle(b"joe@example.com"), b"joe@example.com");
        assert_eq!(
            mangle(b"john smith@example.com"),
            b"\"john smith\"@example.com"
        );
        assert_eq!(mangle(b"a@b@example.com"), b"\"a@b\"@example.com");
        assert_eq!(mangle(b""), b"");
        assert_eq!(mangle(b"no at sign"), b"no at sign");
        assert_eq!(mangle(b".dot@x"), b"\".dot\"@x");
    }

    #[test]
    fn unsendable_recipients_keep_their_place() {
        let h = || (b'h', text::BAD_RECIPIENT.as_bytes().to_vec());
        let r = |letter| (letter, Vec::new());
        let session = Report {
            recipients: vec![r(b'r'), r(b's')],
            letter: Letter::K,
            text: b"ok\n".to_vec(),
        };
        let m = merge_unsendable(session.clone(), &[false, true, false, true, false]);
        assert_eq!(m.recipients, [h(), r(b'r'), h(), r(b's'), h()]);
        assert_eq!((m.letter, m.text), (Letter::K, b"ok\n".to_vec()));
        // A session that stopped early: nothing after its last report.
        let early = Report {
            recipients: vec![r(b'r')],
            ..session.clone()
        };
        let m = merge_unsendable(early, &[true, false, true, false]);
        assert_eq!(m.recipients, [r(b'r'), h()]);
        let m = merge_unsendable(Report::message(Letter::Z, "x"), &[true, false]);
        assert!(m.recipients.is_empty());
        assert_eq!(merge_unsendable(session.clone(), &[true, true]), session);
        assert!(sendable(b"a@b") && !sendable(b"a\r@b") && !sendable(b"a\n") && !sendable(b"\0"));
    }

    #[test]
    fn too_few_arguments_is_a_usage_bounce() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = tempfile::tempfile().unwrap();
        let r = run(
            &[b"host".to_vec(), b"s".to_vec()],
            &Home::new(dir.path()),
            &mut f,
        );
        assert_eq!(
            r.to_bytes(),
            b"DI (qmail-remote) was invoked improperly. (#5.3.5)\n\0"
        );
    }

    #[test]
    fn controls_need_helohost_or_me() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("control")).unwrap();
        let home = Home::new(dir.path());
        assert!(controls(&home).is_none());
        std::fs::write(dir.path().join("control/me"), "me.example\n").unwrap();
        let c = controls(&home).unwrap();
        assert_eq!(c.helo, b"me.example");
        assert_eq!(c.timeout, Duration::from_secs(1200));
        assert_eq!(c.timeout_connect, Duration::from_secs(60));
        std::fs::write(dir.path().join("control/helohost"), "helo.example\n").unwrap();
        std::fs::write(dir.path().join("control/timeoutremote"), "30\n").unwrap();
        std::fs::write(dir.path().join("control/timeoutconnect"), "0\n").unwrap();
        std::fs::write(dir.path().join("control/resolvers"), "127.0.0.1:5353\n").unwrap();
        let c = controls(&home).unwrap();
        assert_eq!(c.helo, b"helo.example");
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.timeout_connect, Duration::from_secs(1));
        assert_eq!(c.resolvers, vec!["127.0.0.1:5353".parse().unwrap()]);
        std::fs::write(dir.path().join("control/resolvers"), "not an address\n").unwrap();
        assert!(controls(&home).is_none(), "a bad resolver line is an error");
        std::fs::remove_file(dir.path().join("control/resolvers")).unwrap();
        std::fs::write(dir.path().join("control/helohost"), "helo\rRSET\n").unwrap();
        assert!(controls(&home).is_none(), "a CR in helohost is an error");
    }

    #[test]
    fn wire_size_counts_a_cr_per_lf_and_leaves_the_offset() {
        use std::io::{Read, Seek};
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, b"a\nbc\n\n").unwrap();
        f.rewind().unwrap();
        assert_eq!(wire_size(&f), Some(9));
        let mut first = [0u8; 1];
        f.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"a", "the offset stays at 0");
        let (r, _w) = nix::unistd::pipe().unwrap();
        assert_eq!(wire_size(&File::from(r)), None, "a pipe has no size");
    }

    #[test]
    fn partial_lines_are_seen_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m");
        std::fs::write(&p, "To: x\n\nno newline").unwrap();
        assert!(partial_final_line(&File::open(&p).unwrap()));
        std::fs::write(&p, "To: x\n\nbody\n").unwrap();
        assert!(!partial_final_line(&File::open(&p).unwrap()));
        std::fs::write(&p, "").unwrap();
        assert!(!partial_final_line(&File::open(&p).unwrap()));
    }
}
