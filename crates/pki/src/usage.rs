//! The 23 Kubernetes key usage strings (`certificates.k8s.io/v1` `KeyUsage`) and how they map
//! onto X.509 KeyUsage bits and ExtendedKeyUsage OIDs, exactly as upstream's
//! `keyUsagesFromStrings` does.

use std::fmt;

use crate::error::PkiError;

/// One Kubernetes key usage string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Usage {
    Signing,
    DigitalSignature,
    ContentCommitment,
    KeyEncipherment,
    KeyAgreement,
    DataEncipherment,
    CertSign,
    CrlSign,
    EncipherOnly,
    DecipherOnly,
    Any,
    ServerAuth,
    ClientAuth,
    CodeSigning,
    EmailProtection,
    SMime,
    IpsecEndSystem,
    IpsecTunnel,
    IpsecUser,
    Timestamping,
    OcspSigning,
    MicrosoftSgc,
    NetscapeSgc,
}

/// Every usage with its wire string, in the order the Kubernetes API lists them.
const ALL: [(Usage, &str); 23] = [
    (Usage::Signing, "signing"),
    (Usage::DigitalSignature, "digital signature"),
    (Usage::ContentCommitment, "content commitment"),
    (Usage::KeyEncipherment, "key encipherment"),
    (Usage::KeyAgreement, "key agreement"),
    (Usage::DataEncipherment, "data encipherment"),
    (Usage::CertSign, "cert sign"),
    (Usage::CrlSign, "crl sign"),
    (Usage::EncipherOnly, "encipher only"),
    (Usage::DecipherOnly, "decipher only"),
    (Usage::Any, "any"),
    (Usage::ServerAuth, "server auth"),
    (Usage::ClientAuth, "client auth"),
    (Usage::CodeSigning, "code signing"),
    (Usage::EmailProtection, "email protection"),
    (Usage::SMime, "s/mime"),
    (Usage::IpsecEndSystem, "ipsec end system"),
    (Usage::IpsecTunnel, "ipsec tunnel"),
    (Usage::IpsecUser, "ipsec user"),
    (Usage::Timestamping, "timestamping"),
    (Usage::OcspSigning, "ocsp signing"),
    (Usage::MicrosoftSgc, "microsoft sgc"),
    (Usage::NetscapeSgc, "netscape sgc"),
];

/// X.509 KeyUsage bit numbers (RFC 5280 4.2.1.3; bit 0 is digitalSignature).
pub(crate) mod ku_bit {
    pub const DIGITAL_SIGNATURE: u8 = 0;
    pub const CONTENT_COMMITMENT: u8 = 1;
    pub const KEY_ENCIPHERMENT: u8 = 2;
    pub const DATA_ENCIPHERMENT: u8 = 3;
    pub const KEY_AGREEMENT: u8 = 4;
    pub const CERT_SIGN: u8 = 5;
    pub const CRL_SIGN: u8 = 6;
    pub const ENCIPHER_ONLY: u8 = 7;
    pub const DECIPHER_ONLY: u8 = 8;
}

/// An ExtendedKeyUsage purpose. The declaration order is Go's `x509.ExtKeyUsage` enum order,
/// which is the order upstream writes them into certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ExtKeyUsage {
    Any,
    ServerAuth,
    ClientAuth,
    CodeSigning,
    EmailProtection,
    IpsecEndSystem,
    IpsecTunnel,
    IpsecUser,
    TimeStamping,
    OcspSigning,
    MicrosoftServerGatedCrypto,
    NetscapeServerGatedCrypto,
}

impl ExtKeyUsage {
    pub(crate) fn oid(self) -> &'static [u64] {
        match self {
            ExtKeyUsage::Any => &[2, 5, 29, 37, 0],
            ExtKeyUsage::ServerAuth => &[1, 3, 6, 1, 5, 5, 7, 3, 1],
            ExtKeyUsage::ClientAuth => &[1, 3, 6, 1, 5, 5, 7, 3, 2],
            ExtKeyUsage::CodeSigning => &[1, 3, 6, 1, 5, 5, 7, 3, 3],
            ExtKeyUsage::EmailProtection => &[1, 3, 6, 1, 5, 5, 7, 3, 4],
            ExtKeyUsage::IpsecEndSystem => &[1, 3, 6, 1, 5, 5, 7, 3, 5],
            ExtKeyUsage::IpsecTunnel => &[1, 3, 6, 1, 5, 5, 7, 3, 6],
            ExtKeyUsage::IpsecUser => &[1, 3, 6, 1, 5, 5, 7, 3, 7],
            ExtKeyUsage::TimeStamping => &[1, 3, 6, 1, 5, 5, 7, 3, 8],
            ExtKeyUsage::OcspSigning => &[1, 3, 6, 1, 5, 5, 7, 3, 9],
            ExtKeyUsage::MicrosoftServerGatedCrypto => &[1, 3, 6, 1, 4, 1, 311, 10, 3, 3],
            ExtKeyUsage::NetscapeServerGatedCrypto => &[2, 16, 840, 1, 113730, 4, 1],
        }
    }
}

