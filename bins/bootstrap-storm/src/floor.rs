//! `transport-floor`: what TLS, HTTP/2 and the certificate crypto alone allow a bootstrap storm on
//! this machine, with the rest of the work taken away. It answers whether issue 8's targets
//! (>= 1,000 nodes/s; signing at cfssl's rate) are within reach of any apiserver,
//! controller-manager and kubelet that speak the real protocol here, not how fast ours are.
//!
//! One process, one tokio runtime with two workers (no process switches: a floor, favourable):
//! - a "server" that keeps no store, checks no credential and parses no body: it answers
//!   every request with the bytes a real apiserver would send (the stored JSON), and pushes
//!   watch events to the watchers of a CSR;
//! - a "controller" on one mutual-TLS HTTP/2 connection with `--controller-workers` workers:
//!   it reads the CSR watch, parses each event's JSON, PUTs the approval, verifies the CSR
//!   and signs it with the P-256 CA (the pki crate, as csrsigning does) and PUTs the status;
//! - N "kubelets", `--concurrency` at a time, each: a P-256 key and CSR, a TLS connection
//!   verifying the server (HTTP/2, bearer token), CSR create, list and watch until the
//!   certificate comes, then a new mutual-TLS connection with it and Node and Lease creates.
//!   No files, no kubeconfig.
//!
//! Then the signing phase alone: `--signing-csrs` pending CSRs handed to the controller at
//! once (the storm's signing comparison, without the apiserver's work).
//!
//! `target/release/transport-floor --nodes 10000` (docs/performance.md has the figures).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use protocol::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::signing::{kubelet_csr, pending_csr};
use crate::stats::Summary;

#[derive(Debug, Parser)]
#[command(
    name = "transport-floor",
    version,
    about = "The floor under bootstrap-storm: N kubelets' TLS connections, HTTP/2 requests and certificate crypto against a server that stores, checks and parses nothing; prints nodes/s and CSRs/s"
)]
pub struct Args {
    /// Kubelets that join.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub nodes: u32,
    /// Kubelets joining at the same time.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// Pending CSRs of the signing phase (0 skips it).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub signing_csrs: u32,
    /// The controller's concurrent workers (upstream's default is 5).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub controller_workers: u16,
    /// Key exchange X25519 only, instead of rustls' default X25519MLKEM768 first (the
    /// post-quantum hybrid that Go's crypto/tls, so client-go, also prefers).
    #[arg(long)]
    pub x25519: bool,
    /// Each kubelet only opens its two connections (the second with a certificate made
    /// beforehand) and sends nothing: what the TLS handshakes alone cost.
    #[arg(long)]
    pub handshakes_only: bool,
}

/// How long each phase may take before the run gives up.
const PHASE_TIMEOUT: Duration = Duration::from_secs(600);

type Body = BoxBody<Bytes, std::convert::Infallible>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// What the server keeps per CSR: its JSON as last written and who waits for its certificate.
#[derive(Default)]
struct CsrEntry {
    json: Bytes,
    issued: bool,
    waiters: Vec<oneshot::Sender<Bytes>>,
}

struct Server {
    csrs: Mutex<HashMap<String, CsrEntry>>,
    /// The controller's watch stream.
    controller_events: mpsc::UnboundedSender<Bytes>,
    controller_stream: Mutex<Option<mpsc::UnboundedReceiver<Bytes>>>,
}

