//! The program: serve health and metrics, win the leader Lease, run the controllers until
//! shutdown (then release the Lease) or until leadership is lost (then fail, so a supervisor
//! restarts us, as upstream exits).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use client::Client;
use client::delegated::{Authorizer, Delegation};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::approver::Approver;
use crate::client_ca_lookup;
use crate::explain::Explainer;
use crate::flags::Config;
use crate::informer::{self, CsrCache, Sink};
use crate::leader::{LeaderElector, LeadershipLost};
use crate::metrics::Metrics;
use crate::queue::{Backoff, WorkQueue};
use crate::revoked_users::RevokedUsers;
use crate::root_ca_publisher::{NoBundle, Publisher};
use crate::signer::Signer;
use crate::supersede::Superseder;
use crate::token_cleaner::{self, TokenCache, TokenCleaner};
use crate::worker;
use crate::{
    aggregation, ca_provider, cleaner, controllers, kubeconfig_reload, root_ca_fleet,
    root_ca_publisher, serving,
};

/// Sent as `User-Agent`, like upstream's `kube-controller-manager/<version>`.
pub const USER_AGENT: &str = concat!("controller-manager/", env!("CARGO_PKG_VERSION"));

/// How long workers get to finish the item in hand on a clean shutdown.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Why [`run`] stopped other than by the shutdown future.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("failed to build the API client: {0}")]
    Client(#[from] client::ClientError),
    #[error("failed to listen on {address}: {source}")]
    Listen {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    LeadershipLost(#[from] LeadershipLost),
}

/// Runs until `shutdown` resolves (Ok) or leadership is lost (Err). `listener` serves
/// `config.serving` when given; otherwise its address is bound here.
pub async fn run(
    config: Config,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let client = Client::from_kubeconfig(&config.api, USER_AGENT)?;
    let metrics = Metrics::new();
    let mut background = JoinSet::new();
    // Every client built from a kubeconfig file, to follow the file (decision 0029).
    let mut reloading = Vec::new();
    if let Some(path) = &config.kubeconfig_files.kubeconfig {
        reloading.push((
            "kubeconfig",
            path.clone(),
            config.api.clone(),
            client.clone(),
        ));
    }

    if let Some(tls) = &config.serving {
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(tls.address)
                .await
                .map_err(|source| RunError::Listen {
                    address: tls.address,
                    source,
                })?,
        };
        let delegated_client = |config: &Option<kubeconfig::ResolvedConfig>| {
            config
                .as_ref()
                .map(|config| Client::from_kubeconfig(config, USER_AGENT))
                .transpose()
        };
        let files = &config.kubeconfig_files;
        let mut follow = |flag,
                          path: &Option<std::path::PathBuf>,
                          resolved: &Option<_>,
                          client: &Option<Client>| {
            if let (Some(path), Some(resolved), Some(client)) = (path, resolved, client) {
                reloading.push((flag, path.clone(), Clone::clone(resolved), client.clone()));
            }
        };
        let authorization = delegated_client(&config.delegation.authorization)?;
        follow(
            "authorization-kubeconfig",
            &files.authorization,
            &config.delegation.authorization,
            &authorization,
        );
        let token_review = delegated_client(&config.delegation.authentication)?;
        follow(
            "authentication-kubeconfig",
            &files.authentication,
            &config.delegation.authentication,
            &token_review,
        );
        let authorizer = match authorization {
            Some(client) => Authorizer::Webhook(client),
            None => {
                tracing::warn!(
                    "No authorization-kubeconfig provided, so SubjectAccessReview of authorization tokens won't work."
                );
                Authorizer::AllowedOnly
            }
        };
        if token_review.is_none() {
            tracing::warn!(
                "No authentication-kubeconfig provided, so token authentication of the secure port won't work."
            );
        }
        if let (Some(published), Some(client)) =
            (&config.delegation.client_ca_lookup, &token_review)
        {
            background.spawn(client_ca_lookup::follow(
                client.clone(),
                published.clone(),
                config.signing.reload_interval,
            ));
        }
        // Anonymous requests reach the authorizer; system:masters needs no review (upstream).
        let delegation = Delegation::new(token_review, true, authorizer)
            .cache_ttls(config.delegation.cache_ttls)
            .always_allow_paths(config.delegation.always_allow_paths.clone())
            .always_allow_groups(vec!["system:masters".to_string()]);
        background.spawn(serving::serve(
            listener,
            Arc::clone(&tls.server_config),
            metrics.clone(),
            Arc::new(delegation),
            std::future::pending(),
        ));
    }
    let reloading = kubeconfig_reload::by_file(reloading);
    // What the --kubeconfig clients trust, as it changes (fixed without a file to follow):
    // root-ca-cert-publisher's bundle without --root-ca-file.
    let kubeconfig_ca = match reloading.iter().find(|file| file.is_for("kubeconfig")) {
        Some(file) => file.trusted_ca(),
        None => tokio::sync::watch::channel(config.api.ca_pem.clone()).1,
    };
    if !reloading.is_empty() {
        background.spawn(kubeconfig_reload::watch(
            reloading,
            config.signing.reload_interval,
        ));
    }
    if config.controllers.signing && !config.signing.cas.is_empty() {
        background.spawn(ca_provider::watch_files(
            config
                .signing
                .cas
                .iter()
                .map(|(s, ca)| (s.to_string(), Arc::clone(ca)))
                .collect(),
            config.signing.reload_interval,
            metrics.clone(),
            std::future::pending(),
        ));
    }

    tokio::pin!(shutdown);
    let result = match &config.leader_election {
        None => {
            let running = Controllers::start(&config, &client, &metrics, kubeconfig_ca);
            (&mut shutdown).await;
            running.stop().await;
            Ok(())
        }
        Some(election) => {
            let mut elector = LeaderElector::new(&client, election.clone());
            let lease_name = election.name.clone();
            metrics.set_leader(&lease_name, false);
            tokio::select! {
                () = &mut shutdown => {
                    background.shutdown().await;
                    return Ok(());
                }
                () = elector.acquire() => {}
            }
            metrics.set_leader(&lease_name, true);
            let running = Controllers::start(&config, &client, &metrics, kubeconfig_ca);
            tokio::select! {
                () = &mut shutdown => {
                    running.stop().await;
                    elector.release().await;
                    metrics.set_leader(&lease_name, false);
                    Ok(())
                }
                lost = elector.hold() => {
                    // Stop at once: another instance may be leading already.
                    running.abort().await;
                    metrics.set_leader(&lease_name, false);
                    Err(RunError::LeadershipLost(lost))
                }
            }
        }
    };
    background.shutdown().await;
    result
}

/// The running controllers: the informer, the workers and the cleaner.
struct Controllers {
    queues: Vec<Arc<WorkQueue>>,
    workers: JoinSet<()>,
    others: JoinSet<()>,
    /// Stops counting the open CSRs of this term's cache when the controllers stop.
    metrics: Metrics,
}

impl Controllers {
    /// `kubeconfig_ca`: what the `--kubeconfig` clients trust, published without
    /// `--root-ca-file`.
    fn start(
        config: &Config,
        client: &Client,
        metrics: &Metrics,
        kubeconfig_ca: tokio::sync::watch::Receiver<Option<Vec<u8>>>,
    ) -> Controllers {
        let cache = Arc::new(CsrCache::default());
        let instance = config
            .leader_election
            .as_ref()
            .map(|l| l.identity.clone())
            .unwrap_or_else(crate::leader::default_identity);
        let explainer = Arc::new(Explainer::new(client.clone(), instance));
        // One list and watch of the revocations for both controllers, started at first use.
        let revoked_users = Arc::new(RevokedUsers::new(client.clone()));
        let mut queues = Vec::new();
        let mut workers = JoinSet::new();
        let mut others = JoinSet::new();
        let new_queue = |name: &'static str| {
            WorkQueue::new(
                name,
                config.queue_capacity,
                Backoff::CSR,
                Some(metrics.queue(name)),
            )
        };

        if config.controllers.approving {
            let queue = new_queue(controllers::CSR_APPROVING);
            let approver = Arc::new(Approver::new(
                client.clone(),
                Arc::clone(&cache),
                metrics.clone(),
                Arc::clone(&explainer),
                config
                    .feature_gates
                    .enabled(cli::ROTATE_KUBELET_SERVER_CERTIFICATE),
                Arc::clone(&revoked_users),
            ));
            for _ in 0..config.workers {
                workers.spawn(worker::work(Arc::clone(&approver), Arc::clone(&queue)));
            }
            // A CSR left Pending for a revocation, a Node's addresses or a single-use token
            // another request holds is looked at again as soon as those change.
            for mut changes in approver.waits_on() {
                let approver = Arc::clone(&approver);
                let queue = Arc::clone(&queue);
                others.spawn(async move {
                    while changes.changed().await.is_ok() {
                        for name in approver.take_waiting() {
                            queue.add(&name).await;
                        }
                    }
                });
            }
            queues.push(queue);
            tracing::info!(workers = config.workers, "started csrapproving");
        }
        if config.controllers.signing {
            if config.signing.cas.is_empty() {
                // Upstream's words; it then runs no signer at all. Ours still runs, only to
                // put a SignerNotConfigured event on approved CSRs that wait for a CA.
                tracing::info!(
                    "Skipping CSR signer controller because no csr cert/key was specified"
                );
            }
            let queue = new_queue(controllers::CSR_SIGNING);
            let signer = Arc::new(Signer::new(
                client.clone(),
                Arc::clone(&cache),
                &config.signing.cas,
                config.signing.duration,
                metrics.clone(),
                Arc::clone(&explainer),
                Arc::clone(&revoked_users),
            ));
            for _ in 0..config.workers {
                workers.spawn(worker::work(Arc::clone(&signer), Arc::clone(&queue)));
            }
            queues.push(queue);
            if let Some(grace) = config.signing.supersede_after {
                let queue = new_queue(controllers::CSR_SUPERSEDE);
                let superseder =
                    Arc::new(Superseder::new(client.clone(), Arc::clone(&cache), grace));
                for _ in 0..config.workers {
                    workers.spawn(worker::work(Arc::clone(&superseder), Arc::clone(&queue)));
                }
                queues.push(queue);
                tracing::info!(grace = %cli::format_go_duration(grace), "started csrsupersede");
            }
            let signers: Vec<&str> = config.signing.cas.iter().map(|(s, _)| *s).collect();
            tracing::info!(
                workers = config.workers,
                ?signers,
                duration = %cli::format_go_duration(config.signing.duration),
                "started csrsigning"
            );
        }
        let mut sinks: Vec<Sink> = queues.iter().cloned().map(Sink::by_name).collect();
        if config.controllers.token_cleaner {
            let queue = new_queue(controllers::TOKEN_CLEANER);
            let tokens = Arc::new(TokenCache::default());
            let cleaner = Arc::new(TokenCleaner::new(
                client.clone(),
                Arc::clone(&tokens),
                Arc::clone(&cache),
            ));
            for _ in 0..config.workers {
                workers.spawn(worker::work(Arc::clone(&cleaner), Arc::clone(&queue)));
            }
            others.spawn(token_cleaner::watch_tokens(
                client.clone(),
                tokens,
                Arc::clone(&queue),
            ));
            // A CSR made with a token queues the token: single-use tokens follow their join.
            sinks.push(Sink {
                queue: Arc::clone(&queue),
                key: token_cleaner::token_key,
            });
            queues.push(queue);
            tracing::info!("started tokencleaner");
        }
        if !sinks.is_empty() {
            metrics.count_open_csrs(Some(Arc::clone(&cache)));
            others.spawn(informer::run(client.clone(), cache, sinks));
        }
        // After the CSR informer's sinks: this queue holds namespaces.
        if config.controllers.root_ca_publisher {
            match root_ca_publisher::bundle_source(
                config.root_ca.as_ref(),
                kubeconfig_ca,
                config.kubeconfig_files.kubeconfig.as_deref(),
            ) {
                Ok(bundle) => {
                    let queue = new_queue(controllers::ROOT_CA_CERT_PUBLISHER);
                    let publisher = Arc::new(Publisher::new(
                        client.clone(),
                        bundle,
                        config.signing.cas.clone(),
                        metrics.clone(),
                    ));
                    for _ in 0..config.workers {
                        workers.spawn(worker::work(Arc::clone(&publisher), Arc::clone(&queue)));
                    }
                    // Counts against whichever bundle the publisher publishes, as it changes.
                    others.spawn(root_ca_fleet::run(
                        client.clone(),
                        publisher.subscribe(),
                        metrics.clone(),
                        config.signing.reload_interval,
                    ));
                    others.spawn(root_ca_publisher::run(
                        publisher,
                        Arc::clone(&queue),
                        config.signing.reload_interval,
                    ));
                    queues.push(queue);
                }
                Err(reason @ NoBundle::NoCa) => {
                    tracing::info!(%reason, "Skipping root-ca-cert-publisher");
                }
                Err(reason) => tracing::warn!(%reason, "Skipping root-ca-cert-publisher"),
            }
        }
        if config.controllers.aggregation {
            others.spawn(aggregation::run(client.clone()));
        }
        if config.controllers.cleaner {
            others.spawn(cleaner::run(
                client.clone(),
                metrics.clone(),
                config.cleaner_interval,
            ));
            tracing::info!("started csrcleaner");
        }
        Controllers {
            queues,
            workers,
            others,
            metrics: metrics.clone(),
        }
    }

    /// Clean stop: no new work, the items in hand get a short grace to finish.
    async fn stop(mut self) {
        self.metrics.count_open_csrs(None);
        self.others.shutdown().await;
        self.metrics.set_fleet(None);
        for queue in &self.queues {
            queue.shut_down();
        }
        let drained = tokio::time::timeout(DRAIN_GRACE, async {
            while self.workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.workers.shutdown().await;
        }
    }

    /// Immediate stop.
    async fn abort(mut self) {
        self.metrics.count_open_csrs(None);
        for queue in &self.queues {
            queue.shut_down();
        }
        self.others.shutdown().await;
        self.metrics.set_fleet(None);
        self.workers.shutdown().await;
    }
}
