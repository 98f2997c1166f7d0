//! `root-ca-cert-publisher` (upstream's RootCACertPublisher): the ConfigMap `kube-root-ca.crt`
//! with the CA bundle under `ca.crt` in every namespace, put back when someone edits or
//! deletes it; namespaces being deleted are skipped. The bundle is upstream's
//! ([`bundle_source`]): the `--root-ca-file` when given, else the CA of the controller-manager's
//! own `--kubeconfig`; with neither (an insecure kubeconfig) the controller does not run.
//!
//! Ours on top (decision 0029): the bundle follows its source (upstream reads it once): the
//! file is re-read when it changes, the kubeconfig's CA is taken when its clients take it
//! ([`crate::kubeconfig_reload`]); a broken one is logged and the last good bundle stays
//! published. Each ConfigMap names
//! the CA each kubelet signer signs with now
//! ([`KUBELET_CLIENT_SIGNER_CA_ANNOTATION`], [`KUBELET_SERVING_SIGNER_CA_ANNOTATION`], in the
//! credential ID form), republished when the signing files are reloaded. A kubelet-agent
//! reads `kube-public/kube-root-ca.crt` to follow a CA rotation.
//!
//! Namespaces and the ConfigMaps of that name are each followed by a list+watch
//! ([`Follow`]); a change to either queues the namespace; a worker compares the stored
//! ConfigMap with the wanted one and writes only when they differ.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use client::{Client, ClientError, ListParams, WatchEvent};
use protocol::core::v1::{
    ConfigMap, KUBELET_CLIENT_SIGNER_CA_ANNOTATION, KUBELET_SERVING_SIGNER_CA_ANNOTATION,
    Namespace, ROOT_CA_CONFIG_MAP, ROOT_CA_CONFIG_MAP_KEY,
};
use protocol::meta::ObjectMeta;
use tokio::sync::watch;

use crate::ca_provider::{DynamicCa, Reload, Stamp, stamp};
use crate::informer::Follow;
use crate::metrics::Metrics;
use crate::queue::WorkQueue;
use crate::worker::{Handler, SyncError};

/// Upstream's annotation on `kube-root-ca.crt`.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// Upstream's text for it.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// What every namespace's `kube-root-ca.crt` should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The bundle's text, as read (`--root-ca-file` or the kubeconfig's CA).
    pub ca_pem: String,
    /// `pki::bundle_id` of its certificates (what nodes report trusting).
    pub bundle_id: String,
    /// Credential ID of the CA `kubernetes.io/kube-apiserver-client-kubelet` signs with now.
    pub client_signer_ca: Option<String>,
    /// Credential ID of the CA `kubernetes.io/kubelet-serving` signs with now.
    pub serving_signer_ca: Option<String>,
}

