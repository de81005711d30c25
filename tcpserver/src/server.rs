//! The accept loop: one single-threaded poll loop over the listening
//! sockets, the self-pipe (SIGCHLD, SIGTERM) and the lookups of
//! connections still being looked at.
//!
//! Per connection, in 0.88's order: IP options and TCP_NODELAY, banner,
//! local address, local and remote names (PTR, the `-p` check), ident,
//! rules, then the log lines and the environment, then fork and exec. The
//! parent does all of that; the lookups run as non-blocking state
//! machines in this loop (a connection waiting for them holds one of the
//! `-c` slots, as a 0.88 child would), and the child only runs what the
//! parent prepared (`sys::spawn`). A denied or dropped connection still
//! gets a child that exits 100 or 111, so the `deny`/`end` lines read as
//! in 0.88.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use socket2::{SockAddr, Socket};
use sys::selfpipe::SelfPipe;
use sys::spawn::{Action, CStrArray, Child, Exec, Method, Part, Spawner};

use ucspi::addr::{self, unmap};
use ucspi::dns;
use ucspi::env::{BaseEnv, Changes};
use ucspi::ident::Ident;
use ucspi::resolver::{Query, Resolver};

use crate::log::{Log, drop_line, safecats};
use crate::options::{Options, PerClient};
use crate::rule_limits::{Limits, Live};

/// How long a banner may take to reach a client that does not read.
const BANNER_TIMEOUT: Duration = Duration::from_secs(60);
/// Accept errors (EMFILE...) pause accepting for this long, doubling up
/// to [`MAX_BACKOFF`], so they cannot make the loop spin.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Connections taken per wake-up of a listener.
const ACCEPT_BATCH: usize = 32;

/// A listening socket and, when it is bound to one address, that address
/// (then every connection's local address is known without asking).
#[derive(Debug)]
pub struct Listener {
    pub sock: Socket,
    pub fixed_local: Option<SocketAddr>,
}

/// What the server knows at startup and never changes.
#[derive(Debug)]
pub struct Setup {
    pub opts: Options,
    pub log: Log,
    pub base_env: BaseEnv,
    pub argv: Vec<CString>,
    pub paths: Vec<CString>,
    pub exec_failed: Vec<u8>,
    pub fds_failed: Vec<u8>,
    pub child_mask: SigSet,
    pub method: Method,
    pub dnscacheip: Option<String>,
    /// `MAXCONIP`/`MAXCONNC` from tcpserver's environment: the limits of
    /// a connection whose rule sets none.
    pub limits: Limits,
}

/// A connection being looked at.
#[derive(Debug)]
struct Conn {
    sock: Socket,
    /// The client, as the kernel gave it (maybe v4-mapped).
    remote: SocketAddr,
    /// Our end; `Err` when getsockname failed (the connection is dropped).
    local: Result<SocketAddr, io::Error>,
}

impl Conn {
    fn client_ip(&self) -> IpAddr {
        unmap(self.remote.ip())
    }
}

/// A connection with lookups (or a banner) still under way.
#[derive(Debug)]
struct Pending {
    conn: Conn,
    banner_off: Option<usize>,
    banner_deadline: Instant,
    drop: Option<Vec<u8>>,
    local_host: Option<Vec<u8>>,
    local_q: Option<Query>,
    remote_q: Option<Query>,
    remote_name: Option<(Vec<u8>, Vec<u8>)>,
    para_q: Option<Query>,
    remote_host: Option<Vec<u8>>,
    ident: Option<Ident>,
    info: Option<Vec<u8>>,
}

/// What the lookups found.
#[derive(Debug, Default)]
struct Found {
    local_host: Option<Vec<u8>>,
    remote_host: Option<Vec<u8>>,
    info: Option<Vec<u8>>,
    drop: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Banner,
    Local,
    Remote,
    Paranoid,
    Ident,
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Pipe,
    Listener(usize),
    Pending(usize, Which),
}

/// What -C counts a client as: an IPv4 address as itself, an IPv6 one as
/// its /64. One IPv6 host usually has a whole /64 to pick addresses from
/// (privacy addresses, or at will), so counting addresses would not
/// limit it at all. An IPv4 client on a dual-stack socket counts as IPv4.
fn counted_as(ip: IpAddr) -> IpAddr {
    match unmap(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !(u128::MAX >> 64);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// The -C counts: connections per client (see [`counted_as`]), and
/// which child is whose.
#[derive(Debug)]
struct ClientCounts {
    limit: PerClient,
    live: HashMap<IpAddr, u32>,
    pids: HashMap<i32, IpAddr>,
}

impl ClientCounts {
    fn new(limit: PerClient) -> ClientCounts {
        ClientCounts {
            limit,
            live: HashMap::new(),
            pids: HashMap::new(),
        }
    }

    /// Count one more connection from `client`: `Ok(n)` with the count
    /// now, or `Err(n)` with the count that is already the limit.
    fn admit(&mut self, client: IpAddr) -> Result<u32, u32> {
        let client = counted_as(client);
        let n = self.live.entry(client).or_insert(0);
        if *n >= self.limit.max {
            let full = *n;
            if full == 0 {
                self.live.remove(&client);
            }
            return Err(full);
        }
        *n += 1;
        Ok(*n)
    }

    /// The connections counted for `client`.
    fn count(&self, client: IpAddr) -> Option<u32> {
        self.live.get(&counted_as(client)).copied()
    }

    /// One of `client`'s connections is over.
    fn release(&mut self, client: IpAddr) {
        let client = counted_as(client);
        if let Some(n) = self.live.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                self.live.remove(&client);
            }
        }
    }

    /// Child `pid` ended: release its connection.
    fn ended(&mut self, pid: i32) {
        if let Some(ip) = self.pids.remove(&pid) {
            self.release(ip);
        }
    }
}

