//! `lab up`: prepare the state folder, start the apiserver, seed the bindings through the API,
//! start the controller-manager and the kubelet-agents, then show progress from API watches
//! until Ctrl-C / SIGTERM (or, with `--exit-when-ready`, until every node has joined), and stop
//! every child in reverse order.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use client::ListParams;
use protocol::certificates::v1::CertificateSigningRequest;
use protocol::coordination::v1::Lease;
use protocol::core::v1::{Node, Secret};
use tokio::signal::unix::{SignalKind, signal};

use crate::binaries::{self, Binaries};
use crate::children::{Supervisor, log_tail};
use crate::cli::UpArgs;
use crate::init::{self, InitOptions};
use crate::progress::{Action, Tracker, format_line};
use crate::state::{Layout, NodeSettings, Settings};
use crate::{api, down, duration, ports};

const APISERVER_READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(10);
const LOG_TAIL_LINES: usize = 20;

/// Why the lab stopped.
#[derive(Debug)]
enum Ending {
    Signal(&'static str),
    AllJoined,
}

pub async fn up(args: &UpArgs) -> anyhow::Result<()> {
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => binaries::own_dir()?,
    };
    let bins = binaries::find(&bin_dir)?;
    duration::parse(&args.signing_duration).context("--signing-duration")?;
    let exit_when_ready = args
        .exit_when_ready
        .as_deref()
        .map(duration::parse)
        .transpose()
        .context("--exit-when-ready")?;
    let count = usize::from(args.nodes);
    let ports = ports::pick(2 + 2 * count, args.base_port)?;
    let nodes: Vec<NodeSettings> = init::node_names(count)
        .into_iter()
        .enumerate()
        .map(|(i, name)| NodeSettings {
            name,
            port: ports[2 + 2 * i],
            healthz_port: ports[3 + 2 * i],
        })
        .collect();
    let layout = Layout::new(&args.state.state_dir);
    let server = url::Url::parse(&format!("https://127.0.0.1:{}", ports[0]))?;
    let settings = init::init(
        &layout,
        &InitOptions {
            server,
            apiserver_sans: vec!["127.0.0.1".into(), "localhost".into()],
            apiserver_port: ports[0],
            controller_manager_port: ports[1],
            nodes,
            manual_approval: args.manual_approval,
            signing_duration: args.signing_duration.clone(),
            token_ttl: Some(Duration::from_secs(24 * 3600)),
        },
    )?;
    println!(
        "lab: state folder {} ready (CA, certificates, kubeconfigs, bootstrap token {})",
        layout.root().display(),
        settings.token_id
    );

    // Signals first, so a Ctrl-C during start-up still stops what was started.
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut supervisor = Supervisor::default();
    let start = Instant::now();
    let result = tokio::select! {
        result = run(&layout, &settings, &bins, &mut supervisor, start, exit_when_ready) => result,
        _ = interrupt.recv() => Ok(Ending::Signal("SIGINT")),
        _ = terminate.recv() => Ok(Ending::Signal("SIGTERM")),
    };
    match &result {
        Ok(Ending::Signal(name)) => println!("\nlab: {name} received, stopping"),
        Ok(Ending::AllJoined) => println!("lab: every node has joined, stopping"),
        Err(_) => println!("lab: stopping"),
    }
    for (name, outcome) in supervisor.stop_all(STOP_GRACE).await {
        println!("  {name}: {outcome}");
    }
    let _ = std::fs::remove_file(layout.pid_file());
    println!(
        "lab: stopped; the state stays in {} (`lab down --state-dir {}` removes it)",
        layout.root().display(),
        layout.root().display()
    );
    result.map(|_| ())
}

/// How long after expiry a node's client certificate may still renew itself, here and in
/// the compose and systemd set-ups.
pub const MAX_OFFLINE_WINDOW: &str = "720h";

