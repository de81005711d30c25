//! A non-blocking stub resolver with djb's behaviour (`dns_transmit.c`):
//! servers from `$DNSCACHEIP` or the `nameserver` lines of
//! `/etc/resolv.conf` (DNS only: `/etc/hosts` is never read), UDP rounds
//! with timeouts of 1, 3, 11 and 45 seconds over all servers, TCP when an
//! answer is truncated.
//!
//! A [`Query`] is a state machine the server's poll loop drives: it names
//! the descriptor to wait on and a deadline, and is called back when
//! either fires. Nothing here blocks, so a dead resolver delays only the
//! connections that wait for it, never the accept loop.
//!
//! Extension: a `$DNSCACHEIP` entry may name a port (`127.0.0.1:5353`,
//! `[::1]:5353`) and an IPv6 server; tests use this to run their own DNS
//! server on loopback without root.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant, SystemTime};

use nix::poll::PollFlags;
use socket2::{Domain, Socket, Type};

use crate::dns::{self, Verdict};

/// djb's UDP timeouts, one per round over all servers.
const DJB_TIMEOUTS: &[u64] = &[1, 3, 11, 45];
/// The round in which djb waits out a refusal or a server failure
/// instead of moving on (a restarting dnscache gets time to come back).
const DJB_PATIENT_ROUND: Option<usize> = Some(2);
/// The C library's defaults (`timeout:5 attempts:2`), which qmail's
/// tcp-env gets through `res_query`.
pub const LIBC_TIMEOUTS: &[u64] = &[5, 5];
/// djb's timeout for one TCP attempt.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_SERVERS: usize = 16;
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The servers in `$DNSCACHEIP`: addresses separated by spaces or commas,
/// each optionally with a port. `0.0.0.0` means 127.0.0.1 as in djb's code.
pub fn parse_dnscacheip(s: &str) -> Vec<SocketAddr> {
    s.split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .filter_map(parse_server)
        .map(localize)
        .take(MAX_SERVERS)
        .collect()
}

fn parse_server(t: &str) -> Option<SocketAddr> {
    if let Ok(sa) = t.parse::<SocketAddr>() {
        return Some(sa);
    }
    let t = t.trim_start_matches('[').trim_end_matches(']');
    t.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

fn localize(sa: SocketAddr) -> SocketAddr {
    if sa.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), sa.port())
    } else {
        sa
    }
}

/// The `nameserver` lines of a resolv.conf.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_ascii_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|a| {
            // A scope (fe80::1%eth0) is dropped: link-local servers are rare
            // and need the interface index we do not track.
            let a = a.split('%').next().unwrap_or(a);
            a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
        })
        .map(localize)
        .take(MAX_SERVERS)
        .collect()
}

