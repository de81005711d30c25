//! The environment a handler starts with.
//!
//! [`connection`] names the variables of one connection (PROTO, TCP*,
//! TCP6*) once, for every program that sets them; each program applies
//! them with its original's algorithm through [`Vars`]:
//!
//! - [`Changes`] over a [`BaseEnv`] is djb's `pathexec` (tcpserver,
//!   tcpclient): the program's own environment, then each change in
//!   order; a change removes the first variable of that name (moving the
//!   last entry into its place) and, unless it unsets, appends
//!   `NAME=value`. Keeping the algorithm keeps even the order of `env`'s
//!   output identical to 0.88.
//! - qmail's `env.c` (tcp-env) removes every variable of the name; it
//!   lives with tcp-env and implements [`Vars`] too.

use std::ffi::{CStr, CString, OsString};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;

use sys::spawn::CStrArray;

/// The environment tcpserver was started with, as `NAME=value` strings.
#[derive(Debug, Default)]
pub struct BaseEnv {
    entries: Vec<CString>,
}

impl BaseEnv {
    /// Capture the process environment, leaving out `skip` (socket
    /// activation's variables, which must not reach children).
    pub fn capture(skip: &[&str]) -> BaseEnv {
        Self::from_vars(std::env::vars_os(), skip)
    }

    /// [`BaseEnv::capture`] from given variables (tests).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (OsString, OsString)>,
        skip: &[&str],
    ) -> BaseEnv {
        let entries = vars
            .into_iter()
            .filter(|(k, _)| !skip.iter().any(|s| k.as_bytes() == s.as_bytes()))
            .filter_map(|(k, v)| {
                let mut e = k.as_bytes().to_vec();
                e.push(b'=');
                e.extend_from_slice(v.as_bytes());
                CString::new(e).ok()
            })
            .collect();
        BaseEnv { entries }
    }
}

/// The changes for one connection, in order.
#[derive(Debug, Default)]
pub struct Changes {
    /// (name length, `NAME=value` or just `NAME` to unset)
    items: Vec<(usize, CString)>,
    set: Vec<bool>,
}

impl Changes {
    /// Room for `n` changes.
    pub fn with_capacity(n: usize) -> Changes {
        Changes {
            items: Vec::with_capacity(n),
            set: Vec::with_capacity(n),
        }
    }

    /// Set `name` to `value`, or unset it when `value` is `None`. A NUL
    /// byte ends a value (as in C); a name with `=` or NUL, or an empty
    /// one, is ignored.
    pub fn put(&mut self, name: &[u8], value: Option<&[u8]>) {
        if name.is_empty() || name.contains(&b'=') || name.contains(&0) {
            return;
        }
        let mut e = Vec::with_capacity(name.len() + 1 + value.map_or(0, <[u8]>::len));
        e.extend_from_slice(name);
        if let Some(v) = value {
            e.push(b'=');
            let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
            e.extend_from_slice(&v[..end]);
        }
        if let Ok(c) = CString::new(e) {
            self.items.push((name.len(), c));
            self.set.push(value.is_some());
        }
    }

    /// The final `envp`.
    pub fn apply<'a>(&'a self, base: &'a BaseEnv) -> CStrArray<'a> {
        let mut e: Vec<&CStr> = Vec::with_capacity(base.entries.len() + self.items.len());
        e.extend(base.entries.iter().map(CString::as_c_str));
        for ((split, item), &set) in self.items.iter().zip(&self.set) {
            let name = &item.as_bytes()[..*split];
            if let Some(t) = e.iter().position(|x| {
                let x = x.to_bytes();
                x.len() > *split && &x[..*split] == name && x[*split] == b'='
            }) {
                e.swap_remove(t);
            }
            if set {
                e.push(item.as_c_str());
            }
        }
        e.into_iter().collect()
    }
}

/// Where the connection's variables go, in the order given.
pub trait Vars {
    /// Set `name` to `value`, or unset it when `value` is `None`.
    fn set(&mut self, name: &[u8], value: Option<&[u8]>);
}

impl Vars for Changes {
    fn set(&mut self, name: &[u8], value: Option<&[u8]>) {
        self.put(name, value);
    }
}

