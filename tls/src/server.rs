//! A rustls server configuration from one PEM file (certificate chain
//! first, then the private key, in any order), as `control/servercert.pem`
//! of netqmail's TLS patch.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, provider};

/// The configuration for the PEM text `pem`: TLS 1.2 and 1.3, no client
/// certificates.
pub fn from_pem(pem: &[u8]) -> Result<Arc<ServerConfig>, Error> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Pem(format!("{e:?}")))?;
    if certs.is_empty() {
        return Err(Error::NoCertificate);
    }
    let key = match PrivateKeyDer::from_pem_slice(pem) {
        Ok(k) => k,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => return Err(Error::NoKey),
        Err(e) => return Err(Error::Pem(format!("{e:?}"))),
    };
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::Rustls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(Error::Rustls)?;
    Ok(Arc::new(config))
}

/// The configuration for the PEM file at `path`, read now.
pub fn from_file(path: &Path) -> Result<Arc<ServerConfig>, Error> {
    let pem = std::fs::read(path).map_err(Error::Read)?;
    from_pem(&pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_and_key() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["mail.example".into()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn chain_and_key_in_one_file_in_either_order() {
        let (cert, key) = cert_and_key();
        assert!(from_pem(format!("{cert}{key}").as_bytes()).is_ok());
        assert!(from_pem(format!("{key}{cert}").as_bytes()).is_ok());
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        let (cert, key) = cert_and_key();
        assert!(matches!(from_pem(b""), Err(Error::NoCertificate)));
        assert!(matches!(
            from_pem(key.as_bytes()),
            Err(Error::NoCertificate)
        ));
        assert!(matches!(from_pem(cert.as_bytes()), Err(Error::NoKey)));
        let (_, other_key) = cert_and_key();
        assert!(matches!(
            from_pem(format!("{cert}{other_key}").as_bytes()),
            Err(Error::Rustls(_))
        ));
        assert!(matches!(
            from_file(Path::new("/nonexistent/servercert.pem")),
            Err(Error::Read(_))
        ));
    }
}
