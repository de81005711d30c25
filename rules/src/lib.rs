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

/// Why a compile failed (tcprules' job). Lookups fail only on reading the
/// cdb and return [`io::Error`]s: the errno djb's code would see (EPROTO
/// for a truncated file, EINVAL for an empty one). The wording of either
/// for a user is the program's (tcprules, tcpserver), in djb's words.
#[derive(Debug)]
pub enum CompileError {
    /// A line it cannot parse (trailing blanks stripped, as 0.88 prints
    /// it).
    Parse(Vec<u8>),
    /// The temporary file could not be created.
    Create(PathBuf, io::Error),
    /// Writing or syncing the temporary file failed.
    Write(PathBuf, io::Error),
    /// Reading the rules text failed.
    Input(io::Error),
    /// The temporary file could not be renamed over the cdb.
    Move {
        tmp: PathBuf,
        cdb: PathBuf,
        err: io::Error,
    },
    /// Making the cdb in memory or in a writer failed (too big: ENOMEM,
    /// or the writer's error); [`compile`] reports this as `Write`.
    Cdb(io::Error),
}

impl CompileError {
    /// The exit code the original uses: 100 for a bad line, 111 for a
    /// system error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CompileError::Parse(_) => 100,
            _ => 111,
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Parse(line) => write!(
                f,
                "unable to parse this line: {}",
                String::from_utf8_lossy(line)
            ),
            CompileError::Create(p, e) => write!(f, "unable to create {}: {e}", p.display()),
            CompileError::Write(p, e) => write!(f, "unable to write to {}: {e}", p.display()),
            CompileError::Input(e) => write!(f, "unable to read input: {e}"),
            CompileError::Move { tmp, cdb, err } => write!(
                f,
                "unable to move {} to {}: {err}",
                tmp.display(),
                cdb.display()
            ),
            CompileError::Cdb(e) => write!(f, "unable to make cdb: {e}"),
        }
    }
}

impl std::error::Error for CompileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CompileError::Cdb(e)
            | CompileError::Create(_, e)
            | CompileError::Write(_, e)
            | CompileError::Input(e)
            | CompileError::Move { err: e, .. } => Some(e),
            CompileError::Parse(_) => None,
        }
    }
}
