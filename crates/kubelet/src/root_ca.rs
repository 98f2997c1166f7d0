//! Following a CA rotation without a restart (decision 0029): every `--root-ca-check-frequency`
//! the agent reads the ConfigMap `kube-public/kube-root-ca.crt` the controller-manager
//! publishes. A bundle other than the one trusted now is taken: it was read over a connection
//! verified with the current trust, so trust passes from bundle to bundle. It is written into
//! `--kubeconfig` (`certificate-authority-data`, so a restart keeps it), used by every API
//! client for new connections at once, and reported on the Node
//! ([`protocol::core::v1::NODE_ROOT_CA_BUNDLE_ANNOTATION`], by the heartbeat). When the
//! ConfigMap names a signer CA other than the one that issued the client (or serving)
//! certificate, that certificate is rotated at once, once per new signer CA.
//!
//! Only the kubelet-agent runs this loop; the bootstrap-storm benchmark does not.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use client::{Client, ClientConfig, ClientError, RetryPolicy};
use kubeconfig::{Kubeconfig, KubeconfigError};
use pki::Certificate;
use protocol::core::v1::{
    ConfigMap, KUBELET_CLIENT_SIGNER_CA_ANNOTATION, KUBELET_SERVING_SIGNER_CA_ANNOTATION,
    ROOT_CA_CONFIG_MAP, ROOT_CA_CONFIG_MAP_KEY, ROOT_CA_NAMESPACE_FOR_NODES,
};
use rand::Rng as _;
use tokio::sync::{Notify, watch};

use crate::cert_manager::{CertificateWatch, Role};
use crate::node::sleep_or_shutdown;
use crate::state::AgentState;

/// The default of `--root-ca-check-frequency`.
pub const DEFAULT_CHECK_FREQUENCY: Duration = Duration::from_secs(60);

/// Each wait is the period plus up to this fraction of it (as the certificate backoff's).
const JITTER: f64 = 0.1;

/// A CA bundle: its PEM as published, its certificates and its ID.
#[derive(Debug, Clone)]
pub struct TrustedBundle {
    pub pem: Vec<u8>,
    pub certificates: Vec<Certificate>,
    /// [`pki::bundle_id`]: `SHA256=<hex>` over the DER of the certificates in order.
    pub id: String,
}

impl TrustedBundle {
    /// At least one certificate, every block parsed.
    pub fn parse(pem: &[u8]) -> Result<TrustedBundle, pki::PkiError> {
        let certificates = pki::parse_certificates(pem)?;
        let id = pki::bundle_id(&certificates);
        Ok(TrustedBundle {
            pem: pem.to_vec(),
            certificates,
            id,
        })
    }
}

/// What a published `ca.crt` means for the trust.
#[derive(Debug)]
pub enum Published {
    /// No `ca.crt` key.
    Absent,
    /// The bundle trusted now (same certificates, whatever the PEM's layout).
    Unchanged,
    /// Another bundle: to be trusted.
    New(TrustedBundle),
    /// No certificate, or a bad one: the current trust stays.
    Unusable(String),
}

/// Compares the ConfigMap's `ca.crt` with the bundle trusted now (by ID).
pub fn examine(published: Option<&str>, trusted: Option<&str>) -> Published {
    let Some(pem) = published else {
        return Published::Absent;
    };
    match TrustedBundle::parse(pem.as_bytes()) {
        Ok(bundle) if Some(bundle.id.as_str()) == trusted => Published::Unchanged,
        Ok(bundle) => Published::New(bundle),
        Err(e) => Published::Unusable(e.to_string()),
    }
}

/// Why a certificate is to be rotated at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rekey {
    /// The signer's CA, as the ConfigMap names it (`X509SHA256=<hex>`).
    pub signer_ca: String,
    /// The CA that issued the current certificate, when it is among the candidates.
    pub current_issuer: Option<String>,
}

/// Whether the certificate `leaf` is to be rotated now: the ConfigMap names the signer's CA
/// (`signer_ca`), it is not the CA among `candidates` that issued `leaf` (no issuer found
/// counts as another), and it is not the value acted on last (`last_acted`): a signer that
/// keeps signing with the old CA causes one rotation, not a loop.
pub fn rekey_decision(
    signer_ca: Option<&str>,
    leaf: &Certificate,
    candidates: &[Certificate],
    last_acted: Option<&str>,
) -> Option<Rekey> {
    let signer_ca = signer_ca.map(str::trim).filter(|v| !v.is_empty())?;
    if last_acted == Some(signer_ca) {
        return None;
    }
    let current_issuer = leaf
        .issuer_in(candidates)
        .map(|issuer| pki::credential_id(issuer.der()));
    (current_issuer.as_deref() != Some(signer_ca)).then(|| Rekey {
        signer_ca: signer_ca.to_owned(),
        current_issuer,
    })
}

