//! A small authoritative DNS server on loopback for the tests, so no
//! test ever asks the machine's resolver.
//!
//! ```no_run
//! use e2e::dns::{DnsServer, Zone};
//! let zone = Zone::new()
//!     .mx("example.test", 10, "mx.example.test")
//!     .a("mx.example.test", [127, 0, 0, 2].into())
//!     .servfail("broken.test");
//! let dns = DnsServer::start(zone).unwrap();
//! // Point the program under test at dns.addr() (UDP and TCP, same port).
//! ```
//!
//! It answers A, AAAA, MX, CNAME, PTR and TXT from the [`Zone`]; follows
//! CNAMEs within the zone; says NXDOMAIN for a name it has nothing
//! for and NOERROR with no answer (NODATA) for a name that has other
//! types; SERVFAIL, silence or a late answer for names set up that way.
//! Every query is logged ([`DnsServer::queries`]) so a test can check
//! what was asked. The server's threads stop when it is dropped.
//!
//! Debian's tools (djb's resolver) ask only port 53 of `$DNSCACHEIP`:
//! [`DnsServer::start_at`] serves on a chosen address and port, and
//! [`DnsServer::dnscacheip`] says how to name the server there.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const TYPE_PTR: u16 = 12;
const TYPE_MX: u16 = 15;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;
const TYPE_ANY: u16 = 255;

const NOERROR: u8 = 0;
const SERVFAIL: u8 = 2;
const NXDOMAIN: u8 = 3;

/// Record data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// Preference and exchange.
    Mx(u16, String),
    /// Canonical name.
    Cname(String),
    /// Pointer (reverse lookups).
    Ptr(String),
    /// One text string.
    Txt(String),
    /// Character-strings of raw bytes, each at most 255 long (odd bytes
    /// for DNSBL texts).
    TxtBytes(Vec<Vec<u8>>),
}

impl Data {
    fn rtype(&self) -> u16 {
        match self {
            Data::A(_) => TYPE_A,
            Data::Aaaa(_) => TYPE_AAAA,
            Data::Mx(..) => TYPE_MX,
            Data::Cname(_) => TYPE_CNAME,
            Data::Ptr(_) => TYPE_PTR,
            Data::Txt(_) | Data::TxtBytes(_) => TYPE_TXT,
        }
    }
}

/// What the server knows.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    records: Vec<(String, Data)>,
    servfail: Vec<String>,
    silent: Vec<String>,
    delayed: Vec<(String, Duration)>,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Zone {
        Zone::default()
    }

    /// Add a record.
    pub fn record(mut self, name: &str, data: Data) -> Zone {
        self.records.push((norm(name), data));
        self
    }

    /// An A record.
    pub fn a(self, name: &str, ip: Ipv4Addr) -> Zone {
        self.record(name, Data::A(ip))
    }

    /// An AAAA record.
    pub fn aaaa(self, name: &str, ip: Ipv6Addr) -> Zone {
        self.record(name, Data::Aaaa(ip))
    }

    /// An address record of the right family.
    pub fn ip(self, name: &str, ip: IpAddr) -> Zone {
        match ip {
            IpAddr::V4(v4) => self.a(name, v4),
            IpAddr::V6(v6) => self.aaaa(name, v6),
        }
    }

    /// An MX record.
    pub fn mx(self, name: &str, pref: u16, exchange: &str) -> Zone {
        self.record(name, Data::Mx(pref, exchange.to_string()))
    }

    /// A CNAME record.
    pub fn cname(self, name: &str, target: &str) -> Zone {
        self.record(name, Data::Cname(target.to_string()))
    }

    /// A PTR record for `ip` (the in-addr.arpa / ip6.arpa name is made
    /// here).
    pub fn ptr(self, ip: IpAddr, target: &str) -> Zone {
        let name = reverse_name(ip);
        self.record(&name, Data::Ptr(target.to_string()))
    }

    /// A TXT record.
    pub fn txt(self, name: &str, text: &str) -> Zone {
        self.record(name, Data::Txt(text.to_string()))
    }

    /// A TXT record of raw character-strings.
    pub fn txt_bytes(self, name: &str, strings: &[&[u8]]) -> Zone {
        self.record(
            name,
            Data::TxtBytes(strings.iter().map(|s| s.to_vec()).collect()),
        )
    }

    /// Answer SERVFAIL for every query about `name`.
    pub fn servfail(mut self, name: &str) -> Zone {
        self.servfail.push(norm(name));
        self
    }

    /// Never answer queries about `name` (the client times out).
    pub fn silent(mut self, name: &str) -> Zone {
        self.silent.push(norm(name));
        self
    }

    /// Answer queries about `name` only `after` this long (a slow
    /// resolver); other queries are answered meanwhile.
    pub fn delay(mut self, name: &str, after: Duration) -> Zone {
        self.delayed.push((norm(name), after));
        self
    }

    /// How long to hold the answer to query `q`.
    fn delay_for(&self, q: &[u8]) -> Option<Duration> {
        let (name, _, _) = question(q)?;
        self.delayed
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, d)| d)
    }
}

