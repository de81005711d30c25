//! tcpserver: the ucspi-tcp 0.88 super-server, with IPv6, a per-client
//! limit and socket activation.
//!
//! Where things are:
//! - [`options`]: the command line (djb's getopt rules, 0.88's usage).
//! - [`server`]: the poll loop: accept, lookups, rules, log, fork+exec.
//! - [`log`]: the log lines and `safecats`.
//! - [`rule_limits`]: `MAXCONIP` and `MAXCONNC`, the rules' limits per
//!   client address and net.
//!
//! Addresses, DNS, ident and the connection's environment are the
//! `ucspi` crate's (shared with tcp-env); the child between fork and
//! exec is `sys::spawn`'s.

#![forbid(unsafe_code)]

pub mod log;
pub mod options;
pub mod rule_limits;
pub mod server;

use std::ffi::{CString, OsString};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::ffi::OsStrExt;

use nix::sys::signal::Signal;
use socket2::{Domain, Socket, Type};

use log::Log;
use options::{Family, Options, Verbosity};
use server::{Listener, Server, Setup};
use sys::spawn::Method;
use ucspi::addr::{self, Host};
use ucspi::env;

/// Run tcpserver with `args` (without the program name); returns only on
/// a startup error (the exit code).
pub fn main(args: Vec<OsString>) -> i32 {
    // 0.88 ignores SIGPIPE: a client that left makes a write fail, not
    // the server die. (The binary skips Rust's runtime start, which would
    // have done this.)
    sys::selfpipe::ignore(&[Signal::SIGPIPE]);
    let opts = match options::parse(args, |k| std::env::var_os(k)) {
        Ok(o) => o,
        Err(e) => {
            let _ = std::io::stderr().write_all(e.text().as_bytes());
            return 100;
        }
    };
    start(opts)
}

/// Keep fds 0, 1 and 2 open (on /dev/null if they were closed), so no
/// socket of ours ever lands there by accident.
fn fill_low_fds() {
    for _ in 0..3 {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            Ok(f) if f.as_raw_fd() <= 2 => {
                let _ = f.into_raw_fd();
            }
            _ => break,
        }
    }
}

fn start(opts: Options) -> i32 {
    let log = Log {
        verbosity: opts.verbosity,
    };
    fill_low_fds();
    let Some(port) = addr::parse_port(&opts.port) else {
        log.fatal(&format!(
            "unable to figure out port number for {}",
            String::from_utf8_lossy(&opts.port)
        ));
    };
    if opts.program.is_empty() {
        let _ = std::io::stderr().write_all(
            options::usage(opts.verbosity == Verbosity::Quiet)
                .text()
                .as_bytes(),
        );
        return 100;
    }
    let pipe = match sys::selfpipe::SelfPipe::install(&[Signal::SIGCHLD, Signal::SIGTERM]) {
        Ok(p) => p,
        Err(e) => log.fatal(&format!("unable to create pipe: {}", sys::describe(&e))),
    };
    let dnscacheip = std::env::var("DNSCACHEIP").ok();

    let activated = match sys::activation::listen_fds() {
        Ok(fds) => fds,
        Err(e) => log.fatal(&format!("unable to use LISTEN_FDS: {}", sys::describe(&e))),
    };
    let listeners = if activated.is_empty() {
        vec![bind(&opts, port, &log, dnscacheip.as_deref())]
    } else {
        activated
            .into_iter()
            .map(|fd| adopt(Socket::from(fd), &log))
            .collect()
    };

    // Privileges go after bind and listen, before anything else runs:
    // supplementary groups, gid, uid. With -u alone, root's supplementary
    // groups go too (0.88 kept them).
    if opts.gid != 0 {
        if let Err(e) = sys::privs::set_gid(opts.gid) {
            log.fatal(&format!("unable to set gid: {}", sys::describe(&e)));
        }
    } else if opts.uid != 0 && sys::privs::is_root() {
        let gid = nix::unistd::getegid().as_raw();
        if let Err(e) = sys::privs::set_gid(gid) {
            log.fatal(&format!("unable to set gid: {}", sys::describe(&e)));
        }
        // 0.88 does the same, and command lines must keep working; but a
        // handler in group 0 can read and write what root's group may.
        if gid == 0 {
            log.warning("-u without -g: the handler keeps group 0 (give -g)");
        }
    }
    if opts.uid != 0
        && let Err(e) = sys::privs::set_uid(opts.uid)
    {
        log.fatal(&format!("unable to set uid: {}", sys::describe(&e)));
    }

    if opts.print_port {
        let port = listeners
            .first()
            .and_then(|l| l.sock.local_addr().ok())
            .and_then(|a| a.as_socket())
            .map_or(0, |a| a.port());
        let _ = std::io::stdout().write_all(format!("{port}\n").as_bytes());
        let _ = std::io::stdout().flush();
    }
    // 0.88 closes fds 0 and 1 here; /dev/null in their place releases a
    // pipe the same way and keeps accepted sockets off fds 0 and 1.
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
    }

    let prog = &opts.program[0];
    let mut exec_failed = Vec::new();
    let mut fds_failed = Vec::new();
    if log.warnings() {
        exec_failed = b"tcpserver: warning: dropping connection, unable to run ".to_vec();
        exec_failed.extend_from_slice(prog.as_bytes());
        exec_failed.extend_from_slice(b": ");
        fds_failed =
            b"tcpserver: warning: dropping connection, unable to set up descriptors: ".to_vec();
    }
    // How children are started (see sys::spawn); the knob exists to
    // measure the methods against each other.
    let method = match std::env::var("TCPSERVER_SPAWN").as_deref() {
        Ok("fork") => Method::Fork,
        Ok("vfork") => Method::Vfork,
        _ => Method::best(),
    };
    let setup = Setup {
        base_env: env::BaseEnv::capture(&sys::activation::VARIABLES),
        argv: opts
            .program
            .iter()
            .filter_map(|a| CString::new(a.as_bytes()).ok())
            .collect(),
        paths: ucspi::path::path_candidates(prog, std::env::var_os("PATH").as_deref()),
        exec_failed,
        fds_failed,
        child_mask: server::child_mask(),
        method,
        dnscacheip,
        limits: rule_limits::Limits::from_env(|k| {
            std::env::var_os(k).map(std::os::unix::ffi::OsStringExt::into_vec)
        }),
        log,
        opts,
    };
    Server::new(setup, listeners, pipe).run()
}