/// A small PRNG for query ids (xorshift64*), seeded from the kernel.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut seed = [0u8; 8];
        let ok = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .is_ok();
        let mut s = u64::from_ne_bytes(seed);
        if !ok || s == 0 {
            let t = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            s = t ^ (u64::from(std::process::id()) << 32) | 1;
        }
        Rng(s)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Where queries go; rereads `/etc/resolv.conf` when it changes (at most
/// once a second), as each 0.88 child read it afresh.
#[derive(Debug)]
pub struct Resolver {
    fixed: Option<Vec<SocketAddr>>,
    servers: Vec<SocketAddr>,
    checked: Option<Instant>,
    mtime: Option<SystemTime>,
    rng: Rng,
    timeouts: &'static [u64],
    patient_round: Option<usize>,
}

impl Resolver {
    /// A resolver with another retry schedule, never waiting out a
    /// refusal (qmail's tcp-env: [`LIBC_TIMEOUTS`]).
    pub fn with_timeouts(dnscacheip: Option<&str>, timeouts: &'static [u64]) -> Resolver {
        let mut r = Resolver::new(dnscacheip);
        r.timeouts = timeouts;
        r.patient_round = None;
        r
    }

    /// `dnscacheip` is the value of `$DNSCACHEIP` at startup.
    pub fn new(dnscacheip: Option<&str>) -> Resolver {
        let fixed = dnscacheip.map(parse_dnscacheip);
        Resolver {
            fixed,
            servers: Vec::new(),
            checked: None,
            mtime: None,
            rng: Rng::new(),
            timeouts: DJB_TIMEOUTS,
            patient_round: DJB_PATIENT_ROUND,
        }
    }

    fn refresh(&mut self, now: Instant) {
        if let Some(f) = &self.fixed {
            if self.servers.is_empty() {
                self.servers = f.clone();
            }
        } else if self
            .checked
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.checked = Some(now);
            let mtime = std::fs::metadata(RESOLV_CONF)
                .and_then(|m| m.modified())
                .ok();
            if mtime != self.mtime || self.servers.is_empty() {
                self.mtime = mtime;
                self.servers = std::fs::read_to_string(RESOLV_CONF)
                    .map(|t| parse_resolv_conf(&t))
                    .unwrap_or_default();
            }
        }
        if self.servers.is_empty() {
            self.servers = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53)];
        }
    }

    /// Start asking for `qtype` records of `qname` (wire form).
    pub fn start(&mut self, qname: &[u8], qtype: u16, now: Instant) -> Query {
        self.refresh(now);
        let id = self.rng.next() as u16;
        let mut q = Query {
            packet: dns::query(id, qname, qtype),
            servers: self.servers.clone(),
            round: 0,
            server: 0,
            state: State::Idle,
            last_error: None,
            timeouts: self.timeouts,
            patient_round: self.patient_round,
        };
        q.next_udp(now, false);
        q
    }

    /// Look `qname` up and wait for the answer (startup only: resolving
    /// the host to bind).
    pub fn resolve_blocking(&mut self, qname: &[u8], qtype: u16) -> io::Result<Vec<u8>> {
        let mut q = self.start(qname, qtype, Instant::now());
        loop {
            if let Some(r) = q.result() {
                return r;
            }
            let now = Instant::now();
            let wait = q
                .deadline()
                .map_or(Duration::ZERO, |d| d.saturating_duration_since(now));
            if let Some((fd, ev)) = q.interest() {
                let mut fds = [nix::poll::PollFd::new(fd, ev)];
                let ms = wait.as_millis().min(60_000) as u16;
                match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            q.on_event(Instant::now());
        }
    }
}

#[derive(Debug)]
enum Tcp {
    Connecting,
    Writing(usize),
    Reading(Vec<u8>),
}

#[derive(Debug)]
enum State {
    Idle,
    Udp {
        sock: UdpSocket,
        deadline: Instant,
    },
    Tcp {
        sock: Socket,
        deadline: Instant,
        phase: Tcp,
    },
    Done(Option<io::Result<Vec<u8>>>),
}

/// One question in flight.
#[derive(Debug)]
pub struct Query {
    packet: Vec<u8>,
    servers: Vec<SocketAddr>,
    round: usize,
    server: usize,
    state: State,
    last_error: Option<io::Error>,
    timeouts: &'static [u64],
    patient_round: Option<usize>,
}

