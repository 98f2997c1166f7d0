//! Decision 0029 on the controller-manager's side: `root-ca-cert-publisher` keeps
//! `kube-root-ca.crt` in every namespace (put back when edited or deleted), follows
//! `--root-ca-file` and the signing files (the signer CA annotations), counts the Nodes by
//! the bundle they trust; and the controller-manager follows its `--kubeconfig` to a client
//! certificate from another CA and to a new trust bundle, without a restart. Without
//! `--root-ca-file` the kubeconfig's CA is published instead, as upstream, and follows it.

#[path = "controller_manager_common.rs"]
mod common;

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use common::*;
use e2e::https::{Https, Identity};
use e2e::wait;
use serde_json::{Value, json};

const CONFIG_MAP: &str = "kube-root-ca.crt";
const CLIENT_SIGNER_CA: &str = "kubelet-tls-bootstrap/kube-apiserver-client-kubelet-ca";
const SERVING_SIGNER_CA: &str = "kubelet-tls-bootstrap/kubelet-serving-ca";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";
const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const USAGES: [&str; 2] = ["digital signature", "client auth"];

fn config_map_path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/configmaps/{CONFIG_MAP}")
}

/// Writes aside and renames over, as deployment tools do.
fn replace(path: &Path, contents: &str) -> anyhow::Result<()> {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents)?;
    std::fs::rename(&aside, path)?;
    Ok(())
}

fn new_ca(name: &str) -> anyhow::Result<pki::CertificateAuthority> {
    Ok(pki::CertificateAuthority::generate(
        name,
        pki::KeyAlgorithm::EcdsaP256,
        Duration::from_secs(10 * 365 * 24 * 3600),
    )?)
}

/// The credential ID of the first certificate of `pem`.
fn ca_id(pem: &str) -> anyhow::Result<String> {
    let certificates = pki::parse_certificates(pem.as_bytes())?;
    Ok(pki::credential_id(certificates[0].der()))
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

/// Waits until `kube-root-ca.crt` in `namespace` passes `check`; returns it.
fn wait_config_map(
    admin: &Https,
    namespace: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    wait::until(
        &format!("kube-root-ca.crt in {namespace}: {what}"),
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let (status, object) = admin
                .get_json(&config_map_path(namespace))
                .map_err(|e| e.to_string())?;
            if status == 200 && check(&object) {
                Ok(Some(object))
            } else {
                Err(format!("{status} {object}"))
            }
        },
    )
}

fn is_published(object: &Value, bundle: &str, signer_id: &str) -> bool {
    object["data"] == json!({"ca.crt": bundle})
        && annotation(object, "kubernetes.io/description") == Some(DESCRIPTION)
        && annotation(object, CLIENT_SIGNER_CA) == Some(signer_id)
        && annotation(object, SERVING_SIGNER_CA) == Some(signer_id)
}

