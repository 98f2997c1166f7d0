//! The HTTPS server: accept loop, one task per connection (TLS handshake included), HTTP/1.1
//! and HTTP/2 by ALPN through hyper-util's auto builder, and graceful shutdown.

mod builtin;
mod pipeline;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rbac::{Authorizer, RbacAuthorizer};
use store::{Store, StoreError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::api::Api;
use crate::api::create_limit::CreateRateLimit;
use crate::authn::x509::ClientCertAuthority;
use crate::authn::{Authenticator, PeerIdentity};
use crate::caches::{BootstrapTokenCache, CacheTasks, RevocationCache};
use crate::flags::Config;
use crate::metrics::Metrics;
use crate::openapi::OpenApi;
use crate::tls::TlsUpdates;
use crate::{authz, caches, cluster_authentication, seed};

/// A handshake that takes longer than this is dropped (slow or idle clients hold no task).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server could not start (or its store failed while stopping).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The store could not be opened under `--data-dir`.
    #[error("failed to open the store in {path}: {source}")]
    OpenStore {
        path: String,
        #[source]
        source: StoreError,
    },
    /// A start-up step (default namespaces, RBAC seeding, caches, the published client CA)
    /// failed on the store.
    #[error("failed to {step}: {source}")]
    Startup {
        step: &'static str,
        #[source]
        source: StoreError,
    },
}

fn startup(step: &'static str) -> impl FnOnce(StoreError) -> ServeError {
    move |source| ServeError::Startup { step, source }
}

/// Everything a request needs, shared by all connections.
struct State {
    api: Api,
    store: Store,
    authenticator: Arc<Authenticator>,
    authorizer: Arc<dyn Authorizer>,
    metrics: Arc<Metrics>,
    openapi: OpenApi,
}

/// Opens the store under `config.data_dir` and serves on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let store = Store::open(&config.data_dir).map_err(|source| ServeError::OpenStore {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let served = run_with_store(config, store.clone(), listener, shutdown).await;
    if let Err(error) = store.close().await {
        tracing::warn!(%error, "closing the store failed");
    }
    served
}

/// [`run`] over a store the caller opened (tests keep a handle to write objects directly).
pub async fn run_with_store(
    config: Config,
    store: Store,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let rbac = Arc::new(RbacAuthorizer::default());
    let authorizer = authz::build_chain(&config.authorization_modes, &rbac, &config.abac);
    let api = Api::new(store.clone(), Arc::clone(&authorizer));
    api.set_rule_resolver(rbac.clone());
    api.ensure_defaults()
        .await
        .map_err(startup("create the default namespaces"))?;
    match seed::seed_default_policy(&store)
        .await
        .map_err(startup("seed the default RBAC policy"))?
    {
        seed::SeedOutcome::Seeded { created } => {
            tracing::info!(created, "seeded the default RBAC policy")
        }
        seed::SeedOutcome::AlreadySeeded => {
            tracing::debug!("default RBAC policy was seeded before")
        }
    }
    let mut tasks = CacheTasks::default();
    caches::start_rbac_policy(&store, rbac, &mut tasks)
        .await
        .map_err(startup("load the RBAC policy"))?;
    tasks.spawn(crate::event_ttl::run(store.clone(), config.event_ttl));
    let bootstrap = if config.bootstrap_token_auth {
        Some(
            BootstrapTokenCache::start(&store, &mut tasks)
                .await
                .map_err(startup("load the bootstrap token secrets"))?,
        )
    } else {
        None
    };
    let revocations = RevocationCache::start(&store, &mut tasks)
        .await
        .map_err(startup("load the certificate revocations"))?;
    let authenticator = Arc::new(
        Authenticator::new(config.token_file, bootstrap, config.anonymous_auth)
            .with_revocations(revocations)
            .with_max_offline_window(config.client_certificate_max_offline_window),
    );
    api.set_token_authenticator(authenticator.clone());
    let mut metrics = Metrics::new();
    if let Some(settings) = config.kubelet_csr_rate_limit {
        let limit = Arc::new(CreateRateLimit::new(settings));
        metrics.register_csr_rate_limit(&limit);
        api.set_create_limit(limit);
    }
    let state = Arc::new(State {
        api,
        store,
        authenticator,
        authorizer,
        metrics: Arc::new(metrics),
        openapi: OpenApi::generate(builtin::GIT_VERSION),
    });
    let (tls, reloading) = crate::tls::reload(config.tls, config.tls_reload_interval);
    if let Some(reloading) = reloading {
        tasks.spawn(reloading);
    }
    // Before serving, so the ConfigMap is there once any probe (/readyz) is answered.
    if let Some(published) = cluster_authentication::publish_current(&state.store, &tls)
        .await
        .map_err(startup(
            "publish the client CA in kube-system/extension-apiserver-authentication",
        ))?
    {
        tasks.spawn(cluster_authentication::follow(
            state.store.clone(),
            tls.clone(),
            published,
        ));
    }
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, modes = ?config.authorization_modes, "serving securely");
    }

    let (drain_tx, drain_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    // The settings now; the connection follows client CA changes from here.
                    let mut updates = tls.clone();
                    let current = updates.borrow_and_update().clone();
                    connections.spawn(serve_connection(
                        Arc::clone(&state),
                        TlsAcceptor::from(current.server_config()),
                        current.client_ca().cloned(),
                        updates,
                        tcp,
                        remote,
                        drain_rx.clone(),
                    ));
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    drop(listener);
    tracing::info!(
        open = connections.len(),
        "shutting down, draining connections"
    );
    // Watches end first: they never finish by themselves, and a drain waits for them.
    state.api.close_watches();
    let _ = drain_tx.send(true);
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "grace period over, closing remaining connections"
        );
        connections.shutdown().await;
    }
    drop(tasks);
    Ok(())
}