/// The reverse-lookup name of `ip`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// A running server; stopped when dropped.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<(String, u16)>>>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    zone: Zone,
    log: Arc<Mutex<Vec<(String, u16)>>>,
}

impl DnsServer {
    /// Serve `zone` on 127.0.0.1, UDP and TCP on the same free port.
    pub fn start(zone: Zone) -> io::Result<DnsServer> {
        DnsServer::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), zone)
    }

    /// Serve `zone` on `ip` (a loopback address), UDP and TCP on the
    /// same free port.
    pub fn start_on(ip: IpAddr, zone: Zone) -> io::Result<DnsServer> {
        DnsServer::start_at(SocketAddr::new(ip, 0), zone)
    }

    /// Serve `zone` on `addr` (a loopback address), UDP and TCP; port 0
    /// picks one free for both. Port 53 (root only) is where Debian's
    /// tools look.
    pub fn start_at(addr: SocketAddr, zone: Zone) -> io::Result<DnsServer> {
        assert!(addr.ip().is_loopback(), "tests serve DNS on loopback only");
        let (udp, tcp, addr) = if addr.port() != 0 {
            let udp = UdpSocket::bind(addr)?;
            (udp, TcpListener::bind(addr)?, addr)
        } else {
            // UDP on port 0, then TCP on the port it got; another process
            // may hold that TCP port, so try a few times.
            let mut bound = None;
            for _ in 0..20 {
                let udp = UdpSocket::bind(addr)?;
                let addr = udp.local_addr()?;
                if let Ok(tcp) = TcpListener::bind(addr) {
                    bound = Some((udp, tcp, addr));
                    break;
                }
            }
            bound.ok_or_else(|| io::Error::other("no free UDP+TCP port"))?
        };
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            zone,
            log: log.clone(),
        });
        let mut threads = Vec::new();
        {
            let (stop, shared) = (stop.clone(), shared.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some(resp) = answer(&shared, &buf[..n]) else {
                        continue;
                    };
                    let resp = truncate_for_udp(resp);
                    match shared.zone.delay_for(&buf[..n]) {
                        None => {
                            let _ = udp.send_to(&resp, from);
                        }
                        // Late, from another thread: the loop goes on
                        // answering other queries meanwhile.
                        Some(after) => {
                            if let Ok(udp) = udp.try_clone() {
                                std::thread::spawn(move || {
                                    std::thread::sleep(after);
                                    let _ = udp.send_to(&resp, from);
                                });
                            }
                        }
                    }
                }
            }));
        }
        {
            let (stop, shared) = (stop.clone(), shared.clone());
            threads.push(std::thread::spawn(move || {
                for conn in tcp.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(c) = conn {
                        let shared = shared.clone();
                        std::thread::spawn(move || serve_tcp(c, &shared));
                    }
                }
            }));
        }
        Ok(DnsServer {
            addr,
            stop,
            log,
            threads,
        })
    }

    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `$DNSCACHEIP` value naming this server: the address alone on
    /// port 53 (as djb's resolver reads it), else with the port (our
    /// programs' extension).
    pub fn dnscacheip(&self) -> String {
        if self.addr.port() == 53 {
            self.addr.ip().to_string()
        } else {
            self.addr.to_string()
        }
    }

    /// Every query so far: (name without the final dot, lower case; type).
    pub fn queries(&self) -> Vec<(String, u16)> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake both loops; they see the flag and return.
        if let Ok(u) = UdpSocket::bind(SocketAddr::new(self.addr.ip(), 0)) {
            let _ = u.send_to(b"stop", self.addr);
        }
        let _ = TcpStream::connect(self.addr);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve_tcp(mut c: TcpStream, shared: &Shared) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        let mut len = [0u8; 2];
        if c.read_exact(&mut len).is_err() {
            return;
        }
        let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if c.read_exact(&mut q).is_err() {
            return;
        }
        let Some(resp) = answer(shared, &q) else {
            continue;
        };
        if let Some(after) = shared.zone.delay_for(&q) {
            std::thread::sleep(after);
        }
        let mut out = (resp.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&resp);
        if c.write_all(&out).is_err() {
            return;
        }
    }
}

