//! Signing CSRs with RSA and ECDSA CAs, checked by the real openssl CLI, plus the TTL,
//! backdate and cap rules.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{fixture, openssl, read_fixture};
use pki::{
    Certificate, CertificateAuthority, Csr, CsrSubject, KeyAlgorithm, LeafParams, PkiError,
    PrivateKey, SubjectAltNames, Usage, build_csr,
};

const YEAR: Duration = Duration::from_secs(8760 * 3600);
const HOUR: Duration = Duration::from_secs(3600);
const BACKDATE: Duration = Duration::from_secs(300);

fn now_seconds() -> SystemTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn node_csr(dns: &[&str], ips: &[&str]) -> Csr {
    let key = PrivateKey::generate_p256().unwrap();
    let pem = build_csr(
        &key,
        &CsrSubject {
            common_name: "system:node:worker-1".into(),
            organizations: vec!["system:nodes".into()],
        },
        &SubjectAltNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
        },
    )
    .unwrap();
    Csr::from_pem(pem.as_bytes()).unwrap()
}

/// Writes CA and leaf, runs `openssl verify` (with `purpose`) and returns `openssl x509 -text`.
fn openssl_check(ca_pem: &str, leaf_pem: &str, purpose: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf) = (dir.path().join("ca.pem"), dir.path().join("leaf.pem"));
    std::fs::write(&ca, ca_pem).unwrap();
    std::fs::write(&leaf, leaf_pem).unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let (ok, out) = openssl(&["verify", "-purpose", purpose, "-CAfile", &p(&ca), &p(&leaf)]);
    assert!(ok, "openssl verify failed: {out}");
    assert!(out.contains(": OK"), "{out}");
    let (ok, text) = openssl(&["x509", "-in", &p(&leaf), "-noout", "-text"]);
    assert!(ok, "{text}");
    text
}

fn client_usages() -> Vec<Usage> {
    vec![Usage::DigitalSignature, Usage::ClientAuth]
}

#[test]
fn ecdsa_ca_signs_a_client_cert_openssl_accepts() {
    let ca = CertificateAuthority::load(fixture("ec-ca.pem"), fixture("ec-ca-sec1.key")).unwrap();
    let csr = node_csr(&[], &[]);
    let pem = ca
        .sign_csr(&csr, &client_usages(), None, YEAR, SystemTime::now())
        .unwrap();
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 1);
    let text = openssl_check(&ca.cert_pem(), &pem, "sslclient");
    assert!(
        text.contains("Signature Algorithm: ecdsa-with-SHA256"),
        "{text}"
    );
    assert!(
        text.contains("Subject: O = system:nodes, CN = system:node:worker-1"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Basic Constraints: critical\n                CA:FALSE"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "X509v3 Extended Key Usage: \n                TLS Web Client Authentication\n"
        ),
        "{text}"
    );
    assert!(!text.contains("Subject Alternative Name"), "{text}");
    // AKI is the CA's SKI.
    let (_, ca_text) = openssl(&[
        "x509",
        "-in",
        fixture("ec-ca.pem").to_str().unwrap(),
        "-noout",
        "-ext",
        "subjectKeyIdentifier",
    ]);
    let ski = ca_text.lines().last().unwrap().trim().to_string();
    assert!(text.contains(&ski), "AKI {ski} missing: {text}");
}

#[test]
fn rsa_ca_signs_a_serving_cert_openssl_accepts() {
    let ca =
        CertificateAuthority::load(fixture("rsa-ca.pem"), fixture("rsa-ca-pkcs1.key")).unwrap();
    let csr = node_csr(
        &["worker-1", "worker-1.example"],
        &["10.0.0.11", "fd00::11"],
    );
    let usages = [
        Usage::DigitalSignature,
        Usage::KeyEncipherment,
        Usage::ServerAuth,
    ];
    let pem = ca
        .sign_csr(&csr, &usages, None, YEAR, SystemTime::now())
        .unwrap();
    let text = openssl_check(&ca.cert_pem(), &pem, "sslserver");
    assert!(
        text.contains("Signature Algorithm: sha256WithRSAEncryption"),
        "{text}"
    );
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(
        text.contains("DNS:worker-1, DNS:worker-1.example, IP Address:10.0.0.11, IP Address:FD00:0:0:0:0:0:0:11"),
        "{text}"
    );
}