fn watch_event(kind: &str, object: &[u8]) -> Bytes {
    let mut event = Vec::with_capacity(object.len() + 32);
    event.extend_from_slice(br#"{"type":""#);
    event.extend_from_slice(kind.as_bytes());
    event.extend_from_slice(br#"","object":"#);
    event.extend_from_slice(object);
    event.extend_from_slice(b"}\n");
    event.into()
}

impl Server {
    fn new() -> Arc<Server> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Server {
            csrs: Mutex::new(HashMap::new()),
            controller_events: tx,
            controller_stream: Mutex::new(Some(rx)),
        })
    }

    async fn handle(
        self: Arc<Self>,
        request: http::Request<Incoming>,
    ) -> Result<http::Response<Body>, hyper::Error> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let path = parts.uri.path().to_string();
        let name = parts.uri.query().unwrap_or_default().to_string();
        let response = match (parts.method.as_str(), path.as_str()) {
            ("POST", "/csr") => {
                self.csrs.lock().unwrap().entry(name).or_default().json = body.clone();
                let _ = self.controller_events.send(watch_event("ADDED", &body));
                respond(201, full(body))
            }
            ("GET", "/csr") => {
                let json = self
                    .csrs
                    .lock()
                    .unwrap()
                    .get(&name)
                    .map(|e| e.json.clone())
                    .unwrap_or_default();
                respond(200, full(json))
            }
            ("GET", "/csr-watch") => {
                let (tx, rx) = oneshot::channel();
                {
                    let mut csrs = self.csrs.lock().unwrap();
                    let entry = csrs.entry(name).or_default();
                    if entry.issued {
                        let _ = tx.send(entry.json.clone());
                    } else {
                        entry.waiters.push(tx);
                    }
                }
                // Headers now, the event when the certificate is there, as a watch does.
                let stream = futures::stream::once(rx).filter_map(|event| async move {
                    event
                        .ok()
                        .map(|json| Ok(Frame::data(watch_event("MODIFIED", &json))))
                });
                respond(200, http_body_util::BodyExt::boxed(StreamBody::new(stream)))
            }
            ("GET", "/controller-watch") => {
                let Some(events) = self.controller_stream.lock().unwrap().take() else {
                    return Ok(respond(409, full("one controller")));
                };
                let stream = futures::stream::unfold(events, |mut events| async move {
                    events
                        .recv()
                        .await
                        .map(|event| (Ok(Frame::data(event)), events))
                });
                respond(200, http_body_util::BodyExt::boxed(StreamBody::new(stream)))
            }
            ("PUT", "/csr-approval") => {
                if let Some(entry) = self.csrs.lock().unwrap().get_mut(&name) {
                    entry.json = body.clone();
                }
                let _ = self.controller_events.send(watch_event("MODIFIED", &body));
                respond(200, full(body))
            }
            ("PUT", "/csr-status") => {
                let waiters = {
                    let mut csrs = self.csrs.lock().unwrap();
                    let entry = csrs.entry(name).or_default();
                    entry.json = body.clone();
                    entry.issued = true;
                    std::mem::take(&mut entry.waiters)
                };
                for waiter in waiters {
                    let _ = waiter.send(body.clone());
                }
                let _ = self.controller_events.send(watch_event("MODIFIED", &body));
                respond(200, full(body))
            }
            ("POST", "/node") | ("POST", "/lease") => respond(201, full(body)),
            _ => respond(404, full("not found")),
        };
        Ok(response)
    }
}

fn respond(status: u16, body: Body) -> http::Response<Body> {
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, server: Arc<Server>) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // Out of descriptors, most likely: let connections close instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, server) = (acceptor.clone(), server.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| server.clone().handle(request));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

type Sender = hyper::client::conn::http2::SendRequest<Body>;

