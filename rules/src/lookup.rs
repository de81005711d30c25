//! Looking a client up in a rules cdb: which keys, in which order.
//!
//! The cdb is opened afresh for every lookup, so a file `tcprules` has
//! just renamed into place counts from the next connection. It is read
//! with `pread`: the header, then one small window per key tried
//! ([`crate::cdb_read::FileSource`]); measured cheaper here than mapping
//! the file per lookup (examples/lookup_timing.rs prints both). Keys are
//! tried in this order; the first one present wins and its whole record
//! applies (nothing is merged):
//!
//! 1. `INFO@IP`, then for IPv6 `INFO@COMPRESSED` (when that differs) and
//!    `INFO@EXPANDED` (only with TCPREMOTEINFO, which may be empty: `@IP`)
//! 2. `INFO@=HOST` (with TCPREMOTEINFO and TCPREMOTEHOST)
//! 3. `IP` as given; for IPv6 also its compressed form when that differs
//!    (Debian's ucspi-tcp-ipv6 keys) and its expanded form (ucspi-tcp6's
//!    and ours)
//! 4. `=HOST`
//! 5. every prefix of `IP` ending in `.` (or, for IPv6, `:` as Debian's
//!    ucspi-tcp-ipv6 writes them), longest first
//! 6. CIDR networks holding the address, longest prefix first: `_` keys
//!    /32 to /1 for IPv4, `^` keys /128 to /1 for IPv6
//! 7. `=.SUFFIX` for every suffix of HOST starting with a dot, longest
//!    first, then `=`
//! 8. the empty key
//!
//! Steps 1 to 5, 7 and 8 are ucspi-tcp 0.88's `rules.c`, byte for byte for
//! IPv4: an exact address or dotted prefix beats any CIDR network, as in
//! ucspi-tcp6.

use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use ipnet::IpNet;

use crate::cdb_read::{Cdb, FileSource, Source, hash, hash_from};
use crate::netindex::{Lengths, NetIndex};
use crate::{Client, Decision, cidr, data};

/// The record that decided a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The cdb key that was found.
    pub key: Vec<u8>,
    /// The key as tcprulescheck shows it: the key itself, except that an
    /// expanded IPv6 key is shown compressed (`::1`, `joe@::1`) and a CIDR
    /// key as its network (`10.0.0.0/8`, `2001:db8::/32`).
    pub shown: Vec<u8>,
    /// The record's data (see [`crate::data`]).
    pub data: Vec<u8>,
}

impl Match {
    /// What tcpserver does with this record.
    pub fn decision(&self) -> Decision {
        data::decide(&self.data)
    }
}

/// Look `client` up in the cdb at `path`, opened for this lookup only.
///
/// `Decision::NotFound` when no key matched (tcpserver then allows the
/// client with no variables). A missing, unreadable or corrupt cdb is an
/// `io::Error` carrying the errno djb's code would report (ENOENT, EACCES,
/// EPROTO for a truncated file, EINVAL for an empty one).
pub fn lookup(path: &Path, client: &Client<'_>) -> io::Result<Decision> {
    let src = FileSource::open(path)?;
    let hit = search(&mut Cdb::new(src), client, Lengths::ALL)?;
    Ok(hit.map_or(Decision::NotFound, |h| data::decide(&h.data)))
}

/// [`lookup`] with a [`NetIndex`] of the file, made earlier by a
/// long-running caller: only the network lengths the file has are tried,
/// if the file opened now is the one indexed (else all of them, as
/// [`lookup`]). The answer is always [`lookup`]'s.
pub fn lookup_indexed(path: &Path, client: &Client<'_>, index: &NetIndex) -> io::Result<Decision> {
    let src = FileSource::open(path)?;
    let lengths = match src.metadata() {
        Ok(m) => index.lengths_for(&m),
        Err(_) => Lengths::ALL,
    };
    let hit = search(&mut Cdb::new(src), client, lengths)?;
    Ok(hit.map_or(Decision::NotFound, |h| data::decide(&h.data)))
}

