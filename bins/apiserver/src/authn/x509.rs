//! Client certificates (`--client-ca-file`): a certificate chaining to the client CA, valid
//! now and allowed for client auth, authenticates as user = subject CN, groups = subject O.

use std::sync::Arc;

use rbac::UserInfo;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a presented client certificate did not authenticate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum X509Error {
    /// The chain does not verify against the client CA (unknown issuer, expired, wrong usage).
    #[error("client certificate rejected: {0}")]
    Verify(#[source] rustls::Error),
    /// The certificate verified but its subject cannot be read.
    #[error("client certificate subject unreadable: {0}")]
    Subject(String),
}

/// The client CA and how to turn a verified certificate into a user.
#[derive(Debug)]
pub struct ClientCertAuthority {
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ClientCertAuthority {
    /// Wraps a WebPKI verifier built over the client CA's trust anchors.
    pub fn new(verifier: Arc<dyn ClientCertVerifier>) -> Self {
        ClientCertAuthority { verifier }
    }

    /// Verifies the peer's chain (end entity first) and reads the user from its subject.
    pub fn authenticate(&self, chain: &[CertificateDer<'_>]) -> Result<UserInfo, X509Error> {
        let (end_entity, intermediates) = chain
            .split_first()
            .ok_or(X509Error::Verify(rustls::Error::NoCertificatesPresented))?;
        self.verifier
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map_err(X509Error::Verify)?;
        user_from_certificate(end_entity)
    }
}

/// User = CN (the last one, as Go's `pkix.Name` keeps it), groups = every O in order.
fn user_from_certificate(der: &CertificateDer<'_>) -> Result<UserInfo, X509Error> {
    let (_, cert) =
        X509Certificate::from_der(der.as_ref()).map_err(|e| X509Error::Subject(e.to_string()))?;
    let subject = cert.subject();
    let text = |attr: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        attr.as_str()
            .map(str::to_string)
            .map_err(|e| X509Error::Subject(e.to_string()))
    };
    let name = match subject.iter_common_name().last() {
        Some(cn) => text(cn)?,
        None => String::new(),
    };
    let groups = subject
        .iter_organization()
        .map(text)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(UserInfo::new(name, groups))
}
