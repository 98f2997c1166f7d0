//! Private keys: loading every PEM form operators have (PKCS#1 RSA, SEC1 EC, PKCS#8), generating
//! node and CA keys, signing. rcgen (on aws-lc-rs) holds the key; it reads PKCS#1 and SEC1,
//! which ring cannot.

use std::fmt;
use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING};
use rcgen::{PublicKeyData, SigningKey};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use crate::der;
use crate::error::PkiError;
use crate::pemfile;

/// Key types we can generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (the kubelet's default).
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// RSA, 2048-bit modulus.
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// RSA, 4096-bit modulus.
    Rsa4096,
}

/// The kind of a public key (of a key pair, a CSR or a certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKeyAlgorithm {
    /// RSA (rsaEncryption).
    Rsa,
    /// ECDSA P-256.
    EcdsaP256,
    /// ECDSA P-384.
    EcdsaP384,
    /// ECDSA P-521.
    EcdsaP521,
    /// Ed25519.
    Ed25519,
    /// Anything else, by algorithm OID (and curve OID for EC keys).
    Other(String),
}

impl PublicKeyAlgorithm {
    /// True for RSA keys (the kubelet adds `key encipherment` to its usages only for those).
    pub fn is_rsa(&self) -> bool {
        matches!(self, PublicKeyAlgorithm::Rsa)
    }
}

impl fmt::Display for PublicKeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKeyAlgorithm::Rsa => f.write_str("RSA"),
            PublicKeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            PublicKeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
            PublicKeyAlgorithm::EcdsaP521 => f.write_str("ECDSA P-521"),
            PublicKeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            PublicKeyAlgorithm::Other(oid) => write!(f, "unknown ({oid})"),
        }
    }
}

/// A private key able to sign CSRs and certificates.
pub struct PrivateKey {
    key_pair: rcgen::KeyPair,
    /// PEM label of `key_pair.serialized_der()`: rcgen keeps the DER it was given (PKCS#1,
    /// SEC1 or PKCS#8) but would always label it `PRIVATE KEY`.
    pem_label: &'static str,
    algorithm: PublicKeyAlgorithm,
    /// `AlgorithmIdentifier` DER of the signatures this key makes.
    signature_algorithm: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("pem_label", &self.pem_label)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// A fresh ECDSA P-256 key, stored as SEC1 `EC PRIVATE KEY` like the kubelet writes it.
    pub fn generate_p256() -> Result<PrivateKey, PkiError> {
        Self::generate(KeyAlgorithm::EcdsaP256)
    }

