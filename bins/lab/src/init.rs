//! `lab init`: everything a cluster needs before its programs start, in one state folder — a
//! dedicated CA, the apiserver's serving certificate, the admin and controller-manager
//! kubeconfigs, a bootstrap token (Secret manifest and token.csv line) and one bootstrap
//! kubeconfig per node. `lab up` runs it on loopback; the compose init container runs it with
//! container host names.

use std::time::Duration;

use anyhow::Context as _;
use pki::KeyAlgorithm;
use url::Url;

use crate::files;
use crate::state::{Layout, NodeSettings, Settings};
use crate::token::{self, BootstrapToken, TokenOptions};

/// How long the lab's own credentials live.
const LAB_CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const LAB_LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// The kubeconfig cluster name.
pub const CLUSTER_NAME: &str = "lab";

/// What to prepare.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The URL the kubeconfigs name, e.g. `https://127.0.0.1:6443` or `https://apiserver:6443`.
    pub server: Url,
    /// Names and addresses in the serving certificate.
    pub apiserver_sans: Vec<String>,
    pub apiserver_port: u16,
    pub controller_manager_port: u16,
    pub nodes: Vec<NodeSettings>,
    pub manual_approval: bool,
    pub signing_duration: String,
    /// `None`: the bootstrap token never expires.
    pub token_ttl: Option<Duration>,
}

/// Creates the state folder; refuses one that already holds a lab.
pub fn init(layout: &Layout, options: &InitOptions) -> anyhow::Result<Settings> {
    anyhow::ensure!(
        !layout.settings_file().exists(),
        "{} already holds a lab; run `lab down --state-dir {}` first (it stops it and removes the state)",
        layout.root().display(),
        layout.root().display()
    );
    std::fs::create_dir_all(layout.root())
        .with_context(|| format!("cannot create {}", layout.root().display()))?;
    let pki_dir = layout.pki_dir();
    let (ca, _) = files::create_ca(
        &pki_dir,
        "lab-ca",
        KeyAlgorithm::EcdsaP256,
        LAB_CA_VALIDITY,
        false,
    )?;
    let ca_pem = ca.cert_pem();
    files::write_public(&layout.ca_bundle(), &ca_pem)?;
    files::issue_apiserver_serving(
        &ca,
        &pki_dir,
        &options.apiserver_sans,
        LAB_LEAF_VALIDITY,
        "",
    )?;

    let server = &options.server;
    let (cert, key) = files::issue_client(
        &ca,
        &pki_dir,
        "admin",
        "admin",
        &["system:masters"],
        LAB_LEAF_VALIDITY,
    )?;
    let admin =
        files::embedded_cert_kubeconfig(CLUSTER_NAME, server, &ca_pem, "admin", &cert, &key)?;
    files::save_kubeconfig(&admin, &layout.admin_kubeconfig())?;

    let (cert, key) = files::issue_client(
        &ca,
        &pki_dir,
        "controller-manager",
        "system:kube-controller-manager",
        &[],
        LAB_LEAF_VALIDITY,
    )?;
    let cm = files::embedded_cert_kubeconfig(
        CLUSTER_NAME,
        server,
        &ca_pem,
        "system:kube-controller-manager",
        &cert,
        &key,
    )?;
    files::save_kubeconfig(&cm, &layout.controller_manager_kubeconfig())?;

    let bootstrap = BootstrapToken::generate();
    let token_options = TokenOptions {
        expiration: options
            .token_ttl
            .map(|ttl| time::OffsetDateTime::now_utc() + ttl),
        description: Some("lab bootstrap token".to_string()),
        ..TokenOptions::default()
    };
    let secret = token::secret(&bootstrap, &token_options)?;
    files::write_private(
        &layout.bootstrap_token_secret(),
        &(serde_json::to_string_pretty(&secret)? + "\n"),
    )?;
    files::write_private(&layout.bootstrap_token(), &format!("{bootstrap}\n"))?;
    let static_token = token::random_static_token();
    files::write_private(
        &layout.token_csv(),
        &token::token_csv_line(
            &static_token,
            token::STATIC_USER,
            "10001",
            &[token::STATIC_GROUP],
        ),
    )?;
    let static_config = files::bootstrap_kubeconfig(CLUSTER_NAME, server, &ca_pem, &static_token);
    files::save_kubeconfig(&static_config, &layout.static_bootstrap_kubeconfig())?;

    let bootstrap_config =
        files::bootstrap_kubeconfig(CLUSTER_NAME, server, &ca_pem, &bootstrap.to_string());
    for node in &options.nodes {
        files::save_kubeconfig(
            &bootstrap_config,
            &layout.node_bootstrap_kubeconfig(&node.name),
        )?;
        std::fs::create_dir_all(layout.node_cert_dir(&node.name))?;
    }
    std::fs::create_dir_all(layout.apiserver_data())?;
    std::fs::create_dir_all(layout.logs_dir())?;

    let settings = Settings {
        server: server.as_str().trim_end_matches('/').to_string(),
        apiserver_port: options.apiserver_port,
        controller_manager_port: options.controller_manager_port,
        nodes: options.nodes.clone(),
        manual_approval: options.manual_approval,
        signing_duration: options.signing_duration.clone(),
        token_id: bootstrap.id().to_string(),
    };
    settings.save(layout)?;
    Ok(settings)
}