/// One client: TLS handshake, identity from its certificate, then HTTP until it closes or
/// the server drains.
async fn serve_connection(
    state: Arc<State>,
    acceptor: TlsAcceptor,
    client_ca: Option<Arc<ClientCertAuthority>>,
    tls_updates: TlsUpdates,
    tcp: TcpStream,
    remote: SocketAddr,
    drain: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    // Boxed, so the handshake's state (a whole rustls connection) is not also a variant of
    // this task's future for the connection's lifetime.
    let handshake = Box::pin(acceptor.accept(tcp));
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(tls)) => {
            state.metrics.tls_handshake("ok");
            tls
        }
        Ok(Err(error)) => {
            state.metrics.tls_handshake("failed");
            tracing::debug!(%remote, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            state.metrics.tls_handshake("timeout");
            tracing::debug!(%remote, "TLS handshake timed out");
            return;
        }
    };
    let peer = Arc::new(peer_identity(
        client_ca.as_deref(),
        tls.get_ref().1.peer_certificates(),
    ));
    let revoked = until_revoked(
        state.authenticator.revocations().cloned(),
        Arc::clone(&peer),
    );
    let untrusted = until_untrusted(tls_updates, client_ca, Arc::clone(&peer));
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        let peer = Arc::clone(&peer);
        async move {
            Ok::<_, std::convert::Infallible>(
                pipeline::handle(&state, &peer, remote, request).await,
            )
        }
    });
    // HTTP/2 only when ALPN chose it, as Go's net/http (so kube-apiserver) decides over TLS.
    // Knowing the protocol up front keeps one connection's state to that protocol's size
    // (hyper's auto builder holds room for both, ~1.3 KiB more per connection).
    let io = TokioIo::new(tls);
    let serve = async move {
        if io.inner().get_ref().1.alpn_protocol() == Some(b"h2") {
            let mut builder = http2::Builder::new(TokioExecutor::new());
            builder.timer(TokioTimer::new());
            let connection = Box::pin(builder.serve_connection(io, service));
            until_drained(connection, |c| c.graceful_shutdown(), drain).await
        } else {
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new());
            let connection = Box::pin(builder.serve_connection(io, service));
            until_drained(connection, |c| c.graceful_shutdown(), drain).await
        }
    };
    // Dropping the connection closes it, and every watch on it, at once.
    let result = tokio::select! {
        result = serve => result,
        () = revoked => Ok(()),
        () = untrusted => Ok(()),
    };
    if let Err(error) = result {
        tracing::debug!(%remote, %error, "connection ended with an error");
    }
}

