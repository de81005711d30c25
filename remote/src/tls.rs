//! Opportunistic TLS for STARTTLS (rustls, ring).
//!
//! What "opportunistic" means here is what it means for Postfix's
//! `smtp_tls_security_level = may` and for RFC 7435: encrypt when the
//! server offers it, accept whatever certificate it shows (an MX name
//! rarely matches one, and self-signed certificates are common among
//! MTAs), and never deliver less than a client without TLS would. The
//! handshake itself is checked (the server must prove it holds the key
//! of the certificate it sent), so the session is encrypted; it is not
//! authenticated, which only DANE or MTA-STS could give and which this
//! program does not claim.
//!
//! TLS 1.2 and 1.3 only (rustls has nothing older); a server that
//! speaks only TLS 1.0 fails the handshake, and the caller then
//! delivers without TLS (see `deliver`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

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

/// The client configuration for every STARTTLS.
pub fn client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name to put in SNI: the MX host name when we have one, else the
/// address (which rustls leaves out of SNI).
pub fn server_name(name: Option<&str>, ip: std::net::IpAddr) -> ServerName<'static> {
    name.and_then(|n| ServerName::try_from(n.to_string()).ok())
        .unwrap_or(ServerName::IpAddress(ip.into()))
}
