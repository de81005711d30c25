//! tcp-env: qmail's environment setter for servers started by inetd or
//! xinetd with the accepted socket on fd 0.
//!
//! `tcp-env [ -rR ] [ -t timeout ] program [ arg ... ]`: unless `PROTO` is
//! already `TCP` (or `TCP6`: started under tcpserver), set PROTO,
//! TCPLOCALIP/PORT from getsockname(0), TCPREMOTEIP/PORT from
//! getpeername(0), TCPLOCALHOST and TCPREMOTEHOST from PTR lookups
//! (`softdnserror` when DNS fails for now, unset when there is no name),
//! then unset TCPREMOTEINFO and, unless `-R`, fill it by ident (`-t`,
//! default 30 seconds). Then exec the program. Any failure exits 111
//! without a word, as qmail's does.
//!
//! Beyond qmail: an IPv6 socket gets PROTO=TCP6 and the TCP6* copies, as
//! under tcpserver; an IPv4 client on a dual-stack socket looks IPv4.
//! DNS, ident and the variables' names are the `ucspi` crate's, shared
//! with tcpserver (`$DNSCACHEIP` or resolv.conf).

#![forbid(unsafe_code)]

use std::ffi::{CStr, CString, OsString};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{SockaddrStorage, getpeername, getsockname};
use sys::getopt::{Getopt, Opt};
use sys::spawn::{Action, CStrArray, Child, Exec};
use ucspi::env::{Connection, Order, Vars};
use ucspi::ident::Ident;
use ucspi::resolver::{self, Resolver};

/// qmail's remoteinfo keeps up to 998 bytes of an ident answer.
const IDENT_MAX: usize = 997;

/// The environment, changed the way qmail's `env.c` does: putting a
/// variable first removes every variable of that name (from the end,
/// the last entry taking the freed slot), then appends.
#[derive(Debug, Default)]
pub struct Environ(pub Vec<Vec<u8>>);

impl Environ {
    pub fn unset(&mut self, name: &[u8]) {
        let mut i = self.0.len();
        while i > 0 {
            i -= 1;
            let e = &self.0[i];
            if e.len() > name.len() && e.starts_with(name) && e[name.len()] == b'=' {
                self.0.swap_remove(i);
            }
        }
    }

    pub fn put(&mut self, name: &[u8], value: &[u8]) {
        self.unset(name);
        self.0.push([name, b"=", value].concat());
    }

    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.0.iter().find_map(|e| {
            (e.len() > name.len() && e.starts_with(name) && e[name.len()] == b'=')
                .then(|| &e[name.len() + 1..])
        })
    }
}

impl Vars for Environ {
    fn set(&mut self, name: &[u8], value: Option<&[u8]>) {
        match value {
            Some(v) => self.put(name, v),
            None => self.unset(name),
        }
    }
}

fn sockaddr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    let v6 = s.as_sockaddr_in6()?;
    Some(SocketAddr::from((v6.ip(), v6.port())))
}

/// qmail's `dns_ptr`: the name, `softdnserror` when no server answered,
/// `None` when there is no name.
fn ptr(resolver: &mut Resolver, ip: IpAddr) -> Option<Vec<u8>> {
    ucspi::lookup::name_of(resolver, ip).unwrap_or_else(|_| Some(b"softdnserror".to_vec()))
}

/// fd 0 is not a connected IP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotASocket;