/// Node names `node-1` .. `node-N` with ports from `ports` (two per node).
pub fn node_names(count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("node-{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> InitOptions {
        InitOptions {
            server: Url::parse("https://127.0.0.1:16443").unwrap(),
            apiserver_sans: vec!["127.0.0.1".into(), "localhost".into()],
            apiserver_port: 16443,
            controller_manager_port: 16444,
            nodes: node_names(2)
                .into_iter()
                .enumerate()
                .map(|(i, name)| NodeSettings {
                    name,
                    port: 17000 + i as u16 * 2,
                    healthz_port: 17001 + i as u16 * 2,
                })
                .collect(),
            manual_approval: false,
            signing_duration: "8760h".into(),
            token_ttl: Some(Duration::from_secs(3600)),
        }
    }

    #[test]
    fn makes_a_complete_state_folder_once() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("state"));
        let settings = init(&layout, &options()).expect("init");
        assert_eq!(settings.nodes.len(), 2);

        let ca = pki::CertificateAuthority::load(layout.ca_cert(), layout.ca_key()).unwrap();
        let serving =
            pki::Certificate::from_pem(&std::fs::read(layout.apiserver_cert()).unwrap()).unwrap();
        serving.verify_issued_by(ca.certificate()).unwrap();
        assert_eq!(serving.dns_names(), ["localhost".to_string()]);
        assert_eq!(serving.ip_addresses().len(), 1);

        let admin = kubeconfig::Kubeconfig::load(layout.admin_kubeconfig())
            .unwrap()
            .resolve(None)
            .unwrap();
        let kubeconfig::Identity::ClientCertificate { cert_pem, .. } = admin.identity else {
            panic!("admin kubeconfig has no client certificate");
        };
        let admin_cert = pki::Certificate::from_pem(&cert_pem).unwrap();
        assert_eq!(admin_cert.organizations(), ["system:masters".to_string()]);

        let token = std::fs::read_to_string(layout.bootstrap_token()).unwrap();
        let token = BootstrapToken::parse(token.trim()).unwrap();
        assert_eq!(token.id(), settings.token_id);
        for node in &settings.nodes {
            let resolved =
                kubeconfig::Kubeconfig::load(layout.node_bootstrap_kubeconfig(&node.name))
                    .unwrap()
                    .resolve(None)
                    .unwrap();
            match resolved.identity {
                kubeconfig::Identity::Token(t) => assert_eq!(t, token.to_string()),
                _ => panic!("bootstrap kubeconfig without a token"),
            }
        }
        let secret: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(layout.bootstrap_token_secret()).unwrap(),
        )
        .unwrap();
        assert_eq!(secret["metadata"]["name"], token.secret_name());
        let csv = std::fs::read_to_string(layout.token_csv()).unwrap();
        assert!(csv.contains(",kubelet-bootstrap,10001,\"system:node-bootstrapper\""));

        let again = init(&layout, &options()).unwrap_err().to_string();
        assert!(again.contains("lab down"), "{again}");
    }
}
