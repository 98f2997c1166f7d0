//! kubelet-agent: the kubelet's TLS side without the container runtime. It bootstraps a
//! client certificate through the CSR API, keeps its Node registered with a Lease heartbeat,
//! rotates its client certificate before expiry without restarting, and serves its own HTTPS
//! port with a self-signed or a CSR-issued (`kubernetes.io/kubelet-serving`) certificate.
//! It follows a CA rotation without restarting (`kube-public/kube-root-ca.crt`, decision 0029).
//!
//! It talks to the apiserver only through the `client` crate; files live in `--cert-dir`
//! laid out as the real kubelet lays them out (see `docs/decisions/0009-kubelet-files.md`).
//! It does not run pods.

pub mod auth;
pub mod flags;
pub mod http;
pub mod self_signed;
pub mod serving;

// The node-side API logic lives in the `kubelet` crate (shared with the bootstrap-storm
// benchmark); re-exported so `crate::csr` and friends keep their paths.
pub use kubelet::{backoff, bootstrap, cert_manager, cert_store, csr, node, root_ca, state};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use client::Client;
use client::delegated::{Authorizer, Delegation};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::cert_manager::{CertManager, Role};
use crate::cert_store::{CLIENT_PREFIX, CertStore, KeyedCertificate, SERVER_PREFIX};
use crate::csr::Template;
pub use crate::flags::Config;
use crate::http::Endpoints;
use crate::node::NodeIdentity;
use crate::root_ca::{Rekeyer, RootCaWatcher, TrustedBundle};
use crate::serving::CurrentCert;
use crate::state::{AgentState, Lifetime};

pub const VERSION: &str = kubelet::VERSION;