/// Writes `pem` into the `certificate-authority-data` of the cluster `path`'s current context
/// uses, atomically, everything else kept; a `certificate-authority` file it named is replaced
/// by the data (the file itself is left alone).
pub fn write_kubeconfig_ca(path: &Path, pem: &[u8]) -> Result<(), KubeconfigError> {
    let mut config = Kubeconfig::load(path)?;
    config.embed_certificate_authority(pem)?;
    config.save(path)
}

/// Whether a TLS handshake with `bundle` as the only trust verifies the apiserver `probe`
/// names. Any HTTP answer (a 401 too: the probe is anonymous) means it did.
async fn verifies_server(probe: &ClientConfig, bundle: &TrustedBundle) -> Result<(), String> {
    let mut config = probe.clone();
    config.ca_pem = Some(bundle.pem.clone());
    config.insecure_skip_tls_verify = false;
    config.identity = kubeconfig::Identity::None;
    config.retry = RetryPolicy::none();
    config.request_timeout = Duration::from_secs(10);
    let client = Client::new(config).map_err(|e| e.to_string())?;
    match client
        .request_raw(http::Method::GET, "/version", None)
        .await
    {
        Ok(_) => Ok(()),
        Err(error) => Err(error.to_string()),
    }
}

/// A certificate manager the watcher may ask for an immediate rotation.
pub struct Rekeyer {
    pub role: Role,
    /// Its current certificate.
    pub current: CertificateWatch,
    /// Wakes the manager for a rotation now ([`crate::cert_manager::CertManager::rotate_now`]).
    pub rotate_now: Arc<Notify>,
    /// The signer CA value last acted on.
    pub last_acted: Option<String>,
}

impl Rekeyer {
    pub fn new(role: Role, current: CertificateWatch, rotate_now: Arc<Notify>) -> Rekeyer {
        Rekeyer {
            role,
            current,
            rotate_now,
            last_acted: None,
        }
    }

    fn annotation(&self) -> &'static str {
        match self.role {
            Role::Client => KUBELET_CLIENT_SIGNER_CA_ANNOTATION,
            Role::Serving => KUBELET_SERVING_SIGNER_CA_ANNOTATION,
        }
    }

    fn name(&self) -> &'static str {
        match self.role {
            Role::Client => "kubelet-client",
            Role::Serving => "kubelet-serving",
        }
    }

    /// Asks for a rotation when [`rekey_decision`] says so; true if it did.
    fn check(&mut self, config_map: &ConfigMap, trusted: &[Certificate]) -> bool {
        let Some(current) = self.current.borrow().clone() else {
            // No certificate yet: its manager is requesting one anyway.
            return false;
        };
        // The bundle, and the intermediates the certificate came with.
        let mut candidates = trusted.to_vec();
        candidates.extend(current.chain.iter().skip(1).cloned());
        let signer_ca = config_map
            .metadata
            .annotations
            .get(self.annotation())
            .map(String::as_str);
        let Some(rekey) = rekey_decision(
            signer_ca,
            current.leaf(),
            &candidates,
            self.last_acted.as_deref(),
        ) else {
            return false;
        };
        tracing::info!(
            certificate = self.name(),
            signer_ca = %rekey.signer_ca,
            current_issuer = rekey.current_issuer.as_deref().unwrap_or("none in the trusted bundle"),
            "the signer now signs with another CA than the one that issued the certificate; rotating it now"
        );
        self.last_acted = Some(rekey.signer_ca);
        self.rotate_now.notify_one();
        true
    }
}

/// The poller of `kube-public/kube-root-ca.crt`.
pub struct RootCaWatcher {
    /// Reads the ConfigMap; also the first of `clients`.
    pub client: Client,
    /// Every client that reaches the apiserver: each gets the new trust.
    pub clients: Vec<Client>,
    /// `--kubeconfig`: the new bundle is written into it.
    pub kubeconfig: PathBuf,
    /// The bundle trusted now (`None`: the kubeconfig names no CA).
    pub trusted: Option<TrustedBundle>,
    pub state: Arc<AgentState>,
    pub client_cert: Option<Rekeyer>,
    pub serving_cert: Option<Rekeyer>,
    /// The trusted bundle is not in the kubeconfig yet (its write failed): tried again.
    pub kubeconfig_behind: bool,
    /// Where the apiserver is, for the check that a new bundle verifies its serving
    /// certificate before it is taken (`None`: taken unchecked, as in unit tests).
    pub probe: Option<ClientConfig>,
}

