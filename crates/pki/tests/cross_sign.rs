//! Cross-signing a new CA with the old one (CA rotation, decision 0029): a leaf of the new CA
//! sent with the cross-signed certificate verifies for a client that trusts only the old CA,
//! and for one that trusts only the new CA. Checked by rustls' verifier and by openssl.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::openssl;
use pki::{Certificate, CertificateAuthority, KeyAlgorithm, LeafParams, PkiError, Usage};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

const YEAR: Duration = Duration::from_secs(8760 * 3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const SERVER: &str = "kube-apiserver.test";

/// Old and new CA with the same subject name, as `lab ca rotate` makes them.
fn old_and_new() -> (CertificateAuthority, CertificateAuthority) {
    let old = CertificateAuthority::generate("lab-ca", KeyAlgorithm::EcdsaP256, YEAR).unwrap();
    let new = CertificateAuthority::generate("lab-ca", KeyAlgorithm::EcdsaP256, 2 * YEAR).unwrap();
    (old, new)
}

fn serving_leaf(ca: &CertificateAuthority) -> Certificate {
    let (pem, _key) = ca
        .issue_leaf(&LeafParams {
            common_name: "kube-apiserver".into(),
            organizations: Vec::new(),
            dns: vec![SERVER.into()],
            ips: Vec::new(),
            usages: vec![Usage::DigitalSignature, Usage::ServerAuth],
            validity: DAY,
        })
        .unwrap();
    Certificate::from_pem(pem.as_bytes()).unwrap()
}

/// Whether rustls' WebPKI verifier, trusting `roots` alone, accepts `leaf` sent with
/// `intermediates`.
fn rustls_verifies(
    roots: &[&Certificate],
    leaf: &Certificate,
    intermediates: &[&Certificate],
) -> bool {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store
            .add(CertificateDer::from(root.der().to_vec()))
            .unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
        .build()
        .unwrap();
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    verifier
        .verify_server_cert(
            &CertificateDer::from(leaf.der().to_vec()),
            &intermediates,
            &ServerName::try_from(SERVER).unwrap(),
            &[],
            UnixTime::now(),
        )
        .is_ok()
}

#[test]
fn the_cross_signed_certificate_is_the_new_ca_issued_by_the_old() {
    let (old, new) = old_and_new();
    let cross =
        Certificate::from_pem(old.cross_sign(new.certificate()).unwrap().as_bytes()).unwrap();
    assert!(cross.is_ca());
    assert_eq!(cross.subject(), new.certificate().subject());
    assert_eq!(cross.public_key_der(), new.certificate().public_key_der());
    cross.verify_issued_by(old.certificate()).unwrap();
    assert!(cross.verify_issued_by(new.certificate()).is_err());
    // It ends with the old CA (the earlier end of the two) and starts backdated.
    assert_eq!(cross.not_after(), old.not_after());
    assert!(cross.not_before() <= SystemTime::now() - Duration::from_secs(299));
    // A leaf of the new CA names the new CA's key: the cross-signed certificate verifies it.
    serving_leaf(&new).verify_issued_by(&cross).unwrap();
}

#[test]
fn a_client_trusting_either_ca_alone_verifies_a_new_leaf_sent_with_the_cross_signed_certificate() {
    let (old, new) = old_and_new();
    let cross =
        Certificate::from_pem(old.cross_sign(new.certificate()).unwrap().as_bytes()).unwrap();
    let leaf = serving_leaf(&new);
    let (old, new) = (old.certificate(), new.certificate());

    assert!(rustls_verifies(&[old], &leaf, &[&cross]));
    assert!(rustls_verifies(&[new], &leaf, &[&cross]));
    assert!(rustls_verifies(&[old, new], &leaf, &[&cross]));
    // Without it, the old CA alone does not.
    assert!(!rustls_verifies(&[old], &leaf, &[]));

    // openssl agrees.
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, cert: &Certificate| {
        let path = dir.path().join(name);
        std::fs::write(&path, cert.to_pem()).unwrap();
        path.display().to_string()
    };
    let (old, new, cross, leaf) = (
        write("old.pem", old),
        write("new.pem", new),
        write("cross.pem", &cross),
        write("leaf.pem", &leaf),
    );
    for ca in [&old, &new] {
        let (ok, out) = openssl(&["verify", "-CAfile", ca, "-untrusted", &cross, &leaf]);
        assert!(ok, "{ca}: {out}");
    }
    let (ok, out) = openssl(&["verify", "-CAfile", &old, &leaf]);
    assert!(!ok, "{out}");
}

#[test]
fn only_a_ca_is_cross_signed() {
    let (old, new) = old_and_new();
    let leaf = serving_leaf(&new);
    assert!(matches!(old.cross_sign(&leaf), Err(PkiError::NotCa { .. })));
}