/// The running server.
#[derive(Debug)]
pub struct Server {
    s: Setup,
    listeners: Vec<Listener>,
    pipe: SelfPipe,
    spawner: Spawner,
    children: u64,
    pending: Vec<Pending>,
    counts: Option<ClientCounts>,
    /// The live connections per address and net, for the rules' limits
    /// (kept only with -x or a default limit: no cost otherwise).
    live: Option<Live>,
    resolver: Option<Resolver>,
    /// The -x cdb, reopened for every connection; its index of network
    /// lengths spares a client that matches no rule the probes for
    /// lengths the file does not have. A changed file is indexed in a
    /// thread of its own (the one other thread of the server: it only
    /// reads the file), so a huge cdb never stalls this loop.
    rules: Option<rules::Watched>,
    paused_until: Option<Instant>,
    backoff: Duration,
}

fn err_text(e: &io::Error) -> &'static str {
    sys::describe(e)
}

/// The raw wait status, as `wait()` gives it and 0.88 logs it.
fn raw_status(ws: WaitStatus) -> Option<(i32, i32)> {
    match ws {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), (code & 0xff) << 8)),
        WaitStatus::Signaled(pid, sig, core) => {
            Some((pid.as_raw(), sig as i32 | if core { 0x80 } else { 0 }))
        }
        WaitStatus::Stopped(pid, sig) => Some((pid.as_raw(), ((sig as i32) << 8) | 0x7f)),
        WaitStatus::Continued(pid) => Some((pid.as_raw(), 0xffff)),
        _ => None,
    }
}

impl Server {
    pub fn new(s: Setup, listeners: Vec<Listener>, pipe: SelfPipe) -> Server {
        let counts = s.opts.per_client.clone().map(ClientCounts::new);
        let rules = s.opts.rules.as_ref().map(rules::Watched::new);
        let live = (rules.is_some() || s.limits.any()).then(Live::default);
        Server {
            spawner: Spawner::new(s.method),
            s,
            listeners,
            pipe,
            children: 0,
            pending: Vec::new(),
            counts,
            live,
            resolver: None,
            rules,
            paused_until: None,
            backoff: MIN_BACKOFF,
        }
    }

    fn status(&self) {
        self.s.log.status(self.children, self.s.opts.limit);
    }

