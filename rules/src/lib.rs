//! Access rules of ucspi-tcp: parse, compile to cdb, look a client up.
//!
//! Compatible with ucspi-tcp 0.88 byte for byte (rules text, cdb bytes,
//! lookup order), and with IPv6 and CIDR rules in the key encodings of
//! fehcom's ucspi-tcp6. `man 5 tcprules` describes the formats.
//!
//! Where things are:
//! - [`parse`]: one line of rules text, as 0.88 reads it (plus IPv6).
//! - [`keys`]: the cdb keys of a rule's address (ranges, CIDR, IPv6).
//! - [`compile`]: tcprules' job, text to cdb file, atomically.
//! - [`lookup`] (module and function): the keys tried for a client, in
//!   order; [`find`] also returns the matching key (tcprulescheck).
//! - [`netindex`]: the network prefix lengths a cdb has, so that a
//!   long-running caller can spare lookups the others
//!   ([`Watched`], which tcpserver's parent keeps; [`lookup_indexed`]).
//! - [`data`]: the record value (`D\0`, `+NAME=VALUE\0`): decisions and
//!   tcprulescheck's report.
//! - [`cidr`]: IPv6 and CIDR key encodings.
//! - [`cdb_read`], [`cdb_make`]: djb's cdb format, read from a file (or
//!   memory) and written byte for byte as `cdb_make` does.

#![forbid(unsafe_code)]

pub mod cdb_make;
pub mod cdb_read;
pub mod cidr;
pub mod compile;
pub mod data;
pub mod keys;
pub mod lookup;
pub mod netindex;
pub mod parse;

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use compile::{compile, compile_bytes};
pub use lookup::{Match, Watched, find, find_in, lookup, lookup_indexed};
pub use netindex::NetIndex;

/// The client being judged, as tcpserver knows it.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// TCPREMOTEIP as text (`1.2.3.4`, `::1`); looked up textually for
    /// ucspi-tcp's keys and parsed for the IPv6 and CIDR forms.
    pub ip: &'a [u8],
    /// TCPREMOTEHOST, if set.
    pub host: Option<&'a [u8]>,
    /// TCPREMOTEINFO, if set (may be empty).
    pub info: Option<&'a [u8]>,
}

/// What the rules say about a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A rule allowed the client; set these variables, in order (the last
    /// assignment of a name wins).
    Allow { env: Vec<(Vec<u8>, Vec<u8>)> },
    /// A rule denied the client.
    Deny,
    /// No rule matched: tcpserver allows the client with no variables.
    NotFound,
}

/// Why a lookup or a compile failed. Lookups only ever return `Io`.
#[derive(Debug)]
pub enum Error {
    /// The cdb could not be opened or read (errno as djb's code would
    /// see it: EPROTO for a truncated file, EINVAL for an empty one).
    Io(io::Error),
    /// tcprules: a line it cannot parse (trailing blanks stripped, as
    /// 0.88 prints it).
    Parse(Vec<u8>),
    /// tcprules: the temporary file could not be created.
    Create(PathBuf, io::Error),
    /// tcprules: writing or syncing the temporary file failed.
    Write(PathBuf, io::Error),
    /// tcprules: reading the rules text failed.
    Input(io::Error),
    /// tcprules: the temporary file could not be renamed over the cdb.
    Move {
        tmp: PathBuf,
        cdb: PathBuf,
        err: io::Error,
    },
}

impl Error {
    /// The message after `tcprules: fatal: `, as raw bytes: 0.88 prints a
    /// bad line as it is (up to a NUL byte, being C), not as UTF-8.
    pub fn message(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let d = sys::errstr::describe;
        let mut m = Vec::new();
        match self {
            Error::Io(e) => m.extend_from_slice(d(e).as_bytes()),
            Error::Parse(line) => {
                m.extend_from_slice(b"unable to parse this line: ");
                let end = line.iter().position(|&c| c == 0).unwrap_or(line.len());
                m.extend_from_slice(&line[..end]);
            }
            Error::Create(p, e) => {
                m.extend_from_slice(b"unable to create ");
                m.extend_from_slice(p.as_os_str().as_bytes());
                m.extend_from_slice(b": ");
                m.extend_from_slice(d(e).as_bytes());
            }
            Error::Write(p, e) => {
                m.extend_from_slice(b"unable to write to ");
                m.extend_from_slice(p.as_os_str().as_bytes());
                m.extend_from_slice(b": ");
                m.extend_from_slice(d(e).as_bytes());
            }
            Error::Input(e) => {
                m.extend_from_slice(b"unable to read input: ");
                m.extend_from_slice(d(e).as_bytes());
            }
            Error::Move { tmp, cdb, err } => {
                m.extend_from_slice(b"unable to move ");
                m.extend_from_slice(tmp.as_os_str().as_bytes());
                m.extend_from_slice(b" to ");
                m.extend_from_slice(cdb.as_os_str().as_bytes());
                m.extend_from_slice(b": ");
                m.extend_from_slice(d(err).as_bytes());
            }
        }
        m
    }

    /// The exit code the original uses: 100 for a bad line, 111 for a
    /// system error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Parse(_) => 100,
            _ => 111,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.message()))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e)
            | Error::Create(_, e)
            | Error::Write(_, e)
            | Error::Input(e)
            | Error::Move { err: e, .. } => Some(e),
            Error::Parse(_) => None,
        }
    }
}