/// A rules cdb that one long-running process (tcpserver's parent) looks
/// clients up in again and again, keeping a [`NetIndex`] of it.
///
/// Every lookup still opens the file afresh, so a cdb `tcprules` has just
/// renamed into place counts from the next connection. When the file
/// opened is not the one indexed (first use, or recompiled since), it is
/// scanned once, in a thread of its own, through a duplicate of the
/// descriptor just opened: a lookup never waits for a scan (a huge cdb,
/// or a slow disk, would stall every connection of a single-threaded
/// caller). Until the new index arrives, lookups try every network length;
/// afterwards, a client that matches no rule costs only the probes for
/// lengths the file really has, instead of all 32 (128 for IPv6). The
/// answers are always [`lookup`]'s. One scan runs at a time; a file whose
/// scan failed is not scanned again until it changes.
///
/// The scan thread only reads the file; a signal may be delivered to it,
/// which a self-pipe handler does not mind.
#[derive(Debug)]
pub struct Watched {
    path: PathBuf,
    index: Option<NetIndex>,
    scan: Option<Scan>,
    /// The file whose scan failed (a broken cdb), not to be scanned again.
    failed: Option<NetIndex>,
}

/// A scan under way in its own thread.
#[derive(Debug)]
struct Scan {
    rx: mpsc::Receiver<io::Result<NetIndex>>,
    /// What the scanned file was when the scan started (its lengths are
    /// meaningless), to tell a failure of which file it was.
    of: NetIndex,
}

impl Watched {
    /// Rules at `path`; nothing is read until the first lookup.
    pub fn new(path: impl Into<PathBuf>) -> Watched {
        Watched {
            path: path.into(),
            index: None,
            scan: None,
            failed: None,
        }
    }

    /// The cdb's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the index is of the file as it was at the last lookup
    /// (tests; a caller never needs to know).
    pub fn is_indexed(&mut self) -> bool {
        self.collect();
        self.index.is_some() && self.scan.is_none()
    }

    /// Take what a finished scan found.
    fn collect(&mut self) {
        let Some(scan) = &self.scan else {
            return;
        };
        match scan.rx.try_recv() {
            Err(mpsc::TryRecvError::Empty) => {}
            Ok(Ok(ix)) => {
                self.index = Some(ix);
                self.scan = None;
            }
            Ok(Err(_)) | Err(mpsc::TryRecvError::Disconnected) => {
                self.failed = self.scan.take().map(|s| s.of);
            }
        }
    }

    /// Start scanning `src`'s file, unless a scan runs or it failed.
    fn start_scan(&mut self, src: &FileSource, m: &std::fs::Metadata) {
        if self.scan.is_some() || self.failed.as_ref().is_some_and(|f| f.is_of(m)) {
            return;
        }
        let Ok(file) = src.file().try_clone() else {
            return;
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("rules-index".into())
            .spawn(move || {
                let _ = tx.send(NetIndex::scan_file(&file));
            });
        if spawned.is_ok() {
            self.scan = Some(Scan {
                rx,
                of: NetIndex::identity(m),
            });
        }
    }

    /// Look `client` up, as [`lookup`].
    pub fn lookup(&mut self, client: &Client<'_>) -> io::Result<Decision> {
        self.collect();
        let src = FileSource::open(&self.path)?;
        let lengths = match src.metadata() {
            Ok(m) => match &self.index {
                Some(ix) if ix.is_of(&m) => ix.lengths(),
                _ => {
                    self.start_scan(&src, &m);
                    Lengths::ALL
                }
            },
            Err(_) => Lengths::ALL,
        };
        let hit = search(&mut Cdb::new(src), client, lengths)?;
        Ok(hit.map_or(Decision::NotFound, |h| data::decide(&h.data)))
    }
}

/// Like [`lookup`], but return the matching key and its raw data (for
/// tcprulescheck); `None` when nothing matched.
pub fn find(path: &Path, client: &Client<'_>) -> io::Result<Option<Match>> {
    let src = FileSource::open(path)?;
    let hit = search(&mut Cdb::new(src), client, Lengths::ALL)?;
    Ok(hit.map(Hit::into_match))
}

/// [`find`] on the bytes of a cdb already in memory.
pub fn find_in(cdb: &[u8], client: &Client<'_>) -> io::Result<Option<Match>> {
    Ok(search(&mut Cdb::new(cdb), client, Lengths::ALL)?.map(Hit::into_match))
}

/// How a key was made, to show it readably.
#[derive(Debug)]
enum Form {
    Text,
    /// `[INFO@]EXPANDED`: the length of `INFO@` and the address.
    Expanded(usize, Ipv6Addr),
    Net(IpNet),
}

struct Hit {
    key: Vec<u8>,
    form: Form,
    data: Vec<u8>,
}

impl Hit {
    fn into_match(self) -> Match {
        Match {
            shown: self.shown(),
            key: self.key,
            data: self.data,
        }
    }