/// The addresses to bind for the host operand: (address, IPv6 only).
/// `-4` and `-6` choose the family of the unspecified addresses and of
/// a name; a literal address is bound as it is.
fn host_address(opts: &Options, log: &Log, dnscacheip: Option<&str>) -> (IpAddr, bool) {
    match (addr::parse_host(&opts.host), opts.family) {
        (Host::Any4 | Host::Any6 | Host::Dual, Family::V4) => (addr::any(false), false),
        (Host::Any4, Family::V6) => (addr::any(true), true),
        (Host::Any4, Family::Any) => (addr::any(false), false),
        (Host::Any6, _) => (addr::any(true), true),
        (Host::Dual, _) => (addr::any(true), false),
        (Host::Addr(ip), _) => (ip, true),
        (Host::Name(name), family) => (resolve_host(&name, family, log, dnscacheip), true),
    }
}

/// A host name to its first address, through DNS only: an A record as
/// 0.88 (also with `-4`), an AAAA record with `-6`.
fn resolve_host(name: &[u8], family: Family, log: &Log, dnscacheip: Option<&str>) -> IpAddr {
    let shown = String::from_utf8_lossy(name).into_owned();
    let mut resolver = ucspi::resolver::Resolver::new(dnscacheip);
    let found = if family == Family::V6 {
        ucspi::lookup::ip6_qualify(&mut resolver, name)
    } else {
        ucspi::lookup::ip4_qualify(&mut resolver, name)
    };
    match found {
        Ok(found) => match found.first() {
            Some(&ip) => ip,
            None => log.fatal(&format!("no IP address for {shown}")),
        },
        Err(e) => log.fatal(&format!(
            "temporarily unable to figure out IP address for {shown}: {}",
            sys::describe(&e)
        )),
    }
}

fn bind(opts: &Options, port: u16, log: &Log, dnscacheip: Option<&str>) -> Listener {
    let (ip, v6only) = host_address(opts, log, dnscacheip);
    let mut sa = SocketAddr::new(ip, port);
    let fatal = |what: &str, e: std::io::Error| -> ! {
        log.fatal(&format!("unable to {what}: {}", sys::describe(&e)))
    };
    let sock = Socket::new(Domain::for_address(sa), Type::STREAM, None)
        .unwrap_or_else(|e| fatal("create socket", e));
    if let Some(ifname) = &opts.interface {
        // SO_BINDTODEVICE takes every family (and needs no privilege
        // since Linux 5.7); an IPv6 link-local address (fe80::...) also
        // needs the interface as its scope, as ucspi-tcp6 gives it.
        let what = format!("bind to interface {}", String::from_utf8_lossy(ifname));
        sock.bind_device(Some(ifname))
            .unwrap_or_else(|e| fatal(&what, e));
        if let SocketAddr::V6(v6) = &mut sa {
            let index = nix::net::if_::if_nametoindex(&ifname[..])
                .unwrap_or_else(|e| fatal(&what, e.into()));
            v6.set_scope_id(index);
        }
    }
    let _ = sock.set_reuse_address(true);
    if sa.is_ipv6() {
        let _ = sock.set_only_v6(v6only);
    }
    sock.set_nonblocking(true)
        .unwrap_or_else(|e| fatal("create socket", e));
    sock.bind(&sa.into()).unwrap_or_else(|e| fatal("bind", e));
    let local = sock
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or_else(|| fatal("get local address", std::io::Error::last_os_error()));
    sock.listen(opts.backlog)
        .unwrap_or_else(|e| fatal("listen", e));
    Listener {
        fixed_local: (!ip.is_unspecified()).then_some(local),
        sock,
    }
}

/// A socket handed over by systemd: must be a listening TCP socket.
fn adopt(sock: Socket, log: &Log) -> Listener {
    let check = || -> std::io::Result<SocketAddr> {
        let bad = || std::io::Error::from_raw_os_error(libc::ENOTSOCK);
        if sock.r#type()? != Type::STREAM || !sock.is_listener()? {
            return Err(bad());
        }
        let local = sock.local_addr()?.as_socket().ok_or_else(bad)?;
        sock.set_nonblocking(true)?;
        Ok(local)
    };
    match check() {
        Ok(local) => Listener {
            fixed_local: (!local.ip().is_unspecified()).then_some(local),
            sock,
        },
        Err(e) => log.fatal(&format!(
            "unable to use socket from LISTEN_FDS: {}",
            sys::describe(&e)
        )),
    }
}