/// Resolves once a revocation written while the connection is open revokes its client
/// certificate (never for other connections): a watch opened before must not keep streaming.
async fn until_revoked(revocations: Option<Arc<RevocationCache>>, peer: Arc<PeerIdentity>) {
    if let (Some(cache), PeerIdentity::Verified(certificate)) = (revocations, &*peer) {
        let mut changes = cache.subscribe();
        while changes.changed().await.is_ok() {
            if let Some(name) = cache.revoked_by(certificate) {
                tracing::info!(
                    user = %certificate.user.name,
                    serial = %certificate.serial,
                    revocation = %name,
                    "closing the connection of a client certificate revoked while it was open"
                );
                return;
            }
        }
    }
    std::future::pending().await
}

/// Resolves once the client CA changes so that the connection's client certificate no longer
/// verifies (decision 0029): retiring a CA closes its connections at once, as a revocation
/// does. A certificate whose CA (its trust anchor: subject, key, name constraints) is still
/// in the new client CA stays connected, with the identity it has. A certificate that did not
/// verify is closed at any client CA change, so its client reconnects and is verified under
/// the new CA (kube-apiserver verifies on every request, so it would accept it on the same
/// connection). What this keeps per connection: the receiver, the authority the connection
/// was verified under (an `Arc`) and the peer it shares with the requests.
async fn until_untrusted(
    mut updates: TlsUpdates,
    client_ca: Option<Arc<ClientCertAuthority>>,
    peer: Arc<PeerIdentity>,
) {
    let (Some(mut authority), false) = (client_ca, matches!(*peer, PeerIdentity::None)) else {
        // Nothing to re-verify: hold no receiver for the connection's life.
        drop(updates);
        return std::future::pending().await;
    };
    let mut issuer = match &*peer {
        PeerIdentity::Verified(certificate) => certificate.issuer.clone(),
        _ => None,
    };
    while updates.changed().await.is_ok() {
        let Some(now) = updates.borrow_and_update().client_ca().cloned() else {
            continue;
        };
        if Arc::ptr_eq(&now, &authority) {
            continue;
        }
        match issuer
            .as_deref()
            .and_then(|id| now.still_trusts(&authority, id))
        {
            Some(id) => {
                authority = now;
                issuer = Some(id);
            }
            None => {
                match &*peer {
                    PeerIdentity::Verified(certificate) => tracing::info!(
                        user = %certificate.user.name,
                        serial = %certificate.serial,
                        issuer = certificate.issuer.as_deref().unwrap_or("unknown"),
                        "closing the connection of a client certificate the new client CA does not verify"
                    ),
                    _ => tracing::debug!(
                        "closing a connection whose client certificate did not verify, to verify it under the new client CA"
                    ),
                }
                return;
            }
        }
    }
    std::future::pending().await
}

/// Serves `connection` to its end; once the server drains, asks it to finish the requests in
/// flight and take no more.
async fn until_drained<C>(
    mut connection: Pin<Box<C>>,
    graceful_shutdown: impl FnOnce(Pin<&mut C>),
    mut drain: watch::Receiver<bool>,
) -> hyper::Result<()>
where
    C: Future<Output = hyper::Result<()>>,
{
    // The watch guard must not live across an await, so only a bool leaves the select.
    let draining = async move { drain.wait_for(|draining| *draining).await.is_ok() };
    tokio::select! {
        result = connection.as_mut() => result,
        _ = draining => {
            graceful_shutdown(connection.as_mut());
            connection.await
        }
    }
}