    /// Serve until SIGTERM.
    pub fn run(&mut self) -> ! {
        self.status();
        let mut who: Vec<Who> = Vec::new();
        let mut fired: Vec<(Who, PollFlags)> = Vec::new();
        loop {
            let now = Instant::now();
            if self.paused_until.is_some_and(|t| now >= t) {
                self.paused_until = None;
            }
            let accepting = self.children < self.s.opts.limit && self.paused_until.is_none();
            let mut deadline = self.paused_until;
            fired.clear();
            {
                let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(who.capacity().max(4));
                who.clear();
                fds.push(PollFd::new(self.pipe.as_fd(), PollFlags::POLLIN));
                who.push(Who::Pipe);
                if accepting {
                    for (i, l) in self.listeners.iter().enumerate() {
                        fds.push(PollFd::new(l.sock.as_fd(), PollFlags::POLLIN));
                        who.push(Who::Listener(i));
                    }
                }
                for (i, p) in self.pending.iter().enumerate() {
                    let items = [
                        (
                            Which::Banner,
                            p.banner_off
                                .map(|_| (p.conn.sock.as_fd(), PollFlags::POLLOUT)),
                        ),
                        (Which::Local, p.local_q.as_ref().and_then(Query::interest)),
                        (Which::Remote, p.remote_q.as_ref().and_then(Query::interest)),
                        (Which::Paranoid, p.para_q.as_ref().and_then(Query::interest)),
                        (Which::Ident, p.ident.as_ref().and_then(Ident::interest)),
                    ];
                    for (w, x) in items {
                        if let Some((fd, ev)) = x {
                            fds.push(PollFd::new(fd, ev));
                            who.push(Who::Pending(i, w));
                        }
                    }
                    for d in p.deadlines() {
                        deadline = Some(deadline.map_or(d, |x: Instant| x.min(d)));
                    }
                }
                let timeout = match deadline {
                    None => PollTimeout::NONE,
                    Some(d) => {
                        let ms = d.saturating_duration_since(now).as_millis() + 1;
                        PollTimeout::try_from(ms.min(60_000) as i32).unwrap_or(PollTimeout::MAX)
                    }
                };
                match nix::poll::poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => self.s.log.fatal(&format!(
                        "unable to poll: {}",
                        err_text(&io::Error::from(e))
                    )),
                }
                for (f, w) in fds.iter().zip(&who) {
                    if let Some(ev) = f.revents()
                        && !ev.is_empty()
                    {
                        fired.push((*w, ev));
                    }
                }
            }
            let mut listeners_ready = Vec::new();
            let mut pipe_ready = false;
            for &(w, ev) in &fired {
                match w {
                    Who::Pipe => pipe_ready = true,
                    Who::Listener(i) => listeners_ready.push(i),
                    Who::Pending(i, which) => self.pending_event(i, which, ev),
                }
            }
            // Empty the kernel's backlog before anything else (see
            // accept_from), then reap and launch; a child reaped just now
            // may have freed a -c slot for what is still queued.
            for &i in &listeners_ready {
                self.accept_from(i);
            }
            if pipe_ready {
                self.signals();
            }
            self.advance_pending();
            if pipe_ready {
                for &i in &listeners_ready {
                    self.accept_from(i);
                }
            }
        }
    }

    fn signals(&mut self) {
        for sig in self.pipe.drain() {
            if sig == Signal::SIGTERM {
                std::process::exit(0);
            }
        }
        self.reap();
    }

    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => {
                    let Some((pid, wstat)) = raw_status(ws) else {
                        continue;
                    };
                    self.s.log.end(pid, wstat);
                    self.children = self.children.saturating_sub(1);
                    self.status();
                    if let Some(c) = &mut self.counts {
                        c.ended(pid);
                    }
                    if let Some(l) = &mut self.live {
                        l.ended(pid);
                    }
                }
            }
        }
    }

    /// Take what the kernel has queued on listener `i` (up to the -c
    /// limit and [`ACCEPT_BATCH`]), then start on each connection. The
    /// accepts come first: a connection we hold no longer needs a place
    /// in the kernel's backlog (20 by default), and a full backlog drops
    /// SYNs, which costs the client a retransmission second.
    fn accept_from(&mut self, i: usize) {
        let Some(l) = self.listeners.get(i) else {
            return;
        };
        let fixed = l.fixed_local;
        let room = self.s.opts.limit.saturating_sub(self.children);
        let mut taken = Vec::new();
        while (taken.len() as u64) < room.min(ACCEPT_BATCH as u64) && self.paused_until.is_none() {
            match l.sock.accept() {
                Ok(c) => {
                    self.backoff = MIN_BACKOFF;
                    taken.push(c);
                }
                Err(e) => {
                    match e.raw_os_error() {
                        Some(libc::EAGAIN | libc::EINTR | libc::ECONNABORTED) => {}
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                            self.s.log.warning(&format!(
                                "unable to accept: {}; pausing {} ms",
                                err_text(&e),
                                self.backoff.as_millis()
                            ));
                            self.paused_until = Some(Instant::now() + self.backoff);
                            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                        }
                        // Network errors Linux passes on from the new
                        // connection (ENETDOWN, EPROTO, EPERM...): that
                        // connection is gone, the next one may be fine.
                        _ => {}
                    }
                    break;
                }
            }
        }
        for (sock, peer) in taken {
            self.accepted(sock, peer, fixed);
        }
    }

    fn accepted(&mut self, sock: Socket, peer: SockAddr, fixed_local: Option<SocketAddr>) {
        let Some(remote) = peer.as_socket() else {
            return;
        };
        let client = unmap(remote.ip());
        if let Some(c) = &mut self.counts
            && let Err(n) = c.admit(client)
        {
            if !c.limit.message.is_empty() {
                let _ =
                    sock.send_with_flags(&c.limit.message, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL);
            }
            if self.s.log.verbose() {
                self.s.log.raw(
                    format!(
                        "tcpserver: refuse {} {} {}/{}\n",
                        addr::show(client),
                        remote.port(),
                        n,
                        c.limit.max
                    )
                    .as_bytes(),
                );
            }
            return;
        }
        self.children += 1;
        self.status();
        if let Some(l) = &mut self.live {
            l.add(client);
        }

        let o = &self.s.opts;
        let v4 = client.is_ipv4();
        if o.kill_ip_options && v4 {
            let _ = sys::sockopt::kill_ip_options(sock.as_fd());
        }
        if o.nodelay {
            let _ = sock.set_tcp_nodelay(true);
        }
        let local = match fixed_local {
            Some(l) => Ok(l),
            None => sock.local_addr().and_then(|a| {
                a.as_socket()
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
            }),
        };
        let mut drop = None;
        let mut banner_off = None;
        if !o.banner.is_empty() {
            match sock.send_with_flags(&o.banner, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
                Ok(n) if n == o.banner.len() => {}
                Ok(n) => banner_off = Some(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => banner_off = Some(0),
                Err(e) => {
                    drop = Some(format!("unable to print banner: {}", err_text(&e)).into_bytes())
                }
            }
        }
        if drop.is_none()
            && let Err(e) = &local
        {
            drop = Some(format!("unable to get local address: {}", err_text(e)).into_bytes());
        }
        let conn = Conn {
            sock,
            remote,
            local,
        };
        let needs_lookups = o.local_name.is_none() || o.remote_host || o.remote_info;
        if drop.is_some() || (banner_off.is_none() && !needs_lookups) {
            let found = Found {
                local_host: o.local_name.clone(),
                drop,
                ..Found::default()
            };
            self.launch(conn, found);
            return;
        }
        let now = Instant::now();
        let local_sa = match &conn.local {
            Ok(l) => *l,
            Err(_) => unreachable!("drop is set when local is unknown"),
        };
        let resolver = self
            .resolver
            .get_or_insert_with(|| Resolver::new(self.s.dnscacheip.as_deref()));
        let local_q = o
            .local_name
            .is_none()
            .then(|| resolver.start(&dns::reverse_name(local_sa.ip()), dns::T_PTR, now));
        let remote_q = o
            .remote_host
            .then(|| resolver.start(&dns::reverse_name(client), dns::T_PTR, now));
        let ident = o
            .remote_info
            .then(|| Ident::start(local_sa, remote, Duration::from_secs(o.ident_timeout), now));
        self.pending.push(Pending {
            conn,
            banner_off,
            banner_deadline: now + BANNER_TIMEOUT,
            drop: None,
            local_host: o.local_name.clone(),
            local_q,
            remote_q,
            remote_name: None,
            para_q: None,
            remote_host: None,
            ident,
            info: None,
        });
        // Lookups that failed at once (no socket) finish now.
        self.advance_pending();
    }

    fn pending_event(&mut self, i: usize, which: Which, _ev: PollFlags) {
        let now = Instant::now();
        let banner = &self.s.opts.banner;
        let Some(p) = self.pending.get_mut(i) else {
            return;
        };
        match which {
            Which::Banner => p.write_banner(banner, now),
            Which::Local => {
                if let Some(q) = &mut p.local_q {
                    q.on_event(now);
                }
            }
            Which::Remote => {
                if let Some(q) = &mut p.remote_q {
                    q.on_event(now);
                }
            }
            Which::Paranoid => {
                if let Some(q) = &mut p.para_q {
                    q.on_event(now);
                }
            }
            Which::Ident => {
                if let Some(q) = &mut p.ident {
                    q.on_event(now);
                }
            }
        }
    }

    /// Time out what is overdue, collect finished lookups, launch the
    /// connections that are complete.
    fn advance_pending(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.pending.len() {
            let paranoid = self.s.opts.paranoid;
            let resolver = &mut self.resolver;
            let dnscacheip = self.s.dnscacheip.as_deref();
            let p = &mut self.pending[i];
            p.timeouts(now);
            p.collect(paranoid, now, || {
                resolver.get_or_insert_with(|| Resolver::new(dnscacheip))
            });
            if p.complete() {
                let p = self.pending.swap_remove(i);
                let found = Found {
                    local_host: p.local_host,
                    remote_host: p.remote_host,
                    info: p.info,
                    drop: p.drop,
                };
                self.launch(p.conn, found);
            } else {
                i += 1;
            }
        }
    }

    /// Judge the connection by the rules, prepare the child, start it.
    fn launch(&mut self, conn: Conn, found: Found) {
        let client = conn.client_ip();
        let shown = Shown::of(&conn);
        let mut verdict = match &found.drop {
            Some(what) => Verdict::Drop(what.clone()),
            None => self.judge(&shown, &found),
        };
        if let (Verdict::Allow(rule_env), Some(live)) = (&verdict, &self.live)
            && let Some(why) = live.over(client, self.s.limits.with_rule(rule_env))
        {
            verdict = Verdict::Over(why.into_bytes());
        }
        let concurrency = self.counts.as_ref().and_then(|c| c.count(client));
        let changes = match &verdict {
            Verdict::Allow(rule_env) => Some(environment(
                &conn,
                &found,
                self.s.opts.interface.as_deref(),
                concurrency,
                rule_env,
            )),
            Verdict::Deny | Verdict::Over(_) | Verdict::Drop(_) => None,
        };
        let lines = ChildLog::new(self.s.log, &verdict, &shown, &found);
        let spawned = self.spawn(&conn, &verdict, changes.as_ref(), &lines);
        match spawned {
            Ok(pid) => {
                if let Some(c) = &mut self.counts {
                    c.pids.insert(pid, client);
                }
                if let Some(l) = &mut self.live {
                    l.started(pid, client);
                }
            }
            Err(e) => {
                self.s
                    .log
                    .drop_warning(format!("unable to fork: {}", err_text(&e)).as_bytes());
                self.children = self.children.saturating_sub(1);
                self.status();
                if let Some(c) = &mut self.counts {
                    c.release(client);
                }
                if let Some(l) = &mut self.live {
                    l.remove(client);
                }
            }
        }
        // The parent's copy of the socket closes here.
    }

    /// What the -x rules say about the client (allow without variables
    /// when there are none).
    fn judge(&mut self, shown: &Shown, found: &Found) -> Verdict {
        let Some(watched) = &mut self.rules else {
            return Verdict::Allow(Vec::new());
        };
        let client = rules::Client {
            ip: shown.remote_ip.as_bytes(),
            host: found.remote_host.as_deref(),
            info: found.info.as_deref(),
        };
        let started = Instant::now();
        let verdict = judge(watched, self.s.opts.allow_missing_rules, &client);
        // The lookup runs in this loop: a slow disk under the cdb delays
        // every connection, and the admin should hear of it.
        if let Some(w) = slow_rules_warning(watched.path(), started.elapsed()) {
            self.s.log.warning(&w);
        }
        verdict
    }

    /// Start the child: the handler, or for a denied or dropped
    /// connection one that only logs and exits 100 or 111. Returns its
    /// pid.
    fn spawn(
        &mut self,
        conn: &Conn,
        verdict: &Verdict,
        changes: Option<&Changes>,
        lines: &ChildLog,
    ) -> io::Result<i32> {
        let parts = lines.parts();
        let envp: CStrArray<'_>;
        let argv: CStrArray<'_> = self.s.argv.iter().map(CString::as_c_str).collect();
        let paths: Vec<&std::ffi::CStr> = self.s.paths.iter().map(CString::as_c_str).collect();
        let action = match (verdict, changes) {
            (Verdict::Allow(_), Some(changes)) => {
                envp = changes.apply(&self.s.base_env);
                Action::Exec(Exec {
                    paths: &paths,
                    argv: &argv,
                    envp: &envp,
                    exec_failed: &self.s.exec_failed,
                    fds_failed: &self.s.fds_failed,
                })
            }
            (Verdict::Deny | Verdict::Over(_), _) => Action::Exit(100),
            _ => Action::Exit(111),
        };
        let child = Child {
            stdio: Some(conn.sock.as_fd()),
            log: &parts,
            default_signals: &[Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGPIPE],
            sigmask: self.s.child_mask,
            action,
        };
        self.spawner.spawn(&child).map(|pid| pid.as_raw())
    }
}