    fn shown(&self) -> Vec<u8> {
        match &self.form {
            Form::Text => self.key.clone(),
            Form::Expanded(info, addr) => {
                let mut s = self.key[..*info].to_vec();
                s.extend_from_slice(addr.to_string().as_bytes());
                s
            }
            Form::Net(net) => net.to_string().into_bytes(),
        }
    }
}

fn search<S: Source>(
    cdb: &mut Cdb<S>,
    c: &Client<'_>,
    lengths: Lengths,
) -> io::Result<Option<Hit>> {
    let ip = c.ip;
    let colon = ip.contains(&b':');
    let v6 = if colon { cidr::parse_v6(ip) } else { None };
    let v4 = if colon { None } else { cidr::parse_v4(ip) };
    let expanded = v6.map(cidr::v6_expanded);
    // Debian's ucspi-tcp-ipv6 keys are the text tcpserver prints: the
    // compressed form, tried when the client's text differs from it.
    let compressed = v6
        .map(|a| a.to_string().into_bytes())
        .filter(|c| c.as_slice() != ip);
    let mut key: Vec<u8> = Vec::with_capacity(ip.len() + 160);

    macro_rules! try_key {
        ($form:expr) => {
            if let Some(data) = cdb.find(&key)? {
                return Ok(Some(Hit {
                    key: key.clone(),
                    form: $form,
                    data,
                }));
            }
        };
    }
    macro_rules! set {
        ($($part:expr),*) => {{
            key.clear();
            $(key.extend_from_slice($part);)*
        }};
    }

    // 1, 2: ident.
    if let Some(info) = c.info {
        set!(info, b"@", ip);
        try_key!(Form::Text);
        if let Some(t) = &compressed {
            set!(info, b"@", t);
            try_key!(Form::Text);
        }
        if let (Some(e), Some(a)) = (&expanded, v6) {
            set!(info, b"@", e);
            try_key!(Form::Expanded(info.len() + 1, a));
        }
        if let Some(host) = c.host {
            set!(info, b"@=", host);
            try_key!(Form::Text);
        }
    }

    // 3: the address.
    set!(ip);
    try_key!(Form::Text);
    if let Some(t) = &compressed {
        set!(t);
        try_key!(Form::Text);
    }
    if let (Some(e), Some(a)) = (&expanded, v6) {
        set!(e);
        try_key!(Form::Expanded(0, a));
    }

    // 4: the host name.
    if let Some(host) = c.host {
        set!(b"=", host);
        try_key!(Form::Text);
    }

    // 5: textual prefixes, as 0.88 (the whole address too when it ends in
    // a dot) and Debian's IPv6 patch (prefixes ending in a colon).
    for len in (1..=ip.len()).rev() {
        let last = ip[len - 1];
        if last == b'.' || (colon && last == b':') {
            set!(&ip[..len]);
            try_key!(Form::Text);
        }
    }

    // 6: CIDR networks.
    let net = match (v4, v6) {
        (Some(a), _) => {
            find_net(cdb, &cidr::v4_bits(a), lengths)?.map(|h| net_hit(h, IpAddr::V4(a)))
        }
        (_, Some(a)) => {
            find_net(cdb, &cidr::v6_bits(a), lengths)?.map(|h| net_hit(h, IpAddr::V6(a)))
        }
        _ => None,
    };
    if net.is_some() {
        return Ok(net);
    }

    // 7: domain suffixes, then any host name.
    if let Some(host) = c.host {
        for i in 0..host.len() {
            if host[i] == b'.' {
                set!(b"=", &host[i..]);
                try_key!(Form::Text);
            }
        }
        set!(b"=");
        try_key!(Form::Text);
    }

    // 8: the default.
    key.clear();
    try_key!(Form::Text);
    Ok(None)
}

/// Try the prefixes of a full bit-string key, longest first (at least one
/// bit), those `lengths` wants; the hashes of all prefixes come from one
/// pass.
fn find_net<'k, S: Source>(
    cdb: &mut Cdb<S>,
    bits: &'k [u8],
    lengths: Lengths,
) -> io::Result<Option<(&'k [u8], Vec<u8>)>> {
    let mut hashes = [0u32; 129];
    let mut h = hash(&bits[..1]);
    hashes[0] = h;
    for i in 1..bits.len() {
        h = hash_from(h, &bits[i..=i]);
        hashes[i] = h;
    }
    for n in (1..bits.len()).rev() {
        if !lengths.wants(&bits[..=n]) {
            continue;
        }
        if let Some(data) = cdb.find_hashed(&bits[..=n], hashes[n])? {
            return Ok(Some((&bits[..=n], data)));
        }
    }
    Ok(None)
}