impl Published {
    /// The annotations ours adds, with `None` for a signer we hold no CA for (then absent).
    fn signer_annotations(&self) -> [(&'static str, Option<&String>); 2] {
        [
            (
                KUBELET_CLIENT_SIGNER_CA_ANNOTATION,
                self.client_signer_ca.as_ref(),
            ),
            (
                KUBELET_SERVING_SIGNER_CA_ANNOTATION,
                self.serving_signer_ca.as_ref(),
            ),
        ]
    }
}

/// The credential IDs of the CAs the kubelet client and serving signers sign with now.
pub fn signer_ca_ids(cas: &[(&'static str, Arc<DynamicCa>)]) -> (Option<String>, Option<String>) {
    let id = |signer: &str| {
        cas.iter()
            .find(|(s, _)| *s == signer)
            .map(|(_, ca)| pki::credential_id(ca.current().certificate().der()))
    };
    (
        id(pki::signer::KUBE_APISERVER_CLIENT_KUBELET),
        id(pki::signer::KUBELET_SERVING),
    )
}

/// The ConfigMap to create in `namespace`.
pub fn wanted(namespace: &str, published: &Published) -> ConfigMap {
    let mut metadata = ObjectMeta::namespaced(namespace, ROOT_CA_CONFIG_MAP);
    metadata
        .annotations
        .insert(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string());
    for (key, value) in published.signer_annotations() {
        if let Some(value) = value {
            metadata.annotations.insert(key.to_string(), value.clone());
        }
    }
    ConfigMap {
        metadata,
        data: [(ROOT_CA_CONFIG_MAP_KEY.to_string(), published.ca_pem.clone())].into(),
        ..ConfigMap::default()
    }
}

/// What to write over `stored`, or `None` when it is as wanted. As upstream: `data` must be
/// exactly `{ca.crt: <bundle>}` and the description present (any text); other annotations and
/// labels are kept. Ours: the signer annotations must equal the signers' CAs now.
pub fn update_for(stored: &ConfigMap, published: &Published) -> Option<ConfigMap> {
    let data_ok = stored.data.len() == 1
        && stored.data.get(ROOT_CA_CONFIG_MAP_KEY) == Some(&published.ca_pem);
    let description_ok = stored
        .metadata
        .annotations
        .get(DESCRIPTION_ANNOTATION)
        .is_some_and(|d| !d.is_empty());
    let signers_ok = published
        .signer_annotations()
        .iter()
        .all(|(key, value)| stored.metadata.annotations.get(*key) == *value);
    if data_ok && description_ok && signers_ok {
        return None;
    }
    let mut updated = stored.clone();
    updated.data = [(ROOT_CA_CONFIG_MAP_KEY.to_string(), published.ca_pem.clone())].into();
    let annotations = &mut updated.metadata.annotations;
    if !description_ok {
        annotations.insert(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string());
    }
    for (key, value) in published.signer_annotations() {
        match value {
            Some(value) => annotations.insert(key.to_string(), value.clone()),
            None => annotations.remove(key),
        };
    }
    Some(updated)
}

/// A bundle to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub pem: String,
    pub id: String,
}

/// `bytes` as a bundle; `name` says where they come from in errors.
fn parse_bundle(bytes: Vec<u8>, name: &str) -> Result<(Vec<u8>, Bundle), String> {
    let certificates =
        pki::parse_certificates(&bytes).map_err(|e| format!("error parsing {name}: {e}"))?;
    let id = pki::bundle_id(&certificates);
    let pem = String::from_utf8(bytes.clone()).map_err(|_| format!("{name} is not UTF-8 text"))?;
    Ok((bytes, Bundle { pem, id }))
}

fn read_bundle(path: &Path) -> Result<(Vec<u8>, Bundle), String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("failed to read {}: {e}", path.display()))?;
    // Upstream's words.
    parse_bundle(bytes, &format!("root-ca-file at {}", path.display()))
}

/// Where the published bundle comes from.
#[derive(Debug)]
enum Source {
    /// `--root-ca-file`, re-read when it changes.
    File(PathBuf),
    /// The CA the controller-manager's clients trust, from its `--kubeconfig` as
    /// [`crate::kubeconfig_reload`] applies it when the file changes.
    Kubeconfig {
        ca: watch::Receiver<Option<Vec<u8>>>,
        path: Option<PathBuf>,
    },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::File(path) => format!("--root-ca-file {}", path.display()),
            Source::Kubeconfig {
                path: Some(path), ..
            } => format!("the CA of --kubeconfig {}", path.display()),
            Source::Kubeconfig { path: None, .. } => "the CA of the kubeconfig".to_string(),
        }
    }
}

/// Why root-ca-cert-publisher has nothing to publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoBundle {
    #[error("no --root-ca-file was given and the kubeconfig names no CA")]
    NoCa,
    #[error("no --root-ca-file was given and {0}")]
    Unusable(String),
}

#[derive(Debug, Default)]
struct FileState {
    stamp: Option<Option<Stamp>>,
    bytes: Vec<u8>,
    last_error: Option<String>,
}

