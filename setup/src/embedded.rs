//! The man pages (`man/`), boot files (`boot/`) and client scripts
//! (`ucspi-tools/scripts/`) of the workspace, built into the library by
//! `build.rs` so an installed `qmail-setup` needs nothing but itself and
//! the binaries.

/// One embedded file.
#[derive(Debug)]
pub struct Embedded {
    /// Path below `man/`, `boot/` or `ucspi-tools/scripts/`, with `/`
    /// separators.
    pub path: &'static str,
    pub bytes: &'static [u8],
    /// The file is executable in the source tree (a script).
    pub exec: bool,
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

impl Embedded {
    /// The man section of a page: the digits of its extension (`8` for
    /// `qmail-smtpd.8`); `None` for a file that is not a man page.
    pub fn section(&self) -> Option<&'static str> {
        let (_, ext) = self.path.rsplit_once('.')?;
        (!ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit()) && !self.path.contains('/'))
            .then_some(ext)
    }
}

/// The default home that boot files name, replaced by the real home when
/// they are installed.
pub const DEFAULT_HOME: &[u8] = b"/var/qmail";

/// `bytes` with every `/var/qmail` replaced by `home`.
pub fn with_home(bytes: &[u8], home: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(i) = rest
        .windows(DEFAULT_HOME.len())
        .position(|w| w == DEFAULT_HOME)
    {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(home);
        rest = &rest[i + DEFAULT_HOME.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_come_from_the_extension() {
        let e = |path| Embedded {
            path,
            bytes: b"",
            exec: false,
        };
        assert_eq!(e("qmail-smtpd.8").section(), Some("8"));
        assert_eq!(e("qmail.7").section(), Some("7"));
        assert_eq!(e("README.md").section(), None);
        assert_eq!(e("x.").section(), None);
    }

    #[test]
    fn home_is_substituted_everywhere() {
        assert_eq!(
            with_home(b"/var/qmail/bin/x /var/qmail", b"/h"),
            b"/h/bin/x /h".to_vec()
        );
        assert_eq!(with_home(b"none", b"/h"), b"none".to_vec());
    }

    #[test]
    fn the_workspace_pages_are_embedded() {
        assert!(MAN_PAGES.iter().any(|p| p.path == "qmail-smtpd.8"));
        assert!(MAN_PAGES.iter().any(|p| p.path == "qmail-setup.8"));
        assert!(BOOT_FILES.iter().any(|p| p.path == "home" && p.exec));
    }
}
