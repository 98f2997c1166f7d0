//! The signing path alone: M pending kubelet-client CSRs are created while no
//! controller-manager runs, then one is started and timed until every CSR carries a
//! certificate (watch, SubjectAccessReview, approval, signature, status write: all through
//! the apiserver). The same M CSRs are then signed by `cfssl serve` over HTTP with the same CA
//! on the same machine, from a bounded client loop, for the ratio.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use client::{Client, ListParams, WatchEvent};
use http_body_util::{BodyExt as _, Full};
use protocol::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestSpec};
use protocol::meta::ObjectMeta;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::cluster::{self, Cluster, Process};

const NAME_PREFIX: &str = "storm-signing-";
/// Concurrent requests from the cfssl client loop (the reference measurement used 16).
const CFSSL_CONNECTIONS: usize = 16;
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize)]
pub struct SigningResult {
    pub csrs: u32,
    /// controller-manager start to the last certificate seen on the watch.
    pub controller_manager_seconds: f64,
    /// controller-manager start to the first certificate: its start-up (process, leader
    /// Lease, the initial list of every CSR in the cluster) and one CSR's round trips.
    pub first_certificate_seconds: f64,
    pub controller_manager_per_second: f64,
    pub controller_manager_cpu_seconds: Option<f64>,
    /// The apiserver's CPU in the same span (it serves every request of the path).
    pub apiserver_cpu_seconds: Option<f64>,
    pub cfssl: Option<CfsslResult>,
    /// controller-manager / cfssl signings per second (>= 1 means we are at least as fast).
    pub ratio: Option<f64>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CfsslResult {
    pub seconds: f64,
    pub per_second: f64,
    pub cpu_seconds: Option<f64>,
    pub connections: usize,
}

/// P-256 keys and CSRs as kubelets make them, built before any timing starts.
fn make_requests(count: u32) -> anyhow::Result<Vec<(String, String)>> {
    (0..count)
        .map(|i| {
            let node = format!("{NAME_PREFIX}{i:05}");
            let (_, pem) = kubelet_csr(&node)?;
            Ok((node, pem))
        })
        .collect()
}

/// A kubelet's P-256 key and its client CSR (`system:node:<node>`, `system:nodes`).
pub(crate) fn kubelet_csr(node: &str) -> Result<(pki::PrivateKey, String), pki::PkiError> {
    let key = pki::PrivateKey::generate_p256()?;
    let pem = pki::build_csr(
        &key,
        &pki::CsrSubject {
            common_name: format!("system:node:{node}"),
            organizations: vec!["system:nodes".to_string()],
        },
        &pki::SubjectAltNames::default(),
    )?;
    Ok((key, pem))
}

/// A pending kubelet-client CertificateSigningRequest named `name` for `request_pem`.
pub(crate) fn pending_csr(name: &str, request_pem: &str) -> CertificateSigningRequest {
    CertificateSigningRequest {
        metadata: ObjectMeta::named(name.to_string()),
        spec: CertificateSigningRequestSpec {
            request: request_pem.as_bytes().to_vec(),
            signer_name: pki::signer::KUBE_APISERVER_CLIENT_KUBELET.to_string(),
            usages: vec!["digital signature".to_string(), "client auth".to_string()],
            ..Default::default()
        },
        ..Default::default()
    }
}

pub async fn run(
    cluster: &mut Cluster,
    count: u32,
    cfssl: &Path,
    token_client: &Client,
) -> anyhow::Result<SigningResult> {
    let Some(launch) = cluster.launch.as_ref() else {
        bail!("the signing comparison needs the processes this program started");
    };
    let requests = make_requests(count)?;
    if let Some(mut running) = cluster.controller_manager.take() {
        running.stop();
    }
    create_pending(token_client, &requests).await?;

    let mut watcher = cluster
        .admin
        .watch::<CertificateSigningRequest>(None, ListParams::default());
    let started = Instant::now();
    let controller_manager =
        cluster::start_controller_manager(launch, &cluster.dir, "controller-manager-signing.log")?;
    let pid = controller_manager.pid();
    let apiserver_pid = cluster.apiserver_pid();
    let cpu_before = crate::procstat::cpu_time(pid);
    let apiserver_cpu_before = apiserver_pid.and_then(crate::procstat::cpu_time);
    let mut issued = HashSet::new();
    let mut first_certificate = None;
    let deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
    while issued.len() < count as usize {
        let event = tokio::time::timeout_at(deadline, watcher.next())
            .await
            .context("timed out waiting for the controller-manager to sign")?;
        let Some(event) = event else {
            bail!("the CSR watch ended");
        };
        if let WatchEvent::Added(csr) | WatchEvent::Modified(csr) = event?
            && csr.metadata.name.starts_with(NAME_PREFIX)
            && !csr.status.certificate.is_empty()
        {
            first_certificate.get_or_insert_with(|| started.elapsed());
            issued.insert(csr.metadata.name);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = crate::procstat::cpu_time(pid)
        .zip(cpu_before)
        .map(|(after, before)| (after - before).as_secs_f64());
    let apiserver_cpu = apiserver_pid
        .and_then(crate::procstat::cpu_time)
        .zip(apiserver_cpu_before)
        .map(|(after, before)| (after - before).as_secs_f64());
    cluster.controller_manager = Some(controller_manager);

    let per_second = f64::from(count) / seconds;
    let mut result = SigningResult {
        csrs: count,
        controller_manager_seconds: seconds,
        first_certificate_seconds: first_certificate.unwrap_or_default().as_secs_f64(),
        controller_manager_per_second: per_second,
        controller_manager_cpu_seconds: cpu,
        apiserver_cpu_seconds: apiserver_cpu,
        cfssl: None,
        ratio: None,
        note: None,
    };
    if !cfssl.is_file() {
        result.note = Some(format!(
            "{} not found: no cfssl comparison",
            cfssl.display()
        ));
        return Ok(result);
    }
    match cfssl_sign(cfssl, &cluster.dir, &requests).await {
        Ok(cfssl) => {
            result.ratio = Some(per_second / cfssl.per_second);
            result.cfssl = Some(cfssl);
        }
        Err(e) => result.note = Some(format!("cfssl comparison failed: {e:#}")),
    }
    Ok(result)
}

async fn create_pending(client: &Client, requests: &[(String, String)]) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    for (name, pem) in requests {
        let csr = pending_csr(name, pem);
        let client = client.clone();
        let slots = slots.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            client.create(None, &csr).await.map(|_| ())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("create task")?
            .context("creating a pending CSR")?;
    }
    Ok(())
}

/// `cfssl serve` with the cluster CA, then every CSR POSTed to `/api/v1/cfssl/sign` from
/// `CFSSL_CONNECTIONS` keep-alive HTTP/1.1 connections.
async fn cfssl_sign(
    cfssl: &Path,
    dir: &Path,
    requests: &[(String, String)],
) -> anyhow::Result<CfsslResult> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port();
    let mut command = Command::new(cfssl);
    command
        .arg("serve")
        .arg("-address=127.0.0.1")
        .arg(format!("-port={port}"))
        .arg("-ca")
        .arg(dir.join("ca.pem"))
        .arg("-ca-key")
        .arg(dir.join("ca-key.pem"))
        // Level 2 drops cfssl's per-request INFO lines (the reference measured both).
        .arg("-loglevel=2");
    let mut server = Process::spawn("cfssl", command, &dir.join("cfssl.log"))?;
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(CFSSL_CONNECTIONS)
        .build_http::<Full<Bytes>>();
    let url: http::Uri = format!("http://127.0.0.1:{port}/api/v1/cfssl/sign").parse()?;
    let bodies: Vec<Bytes> = requests
        .iter()
        .map(|(_, pem)| {
            serde_json::to_vec(&serde_json::json!({ "certificate_request": pem })).map(Bytes::from)
        })
        .collect::<Result<_, _>>()?;

    // Up and signing: one request answered (bounded wait).
    let ready_by = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.exited() {
            bail!(
                "cfssl serve exited with {status}: {}",
                std::fs::read_to_string(dir.join("cfssl.log")).unwrap_or_default()
            );
        }
        if sign_once(&http, &url, bodies[0].clone()).await.is_ok() {
            break;
        }
        if Instant::now() > ready_by {
            bail!("cfssl serve did not sign within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cpu_before = crate::procstat::cpu_time(server.pid());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bodies = Arc::new(bodies);
    let started = Instant::now();
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..CFSSL_CONNECTIONS {
        let (http, url, next, bodies) = (http.clone(), url.clone(), next.clone(), bodies.clone());
        loops.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                sign_once(&http, &url, body.clone()).await?;
            }
        });
    }
    let all = tokio::time::timeout(PHASE_TIMEOUT, async {
        while let Some(done) = loops.join_next().await {
            done??;
        }
        Ok::<_, anyhow::Error>(())
    })
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = crate::procstat::cpu_time(server.pid())
        .zip(cpu_before)
        .map(|(after, before)| (after - before).as_secs_f64());
    server.stop();
    all.context("cfssl signing timed out")??;
    Ok(CfsslResult {
        seconds,
        per_second: requests.len() as f64 / seconds,
        cpu_seconds: cpu,
        connections: CFSSL_CONNECTIONS,
    })
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

async fn sign_once(http: &HttpClient, url: &http::Uri, body: Bytes) -> anyhow::Result<()> {
    let request = http::Request::post(url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let response = tokio::time::timeout(Duration::from_secs(30), http.request(request))
        .await
        .context("cfssl did not answer within 30 s")??;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() || answer["success"] != true {
        bail!(
            "cfssl sign: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}
