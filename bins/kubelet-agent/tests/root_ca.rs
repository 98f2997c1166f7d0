//! The agent follows a CA rotation (decision 0029) against a real apiserver in this process:
//! its Node reports the bundle it trusts from registration on; a bundle published in
//! `kube-public/kube-root-ca.crt` is written into its kubeconfig and reported on the Node,
//! and a signer annotation naming another CA makes it request a new client certificate.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use clap::Parser as _;
use client::{Client, ClientConfig, Identity, ListParams};
use kubeconfig::Kubeconfig;
use pki::{CertificateAuthority, KeyAlgorithm, LeafParams, Usage};
use protocol::certificates::v1::CertificateSigningRequest;
use protocol::core::v1::{
    ConfigMap, KUBELET_CLIENT_SIGNER_CA_ANNOTATION, NODE_CLIENT_CERTIFICATE_ANNOTATION,
    NODE_ROOT_CA_BUNDLE_ANNOTATION, Node, ROOT_CA_CONFIG_MAP, ROOT_CA_CONFIG_MAP_KEY,
    ROOT_CA_NAMESPACE_FOR_NODES,
};
use protocol::meta::ObjectMeta;
use tokio::sync::oneshot;

const DAY: Duration = Duration::from_secs(86400);
const NODE: &str = "n1";

fn leaf(ca: &CertificateAuthority, cn: &str, orgs: &[&str], server: bool) -> (String, String) {
    ca.issue_leaf(&LeafParams {
        common_name: cn.into(),
        organizations: orgs.iter().map(|o| o.to_string()).collect(),
        dns: if server {
            vec!["localhost".into()]
        } else {
            vec![]
        },
        ips: if server {
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        } else {
            vec![]
        },
        usages: vec![
            Usage::DigitalSignature,
            if server {
                Usage::ServerAuth
            } else {
                Usage::ClientAuth
            },
        ],
        validity: DAY,
    })
    .unwrap()
}

struct Cluster {
    ca: CertificateAuthority,
    url: url::Url,
    admin: Client,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), apiserver::ServeError>>,
    store: store::Store,
}

impl Cluster {
    async fn start(dir: &Path) -> Cluster {
        let ca =
            CertificateAuthority::generate("kubernetes", KeyAlgorithm::EcdsaP256, DAY).unwrap();
        let (cert, key) = leaf(&ca, "kube-apiserver", &[], true);
        let tls = apiserver::tls::ServingTls::from_pem(
            cert.as_bytes(),
            key.as_bytes(),
            Some(ca.cert_pem().as_bytes()),
        )
        .unwrap();
        let data_dir = dir.join("data");
        let mut config = apiserver::Config::new(tls, &data_dir);
        config.shutdown_grace = Duration::from_secs(1);
        let store = store::Store::open(&data_dir).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: url::Url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        )
        .parse()
        .unwrap();
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(apiserver::run_with_store(
            config,
            store.clone(),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        let (cert, key) = leaf(&ca, "kubernetes-admin", &["system:masters"], false);
        let admin = Client::new(ClientConfig::new(
            url.clone(),
            Some(ca.cert_pem().into_bytes()),
            Identity::ClientCertificate {
                cert_pem: cert.into_bytes(),
                key_pem: key.into_bytes(),
            },
            "root-ca-test",
        ))
        .unwrap();
        Cluster {
            ca,
            url,
            admin,
            stop: Some(stop),
            server,
            store,
        }
    }

    /// A kubeconfig for the node with its certificate and key in one file, and the CA.
    fn node_kubeconfig(&self, dir: &Path) -> PathBuf {
        let (cert, key) = leaf(
            &self.ca,
            &format!("system:node:{NODE}"),
            &["system:nodes"],
            false,
        );
        let pem = dir.join("node.pem");
        std::fs::write(&pem, format!("{cert}{key}")).unwrap();
        let path = dir.join("kubelet.conf");
        Kubeconfig::with_client_certificate_files(
            "c",
            &self.url,
            Some(self.ca.cert_pem().as_bytes()),
            "u",
            &pem,
            &pem,
        )
        .save(&path)
        .unwrap();
        path
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), self.server).await;
        let _ = self.store.close().await;
    }
}

fn agent_config(dir: &Path, kubeconfig: &Path) -> kubelet_agent::Config {
    let args = kubelet_agent::flags::Args::try_parse_from([
        "kubelet-agent".to_owned(),
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--cert-dir={}", dir.join("pki").display()),
        format!("--hostname-override={NODE}"),
        "--healthz-port=0".to_owned(),
        "--root-ca-check-frequency=200ms".to_owned(),
        "--testing-lease-renew-seconds=0.2".to_owned(),
    ])
    .unwrap();
    args.to_config().unwrap()
}

/// Polls `check` every 100 ms for up to 20 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    for _ in 0..200 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn node_annotation(admin: &Client, key: &str) -> Option<String> {
    let node = admin.get::<Node>(None, NODE).await.ok()?;
    node.metadata.annotations.get(key).cloned()
}

/// The whole agent in this process, on a free port; it stops when the sender is used.
fn spawn_agent(
    config: kubelet_agent::Config,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), kubelet_agent::AgentError>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(kubelet_agent::run_with_listeners(
        config,
        kubelet_agent::Listeners {
            healthz: None,
            server: Some(std::net::TcpListener::bind("127.0.0.1:0").unwrap()),
        },
        async {
            let _ = stopped.await;
        },
    ));
    (stop, agent)
}

