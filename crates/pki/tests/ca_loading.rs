//! Loading CA files in every format operators have, and the precise errors for bad ones.

mod common;

use common::{fixture, read_fixture};
use pki::{CertificateAuthority, PkiError, PrivateKey, PublicKeyAlgorithm};

fn load(cert: &str, key: &str) -> Result<CertificateAuthority, PkiError> {
    CertificateAuthority::load(fixture(cert), fixture(key))
}

#[test]
fn rsa_pkcs1_key_as_written_by_cfssl_and_genrsa() {
    let ca = load("rsa-ca.pem", "rsa-ca-pkcs1.key").unwrap();
    assert_eq!(ca.certificate().common_name(), Some("rsa-test-ca"));
    assert!(ca.key_pem().starts_with("-----BEGIN RSA PRIVATE KEY-----"));
}

#[test]
fn rsa_pkcs8_key() {
    let ca = load("rsa-ca.pem", "rsa-ca-pkcs8.key").unwrap();
    assert!(ca.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn ec_sec1_key_with_ec_parameters_block() {
    let text = String::from_utf8(read_fixture("ec-ca-sec1.key")).unwrap();
    assert!(text.starts_with("-----BEGIN EC PARAMETERS-----"));
    let ca = load("ec-ca.pem", "ec-ca-sec1.key").unwrap();
    assert!(ca.key_pem().starts_with("-----BEGIN EC PRIVATE KEY-----"));
    assert_eq!(
        ca.certificate().public_key_algorithm(),
        &PublicKeyAlgorithm::EcdsaP256
    );
}

#[test]
fn ec_pkcs8_key() {
    load("ec-ca.pem", "ec-ca-pkcs8.key").unwrap();
}

#[test]
fn p384_sec1_key() {
    let ca = load("p384-ca.pem", "p384-ca-sec1.key").unwrap();
    assert_eq!(
        ca.certificate().public_key_algorithm(),
        &PublicKeyAlgorithm::EcdsaP384
    );
}

#[test]
fn key_pem_round_trips_in_its_original_form() {
    for name in [
        "rsa-ca-pkcs1.key",
        "rsa-ca-pkcs8.key",
        "ec-ca-pkcs8.key",
        "p384-ca-sec1.key",
    ] {
        let key = PrivateKey::load(fixture(name)).unwrap();
        let again = PrivateKey::from_pem(key.to_pem()).unwrap();
        assert_eq!(key.public_key_der(), again.public_key_der(), "{name}");
    }
}

#[test]
fn mismatched_key_is_reported_with_both_files() {
    let err = load("ec-ca.pem", "p384-ca-sec1.key").unwrap_err();
    assert!(matches!(err, PkiError::CaKeyMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("p384-ca-sec1.key") && msg.contains("ec-ca.pem"),
        "{msg}"
    );
    assert!(msg.contains("does not match"), "{msg}");
}

#[test]
fn bundle_signs_with_its_first_certificate() {
    let ca = load("bundle-ec-first.pem", "ec-ca-sec1.key").unwrap();
    assert_eq!(ca.certificate().common_name(), Some("ec-test-ca"));
    assert_eq!(
        pki::parse_certificates(ca.bundle_pem().as_bytes())
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        pki::parse_certificates(ca.cert_pem().as_bytes())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bundle_whose_first_certificate_is_not_the_keys_is_rejected() {
    let err = load("bundle-rsa-first.pem", "ec-ca-sec1.key").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PkiError::CaKeyMismatch { .. }), "{msg}");
    assert!(
        msg.contains("first certificate in") && msg.contains("rsa-test-ca"),
        "{msg}"
    );
}

#[test]
fn non_ca_certificates_are_rejected() {
    for cert in ["non-ca.pem", "no-bc.pem"] {
        let err = load(cert, "ec-ca-sec1.key").unwrap_err();
        assert!(matches!(err, PkiError::NotCa { .. }), "{cert}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains(cert) && msg.contains("is not a CA certificate"),
            "{msg}"
        );
    }
}

#[test]
fn expired_ca_is_rejected() {
    let err = load("expired-ca.pem", "expired-ca.key").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: CA certificate \"CN=expired-test-ca\" expired at 2021-01-01 00:00:00 +0000 UTC",
            fixture("expired-ca.pem").display()
        )
    );
}

#[test]
fn encrypted_keys_are_reported_as_encrypted() {
    for key in ["ec-ca-encrypted-pkcs8.key", "rsa-ca-encrypted-legacy.key"] {
        let err = load("ec-ca.pem", key).unwrap_err();
        assert!(matches!(err, PkiError::EncryptedKey { .. }), "{key}: {err}");
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn garbage_files_are_named() {
    let err = load("ec-ca.pem", "garbage.pem").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: data does not contain a valid RSA or ECDSA private key",
            fixture("garbage.pem").display()
        )
    );
    let err = load("garbage.pem", "ec-ca-sec1.key").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: no CERTIFICATE PEM block found",
            fixture("garbage.pem").display()
        )
    );
    // A certificate where the key should be.
    let err = load("ec-ca.pem", "ec-ca.pem").unwrap_err();
    assert!(matches!(err, PkiError::NoPrivateKey { .. }), "{err}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = load("ec-ca.pem", "does-not-exist.key").unwrap_err();
    assert!(err.to_string().contains("does-not-exist.key"), "{err}");
}

#[test]
fn from_pem_applies_the_same_checks() {
    let err =
        CertificateAuthority::from_pem(read_fixture("non-ca.pem"), read_fixture("ec-ca-sec1.key"))
            .unwrap_err();
    assert!(matches!(err, PkiError::NotCa { .. }));
    CertificateAuthority::from_pem(read_fixture("rsa-ca.pem"), read_fixture("rsa-ca-pkcs1.key"))
        .unwrap();
}