impl RootCaWatcher {
    pub fn new(
        client: Client,
        clients: Vec<Client>,
        kubeconfig: PathBuf,
        trusted: Option<TrustedBundle>,
        state: Arc<AgentState>,
    ) -> RootCaWatcher {
        RootCaWatcher {
            client,
            clients,
            kubeconfig,
            trusted,
            state,
            client_cert: None,
            serving_cert: None,
            kubeconfig_behind: false,
            probe: None,
        }
    }

    /// Checks every `period` (plus up to 10 % jitter; the first one period after the start)
    /// until `shutdown` turns true.
    pub async fn run(mut self, period: Duration, mut shutdown: watch::Receiver<bool>) {
        // Fail fast: the next period is the retry.
        self.client = self
            .client
            .with_retry(RetryPolicy {
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(500),
                max_elapsed: Duration::from_secs(1),
            })
            .with_timeout(Duration::from_secs(10));
        loop {
            let delay = period.mul_f64(1.0 + JITTER * rand::rng().random::<f64>());
            if sleep_or_shutdown(delay, &mut shutdown).await {
                return;
            }
            match self.check().await {
                Ok(()) => {}
                Err(e) if e.is_not_found() || e.is_forbidden() => tracing::debug!(
                    error = %e,
                    "the cluster does not publish {ROOT_CA_NAMESPACE_FOR_NODES}/{ROOT_CA_CONFIG_MAP} to this node"
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    "failed to read {ROOT_CA_NAMESPACE_FOR_NODES}/{ROOT_CA_CONFIG_MAP}; retrying at the next check"
                ),
            }
        }
    }

    /// One poll: read the ConfigMap, take a new bundle, then rotate what the signer
    /// annotations ask for (with the new bundle).
    pub async fn check(&mut self) -> Result<(), ClientError> {
        let config_map = self
            .client
            .get::<ConfigMap>(Some(ROOT_CA_NAMESPACE_FOR_NODES), ROOT_CA_CONFIG_MAP)
            .await?;
        if let (Some(probe), Published::New(bundle)) = (&self.probe, self.examine(&config_map)) {
            // A bundle that would not verify the apiserver now (a --root-ca-file without the
            // serving certificate's CA, a rotation retired before its switch) would cut the
            // node off, on disk too: refused until it does.
            if let Err(reason) = verifies_server(probe, &bundle).await {
                tracing::warn!(
                    bundle = %bundle.id,
                    %reason,
                    "the published CA bundle does not verify the apiserver's serving certificate; keeping the current trust"
                );
                self.follow_with(&config_map, false);
                return Ok(());
            }
        }
        self.follow(&config_map);
        Ok(())
    }

    fn examine(&self, config_map: &ConfigMap) -> Published {
        let published = config_map
            .data
            .get(ROOT_CA_CONFIG_MAP_KEY)
            .map(String::as_str);
        examine(published, self.trusted.as_ref().map(|b| b.id.as_str()))
    }

    /// Acts on a ConfigMap read from the apiserver.
    pub fn follow(&mut self, config_map: &ConfigMap) {
        self.follow_with(config_map, true);
    }

    /// `follow`, taking a new bundle only if `take_new`.
    fn follow_with(&mut self, config_map: &ConfigMap, take_new: bool) {
        match self.examine(config_map) {
            Published::Absent => tracing::debug!(
                "{ROOT_CA_NAMESPACE_FOR_NODES}/{ROOT_CA_CONFIG_MAP} has no {ROOT_CA_CONFIG_MAP_KEY}"
            ),
            Published::Unchanged => {}
            Published::Unusable(reason) => tracing::warn!(
                reason = %reason,
                "{ROOT_CA_NAMESPACE_FOR_NODES}/{ROOT_CA_CONFIG_MAP} holds no usable CA bundle; keeping the current trust"
            ),
            Published::New(bundle) if take_new => self.trust(bundle),
            Published::New(_) => {}
        }
        if self.kubeconfig_behind {
            self.write_kubeconfig();
        }
        let trusted = self
            .trusted
            .as_ref()
            .map(|b| b.certificates.clone())
            .unwrap_or_default();
        for rekeyer in [&mut self.client_cert, &mut self.serving_cert]
            .into_iter()
            .flatten()
        {
            rekeyer.check(config_map, &trusted);
        }
    }

