//! The storm: N simulated kubelets in this process, each running the `kubelet` crate's real
//! code: `bootstrap::client_credentials` (own TLS connection with the bootstrap token, P-256
//! key in its own cert dir, CSR create, watch until issued, files and kubeconfig written),
//! then a new mutual-TLS client from the written kubeconfig that registers the Node and
//! creates the Lease (`node::Heartbeat`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::Client;
use kubelet::cert_store::{CLIENT_PREFIX, CertStore};
use kubelet::node::{Heartbeat, NodeIdentity};
use kubelet::state::{AgentState, Lifetime};
use tokio::sync::Semaphore;

/// What one kubelet went through; times are seconds since the storm started.
pub struct Joined {
    /// From its own start (a concurrency slot free) to its certificate on disk.
    pub time_to_certificate: f64,
    pub certified_at: f64,
    /// Node registered and Lease created.
    pub registered_at: f64,
    pub heartbeat: Heartbeat,
}

#[derive(Default)]
pub struct StormResult {
    pub joined: Vec<Joined>,
    /// Nodes that did not join, with the first few reasons.
    pub failed: usize,
    pub errors: Vec<String>,
    pub elapsed: Duration,
    pub timed_out: bool,
}

pub fn node_name(index: u32) -> String {
    format!("storm-node-{index:05}")
}

/// Runs `nodes` kubelets, at most `concurrency` joining at once; gives up after `timeout`.
pub async fn run(
    nodes: u32,
    concurrency: u32,
    bootstrap_kubeconfig: &Path,
    kubelet_root: &Path,
    timeout: Duration,
) -> StormResult {
    let slots = Arc::new(Semaphore::new(concurrency as usize));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..nodes {
        let slots = slots.clone();
        let bootstrap = bootstrap_kubeconfig.to_path_buf();
        let dir = kubelet_root.join(node_name(index));
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            join_one(index, &bootstrap, dir, started).await
        });
    }
    let mut result = StormResult::default();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, tasks.join_next()).await;
        match next {
            Err(_) => {
                result.timed_out = true;
                result.failed += tasks.len();
                tasks.abort_all();
                break;
            }
            Ok(None) => break,
            Ok(Some(Ok(Ok(joined)))) => result.joined.push(joined),
            Ok(Some(Ok(Err(error)))) => {
                result.failed += 1;
                if result.errors.len() < 10 {
                    result.errors.push(error);
                }
            }
            Ok(Some(Err(panic))) => {
                result.failed += 1;
                result.errors.push(format!("kubelet task failed: {panic}"));
            }
        }
    }
    result.elapsed = started.elapsed();
    result
}

async fn join_one(
    index: u32,
    bootstrap: &Path,
    dir: PathBuf,
    storm_started: Instant,
) -> Result<Joined, String> {
    let name = node_name(index);
    let begun = Instant::now();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{name}: {}: {e}", dir.display()))?;
    let store = CertStore::new(&dir.join("pki"), CLIENT_PREFIX);
    let credentials = kubelet::bootstrap::client_credentials(
        &dir.join("kubelet.kubeconfig"),
        Some(bootstrap),
        &store,
        &name,
    )
    .await
    .map_err(|e| format!("{name}: bootstrap: {e}"))?;
    let certified = Instant::now();
    // The kubelet reconnects with the kubeconfig it just wrote: mutual TLS from here on.
    let client = Client::from_kubeconfig(&credentials.config, &kubelet::bootstrap::user_agent())
        .map_err(|e| format!("{name}: client: {e}"))?;
    let identity = NodeIdentity {
        name: name.clone(),
        ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        labels: Default::default(),
        port: 10250,
    };
    // As the agent: the Node is created naming the client certificate (decision 0027).
    let state = Arc::new(AgentState::default());
    state.set_client_cert(
        Lifetime {
            not_before: credentials.certificate.leaf().not_before(),
            not_after: credentials.certificate.not_after(),
        },
        credentials.certificate.credential_id(),
    );
    let mut heartbeat = Heartbeat::new(client, identity, state);
    heartbeat
        .register()
        .await
        .map_err(|e| format!("{name}: register: {e}"))?;
    heartbeat
        .renew_lease()
        .await
        .map_err(|e| format!("{name}: lease: {e}"))?;
    Ok(Joined {
        time_to_certificate: certified.duration_since(begun).as_secs_f64(),
        certified_at: certified.duration_since(storm_started).as_secs_f64(),
        registered_at: storm_started.elapsed().as_secs_f64(),
        heartbeat,
    })
}