    /// A fresh key of the given type. EC keys are SEC1, RSA keys PKCS#8.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, PkiError> {
        let failed = |reason: String| PkiError::KeyGeneration {
            algorithm: format!("{algorithm:?}"),
            reason,
        };
        match algorithm {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let alg = if algorithm == KeyAlgorithm::EcdsaP256 {
                    &ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &ECDSA_P384_SHA384_ASN1_SIGNING
                };
                let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(alg)
                    .map_err(|e| failed(e.to_string()))?;
                let sec1 = pair
                    .private_key()
                    .as_der()
                    .map_err(|e| failed(e.to_string()))?;
                let der = PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(sec1.as_ref().to_vec()));
                Self::from_key_der(&der, pemfile::EC_PRIVATE_KEY).map_err(|e| failed(e.to_string()))
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let size = match algorithm {
                    KeyAlgorithm::Rsa2048 => rcgen::RsaKeySize::_2048,
                    KeyAlgorithm::Rsa3072 => rcgen::RsaKeySize::_3072,
                    _ => rcgen::RsaKeySize::_4096,
                };
                let pair = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
                    .map_err(|e| failed(e.to_string()))?;
                Self::from_key_pair(pair, pemfile::PRIVATE_KEY)
            }
        }
    }

    /// Parses the first private key in PEM text: `RSA PRIVATE KEY` (PKCS#1), `EC PRIVATE KEY`
    /// (SEC1; a preceding `EC PARAMETERS` block is skipped) or `PRIVATE KEY` (PKCS#8).
    pub fn from_pem(pem_text: impl AsRef<[u8]>) -> Result<PrivateKey, PkiError> {
        Self::from_pem_named(pem_text.as_ref(), "private key PEM")
    }

    /// Reads and parses a key file; errors name the file.
    pub fn load(path: impl AsRef<Path>) -> Result<PrivateKey, PkiError> {
        let path = path.as_ref();
        Self::from_pem_named(&pemfile::read_file(path)?, &path.display().to_string())
    }

    pub(crate) fn from_pem_named(data: &[u8], source_name: &str) -> Result<PrivateKey, PkiError> {
        let blocks = pemfile::blocks(data, source_name)?;
        if blocks.iter().any(pemfile::is_encrypted) {
            return Err(PkiError::EncryptedKey {
                source_name: source_name.to_string(),
            });
        }
        // Like client-go's keyutil.ParsePrivateKeyPEM: the first key block wins, other block
        // types (EC PARAMETERS, certificates) are tolerated.
        for block in &blocks {
            let (der, label) = match block.tag() {
                pemfile::RSA_PRIVATE_KEY => (
                    PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(block.contents().to_vec())),
                    pemfile::RSA_PRIVATE_KEY,
                ),
                pemfile::EC_PRIVATE_KEY => (
                    PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(block.contents().to_vec())),
                    pemfile::EC_PRIVATE_KEY,
                ),
                pemfile::PRIVATE_KEY => (
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(block.contents().to_vec())),
                    pemfile::PRIVATE_KEY,
                ),
                _ => continue,
            };
            return Self::from_key_der(&der, label).map_err(|e| PkiError::InvalidPrivateKey {
                source_name: source_name.to_string(),
                block_type: label.to_string(),
                reason: e.to_string(),
            });
        }
        Err(PkiError::NoPrivateKey {
            source_name: source_name.to_string(),
        })
    }

    fn from_key_der(der: &PrivateKeyDer<'_>, label: &'static str) -> Result<PrivateKey, PkiError> {
        let pair =
            rcgen::KeyPair::try_from(der).map_err(|e| PkiError::UnsupportedKey(e.to_string()))?;
        Self::from_key_pair(pair, label)
    }

    fn from_key_pair(pair: rcgen::KeyPair, label: &'static str) -> Result<PrivateKey, PkiError> {
        let alg = pair.algorithm();
        let (algorithm, signature_algorithm) = if alg == &rcgen::PKCS_RSA_SHA256 {
            (
                PublicKeyAlgorithm::Rsa,
                der::algorithm_identifier(&[1, 2, 840, 113549, 1, 1, 11], true),
            )
        } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            (
                PublicKeyAlgorithm::EcdsaP256,
                der::algorithm_identifier(&[1, 2, 840, 10045, 4, 3, 2], false),
            )
        } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            (
                PublicKeyAlgorithm::EcdsaP384,
                der::algorithm_identifier(&[1, 2, 840, 10045, 4, 3, 3], false),
            )
        } else if alg == &rcgen::PKCS_ECDSA_P521_SHA512 {
            (
                PublicKeyAlgorithm::EcdsaP521,
                der::algorithm_identifier(&[1, 2, 840, 10045, 4, 3, 4], false),
            )
        } else if alg == &rcgen::PKCS_ED25519 {
            (
                PublicKeyAlgorithm::Ed25519,
                der::algorithm_identifier(&[1, 3, 101, 112], false),
            )
        } else {
            return Err(PkiError::UnsupportedKey(format!("{alg:?}")));
        };
        Ok(PrivateKey {
            key_pair: pair,
            pem_label: label,
            algorithm,
            signature_algorithm,
        })
    }

    /// The key as PEM, in the form it was loaded or generated in.
    pub fn to_pem(&self) -> String {
        pemfile::encode(self.pem_label, self.key_pair.serialized_der())
    }

    /// The DER `SubjectPublicKeyInfo` of the public half.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key_pair.subject_public_key_info()
    }

    /// What kind of key this is.
    pub fn public_key_algorithm(&self) -> &PublicKeyAlgorithm {
        &self.algorithm
    }

    /// True when `subject_public_key` (the BIT STRING content of a SubjectPublicKeyInfo)
    /// is this key's public key.
    /// The subjectPublicKey BIT STRING content (RSAPublicKey DER, or the EC point).
    pub(crate) fn public_key_raw(&self) -> &[u8] {
        self.key_pair.der_bytes()
    }

    pub(crate) fn matches_public_key(&self, subject_public_key: &[u8]) -> bool {
        self.key_pair.der_bytes() == subject_public_key
    }

    pub(crate) fn signature_algorithm_der(&self) -> &[u8] {
        &self.signature_algorithm
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        self.key_pair
            .sign(message)
            .map_err(|e| PkiError::Signing(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_p256_is_sec1_and_reloads() {
        let key = PrivateKey::generate_p256().unwrap();
        let pem = key.to_pem();
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{pem}");
        let again = PrivateKey::from_pem(&pem).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
        assert_eq!(again.public_key_algorithm(), &PublicKeyAlgorithm::EcdsaP256);
    }

    #[test]
    fn generated_p384_reloads() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP384).unwrap();
        let again = PrivateKey::from_pem(key.to_pem()).unwrap();
        assert_eq!(again.public_key_algorithm(), &PublicKeyAlgorithm::EcdsaP384);
    }

    #[test]
    fn garbage_is_not_a_key() {
        let err = PrivateKey::from_pem("hello").unwrap_err();
        assert_eq!(
            err.to_string(),
            "private key PEM: data does not contain a valid RSA or ECDSA private key"
        );
    }

    #[test]
    fn corrupt_key_block_names_the_block_type() {
        let pem = pemfile::encode(pemfile::EC_PRIVATE_KEY, b"\x30\x03\x02\x01\x01");
        let err = PrivateKey::from_pem(pem).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("private key PEM: failed to parse EC PRIVATE KEY private key"),
            "{err}"
        );
    }

    #[test]
    fn debug_does_not_leak_key_material() {
        let key = PrivateKey::generate_p256().unwrap();
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(&key.to_pem()[30..60]));
    }
}