/// The bundle root-ca-cert-publisher publishes, followed as its source changes; a new one that
/// does not parse leaves the last good bundle in place.
#[derive(Debug)]
pub struct RootCaBundle {
    source: Source,
    current: RwLock<Arc<Bundle>>,
    state: Mutex<FileState>,
}

/// What to publish, as upstream's `newRootCACertPublisher`: the `--root-ca-file` when given,
/// else the CA of the controller-manager's own kubeconfig (`ca`, what its clients trust now;
/// `kubeconfig` its file, for the logs).
pub fn bundle_source(
    root_ca_file: Option<&Arc<RootCaBundle>>,
    ca: watch::Receiver<Option<Vec<u8>>>,
    kubeconfig: Option<&Path>,
) -> Result<Arc<RootCaBundle>, NoBundle> {
    match root_ca_file {
        Some(file) => Ok(Arc::clone(file)),
        None => RootCaBundle::from_kubeconfig(ca, kubeconfig).map(Arc::new),
    }
}

impl RootCaBundle {
    /// Reads the `--root-ca-file`; a failure is a start-up error naming it (upstream's words).
    pub fn load(path: &Path) -> Result<RootCaBundle, String> {
        let before = stamp(path);
        let (bytes, bundle) = read_bundle(path)?;
        Ok(RootCaBundle::new(
            Source::File(path.to_path_buf()),
            Some(before),
            bytes,
            bundle,
        ))
    }

    /// The CA `ca` holds now, followed as it changes.
    pub fn from_kubeconfig(
        ca: watch::Receiver<Option<Vec<u8>>>,
        path: Option<&Path>,
    ) -> Result<RootCaBundle, NoBundle> {
        let source = Source::Kubeconfig {
            path: path.map(Path::to_path_buf),
            ca: ca.clone(),
        };
        let bytes = ca.borrow().clone().ok_or(NoBundle::NoCa)?;
        let (bytes, bundle) =
            parse_bundle(bytes, &source.describe()).map_err(NoBundle::Unusable)?;
        Ok(RootCaBundle::new(source, None, bytes, bundle))
    }

    fn new(
        source: Source,
        stamp: Option<Option<Stamp>>,
        bytes: Vec<u8>,
        bundle: Bundle,
    ) -> RootCaBundle {
        RootCaBundle {
            source,
            current: RwLock::new(Arc::new(bundle)),
            state: Mutex::new(FileState {
                stamp,
                bytes,
                last_error: None,
            }),
        }
    }

    /// Where the bundle comes from, for the logs.
    pub fn source(&self) -> String {
        self.source.describe()
    }

    /// The bundle to publish now.
    pub fn current(&self) -> Arc<Bundle> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Looks at the source once; takes its bundle when its bytes changed.
    pub fn check(&self) -> Reload {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let read = match &self.source {
            Source::File(path) => {
                let now = stamp(path);
                if state.stamp == Some(now) && state.last_error.is_none() {
                    return Reload::Unchanged;
                }
                state.stamp = Some(now);
                read_bundle(path)
            }
            Source::Kubeconfig { ca, .. } => {
                // In memory: compared on every check. A CA removed from the kubeconfig is not
                // applied (the clients keep theirs), so neither is it here.
                let Some(bytes) = ca.borrow().clone() else {
                    return Reload::Unchanged;
                };
                if bytes == state.bytes {
                    state.last_error = None;
                    return Reload::Unchanged;
                }
                parse_bundle(bytes, &self.source.describe())
            }
        };
        match read {
            Ok((bytes, _)) if bytes == state.bytes => {
                state.last_error = None;
                Reload::Unchanged
            }
            Ok((bytes, bundle)) => {
                state.bytes = bytes;
                state.last_error = None;
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(bundle);
                Reload::Reloaded
            }
            Err(message) => {
                if state.last_error.as_deref() == Some(message.as_str()) {
                    return Reload::Unchanged;
                }
                state.last_error = Some(message.clone());
                Reload::Failed(message)
            }
        }
    }
}