/// Set the variables for the connection on fd 0 in `env`.
pub fn set_variables(env: &mut Environ, remote_info: bool, timeout: u64) -> Result<(), NotASocket> {
    let local = getsockname::<SockaddrStorage>(0)
        .ok()
        .and_then(|s| sockaddr(&s))
        .ok_or(NotASocket)?;
    let remote = getpeername::<SockaddrStorage>(0)
        .ok()
        .and_then(|s| sockaddr(&s))
        .ok_or(NotASocket)?;
    let dnscacheip = std::env::var("DNSCACHEIP").ok();
    let mut resolver = Resolver::with_timeouts(dnscacheip.as_deref(), resolver::LIBC_TIMEOUTS);
    // qmail looks the names up in this order, the local one first.
    let lhost = ptr(&mut resolver, ucspi::addr::unmap(local.ip()));
    let rhost = ptr(&mut resolver, ucspi::addr::unmap(remote.ip()));
    let info = if remote_info {
        Ident::start_with_max(
            local,
            remote,
            Duration::from_secs(timeout),
            Instant::now(),
            IDENT_MAX,
        )
        .finish_blocking()
    } else {
        None
    };
    let c = Connection {
        local,
        remote,
        local_host: lhost.as_deref(),
        remote_host: rhost.as_deref(),
        remote_info: info.as_deref(),
    };
    ucspi::env::connection(&c, Order::QmailTcpEnv, env);
    Ok(())
}

/// Run tcp-env with `args` (without the program name). Returns 111 on
/// failure; on success the program replaces this process.
pub fn main(args: Vec<OsString>) -> i32 {
    let mut remote_info = true;
    let mut timeout = 30;
    let mut g = Getopt::new(args, "rRt:");
    while let Some(o) = g.next() {
        match o {
            Opt::Found(b'r', _) => remote_info = true,
            Opt::Found(b'R', _) => remote_info = false,
            Opt::Found(b't', Some(v)) => timeout = sys::scan::scan_ulong(&v),
            Opt::Found(..) => {}
            // qmail's getopt complains and tcp-env carries on.
            Opt::Bad(c) => eprintln!("tcp-env: {}", g.complaint(c)),
        }
    }
    let argv = g.operands();
    if argv.is_empty() {
        return 111;
    }
    let mut env = Environ(
        std::env::vars_os()
            .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
            .collect(),
    );
    let proto = env.get(b"PROTO");
    if proto != Some(b"TCP")
        && proto != Some(b"TCP6")
        && set_variables(&mut env, remote_info, timeout).is_err()
    {
        return 111;
    }
    exec(&argv, &env)
}

fn exec(argv: &[Vec<u8>], env: &Environ) -> i32 {
    let Ok(args) = argv
        .iter()
        .map(|a| CString::new(a.as_slice()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return 111;
    };
    let envs: Vec<CString> = env
        .0
        .iter()
        .filter_map(|e| CString::new(e.as_slice()).ok())
        .collect();
    let paths = ucspi::path::path_candidates(
        std::ffi::OsStr::from_bytes(&argv[0]),
        std::env::var_os("PATH").as_deref(),
    );
    let paths: Vec<&CStr> = paths.iter().map(CString::as_c_str).collect();
    let argv: CStrArray<'_> = args.iter().map(CString::as_c_str).collect();
    let envp: CStrArray<'_> = envs.iter().map(CString::as_c_str).collect();
    let child = Child {
        stdio: None,
        log: &[],
        default_signals: &[Signal::SIGPIPE],
        sigmask: SigSet::empty(),
        action: Action::Exec(Exec {
            paths: &paths,
            argv: &argv,
            envp: &envp,
            exec_failed: b"",
            fds_failed: b"",
        }),
    };
    sys::spawn::exec_in_place(&child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qmail_env_order() {
        let mut e = Environ(vec![
            b"A=1".to_vec(),
            b"B=2".to_vec(),
            b"A=3".to_vec(),
            b"C=4".to_vec(),
        ]);
        e.put(b"A", b"x");
        // Both A's go, each replaced by the last entry at the time.
        assert_eq!(e.0, vec![b"C=4".to_vec(), b"B=2".to_vec(), b"A=x".to_vec()]);
        e.unset(b"B");
        assert_eq!(e.0, vec![b"C=4".to_vec(), b"A=x".to_vec()]);
        assert_eq!(e.get(b"A"), Some(&b"x"[..]));
    }

    #[test]
    fn timeouts_read_like_scan_ulong() {
        use sys::scan::scan_ulong;
        assert_eq!(scan_ulong(b"30"), 30);
        assert_eq!(scan_ulong(b"5s"), 5);
        assert_eq!(scan_ulong(b"x"), 0);
    }
}