/// What one connection's environment says. The names are shown as
/// given (djb's dotted form); `None` unsets the variable.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// Our end (a v4-mapped address reads as IPv4).
    pub local: SocketAddr,
    /// The client's end (likewise).
    pub remote: SocketAddr,
    /// TCPLOCALHOST
    pub local_host: Option<&'a [u8]>,
    /// TCPREMOTEHOST
    pub remote_host: Option<&'a [u8]>,
    /// TCPREMOTEINFO: the ident answer, cut at its first NUL (as a C
    /// string would be), here, so the TCP6 copy reads the same.
    pub remote_info: Option<&'a [u8]>,
}

/// In which order the variables are set: it decides the order `env`
/// shows them in, which scripts may depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// ucspi-tcp's (tcpserver, tcpclient): PROTO, local IP, port, host,
    /// remote IP, port, host, info; each TCP6 copy right after its
    /// group (ucspi-tcp6's order).
    Ucspi,
    /// qmail's tcp-env: PROTO, local port, IP, host, remote port, IP,
    /// host, info; the TCP6 copies after all of them.
    QmailTcpEnv,
}

fn cut_at_nul(v: Option<&[u8]>) -> Option<&[u8]> {
    v.map(|v| v.split(|&b| b == 0).next().unwrap_or(v))
}