fn udp_socket(server: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = UdpSocket::bind(any)?;
    s.connect(server)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

impl Query {
    /// The answer, once there is one: the response packet, or why no
    /// server gave one.
    pub fn result(&mut self) -> Option<io::Result<Vec<u8>>> {
        match &mut self.state {
            State::Done(r) => r.take(),
            _ => None,
        }
    }

    /// The query has ended (see [`Query::result`]).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// The descriptor to poll and for what.
    pub fn interest(&self) -> Option<(BorrowedFd<'_>, PollFlags)> {
        match &self.state {
            State::Udp { sock, .. } => Some((sock.as_fd(), PollFlags::POLLIN)),
            State::Tcp { sock, phase, .. } => Some((
                sock.as_fd(),
                match phase {
                    Tcp::Connecting | Tcp::Writing(_) => PollFlags::POLLOUT,
                    Tcp::Reading(_) => PollFlags::POLLIN,
                },
            )),
            _ => None,
        }
    }

    /// When [`Query::on_event`] must be called even if nothing happened.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Udp { deadline, .. } | State::Tcp { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    fn finish(&mut self, r: io::Result<Vec<u8>>) {
        self.state = State::Done(Some(r));
    }

    fn fail(&mut self) {
        let e = self
            .last_error
            .take()
            .unwrap_or_else(|| io::Error::from_raw_os_error(libc::ETIMEDOUT));
        self.finish(Err(e));
    }

    /// Send over UDP to the next server (or the current one when
    /// `advance` is false and none was tried yet).
    fn next_udp(&mut self, now: Instant, advance: bool) {
        if advance {
            self.server += 1;
        }
        while self.round < self.timeouts.len() {
            while self.server < self.servers.len() {
                let server = self.servers[self.server];
                let sent = udp_socket(server).and_then(|s| {
                    let n = s.send(&self.packet)?;
                    if n != self.packet.len() {
                        return Err(io::Error::from_raw_os_error(libc::EPROTO));
                    }
                    Ok(s)
                });
                match sent {
                    Ok(sock) => {
                        let deadline = now + Duration::from_secs(self.timeouts[self.round]);
                        self.state = State::Udp { sock, deadline };
                        return;
                    }
                    Err(e) => self.last_error = Some(e),
                }
                self.server += 1;
            }
            self.round += 1;
            self.server = 0;
        }
        self.fail();
    }

    fn next_tcp(&mut self, now: Instant, first: bool) {
        self.server = if first { 0 } else { self.server + 1 };
        while self.server < self.servers.len() {
            let server = self.servers[self.server];
            let started =
                Socket::new(Domain::for_address(server), Type::STREAM, None).and_then(|s| {
                    s.set_nonblocking(true)?;
                    match s.connect(&server.into()) {
                        Ok(()) => Ok(s),
                        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(s),
                        Err(e) => Err(e),
                    }
                });
            match started {
                Ok(sock) => {
                    self.state = State::Tcp {
                        sock,
                        deadline: now + TCP_TIMEOUT,
                        phase: Tcp::Connecting,
                    };
                    return;
                }
                Err(e) => self.last_error = Some(e),
            }
            self.server += 1;
        }
        self.fail();
    }

    /// The descriptor is ready or the deadline passed: make progress.
    pub fn on_event(&mut self, now: Instant) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => self.fail(),
            State::Done(r) => self.state = State::Done(r),
            State::Udp { sock, deadline } => self.udp_event(sock, deadline, now),
            State::Tcp {
                sock,
                deadline,
                phase,
            } => self.tcp_event(sock, deadline, phase, now),
        }
    }

    fn udp_event(&mut self, sock: UdpSocket, deadline: Instant, now: Instant) {
        let mut buf = [0u8; 4096];
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => match dns::judge(&buf[..n], &self.packet) {
                    Verdict::Irrelevant => continue,
                    Verdict::WantsTcp => return self.next_tcp(now, true),
                    Verdict::ServerFailed => {
                        self.last_error = Some(io::Error::from_raw_os_error(libc::EAGAIN));
                        // djb waits out the third round rather than skip.
                        if self.patient_round == Some(self.round) {
                            continue;
                        }
                        return self.next_udp(now, true);
                    }
                    Verdict::Answer => return self.finish(Ok(buf[..n].to_vec())),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let refused = e.raw_os_error() == Some(libc::ECONNREFUSED);
                    self.last_error = Some(e);
                    if refused && self.patient_round == Some(self.round) {
                        break;
                    }
                    return self.next_udp(now, true);
                }
            }
        }
        if now >= deadline {
            self.last_error
                .get_or_insert_with(|| io::Error::from_raw_os_error(libc::ETIMEDOUT));
            return self.next_udp(now, true);
        }
        self.state = State::Udp { sock, deadline };
    }

    fn tcp_event(&mut self, mut sock: Socket, deadline: Instant, phase: Tcp, now: Instant) {
        let mut phase = phase;
        loop {
            match phase {
                Tcp::Connecting => match sock.take_error() {
                    Ok(None) => match sock.peer_addr() {
                        Ok(_) => phase = Tcp::Writing(0),
                        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => break,
                        Err(e) => return self.tcp_failed(e, now),
                    },
                    Ok(Some(e)) | Err(e) => return self.tcp_failed(e, now),
                },
                Tcp::Writing(off) => {
                    let mut framed = Vec::with_capacity(self.packet.len() + 2);
                    framed.extend_from_slice(&(self.packet.len() as u16).to_be_bytes());
                    framed.extend_from_slice(&self.packet);
                    match sock.write(&framed[off..]) {
                        Ok(n) if off + n == framed.len() => phase = Tcp::Reading(Vec::new()),
                        Ok(n) => phase = Tcp::Writing(off + n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            phase = Tcp::Writing(off);
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                            phase = Tcp::Writing(off)
                        }
                        Err(e) => return self.tcp_failed(e, now),
                    }
                }
                Tcp::Reading(mut got) => {
                    let mut buf = [0u8; 4096];
                    match sock.read(&mut buf) {
                        Ok(0) => {
                            return self
                                .tcp_failed(io::Error::from_raw_os_error(libc::EPROTO), now);
                        }
                        Ok(n) => {
                            got.extend_from_slice(&buf[..n]);
                            if got.len() >= 2 {
                                let want = usize::from(u16::from_be_bytes([got[0], got[1]])) + 2;
                                if got.len() >= want {
                                    let p = &got[2..want];
                                    return match dns::judge(p, &self.packet) {
                                        Verdict::Answer => self.finish(Ok(p.to_vec())),
                                        _ => self.tcp_failed(
                                            io::Error::from_raw_os_error(libc::EPROTO),
                                            now,
                                        ),
                                    };
                                }
                            }
                            phase = Tcp::Reading(got);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            phase = Tcp::Reading(got);
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                            phase = Tcp::Reading(got)
                        }
                        Err(e) => return self.tcp_failed(e, now),
                    }
                }
            }
        }
        if now >= deadline {
            return self.tcp_failed(io::Error::from_raw_os_error(libc::ETIMEDOUT), now);
        }
        self.state = State::Tcp {
            sock,
            deadline,
            phase,
        };
    }

    fn tcp_failed(&mut self, e: io::Error, now: Instant) {
        self.last_error = Some(e);
        self.next_tcp(now, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnscacheip_forms() {
        let s = parse_dnscacheip("127.0.0.1 10.0.0.2:5353,[::1]:54 ::2 0.0.0.0");
        let want: Vec<SocketAddr> = vec![
            "127.0.0.1:53".parse().unwrap(),
            "10.0.0.2:5353".parse().unwrap(),
            "[::1]:54".parse().unwrap(),
            "[::2]:53".parse().unwrap(),
            "127.0.0.1:53".parse().unwrap(),
        ];
        assert_eq!(s, want);
    }

    #[test]
    fn resolv_conf_nameservers() {
        let s = parse_resolv_conf(
            "# x\nsearch a.b\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\n",
        );
        assert_eq!(
            s,
            vec![
                "10.255.255.53:53".parse::<SocketAddr>().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
    }

    /// A UDP server on loopback that answers each query with `answer(q)`.
    fn serve_once(answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static) -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let addr = s.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let _ = s.send_to(&answer(&buf[..n]), from);
            }
        });
        addr
    }

    #[test]
    fn a_query_is_answered_over_udp() {
        let addr = serve_once(|q| {
            let mut p = q.to_vec();
            p[2] |= 0x80;
            p[7] = 1;
            p.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 1, 0, 3, 1, b'x', 0]);
            p
        });
        let mut r = Resolver::new(Some(&addr.to_string()));
        let name = dns::reverse_name("127.0.0.1".parse().unwrap());
        let p = r.resolve_blocking(&name, dns::T_PTR).unwrap();
        let got = dns::ptr_answer(&p).unwrap().unwrap();
        assert_eq!(dns::to_dotted(&got), b"x");
    }

    #[test]
    fn a_truncated_answer_is_asked_again_over_tcp() {
        use std::net::TcpListener;
        // UDP and TCP on the same port (retry if the TCP port is taken).
        let (udp, tcp) = (0..20)
            .find_map(|_| {
                let u = UdpSocket::bind("127.0.0.1:0").ok()?;
                let t = TcpListener::bind(u.local_addr().ok()?).ok()?;
                Some((u, t))
            })
            .expect("a port free for UDP and TCP");
        let addr = udp.local_addr().unwrap();
        let reply = |q: &[u8], tc: bool| {
            let mut p = q.to_vec();
            p[2] |= 0x80 | if tc { 2 } else { 0 };
            if !tc {
                p[7] = 1;
                p.extend_from_slice(&[
                    0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 1, 0, 5, 3, b'b', b'i', b'g', 0,
                ]);
            }
            p
        };
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = udp.recv_from(&mut buf).unwrap();
            udp.send_to(&reply(&buf[..n], true), from).unwrap();
            let (mut c, _) = tcp.accept().unwrap();
            let mut len = [0u8; 2];
            c.read_exact(&mut len).unwrap();
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
            c.read_exact(&mut q).unwrap();
            let r = reply(&q, false);
            // Split the reply to exercise partial reads.
            c.write_all(&(r.len() as u16).to_be_bytes()[..1]).unwrap();
            c.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            c.write_all(&(r.len() as u16).to_be_bytes()[1..]).unwrap();
            c.write_all(&r).unwrap();
        });
        let mut r = Resolver::new(Some(&addr.to_string()));
        let name = dns::reverse_name("10.0.0.1".parse().unwrap());
        let p = r.resolve_blocking(&name, dns::T_PTR).unwrap();
        let got = dns::ptr_answer(&p).unwrap().unwrap();
        assert_eq!(dns::to_dotted(&got), b"big");
        t.join().unwrap();
    }
}