/// The addresses of a connection as its environment and log show them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    /// Empty when getsockname failed (the connection is being dropped).
    local_ip: String,
    local_port: String,
    remote_ip: String,
    remote_port: String,
}

impl Shown {
    fn of(conn: &Conn) -> Shown {
        let (local_ip, local_port) = match &conn.local {
            Ok(l) => (addr::show(l.ip()), l.port().to_string()),
            Err(_) => (String::new(), String::new()),
        };
        Shown {
            local_ip,
            local_port,
            remote_ip: addr::show(conn.client_ip()),
            remote_port: conn.remote.port().to_string(),
        }
    }
}

/// What becomes of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Run the handler; the rule's variables, in order.
    Allow(Vec<(Vec<u8>, Vec<u8>)>),
    /// A rule denied it: the child exits 100.
    Deny,
    /// Over a limit of its rule (`MAXCONIP`...), for this reason: denied.
    Over(Vec<u8>),
    /// Drop it with this warning: the child exits 111.
    Drop(Vec<u8>),
}

/// Look `client` up in the rules: an unreadable cdb drops the connection
/// (0.88: `unable to read`), a missing one too unless `-X`.
fn judge(watched: &mut rules::Watched, allow_missing: bool, client: &rules::Client<'_>) -> Verdict {
    match watched.lookup(client) {
        Ok(rules::Decision::Deny) => Verdict::Deny,
        Ok(rules::Decision::Allow { env }) => Verdict::Allow(env),
        Ok(rules::Decision::NotFound) => Verdict::Allow(Vec::new()),
        Err(e) => {
            let missing = e.raw_os_error() == Some(libc::ENOENT)
                || (e.raw_os_error().is_none() && e.kind() == io::ErrorKind::NotFound);
            if missing && allow_missing {
                return Verdict::Allow(Vec::new());
            }
            let mut m = b"unable to read ".to_vec();
            m.extend_from_slice(watched.path().as_os_str().as_bytes());
            m.extend_from_slice(b": ");
            m.extend_from_slice(err_text(&e).as_bytes());
            Verdict::Drop(m)
        }
    }
}

