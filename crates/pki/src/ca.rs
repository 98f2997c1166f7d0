//! The cluster CA: loaded once from the files operators have (or generated for a lab), with
//! everything signing needs precomputed so that each signature does no parsing.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cert::{self, Certificate};
use crate::der;
use crate::error::PkiError;
use crate::issue;
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::pemfile;
use crate::usage::ku_bit;

/// A CA certificate with its private key. Cheap to share behind an `Arc`; signing takes `&self`.
#[derive(Debug)]
pub struct CertificateAuthority {
    /// The signing certificate (the first one of the file).
    pub(crate) cert: Certificate,
    /// Every certificate of the file, for trust bundles.
    bundle: Vec<Certificate>,
    pub(crate) key: PrivateKey,
    /// AuthorityKeyIdentifier for issued certificates: the CA's SubjectKeyIdentifier, as Go does.
    pub(crate) authority_key_id: Option<Vec<u8>>,
}

impl CertificateAuthority {
    /// Loads `--cluster-signing-cert-file` / `--cluster-signing-key-file`.
    ///
    /// The cert file may be a bundle: the first certificate is the signer and the key must be
    /// its key (upstream insists on exactly one certificate; we accept a bundle so rotated CA
    /// files work, and say clearly which certificate the key must match).
    pub fn load(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<CertificateAuthority, PkiError> {
        let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
        Self::from_pem_named(
            &pemfile::read_file(cert_path)?,
            &cert_path.display().to_string(),
            &pemfile::read_file(key_path)?,
            &key_path.display().to_string(),
            SystemTime::now(),
        )
    }

    /// Same checks as [`load`](Self::load), from PEM text.
    pub fn from_pem(
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<CertificateAuthority, PkiError> {
        Self::from_pem_named(
            cert_pem.as_ref(),
            "CA certificate PEM",
            key_pem.as_ref(),
            "CA key PEM",
            SystemTime::now(),
        )
    }

    pub(crate) fn from_pem_named(
        cert_pem: &[u8],
        cert_source: &str,
        key_pem: &[u8],
        key_source: &str,
        now: SystemTime,
    ) -> Result<CertificateAuthority, PkiError> {
        let bundle = cert::parse_certificates_named(cert_pem, cert_source)?;
        let signer = bundle[0].clone();
        let named = |subject: &str| (cert_source.to_string(), subject.to_string());
        if !signer.is_ca() {
            let (source_name, subject) = named(signer.subject());
            return Err(PkiError::NotCa {
                source_name,
                subject,
            });
        }
        if signer
            .key_usage()
            .is_some_and(|bits| bits & (1 << ku_bit::CERT_SIGN) == 0)
        {
            let (source_name, subject) = named(signer.subject());
            return Err(PkiError::CaCannotSign {
                source_name,
                subject,
            });
        }
        if signer.not_after() <= now {
            let (source_name, subject) = named(signer.subject());
            return Err(PkiError::CaExpired {
                source_name,
                subject,
                not_after: signer.not_after(),
            });
        }
        let key = PrivateKey::from_pem_named(key_pem, key_source)?;
        if !key.matches_public_key(signer.subject_public_key()) {
            return Err(PkiError::CaKeyMismatch {
                cert_source: cert_source.to_string(),
                key_source: key_source.to_string(),
                subject: signer.subject().to_string(),
            });
        }
        let authority_key_id = signer.subject_key_id().map(<[u8]>::to_vec);
        Ok(CertificateAuthority {
            cert: signer,
            bundle,
            key,
            authority_key_id,
        })
    }

    /// A new self-signed CA (CN only), valid from 5 minutes ago for `validity`.
    pub fn generate(
        common_name: &str,
        algorithm: KeyAlgorithm,
        validity: Duration,
    ) -> Result<CertificateAuthority, PkiError> {
        let key = PrivateKey::generate(algorithm)?;
        let now = SystemTime::now();
        let subject = der::encode_name(common_name, &[]);
        let key_id = issue::key_identifier(&key);
        let extensions = [
            // Like client-go's certutil.NewSelfSignedCACert.
            der::key_usage_extension(
                (1 << ku_bit::DIGITAL_SIGNATURE)
                    | (1 << ku_bit::KEY_ENCIPHERMENT)
                    | (1 << ku_bit::CERT_SIGN),
            ),
            Some(der::basic_constraints_extension(true)),
            Some(der::subject_key_id_extension(&key_id)),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
        let der_bytes = issue::sign_tbs(
            &key,
            &subject,
            &subject,
            &key.public_key_der(),
            now - issue::BACKDATE,
            now + validity,
            &extensions,
        )?;
        let cert = Certificate::from_der(&der_bytes)?;
        Ok(CertificateAuthority {
            bundle: vec![cert.clone()],
            cert,
            key,
            authority_key_id: Some(key_id),
        })
    }

    /// A certificate for the CA `other` (its subject, key and key identifier) signed by this
    /// CA: sent as an intermediate after a leaf `other` issued, it lets a client that trusts
    /// only this CA verify that leaf, while a client that trusts `other` ignores it. This is
    /// how a CA rotation stays verifiable by a machine that was off while the trust bundle
    /// moved. Valid from 5 minutes ago until the earlier end of the two CAs.
    pub fn cross_sign(&self, other: &Certificate) -> Result<String, PkiError> {
        let now = SystemTime::now();
        if !other.is_ca() {
            return Err(PkiError::NotCa {
                source_name: "the CA to cross-sign".to_string(),
                subject: other.subject().to_string(),
            });
        }
        let not_after = other.not_after().min(self.not_after());
        if not_after <= now {
            return Err(PkiError::ExpiredInPast(not_after));
        }
        // The other CA's own extensions as Go would write them, with this CA as authority.
        let mut extensions = Vec::with_capacity(4);
        extensions.extend(other.key_usage().and_then(der::key_usage_extension));
        extensions.push(der::basic_constraints_extension(true));
        if let Some(id) = other.subject_key_id() {
            extensions.push(der::subject_key_id_extension(id));
        }
        if let Some(id) = &self.authority_key_id {
            extensions.push(der::authority_key_id_extension(id));
        }
        let der_bytes = issue::sign_tbs(
            &self.key,
            self.cert.subject_der(),
            other.subject_der(),
            other.public_key_der(),
            now - issue::BACKDATE,
            not_after,
            &extensions,
        )?;
        Ok(pemfile::encode(pemfile::CERTIFICATE, &der_bytes))
    }

    /// PEM of the signing certificate.
    pub fn cert_pem(&self) -> String {
        self.cert.to_pem()
    }
    /// PEM of every certificate of the loaded file (the signer first): a trust bundle.
    pub fn bundle_pem(&self) -> String {
        self.bundle.iter().map(Certificate::to_pem).collect()
    }
    /// PEM of the private key, in the form it was loaded in.
    pub fn key_pem(&self) -> String {
        self.key.to_pem()
    }
    /// The signing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }
    /// End of the signing certificate's validity; issued certificates never outlive it.
    pub fn not_after(&self) -> SystemTime {
        self.cert.not_after()
    }
}