#[test]
fn kube_root_ca_crt_is_published_everywhere_kept_and_follows_the_files() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let admin = setup.cluster.admin()?;
    let root = setup.cluster.dir().join("root-ca.crt");
    std::fs::write(&root, &setup.cluster.ca_pem)?;
    let cm = setup.start_cm_serving(
        "cm.log",
        &[
            "--leader-elect=false",
            "--cluster-signing-reload-interval=200ms",
            &format!("--root-ca-file={}", root.display()),
        ],
    )?;
    let log = || cm.process.log_tail(6000);
    let bundle = setup.cluster.ca_pem.clone();
    let signer_id = ca_id(&std::fs::read_to_string(&setup.ca_cert)?)?;

    for namespace in ["kube-system", "kube-public", "default"] {
        wait_config_map(&admin, namespace, "published", |o| {
            is_published(o, &bundle, &signer_id)
        })
        .with_context(log)?;
    }

    // A namespace made afterwards gets it too.
    setup.kubectl.ok(["create", "namespace", "team-a"])?;
    wait_config_map(&admin, "team-a", "published", |o| {
        is_published(o, &bundle, &signer_id)
    })
    .with_context(log)?;

    // Deleted: put back.
    let (_, before) = admin.get_json(&config_map_path("default"))?;
    let response = admin.request("DELETE", &config_map_path("default"), None, b"")?;
    anyhow::ensure!(response.status == 200, "delete: {}", response.status);
    wait_config_map(&admin, "default", "recreated", |o| {
        o["metadata"]["uid"] != before["metadata"]["uid"] && is_published(o, &bundle, &signer_id)
    })
    .with_context(log)?;

    // Edited: the bundle is put back, someone's other annotation is kept.
    let (_, mut edited) = admin.get_json(&config_map_path("kube-public"))?;
    edited["data"]["ca.crt"] = json!("not the bundle");
    edited["metadata"]["annotations"]["example.com/note"] = json!("kept");
    let (status, answer) = admin.send_json("PUT", &config_map_path("kube-public"), &edited)?;
    anyhow::ensure!(status == 200, "edit: {status} {answer}");
    wait_config_map(&admin, "kube-public", "restored", |o| {
        is_published(o, &bundle, &signer_id) && annotation(o, "example.com/note") == Some("kept")
    })
    .with_context(log)?;

    // The file rewritten (old + new CA): republished everywhere.
    let next_root = new_ca("next-root")?;
    let both = format!("{bundle}{}", next_root.cert_pem());
    replace(&root, &both)?;
    for namespace in ["kube-public", "team-a", "kube-system"] {
        wait_config_map(&admin, namespace, "the new bundle", |o| {
            is_published(o, &both, &signer_id)
        })
        .with_context(log)?;
    }

    // A broken file: the last good bundle stays.
    replace(&root, "not a certificate")?;
    wait::until(
        "the broken file to be logged",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            Ok(log()
                .contains("root CA bundle changed but cannot be used")
                .then_some(()))
        },
    )?;
    let (_, kept) = admin.get_json(&config_map_path("kube-public"))?;
    anyhow::ensure!(is_published(&kept, &both, &signer_id), "{kept}");
    replace(&root, &both)?;

    // The signing pair replaced: the signer annotations name the new CA.
    let next_signing = new_ca("next-signing")?;
    let aside = setup.cluster.dir().join("next-signing-key.pem");
    std::fs::write(&aside, next_signing.key_pem())?;
    let aside_cert = setup.cluster.dir().join("next-signing.pem");
    std::fs::write(&aside_cert, next_signing.cert_pem())?;
    std::fs::rename(&aside, &setup.ca_key)?;
    std::fs::rename(&aside_cert, &setup.ca_cert)?;
    let next_id = ca_id(&next_signing.cert_pem())?;
    assert_ne!(next_id, signer_id);
    for namespace in ["kube-public", "default"] {
        wait_config_map(&admin, namespace, "the new signer CA", |o| {
            is_published(o, &both, &next_id)
        })
        .with_context(log)?;
    }

    // The fleet: one node on the published bundle, one on another, one silent.
    let bundle_id = pki::bundle_id(&pki::parse_certificates(both.as_bytes())?);
    for (name, reported) in [
        ("on-bundle", Some(bundle_id.as_str())),
        ("behind", Some("SHA256=00")),
        ("silent", None),
    ] {
        let mut node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
        if let Some(reported) = reported {
            node["metadata"]["annotations"] =
                json!({"kubelet-tls-bootstrap/root-ca-bundle": reported});
        }
        let (status, answer) = admin.send_json("POST", "/api/v1/nodes", &node)?;
        anyhow::ensure!(status == 201, "create node {name}: {status} {answer}");
    }
    wait::until(
        "the fleet metrics",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let metrics = cm.metrics().map_err(|e| format!("{e:#}"))?;
            let has = |line: &str| metrics.lines().any(|l| l == line);
            let all = [
                "kubelet_tls_bootstrap_nodes_trusting_root_ca{bundle=\"current\"} 1",
                "kubelet_tls_bootstrap_nodes_trusting_root_ca{bundle=\"other\"} 1",
                "kubelet_tls_bootstrap_nodes_trusting_root_ca{bundle=\"unreported\"} 1",
                "kubelet_tls_bootstrap_nodes_by_client_certificate_issuer{issuer=\"unreported\"} 3",
            ];
            if all.iter().all(|l| has(l)) {
                Ok(Some(()))
            } else {
                Err(metrics)
            }
        },
    )?;
    let syncs = cm.metric("root_ca_cert_publisher_sync_total{code=\"200\"}")?;
    anyhow::ensure!(syncs >= 5.0, "root_ca_cert_publisher_sync_total: {syncs}");
    Ok(())
}

/// A kubeconfig for the cluster with the data embedded.
fn kubeconfig(server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: cm\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: cm\n  context:\n    cluster: c\n    user: cm\ncurrent-context: cm\n",
        b64(ca_pem),
        b64(cert_pem),
        b64(key_pem)
    )
}

fn controller_manager_pair(ca: &pki::CertificateAuthority) -> anyhow::Result<(String, String)> {
    Ok(ca.issue_leaf(&pki::LeafParams {
        common_name: "system:kube-controller-manager".into(),
        organizations: Vec::new(),
        dns: Vec::new(),
        ips: Vec::new(),
        usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
        validity: Duration::from_secs(3600),
    })?)
}