/// How often the lab's kubelet-agents look for a new CA bundle.
pub const ROOT_CA_CHECK_FREQUENCY: &str = "5s";

fn apiserver_args(layout: &Layout, settings: &Settings) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    vec![
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", settings.apiserver_port),
        format!("--tls-cert-file={}", path(&layout.apiserver_cert())),
        format!("--tls-private-key-file={}", path(&layout.apiserver_key())),
        // The trust bundle, not the signing CA: `lab ca rotate` adds the new CA to it.
        format!("--client-ca-file={}", path(&layout.ca_bundle())),
        format!("--token-auth-file={}", path(&layout.token_csv())),
        "--enable-bootstrap-token-auth".into(),
        "--authorization-mode=Node,RBAC".into(),
        // A node off for up to 30 days renews its expired certificate itself (decision 0027).
        format!("--client-certificate-max-offline-window={MAX_OFFLINE_WINDOW}"),
        format!("--data-dir={}", path(&layout.apiserver_data())),
    ]
}

fn controller_manager_args(layout: &Layout, settings: &Settings) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    let kubeconfig = path(&layout.controller_manager_kubeconfig());
    vec![
        format!("--kubeconfig={kubeconfig}"),
        // Its secure port asks the apiserver who may read /metrics, as kubeadm sets it up.
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        format!("--client-ca-file={}", path(&layout.ca_cert())),
        format!("--cluster-signing-cert-file={}", path(&layout.ca_cert())),
        format!("--cluster-signing-key-file={}", path(&layout.ca_key())),
        format!("--cluster-signing-duration={}", settings.signing_duration),
        // kube-root-ca.crt in every namespace: the nodes follow a CA rotation with it.
        format!("--root-ca-file={}", path(&layout.ca_bundle())),
        // Ours (decision 0025): a node's older client certificates stop working 5 minutes
        // after it renews.
        "--supersede-rotated-client-certificates-after=5m".into(),
        // As kubeadm's manifest (less bootstrapsigner, not built here): expired bootstrap
        // tokens are deleted, single-use ones once their node is up (decision 0026).
        "--controllers=*,tokencleaner".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={}", settings.controller_manager_port),
    ]
}

fn kubelet_agent_args(layout: &Layout, node: &NodeSettings) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    vec![
        format!(
            "--bootstrap-kubeconfig={}",
            path(&layout.node_bootstrap_kubeconfig(&node.name))
        ),
        format!("--kubeconfig={}", path(&layout.node_kubeconfig(&node.name))),
        format!("--cert-dir={}", path(&layout.node_cert_dir(&node.name))),
        format!("--hostname-override={}", node.name),
        "--node-ip=127.0.0.1".into(),
        "--address=127.0.0.1".into(),
        format!("--port={}", node.port),
        format!("--healthz-port={}", node.healthz_port),
        // The kubelet port as kubeadm configures it: who may use it is the apiserver's call.
        "--anonymous-auth=false".into(),
        format!("--client-ca-file={}", path(&layout.ca_cert())),
        "--authentication-token-webhook".into(),
        "--authorization-mode=Webhook".into(),
        "--rotate-certificates".into(),
        "--rotate-server-certificates".into(),
        // Ours (decision 0029): a CA rotation reaches the lab's nodes within seconds.
        format!("--root-ca-check-frequency={ROOT_CA_CHECK_FREQUENCY}"),
    ]
}

/// A child that died on its own: its name, status and the tail of its log.
fn died(exit: crate::children::Exit) -> anyhow::Error {
    anyhow::anyhow!(
        "{} exited unexpectedly ({}); last lines of {}:\n{}",
        exit.name,
        exit.status,
        exit.log.display(),
        log_tail(&exit.log, LOG_TAIL_LINES)
    )
}

