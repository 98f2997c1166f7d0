//! Every constraint of the three signers violated once, with upstream's exact message.

mod common;

use common::read_fixture;
use pki::signer::{self, KUBE_APISERVER_CLIENT, KUBE_APISERVER_CLIENT_KUBELET, KUBELET_SERVING};
use pki::{Csr, CsrSubject, PrivateKey, SubjectAltNames, Usage, build_csr};

use Usage::{ClientAuth, DigitalSignature, KeyEncipherment, ServerAuth};

fn csr(cn: &str, orgs: &[&str], dns: &[&str], ips: &[&str]) -> Csr {
    let key = PrivateKey::generate_p256().unwrap();
    let pem = build_csr(
        &key,
        &CsrSubject {
            common_name: cn.into(),
            organizations: orgs.iter().map(|s| s.to_string()).collect(),
        },
        &SubjectAltNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
        },
    )
    .unwrap();
    Csr::from_pem(pem.as_bytes()).unwrap()
}

const NODE: &str = "system:node:worker-1";
const NODES: &[&str] = &["system:nodes"];

fn err(signer_name: &str, csr: &Csr, usages: &[Usage]) -> String {
    signer::validate(signer_name, csr, usages)
        .unwrap_err()
        .to_string()
}

#[test]
fn kubelet_client_accepts_both_usage_sets() {
    let good = csr(NODE, NODES, &[], &[]);
    for usages in [
        vec![DigitalSignature, ClientAuth],
        vec![DigitalSignature, KeyEncipherment, ClientAuth],
        vec![ClientAuth, KeyEncipherment, DigitalSignature, ClientAuth],
    ] {
        signer::validate(KUBE_APISERVER_CLIENT_KUBELET, &good, &usages).unwrap();
        assert!(signer::is_kubelet_client_request(&good, &usages));
    }
}

#[test]
fn kubelet_client_constraints_in_upstream_order() {
    let s = KUBE_APISERVER_CLIENT_KUBELET;
    let ok_usages = [DigitalSignature, ClientAuth];
    // O first: even with everything else wrong, the O error wins.
    assert_eq!(
        err(
            s,
            &csr("bob", &["system:masters"], &["x"], &[]),
            &[ServerAuth]
        ),
        "subject organization is not system:nodes"
    );
    assert_eq!(
        err(s, &csr(NODE, &[], &[], &[]), &ok_usages),
        "subject organization is not system:nodes"
    );
    assert_eq!(
        err(
            s,
            &csr(NODE, &["system:nodes", "extra"], &[], &[]),
            &ok_usages
        ),
        "subject organization is not system:nodes"
    );
    // Then SANs (DNS before IP), then CN, then usages.
    assert_eq!(
        err(
            s,
            &csr("bob", NODES, &["worker-1"], &["10.0.0.1"]),
            &ok_usages
        ),
        "DNS subjectAltNames are not allowed"
    );
    assert_eq!(
        err(s, &csr(NODE, NODES, &[], &["10.0.0.1"]), &ok_usages),
        "IP subjectAltNames are not allowed"
    );
    let email = Csr::from_pem(&read_fixture("node-email-only.csr")).unwrap();
    assert_eq!(
        err(s, &email, &ok_usages),
        "Email subjectAltNames are not allowed"
    );
    let uri = Csr::from_pem(&read_fixture("node-uri-only.csr")).unwrap();
    assert_eq!(
        err(s, &uri, &ok_usages),
        "URI subjectAltNames are not allowed"
    );
    assert_eq!(
        err(s, &csr("system:nodeworker", NODES, &[], &[]), &[ServerAuth]),
        "subject common name does not begin with system:node:"
    );
    for bad in [
        vec![DigitalSignature],
        vec![ClientAuth],
        vec![DigitalSignature, ClientAuth, ServerAuth],
        vec![KeyEncipherment, ClientAuth],
    ] {
        assert_eq!(
            err(s, &csr(NODE, NODES, &[], &[]), &bad),
            "usages did not match [client auth digital signature key encipherment]"
        );
        assert!(!signer::is_kubelet_client_request(
            &csr(NODE, NODES, &[], &[]),
            &bad
        ));
    }
}

#[test]
fn kubelet_serving_constraints_in_upstream_order() {
    let s = KUBELET_SERVING;
    let ok_usages = [DigitalSignature, KeyEncipherment, ServerAuth];
    signer::validate(s, &csr(NODE, NODES, &["worker-1"], &[]), &ok_usages).unwrap();
    signer::validate(
        s,
        &csr(NODE, NODES, &[], &["10.0.0.1"]),
        &[DigitalSignature, ServerAuth],
    )
    .unwrap();

    assert_eq!(
        err(s, &csr(NODE, &["other"], &[], &[]), &ok_usages),
        "subject organization is not system:nodes"
    );
    assert_eq!(
        err(s, &csr("bob", NODES, &[], &[]), &[]),
        "DNS or IP subjectAltName is required"
    );
    // The email-only CSR has no DNS/IP, so the "required" error comes first; with a DNS name
    // the email error shows.
    let email = Csr::from_pem(&read_fixture("node-email-only.csr")).unwrap();
    assert_eq!(
        err(s, &email, &ok_usages),
        "DNS or IP subjectAltName is required"
    );
    let dns_email_uri = Csr::from_pem(&read_fixture("node-email-uri.csr")).unwrap();
    assert_eq!(
        err(s, &dns_email_uri, &ok_usages),
        "Email subjectAltNames are not allowed"
    );
    assert_eq!(
        err(
            s,
            &csr("worker-1", NODES, &["worker-1"], &[]),
            &[ClientAuth]
        ),
        "subject common name does not begin with system:node:"
    );
    assert_eq!(
        err(
            s,
            &csr(NODE, NODES, &["worker-1"], &[]),
            &[DigitalSignature, ClientAuth]
        ),
        "usages did not match [digital signature key encipherment server auth]"
    );
}

#[test]
fn kubelet_serving_rejects_uri_sans() {
    let dns_uri = Csr::from_pem(&read_fixture("node-dns-uri.csr")).unwrap();
    assert_eq!(
        err(KUBELET_SERVING, &dns_uri, &[DigitalSignature, ServerAuth]),
        "URI subjectAltNames are not allowed"
    );
}

#[test]
fn kube_apiserver_client_usage_rules() {
    let s = KUBE_APISERVER_CLIENT;
    // Subject and SANs are unrestricted.
    let any = csr("jane", &["devs"], &["x"], &["10.0.0.1"]);
    signer::validate(s, &any, &[ClientAuth]).unwrap();
    signer::validate(s, &any, &[KeyEncipherment, DigitalSignature, ClientAuth]).unwrap();
    assert_eq!(
        err(s, &any, &[DigitalSignature, ServerAuth, ClientAuth]),
        "invalid usage for client certificate: server auth"
    );
    assert_eq!(
        err(s, &any, &[DigitalSignature, KeyEncipherment]),
        "missing required usage for client certificate: client auth"
    );
    assert_eq!(
        err(s, &any, &[]),
        "missing required usage for client certificate: client auth"
    );
}

#[test]
fn legacy_unknown_has_no_rules_and_unknown_signers_are_refused() {
    let any = csr("x", &[], &[], &[]);
    signer::validate(signer::LEGACY_UNKNOWN, &any, &[Usage::Any]).unwrap();
    assert_eq!(
        err("example.com/custom", &any, &[ClientAuth]),
        "unsupported signer name \"example.com/custom\""
    );
}
