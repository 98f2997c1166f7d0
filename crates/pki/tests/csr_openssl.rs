//! CSRs made by `openssl req` parse and verify; tampered ones do not; ours satisfy openssl.

mod common;

use common::{openssl, read_fixture};
use pki::{Csr, CsrSubject, PkiError, PrivateKey, PublicKeyAlgorithm, SubjectAltNames, build_csr};

fn check_node_csr(csr: &Csr) {
    assert_eq!(csr.common_name(), Some("system:node:worker-1"));
    assert_eq!(csr.organizations(), ["system:nodes"]);
    assert_eq!(csr.dns_names(), ["worker-1"]);
    assert_eq!(
        csr.ip_addresses(),
        ["10.0.0.11".parse::<std::net::IpAddr>().unwrap()]
    );
}

#[test]
fn openssl_rsa_csr_parses_and_verifies() {
    let csr = Csr::from_pem(&read_fixture("node-rsa.csr")).unwrap();
    check_node_csr(&csr);
    assert_eq!(csr.public_key_algorithm(), &PublicKeyAlgorithm::Rsa);
    assert!(csr.public_key_algorithm().is_rsa());
    // The key file's public half is the CSR's key.
    let key = PrivateKey::from_pem(read_fixture("node-rsa.key")).unwrap();
    assert_eq!(csr.public_key_der(), key.public_key_der().as_slice());
}

#[test]
fn openssl_ec_csr_parses_and_verifies() {
    let csr = Csr::from_pem(&read_fixture("node-ec.csr")).unwrap();
    check_node_csr(&csr);
    assert_eq!(csr.public_key_algorithm(), &PublicKeyAlgorithm::EcdsaP256);
}

#[test]
fn email_and_uri_sans_and_extensions_are_exposed() {
    let csr = Csr::from_pem(&read_fixture("node-email-uri.csr")).unwrap();
    assert_eq!(csr.dns_names(), ["worker-1"]);
    assert_eq!(csr.email_addresses(), ["ops@example.com"]);
    assert_eq!(csr.uris(), ["spiffe://cluster/node/worker-1"]);
    let oids: Vec<&str> = csr.extensions().iter().map(|e| e.oid.as_str()).collect();
    assert_eq!(oids, ["2.5.29.17", "2.5.29.19"]);
    assert!(csr.extensions()[1].critical);
}

fn tamper(fixture: &str) -> Vec<u8> {
    let pem_text = read_fixture(fixture);
    let mut der = Csr::from_pem(&pem_text).unwrap().der().to_vec();
    let pos = der.windows(8).position(|w| w == b"worker-1").unwrap();
    der[pos + 7] = b'2';
    der
}

#[test]
fn tampered_csrs_fail_verification() {
    for name in ["node-rsa.csr", "node-ec.csr"] {
        let err = Csr::from_der(&tamper(name)).unwrap_err();
        assert!(matches!(err, PkiError::CsrSignature(_)), "{name}: {err}");
        assert!(
            err.to_string().contains("signature verification failed"),
            "{err}"
        );
        // openssl agrees.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.der");
        std::fs::write(&path, tamper(name)).unwrap();
        let (_exit_ok, out) = openssl(&[
            "req",
            "-inform",
            "DER",
            "-in",
            path.to_str().unwrap(),
            "-noout",
            "-verify",
        ]);
        // openssl 3.0 exits 0 here; the message is what tells.
        assert!(out.contains("self-signature verify failure"), "{out}");
    }
}

#[test]
fn our_csrs_verify_with_openssl() {
    for key in [
        PrivateKey::generate_p256().unwrap(),
        PrivateKey::from_pem(read_fixture("node-rsa.key")).unwrap(),
        PrivateKey::from_pem(read_fixture("p384-ca-sec1.key")).unwrap(),
    ] {
        let pem = build_csr(
            &key,
            &CsrSubject {
                common_name: "system:node:worker-1".into(),
                organizations: vec!["system:nodes".into()],
            },
            &SubjectAltNames {
                dns: vec!["worker-1".into()],
                ips: vec!["10.0.0.11".parse().unwrap()],
            },
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csr");
        std::fs::write(&path, &pem).unwrap();
        let (ok, out) = openssl(&[
            "req",
            "-in",
            path.to_str().unwrap(),
            "-noout",
            "-verify",
            "-text",
        ]);
        assert!(ok, "{out}");
        assert!(
            out.contains("verify OK")
                || out.contains("Certificate request self-signature verify OK"),
            "{out}"
        );
        assert!(
            out.contains("Subject: O = system:nodes, CN = system:node:worker-1"),
            "{out}"
        );
        assert!(out.contains("DNS:worker-1, IP Address:10.0.0.11"), "{out}");
    }
}