#[test]
fn p384_ca_signs_with_sha384() {
    let ca =
        CertificateAuthority::load(fixture("p384-ca.pem"), fixture("p384-ca-sec1.key")).unwrap();
    let pem = ca
        .sign_csr(
            &node_csr(&[], &[]),
            &client_usages(),
            None,
            YEAR,
            SystemTime::now(),
        )
        .unwrap();
    let text = openssl_check(&ca.cert_pem(), &pem, "sslclient");
    assert!(
        text.contains("Signature Algorithm: ecdsa-with-SHA384"),
        "{text}"
    );
}

#[test]
fn openssl_rsa_csr_signed_by_pkcs8_rsa_ca() {
    let ca =
        CertificateAuthority::load(fixture("rsa-ca.pem"), fixture("rsa-ca-pkcs8.key")).unwrap();
    let csr = Csr::from_pem(&read_fixture("node-rsa.csr")).unwrap();
    let usages = [
        Usage::DigitalSignature,
        Usage::KeyEncipherment,
        Usage::ClientAuth,
    ];
    let pem = ca
        .sign_csr(&csr, &usages, Some(3600), YEAR, SystemTime::now())
        .unwrap();
    let text = openssl_check(&ca.cert_pem(), &pem, "sslclient");
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
}

#[test]
fn generated_cas_sign_certs_openssl_accepts() {
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
        let ca = CertificateAuthority::generate("lab-ca", alg, YEAR).unwrap();
        let (ok, ca_text) = {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("ca.pem");
            std::fs::write(&path, ca.cert_pem()).unwrap();
            openssl(&["x509", "-in", path.to_str().unwrap(), "-noout", "-text"])
        };
        assert!(
            ok && ca_text.contains("CA:TRUE") && ca_text.contains("Certificate Sign"),
            "{ca_text}"
        );
        // The generated CA's PEMs load back through the strict loader.
        let reloaded = CertificateAuthority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
        let pem = reloaded
            .sign_csr(
                &node_csr(&[], &[]),
                &client_usages(),
                None,
                YEAR,
                SystemTime::now(),
            )
            .unwrap();
        openssl_check(&ca.cert_pem(), &pem, "sslclient");
        let leaf = Certificate::from_pem(pem.as_bytes()).unwrap();
        leaf.verify_issued_by(ca.certificate()).unwrap();
    }
}

#[test]
fn requested_extensions_are_dropped_and_all_san_kinds_copied() {
    let ca = CertificateAuthority::load(fixture("ec-ca.pem"), fixture("ec-ca-pkcs8.key")).unwrap();
    let csr = Csr::from_pem(&read_fixture("node-email-uri.csr")).unwrap();
    assert!(
        csr.extensions().iter().any(|e| e.oid == "2.5.29.19"),
        "CSR asks for CA:TRUE"
    );
    let pem = ca
        .sign_csr(
            &csr,
            &[Usage::DigitalSignature, Usage::ServerAuth],
            None,
            YEAR,
            SystemTime::now(),
        )
        .unwrap();
    let text = openssl_check(&ca.cert_pem(), &pem, "sslserver");
    assert!(
        text.contains("CA:FALSE") && !text.contains("CA:TRUE"),
        "{text}"
    );
    assert!(
        text.contains("DNS:worker-1, email:ops@example.com, URI:spiffe://cluster/node/worker-1"),
        "{text}"
    );
    let cert = Certificate::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(cert.email_addresses(), ["ops@example.com"]);
    assert_eq!(cert.uris(), ["spiffe://cluster/node/worker-1"]);
}

