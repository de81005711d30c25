//! tcpclient: ucspi-tcp 0.88's TCP client. It connects to host and port,
//! then runs a program with the connection on fd 6 (read) and fd 7
//! (write) and the UCSPI variables set. Added, in ucspi-tcp6's spelling:
//! IPv6 (literals, AAAA names, TCP6* variables), `-4`, `-6`, `-I`.
//!
//! Where things are:
//! - [`options`]: the command line.
//! - [`connect`]: each address in turn, with the `x+y` timeouts.
//! - [`net`]: tcpserver's DNS, ident and environment modules.
//! - here: names, the environment, fds 6 and 7, the exec, messages.

pub mod connect;
pub mod net;
pub mod options;

use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::IntoRawFd;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use sys::spawn::{Action, CStrArray, Child, Exec};

use net::{addr, dns, env, ident, resolver};
use options::{Family, Options};

/// Messages on fd 2, unless `-q` (which, as in 0.88, silences even the
/// fatal ones once the options are read).
struct Say {
    verbosity: u8,
}

impl Say {
    fn line(&self, parts: &[&[u8]]) {
        if self.verbosity == 0 {
            return;
        }
        let mut l = parts.concat();
        l.push(b'\n');
        let _ = io::stderr().write_all(&l);
    }

    fn fatal(&self, what: &[u8], err: Option<&io::Error>) -> i32 {
        let e = err.map_or(&b""[..], |e| sys::errstr::describe(e).as_bytes());
        self.line(&[b"tcpclient: fatal: ", what, e]);
        111
    }
}

pub fn main(args: Vec<OsString>) -> i32 {
    // 0.88 closes 6 and 7 first, so no socket lands there by chance and
    // an inherited 6 or 7 never reaches the program.
    for fd in [6, 7] {
        // SAFETY: at startup no Rust object owns descriptors 6 and 7;
        // closing a number that is not open is harmless (EBADF).
        unsafe { libc::close(fd) };
    }
    let o = match options::parse(args) {
        Ok(o) => o,
        Err(options::Usage(complaint)) => {
            let _ = io::stderr().write_all(&complaint);
            let _ = io::stderr().write_all(options::USAGE);
            return 100;
        }
    };
    run(o)
}

/// The port operand: digits (wrapping as 0.88's `uint16`), else a tcp
/// service name.
fn port(p: &[u8]) -> Option<u16> {
    let (v, n) = options::scan_ulong(p);
    if n == p.len() {
        return Some(v as u16);
    }
    addr::parse_port(p)
}

/// A small shuffle (djb's `dns_sortip` puts a name's addresses in random
/// order, spreading clients over them).
fn shuffle(v: &mut [IpAddr]) {
    let mut seed = [0u8; 8];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut seed));
    let mut x = u64::from_ne_bytes(seed) | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