/// What the caches know of one namespace.
#[derive(Debug, Default)]
struct Caches {
    /// Namespace name -> being deleted.
    namespaces: HashMap<String, bool>,
    /// Namespace name -> its `kube-root-ca.crt`.
    config_maps: HashMap<String, ConfigMap>,
}

/// The controller: caches, what to publish, and the per-namespace sync.
pub struct Publisher {
    client: Client,
    root_ca: Arc<RootCaBundle>,
    cas: Vec<(&'static str, Arc<DynamicCa>)>,
    published: watch::Sender<Arc<Published>>,
    caches: RwLock<Caches>,
    metrics: Metrics,
}

impl Publisher {
    pub fn new(
        client: Client,
        root_ca: Arc<RootCaBundle>,
        cas: Vec<(&'static str, Arc<DynamicCa>)>,
        metrics: Metrics,
    ) -> Publisher {
        let published = current_published(&root_ca, &cas);
        Publisher {
            client,
            root_ca,
            cas,
            published: watch::Sender::new(Arc::new(published)),
            caches: RwLock::default(),
            metrics,
        }
    }

    /// What is published now, and its changes (the fleet counter follows it).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Published>> {
        self.published.subscribe()
    }

    pub fn published(&self) -> Arc<Published> {
        Arc::clone(&self.published.borrow())
    }

    fn caches(&self) -> std::sync::RwLockReadGuard<'_, Caches> {
        self.caches.read().unwrap_or_else(|e| e.into_inner())
    }

    fn caches_mut(&self) -> std::sync::RwLockWriteGuard<'_, Caches> {
        self.caches.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a namespace watch event; returns the namespace to queue, if any.
    pub fn namespace_event(&self, event: WatchEvent<Namespace>) -> Option<String> {
        let mut caches = self.caches_mut();
        match event {
            WatchEvent::Added(ns) | WatchEvent::Modified(ns) => {
                let terminating =
                    ns.metadata.deletion_timestamp.is_some() || ns.status.phase == "Terminating";
                caches
                    .namespaces
                    .insert(ns.metadata.name.clone(), terminating);
                Some(ns.metadata.name)
            }
            WatchEvent::Deleted(ns) => {
                caches.namespaces.remove(&ns.metadata.name);
                None
            }
        }
    }

    /// Takes a ConfigMap watch event; returns the namespace to queue, if any.
    pub fn config_map_event(&self, event: WatchEvent<ConfigMap>) -> Option<String> {
        if event.object().metadata.name != ROOT_CA_CONFIG_MAP {
            return None;
        }
        let mut caches = self.caches_mut();
        match event {
            WatchEvent::Added(cm) | WatchEvent::Modified(cm) => {
                let namespace = cm.metadata.namespace.clone();
                caches.config_maps.insert(namespace.clone(), cm);
                Some(namespace)
            }
            WatchEvent::Deleted(cm) => {
                let namespace = cm.metadata.namespace;
                // A late delete of an older copy must not drop a newer one.
                let stale = caches.config_maps.get(&namespace).is_some_and(|current| {
                    !cm.metadata.uid.is_empty() && current.metadata.uid != cm.metadata.uid
                });
                if !stale {
                    caches.config_maps.remove(&namespace);
                }
                Some(namespace)
            }
        }
    }

    /// Looks at the bundle's source and the signers' CAs; when what to publish changed,
    /// returns every known namespace (to queue).
    pub fn refresh(&self) -> Option<Vec<String>> {
        match self.root_ca.check() {
            Reload::Unchanged => {}
            Reload::Reloaded => tracing::info!(
                source = %self.root_ca.source(),
                bundle = %self.root_ca.current().id,
                "root CA bundle changed; republishing kube-root-ca.crt"
            ),
            Reload::Failed(error) => tracing::warn!(
                %error,
                "root CA bundle changed but cannot be used; still publishing the previous bundle"
            ),
        }
        let now = current_published(&self.root_ca, &self.cas);
        let changed = self.published.send_if_modified(|published| {
            if **published == now {
                return false;
            }
            *published = Arc::new(now);
            true
        });
        changed.then(|| self.caches().namespaces.keys().cloned().collect())
    }

