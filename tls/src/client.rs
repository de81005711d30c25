//! rustls client configurations for STARTTLS (qmail-remote): an
//! opportunistic one that takes any certificate, and a verified one
//! that checks the chain against the system's CA store (and an extra CA
//! file the admin names) and the server's name.
//!
//! What "opportunistic" means here is what it means for Postfix's
//! `smtp_tls_security_level = may` and for RFC 7435: encrypt when the
//! server offers it, accept whatever certificate it shows (an MX name
//! rarely matches one, and self-signed certificates are common among
//! MTAs), and never deliver less than a client without TLS would. The
//! handshake itself is checked (the server must prove it holds the key
//! of the certificate it sent), so the session is encrypted; it is not
//! authenticated.
//!
//! "Verified" is Postfix's `verify` level: the chain must lead to a
//! trusted root and the certificate must name the host we meant to
//! reach (the MX or relay name, or its address when we only have one).
//!
//! TLS 1.2 and 1.3 only (rustls has nothing older).

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{Error, provider};

/// Accepts any certificate, but checks the handshake signatures.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The configuration for opportunistic STARTTLS: any certificate.
pub fn opportunistic() -> Result<Arc<ClientConfig>, Error> {
    let provider = provider();
    let verifier = Arc::new(AnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Rustls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The system's trusted roots (`/etc/ssl/certs` on Debian, or where
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` point, as OpenSSL reads them). A file
/// that does not parse is skipped, as OpenSSL skips it.
pub fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    roots
}

/// The configuration for verified STARTTLS: the chain must lead to one
/// of `roots` or of the certificates in the PEM text `extra_ca`.
pub fn verified(
    mut roots: RootCertStore,
    extra_ca: Option<&[u8]>,
) -> Result<Arc<ClientConfig>, Error> {
    if let Some(pem) = extra_ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Pem(format!("{e:?}")))?;
        if certs.is_empty() {
            return Err(Error::NoCertificate);
        }
        for c in certs {
            roots.add(c).map_err(Error::Rustls)?;
        }
    }
    if roots.is_empty() {
        // rustls refuses to build a verifier without roots; with none
        // every certificate fails, which is what an empty store means.
        return Err(Error::NoCertificate);
    }
    let provider = provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Rustls(rustls::Error::General(e.to_string())))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Rustls)?
        .with_webpki_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name to put in SNI and, for a verified session, to check the
/// certificate against: the MX or relay host name when we have one,
/// else the address (which rustls leaves out of SNI).
pub fn server_name(name: Option<&str>, ip: IpAddr) -> ServerName<'static> {
    name.and_then(|n| ServerName::try_from(n.to_string()).ok())
        .unwrap_or(ServerName::IpAddress(ip.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_build() {
        assert!(opportunistic().is_ok());
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let pem = ca.cert.pem();
        assert!(verified(RootCertStore::empty(), Some(pem.as_bytes())).is_ok());
        assert!(matches!(
            verified(RootCertStore::empty(), None),
            Err(Error::NoCertificate)
        ));
        assert!(matches!(
            verified(RootCertStore::empty(), Some(b"no pem here")),
            Err(Error::NoCertificate)
        ));
    }

    #[test]
    fn names_and_addresses() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            server_name(Some("mx.example"), ip),
            ServerName::try_from("mx.example").unwrap()
        );
        assert_eq!(server_name(None, ip), ServerName::IpAddress(ip.into()));
    }
}