#[test]
fn subject_with_several_organizations_is_copied() {
    let ca = CertificateAuthority::generate("lab-ca", KeyAlgorithm::EcdsaP256, YEAR).unwrap();
    let key = PrivateKey::generate_p256().unwrap();
    let subject = CsrSubject {
        common_name: "jane".into(),
        organizations: vec!["team-b".into(), "team-a".into(), "ünïcode org".into()],
    };
    let csr_pem = build_csr(&key, &subject, &SubjectAltNames::default()).unwrap();
    let csr = Csr::from_pem(csr_pem.as_bytes()).unwrap();
    let pem = ca
        .sign_csr(&csr, &client_usages(), None, YEAR, SystemTime::now())
        .unwrap();
    let cert = Certificate::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(cert.common_name(), Some("jane"));
    let mut orgs = cert.organizations().to_vec();
    orgs.sort();
    assert_eq!(orgs, ["team-a", "team-b", "ünïcode org"]);
    assert_eq!(cert.organizations(), csr.organizations());
    openssl_check(&ca.cert_pem(), &pem, "sslclient");
}

#[test]
fn ttl_and_backdate_rules() {
    let ca = CertificateAuthority::load(fixture("ec-ca.pem"), fixture("ec-ca-sec1.key")).unwrap();
    let csr = node_csr(&[], &[]);
    let now = now_seconds();
    let sign = |exp: Option<i32>, max: Duration| {
        let pem = ca.sign_csr(&csr, &client_usages(), exp, max, now).unwrap();
        let c = Certificate::from_pem(pem.as_bytes()).unwrap();
        (c.not_before(), c.not_after())
    };
    // Default: max duration, NotAfter pulled in by the backdate -> exactly 8760h of validity.
    let (nb, na) = sign(None, YEAR);
    assert_eq!(nb, now - BACKDATE);
    assert_eq!(na, now + YEAR - BACKDATE);
    // Above the max -> max.
    assert_eq!(sign(Some(2 * 8760 * 3600), YEAR).1, now + YEAR - BACKDATE);
    // 1h (short): end not pulled in -> 1h05m in total.
    let (nb, na) = sign(Some(3600), YEAR);
    assert_eq!(na, now + HOUR);
    assert_eq!(na.duration_since(nb).unwrap(), HOUR + BACKDATE);
    // Below 10 minutes -> 10 minutes (15 minutes in total).
    let (nb, na) = sign(Some(60), YEAR);
    assert_eq!(na.duration_since(nb).unwrap(), Duration::from_secs(900));
    // 8h counts as long.
    assert_eq!(sign(Some(8 * 3600), YEAR).1, now + 8 * HOUR - BACKDATE);
}

#[test]
fn a_past_revocation_shortens_the_backdate_to_just_after_it() {
    let ca = CertificateAuthority::load(fixture("ec-ca.pem"), fixture("ec-ca-sec1.key")).unwrap();
    let csr = node_csr(&[], &[]);
    let now = now_seconds();
    let sign = |revoked_until: Option<SystemTime>| {
        let pem = ca
            .sign_csr_starting_after(&csr, &client_usages(), None, YEAR, now, revoked_until)
            .unwrap();
        let c = Certificate::from_pem(pem.as_bytes()).unwrap();
        (c.not_before(), c.not_after())
    };
    let unfloored = sign(None);
    assert_eq!(unfloored.0, now - BACKDATE);
    // A revocation one minute ago: NotBefore starts the second after, NotAfter is unchanged.
    let minute = Duration::from_secs(60);
    let second = Duration::from_secs(1);
    assert_eq!(
        sign(Some(now - minute)),
        (now - minute + second, unfloored.1)
    );
    // In this very second: NotBefore is the next one.
    assert_eq!(sign(Some(now)), (now + second, unfloored.1));
    // Older than the backdate: nothing to shorten.
    assert_eq!(sign(Some(now - 2 * BACKDATE)), unfloored);
    // In the future: left alone (the operator refuses certificates issued until then).
    assert_eq!(sign(Some(now + minute)), unfloored);
}