async fn connect(address: SocketAddr, config: Arc<rustls::ClientConfig>) -> anyhow::Result<Sender> {
    let tcp = TcpStream::connect(address).await?;
    tcp.set_nodelay(true)?;
    let tls = TlsConnector::from(config)
        .connect(ServerName::IpAddress(address.ip().into()), tcp)
        .await?;
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn call(
    sender: &mut Sender,
    method: http::Method,
    path_and_query: &str,
    body: Bytes,
) -> anyhow::Result<Incoming> {
    sender.ready().await?;
    let request = http::Request::builder()
        .method(method)
        .uri(format!("https://127.0.0.1{path_and_query}"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::header::AUTHORIZATION,
            "Bearer 07401b.f395accd246ae52d",
        )
        .body(full(body))?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        bail!("{path_and_query}: HTTP {}", response.status());
    }
    Ok(response.into_body())
}

async fn call_whole(
    sender: &mut Sender,
    method: http::Method,
    path_and_query: &str,
    body: Bytes,
) -> anyhow::Result<Bytes> {
    Ok(call(sender, method, path_and_query, body)
        .await?
        .collect()
        .await?
        .to_bytes())
}

struct Pki {
    ca: pki::CertificateAuthority,
    roots: Arc<rustls::RootCertStore>,
    server: Arc<rustls::ServerConfig>,
    bootstrap: Arc<rustls::ClientConfig>,
    controller: Arc<rustls::ClientConfig>,
}

fn chain_and_key(
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    use rustls::pki_types::pem::PemObject as _;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    Ok((chain, key))
}

fn client_config(
    roots: &Arc<rustls::RootCertStore>,
    identity: Option<(&str, &str)>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots.clone());
    let mut config = match identity {
        Some((cert, key)) => {
            let (chain, key) = chain_and_key(cert, key)?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl Pki {
    fn new() -> anyhow::Result<Pki> {
        let day = Duration::from_secs(86_400);
        let ca =
            pki::CertificateAuthority::generate("floor-ca", pki::KeyAlgorithm::EcdsaP256, day)?;
        let leaf = |common_name: &str, usage: pki::Usage| {
            ca.issue_leaf(&pki::LeafParams {
                common_name: common_name.to_string(),
                organizations: vec![],
                dns: vec!["localhost".to_string()],
                ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                usages: vec![pki::Usage::DigitalSignature, usage],
                validity: day,
            })
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.certificate().der().to_vec()))?;
        let roots = Arc::new(roots);

        let (server_cert, server_key) = leaf("kube-apiserver", pki::Usage::ServerAuth)?;
        let (chain, key) = chain_and_key(&server_cert, &server_key)?;
        let verifier = rustls::server::WebPkiClientVerifier::builder(roots.clone())
            .allow_unauthenticated()
            .build()?;
        let mut server = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let (cm_cert, cm_key) = leaf("system:kube-controller-manager", pki::Usage::ClientAuth)?;
        Ok(Pki {
            server: Arc::new(server),
            bootstrap: client_config(&roots, None)?,
            controller: client_config(&roots, Some((&cm_cert, &cm_key)))?,
            roots,
            ca,
        })
    }
}

/// The controller: watch, approve, verify and sign, as csrapproving and csrsigning do.
async fn controller(
    address: SocketAddr,
    pki: Arc<Pki>,
    workers: usize,
    signed: mpsc::UnboundedSender<()>,
) -> anyhow::Result<()> {
    let mut sender = connect(address, pki.controller.clone()).await?;
    let mut events = call(
        &mut sender,
        http::Method::GET,
        "/controller-watch",
        Bytes::new(),
    )
    .await?;
    let slots = Arc::new(Semaphore::new(workers));
    let mut buffer = Vec::new();
    while let Some(frame) = events.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let event: serde_json::Value = serde_json::from_slice(&line)?;
            let csr: CertificateSigningRequest = serde_json::from_value(event["object"].clone())?;
            let (mut sender, pki, signed) = (sender.clone(), pki.clone(), signed.clone());
            let slot = slots.clone().acquire_owned().await?;
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(e) = reconcile(&mut sender, &pki, csr, &signed).await {
                    eprintln!("transport_floor: controller: {e:#}");
                }
            });
        }
    }
    Ok(())
}

async fn reconcile(
    sender: &mut Sender,
    pki: &Pki,
    mut csr: CertificateSigningRequest,
    signed: &mpsc::UnboundedSender<()>,
) -> anyhow::Result<()> {
    if !csr.status.certificate.is_empty() {
        return Ok(());
    }
    let name = csr.metadata.name.clone();
    if csr.status.conditions.is_empty() {
        csr.status
            .conditions
            .push(CertificateSigningRequestCondition {
                type_: "Approved".to_string(),
                status: "True".to_string(),
                reason: "AutoApproved".to_string(),
                message: "Auto approving kubelet client certificate after SubjectAccessReview."
                    .to_string(),
                ..Default::default()
            });
        let body = serde_json::to_vec(&csr)?;
        call_whole(
            sender,
            http::Method::PUT,
            &format!("/csr-approval?{name}"),
            body.into(),
        )
        .await?;
        return Ok(());
    }
    let request = pki::Csr::from_pem(&csr.spec.request)?;
    let certificate = pki.ca.sign_csr(
        &request,
        &[pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
        None,
        Duration::from_secs(365 * 86_400),
        SystemTime::now(),
    )?;
    csr.status.certificate = certificate.into_bytes();
    let body = serde_json::to_vec(&csr)?;
    call_whole(
        sender,
        http::Method::PUT,
        &format!("/csr-status?{name}"),
        body.into(),
    )
    .await?;
    let _ = signed.send(());
    Ok(())
}

/// A Node as a kubelet first creates it (labels, addresses, capacity, conditions, nodeInfo):
/// ~2 KB of JSON, the size the storm's kubelets send.
fn node_json(node: &str) -> Bytes {
    let condition = |type_: &str, status: &str, reason: &str| {
        serde_json::json!({"type": type_, "status": status, "reason": reason,
            "message": "kubelet has sufficient resources available",
            "lastHeartbeatTime": "2026-12-08T00:00:00Z",
            "lastTransitionTime": "2026-12-08T00:00:00Z"})
    };
    let value = serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "labels": {
            "kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {},
        "status": {
            "capacity": {"cpu": "2", "memory": "24576Mi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "2", "memory": "24476Mi", "pods": "110", "ephemeral-storage": "92Gi"},
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "0123456789abcdef0123456789abcdef",
                "systemUUID": "01234567-89ab-cdef-0123-456789abcdef",
                "bootID": "01234567-89ab-cdef-0123-456789abcdef",
                "kernelVersion": "6.1.0-41-cloud-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "none://0.0.0", "kubeletVersion": "v1.32.0",
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}
        }
    });
    serde_json::to_vec(&value).unwrap_or_default().into()
}