/// Where one usage string lands in the certificate.
enum Mapped {
    KeyUsageBit(u8),
    Extended(ExtKeyUsage),
}

impl Usage {
    /// Parses one wire string; `None` if it is not one of the 23 Kubernetes values.
    pub fn parse(s: &str) -> Option<Usage> {
        ALL.iter().find(|(_, name)| *name == s).map(|(u, _)| *u)
    }

    /// The wire string.
    pub fn as_str(self) -> &'static str {
        // ALL lists every variant, so the lookup cannot miss.
        ALL.iter()
            .find(|(u, _)| *u == self)
            .map(|(_, s)| *s)
            .unwrap_or("")
    }

    /// All 23 usages in API order.
    pub fn all() -> impl Iterator<Item = Usage> {
        ALL.iter().map(|(u, _)| *u)
    }

    fn mapped(self) -> Mapped {
        use Mapped::{Extended as E, KeyUsageBit as K};
        match self {
            Usage::Signing | Usage::DigitalSignature => K(ku_bit::DIGITAL_SIGNATURE),
            Usage::ContentCommitment => K(ku_bit::CONTENT_COMMITMENT),
            Usage::KeyEncipherment => K(ku_bit::KEY_ENCIPHERMENT),
            Usage::KeyAgreement => K(ku_bit::KEY_AGREEMENT),
            Usage::DataEncipherment => K(ku_bit::DATA_ENCIPHERMENT),
            Usage::CertSign => K(ku_bit::CERT_SIGN),
            Usage::CrlSign => K(ku_bit::CRL_SIGN),
            Usage::EncipherOnly => K(ku_bit::ENCIPHER_ONLY),
            Usage::DecipherOnly => K(ku_bit::DECIPHER_ONLY),
            Usage::Any => E(ExtKeyUsage::Any),
            Usage::ServerAuth => E(ExtKeyUsage::ServerAuth),
            Usage::ClientAuth => E(ExtKeyUsage::ClientAuth),
            Usage::CodeSigning => E(ExtKeyUsage::CodeSigning),
            Usage::EmailProtection | Usage::SMime => E(ExtKeyUsage::EmailProtection),
            Usage::IpsecEndSystem => E(ExtKeyUsage::IpsecEndSystem),
            Usage::IpsecTunnel => E(ExtKeyUsage::IpsecTunnel),
            Usage::IpsecUser => E(ExtKeyUsage::IpsecUser),
            Usage::Timestamping => E(ExtKeyUsage::TimeStamping),
            Usage::OcspSigning => E(ExtKeyUsage::OcspSigning),
            Usage::MicrosoftSgc => E(ExtKeyUsage::MicrosoftServerGatedCrypto),
            Usage::NetscapeSgc => E(ExtKeyUsage::NetscapeServerGatedCrypto),
        }
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a list of wire strings; unknown ones give upstream's
/// `unrecognized usage values: ["..."]` error listing all of them.
pub fn parse_usages<S: AsRef<str>>(values: &[S]) -> Result<Vec<Usage>, PkiError> {
    let mut parsed = Vec::with_capacity(values.len());
    let mut unknown = Vec::new();
    for v in values {
        match Usage::parse(v.as_ref()) {
            Some(u) => parsed.push(u),
            None => unknown.push(v.as_ref().to_string()),
        }
    }
    if unknown.is_empty() {
        Ok(parsed)
    } else {
        Err(PkiError::UnrecognizedUsages(unknown))
    }
}

/// The KeyUsage bits (bit n set for RFC 5280 bit n) and the deduplicated, Go-ordered EKUs.
pub(crate) fn key_usages(usages: &[Usage]) -> (u16, Vec<ExtKeyUsage>) {
    let mut bits = 0u16;
    let mut ekus = Vec::new();
    for u in usages {
        match u.mapped() {
            Mapped::KeyUsageBit(b) => bits |= 1 << b,
            Mapped::Extended(e) => ekus.push(e),
        }
    }
    ekus.sort();
    ekus.dedup();
    (bits, ekus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_usage_round_trips_through_its_string() {
        assert_eq!(Usage::all().count(), 23);
        for u in Usage::all() {
            assert_eq!(Usage::parse(u.as_str()), Some(u));
        }
        assert_eq!(Usage::parse("Client Auth"), None);
    }

    #[test]
    fn unknown_usages_are_all_reported() {
        let err = parse_usages(&["client auth", "bogus", "also bogus"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unrecognized usage values: ["bogus" "also bogus"]"#
        );
    }

    #[test]
    fn mapping_dedups_and_orders_like_go() {
        let (bits, ekus) = key_usages(&[
            Usage::ClientAuth,
            Usage::SMime,
            Usage::ServerAuth,
            Usage::EmailProtection,
            Usage::Signing,
            Usage::DigitalSignature,
            Usage::KeyEncipherment,
        ]);
        assert_eq!(bits, 0b101);
        assert_eq!(
            ekus,
            vec![
                ExtKeyUsage::ServerAuth,
                ExtKeyUsage::ClientAuth,
                ExtKeyUsage::EmailProtection
            ]
        );
    }
}
