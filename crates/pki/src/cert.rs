//! Parsed X.509 certificates: the fields the agents, the controllers and the apiserver read.

use std::net::IpAddr;
use std::time::SystemTime;

use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::PkiError;
use crate::key::PublicKeyAlgorithm;
use crate::parse::{self, Sans};
use crate::pemfile;

/// A certificate, parsed once; accessors are cheap.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    subject_der: Vec<u8>,
    spki_der: Vec<u8>,
    subject_public_key: Vec<u8>,
    not_before: SystemTime,
    not_after: SystemTime,
    serial: Vec<u8>,
    common_name: Option<String>,
    organizations: Vec<String>,
    sans: Sans,
    is_ca: bool,
    /// KeyUsage bits (bit n = RFC 5280 bit n), `None` when the extension is absent.
    key_usage: Option<u16>,
    subject_key_id: Option<Vec<u8>>,
    public_key_algorithm: PublicKeyAlgorithm,
}

impl Certificate {
    /// Parses the first `CERTIFICATE` PEM block.
    pub fn from_pem(pem_data: &[u8]) -> Result<Certificate, PkiError> {
        parse_certificates_named(pem_data, "certificate PEM")?
            .into_iter()
            .next()
            .ok_or_else(|| PkiError::MissingPemBlock {
                source_name: "certificate PEM".to_string(),
                expected: pemfile::CERTIFICATE,
            })
    }

    /// Parses one DER certificate.
    pub fn from_der(der_bytes: &[u8]) -> Result<Certificate, PkiError> {
        Self::from_der_named(der_bytes, "certificate")
    }

    pub(crate) fn from_der_named(
        der_bytes: &[u8],
        source_name: &str,
    ) -> Result<Certificate, PkiError> {
        let failed = |reason: String| PkiError::CertificateParse {
            source_name: source_name.to_string(),
            reason,
        };
        let (rest, cert) = x509_parser::certificate::X509Certificate::from_der(der_bytes)
            .map_err(|e| failed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(failed("trailing data".to_string()));
        }
        let (common_name, organizations) = parse::name_fields(cert.subject());
        let mut sans = Sans::default();
        let mut key_usage = None;
        let mut subject_key_id = None;
        let mut is_ca = false;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    sans.add(&san.general_names).map_err(failed)?
                }
                ParsedExtension::KeyUsage(ku) => key_usage = Some(ku.flags),
                ParsedExtension::SubjectKeyIdentifier(id) => subject_key_id = Some(id.0.to_vec()),
                ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
                _ => {}
            }
        }
        Ok(Certificate {
            der: der_bytes.to_vec(),
            subject: cert.subject().to_string(),
            subject_der: cert.subject().as_raw().to_vec(),
            spki_der: cert.public_key().raw.to_vec(),
            subject_public_key: cert.public_key().subject_public_key.data.to_vec(),
            not_before: parse::system_time(&cert.validity().not_before),
            not_after: parse::system_time(&cert.validity().not_after),
            serial: cert.raw_serial().to_vec(),
            common_name,
            organizations,
            sans,
            is_ca,
            key_usage,
            subject_key_id,
            public_key_algorithm: parse::public_key_algorithm(cert.public_key()),
        })
    }

    /// Start of validity.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }
    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
    /// True when `at` lies within [NotBefore, NotAfter].
    pub fn is_valid_at(&self, at: SystemTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }
    /// Serial number as lowercase hex without leading zero bytes.
    pub fn serial_hex(&self) -> String {
        let start = self
            .serial
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(self.serial.len());
        let hex = hex::encode(&self.serial[start..]);
        if hex.is_empty() {
            "00".to_string()
        } else {
            hex
        }
    }
    /// kube-apiserver's credential ID of this certificate ([`credential_id`]).
    pub fn credential_id(&self) -> String {
        credential_id(self.der())
    }
    /// Subject CN (the last one if several, as Go reads it).
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }
    /// Subject O values in order.
    pub fn organizations(&self) -> &[String] {
        &self.organizations
    }
    /// The subject in RFC 4514-like text, for messages.
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// DNS SANs.
    pub fn dns_names(&self) -> &[String] {
        &self.sans.dns
    }
    /// IP SANs.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.sans.ips
    }
    /// Email SANs.
    pub fn email_addresses(&self) -> &[String] {
        &self.sans.emails
    }
    /// URI SANs.
    pub fn uris(&self) -> &[String] {
        &self.sans.uris
    }
    /// BasicConstraints CA:TRUE.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }
    /// The kind of the certified key.
    pub fn public_key_algorithm(&self) -> &PublicKeyAlgorithm {
        &self.public_key_algorithm
    }
    /// DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }
    /// The whole certificate as DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The certificate as one PEM block.
    pub fn to_pem(&self) -> String {
        certificate_pem(&self.der)
    }

    /// Checks that `issuer` signed this certificate (signature and issuer name only; no
    /// validity or chain policy).
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<(), PkiError> {
        let failed = |reason: String| PkiError::CertificateParse {
            source_name: format!("certificate \"{}\"", self.subject),
            reason,
        };
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&self.der)
            .map_err(|e| failed(e.to_string()))?;
        if cert.issuer().as_raw() != issuer.subject_der.as_slice() {
            return Err(failed(format!("not issued by \"{}\"", issuer.subject)));
        }
        let (_, spki) =
            SubjectPublicKeyInfo::from_der(&issuer.spki_der).map_err(|e| failed(e.to_string()))?;
        cert.verify_signature(Some(&spki)).map_err(|e| {
            failed(format!(
                "signature by \"{}\" does not verify: {e}",
                issuer.subject
            ))
        })
    }

    /// The certificate of `candidates` that issued this one (name and signature checked), if
    /// any: which CA of a bundle a leaf belongs to, e.g. during a CA rotation where old and new
    /// CA may share a subject name.
    pub fn issuer_in<'a>(&self, candidates: &'a [Certificate]) -> Option<&'a Certificate> {
        candidates
            .iter()
            .find(|candidate| self.verify_issued_by(candidate).is_ok())
    }

    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }
    pub(crate) fn subject_public_key(&self) -> &[u8] {
        &self.subject_public_key
    }
    pub(crate) fn key_usage(&self) -> Option<u16> {
        self.key_usage
    }
    pub(crate) fn subject_key_id(&self) -> Option<&[u8]> {
        self.subject_key_id.as_deref()
    }
}