/// The addresses of `host` (djb's `dns_ip4_qualify`, plus AAAA): `Err`
/// is the temporary failure to report.
fn addresses(host: &[u8], family: Family, res: &mut resolver::Resolver) -> io::Result<Vec<IpAddr>> {
    if let Some(ip) = std::str::from_utf8(host)
        .ok()
        .map(|s| s.trim_start_matches('[').trim_end_matches(']'))
        .filter(|s| s.contains(':'))
        .and_then(|s| s.parse::<Ipv6Addr>().ok())
    {
        return Ok(vec![IpAddr::V6(ip)]);
    }
    if let Some(b) = dns::ip4_literal(host) {
        return Ok(b
            .chunks(4)
            .map(|c| IpAddr::from([c[0], c[1], c[2], c[3]]))
            .collect());
    }
    let conf = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    let localdomain = std::env::var_os("LOCALDOMAIN");
    let hostname = std::fs::read("/proc/sys/kernel/hostname").unwrap_or_default();
    let search = addr::search_domains(
        localdomain.as_deref().map(OsStrExt::as_bytes),
        &conf,
        hostname.trim_ascii(),
    );
    let types: &[u16] = match family {
        Family::Any => &[dns::T_A, dns::T_AAAA],
        Family::V4 => &[dns::T_A],
        Family::V6 => &[dns::T_AAAA],
    };
    for candidate in addr::qualify(host, &search) {
        let Some(wire) = dns::from_dotted(&candidate) else {
            continue;
        };
        let mut found = Vec::new();
        for &t in types {
            let packet = res.resolve_blocking(&wire, t)?;
            let mut ips = dns::addr_answers(&packet, t).unwrap_or_default();
            shuffle(&mut ips);
            found.extend(ips);
        }
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// The PTR name of `ip` in djb's dotted form; `None` when there is none
/// or the lookup failed (the variable is then unset).
fn name_of(ip: IpAddr, res: &mut resolver::Resolver) -> Option<Vec<u8>> {
    let packet = res
        .resolve_blocking(&dns::reverse_name(ip), dns::T_PTR)
        .ok()?;
    let name = dns::ptr_answer(&packet).ok()??;
    Some(dns::to_dotted(&name))
}

fn run(o: Options) -> i32 {
    let say = Say {
        verbosity: o.verbosity,
    };
    let host: &[u8] = match &o.host[..] {
        b"" | b"0" if o.family == Family::V6 => b"::1",
        b"" | b"0" => b"127.0.0.1",
        h => h,
    };
    let Some(port) = port(&o.port) else {
        return say.fatal(
            &[&b"unable to figure out port number for "[..], &o.port].concat(),
            None,
        );
    };
    if o.program.is_empty() {
        let _ = io::stderr().write_all(options::USAGE);
        return 100;
    }
    let dnscacheip = std::env::var("DNSCACHEIP").ok();
    let mut res = resolver::Resolver::new(dnscacheip.as_deref());
    let mut addrs = match addresses(host, o.family, &mut res) {
        Ok(a) => a,
        Err(e) => {
            let what = [
                &b"temporarily unable to figure out IP address for "[..],
                host,
                b": ",
            ]
            .concat();
            return say.fatal(&what, Some(&e));
        }
    };
    match o.family {
        Family::V4 => addrs.retain(IpAddr::is_ipv4),
        Family::V6 => addrs.retain(IpAddr::is_ipv6),
        Family::Any => {}
    }
    if addrs.is_empty() {
        return say.fatal(&[&b"no IP address for "[..], host].concat(), None);
    }
    let scope = match &o.interface {
        Some(i) => match nix::net::if_::if_nametoindex(&i[..]) {
            Ok(n) => n,
            Err(e) => return say.fatal(b"unable to bind socket: ", Some(&e.into())),
        },
        None => 0,
    };
    let local = connect::Local {
        ip: o.local_ip,
        port: o.local_port,
        interface: o.interface.clone(),
        scope,
    };
    let warn = |ip: IpAddr, e: &io::Error| {
        let what = format!(
            "tcpclient: unable to connect to {} port {port}: ",
            addr::show(ip)
        );
        say.line(&[what.as_bytes(), sys::errstr::describe(e).as_bytes()]);
    };
    let sock = match connect::connect(&addrs, port, o.conn_timeout, &local, warn) {
        Ok(Some(s)) => s,
        Ok(None) => return 111,
        Err(connect::Failure::Socket(e)) => {
            return say.fatal(b"unable to create socket: ", Some(&e));
        }
        Err(connect::Failure::Bind(e)) => return say.fatal(b"unable to bind socket: ", Some(&e)),
    };
    if !o.delay {
        let _ = sock.set_tcp_nodelay(true);
    }
    let Some(me) = sock.local_addr().ok().and_then(|a| a.as_socket()) else {
        return say.fatal(
            b"unable to get local address: ",
            Some(&io::Error::last_os_error()),
        );
    };
    let me = addr::unmap_sa(me);
    let v6 = me.is_ipv6();
    let (lport, lip) = (me.port().to_string(), addr::show(me.ip()));
    let mut ch = env::Changes::with_capacity(20);
    ch.put(b"PROTO", Some(if v6 { b"TCP6" } else { b"TCP" }));
    ch.put(b"TCPLOCALPORT", Some(lport.as_bytes()));
    ch.put(b"TCPLOCALIP", Some(lip.as_bytes()));
    let lname = match &o.local_name {
        Some(n) => Some(n.clone()),
        None => name_of(me.ip(), &mut res),
    };
    ch.put(b"TCPLOCALHOST", lname.as_deref());
    if v6 {
        ch.put(b"TCP6LOCALPORT", Some(lport.as_bytes()));
        ch.put(b"TCP6LOCALIP", Some(lip.as_bytes()));
        ch.put(b"TCP6LOCALHOST", lname.as_deref());
    }
    let Some(peer) = sock.peer_addr().ok().and_then(|a| a.as_socket()) else {
        return say.fatal(
            b"unable to get remote address: ",
            Some(&io::Error::last_os_error()),
        );
    };
    let peer = addr::unmap_sa(peer);
    let (rport, rip) = (peer.port().to_string(), addr::show(peer.ip()));
    ch.put(b"TCPREMOTEPORT", Some(rport.as_bytes()));
    ch.put(b"TCPREMOTEIP", Some(rip.as_bytes()));
    if v6 {
        ch.put(b"TCP6REMOTEPORT", Some(rport.as_bytes()));
        ch.put(b"TCP6REMOTEIP", Some(rip.as_bytes()));
    }
    if o.verbosity >= 2 {
        say.line(&[format!("tcpclient: connected to {rip} port {rport}").as_bytes()]);
    }
    let rname = if o.remote_host {
        name_of(peer.ip(), &mut res)
    } else {
        None
    };
    ch.put(b"TCPREMOTEHOST", rname.as_deref());
    if v6 {
        ch.put(b"TCP6REMOTEHOST", rname.as_deref());
    }
    let info = if o.remote_info {
        let t = Duration::from_secs(o.info_timeout);
        ident::Ident::start(me, peer, t, Instant::now()).finish_blocking()
    } else {
        None
    };
    ch.put(b"TCPREMOTEINFO", info.as_deref());
    if v6 {
        ch.put(b"TCP6REMOTEINFO", info.as_deref());
        if let Some(i) = &o.interface {
            ch.put(b"TCP6INTERFACE", Some(i));
        }
    }
    exec(&o, &say, sock, &ch)
}

fn exec(o: &Options, say: &Say, sock: socket2::Socket, ch: &env::Changes) -> i32 {
    let fd = sock.into_raw_fd();
    // SAFETY: `fd` is the connected socket, released from its owner
    // above; 6 holds nothing of ours (closed at startup; if the socket
    // itself got 6, dup2 onto itself changes nothing).
    let ok = unsafe { libc::dup2(fd, 6) != -1 };
    if !ok {
        return say.fatal(
            b"unable to set up descriptor 6: ",
            Some(&io::Error::last_os_error()),
        );
    }
    if fd != 6 {
        // SAFETY: `fd` is ours and no longer needed: 6 is its copy.
        unsafe { libc::close(fd) };
    }
    // SAFETY: 6 is open (just made); dup2 onto 7 only replaces 7.
    if unsafe { libc::dup2(6, 7) } == -1 {
        return say.fatal(
            b"unable to set up descriptor 7: ",
            Some(&io::Error::last_os_error()),
        );
    }
    let base = env::BaseEnv::capture(&[]);
    let envp = ch.apply(&base);
    let Ok(args) = o
        .program
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return say.fatal(
            b"unable to run program: ",
            Some(&io::Error::from_raw_os_error(libc::EINVAL)),
        );
    };
    let argv: CStrArray<'_> = args.iter().map(CString::as_c_str).collect();
    let paths = net::path_candidates(&o.program[0], std::env::var_os("PATH").as_deref());
    let paths: Vec<&std::ffi::CStr> = paths.iter().map(CString::as_c_str).collect();
    let failed = if say.verbosity == 0 {
        Vec::new()
    } else {
        [
            &b"tcpclient: fatal: unable to run "[..],
            o.program[0].as_bytes(),
            b": ",
        ]
        .concat()
    };
    let _ = std::io::stdout().flush();
    let child = Child {
        stdio: None,
        log: &[],
        default_signals: &[Signal::SIGPIPE],
        sigmask: SigSet::empty(),
        action: Action::Exec(Exec {
            paths: &paths,
            argv: &argv,
            envp: &envp,
            exec_failed: &failed,
            fds_failed: b"",
        }),
    };
    sys::spawn::exec_in_place(&child)
}