/// Over 512 bytes: send the header and question only, with TC set, so
/// the client asks again over TCP.
fn truncate_for_udp(resp: Vec<u8>) -> Vec<u8> {
    if resp.len() <= 512 {
        return resp;
    }
    let qend = question(&resp).map_or(12, |(_, _, end)| end);
    let mut t = resp[..qend].to_vec();
    t[2] |= 0x02;
    t[6..12].fill(0);
    t
}

/// The question's name, type and where it ends.
fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(i)?);
        if len == 0 {
            i += 1;
            break;
        }
        if len & 0xc0 != 0 || labels.len() > 127 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + len)?).to_ascii_lowercase());
        i += 1 + len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    q.get(i + 3)?;
    Some((labels.join("."), qtype, i + 4))
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

fn put_record(out: &mut Vec<u8>, name: &str, data: &Data) {
    put_name(out, name);
    out.extend_from_slice(&data.rtype().to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // IN
    out.extend_from_slice(&60u32.to_be_bytes()); // TTL
    let mut rdata = Vec::new();
    match data {
        Data::A(ip) => rdata.extend_from_slice(&ip.octets()),
        Data::Aaaa(ip) => rdata.extend_from_slice(&ip.octets()),
        Data::Mx(pref, ex) => {
            rdata.extend_from_slice(&pref.to_be_bytes());
            put_name(&mut rdata, ex);
        }
        Data::Cname(t) | Data::Ptr(t) => put_name(&mut rdata, t),
        Data::Txt(t) => {
            for chunk in t.as_bytes().chunks(255) {
                rdata.push(chunk.len() as u8);
                rdata.extend_from_slice(chunk);
            }
        }
        Data::TxtBytes(strings) => {
            for st in strings {
                let st = &st[..st.len().min(255)];
                rdata.push(st.len() as u8);
                rdata.extend_from_slice(st);
            }
        }
    }
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
}

fn put_soa(out: &mut Vec<u8>) {
    put_name(out, "test");
    out.extend_from_slice(&TYPE_SOA.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&60u32.to_be_bytes());
    let mut rdata = Vec::new();
    put_name(&mut rdata, "ns.test");
    put_name(&mut rdata, "hostmaster.test");
    for v in [1u32, 3600, 600, 86400, 60] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
}

/// The response to query `q`, or `None` to stay silent.
fn answer(shared: &Shared, q: &[u8]) -> Option<Vec<u8>> {
    let (name, qtype, qend) = question(q)?;
    if q[2] & 0x80 != 0 {
        return None; // a response, not a query
    }
    shared
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((name.clone(), qtype));
    let zone = &shared.zone;
    if zone.silent.contains(&name) {
        return None;
    }
    let mut answers: Vec<(String, Data)> = Vec::new();
    let rcode = if zone.servfail.contains(&name) {
        SERVFAIL
    } else {
        // Follow CNAMEs within the zone, at most 8 links.
        let mut current = name.clone();
        let mut rcode = NXDOMAIN;
        for _ in 0..8 {
            let here: Vec<&Data> = zone
                .records
                .iter()
                .filter(|(n, _)| *n == current)
                .map(|(_, d)| d)
                .collect();
            if here.is_empty() {
                break;
            }
            rcode = NOERROR;
            let cname = here.iter().find_map(|d| match d {
                Data::Cname(t) => Some(t.clone()),
                _ => None,
            });
            match cname {
                Some(t) if qtype != TYPE_CNAME => {
                    answers.push((current.clone(), Data::Cname(t.clone())));
                    current = norm(&t);
                }
                _ => {
                    for d in here {
                        if d.rtype() == qtype || qtype == TYPE_ANY {
                            answers.push((current.clone(), d.clone()));
                        }
                    }
                    break;
                }
            }
        }
        rcode
    };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&q[..2]); // id
    let rd = q[2] & 0x01;
    let opcode = q[2] & 0x78;
    out.push(0x80 | opcode | 0x04 | rd); // QR, AA
    out.push(0x80 | rcode); // RA
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    let soa = answers.is_empty() && rcode != SERVFAIL;
    out.extend_from_slice(&u16::from(soa).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&q[12..qend]);
    for (n, d) in &answers {
        put_record(&mut out, n, d);
    }
    if soa {
        put_soa(&mut out);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        put_name(&mut q, name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    fn ask(server: &DnsServer, name: &str, qtype: u16) -> Vec<u8> {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        u.send_to(&query(name, qtype), server.addr()).unwrap();
        let mut buf = [0u8; 4096];
        let (n, _) = u.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn answers_nxdomain_nodata_and_records() {
        let s = DnsServer::start(
            Zone::new()
                .mx("Example.Test.", 10, "mx.example.test")
                .a("mx.example.test", Ipv4Addr::new(127, 0, 0, 2))
                .cname("alias.test", "mx.example.test")
                .servfail("bad.test"),
        )
        .unwrap();
        let r = ask(&s, "example.test", TYPE_MX);
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0f, NOERROR);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        let r = ask(&s, "example.test", TYPE_A);
        assert_eq!((r[3] & 0x0f, r[7]), (NOERROR, 0), "NODATA");
        let r = ask(&s, "nothing.test", TYPE_A);
        assert_eq!(r[3] & 0x0f, NXDOMAIN);
        let r = ask(&s, "bad.test", TYPE_A);
        assert_eq!(r[3] & 0x0f, SERVFAIL);
        let r = ask(&s, "alias.test", TYPE_A);
        assert_eq!(r[7], 2, "CNAME and the A it points to");
        assert!(r.ends_with(&[127, 0, 0, 2]));
        assert_eq!(
            s.queries()[0],
            ("example.test".to_string(), TYPE_MX),
            "queries are logged"
        );
        // TCP answers the same.
        let mut c = TcpStream::connect(s.addr()).unwrap();
        let q = query("mx.example.test", TYPE_A);
        let mut msg = (q.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(&q);
        c.write_all(&msg).unwrap();
        let mut len = [0u8; 2];
        c.read_exact(&mut len).unwrap();
        let mut resp = vec![0u8; usize::from(u16::from_be_bytes(len))];
        c.read_exact(&mut resp).unwrap();
        assert!(resp.ends_with(&[127, 0, 0, 2]));
    }

    #[test]
    fn a_delayed_name_is_answered_late_and_others_meanwhile() {
        let s = DnsServer::start(
            Zone::new()
                .a("slow.test", Ipv4Addr::new(127, 0, 0, 3))
                .delay("Slow.Test", Duration::from_millis(300))
                .a("fast.test", Ipv4Addr::new(127, 0, 0, 4)),
        )
        .unwrap();
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let t = std::time::Instant::now();
        u.send_to(&query("slow.test", TYPE_A), s.addr()).unwrap();
        u.send_to(&query("fast.test", TYPE_A), s.addr()).unwrap();
        let mut buf = [0u8; 512];
        let (n, _) = u.recv_from(&mut buf).unwrap();
        assert!(buf[..n].ends_with(&[127, 0, 0, 4]), "the fast one first");
        let (n, _) = u.recv_from(&mut buf).unwrap();
        assert!(buf[..n].ends_with(&[127, 0, 0, 3]));
        assert!(t.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn dnscacheip_names_the_port_unless_53() {
        let s = DnsServer::start(Zone::new()).unwrap();
        assert_eq!(s.dnscacheip(), s.addr().to_string());
        if nix::unistd::Uid::effective().is_root() {
            let ip = crate::net::unique_loopback();
            let s = DnsServer::start_at(SocketAddr::new(ip.into(), 53), Zone::new()).unwrap();
            assert_eq!(s.dnscacheip(), ip.to_string());
            assert_eq!(ask(&s, "x.test", TYPE_A)[3] & 0x0f, NXDOMAIN);
        }
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.1".parse().unwrap()),
            "1.2.0.192.in-addr.arpa"
        );
        assert!(reverse_name("::1".parse().unwrap()).starts_with("1.0.0.0."));
        assert!(reverse_name("::1".parse().unwrap()).ends_with(".ip6.arpa"));
    }
}