/// One `CERTIFICATE` PEM block of `der` (LF endings, 64 columns, as openssl and Go write
/// it), without parsing it.
pub fn certificate_pem(der: &[u8]) -> String {
    pemfile::encode(pemfile::CERTIFICATE, der)
}

/// The credential ID kube-apiserver (1.32+) gives a client certificate in the user's extra
/// `authentication.kubernetes.io/credential-id`: `X509SHA256=` and the SHA-256 of its DER in
/// lowercase hex.
pub fn credential_id(der: &[u8]) -> String {
    use sha2::Digest as _;
    format!("X509SHA256={}", hex::encode(sha2::Sha256::digest(der)))
}

/// The ID of a CA bundle (decision 0029): `SHA256=` and the SHA-256, in lowercase hex, of the
/// DER of its certificates in order. PEM comments, line lengths and blank lines do not change
/// it, so two copies of one bundle compare equal however they were written.
pub fn bundle_id(certificates: &[Certificate]) -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    for certificate in certificates {
        hash.update(certificate.der());
    }
    format!("SHA256={}", hex::encode(hash.finalize()))
}

/// Every `CERTIFICATE` block in `pem_data`, in order; an error if there is none or one is bad.
pub fn parse_certificates(pem_data: &[u8]) -> Result<Vec<Certificate>, PkiError> {
    parse_certificates_named(pem_data, "certificate PEM")
}

pub(crate) fn parse_certificates_named(
    pem_data: &[u8],
    source_name: &str,
) -> Result<Vec<Certificate>, PkiError> {
    let certs = pemfile::blocks(pem_data, source_name)?
        .iter()
        .filter(|b| b.tag() == pemfile::CERTIFICATE)
        .map(|b| Certificate::from_der_named(b.contents(), source_name))
        .collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(PkiError::MissingPemBlock {
            source_name: source_name.to_string(),
            expected: pemfile::CERTIFICATE,
        });
    }
    Ok(certs)
}
