//! TLS to BMCs. Verified connections use the public roots plus the private CA of
//! `RACKSTATE_BMC_CA_FILE`; unverified ones (self-signed BMCs) are trusted on first
//! use: the certificate's SHA-256 is noted at every handshake and, once pinned, any
//! other certificate ends the handshake before a credential is sent.

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::Digest;
use std::sync::{Arc, Mutex};

/// The pin a connection must match, and the certificate it last saw.
#[derive(Debug, Default)]
pub struct TlsState {
    pub pin: Mutex<Option<String>>,
    pub seen: Mutex<Option<String>>,
}

impl TlsState {
    pub fn seen(&self) -> Option<String> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }

    fn pin(&self) -> Option<String> {
        self.pin.lock().ok().and_then(|p| p.clone())
    }
}

/// SHA-256 of a certificate (DER), lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    sha2::Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a PEM bundle (`RACKSTATE_BMC_CA_FILE`) into DER certificates.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.as_ref().to_vec()).map_err(|e| format!("not a PEM certificate bundle: {e}")))
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(certs)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS configuration of a BMC client; None keeps reqwest's default (verified
/// against the public roots).
pub fn client_config(
    verify: bool,
    ca: &[Vec<u8>],
    state: Arc<TlsState>,
) -> Result<Option<rustls::ClientConfig>, String> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    if verify {
        if ca.is_empty() {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for der in ca {
            roots.add(CertificateDer::from(der.clone())).map_err(|e| format!("RACKSTATE_BMC_CA_FILE: {e}"))?;
        }
        return Ok(Some(builder.with_root_certificates(roots).with_no_client_auth()));
    }
    let verifier = Arc::new(FirstUse { state, provider });
    Ok(Some(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()))
}

/// Trust on first use: any certificate until one is pinned, then only that one.
#[derive(Debug)]
struct FirstUse {
    state: Arc<TlsState>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for FirstUse {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = fingerprint(end_entity.as_ref());
        if let Ok(mut s) = self.state.seen.lock() {
            *s = Some(seen.clone());
        }
        match self.state.pin() {
            Some(pin) if !pin.eq_ignore_ascii_case(&seen) => {
                Err(rustls::Error::General("the BMC's certificate is not the pinned one".into()))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
