//! rustls settings: trust only the configured CA (or, when the kubeconfig says so, nothing at
//! all), and present whichever client certificate is current at handshake time.

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use kubeconfig::Identity;
use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::ClientError;

/// The provider of this workspace (decision 0001): aws-lc-rs, offering the AES-128-GCM
/// suites first as Go's client (client-go, kubectl) does on AES hardware: the handshake's
/// key schedule then runs on SHA-256 rather than SHA-384 (decision 0015). Built once per
/// process: every client, identity swap and client key asks for it.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    const AES_128_GCM_FIRST: [CipherSuite; 3] = [
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ];
    Arc::clone(PROVIDER.get_or_init(|| {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        provider
            .cipher_suites
            .sort_by_key(|suite| !AES_128_GCM_FIRST.contains(&suite.suite()));
        Arc::new(provider)
    }))
}

/// Parses a PEM client certificate chain and its key (the key may sit in the same combined
/// file, as the kubelet's `kubelet-client-current.pem` does).
pub(crate) fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, ClientError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ClientError::Tls(format!("failed to read the client certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(ClientError::Tls(
            "the client certificate PEM holds no CERTIFICATE block".to_string(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| ClientError::Tls(format!("failed to read the client key PEM: {e}")))?;
    let provider = provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| ClientError::Tls(format!("unusable client key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| ClientError::Tls(format!("client certificate and key do not match: {e}")))?;
    Ok(certified)
}

/// The client certificate presented on new handshakes; replaced on identity swaps.
#[derive(Default)]
pub(crate) struct SwappableClientCert {
    current: RwLock<Option<Arc<CertifiedKey>>>,
}

impl SwappableClientCert {
    pub(crate) fn set(&self, key: Option<Arc<CertifiedKey>>) {
        // A poisoned lock only means a panic elsewhere while holding it; the value is a
        // plain Option and stays consistent.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
    }

    fn get(&self) -> Option<Arc<CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl fmt::Debug for SwappableClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwappableClientCert")
            .field("present", &self.get().is_some())
            .finish()
    }
}

impl ResolvesClientCert for SwappableClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.get()
    }

    fn has_certs(&self) -> bool {
        self.get().is_some()
    }
}

/// Builds the certificate part of an identity (`None` for tokens and anonymous).
pub(crate) fn identity_cert(identity: &Identity) -> Result<Option<Arc<CertifiedKey>>, ClientError> {
    match identity {
        Identity::ClientCertificate { cert_pem, key_pem } => {
            Ok(Some(Arc::new(certified_key(cert_pem, key_pem)?)))
        }
        Identity::Token(_) | Identity::None => Ok(None),
    }
}

/// How the server certificate is checked.
#[derive(Clone)]
pub(crate) enum ServerTrust {
    Roots(Arc<RootCertStore>),
    InsecureSkipVerify,
}

impl ServerTrust {
    pub(crate) fn new(ca_pem: Option<&[u8]>, insecure: bool) -> Result<ServerTrust, ClientError> {
        if insecure {
            return Ok(ServerTrust::InsecureSkipVerify);
        }
        let ca_pem = ca_pem.ok_or_else(|| {
            ClientError::InvalidConfig(
                "no certificate-authority given and insecure-skip-tls-verify is off \
                 (system roots are not used)"
                    .to_string(),
            )
        })?;
        let mut roots = RootCertStore::empty();
        let mut count = 0;
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert =
                cert.map_err(|e| ClientError::Tls(format!("failed to read the CA PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Tls(format!("unusable CA certificate: {e}")))?;
            count += 1;
        }
        if count == 0 {
            return Err(ClientError::Tls(
                "the CA PEM holds no CERTIFICATE block".to_string(),
            ));
        }
        Ok(ServerTrust::Roots(Arc::new(roots)))
    }

    pub(crate) fn is_insecure(&self) -> bool {
        matches!(self, ServerTrust::InsecureSkipVerify)
    }
}

/// A fresh rustls config (own session cache: a resumed session must not carry the previous
/// identity to the server) offering h2 then http/1.1.
pub(crate) fn client_config(
    trust: &ServerTrust,
    client_cert: Arc<SwappableClientCert>,
) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(format!("no usable TLS versions: {e}")))?;
    let builder =
        match trust {
            ServerTrust::Roots(roots) => builder.with_root_certificates(roots.clone()),
            ServerTrust::InsecureSkipVerify => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(InsecureAcceptAnyServerCertificate {
                    provider,
                })),
        };
    let mut config = builder.with_client_cert_resolver(client_cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `insecure-skip-tls-verify: true`: accepts ANY server certificate, so anyone on the path
/// can impersonate the apiserver. Kubeconfigs use it in labs; handshake signatures are
/// still checked so the TLS session itself is sound.
#[derive(Debug)]
struct InsecureAcceptAnyServerCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for InsecureAcceptAnyServerCertificate {
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_gcm_suites_come_first_and_none_is_dropped() {
        let ours: Vec<CipherSuite> = provider().cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(ours[0], CipherSuite::TLS13_AES_128_GCM_SHA256);
        let tls12 = ours
            .iter()
            .position(|s| !format!("{s:?}").starts_with("TLS13"));
        assert!(tls12.is_some_and(|i| ours[i].as_str().is_some_and(|n| n.contains("AES_128_GCM"))));
        let mut defaults: Vec<CipherSuite> = rustls::crypto::aws_lc_rs::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        let mut sorted = ours.clone();
        defaults.sort_by_key(|s| u16::from(*s));
        sorted.sort_by_key(|s| u16::from(*s));
        assert_eq!(sorted, defaults);
    }
}