/// Decides once per connection what its client certificate proves.
fn peer_identity(
    client_ca: Option<&ClientCertAuthority>,
    certificates: Option<&[rustls_pki_types::CertificateDer<'static>]>,
) -> PeerIdentity {
    match (client_ca, certificates) {
        (Some(ca), Some(chain)) if !chain.is_empty() => match ca.authenticate(chain) {
            Ok(certificate) => PeerIdentity::Verified(certificate),
            Err(error) => PeerIdentity::Rejected(error.to_string()),
        },
        _ => PeerIdentity::None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    use super::*;
    use crate::tls::ServingTls;

    const DAY: Duration = Duration::from_secs(86_400);

    fn ca(name: &str) -> pki::CertificateAuthority {
        pki::CertificateAuthority::generate(name, pki::KeyAlgorithm::EcdsaP256, DAY).unwrap()
    }

    fn leaf(ca: &pki::CertificateAuthority, name: &str, usage: pki::Usage) -> (String, String) {
        ca.issue_leaf(&pki::LeafParams {
            common_name: name.into(),
            organizations: Vec::new(),
            dns: vec![name.into()],
            ips: Vec::new(),
            usages: vec![pki::Usage::DigitalSignature, usage],
            validity: DAY,
        })
        .unwrap()
    }

    /// Serving settings whose client CA is `cas`, in order.
    fn tls(serving: &(String, String), cas: &[&pki::CertificateAuthority]) -> ServingTls {
        let bundle: String = cas.iter().map(|ca| ca.cert_pem()).collect();
        ServingTls::from_pem(
            serving.0.as_bytes(),
            serving.1.as_bytes(),
            Some(bundle.as_bytes()),
        )
        .unwrap()
    }

    fn peer_of(tls: &ServingTls, client: &(String, String)) -> Arc<PeerIdentity> {
        let chain = vec![CertificateDer::from_pem_slice(client.0.as_bytes()).unwrap()];
        Arc::new(peer_identity(
            tls.client_ca().map(Arc::as_ref),
            Some(&chain),
        ))
    }

    /// Whether `future` is still pending after the watchers had a moment to run.
    async fn still_open(future: &mut Pin<Box<impl Future<Output = ()>>>) -> bool {
        tokio::time::timeout(Duration::from_millis(100), future.as_mut())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_connection_closes_when_the_client_ca_stops_verifying_its_certificate() {
        let (old, new) = (ca("kubernetes"), ca("kubernetes"));
        let serving = leaf(&old, "apiserver", pki::Usage::ServerAuth);
        let first = tls(&serving, &[&old]);
        let (sender, receiver) = watch::channel(first.clone());
        let mut updates = receiver.clone();
        let current = updates.borrow_and_update().clone();

        let of_old = peer_of(&current, &leaf(&old, "node-a", pki::Usage::ClientAuth));
        assert!(matches!(*of_old, PeerIdentity::Verified(_)));
        let stranger = peer_of(&current, &leaf(&new, "node-b", pki::Usage::ClientAuth));
        assert!(matches!(*stranger, PeerIdentity::Rejected(_)));
        let client_ca = || current.client_ca().cloned();
        let mut old_connection = Box::pin(until_untrusted(
            receiver.clone(),
            client_ca(),
            Arc::clone(&of_old),
        ));
        let mut rejected = Box::pin(until_untrusted(receiver.clone(), client_ca(), stranger));
        let mut anonymous = Box::pin(until_untrusted(
            receiver.clone(),
            client_ca(),
            Arc::new(PeerIdentity::None),
        ));
        // Per connection: a receiver, an authority and a peer, and the wait on the channel.
        assert!(
            std::mem::size_of_val(&*old_connection) <= 256,
            "{} bytes",
            std::mem::size_of_val(&*old_connection)
        );
        assert!(still_open(&mut old_connection).await);

        // Trust both: the old CA's connection stays; the one refused before is closed, so its
        // client reconnects and is verified under the bundle.
        sender.send_replace(tls(&serving, &[&new, &old]));
        assert!(still_open(&mut old_connection).await);
        assert!(!still_open(&mut rejected).await);
        // A new serving certificate, same client CA bytes: still open.
        sender.send_replace(tls(
            &leaf(&new, "apiserver", pki::Usage::ServerAuth),
            &[&new, &old],
        ));
        assert!(still_open(&mut old_connection).await);

        // The old CA retired: closed. A connection without a certificate never is.
        sender.send_replace(tls(&serving, &[&new]));
        assert!(!still_open(&mut old_connection).await);
        assert!(still_open(&mut anonymous).await);
        drop(sender);
        assert!(still_open(&mut anonymous).await);
    }
}