    async fn write(&self, namespace: &str) -> Result<(), ClientError> {
        let (terminating, stored) = {
            let caches = self.caches();
            (
                caches.namespaces.get(namespace).copied(),
                caches.config_maps.get(namespace).cloned(),
            )
        };
        // Gone or being deleted: nothing to publish there (upstream skips them too).
        if terminating != Some(false) {
            return Ok(());
        }
        let published = self.published();
        match stored {
            None => match self
                .client
                .create(Some(namespace), &wanted(namespace, &published))
                .await
            {
                Ok(_) => {
                    tracing::info!(namespace, "published kube-root-ca.crt");
                    Ok(())
                }
                // The watch brings it and queues the namespace again.
                Err(error) if error.is_already_exists() => Ok(()),
                Err(error) => Err(error),
            },
            Some(stored) => {
                let Some(updated) = update_for(&stored, &published) else {
                    return Ok(());
                };
                self.client.update(Some(namespace), &updated).await?;
                tracing::info!(namespace, "updated kube-root-ca.crt");
                Ok(())
            }
        }
    }
}

fn current_published(root_ca: &RootCaBundle, cas: &[(&'static str, Arc<DynamicCa>)]) -> Published {
    let bundle = root_ca.current();
    let (client_signer_ca, serving_signer_ca) = signer_ca_ids(cas);
    Published {
        ca_pem: bundle.pem.clone(),
        bundle_id: bundle.id.clone(),
        client_signer_ca,
        serving_signer_ca,
    }
}

/// Upstream's `code` label: 200, the API status code, or 500.
fn code_of(result: &Result<(), ClientError>) -> String {
    match result {
        Ok(()) => "200".to_string(),
        Err(error) => error
            .status_code()
            .filter(|c| *c != 0)
            .unwrap_or(500)
            .to_string(),
    }
}

impl Handler for Publisher {
    fn name(&self) -> &'static str {
        crate::controllers::ROOT_CA_CERT_PUBLISHER
    }

    async fn sync(&self, namespace: &str) -> Result<(), SyncError> {
        let start = Instant::now();
        let result = self.write(namespace).await;
        self.metrics
            .root_ca_sync(&code_of(&result), start.elapsed().as_secs_f64());
        match result {
            Ok(()) => Ok(()),
            // A stale copy or one deleted under us: the watch brings the news and queues again;
            // a namespace being deleted refuses creates.
            Err(error) if error.is_conflict() || error.is_not_found() || error.is_forbidden() => {
                Err(SyncError::Quiet(format!(
                    "kube-root-ca.crt in {namespace}: {error}"
                )))
            }
            Err(error) => Err(SyncError::Retry(format!(
                "failed to publish kube-root-ca.crt in {namespace}: {error}"
            ))),
        }
    }
}

/// Feeds the caches from the namespace and ConfigMap watches and looks at the bundle's source
/// and the signing files every `interval`, queueing what needs a look, until the task is
/// dropped.
pub async fn run(publisher: Arc<Publisher>, queue: Arc<WorkQueue>, interval: Duration) {
    let mut namespaces =
        Follow::<Namespace>::new(publisher.client.clone(), None, ListParams::default());
    let mut config_maps = Follow::<ConfigMap>::new(
        publisher.client.clone(),
        None,
        ListParams::default().fields(format!("metadata.name={ROOT_CA_CONFIG_MAP}")),
    );
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    tracing::info!(
        source = %publisher.root_ca.source(),
        bundle = %publisher.published().bundle_id,
        "started root-ca-cert-publisher"
    );
    loop {
        let queued: Vec<String> = tokio::select! {
            event = namespaces.next() => publisher.namespace_event(event).into_iter().collect(),
            event = config_maps.next() => publisher.config_map_event(event).into_iter().collect(),
            _ = ticker.tick() => {
                let checked = Arc::clone(&publisher);
                match tokio::task::spawn_blocking(move || checked.refresh()).await {
                    Ok(all) => all.unwrap_or_default(),
                    Err(error) => {
                        tracing::warn!(%error, "root CA bundle check panicked");
                        Vec::new()
                    }
                }
            }
        };
        for namespace in queued {
            queue.add(&namespace).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_files::{ca, replace};

    fn published(pem: &str) -> Published {
        Published {
            ca_pem: pem.to_string(),
            bundle_id: "SHA256=00".into(),
            client_signer_ca: Some("X509SHA256=aa".into()),
            serving_signer_ca: Some("X509SHA256=bb".into()),
        }
    }

    #[test]
    fn the_wanted_config_map_holds_the_bundle_the_description_and_the_signers() {
        let cm = wanted("team-a", &published("PEM"));
        assert_eq!(cm.metadata.name, "kube-root-ca.crt");
        assert_eq!(cm.metadata.namespace, "team-a");
        assert_eq!(cm.data, [("ca.crt".to_string(), "PEM".to_string())].into());
        assert_eq!(
            cm.metadata.annotations["kubernetes.io/description"],
            DESCRIPTION
        );
        assert_eq!(
            cm.metadata.annotations["kubelet-tls-bootstrap/kube-apiserver-client-kubelet-ca"],
            "X509SHA256=aa"
        );
        assert_eq!(
            cm.metadata.annotations["kubelet-tls-bootstrap/kubelet-serving-ca"],
            "X509SHA256=bb"
        );
        assert!(update_for(&cm, &published("PEM")).is_none());

        // No CA for a signer: no annotation for it.
        let mut none = published("PEM");
        none.serving_signer_ca = None;
        let cm = wanted("x", &none);
        assert!(
            !cm.metadata
                .annotations
                .contains_key(KUBELET_SERVING_SIGNER_CA_ANNOTATION)
        );
        assert_eq!(cm.metadata.annotations.len(), 2);
    }

    #[test]
    fn only_a_differing_config_map_is_rewritten_keeping_what_others_added() {
        let want = published("PEM");
        let mut stored = wanted("ns", &want);
        stored.metadata.resource_version = "7".into();
        stored.metadata.labels.insert("team".into(), "blue".into());
        stored
            .metadata
            .annotations
            .insert("kubernetes.io/description".into(), "someone's words".into());
        stored
            .metadata
            .annotations
            .insert("note".into(), "kept".into());
        assert_eq!(update_for(&stored, &want), None, "any description will do");

        // Edited data: put back, everything else kept.
        let mut edited = stored.clone();
        edited.data.insert("ca.crt".into(), "EVIL".into());
        edited.data.insert("extra".into(), "x".into());
        let fixed = update_for(&edited, &want).unwrap();
        assert_eq!(fixed.data, wanted("ns", &want).data);
        assert_eq!(fixed.metadata.resource_version, "7");
        assert_eq!(fixed.metadata.labels["team"], "blue");
        assert_eq!(fixed.metadata.annotations["note"], "kept");
        assert_eq!(
            fixed.metadata.annotations["kubernetes.io/description"],
            "someone's words"
        );

        // Description removed: upstream's text.
        let mut bare = stored.clone();
        bare.metadata
            .annotations
            .remove("kubernetes.io/description");
        let fixed = update_for(&bare, &want).unwrap();
        assert_eq!(
            fixed.metadata.annotations["kubernetes.io/description"],
            DESCRIPTION
        );

        // A new bundle, a new signer CA, a signer no longer held.
        assert_eq!(
            update_for(&stored, &published("NEW")).unwrap().data["ca.crt"],
            "NEW"
        );
        let mut rotated = want.clone();
        rotated.client_signer_ca = Some("X509SHA256=cc".into());
        rotated.serving_signer_ca = None;
        let fixed = update_for(&stored, &rotated).unwrap();
        assert_eq!(
            fixed.metadata.annotations[KUBELET_CLIENT_SIGNER_CA_ANNOTATION],
            "X509SHA256=cc"
        );
        assert!(
            !fixed
                .metadata
                .annotations
                .contains_key(KUBELET_SERVING_SIGNER_CA_ANNOTATION)
        );
        assert_eq!(update_for(&fixed, &rotated), None);
    }

    #[test]
    fn the_signer_annotations_are_the_credential_ids_of_the_signing_cas() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, ca: &pki::CertificateAuthority| {
            let cert = dir.path().join(format!("{name}.pem"));
            let key = dir.path().join(format!("{name}-key.pem"));
            replace(&cert, ca.cert_pem());
            replace(&key, ca.key_pem());
            Arc::new(DynamicCa::load(&cert, &key).unwrap())
        };
        let client = ca("client");
        let serving = ca("serving");
        let cas = vec![
            (
                pki::signer::KUBE_APISERVER_CLIENT_KUBELET,
                write("c", &client),
            ),
            (pki::signer::KUBELET_SERVING, write("s", &serving)),
        ];
        let (c, s) = signer_ca_ids(&cas);
        assert_eq!(c, Some(pki::credential_id(client.certificate().der())));
        assert_eq!(s, Some(pki::credential_id(serving.certificate().der())));
        assert_ne!(c, s);
        assert!(c.unwrap().starts_with("X509SHA256="));
        assert_eq!(signer_ca_ids(&cas[1..]).0, None);
    }

    #[test]
    fn the_root_ca_file_is_reread_when_it_changes_and_a_broken_one_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        let first = ca("first").cert_pem();
        replace(&path, &first);
        let file = RootCaBundle::load(&path).unwrap();
        assert_eq!(file.current().pem, first);
        let first_id = file.current().id.clone();
        assert_eq!(
            first_id,
            pki::bundle_id(&pki::parse_certificates(first.as_bytes()).unwrap())
        );
        assert_eq!(file.check(), Reload::Unchanged);

        let both = format!("{first}{}", ca("second").cert_pem());
        replace(&path, &both);
        assert_eq!(file.check(), Reload::Reloaded);
        assert_eq!(file.current().pem, both);
        assert_ne!(file.current().id, first_id);

        replace(&path, "not a certificate");
        assert!(matches!(file.check(), Reload::Failed(m) if m.contains("ca.crt")));
        assert_eq!(file.check(), Reload::Unchanged, "reported once");
        assert_eq!(file.current().pem, both);

        replace(&path, &first);
        assert_eq!(file.check(), Reload::Reloaded);
        assert_eq!(file.current().id, first_id);

        let missing = dir.path().join("none.crt");
        assert!(
            RootCaBundle::load(&missing)
                .unwrap_err()
                .contains("none.crt")
        );
    }

    #[test]
    fn the_root_ca_file_wins_else_the_kubeconfig_s_ca_is_published_and_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.crt");
        let (file_ca, old, new) = (ca("root-ca-file"), ca("old"), ca("new"));
        replace(&path, file_ca.cert_pem());
        let file = Arc::new(RootCaBundle::load(&path).unwrap());
        let kubeconfig = dir.path().join("cm.kubeconfig");
        let (trust, ca) = watch::channel(Some(old.cert_pem().into_bytes()));

        // --root-ca-file given: its bundle, whatever the kubeconfig trusts.
        let chosen = bundle_source(Some(&file), ca.clone(), Some(&kubeconfig)).unwrap();
        assert!(Arc::ptr_eq(&chosen, &file));
        assert_eq!(chosen.current().pem, file_ca.cert_pem());

        // Without it: the kubeconfig's CA, followed as its clients take a new one.
        let chosen = bundle_source(None, ca.clone(), Some(&kubeconfig)).unwrap();
        assert_eq!(chosen.current().pem, old.cert_pem());
        assert!(
            chosen.source().contains("cm.kubeconfig"),
            "{}",
            chosen.source()
        );
        assert_eq!(chosen.check(), Reload::Unchanged);
        let both = format!("{}{}", old.cert_pem(), new.cert_pem());
        trust.send_replace(Some(both.clone().into_bytes()));
        assert_eq!(chosen.check(), Reload::Reloaded);
        assert_eq!(chosen.current().pem, both);
        assert_eq!(
            chosen.current().id,
            pki::bundle_id(&pki::parse_certificates(both.as_bytes()).unwrap())
        );
        assert_eq!(chosen.check(), Reload::Unchanged);
        // What does not parse is reported once and not published.
        trust.send_replace(Some(b"not a certificate".to_vec()));
        assert!(matches!(chosen.check(), Reload::Failed(m) if m.contains("cm.kubeconfig")));
        assert_eq!(chosen.check(), Reload::Unchanged);
        assert_eq!(chosen.current().pem, both);

        // No CA at all (an insecure kubeconfig): nothing to publish.
        let (_, none) = watch::channel(None);
        assert_eq!(
            bundle_source(None, none, Some(&kubeconfig)).err(),
            Some(NoBundle::NoCa)
        );
        let (_, garbage) = watch::channel(Some(b"garbage".to_vec()));
        assert!(matches!(
            bundle_source(None, garbage, None).err(),
            Some(NoBundle::Unusable(_))
        ));
    }

    fn namespace(name: &str, terminating: bool) -> Namespace {
        let mut ns = Namespace::default();
        ns.metadata.name = name.into();
        if terminating {
            ns.status.phase = "Terminating".into();
        }
        ns
    }

    fn test_publisher(dir: &Path) -> Publisher {
        let path = dir.join("ca.crt");
        replace(&path, ca("root").cert_pem());
        let config = kubeconfig::ResolvedConfig {
            context: "x".into(),
            server: "https://127.0.0.1:1".parse().unwrap(),
            ca_pem: None,
            insecure_skip_tls_verify: true,
            tls_server_name: None,
            proxy_url: None,
            namespace: None,
            identity: kubeconfig::Identity::None,
        };
        Publisher::new(
            Client::from_kubeconfig(&config, "test").unwrap(),
            Arc::new(RootCaBundle::load(&path).unwrap()),
            Vec::new(),
            Metrics::new(),
        )
    }

    #[test]
    fn events_queue_namespaces_and_a_file_change_queues_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let publisher = test_publisher(dir.path());
        assert_eq!(
            publisher.namespace_event(WatchEvent::Added(namespace("a", false))),
            Some("a".into())
        );
        publisher.namespace_event(WatchEvent::Added(namespace("b", true)));
        publisher.namespace_event(WatchEvent::Added(namespace("c", false)));
        assert_eq!(
            publisher.namespace_event(WatchEvent::Deleted(namespace("c", false))),
            None
        );
        let mut cm = wanted("a", &publisher.published());
        cm.metadata.uid = "u1".into();
        assert_eq!(
            publisher.config_map_event(WatchEvent::Added(cm.clone())),
            Some("a".into())
        );
        let mut other = cm.clone();
        other.metadata.name = "something-else".into();
        assert_eq!(publisher.config_map_event(WatchEvent::Added(other)), None);
        assert_eq!(
            publisher.config_map_event(WatchEvent::Deleted(cm)),
            Some("a".into()),
            "a deleted one is put back"
        );
        assert!(publisher.caches().config_maps.is_empty());

        assert_eq!(publisher.refresh(), None, "nothing changed");
        let mut seen = publisher.subscribe();
        seen.borrow_and_update();
        replace(&dir.path().join("ca.crt"), ca("next").cert_pem());
        let mut all = publisher
            .refresh()
            .expect("a new bundle queues every namespace");
        all.sort();
        assert_eq!(all, ["a", "b"]);
        assert!(seen.has_changed().unwrap());
        assert_eq!(publisher.refresh(), None);
    }

    #[test]
    fn sync_codes_are_upstream_s() {
        assert_eq!(code_of(&Ok(())), "200");
        let status = protocol::meta::Status {
            code: 409,
            ..Default::default()
        };
        assert_eq!(code_of(&Err(ClientError::api(status))), "409");
    }
}