/// How long tasks get to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    #[error(transparent)]
    Bootstrap(#[from] bootstrap::BootstrapError),
    #[error(transparent)]
    Store(#[from] cert_store::StoreError),
    #[error(transparent)]
    Csr(#[from] csr::CsrError),
    #[error("failed to build the API client: {0}")]
    Client(#[source] client::ClientError),
    #[error("failed to listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to set up TLS for the kubelet port: {0}")]
    Tls(String),
}

/// Pre-bound listeners (tests bind port 0); `None` binds the configured address when needed.
#[derive(Debug, Default)]
pub struct Listeners {
    /// The localhost healthz port.
    pub healthz: Option<std::net::TcpListener>,
    /// The kubelet port (`--address:--port`).
    pub server: Option<std::net::TcpListener>,
}

/// Runs the agent until `shutdown` resolves, binding the configured ports.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    run_with_listeners(config, Listeners::default(), shutdown).await
}

/// Runs the agent until `shutdown` resolves. Errors are start-up failures (bad files, a
/// denied or failed bootstrap CSR); once running, every failure is retried.
pub async fn run_with_listeners(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let (stop, stopped) = watch::channel(false);
    let state = Arc::new(AgentState::default());
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);

    if config.healthz_port != 0 || listeners.healthz.is_some() {
        let address = SocketAddr::from(([127, 0, 0, 1], config.healthz_port));
        let listener = bind(listeners.healthz, address).await?;
        tracing::info!(address = %listener.local_addr().map_or(address, |a| a), "serving healthz");
        tasks.spawn(http::serve_plain(
            listener,
            Endpoints::Healthz,
            state.clone(),
            stopped.clone(),
        ));
    }

    let client_store = CertStore::new(&config.cert_dir, CLIENT_PREFIX);
    let credentials = tokio::select! {
        result = bootstrap::client_credentials(
            &config.kubeconfig,
            config.bootstrap_kubeconfig.as_deref(),
            &client_store,
            &config.node_name,
        ) => result?,
        () = &mut shutdown => {
            let _ = stop.send(true);
            return Ok(());
        }
    };
    // The Node records which certificate we run with (decision 0027).
    state.set_client_cert(
        lifetime(&credentials.certificate),
        credentials.certificate.credential_id(),
    );
    let client = Client::from_kubeconfig(&credentials.config, &bootstrap::user_agent())
        .map_err(AgentError::Client)?;
    // The Node records the CA bundle we trust (decision 0029): the kubeconfig's.
    let trusted = trusted_bundle(&credentials.config);
    if let Some(bundle) = &trusted {
        state.set_root_ca_bundle(bundle.id.clone());
    }
    // Every client that reaches the apiserver, for a new bundle; clones share their trust.
    let mut clients = vec![client.clone()];

    let identity = NodeIdentity {
        name: config.node_name.clone(),
        ips: config.node_ips.clone(),
        labels: config.node_labels.clone(),
        port: config.port,
    };
    tasks.spawn(node::run(
        client.clone(),
        identity,
        config.lease_renew_interval,
        state.clone(),
        stopped.clone(),
    ));

    let mut client_rekeyer = None;
    if config.rotate_certificates {
        let fallback_client = match &credentials.bootstrap {
            Some(bootstrap) => Some(
                Client::from_kubeconfig(bootstrap, &bootstrap::user_agent())
                    .map_err(AgentError::Client)?,
            ),
            None => None,
        };
        // Reaches the same apiserver: it follows the new trust too (in memory only, the
        // --bootstrap-kubeconfig file is never changed).
        clients.extend(fallback_client.clone());
        let (current, current_rx) = watch::channel(Some(Arc::new(credentials.certificate.clone())));
        let rotate_now = Arc::new(Notify::new());
        client_rekeyer = Some(Rekeyer::new(Role::Client, current_rx, rotate_now.clone()));
        let manager = CertManager {
            role: Role::Client,
            store: client_store,
            template: Template::kubelet_client(&config.node_name),
            client: client.clone(),
            fallback_client,
            deadline_scale: config.rotation_deadline_scale,
            state: state.clone(),
            current,
            rotate_now,
        };
        tasks.spawn(manager.run(stopped.clone()));
    }

    let serving_rekeyer = start_kubelet_port(
        &config,
        listeners.server,
        client.clone(),
        &state,
        &stopped,
        &mut tasks,
    )
    .await?;

    if config.root_ca_check_frequency.is_zero() {
        tracing::info!("not following CA rotations: --root-ca-check-frequency=0");
    } else if credentials.config.insecure_skip_tls_verify {
        tracing::info!(
            "not following CA rotations: the kubeconfig does not verify the apiserver (insecure-skip-tls-verify)"
        );
    } else {
        let mut watcher = RootCaWatcher::new(
            client,
            clients,
            config.kubeconfig.clone(),
            trusted,
            state.clone(),
        );
        watcher.client_cert = client_rekeyer;
        watcher.serving_cert = serving_rekeyer;
        watcher.probe =
            client::ClientConfig::from_kubeconfig(&credentials.config, &bootstrap::user_agent())
                .ok();
        tasks.spawn(watcher.run(config.root_ca_check_frequency, stopped.clone()));
    }

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    Ok(())
}

/// The CA bundle of the kubeconfig the agent runs with, if it names one that parses.
fn trusted_bundle(config: &kubeconfig::ResolvedConfig) -> Option<TrustedBundle> {
    if config.insecure_skip_tls_verify {
        return None;
    }
    match TrustedBundle::parse(config.ca_pem.as_deref()?) {
        Ok(bundle) => Some(bundle),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the kubeconfig's CA bundle; the Node will not report it");
            None
        }
    }
}

fn lifetime(keyed: &KeyedCertificate) -> Lifetime {
    Lifetime {
        not_before: keyed.leaf().not_before(),
        not_after: keyed.not_after(),
    }
}

async fn bind(
    given: Option<std::net::TcpListener>,
    address: SocketAddr,
) -> Result<TcpListener, AgentError> {
    let listen_error = |source| AgentError::Listen { address, source };
    match given {
        Some(listener) => {
            listener.set_nonblocking(true).map_err(listen_error)?;
            TcpListener::from_std(listener).map_err(listen_error)
        }
        None => TcpListener::bind(address).await.map_err(listen_error),
    }
}

/// The kubelet port's checks from the flags; reviews go through the agent's own client.
fn port_auth(config: &Config, client: &Client) -> auth::PortAuth {
    let token_review = config.authentication_token_webhook.then(|| client.clone());
    let authorizer = match config.authorization_mode {
        auth::AuthorizationMode::AlwaysAllow => Authorizer::AlwaysAllow,
        auth::AuthorizationMode::Webhook => Authorizer::Webhook(client.clone()),
    };
    auth::PortAuth::new(
        Delegation::new(token_review, config.anonymous_auth, authorizer)
            .cache_ttls(config.cache_ttls),
        config.node_name.clone(),
    )
}