/// Set the connection's variables in `out`: PROTO (`TCP`, or `TCP6` for
/// an IPv6 client) and the TCP* variables, and for an IPv6 client the
/// TCP6* copies of each.
pub fn connection(c: &Connection<'_>, order: Order, out: &mut impl Vars) {
    let v6 = crate::addr::unmap(c.remote.ip()).is_ipv6();
    let lip = crate::addr::show(c.local.ip());
    let lport = c.local.port().to_string();
    let rip = crate::addr::show(c.remote.ip());
    let rport = c.remote.port().to_string();
    // The variables by (TCP name, TCP6 name, value).
    let local_ip = (
        &b"TCPLOCALIP"[..],
        &b"TCP6LOCALIP"[..],
        Some(lip.as_bytes()),
    );
    let local_port = (
        &b"TCPLOCALPORT"[..],
        &b"TCP6LOCALPORT"[..],
        Some(lport.as_bytes()),
    );
    let local_host = (
        &b"TCPLOCALHOST"[..],
        &b"TCP6LOCALHOST"[..],
        cut_at_nul(c.local_host),
    );
    let remote_ip = (
        &b"TCPREMOTEIP"[..],
        &b"TCP6REMOTEIP"[..],
        Some(rip.as_bytes()),
    );
    let remote_port = (
        &b"TCPREMOTEPORT"[..],
        &b"TCP6REMOTEPORT"[..],
        Some(rport.as_bytes()),
    );
    let remote_host = (
        &b"TCPREMOTEHOST"[..],
        &b"TCP6REMOTEHOST"[..],
        cut_at_nul(c.remote_host),
    );
    let info = (
        &b"TCPREMOTEINFO"[..],
        &b"TCP6REMOTEINFO"[..],
        cut_at_nul(c.remote_info),
    );
    out.set(b"PROTO", Some(if v6 { b"TCP6" } else { b"TCP" }));
    match order {
        Order::Ucspi => {
            for group in [
                &[local_ip, local_port, local_host][..],
                &[remote_ip, remote_port, remote_host],
                &[info],
            ] {
                for &(name, _, value) in group {
                    out.set(name, value);
                }
                if v6 {
                    for &(_, name6, value) in group {
                        out.set(name6, value);
                    }
                }
            }
        }
        Order::QmailTcpEnv => {
            let all = [
                local_port,
                local_ip,
                local_host,
                remote_port,
                remote_ip,
                remote_host,
                info,
            ];
            for &(name, _, value) in &all {
                out.set(name, value);
            }
            if v6 {
                // ucspi-tcp6's order for the copies, as before.
                for &(_, name6, value) in &[
                    local_ip,
                    local_port,
                    local_host,
                    remote_ip,
                    remote_port,
                    remote_host,
                    info,
                ] {
                    out.set(name6, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathexec_order() {
        let base = BaseEnv::from_vars(
            [
                ("A", "1"),
                ("TCPREMOTEHOST", "old"),
                ("B", "2"),
                ("LISTEN_PID", "9"),
            ]
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
            &["LISTEN_PID"],
        );
        let mut ch = Changes::default();
        ch.put(b"PROTO", Some(b"TCP"));
        ch.put(b"TCPREMOTEHOST", None);
        ch.put(b"X", Some(b"a\0b"));
        ch.put(b"", Some(b"ignored"));
        let arr = ch.apply(&base);
        let list: Vec<_> = arr.iter().map(|c| c.to_str().unwrap()).collect();
        // TCPREMOTEHOST's slot got the last entry (PROTO), as in pathexec.
        assert_eq!(list, vec!["A=1", "PROTO=TCP", "B=2", "X=a"]);
        let mut ch = Changes::default();
        ch.put(b"A", Some(b"new"));
        let arr = ch.apply(&base);
        let list: Vec<_> = arr.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(list, vec!["B=2", "TCPREMOTEHOST=old", "A=new"]);
    }

    /// Records what is set, in order.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Vars for Log {
        fn set(&mut self, name: &[u8], value: Option<&[u8]>) {
            let name = String::from_utf8_lossy(name);
            self.0.push(match value {
                Some(v) => format!("{name}={}", String::from_utf8_lossy(v)),
                None => format!("-{name}"),
            });
        }
    }

    fn conn<'a>(local: &str, remote: &str, info: Option<&'a [u8]>) -> Connection<'a> {
        Connection {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            local_host: Some(b"l.example"),
            remote_host: None,
            remote_info: info,
        }
    }

    #[test]
    fn ucspi_order_v4_and_mapped() {
        for (local, remote) in [
            ("127.0.0.1:25", "127.0.0.2:4000"),
            ("[::ffff:127.0.0.1]:25", "[::ffff:127.0.0.2]:4000"),
        ] {
            let mut l = Log::default();
            connection(&conn(local, remote, None), Order::Ucspi, &mut l);
            assert_eq!(
                l.0,
                [
                    "PROTO=TCP",
                    "TCPLOCALIP=127.0.0.1",
                    "TCPLOCALPORT=25",
                    "TCPLOCALHOST=l.example",
                    "TCPREMOTEIP=127.0.0.2",
                    "TCPREMOTEPORT=4000",
                    "-TCPREMOTEHOST",
                    "-TCPREMOTEINFO",
                ]
            );
        }
    }

    #[test]
    fn ucspi_order_v6() {
        let mut l = Log::default();
        connection(
            &conn("[::1]:25", "[::1]:4000", Some(b"joe")),
            Order::Ucspi,
            &mut l,
        );
        assert_eq!(
            l.0,
            [
                "PROTO=TCP6",
                "TCPLOCALIP=::1",
                "TCPLOCALPORT=25",
                "TCPLOCALHOST=l.example",
                "TCP6LOCALIP=::1",
                "TCP6LOCALPORT=25",
                "TCP6LOCALHOST=l.example",
                "TCPREMOTEIP=::1",
                "TCPREMOTEPORT=4000",
                "-TCPREMOTEHOST",
                "TCP6REMOTEIP=::1",
                "TCP6REMOTEPORT=4000",
                "-TCP6REMOTEHOST",
                "TCPREMOTEINFO=joe",
                "TCP6REMOTEINFO=joe",
            ]
        );
    }

    #[test]
    fn qmail_order_and_info_cut_at_nul_in_both_copies() {
        let mut l = Log::default();
        connection(
            &conn("[::1]:25", "[::1]:4000", Some(b"jo\0e")),
            Order::QmailTcpEnv,
            &mut l,
        );
        assert_eq!(
            l.0,
            [
                "PROTO=TCP6",
                "TCPLOCALPORT=25",
                "TCPLOCALIP=::1",
                "TCPLOCALHOST=l.example",
                "TCPREMOTEPORT=4000",
                "TCPREMOTEIP=::1",
                "-TCPREMOTEHOST",
                "TCPREMOTEINFO=jo",
                "TCP6LOCALIP=::1",
                "TCP6LOCALPORT=25",
                "TCP6LOCALHOST=l.example",
                "TCP6REMOTEIP=::1",
                "TCP6REMOTEPORT=4000",
                "-TCP6REMOTEHOST",
                "TCP6REMOTEINFO=jo",
            ]
        );
    }
}
