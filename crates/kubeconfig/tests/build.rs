//! The kubelet's kubeconfig, built from a resolved bootstrap config, resolves to its
//! certificate and key in the one combined file.

use std::fs;

use kubeconfig::{Identity, Kubeconfig, ResolvedConfig};
use url::Url;

const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEkey\n-----END EC PRIVATE KEY-----\n";

fn bootstrap(ca_pem: Option<&[u8]>, insecure: bool) -> ResolvedConfig {
    let server = Url::parse("https://10.0.0.1:6443").unwrap();
    let mut config = Kubeconfig::with_token(
        "bootstrap",
        &server,
        ca_pem,
        "kubelet-bootstrap",
        "abcdef.0123456789abcdef",
    );
    config.clusters[0].cluster.insecure_skip_tls_verify = insecure.then_some(true);
    config.clusters[0].cluster.tls_server_name = Some("apiserver.local".to_owned());
    config.resolve(None).unwrap()
}

#[test]
fn kubelet_kubeconfig_points_both_references_at_the_combined_pem() {
    let dir = tempfile::tempdir().unwrap();
    let pem_path = dir.path().join("pki/kubelet-client-current.pem");
    fs::create_dir_all(pem_path.parent().unwrap()).unwrap();
    fs::write(&pem_path, format!("{CERT}{KEY}")).unwrap();

    let kubeconfig_path = dir.path().join("kubeconfig");
    Kubeconfig::for_kubelet(&bootstrap(Some(CERT.as_bytes()), false), &pem_path)
        .save(&kubeconfig_path)
        .unwrap();
    let resolved = Kubeconfig::load(&kubeconfig_path)
        .unwrap()
        .resolve(None)
        .unwrap();

    assert_eq!(resolved.context, "default-context");
    assert_eq!(resolved.namespace.as_deref(), Some("default"));
    assert_eq!(
        resolved.server,
        Url::parse("https://10.0.0.1:6443").unwrap()
    );
    assert_eq!(resolved.ca_pem.as_deref(), Some(CERT.as_bytes()));
    assert_eq!(resolved.tls_server_name.as_deref(), Some("apiserver.local"));
    let combined = format!("{CERT}{KEY}").into_bytes();
    assert_eq!(
        resolved.identity,
        Identity::ClientCertificate {
            cert_pem: combined.clone(),
            key_pem: combined
        }
    );
}

#[test]
fn an_insecure_bootstrap_gives_an_insecure_kubelet_kubeconfig_without_ca() {
    let config = Kubeconfig::for_kubelet(&bootstrap(None, true), "/x.pem".as_ref());
    let cluster = &config.clusters[0].cluster;
    assert_eq!(cluster.insecure_skip_tls_verify, Some(true));
    assert_eq!(cluster.certificate_authority_data, None);
    assert_eq!(config.users[0].user.client_key.as_deref(), Some("/x.pem"));
}

#[test]
fn the_kubelet_kubeconfig_names_a_missing_pem_when_resolved() {
    // The kubelet writes its kubeconfig before the certificate exists; resolving must say
    // which file is missing so the agent can tell "not yet issued" from a broken config.
    let dir = tempfile::tempdir().unwrap();
    let pem_path = dir.path().join("kubelet-client-current.pem");
    let config = Kubeconfig::for_kubelet(&bootstrap(Some(CERT.as_bytes()), false), &pem_path);
    match config.resolve(None) {
        Err(kubeconfig::KubeconfigError::ReferencedFile { path, source, .. }) => {
            assert_eq!(path, pem_path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a missing file error, got {other:?}"),
    }
}