fn lease_json(node: &str) -> Bytes {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node, "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node,
                "uid": "01234567-89ab-cdef-0123-456789abcdef"}]},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
            "renewTime": "2026-12-08T00:00:00.000000Z"}
    }))
    .unwrap_or_default()
    .into()
}

/// One kubelet's bootstrap, registration and first Lease, as the storm's kubelets do them.
/// The handshakes of one kubelet and nothing else: TLS verifying the server, then mutual TLS
/// with `identity` in a client configuration of its own, as each kubelet builds one.
async fn handshakes(
    address: SocketAddr,
    pki: &Pki,
    identity: &(String, String),
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    drop(connect(address, pki.bootstrap.clone()).await?);
    let config = client_config(&pki.roots, Some((&identity.0, &identity.1)))?;
    drop(connect(address, config).await?);
    Ok(started.elapsed())
}

async fn kubelet(address: SocketAddr, pki: Arc<Pki>, node: String) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let (key, request) = kubelet_csr(&node)?;
    let name = format!("node-csr-{node}");
    let mut bootstrap = connect(address, pki.bootstrap.clone()).await?;
    let body: Bytes = serde_json::to_vec(&pending_csr(&name, &request))?.into();
    call_whole(
        &mut bootstrap,
        http::Method::POST,
        &format!("/csr?{name}"),
        body,
    )
    .await?;
    let listed = call_whole(
        &mut bootstrap,
        http::Method::GET,
        &format!("/csr?{name}"),
        Bytes::new(),
    )
    .await?;
    let _: CertificateSigningRequest = serde_json::from_slice(&listed)?;
    let mut watch = call(
        &mut bootstrap,
        http::Method::GET,
        &format!("/csr-watch?{name}"),
        Bytes::new(),
    )
    .await?;
    let mut event = Vec::new();
    while !event.ends_with(b"\n") {
        let Some(frame) = watch.frame().await else {
            bail!("the watch of {name} ended");
        };
        if let Ok(data) = frame?.into_data() {
            event.extend_from_slice(&data);
        }
    }
    drop(watch);
    drop(bootstrap);
    let event: serde_json::Value = serde_json::from_slice(&event)?;
    let issued: CertificateSigningRequest = serde_json::from_value(event["object"].clone())?;
    let certificate = String::from_utf8(issued.status.certificate)?;
    let config = client_config(&pki.roots, Some((&certificate, &key.to_pem())))?;
    let mut mutual = connect(address, config).await?;
    call_whole(&mut mutual, http::Method::POST, "/node", node_json(&node)).await?;
    call_whole(&mut mutual, http::Method::POST, "/lease", lease_json(&node)).await?;
    Ok(started.elapsed())
}

fn own_cpu() -> Duration {
    crate::procstat::cpu_time(std::process::id()).unwrap_or_default()
}

/// What a run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub nodes_per_second: f64,
    pub cpu_ms_per_node: f64,
    pub time_to_lease: Summary,
    /// Zero when the signing phase was skipped.
    pub csrs_per_second: f64,
    pub cpu_ms_per_csr: f64,
}

