//! Access rules of ucspi-tcp: parse, compile to cdb, look a client up.
//!
//! (Being written. This file fixes the interface tcpserver uses; the
//! implementation lands with the rules issue.)

use std::io;
use std::path::Path;

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

/// Why a lookup failed.
#[derive(Debug)]
pub enum Error {
    /// The cdb could not be opened or read.
    Io(io::Error),
}

/// Look `client` up in the cdb at `path` (opened for this lookup only).
pub fn lookup(path: &Path, client: &Client<'_>) -> Result<Decision, Error> {
    let _ = (path, client);
    Ok(Decision::NotFound)
}