async fn run(
    layout: &Layout,
    settings: &Settings,
    bins: &Binaries,
    supervisor: &mut Supervisor,
    start: Instant,
    exit_when_ready: Option<Duration>,
) -> anyhow::Result<Ending> {
    let apiserver_pid = supervisor.spawn(
        "apiserver",
        &bins.apiserver,
        &apiserver_args(layout, settings),
        &layout.log("apiserver"),
    )?;
    down::write_pid_file(layout, std::process::id(), &supervisor.pids())?;
    let admin = api::client_from_kubeconfig(&layout.admin_kubeconfig(), None)?;
    tokio::select! {
        ready = api::wait_ready(&admin, APISERVER_READY_TIMEOUT) => ready.with_context(|| {
            format!("last lines of {}:\n{}", layout.log("apiserver").display(),
                log_tail(&layout.log("apiserver"), LOG_TAIL_LINES))
        })?,
        exit = supervisor.next_exit() => return Err(died(exit)),
    }
    println!(
        "[{:>8.2}s] apiserver ready on {} (pid {apiserver_pid})",
        start.elapsed().as_secs_f64(),
        settings.server
    );

    let secret_path = layout.bootstrap_token_secret();
    let secret: Secret = serde_json::from_str(
        &std::fs::read_to_string(&secret_path)
            .with_context(|| format!("cannot read {}", secret_path.display()))?,
    )
    .with_context(|| format!("{} is not a Secret", secret_path.display()))?;
    for line in api::seed(&admin, &secret, settings.manual_approval).await? {
        println!("[{:>8.2}s] {line}", start.elapsed().as_secs_f64());
    }

    // Watches before the controller-manager and the nodes start: nothing is missed.
    let mut csrs = admin.watch::<CertificateSigningRequest>(None, ListParams::default());
    let mut node_watch = admin.watch::<Node>(None, ListParams::default());
    let mut leases = admin.watch::<Lease>(Some("kube-node-lease"), ListParams::default());

    supervisor.spawn(
        "controller-manager",
        &bins.controller_manager,
        &controller_manager_args(layout, settings),
        &layout.log("controller-manager"),
    )?;
    for node in &settings.nodes {
        supervisor.spawn(
            &node.name,
            &bins.kubelet_agent,
            &kubelet_agent_args(layout, node),
            &layout.log(&node.name),
        )?;
    }
    down::write_pid_file(layout, std::process::id(), &supervisor.pids())?;
    print_banner(layout, settings);

    let names: Vec<String> = settings.nodes.iter().map(|n| n.name.clone()).collect();
    let mut tracker = Tracker::new(&names);
    let deadline = exit_when_ready.map(|d| tokio::time::Instant::now() + d);
    let admin_kubeconfig = absolute(&layout.admin_kubeconfig());
    let mut watch_errors = 0u32;
    let admin_path = layout.admin_kubeconfig();
    let mut admin_seen = std::fs::read(&admin_path).unwrap_or_default();
    let mut follow = tokio::time::interval(KUBECONFIG_CHECK);
    loop {
        let (lines, actions) = tokio::select! {
            exit = supervisor.next_exit() => return Err(died(exit)),
            _ = follow.tick() => {
                follow_kubeconfig(&admin, &admin_path, &mut admin_seen);
                Default::default()
            }
            _ = sleep_until(deadline) => {
                for line in tracker.summary() { println!("  {line}"); }
                anyhow::bail!("not every node joined within --exit-when-ready");
            }
            event = csrs.next() => match event {
                Some(Ok(event)) => tracker.on_csr(event.object()),
                Some(Err(e)) => { watch_error(&mut watch_errors, &e, start); Default::default() }
                None => anyhow::bail!("the CSR watch ended"),
            },
            event = node_watch.next() => match event {
                Some(Ok(event)) => (tracker.on_node(event.object()), Vec::new()),
                Some(Err(e)) => { watch_error(&mut watch_errors, &e, start); Default::default() }
                None => anyhow::bail!("the Node watch ended"),
            },
            event = leases.next() => match event {
                Some(Ok(event)) => (tracker.on_lease(event.object()), Vec::new()),
                Some(Err(e)) => { watch_error(&mut watch_errors, &e, start); Default::default() }
                None => anyhow::bail!("the Lease watch ended"),
            },
        };
        for line in &lines {
            println!("{}", format_line(start.elapsed(), line));
        }
        for action in actions {
            act(&action, settings.manual_approval, &admin_kubeconfig, start);
        }
        if deadline.is_some() && tracker.all_joined() {
            for line in tracker.summary() {
                println!("  {line}");
            }
            return Ok(Ending::AllJoined);
        }
    }
}