/// The storm, then the signing phase; prints both lines and returns the figures.
pub async fn run(args: Args) -> anyhow::Result<Figures> {
    let pki = Arc::new(Pki::new()?);
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let server = Server::new();
    tokio::spawn(serve(
        listener,
        TlsAcceptor::from(pki.server.clone()),
        server.clone(),
    ));
    let (signed_tx, mut signed_rx) = mpsc::unbounded_channel();
    let controller_task = tokio::spawn(controller(
        address,
        pki.clone(),
        usize::from(args.controller_workers),
        signed_tx,
    ));

    // The storm.
    let identity = if args.handshakes_only {
        Some(Arc::new(pki.ca.issue_leaf(&pki::LeafParams {
            common_name: "system:node:floor".to_string(),
            organizations: vec!["system:nodes".to_string()],
            dns: vec![],
            ips: vec![],
            usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
            validity: Duration::from_secs(86_400),
        })?))
    } else {
        None
    };
    let slots = Arc::new(Semaphore::new(args.concurrency as usize));
    let cpu_before = own_cpu();
    let started = Instant::now();
    let mut kubelets = tokio::task::JoinSet::new();
    for i in 0..args.nodes {
        let (pki, slots, identity) = (pki.clone(), slots.clone(), identity.clone());
        kubelets.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            match identity.as_deref() {
                Some(identity) => handshakes(address, &pki, identity).await,
                None => kubelet(address, pki, format!("floor-{i:05}")).await,
            }
        });
    }
    let mut times = Vec::with_capacity(args.nodes as usize);
    let deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
    while let Some(done) = tokio::time::timeout_at(deadline, kubelets.join_next())
        .await
        .context("the storm timed out")?
    {
        times.push(done.context("kubelet task")??.as_secs_f64());
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = (own_cpu() - cpu_before).as_secs_f64();
    let mut figures = Figures {
        nodes_per_second: f64::from(args.nodes) / seconds,
        cpu_ms_per_node: cpu * 1000.0 / f64::from(args.nodes),
        time_to_lease: Summary::of(&times),
        ..Default::default()
    };
    println!(
        "storm floor{}: {} nodes, concurrency {}: {seconds:.2} s, {:.0} nodes/s, {cpu:.2} CPU-s ({:.2} ms per node), time to certificate and Lease p50 {:.0} ms, p99 {:.0} ms",
        if args.handshakes_only {
            " (handshakes only)"
        } else {
            ""
        },
        args.nodes,
        args.concurrency,
        figures.nodes_per_second,
        figures.cpu_ms_per_node,
        figures.time_to_lease.p50_ms,
        figures.time_to_lease.p99_ms,
    );
    while signed_rx.try_recv().is_ok() {}

    // The signing phase: pending CSRs made beforehand, then handed to the controller at once.
    if args.signing_csrs > 0 {
        let mut events = Vec::with_capacity(args.signing_csrs as usize);
        for i in 0..args.signing_csrs {
            let name = format!("signing-{i:05}");
            let (_, request) = kubelet_csr(&name)?;
            let json = serde_json::to_vec(&pending_csr(&name, &request))?;
            server.csrs.lock().unwrap().entry(name).or_default().json = json.clone().into();
            events.push(watch_event("ADDED", &json));
        }
        let cpu_before = own_cpu();
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
        for event in events {
            let _ = server.controller_events.send(event);
        }
        for _ in 0..args.signing_csrs {
            tokio::time::timeout_at(deadline, signed_rx.recv())
                .await
                .context("signing timed out")?
                .context("the controller stopped")?;
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = (own_cpu() - cpu_before).as_secs_f64();
        figures.csrs_per_second = f64::from(args.signing_csrs) / seconds;
        figures.cpu_ms_per_csr = cpu * 1000.0 / f64::from(args.signing_csrs);
        println!(
            "signing floor: {} CSRs, {} workers: {seconds:.2} s, {:.0} CSRs/s, {cpu:.2} CPU-s ({:.3} ms per CSR)",
            args.signing_csrs,
            args.controller_workers,
            figures.csrs_per_second,
            figures.cpu_ms_per_csr,
        );
    }
    controller_task.abort();
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_run_certifies_every_node_and_signs_every_csr() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let args = Args {
            nodes: 30,
            concurrency: 10,
            signing_csrs: 20,
            controller_workers: 3,
            x25519: false,
            handshakes_only: false,
        };
        let figures = tokio::time::timeout(Duration::from_secs(60), run(args))
            .await
            .expect("the run finishes")
            .unwrap();
        // Every kubelet returned (an error or a missing certificate fails the run), so the
        // figures cover all 30.
        assert_eq!(figures.time_to_lease.count, 30);
        assert!(figures.nodes_per_second > 0.0);
        assert!(figures.time_to_lease.p50_ms > 0.0);
        assert!(figures.csrs_per_second > 0.0);
    }

    #[test]
    fn watch_events_wrap_the_stored_json() {
        let event = watch_event("ADDED", br#"{"kind":"CertificateSigningRequest"}"#);
        let value: serde_json::Value = serde_json::from_slice(&event).unwrap();
        assert_eq!(value["type"], "ADDED");
        assert_eq!(value["object"]["kind"], "CertificateSigningRequest");
        assert!(event.ends_with(b"\n"));
    }
}
