//! PKCS#10 certificate signing requests: building them for a node key, parsing and verifying
//! the ones clients send.

use std::net::IpAddr;

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME;
use x509_parser::prelude::FromDer;

use crate::der;
use crate::error::PkiError;
use crate::key::{PrivateKey, PublicKeyAlgorithm};
use crate::parse::{self, Sans};
use crate::pemfile;

/// The subject of a CSR the way Kubernetes uses it: CN is the user, O the groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsrSubject {
    /// Subject common name (`system:node:<name>` for kubelets).
    pub common_name: String,
    /// Subject organizations (`system:nodes` for kubelets).
    pub organizations: Vec<String>,
}

/// Subject alternative names to request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectAltNames {
    /// DNS names.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
}

/// Builds a PEM `CERTIFICATE REQUEST` signed by `key`, laid out like Go's
/// `x509.CreateCertificateRequest` (O RDN then CN RDN; SANs in an extensionRequest).
pub fn build_csr(
    key: &PrivateKey,
    subject: &CsrSubject,
    sans: &SubjectAltNames,
) -> Result<String, PkiError> {
    let subject_der = der::encode_name(&subject.common_name, &subject.organizations);
    let san_list = der::SanList {
        dns: &sans.dns,
        ips: &sans.ips,
        ..Default::default()
    };
    let subject_is_empty = subject.common_name.is_empty() && subject.organizations.is_empty();
    let san_extension = der::subject_alt_name_extension(&san_list, subject_is_empty)?;
    let info = der::certification_request_info(
        &subject_der,
        &key.public_key_der(),
        san_extension.as_deref(),
    );
    let signature = key.sign(&info)?;
    let request = der::signed_envelope(&info, key.signature_algorithm_der(), &signature);
    Ok(pemfile::encode(pemfile::CERTIFICATE_REQUEST, &request))
}

/// One extension a CSR asks for (they are all dropped when signing; exposed for policy checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrExtension {
    /// Dotted OID, e.g. `2.5.29.17`.
    pub oid: String,
    /// The critical flag.
    pub critical: bool,
    /// The DER extnValue content.
    pub value: Vec<u8>,
}

/// What a PKCS#10 request asks for, parsed but with its self-signature not checked: enough to
/// judge a request (upstream's approver and CertificateSubjectRestriction only parse), never
/// enough to sign one, which takes a [`Csr`].
#[derive(Debug, Clone)]
pub struct ParsedCsr {
    der: Vec<u8>,
    subject_der: Vec<u8>,
    spki_der: Vec<u8>,
    common_name: Option<String>,
    organizations: Vec<String>,
    sans: Sans,
    extensions: Vec<CsrExtension>,
    public_key_algorithm: PublicKeyAlgorithm,
}

/// A parsed PKCS#10 request whose self-signature has been verified; it reads as the
/// [`ParsedCsr`] it is.
#[derive(Debug, Clone)]
pub struct Csr {
    parsed: ParsedCsr,
}

impl std::ops::Deref for Csr {
    type Target = ParsedCsr;

    fn deref(&self) -> &ParsedCsr {
        &self.parsed
    }
}

/// Whether a parse also checks the self-signature (~50 us of P-256 verify, the dearest part).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signature {
    Verify,
    Skip,
}

fn request_der(pem_data: &[u8]) -> Result<Vec<u8>, PkiError> {
    let block = pem::parse(pem_data).map_err(|_| PkiError::CsrPemType)?;
    if block.tag() != pemfile::CERTIFICATE_REQUEST {
        return Err(PkiError::CsrPemType);
    }
    Ok(block.into_contents())
}

impl Csr {
    /// Parses the first PEM block, which must be a `CERTIFICATE REQUEST`, and verifies the
    /// self-signature (RSA PKCS#1 v1.5 / PSS, ECDSA P-256/P-384, Ed25519).
    pub fn from_pem(pem_data: &[u8]) -> Result<Csr, PkiError> {
        Self::from_der(&request_der(pem_data)?)
    }

    /// Parses DER and verifies the self-signature.
    pub fn from_der(der_bytes: &[u8]) -> Result<Csr, PkiError> {
        let parsed = ParsedCsr::parse(der_bytes, Signature::Verify)?;
        Ok(Csr { parsed })
    }
}

impl ParsedCsr {
    /// Parses the first PEM block, which must be a `CERTIFICATE REQUEST`, without checking
    /// the self-signature.
    pub fn from_pem(pem_data: &[u8]) -> Result<ParsedCsr, PkiError> {
        Self::parse(&request_der(pem_data)?, Signature::Skip)
    }

    fn parse(der_bytes: &[u8], signature: Signature) -> Result<ParsedCsr, PkiError> {
        let (rest, req) = X509CertificationRequest::from_der(der_bytes)
            .map_err(|e| PkiError::CsrParse(e.to_string()))?;
        if !rest.is_empty() {
            return Err(PkiError::CsrParse("trailing data".to_string()));
        }
        if signature == Signature::Verify {
            req.verify_signature()
                .map_err(|e| PkiError::CsrSignature(e.to_string()))?;
        }

        let info = &req.certification_request_info;
        let (common_name, organizations) = parse::name_fields(&info.subject);
        let mut sans = Sans::default();
        let mut extensions = Vec::new();
        for attr in info.attributes() {
            let ParsedCriAttribute::ExtensionRequest(request) = attr.parsed_attribute() else {
                continue;
            };
            for ext in &request.extensions {
                if ext.oid == OID_X509_EXT_SUBJECT_ALT_NAME {
                    match ext.parsed_extension() {
                        ParsedExtension::SubjectAlternativeName(san) => {
                            sans.add(&san.general_names).map_err(PkiError::CsrParse)?
                        }
                        other => {
                            return Err(PkiError::CsrParse(format!(
                                "invalid subjectAltName extension: {other:?}"
                            )));
                        }
                    }
                }
                extensions.push(CsrExtension {
                    oid: ext.oid.to_id_string(),
                    critical: ext.critical,
                    value: ext.value.to_vec(),
                });
            }
        }
        Ok(ParsedCsr {
            der: der_bytes.to_vec(),
            subject_der: info.subject.as_raw().to_vec(),
            spki_der: info.subject_pki.raw.to_vec(),
            common_name,
            organizations,
            sans,
            extensions,
            public_key_algorithm: parse::public_key_algorithm(&info.subject_pki),
        })
    }

