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

mod controller;
mod kubelet;
mod server;
mod transport;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;

use crate::signing::{kubelet_csr, pending_csr};
use crate::stats::Summary;
use controller::controller;
use kubelet::{handshakes, kubelet};
use server::{Server, serve, watch_event};
use transport::Pki;

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
    /// The kubelets offer only HTTP/1.1 by ALPN (one request at a time on each connection)
    /// instead of HTTP/2 first as client-go does. The controller keeps HTTP/2.
    #[arg(long)]
    pub http1: bool,
    /// Each kubelet only opens its two connections (the second with a certificate made
    /// beforehand) and sends nothing: what the TLS handshakes alone cost.
    #[arg(long)]
    pub handshakes_only: bool,
}

/// How long each phase may take before the run gives up.
const PHASE_TIMEOUT: Duration = Duration::from_secs(600);

/// Why the controller's task ended, for the run's error.
fn ended_why(ended: Result<anyhow::Result<()>, tokio::task::JoinError>) -> String {
    match ended {
        Ok(Ok(())) => "its watch ended".to_string(),
        Ok(Err(e)) => format!("{e:#}"),
        Err(e) => e.to_string(),
    }
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
    let pki = Arc::new(Pki::new(if args.http1 {
        transport::HTTP1_ONLY
    } else {
        transport::H2_FIRST
    })?);
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let server = Server::new();
    tokio::spawn(serve(
        listener,
        TlsAcceptor::from(pki.server.clone()),
        server.clone(),
    ));
    let (signed_tx, mut signed_rx) = mpsc::unbounded_channel();
    let mut controller_task = tokio::spawn(controller(
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
    // A controller that fails would leave the kubelets waiting: its error ends the run.
    loop {
        let done = tokio::select! {
            done = kubelets.join_next() => done,
            ended = &mut controller_task => bail!("the controller stopped: {}", ended_why(ended)),
            Some(Err(e)) = signed_rx.recv() => bail!("the controller failed: {e}"),
            () = tokio::time::sleep_until(deadline) => bail!("the storm timed out"),
        };
        let Some(done) = done else {
            break;
        };
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
        match (args.handshakes_only, args.http1) {
            (true, true) => " (handshakes only, HTTP/1.1)",
            (true, false) => " (handshakes only)",
            (false, true) => " (HTTP/1.1)",
            (false, false) => "",
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
            server.store(name, json.clone().into());
            events.push(watch_event("ADDED", &json));
        }
        let cpu_before = own_cpu();
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + PHASE_TIMEOUT;
        for event in events {
            server.to_controller(event);
        }
        for _ in 0..args.signing_csrs {
            tokio::time::timeout_at(deadline, signed_rx.recv())
                .await
                .context("signing timed out")?
                .context("the controller stopped")?
                .map_err(|e| anyhow::anyhow!("the controller failed: {e}"))?;
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
        for http1 in [false, true] {
            let args = Args {
                nodes: 30,
                concurrency: 10,
                signing_csrs: 20,
                controller_workers: 3,
                x25519: false,
                http1,
                handshakes_only: false,
            };
            let figures = tokio::time::timeout(Duration::from_secs(60), run(args))
                .await
                .expect("the run finishes")
                .unwrap();
            // Every kubelet returned (an error or a missing certificate fails the run), so
            // the figures cover all 30.
            assert_eq!(figures.time_to_lease.count, 30, "http1: {http1}");
            assert!(figures.nodes_per_second > 0.0);
            assert!(figures.time_to_lease.p50_ms > 0.0);
            assert!(figures.csrs_per_second > 0.0);
        }
    }

    #[tokio::test]
    async fn kubelets_speak_what_they_offer_by_alpn() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let pki = Pki::new(transport::HTTP1_ONLY).unwrap();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve(
            listener,
            TlsAcceptor::from(pki.server.clone()),
            Server::new(),
        ));
        let mut http1 = transport::connect(address, pki.bootstrap.clone())
            .await
            .unwrap();
        assert!(matches!(http1, transport::Sender::Http1(_)));
        let answer = transport::call_whole(
            &mut http1,
            http::Method::POST,
            "/lease",
            bytes::Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
        assert_eq!(&answer[..], b"{}");
        let h2 = transport::connect(address, pki.controller.clone())
            .await
            .unwrap();
        assert!(matches!(h2, transport::Sender::H2(_)));
    }
}