    fn trust(&mut self, bundle: TrustedBundle) {
        for (i, client) in self.clients.iter().enumerate() {
            if let Err(e) = client.set_trust(&bundle.pem) {
                if i == 0 {
                    // The main client (all share its bundle check): nothing changed.
                    tracing::warn!(error = %e, bundle = %bundle.id, "cannot use the published CA bundle; keeping the current trust");
                    return;
                }
                tracing::warn!(error = %e, bundle = %bundle.id, "cannot use the published CA bundle for one of the API clients");
            }
        }
        tracing::info!(
            certificates = bundle.certificates.len(),
            bundle = %bundle.id,
            previous = self.trusted.as_ref().map_or("none", |b| b.id.as_str()),
            "trusting a new CA bundle"
        );
        self.state.set_root_ca_bundle(bundle.id.clone());
        self.trusted = Some(bundle);
        self.kubeconfig_behind = true;
    }

    fn write_kubeconfig(&mut self) {
        let Some(bundle) = &self.trusted else {
            return;
        };
        match write_kubeconfig_ca(&self.kubeconfig, &bundle.pem) {
            Ok(()) => {
                tracing::info!(kubeconfig = %self.kubeconfig.display(), bundle = %bundle.id, "wrote the CA bundle into the kubeconfig");
                self.kubeconfig_behind = false;
            }
            Err(e) => tracing::error!(
                kubeconfig = %self.kubeconfig.display(),
                error = %e,
                "cannot write the new CA bundle into the kubeconfig (it is used until a restart); trying again at the next check"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use base64::Engine as _;

    use std::time::SystemTime;

    use crate::csr::Template;

    const DAY: Duration = Duration::from_secs(86400);

    fn ca(name: &str) -> pki::CertificateAuthority {
        pki::CertificateAuthority::generate(name, pki::KeyAlgorithm::EcdsaP256, DAY).unwrap()
    }

    fn leaf(ca: &pki::CertificateAuthority) -> Certificate {
        let key = pki::PrivateKey::generate_p256().unwrap();
        let template = Template::kubelet_client("n1");
        let csr_pem = pki::build_csr(&key, &template.subject, &template.sans).unwrap();
        let csr = pki::Csr::from_pem(csr_pem.as_bytes()).unwrap();
        let pem = ca
            .sign_csr(&csr, &template.usages, None, DAY, SystemTime::now())
            .unwrap();
        Certificate::from_pem(pem.as_bytes()).unwrap()
    }

    fn certs(pem: &str) -> Vec<Certificate> {
        pki::parse_certificates(pem.as_bytes()).unwrap()
    }

    #[test]
    fn a_bundle_is_new_only_when_its_certificates_differ() {
        let (old, new) = (ca("ca"), ca("ca"));
        let old_pem = old.cert_pem();
        let both = format!("{}{}", old.cert_pem(), new.cert_pem());
        let trusted = pki::bundle_id(&certs(&old_pem));
        assert!(matches!(
            examine(Some(&old_pem), Some(&trusted)),
            Published::Unchanged
        ));
        // Another layout of the same bundle is the same bundle.
        let relaid = format!("# the cluster CA\n\n{}\n", old_pem.trim_end());
        assert!(matches!(
            examine(Some(&relaid), Some(&trusted)),
            Published::Unchanged
        ));
        let Published::New(bundle) = examine(Some(&both), Some(&trusted)) else {
            panic!("old + new is another bundle");
        };
        assert_eq!(bundle.certificates.len(), 2);
        assert_eq!(bundle.id, pki::bundle_id(&certs(&both)));
        assert_eq!(bundle.pem, both.as_bytes());
        // Nothing trusted yet (no CA in the kubeconfig): any bundle is new.
        assert!(matches!(examine(Some(&old_pem), None), Published::New(_)));
        assert!(matches!(examine(None, Some(&trusted)), Published::Absent));
    }

    #[test]
    fn an_unusable_bundle_keeps_the_trust() {
        let trusted = pki::bundle_id(&certs(&ca("ca").cert_pem()));
        for bad in [
            "",
            "not a certificate",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            assert!(
                matches!(examine(Some(bad), Some(&trusted)), Published::Unusable(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_early_rekey_decision() {
        let (old, new) = (ca("ca"), ca("ca"));
        let bundle = certs(&format!("{}{}", old.cert_pem(), new.cert_pem()));
        let old_id = pki::credential_id(bundle[0].der());
        let new_id = pki::credential_id(bundle[1].der());
        let ours = leaf(&old);
        // The signer still signs with the CA that issued ours: nothing to do.
        assert_eq!(rekey_decision(Some(&old_id), &ours, &bundle, None), None);
        // Another CA (even of the same name): rotate.
        assert_eq!(
            rekey_decision(Some(&new_id), &ours, &bundle, None),
            Some(Rekey {
                signer_ca: new_id.clone(),
                current_issuer: Some(old_id.clone()),
            })
        );
        // Once per value.
        assert_eq!(
            rekey_decision(Some(&new_id), &ours, &bundle, Some(&new_id)),
            None
        );
        assert!(rekey_decision(Some(&new_id), &ours, &bundle, Some(&old_id)).is_some());
        // No annotation: the cluster does not say.
        assert_eq!(rekey_decision(None, &ours, &bundle, None), None);
        assert_eq!(rekey_decision(Some(""), &ours, &bundle, None), None);
        // Our issuer is not in the bundle: that counts as another CA.
        let only_new = certs(&new.cert_pem());
        assert_eq!(
            rekey_decision(Some(&new_id), &ours, &only_new, None),
            Some(Rekey {
                signer_ca: new_id.clone(),
                current_issuer: None,
            })
        );
        // Issued by the new CA: nothing to do.
        assert_eq!(
            rekey_decision(Some(&new_id), &leaf(&new), &bundle, None),
            None
        );
    }

    #[test]
    fn the_kubeconfig_gets_the_new_bundle_and_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (ca("ca"), ca("ca"));
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, old.cert_pem()).unwrap();
        let path = dir.path().join("kubelet.conf");
        // A kubelet-written kubeconfig, but naming a CA file, plus a second cluster.
        let text = "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: ca.crt
    server: https://10.0.0.1:6443
    tls-server-name: kubernetes
  name: default-cluster
- cluster:
    certificate-authority: other.crt
    server: https://10.9.9.9:6443
  name: other
contexts:
- context:
    cluster: default-cluster
    namespace: default
    user: default-auth
  name: default-context
current-context: default-context
users:
- name: default-auth
  user:
    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem
    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem
";
        std::fs::write(&path, text).unwrap();
        let before = Kubeconfig::load(&path).unwrap();
        let both = format!("{}{}", old.cert_pem(), new.cert_pem());
        write_kubeconfig_ca(&path, both.as_bytes()).unwrap();
        let after = Kubeconfig::load(&path).unwrap();
        let cluster = &after.find_cluster("default-cluster").unwrap().cluster;
        assert_eq!(cluster.certificate_authority, None);
        assert!(cluster.certificate_authority_data.is_some());
        assert_eq!(cluster.server.as_deref(), Some("https://10.0.0.1:6443"));
        assert_eq!(cluster.tls_server_name.as_deref(), Some("kubernetes"));
        // The rest as it was.
        assert_eq!(after.users, before.users);
        assert_eq!(after.contexts, before.contexts);
        assert_eq!(after.current_context, before.current_context);
        assert_eq!(after.find_cluster("other"), before.find_cluster("other"));
        // The CA file is not touched.
        assert_eq!(std::fs::read_to_string(&ca_file).unwrap(), old.cert_pem());
        assert_eq!(ca_data(&path), both.as_bytes());
        // Written again (the next rotation stage): data replaced.
        write_kubeconfig_ca(&path, new.cert_pem().as_bytes()).unwrap();
        assert_eq!(ca_data(&path), new.cert_pem().as_bytes());
        // Not a kubeconfig it can change: an error, the file as it was.
        let broken = dir.path().join("broken.conf");
        std::fs::write(
            &broken,
            "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n",
        )
        .unwrap();
        assert!(write_kubeconfig_ca(&broken, both.as_bytes()).is_err());
        assert!(write_kubeconfig_ca(&dir.path().join("absent"), both.as_bytes()).is_err());
    }

    /// The CA data of the current context's cluster.
    fn ca_data(path: &Path) -> Vec<u8> {
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

    fn watcher(dir: &Path, trusted: &str) -> (RootCaWatcher, PathBuf) {
        let path = dir.join("kubelet.conf");
        let bundle = TrustedBundle::parse(trusted.as_bytes()).unwrap();
        Kubeconfig::with_client_certificate_files(
            "c",
            &"https://127.0.0.1:1".parse().unwrap(),
            Some(trusted.as_bytes()),
            "u",
            &dir.join("pem"),
            &dir.join("pem"),
        )
        .save(&path)
        .unwrap();
        let config = client::ClientConfig::new(
            "https://127.0.0.1:1".parse().unwrap(),
            Some(trusted.as_bytes().to_vec()),
            client::Identity::None,
            "test",
        );
        let client = Client::new(config).unwrap();
        let state = Arc::new(AgentState::default());
        state.set_root_ca_bundle(bundle.id.clone());
        let watcher = RootCaWatcher::new(
            client.clone(),
            vec![client],
            path.clone(),
            Some(bundle),
            state,
        );
        (watcher, path)
    }

    fn published(pem: &str, client_ca: Option<&str>) -> ConfigMap {
        let mut config_map = ConfigMap::default();
        config_map
            .data
            .insert(ROOT_CA_CONFIG_MAP_KEY.to_owned(), pem.to_owned());
        if let Some(id) = client_ca {
            config_map.metadata.annotations.insert(
                KUBELET_CLIENT_SIGNER_CA_ANNOTATION.to_owned(),
                id.to_owned(),
            );
        }
        config_map
    }

    #[tokio::test]
    async fn a_published_bundle_is_trusted_written_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (ca("ca"), ca("ca"));
        let (mut watcher, path) = watcher(dir.path(), &old.cert_pem());
        let old_id = watcher.state.root_ca_bundle().unwrap();
        // Unchanged: nothing written.
        let before = std::fs::read(&path).unwrap();
        watcher.follow(&published(&old.cert_pem(), None));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Garbage: kept.
        watcher.follow(&published("garbage", None));
        assert_eq!(watcher.state.root_ca_bundle().unwrap(), old_id);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Old + new: taken.
        let both = format!("{}{}", old.cert_pem(), new.cert_pem());
        watcher.follow(&published(&both, None));
        let both_id = pki::bundle_id(&certs(&both));
        assert_eq!(watcher.state.root_ca_bundle().unwrap(), both_id);
        assert_eq!(watcher.trusted.as_ref().unwrap().id, both_id);
        assert_eq!(ca_data(&path), both.as_bytes());
        assert!(!watcher.kubeconfig_behind);
    }

    #[tokio::test]
    async fn a_new_signer_ca_rotates_once_with_the_new_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (ca("ca"), ca("ca"));
        let (mut watcher, _) = watcher(dir.path(), &old.cert_pem());
        // Our client certificate, issued by the old CA.
        let store_dir = tempfile::tempdir().unwrap();
        let key = pki::PrivateKey::generate_p256().unwrap();
        let template = Template::kubelet_client("n1");
        let csr_pem = pki::build_csr(&key, &template.subject, &template.sans).unwrap();
        let csr = pki::Csr::from_pem(csr_pem.as_bytes()).unwrap();
        let cert = old
            .sign_csr(&csr, &template.usages, None, DAY, SystemTime::now())
            .unwrap();
        let keyed = crate::cert_store::CertStore::new(store_dir.path(), "kubelet-client")
            .update(cert.as_bytes(), &key, SystemTime::now())
            .unwrap();
        let (_current_tx, current) = watch::channel(Some(Arc::new(keyed)));
        let rotate_now = Arc::new(Notify::new());
        watcher.client_cert = Some(Rekeyer::new(Role::Client, current, rotate_now.clone()));
        let old_id = pki::credential_id(certs(&old.cert_pem())[0].der());
        let new_id = pki::credential_id(certs(&new.cert_pem())[0].der());
        let rotated = || async {
            tokio::time::timeout(Duration::from_millis(50), rotate_now.notified())
                .await
                .is_ok()
        };

        // Still the old CA: nothing.
        watcher.follow(&published(&old.cert_pem(), Some(&old_id)));
        assert!(!rotated().await);
        // The new CA is named in the same poll that brings old + new: one rotation.
        let both = format!("{}{}", old.cert_pem(), new.cert_pem());
        watcher.follow(&published(&both, Some(&new_id)));
        assert!(rotated().await);
        // The signer keeps the new CA but our certificate did not change: no loop.
        watcher.follow(&published(&both, Some(&new_id)));
        assert!(!rotated().await);
        // No annotation: nothing.
        watcher.follow(&published(&both, None));
        assert!(!rotated().await);
    }
}
