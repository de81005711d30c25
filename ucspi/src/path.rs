//! Where a program is looked for, as djb's `pathexec_run` does it.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;

/// djb's `pathexec_run` candidates for `prog`: itself when it has a
/// slash, else each `$PATH` directory (empty means the current one);
/// without `$PATH`, `/bin:/usr/bin`.
pub fn path_candidates(prog: &OsStr, path: Option<&OsStr>) -> Vec<CString> {
    let p = prog.as_bytes();
    if p.contains(&b'/') {
        return CString::new(p).into_iter().collect();
    }
    let path = path.map_or(&b"/bin:/usr/bin"[..], OsStr::as_bytes);
    path.split(|&b| b == b':')
        .filter_map(|dir| {
            let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
            CString::new([dir, b"/", p].concat()).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathexec_candidates() {
        let c = path_candidates(OsStr::new("env"), Some(OsStr::new("/a::/b")));
        let c: Vec<_> = c.iter().map(|s| s.to_str().unwrap()).collect();
        assert_eq!(c, vec!["/a/env", "./env", "/b/env"]);
        let c = path_candidates(OsStr::new("./x"), None);
        assert_eq!(c[0].to_str().unwrap(), "./x");
        let c = path_candidates(OsStr::new("sh"), None);
        assert_eq!(c.len(), 2);
    }
}
