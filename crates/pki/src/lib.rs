//! Keys, CSRs, certificates, the cluster CA, the Kubernetes signer policies and rotation math
//! for kubelet TLS bootstrapping. No I/O except reading the files it is pointed at.
//!
//! Crypto: rcgen + aws-lc-rs hold and use keys, x509-parser parses and verifies, and
//! certificates/CSRs are DER-encoded here with yasna (see `docs/decisions/0001-crypto-backend.md`).

mod ca;
mod cert;
mod csr;
mod der;
mod error;
mod issue;
mod key;
mod parse;
mod pemfile;
pub mod rotation;
pub mod signer;
mod usage;

pub use ca::CertificateAuthority;
pub use cert::{Certificate, bundle_id, certificate_pem, credential_id, parse_certificates};
pub use csr::{Csr, CsrExtension, CsrSubject, ParsedCsr, SubjectAltNames, build_csr};
pub use error::PkiError;
pub use issue::{
    BACKDATE, LeafParams, MIN_TTL, SHORT_TTL_THRESHOLD, signing_duration, validity_window,
};
pub use key::{KeyAlgorithm, PrivateKey, PublicKeyAlgorithm};
pub use signer::SignerError;
pub use usage::{Usage, parse_usages};

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn shared_types_are_send_and_sync() {
        assert_send_sync::<super::CertificateAuthority>();
        assert_send_sync::<super::PrivateKey>();
        assert_send_sync::<super::Csr>();
        assert_send_sync::<super::Certificate>();
    }
}