#[test]
fn the_controller_manager_follows_its_kubeconfig_to_another_ca() -> anyhow::Result<()> {
    let setup = Setup::start(true)?;
    let server = setup.cluster.server_url();
    let (cert, key) = controller_manager_pair(&setup.cluster.ca)?;
    let cluster_ca = setup.cluster.ca_pem.clone();
    // Embedded data, as the lab writes it.
    let path = setup.cluster.dir().join("cm-embedded.kubeconfig");
    std::fs::write(&path, kubeconfig(&server, &cluster_ca, &cert, &key))?;

    // The apiserver trusts a second CA for client certificates too (it re-reads the file).
    let second = new_ca("second-client-ca")?;
    let client_bundle = format!("{cluster_ca}{}", second.cert_pem());
    replace(&setup.cluster.ca_file(), &client_bundle)?;
    let (second_cert, second_key) = controller_manager_pair(&second)?;
    let probe = setup.cluster.https(Identity::Certificate {
        cert_pem: second_cert.clone(),
        key_pem: second_key.clone(),
    })?;
    wait::until(
        "the apiserver to accept the second CA's client certificates",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || match probe.get_json(CSR_PATH) {
            Ok((200, _)) => Ok(Some(())),
            Ok((status, body)) => Err(format!("{status} {body}")),
            Err(e) => Err(format!("{e:#}")),
        },
    )?;

    let port = e2e::free_loopback_port()?;
    let args = vec![
        format!("--kubeconfig={}", path.display()),
        format!("--cluster-signing-cert-file={}", setup.ca_cert.display()),
        format!("--cluster-signing-key-file={}", setup.ca_key.display()),
        "--leader-elect=false".to_string(),
        "--cluster-signing-reload-interval=200ms".to_string(),
        "--bind-address=127.0.0.1".to_string(),
        format!("--secure-port={port}"),
    ];
    let process = e2e::spawn_controller_manager(&setup.cluster, "cm.log", &args)?;
    let log = || process.log_tail(6000);
    // No --root-ca-file: the kubeconfig's CA is published, with the signer annotations.
    let admin = setup.cluster.admin()?;
    let signer_id = ca_id(&std::fs::read_to_string(&setup.ca_cert)?)?;
    for namespace in ["default", "kube-system"] {
        wait_config_map(&admin, namespace, "the kubeconfig's CA", |o| {
            is_published(o, &cluster_ca, &signer_id)
        })
        .with_context(log)?;
    }
    let bootstrap = setup.token_client()?;
    let sign = |name: &str, timeout: Duration| -> anyhow::Result<()> {
        create(
            &bootstrap,
            &csr_manifest(name, &format!("system:node:{name}"), CLIENT, &USAGES, &[])?,
        )?;
        setup.wait_issued(name, timeout).map(drop).with_context(log)
    };
    sign("before", Duration::from_secs(20))?;

    // A client certificate from the second CA.
    replace(
        &path,
        &kubeconfig(&server, &cluster_ca, &second_cert, &second_key),
    )?;
    wait::until(
        "the new credentials to be taken",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || Ok(log().contains("new_credentials=true").then_some(())),
    )?;
    sign("after-new-certificate", Duration::from_secs(20))?;

    // A trust bundle that does not verify the apiserver: new connections fail, nothing is
    // signed; the right bundle (old + another CA) again: signing resumes.
    let stranger = new_ca("stranger")?;
    replace(
        &path,
        &kubeconfig(&server, &stranger.cert_pem(), &second_cert, &second_key),
    )?;
    wait::until(
        "the wrong trust to be taken",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || Ok(log().contains("new_ca=true").then_some(())),
    )?;
    create(
        &bootstrap,
        &csr_manifest(
            "while-untrusted",
            "system:node:while-untrusted",
            CLIENT,
            &USAGES,
            &[],
        )?,
    )?;
    setup.assert_stays_unsigned("while-untrusted", &[], Duration::from_secs(3))?;
    replace(
        &path,
        &kubeconfig(
            &server,
            &format!("{}{cluster_ca}", stranger.cert_pem()),
            &second_cert,
            &second_key,
        ),
    )?;
    setup
        .wait_issued("while-untrusted", Duration::from_secs(60))
        .with_context(log)?;
    sign("after-new-trust", Duration::from_secs(20))?;
    // The published bundle followed the kubeconfig's CA.
    let followed = format!("{}{cluster_ca}", stranger.cert_pem());
    for namespace in ["default", "kube-system"] {
        wait_config_map(&admin, namespace, "the kubeconfig's new CA", |o| {
            is_published(o, &followed, &signer_id)
        })
        .with_context(log)?;
    }
    Ok(())
}