/// A rules lookup taking longer than this gets a warning.
const SLOW_RULES: Duration = Duration::from_secs(1);

/// The warning for a rules lookup that took `took`, if it was slow.
fn slow_rules_warning(path: &std::path::Path, took: Duration) -> Option<String> {
    (took >= SLOW_RULES).then(|| {
        format!(
            "reading {} took {} ms; connections waited meanwhile",
            path.display(),
            took.as_millis()
        )
    })
}

/// The handler's changes to tcpserver's environment, in 0.88's order:
/// the connection's variables (for an IPv6 client with -I, then
/// ucspi-tcp6's TCP6INTERFACE), TCPCONCURRENCY (with -C), then the rule's.
fn environment(
    conn: &Conn,
    found: &Found,
    interface: Option<&[u8]>,
    concurrency: Option<u32>,
    rule_env: &[(Vec<u8>, Vec<u8>)],
) -> Changes {
    let mut changes = Changes::with_capacity(16 + rule_env.len());
    if let Ok(local) = conn.local {
        let c = ucspi::env::Connection {
            local,
            remote: conn.remote,
            local_host: found.local_host.as_deref(),
            remote_host: found.remote_host.as_deref(),
            remote_info: found.info.as_deref(),
        };
        ucspi::env::connection(&c, ucspi::env::Order::Ucspi, &mut changes);
        if let Some(i) = interface
            && conn.client_ip().is_ipv6()
        {
            changes.put(b"TCP6INTERFACE", Some(i));
        }
    }
    if let Some(n) = concurrency {
        changes.put(b"TCPCONCURRENCY", Some(n.to_string().as_bytes()));
    }
    for (k, v) in rule_env {
        changes.put(k, Some(v));
    }
    changes
}

/// The child's log lines, 0.88's: `pid N from IP` and `ok`/`deny N ...`
/// (-v), or the drop warning; the child writes them with its own pid
/// where [`Part::Pid`] stands.
#[derive(Debug, Default)]
struct ChildLog {
    verbose: bool,
    /// After the first pid: ` from IP\n`, then `ok `/`deny ` or a warning.
    mid: Vec<u8>,
    /// After the second pid: ` local:ip:port remote:ip:info:port\n`.
    tail: Vec<u8>,
}

