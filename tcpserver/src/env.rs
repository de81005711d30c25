//! The environment a handler starts with, built the way djb's `pathexec`
//! builds it: tcpserver's own environment, then each change in order; a
//! change removes the first variable of that name (moving the last entry
//! into its place) and, unless it unsets, appends `NAME=value`. Keeping
//! the algorithm keeps even the order of `env`'s output identical to 0.88.

use std::ffi::{CStr, CString, OsString};
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
}