/// How often the live view looks at the admin kubeconfig.
const KUBECONFIG_CHECK: Duration = Duration::from_secs(2);

/// `lab ca rotate` rewrites the admin kubeconfig (a new CA, then a certificate from it): the
/// live view's client follows it, as the controller-manager follows its own (decision 0029).
fn follow_kubeconfig(client: &client::Client, path: &Path, seen: &mut Vec<u8>) {
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    if bytes == *seen {
        return;
    }
    let resolved = match api::resolve_kubeconfig(path) {
        Ok(resolved) => resolved,
        // Half-written: the next look reads it whole.
        Err(error) => return tracing::debug!(error = %format!("{error:#}"), "admin kubeconfig"),
    };
    let trust = match &resolved.ca_pem {
        Some(ca) => client.set_trust(ca),
        None => Ok(()),
    };
    match trust.and_then(|()| client.set_identity(resolved.identity.clone())) {
        Ok(()) => *seen = bytes,
        Err(error) => tracing::warn!(%error, "cannot use the rewritten admin kubeconfig"),
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn watch_error(count: &mut u32, error: &client::ClientError, start: Instant) {
    *count += 1;
    // The watcher recovers by itself; say so without flooding the view.
    if count.is_power_of_two() {
        println!(
            "[{:>8.2}s] (API watch interrupted, resuming: {error})",
            start.elapsed().as_secs_f64()
        );
    }
}

fn act(action: &Action, manual_approval: bool, admin_kubeconfig: &str, start: Instant) {
    let elapsed = start.elapsed().as_secs_f64();
    match action {
        Action::ClientPending { csr } if manual_approval => println!(
            "[{elapsed:>8.2}s] waiting for a person: KUBECONFIG={admin_kubeconfig} kubectl certificate approve {csr}"
        ),
        Action::ServingPending { csr } if manual_approval => println!(
            "[{elapsed:>8.2}s] serving CSR {csr} waits for: KUBECONFIG={admin_kubeconfig} kubectl certificate approve {csr}"
        ),
        // Otherwise csrapproving approves both (the seeded bindings); a serving CSR it leaves
        // waiting gets an event saying why (`kubectl describe csr`).
        Action::ClientPending { .. } | Action::ServingPending { .. } => {}
    }
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn print_banner(layout: &Layout, settings: &Settings) {
    let kubeconfig = absolute(&layout.admin_kubeconfig());
    println!();
    println!("  apiserver           {}", settings.server);
    println!(
        "  controller-manager  https://127.0.0.1:{}",
        settings.controller_manager_port
    );
    for node in &settings.nodes {
        println!(
            "  {:<19} https://127.0.0.1:{} (healthz :{})",
            node.name, node.port, node.healthz_port
        );
    }
    println!("  logs                {}", absolute(&layout.logs_dir()));
    println!();
    println!("Look inside with:");
    println!("  KUBECONFIG={kubeconfig} kubectl get csr,nodes");
    if settings.manual_approval {
        println!(
            "Node CSRs wait for you (--manual-approval):\n  KUBECONFIG={kubeconfig} kubectl certificate approve <csr-name>"
        );
    }
    println!(
        "Ctrl-C stops everything; `lab down --state-dir {}` also removes the state.\n",
        layout.root().display()
    );
}