impl ChildLog {
    fn new(log: Log, verdict: &Verdict, shown: &Shown, found: &Found) -> ChildLog {
        let mut mid = Vec::with_capacity(64);
        let mut tail = Vec::new();
        if log.verbose() {
            mid.extend_from_slice(b" from ");
            mid.extend_from_slice(shown.remote_ip.as_bytes());
            mid.push(b'\n');
        }
        match verdict {
            Verdict::Drop(what) if log.warnings() => mid.extend_from_slice(&drop_line(what)),
            Verdict::Drop(_) => {}
            Verdict::Allow(_) | Verdict::Deny | Verdict::Over(_) if log.verbose() => {
                mid.extend_from_slice(if matches!(verdict, Verdict::Deny | Verdict::Over(_)) {
                    b"tcpserver: deny "
                } else {
                    b"tcpserver: ok "
                });
                tail.reserve(160);
                tail.push(b' ');
                if let Some(h) = &found.local_host {
                    safecats(&mut tail, h, false);
                }
                tail.push(b':');
                safecats(&mut tail, shown.local_ip.as_bytes(), true);
                tail.push(b':');
                safecats(&mut tail, shown.local_port.as_bytes(), false);
                tail.push(b' ');
                if let Some(h) = &found.remote_host {
                    safecats(&mut tail, h, false);
                }
                tail.push(b':');
                safecats(&mut tail, shown.remote_ip.as_bytes(), true);
                tail.push(b':');
                if let Some(i) = &found.info {
                    safecats(&mut tail, i, false);
                }
                tail.push(b':');
                safecats(&mut tail, shown.remote_port.as_bytes(), false);
                // ucspi-tcp6's reason, after the fields.
                if let Verdict::Over(why) = verdict {
                    tail.push(b' ');
                    tail.extend_from_slice(why);
                }
                tail.push(b'\n');
            }
            Verdict::Allow(_) | Verdict::Deny | Verdict::Over(_) => {}
        }
        ChildLog {
            verbose: log.verbose(),
            mid,
            tail,
        }
    }

    fn parts(&self) -> Vec<Part<'_>> {
        let mut parts = Vec::with_capacity(5);
        if self.verbose {
            parts.push(Part::Text(b"tcpserver: pid "));
            parts.push(Part::Pid);
            parts.push(Part::Text(&self.mid));
            if !self.tail.is_empty() {
                parts.push(Part::Pid);
                parts.push(Part::Text(&self.tail));
            }
        } else if !self.mid.is_empty() {
            parts.push(Part::Text(&self.mid));
        }
        parts
    }
}

