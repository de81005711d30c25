//! TLS for the programs that speak it (qmail-smtpd's STARTTLS and SMTPS,
//! qmail-pop3d's STLS and POP3S, qmail-remote), on rustls with ring.
//!
//! Where things are:
//! - [`server`]: a server configuration from one PEM file holding the
//!   certificate chain and the private key, as netqmail's TLS patch reads
//!   `control/servercert.pem`.
//! - [`client`]: qmail-remote's client configurations, opportunistic
//!   (any certificate) and verified (system CA store, names).
//! - [`fds`]: a blocking TLS server connection on two descriptors with a
//!   timeout on every read and write (STARTTLS, SMTPS, STLS).
//!
//! Reading the file is the caller's business at each session start, so
//! a renewed certificate takes effect without a restart.

#![forbid(unsafe_code)]

pub mod client;
pub mod fds;
pub mod server;

use std::fmt;
use std::io;

/// Why a TLS configuration could not be made.
#[derive(Debug)]
pub enum Error {
    /// The file could not be read.
    Read(io::Error),
    /// The file holds no `CERTIFICATE` block.
    NoCertificate,
    /// The file holds no private key block (PKCS#8, RSA or EC).
    NoKey,
    /// A PEM block could not be decoded.
    Pem(String),
    /// rustls refused the certificate or key (e.g. they do not match).
    Rustls(rustls::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read(e) => write!(f, "unable to read: {e}"),
            Error::NoCertificate => f.write_str("no certificate in the file"),
            Error::NoKey => f.write_str("no private key in the file"),
            Error::Pem(e) => write!(f, "bad PEM: {e}"),
            Error::Rustls(e) => write!(f, "certificate or key refused: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// The crypto provider every configuration of ours uses.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