fn net_hit((key, data): (&[u8], Vec<u8>), addr: IpAddr) -> Hit {
    // The key is the marker and one character per bit.
    let n = u8::try_from(key.len() - 1).unwrap_or(0);
    let net = IpNet::new(addr, n)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(addr));
    Hit {
        key: key.to_vec(),
        form: Form::Net(net),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdb_make::CdbMake;
    use std::io::Cursor;

    fn cdb(recs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut m = CdbMake::new(Cursor::new(Vec::new()));
        for (k, d) in recs {
            m.add(k, d).unwrap();
        }
        m.finish().unwrap().into_inner()
    }

    fn client<'a>(ip: &'a str, host: Option<&'a str>, info: Option<&'a str>) -> Client<'a> {
        Client {
            ip: ip.as_bytes(),
            host: host.map(str::as_bytes),
            info: info.map(str::as_bytes),
        }
    }

    fn shown(f: &[u8], c: Client<'_>) -> Option<String> {
        find_in(f, &c)
            .unwrap()
            .map(|m| String::from_utf8(m.shown).unwrap())
    }

    /// The sample rules of the fixtures, compiled by Debian's tcprules.
    const SAMPLE: &[u8] = include_bytes!("../testdata/tcprules-sample.cdb");

    #[test]
    fn sample_lookup_order() {
        let s = |ip, host, info| shown(SAMPLE, client(ip, host, info));
        assert_eq!(s("127.0.0.1", None, None).as_deref(), Some("127.0.0.1"));
        assert_eq!(
            s("127.0.0.1", None, Some("joe")).as_deref(),
            Some("joe@127.0.0.1")
        );
        assert_eq!(
            s("127.0.0.1", None, Some("bill")).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            s("127.0.0.1", Some("host.example.com"), Some("bill")).as_deref(),
            Some("bill@=host.example.com")
        );
        assert_eq!(s("127.0.0.2", None, None).as_deref(), Some("127."));
        assert_eq!(s("10.0.5.6", None, None).as_deref(), Some("10.0."));
        assert_eq!(s("1.2.3.102", None, None).as_deref(), Some("1.2.3.102"));
        assert_eq!(s("1.2.3.105", None, None).as_deref(), Some(""));
        assert_eq!(s("10.3.9.9", None, None).as_deref(), Some("10.3."));
        assert_eq!(
            s("9.9.9.9", Some("host.example.com"), None).as_deref(),
            Some("=host.example.com")
        );
        assert_eq!(
            s("9.9.9.9", Some("mail.sub.example.com"), None).as_deref(),
            Some("=.example.com")
        );
        assert_eq!(
            s("9.9.9.9", Some("example.com"), None).as_deref(),
            Some("=")
        );
        assert_eq!(s("9.9.9.9", Some("other.org"), None).as_deref(), Some("="));
        assert_eq!(s("9.9.9.9", None, None).as_deref(), Some(""));
        assert_eq!(s("192.168.1.1", None, None).as_deref(), Some("192.168."));
        // Prefixes are textual: 1.2.3. does not cover 1.2.30.4.
        assert_eq!(s("127.0.0.10", None, None).as_deref(), Some("127."));
    }

    #[test]
    fn decisions_from_the_sample() {
        let d = |ip| {
            find_in(SAMPLE, &client(ip, None, None))
                .unwrap()
                .unwrap()
                .decision()
        };
        assert_eq!(d("18.23.0.32"), Decision::Deny);
        assert_eq!(
            d("10.0.1.1"),
            Decision::Allow {
                env: vec![(b"RELAYCLIENT".to_vec(), b"@fix.me".to_vec())]
            }
        );
        assert_eq!(d("127.9.9.9"), Decision::Allow { env: vec![] });
    }

    #[test]
    fn nothing_matches_in_an_empty_cdb() {
        let f = cdb(&[]);
        assert_eq!(shown(&f, client("1.2.3.4", Some("h"), Some("i"))), None);
    }

    #[test]
    fn first_duplicate_wins() {
        let f = cdb(&[(b"1.2.3.4", b""), (b"1.2.3.4", b"D\0")]);
        let m = find_in(&f, &client("1.2.3.4", None, None))
            .unwrap()
            .unwrap();
        assert_eq!(m.decision(), Decision::Allow { env: vec![] });
    }

    #[test]
    fn cidr_longest_prefix_wins_and_exact_beats_cidr() {
        let f = cdb(&[
            (&cidr::net_key(&"10.0.0.0/8".parse().unwrap()), b"+N=8\0"),
            (&cidr::net_key(&"10.1.0.0/16".parse().unwrap()), b"+N=16\0"),
            (&cidr::net_key(&"128.0.0.0/1".parse().unwrap()), b"+N=1\0"),
            (b"10.1.2.", b"+N=dot\0"),
            (b"10.9.9.9", b"+N=exact\0"),
            (b"", b"D\0"),
        ]);
        let s = |ip| shown(&f, client(ip, None, None));
        assert_eq!(s("10.2.3.4").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(s("10.1.3.4").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(s("10.1.2.4").as_deref(), Some("10.1.2."));
        assert_eq!(s("10.9.9.9").as_deref(), Some("10.9.9.9"));
        assert_eq!(s("200.1.1.1").as_deref(), Some("128.0.0.0/1"));
        assert_eq!(s("11.0.0.1").as_deref(), Some(""));
    }

    #[test]
    fn ipv6_forms_of_all_three_tools() {
        let f = cdb(&[
            // ucspi-tcp6 / ours
            (b"0000:0000:0000:0000:0000:0000:0000:0001", b"+F=exp\0"),
            (
                b"joe@0000:0000:0000:0000:0000:0000:0000:0002",
                b"+F=infoexp\0",
            ),
            (
                &cidr::net_key(&"2001:db8::/32".parse().unwrap()),
                b"+F=32\0",
            ),
            (
                &cidr::net_key(&"2001:db8:1::/48".parse().unwrap()),
                b"+F=48\0",
            ),
            // Debian ucspi-tcp-ipv6: compressed text and colon prefixes
            (b"::3", b"+F=text\0"),
            (b"bob@::3", b"+F=infotext\0"),
            (b"2001:db8:2:", b"+F=colonprefix\0"),
            (b"", b"D\0"),
        ]);
        let s = |ip, info| shown(&f, client(ip, None, info));
        assert_eq!(s("::1", None).as_deref(), Some("::1"));
        assert_eq!(s("0:0::1", None).as_deref(), Some("::1"));
        assert_eq!(s("::2", Some("joe")).as_deref(), Some("joe@::2"));
        assert_eq!(s("::2", None).as_deref(), Some(""));
        assert_eq!(s("::3", None).as_deref(), Some("::3"));
        assert_eq!(s("0::3", None).as_deref(), Some("::3"));
        assert_eq!(s("0::3", Some("bob")).as_deref(), Some("bob@::3"));
        assert_eq!(
            s("2001:db8:1:2::5", None).as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(s("2001:db8:2::5", None).as_deref(), Some("2001:db8:2:"));
        assert_eq!(s("2001:db8:3::5", None).as_deref(), Some("2001:db8::/32"));
        assert_eq!(s("fe80::1%eth0", None).as_deref(), Some(""));
        // A v4-mapped address is IPv6 here, as in ucspi-tcp6.
        assert_eq!(s("::ffff:10.1.1.1", None).as_deref(), Some(""));
        let m = find_in(&f, &client("::1", None, None)).unwrap().unwrap();
        assert_eq!(m.key, b"0000:0000:0000:0000:0000:0000:0000:0001");
    }

    #[test]
    fn ucspi_tcp6_fixture_lookups() {
        // The records ucspi-tcp6's tcprules wrote for ucspi-tcp6-sample.rules.
        let f = cdb(&[
            (b"127.0.0.1", b"+RELAYCLIENT=\0"),
            (
                b"0000:0000:0000:0000:0000:0000:0000:0001",
                b"+RELAYCLIENT=\0+V6=loop\0",
            ),
            (b"^00`000000000000a0000bc0de0fgh000", b"D\0"),
            (
                b"^00`000000000000a0000bc0de0fgh000000000000000000i",
                b"+NET=db8-1\0",
            ),
            (b"_0000e0g0", b"+CIDR4=10/8\0"),
            (b"_ab000000i0k0m0000000000x", b"D\0"),
            (b"1.2.3.100", b""),
            (
                b"joe@0000:0000:0000:0000:0000:0000:0000:0001",
                b"+WHO=joe\0",
            ),
            (b"172.16.", b"+CLASS=b\0"),
            (b"=host.example.com", b"+URL=http://x:80/\0"),
            (b"", b"D\0"),
        ]);
        let s = |ip, host, info| shown(&f, client(ip, host, info));
        assert_eq!(s("::1", None, Some("joe")).as_deref(), Some("joe@::1"));
        assert_eq!(s("10.20.30.40", None, None).as_deref(), Some("10.0.0.0/8"));
        assert_eq!(
            s("192.168.1.77", None, None).as_deref(),
            Some("192.168.1.0/24")
        );
        assert_eq!(s("172.16.5.5", None, None).as_deref(), Some("172.16."));
        assert_eq!(
            s("2001:db8:2::5", None, None).as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(
            s("8.8.8.8", Some("host.example.com"), None).as_deref(),
            Some("=host.example.com")
        );
    }

    #[test]
    fn an_index_changes_the_cost_never_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.cdb");
        let text = b"10.0.0.0/8:allow,N=\"8\"\n10.1.0.0/16:deny\n2001:db8::/32:deny\n:allow,N=\"default\"\n";
        std::fs::write(&p, crate::compile_bytes(text).unwrap()).unwrap();
        let ix = NetIndex::scan(&p).unwrap();
        let ips = [
            "10.2.3.4",
            "10.1.2.3",
            "11.0.0.1",
            "2001:db8::1",
            "2001:db9::1",
            "::1",
        ];
        for ip in ips {
            let c = client(ip, None, None);
            assert_eq!(
                lookup_indexed(&p, &c, &ix).unwrap(),
                lookup(&p, &c).unwrap(),
                "{ip}"
            );
        }
        // The file replaced: a stale index must not hide the new /24.
        let tmp = dir.path().join("r.tmp");
        std::fs::write(
            &tmp,
            crate::compile_bytes(b"10.2.3.0/24:deny\n:allow\n").unwrap(),
        )
        .unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let c = client("10.2.3.4", None, None);
        assert_eq!(lookup_indexed(&p, &c, &ix).unwrap(), Decision::Deny);
    }

    #[test]
    fn watched_rules_follow_the_file_and_agree_with_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.cdb");
        let mut w = Watched::new(&p);
        let c = client("10.2.3.4", None, None);
        // Missing file: the same error as lookup, and nothing cached.
        assert!(matches!(w.lookup(&c), Err(e) if e.raw_os_error() == Some(libc::ENOENT)));
        let text = b"10.0.0.0/8:allow,N=\"8\"\n2001:db8::/32:deny\n:allow,N=\"d\"\n";
        std::fs::write(&p, crate::compile_bytes(text).unwrap()).unwrap();
        for ip in ["10.2.3.4", "11.0.0.1", "2001:db8::1", "::1", "1.2.3.4"] {
            let c = client(ip, None, None);
            assert_eq!(w.lookup(&c).unwrap(), lookup(&p, &c).unwrap(), "{ip}");
        }
        // Recompiled with a length the old index lacks: seen at once.
        let tmp = dir.path().join("r.tmp");
        std::fs::write(
            &tmp,
            crate::compile_bytes(b"10.2.3.0/24:deny\n:allow\n").unwrap(),
        )
        .unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(w.lookup(&c).unwrap(), Decision::Deny);
        // A corrupt replacement is an error, as for lookup.
        std::fs::write(&tmp, &SAMPLE[..100]).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let c = client("127.0.0.1", None, None);
        assert!(matches!(w.lookup(&c), Err(e) if e.raw_os_error() == Some(libc::EPROTO)));
    }

    /// Poll `f` for up to ten seconds.
    fn eventually(mut f: impl FnMut() -> bool) -> bool {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn watched_indexes_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.cdb");
        let tmp = dir.path().join("r.tmp");
        let mut w = Watched::new(&p);
        let c = client("10.2.3.4", None, None);
        std::fs::write(&p, crate::compile_bytes(b"10.0.0.0/8:deny\n").unwrap()).unwrap();
        assert_eq!(w.lookup(&c).unwrap(), Decision::Deny);
        assert!(eventually(|| w.is_indexed()), "the index never came");
        assert_eq!(w.index.as_ref().unwrap().lengths().v4, 1 << 8);
        // Replaced: the old index is not used for the new file, whose
        // own index follows.
        std::fs::write(&tmp, crate::compile_bytes(b"10.2.0.0/16:deny\n").unwrap()).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(w.lookup(&c).unwrap(), Decision::Deny);
        assert_eq!(
            w.lookup(&client("10.3.0.1", None, None)).unwrap(),
            Decision::NotFound
        );
        assert!(eventually(|| w.is_indexed()), "the new index never came");
        assert_eq!(w.index.as_ref().unwrap().lengths().v4, 1 << 16);
        // A file whose records are cut short: the lookup still answers
        // from its hash tables, the scan fails once and is not retried.
        let mut broken = crate::compile_bytes(b"1.2.3.4:deny\n").unwrap();
        broken[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&tmp, &broken).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let _ = w.lookup(&c);
        assert!(eventually(|| {
            w.collect();
            w.failed.is_some()
        }));
        let _ = w.lookup(&c);
        assert!(w.scan.is_none(), "a failed file is scanned again");
    }

    #[test]
    fn lookup_reads_the_file_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.cdb");
        let c = client("1.2.3.4", None, None);
        let e = lookup(&p, &c).unwrap_err();
        assert!(matches!(&e, io if io.raw_os_error() == Some(libc::ENOENT)));
        std::fs::write(&p, cdb(&[(b"1.2.3.4", b"D\0")])).unwrap();
        assert_eq!(lookup(&p, &c).unwrap(), Decision::Deny);
        std::fs::write(&p, cdb(&[(b"1.2.3.", b"+A=b\0")])).unwrap();
        assert_eq!(
            lookup(&p, &c).unwrap(),
            Decision::Allow {
                env: vec![(b"A".to_vec(), b"b".to_vec())]
            }
        );
        std::fs::write(&p, cdb(&[])).unwrap();
        assert_eq!(lookup(&p, &c).unwrap(), Decision::NotFound);
        std::fs::write(&p, b"").unwrap();
        let e = lookup(&p, &c).unwrap_err();
        assert!(matches!(&e, io if io.raw_os_error() == Some(libc::EINVAL)));
        std::fs::write(&p, &SAMPLE[..100]).unwrap();
        let e = lookup(&p, &client("127.0.0.1", None, None)).unwrap_err();
        assert!(matches!(&e, io if io.raw_os_error() == Some(libc::EPROTO)));
    }
}