    /// The subject CN (the last one if there are several, as Go reads it).
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }
    /// The subject O values in order.
    pub fn organizations(&self) -> &[String] {
        &self.organizations
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
    /// Every extension in the extensionRequest attribute.
    pub fn extensions(&self) -> &[CsrExtension] {
        &self.extensions
    }
    /// The kind of the requested public key.
    pub fn public_key_algorithm(&self) -> &PublicKeyAlgorithm {
        &self.public_key_algorithm
    }
    /// DER SubjectPublicKeyInfo of the requested key (the kubelet hashes it for CSR names).
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }
    /// DER of the subject Name, byte for byte as requested.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }
    /// The whole request as DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The whole request as PEM.
    pub fn to_pem(&self) -> String {
        pemfile::encode(pemfile::CERTIFICATE_REQUEST, &self.der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyAlgorithm;

    fn node_subject() -> CsrSubject {
        CsrSubject {
            common_name: "system:node:worker-1".into(),
            organizations: vec!["system:nodes".into()],
        }
    }

    #[test]
    fn built_csr_round_trips() {
        let key = PrivateKey::generate_p256().unwrap();
        let sans = SubjectAltNames {
            dns: vec!["worker-1".into(), "worker-1.example".into()],
            ips: vec!["10.0.0.11".parse().unwrap(), "fd00::1".parse().unwrap()],
        };
        let pem = build_csr(&key, &node_subject(), &sans).unwrap();
        let csr = Csr::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(csr.common_name(), Some("system:node:worker-1"));
        assert_eq!(csr.organizations(), ["system:nodes"]);
        assert_eq!(csr.dns_names(), sans.dns.as_slice());
        assert_eq!(csr.ip_addresses(), sans.ips.as_slice());
        assert!(csr.email_addresses().is_empty() && csr.uris().is_empty());
        assert_eq!(csr.public_key_algorithm(), &PublicKeyAlgorithm::EcdsaP256);
        assert_eq!(csr.public_key_der(), key.public_key_der().as_slice());
        assert_eq!(csr.extensions().len(), 1);
        assert_eq!(csr.extensions()[0].oid, "2.5.29.17");
    }

    #[test]
    fn csr_without_sans_has_no_extensions() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let pem = build_csr(&key, &node_subject(), &SubjectAltNames::default()).unwrap();
        let csr = Csr::from_pem(pem.as_bytes()).unwrap();
        assert!(csr.extensions().is_empty());
        assert_eq!(csr.public_key_algorithm(), &PublicKeyAlgorithm::EcdsaP384);
    }

    #[test]
    fn wrong_block_type_is_rejected_with_upstream_message() {
        let key = PrivateKey::generate_p256().unwrap();
        let err = Csr::from_pem(key.to_pem().as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PEM block type must be CERTIFICATE REQUEST"
        );
        let err = Csr::from_pem(b"not pem").unwrap_err();
        assert_eq!(
            err.to_string(),
            "PEM block type must be CERTIFICATE REQUEST"
        );
    }

    #[test]
    fn tampered_csr_fails_verification() {
        let key = PrivateKey::generate_p256().unwrap();
        let pem = build_csr(&key, &node_subject(), &SubjectAltNames::default()).unwrap();
        let mut der = Csr::from_pem(pem.as_bytes()).unwrap().der().to_vec();
        // Flip one letter of the CN inside the signed part.
        let pos = der.windows(6).position(|w| w == b"worker").unwrap();
        der[pos] = b'W';
        let err = Csr::from_der(&der).unwrap_err();
        assert!(matches!(err, PkiError::CsrSignature(_)), "{err}");

        // Parsing alone does not look at the signature: it reads what the bytes ask for.
        let tampered = pemfile::encode(pemfile::CERTIFICATE_REQUEST, &der);
        let parsed = ParsedCsr::from_pem(tampered.as_bytes()).unwrap();
        assert_eq!(parsed.common_name(), Some("system:node:Worker-1"));
        assert_eq!(parsed.der(), der.as_slice());
    }

    #[test]
    fn parsing_without_verifying_still_rejects_what_is_not_a_request() {
        let key = PrivateKey::generate_p256().unwrap();
        assert!(matches!(
            ParsedCsr::from_pem(key.to_pem().as_bytes()).unwrap_err(),
            PkiError::CsrPemType
        ));
        let garbage = pemfile::encode(pemfile::CERTIFICATE_REQUEST, b"\x30\x03\x02\x01\x00");
        assert!(matches!(
            ParsedCsr::from_pem(garbage.as_bytes()).unwrap_err(),
            PkiError::CsrParse(_)
        ));
    }

    #[test]
    fn garbage_der_is_a_parse_error() {
        assert!(matches!(
            Csr::from_der(b"\x30\x03\x02\x01\x00").unwrap_err(),
            PkiError::CsrParse(_)
        ));
    }
}
