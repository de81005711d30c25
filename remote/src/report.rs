//! qmail-remote's output: what qmail-rspawn reads on fd 1.
//!
//! One recipient report per RCPT tried, in argument order: `r`
//! (accepted), `h` (permanently refused) or `s` (temporarily refused),
//! then its text, then NUL. Then one message report: `K` (delivered to
//! every accepted recipient), `Z` (temporary failure) or `D` (permanent
//! failure), its text, NUL. The texts are qmail-remote 1.03's, byte for
//! byte; the fixed ones live here.

/// The message report's letter: K, Z or D, defined once for qmail-remote,
/// qmail-rspawn and qmail-send.
pub use control::status::Status as Letter;

/// Everything qmail-remote prints for one run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// (`r`/`h`/`s`, text) per recipient tried.
    pub recipients: Vec<(u8, Vec<u8>)>,
    /// The message report's letter.
    pub letter: Letter,
    /// The message report's text.
    pub text: Vec<u8>,
}

impl Report {
    /// A report with only a message report.
    pub fn message(letter: Letter, text: impl Into<Vec<u8>>) -> Report {
        Report {
            recipients: Vec::new(),
            letter,
            text: text.into(),
        }
    }

    /// The bytes for fd 1.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (letter, text) in &self.recipients {
            out.push(*letter);
            out.extend_from_slice(text);
            out.push(0);
        }
        out.push(self.letter.byte());
        out.extend_from_slice(&self.text);
        out.push(0);
        out
    }
}

/// The fixed texts (qmail-remote.c), without the letter.
pub mod text {
    /// `temp_nomem`.
    pub const NOMEM: &str = "Out of memory. (#4.3.0)\n";
    /// `temp_oserr`.
    pub const OSERR: &str = "System resources temporarily unavailable. (#4.3.0)\n";
    /// `temp_noconn`.
    pub const NOCONN: &str = "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n";
    /// `temp_read`.
    pub const READ: &str = "Unable to read message. (#4.3.0)\n";
    /// `temp_dns`.
    pub const DNS_SOFT: &str = "Sorry, I couldn't find any host by that name. (#4.1.2)\n";
    /// `temp_chdir`.
    pub const CHDIR: &str = "Unable to switch to home directory. (#4.3.0)\n";
    /// `temp_control`.
    pub const CONTROL: &str = "Unable to read control files. (#4.3.0)\n";
    /// `perm_partialline`.
    pub const PARTIAL_LINE: &str =
        "SMTP cannot transfer messages with partial final lines. (#5.6.2)\n";
    /// `perm_usage`.
    pub const USAGE: &str = "I (qmail-remote) was invoked improperly. (#5.3.5)\n";
    /// `perm_nomx`.
    pub const NOMX: &str = "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n";
    /// `perm_ambigmx`.
    pub const AMBIGMX: &str = "Sorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n";

    /// The sender holds a byte no SMTP command line may carry (an
    /// addition: qmail quotes it and sends it).
    pub const BAD_SENDER: &str =
        "Sorry, the envelope sender holds a CR, LF or NUL, which SMTP cannot carry. (#5.1.7)\n";
    /// The same for one recipient (its `h` report).
    pub const BAD_RECIPIENT: &str =
        "Sorry, that recipient address holds a CR, LF or NUL, which SMTP cannot carry. (#5.1.3)\n";
    /// Every recipient was [`BAD_RECIPIENT`].
    pub const NO_RECIPIENT: &str = "Giving up: no recipient can be sent. (#5.1.3)\n";
    /// `control/remotesecrets` may be read by others.
    pub const SECRETS_EXPOSED: &str = "control/remotesecrets holds passwords but others may read it; chmod 600 or 640 it. (#4.3.0)\n";
    /// `control/remotesecrets` could not be read.
    pub const SECRETS_READ: &str = "Unable to read control/remotesecrets. (#4.3.0)\n";

    /// `perm_dns`: the host printed with every byte outside `!`..`~`
    /// made `?` (qmail's `outsafe`).
    pub fn dns_hard(host: &[u8]) -> Vec<u8> {
        let mut t = b"Sorry, I couldn't find any host named ".to_vec();
        t.extend(
            host.iter()
                .map(|&b| if (33..=126).contains(&b) { b } else { b'?' }),
        );
        t.extend_from_slice(b". (#5.1.2)\n");
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_nul_terminated_in_order() {
        let r = Report {
            recipients: vec![
                (b'r', vec![]),
                (b'h', b"x does not like recipient.\n".to_vec()),
            ],
            letter: Letter::K,
            text: b"x accepted message.\n".to_vec(),
        };
        assert_eq!(
            r.to_bytes(),
            b"r\0hx does not like recipient.\n\0Kx accepted message.\n\0"
        );
        assert_eq!(
            Report::message(Letter::D, text::USAGE).to_bytes(),
            b"DI (qmail-remote) was invoked improperly. (#5.3.5)\n\0"
        );
    }

    #[test]
    fn unsafe_host_bytes_are_masked() {
        assert_eq!(
            text::dns_hard(b"a b\xffc"),
            b"Sorry, I couldn't find any host named a?b?c. (#5.1.2)\n"
        );
    }
}