impl Pending {
    fn deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        let banner = self.banner_off.map(|_| self.banner_deadline);
        banner
            .into_iter()
            .chain(self.local_q.as_ref().and_then(Query::deadline))
            .chain(self.remote_q.as_ref().and_then(Query::deadline))
            .chain(self.para_q.as_ref().and_then(Query::deadline))
            .chain(self.ident.as_ref().and_then(Ident::deadline))
    }

    fn write_banner(&mut self, banner: &[u8], now: Instant) {
        let Some(off) = self.banner_off else {
            return;
        };
        match self
            .conn
            .sock
            .send_with_flags(&banner[off..], libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        {
            Ok(n) if off + n >= banner.len() => self.banner_off = None,
            Ok(n) => self.banner_off = Some(off + n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if now >= self.banner_deadline {
                    self.fail(format!(
                        "unable to print banner: {}",
                        err_text(&io::Error::from_raw_os_error(libc::ETIMEDOUT))
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.fail(format!("unable to print banner: {}", err_text(&e))),
        }
    }

    /// Drop the connection: stop every lookup.
    fn fail(&mut self, what: String) {
        self.drop = Some(what.into_bytes());
        self.banner_off = None;
        self.local_q = None;
        self.remote_q = None;
        self.para_q = None;
        self.ident = None;
    }

    fn timeouts(&mut self, now: Instant) {
        if self.banner_off.is_some() && now >= self.banner_deadline {
            self.fail(format!(
                "unable to print banner: {}",
                err_text(&io::Error::from_raw_os_error(libc::ETIMEDOUT))
            ));
            return;
        }
        for q in [&mut self.local_q, &mut self.remote_q, &mut self.para_q]
            .into_iter()
            .flatten()
        {
            if q.deadline().is_some_and(|d| now >= d) {
                q.on_event(now);
            }
        }
        if let Some(id) = &mut self.ident
            && id.deadline().is_some_and(|d| now >= d)
        {
            id.on_event(now);
        }
    }

    fn collect<'r>(
        &mut self,
        paranoid: bool,
        now: Instant,
        resolver: impl FnOnce() -> &'r mut Resolver,
    ) {
        if let Some(q) = &mut self.local_q
            && let Some(r) = q.result()
        {
            self.local_q = None;
            self.local_host = ptr_name(r).map(|(_, dotted)| dotted);
        }
        if let Some(q) = &mut self.remote_q
            && let Some(r) = q.result()
        {
            self.remote_q = None;
            if let Some((wire, dotted)) = ptr_name(r) {
                if !paranoid {
                    self.remote_host = Some(dotted);
                } else {
                    let client = self.conn.client_ip();
                    match (client, dns::ip4_literal(&dotted)) {
                        (IpAddr::V4(ip), Some(bytes)) => {
                            if bytes.chunks(4).any(|c| c == ip.octets()) {
                                self.remote_host = Some(dotted);
                            }
                        }
                        _ => {
                            let qtype = if client.is_ipv4() {
                                dns::T_A
                            } else {
                                dns::T_AAAA
                            };
                            self.para_q = Some(resolver().start(&wire, qtype, now));
                            self.remote_name = Some((wire, dotted));
                        }
                    }
                }
            }
        }
        if let Some(q) = &mut self.para_q
            && let Some(r) = q.result()
        {
            self.para_q = None;
            let client = self.conn.client_ip();
            let qtype = if client.is_ipv4() {
                dns::T_A
            } else {
                dns::T_AAAA
            };
            let ok = r
                .ok()
                .and_then(|p| dns::addr_answers(&p, qtype).ok())
                .is_some_and(|addrs| addrs.contains(&client));
            if let Some((_, dotted)) = self.remote_name.take()
                && ok
            {
                self.remote_host = Some(dotted);
            }
        }
        if let Some(id) = &mut self.ident
            && id.is_done()
        {
            let v = id.take();
            self.ident = None;
            self.info = v;
        }
    }

    fn complete(&self) -> bool {
        self.banner_off.is_none()
            && self.local_q.is_none()
            && self.remote_q.is_none()
            && self.para_q.is_none()
            && self.ident.is_none()
    }
}

/// The name in a PTR answer: (wire, dotted); none when the lookup failed
/// or found no name.
fn ptr_name(r: io::Result<Vec<u8>>) -> Option<(Vec<u8>, Vec<u8>)> {
    let p = r.ok()?;
    let wire = dns::ptr_answer(&p).ok()??;
    let dotted = dns::to_dotted(&wire);
    (!dotted.is_empty()).then_some((wire, dotted))
}

/// The child's signal mask: tcpserver's own at startup, SIGCHLD unblocked
/// (what 0.88's child ends up with).
pub fn child_mask() -> SigSet {
    let mut old = SigSet::empty();
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut old));
    old.remove(Signal::SIGCHLD);
    old
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_are_raw() {
        use nix::unistd::Pid;
        let p = Pid::from_raw(5);
        assert_eq!(raw_status(WaitStatus::Exited(p, 100)), Some((5, 25600)));
        assert_eq!(raw_status(WaitStatus::Exited(p, 111)), Some((5, 28416)));
        assert_eq!(
            raw_status(WaitStatus::Signaled(p, Signal::SIGKILL, false)),
            Some((5, 9))
        );
        assert_eq!(
            raw_status(WaitStatus::Signaled(p, Signal::SIGSEGV, true)),
            Some((5, 139))
        );
    }

    use crate::options::Verbosity;

    fn conn(local: &str, remote: &str) -> Conn {
        let sock = Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        Conn {
            sock,
            remote: remote.parse().unwrap(),
            local: Ok(local.parse().unwrap()),
        }
    }

    fn found(remote_host: Option<&[u8]>, info: Option<&[u8]>) -> Found {
        Found {
            local_host: Some(b"l.example".to_vec()),
            remote_host: remote_host.map(<[u8]>::to_vec),
            info: info.map(<[u8]>::to_vec),
            drop: None,
        }
    }

    /// The log bytes the child would write, its pid being 77.
    fn written(l: &ChildLog) -> String {
        let mut out = Vec::new();
        for p in l.parts() {
            match p {
                Part::Text(t) => out.extend_from_slice(t),
                Part::Pid => out.extend_from_slice(b"77"),
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ipv6_clients_count_as_their_64() {
        let k = |s: &str| counted_as(s.parse().unwrap()).to_string();
        assert_eq!(k("192.0.2.7"), "192.0.2.7");
        assert_eq!(k("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(k("2001:db8:a:b:c:d:e:f"), "2001:db8:a:b::");
        assert_eq!(k("2001:db8:a:b::"), "2001:db8:a:b::");
        assert_eq!(k("::1"), "::");
        assert_eq!(k("fe80::1"), "fe80::");
    }

    #[test]
    fn per_client_counts_ipv4_by_address_ipv6_by_64() {
        let mut c = ClientCounts::new(PerClient {
            max: 2,
            message: Vec::new(),
        });
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        // IPv4: each address its own count.
        assert_eq!(c.admit(ip("10.0.0.1")), Ok(1));
        assert_eq!(c.admit(ip("10.0.0.1")), Ok(2));
        assert_eq!(c.admit(ip("10.0.0.1")), Err(2));
        assert_eq!(c.admit(ip("10.0.0.2")), Ok(1));
        // IPv6: one count per /64, so a client cannot walk its /64.
        assert_eq!(c.admit(ip("2001:db8:1:2::1")), Ok(1));
        assert_eq!(c.admit(ip("2001:db8:1:2:ffff::9")), Ok(2));
        assert_eq!(c.admit(ip("2001:db8:1:2::3")), Err(2));
        assert_eq!(c.count(ip("2001:db8:1:2::77")), Some(2));
        assert_eq!(c.admit(ip("2001:db8:1:3::1")), Ok(1));
        c.release(ip("2001:db8:1:2::1"));
        assert_eq!(c.admit(ip("2001:db8:1:2::abcd")), Ok(2));
        c.pids.insert(7, ip("2001:db8:1:2::abcd"));
        c.ended(7);
        assert_eq!(c.count(ip("2001:db8:1:2::")), Some(1));
        c.release(ip("2001:db8:1:2::5"));
        assert_eq!(c.count(ip("2001:db8:1:2::")), None);
        assert!(c.live.len() == 3, "{:?}", c.live);
    }

    #[test]
    fn rules_decide_and_a_bad_cdb_drops() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.cdb");
        let client = |ip: &'static str| rules::Client {
            ip: ip.as_bytes(),
            host: None,
            info: None,
        };
        let mut w = rules::Watched::new(&p);
        // Missing: dropped, unless -X.
        let want = format!("unable to read {}: file does not exist", p.display());
        assert_eq!(
            judge(&mut w, false, &client("10.0.0.1")),
            Verdict::Drop(want.into_bytes())
        );
        assert_eq!(
            judge(&mut w, true, &client("10.0.0.1")),
            Verdict::Allow(Vec::new())
        );
        let cdb = rules::compile_bytes(b"10.0.0.1:deny\n10.:allow,A=\"b\"\n").unwrap();
        std::fs::write(&p, &cdb).unwrap();
        assert_eq!(judge(&mut w, false, &client("10.0.0.1")), Verdict::Deny);
        assert_eq!(
            judge(&mut w, false, &client("10.0.0.2")),
            Verdict::Allow(vec![(b"A".to_vec(), b"b".to_vec())])
        );
        assert_eq!(
            judge(&mut w, false, &client("11.0.0.1")),
            Verdict::Allow(Vec::new())
        );
        // Truncated: dropped even with -X.
        std::fs::write(&p, &cdb[..100]).unwrap();
        let want = format!("unable to read {}: protocol error", p.display());
        assert_eq!(
            judge(&mut w, true, &client("11.0.0.1")),
            Verdict::Drop(want.into_bytes())
        );
    }

    #[test]
    fn slow_rules_lookups_are_reported() {
        let p = std::path::Path::new("/etc/tcp.smtp.cdb");
        assert_eq!(slow_rules_warning(p, Duration::from_millis(999)), None);
        assert_eq!(
            slow_rules_warning(p, Duration::from_millis(1500)).as_deref(),
            Some("reading /etc/tcp.smtp.cdb took 1500 ms; connections waited meanwhile")
        );
    }

    #[test]
    fn environment_in_0_88_order_rules_last() {
        let c = conn("127.0.0.1:25", "127.0.0.2:4000");
        let f = found(None, Some(b"joe"));
        let ch = environment(
            &c,
            &f,
            Some(b"lo"),
            Some(3),
            &[(b"TCPREMOTEHOST".to_vec(), b"ruled".to_vec())],
        );
        let base = BaseEnv::from_vars([], &[]);
        let arr = ch.apply(&base);
        let got: Vec<_> = arr.iter().map(|e| e.to_str().unwrap()).collect();
        assert_eq!(
            got,
            [
                "PROTO=TCP",
                "TCPLOCALIP=127.0.0.1",
                "TCPLOCALPORT=25",
                "TCPLOCALHOST=l.example",
                "TCPREMOTEIP=127.0.0.2",
                "TCPREMOTEPORT=4000",
                "TCPREMOTEINFO=joe",
                "TCPCONCURRENCY=3",
                "TCPREMOTEHOST=ruled",
            ]
        );
    }

    #[test]
    fn child_log_lines_as_0_88() {
        let c = conn("127.0.0.1:25", "127.0.0.2:4000");
        let shown = Shown::of(&c);
        let f = found(Some(b"r:h"), None);
        let verbose = Log {
            verbosity: Verbosity::Verbose,
        };
        let errors = Log {
            verbosity: Verbosity::Errors,
        };
        let quiet = Log {
            verbosity: Verbosity::Quiet,
        };
        let ok = Verdict::Allow(Vec::new());
        assert_eq!(
            written(&ChildLog::new(verbose, &ok, &shown, &f)),
            "tcpserver: pid 77 from 127.0.0.2\n\
             tcpserver: ok 77 l.example:127.0.0.1:25 r?h:127.0.0.2::4000\n"
        );
        assert_eq!(
            written(&ChildLog::new(verbose, &Verdict::Deny, &shown, &f)),
            "tcpserver: pid 77 from 127.0.0.2\n\
             tcpserver: deny 77 l.example:127.0.0.1:25 r?h:127.0.0.2::4000\n"
        );
        let over = Verdict::Over(b"ip connection limit:2 exceeded".to_vec());
        assert_eq!(
            written(&ChildLog::new(verbose, &over, &shown, &f)),
            "tcpserver: pid 77 from 127.0.0.2\n\
             tcpserver: deny 77 l.example:127.0.0.1:25 r?h:127.0.0.2::4000 ip connection limit:2 exceeded\n"
        );
        assert_eq!(written(&ChildLog::new(errors, &over, &shown, &f)), "");
        let drop = Verdict::Drop(b"unable to read x: protocol error".to_vec());
        assert_eq!(
            written(&ChildLog::new(verbose, &drop, &shown, &f)),
            "tcpserver: pid 77 from 127.0.0.2\n\
             tcpserver: warning: dropping connection, unable to read x: protocol error\n"
        );
        assert_eq!(
            written(&ChildLog::new(errors, &drop, &shown, &f)),
            "tcpserver: warning: dropping connection, unable to read x: protocol error\n"
        );
        assert_eq!(written(&ChildLog::new(errors, &ok, &shown, &f)), "");
        assert_eq!(written(&ChildLog::new(quiet, &drop, &shown, &f)), "");
    }
}