#[test]
fn not_after_is_capped_at_the_ca_and_expired_signers_refuse() {
    let ca = CertificateAuthority::generate("short-ca", KeyAlgorithm::EcdsaP256, 2 * HOUR).unwrap();
    let csr = node_csr(&[], &[]);
    let pem = ca
        .sign_csr(&csr, &client_usages(), None, YEAR, SystemTime::now())
        .unwrap();
    let cert = Certificate::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(cert.not_after(), ca.not_after());

    let later = ca.not_after() + Duration::from_secs(60);
    let err = ca
        .sign_csr(&csr, &client_usages(), None, YEAR, later)
        .unwrap_err();
    assert!(matches!(err, PkiError::ExpiredInPast(_)), "{err}");
    assert!(
        err.to_string()
            .starts_with("refusing to sign a certificate that expired in the past: NotAfter=")
    );
    let much_later = ca.not_after() + HOUR;
    let err = ca
        .sign_csr(&csr, &client_usages(), None, YEAR, much_later)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the signer has expired: NotAfter="),
        "{err}"
    );
}

#[test]
fn serials_are_random_positive_128_bit() {
    let ca = CertificateAuthority::generate("lab-ca", KeyAlgorithm::EcdsaP256, YEAR).unwrap();
    let csr = node_csr(&[], &[]);
    let serials: Vec<String> = (0..4)
        .map(|_| {
            let pem = ca
                .sign_csr(&csr, &client_usages(), None, YEAR, SystemTime::now())
                .unwrap();
            Certificate::from_pem(pem.as_bytes()).unwrap().serial_hex()
        })
        .collect();
    for s in &serials {
        assert!(s.len() <= 32, "{s}");
    }
    let mut unique = serials.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), serials.len());
}

#[test]
fn issue_leaf_makes_a_serving_pair() {
    let ca =
        CertificateAuthority::load(fixture("rsa-ca.pem"), fixture("rsa-ca-pkcs1.key")).unwrap();
    let (cert_pem, key_pem) = ca
        .issue_leaf(&LeafParams {
            common_name: "apiserver".into(),
            organizations: vec![],
            dns: vec!["localhost".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            usages: vec![
                Usage::DigitalSignature,
                Usage::KeyEncipherment,
                Usage::ServerAuth,
            ],
            validity: YEAR,
        })
        .unwrap();
    let text = openssl_check(&ca.cert_pem(), &cert_pem, "sslserver");
    assert!(
        text.contains("DNS:localhost, IP Address:127.0.0.1"),
        "{text}"
    );
    let key = PrivateKey::from_pem(&key_pem).unwrap();
    let cert = Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    assert_eq!(cert.public_key_der(), key.public_key_der().as_slice());
}

#[test]
fn a_leaf_finds_its_issuer_among_cas_of_one_name_and_bundles_compare_by_der() {
    // A rotation's old and new CA usually share their name: only the signature tells them apart.
    let old = CertificateAuthority::generate("kubernetes", KeyAlgorithm::EcdsaP256, YEAR).unwrap();
    let new = CertificateAuthority::generate("kubernetes", KeyAlgorithm::EcdsaP256, YEAR).unwrap();
    let pem = new
        .sign_csr(
            &node_csr(&[], &[]),
            &client_usages(),
            None,
            YEAR,
            SystemTime::now(),
        )
        .unwrap();
    let leaf = Certificate::from_pem(pem.as_bytes()).unwrap();
    let bundle =
        pki::parse_certificates(format!("{}{}", old.cert_pem(), new.cert_pem()).as_bytes())
            .unwrap();
    let issuer = leaf.issuer_in(&bundle).expect("the new CA issued it");
    assert_eq!(issuer.der(), new.certificate().der());
    assert!(leaf.issuer_in(&bundle[..1]).is_none(), "not the old CA's");

    // The same certificates, written differently, are the same bundle; order matters.
    let reflowed = format!("# new CA next\n\n{}\n{}", old.cert_pem(), new.cert_pem());
    let same = pki::parse_certificates(reflowed.as_bytes()).unwrap();
    assert_eq!(pki::bundle_id(&bundle), pki::bundle_id(&same));
    let reversed = [bundle[1].clone(), bundle[0].clone()];
    assert_ne!(pki::bundle_id(&bundle), pki::bundle_id(&reversed));
    assert!(pki::bundle_id(&bundle).starts_with("SHA256="));
}
