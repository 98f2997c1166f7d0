//! Helpers shared by CSR and certificate parsing (x509-parser): subject fields with Go's
//! semantics, subject alternative names, public key kinds, times.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::time::ASN1Time;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use crate::key::PublicKeyAlgorithm;

/// Common name and organizations as Go's `pkix.Name.FillFromRDNSequence` sees them: the last
/// CN wins, every O is kept in order, values that are not strings are skipped.
pub(crate) fn name_fields(name: &X509Name<'_>) -> (Option<String>, Vec<String>) {
    let common_name = name
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .last()
        .map(str::to_string);
    let organizations = name
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .map(str::to_string)
        .collect();
    (common_name, organizations)
}

/// The SANs of one SubjectAltName extension, split by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sans {
    pub dns: Vec<String>,
    pub emails: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub uris: Vec<String>,
}

impl Sans {
    /// Adds the names Go understands (DNS, email, IP, URI); other kinds are ignored as Go does.
    pub(crate) fn add(&mut self, names: &[GeneralName<'_>]) -> Result<(), String> {
        for name in names {
            match name {
                GeneralName::DNSName(d) => self.dns.push((*d).to_string()),
                GeneralName::RFC822Name(e) => self.emails.push((*e).to_string()),
                GeneralName::URI(u) => self.uris.push((*u).to_string()),
                GeneralName::IPAddress(bytes) => self.ips.push(ip_from_bytes(bytes)?),
                GeneralName::Invalid(tag, _) => {
                    return Err(format!("invalid subjectAltName entry with tag {tag}"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Result<IpAddr, String> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(format!("cannot parse IP address of length {}", bytes.len()))
    }
}

pub(crate) fn public_key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> PublicKeyAlgorithm {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        return PublicKeyAlgorithm::Rsa;
    }
    if *alg == OID_SIG_ED25519 {
        return PublicKeyAlgorithm::Ed25519;
    }
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 => return PublicKeyAlgorithm::EcdsaP256,
            Some(c) if c == OID_NIST_EC_P384 => return PublicKeyAlgorithm::EcdsaP384,
            Some(c) if c == OID_NIST_EC_P521 => return PublicKeyAlgorithm::EcdsaP521,
            Some(c) => return PublicKeyAlgorithm::Other(format!("{alg} curve {c}")),
            None => {}
        }
    }
    PublicKeyAlgorithm::Other(alg.to_id_string())
}

pub(crate) fn system_time(t: &ASN1Time) -> SystemTime {
    SystemTime::from(t.to_datetime())
}