/// The kubelet port: self-signed at once, or (with `--rotate-server-certificates`) only
/// once a serving certificate has been issued; then its manager, for an early rotation.
async fn start_kubelet_port(
    config: &Config,
    given: Option<std::net::TcpListener>,
    client: Client,
    state: &Arc<AgentState>,
    stopped: &watch::Receiver<bool>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<Option<Rekeyer>, AgentError> {
    let address = SocketAddr::new(config.address, config.port);
    let current = Arc::new(CurrentCert::default());
    let tls = serving::server_config(
        current.clone(),
        config.client_ca_file.as_deref(),
        client::client_ca::DEFAULT_RELOAD_INTERVAL,
    )
    .map_err(AgentError::Tls)?;
    let auth = Arc::new(port_auth(config, &client));
    if !config.rotate_server_certificates {
        let keyed =
            self_signed::load_or_create(&config.cert_dir, &config.node_name, &config.node_ips)?;
        current.set(Arc::new(
            serving::certified_key(&keyed).map_err(AgentError::Tls)?,
        ));
        state.set_server_cert(lifetime(&keyed));
        let listener = bind(given, address).await?;
        tracing::info!(address = %address, "serving the kubelet port with a self-signed certificate");
        tasks.spawn(serving::serve_tls(
            listener,
            tls,
            state.clone(),
            auth,
            stopped.clone(),
        ));
        return Ok(None);
    }

    let store = CertStore::new(&config.cert_dir, SERVER_PREFIX);
    let existing = match store.load_current() {
        Ok(existing) => existing.filter(|c| !c.is_expired(std::time::SystemTime::now())),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the unusable serving certificate; requesting a new one");
            None
        }
    };
    if let Some(keyed) = &existing {
        state.set_server_cert(lifetime(keyed));
    }
    let (current_tx, current_rx) = watch::channel(existing.map(Arc::new));
    let mut sans = pki::SubjectAltNames {
        dns: Vec::new(),
        ips: config.node_ips.clone(),
    };
    match config.node_name.parse::<std::net::IpAddr>() {
        Ok(ip) if !sans.ips.contains(&ip) => sans.ips.push(ip),
        Ok(_) => {}
        Err(_) => sans.dns.push(config.node_name.clone()),
    }
    let rotate_now = Arc::new(Notify::new());
    let rekeyer = Rekeyer::new(Role::Serving, current_rx.clone(), rotate_now.clone());
    let manager = CertManager {
        role: Role::Serving,
        store,
        template: Template::kubelet_serving(&config.node_name, sans),
        client,
        fallback_client: None,
        deadline_scale: config.rotation_deadline_scale,
        state: state.clone(),
        current: current_tx,
        rotate_now,
    };
    tasks.spawn(manager.run(stopped.clone()));
    tasks.spawn(serving::follow(
        current_rx.clone(),
        current.clone(),
        stopped.clone(),
    ));

    // Serve nothing until a certificate exists: bind only then.
    let state = state.clone();
    let stopped = stopped.clone();
    tasks.spawn(async move {
        let mut certificates = current_rx;
        let mut stop = stopped.clone();
        loop {
            let issued = certificates.borrow_and_update().clone();
            if let Some(keyed) = issued {
                // Set here too, so the first handshake cannot beat `follow` to it.
                match serving::certified_key(&keyed) {
                    Ok(key) => current.set(Arc::new(key)),
                    Err(e) => tracing::error!(error = %e, "cannot use the serving certificate"),
                }
                break;
            }
            tracing::info!(address = %address, "the kubelet port stays closed until a serving certificate is issued");
            tokio::select! {
                changed = certificates.changed() => if changed.is_err() { return },
                _ = stop.changed() => return,
            }
        }
        match bind(given, address).await {
            Ok(listener) => {
                tracing::info!(address = %address, "serving the kubelet port with the issued serving certificate");
                serving::serve_tls(listener, tls, state, auth, stopped).await;
            }
            Err(e) => tracing::error!(error = %e, "cannot serve the kubelet port"),
        }
    });
    Ok(Some(rekeyer))
}