fn kubeconfig_ca(path: &Path) -> Vec<u8> {
    let config = Kubeconfig::load(path).unwrap();
    let context = &config
        .find_context(&config.current_context)
        .unwrap()
        .context;
    let data = config
        .find_cluster(&context.cluster)
        .unwrap()
        .cluster
        .certificate_authority_data
        .clone()
        .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

fn bundle_id(pem: &str) -> String {
    pki::bundle_id(&pki::parse_certificates(pem.as_bytes()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registered_node_reports_the_trusted_bundle() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path()).await;
    let kubeconfig = cluster.node_kubeconfig(dir.path());
    let config = agent_config(dir.path(), &kubeconfig);
    let (stop, agent) = spawn_agent(config);
    let want = bundle_id(&cluster.ca.cert_pem());
    let reported = eventually("the Node's bundle annotation", || {
        node_annotation(&cluster.admin, NODE_ROOT_CA_BUNDLE_ANNOTATION)
    })
    .await;
    assert_eq!(reported, want);
    assert!(
        node_annotation(&cluster.admin, NODE_CLIENT_CERTIFICATE_ANNOTATION)
            .await
            .is_some()
    );
    // Nothing published: the agent keeps its trust and its kubeconfig.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(kubeconfig_ca(&kubeconfig), cluster.ca.cert_pem().as_bytes());
    let _ = stop.send(());
    agent.await.unwrap().unwrap();
    cluster.stop().await;
}

/// Needs the apiserver's `configmaps` and the Node authorizer's read of
/// `kube-public/kube-root-ca.crt` (decision 0029).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_bundle_reaches_the_kubeconfig_and_the_node() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path()).await;
    let kubeconfig = cluster.node_kubeconfig(dir.path());
    let bootstrap_before = std::fs::read(&kubeconfig).unwrap();
    let config = agent_config(dir.path(), &kubeconfig);
    let (stop, agent) = spawn_agent(config);
    let old_id = bundle_id(&cluster.ca.cert_pem());
    eventually("the registration", || async {
        (node_annotation(&cluster.admin, NODE_ROOT_CA_BUNDLE_ANNOTATION).await? == old_id)
            .then_some(())
    })
    .await;

    // Stage 2 of a rotation: old + new, the signer still on the old CA.
    let new = CertificateAuthority::generate("kubernetes", KeyAlgorithm::EcdsaP256, DAY).unwrap();
    let both = format!("{}{}", cluster.ca.cert_pem(), new.cert_pem());
    let old_ca_id = pki::credential_id(
        pki::parse_certificates(cluster.ca.cert_pem().as_bytes()).unwrap()[0].der(),
    );
    let mut published = ConfigMap {
        metadata: ObjectMeta::namespaced(ROOT_CA_NAMESPACE_FOR_NODES, ROOT_CA_CONFIG_MAP),
        ..Default::default()
    };
    published
        .data
        .insert(ROOT_CA_CONFIG_MAP_KEY.to_owned(), both.clone());
    published.metadata.annotations.insert(
        KUBELET_CLIENT_SIGNER_CA_ANNOTATION.to_owned(),
        old_ca_id.clone(),
    );
    // First a bundle that does not verify the apiserver (its CA left out): refused, or the
    // node would cut itself off.
    let stranger = CertificateAuthority::generate("kubernetes", KeyAlgorithm::EcdsaP256, DAY)
        .unwrap()
        .cert_pem();
    let mut wrong = published.clone();
    wrong
        .data
        .insert(ROOT_CA_CONFIG_MAP_KEY.to_owned(), stranger.clone());
    let created = cluster
        .admin
        .create::<ConfigMap>(Some(ROOT_CA_NAMESPACE_FOR_NODES), &wrong)
        .await
        .expect("the apiserver serves configmaps");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(kubeconfig_ca(&kubeconfig), cluster.ca.cert_pem().as_bytes());
    assert_eq!(
        node_annotation(&cluster.admin, NODE_ROOT_CA_BUNDLE_ANNOTATION).await,
        Some(old_id.clone())
    );
    let mut created = created;
    created.data = published.data.clone();
    let created = cluster
        .admin
        .update::<ConfigMap>(Some(ROOT_CA_NAMESPACE_FOR_NODES), &created)
        .await
        .unwrap();
    let both_id = bundle_id(&both);
    eventually("the Node's new bundle annotation", || async {
        (node_annotation(&cluster.admin, NODE_ROOT_CA_BUNDLE_ANNOTATION).await? == both_id)
            .then_some(())
    })
    .await;
    assert_eq!(kubeconfig_ca(&kubeconfig), both.as_bytes());
    // The rest of the kubeconfig as it was: same server and user.
    let before =
        Kubeconfig::from_yaml(std::str::from_utf8(&bootstrap_before).unwrap(), dir.path()).unwrap();
    let after = Kubeconfig::load(&kubeconfig).unwrap();
    assert_eq!(after.users, before.users);
    assert_eq!(after.contexts, before.contexts);
    // The signer still signs with our issuer: no request.
    let csrs = || async {
        cluster
            .admin
            .list::<CertificateSigningRequest>(None, &ListParams::default())
            .await
            .unwrap()
            .items
            .len()
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(csrs().await, 0);

    // Stage 3: the signer moves to the new CA: the agent asks for a new client certificate.
    let new_ca_id =
        pki::credential_id(pki::parse_certificates(new.cert_pem().as_bytes()).unwrap()[0].der());
    let mut moved = created;
    moved
        .metadata
        .annotations
        .insert(KUBELET_CLIENT_SIGNER_CA_ANNOTATION.to_owned(), new_ca_id);
    cluster
        .admin
        .update::<ConfigMap>(Some(ROOT_CA_NAMESPACE_FOR_NODES), &moved)
        .await
        .unwrap();
    eventually("a client certificate request", || async {
        (csrs().await == 1).then_some(())
    })
    .await;
    // Once per signer CA: no second request while that one is pending.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(csrs().await, 1);

    let _ = stop.send(());
    agent.await.unwrap().unwrap();
    cluster.stop().await;
}
