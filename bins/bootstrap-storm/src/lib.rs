//! bootstrap-storm: how fast can a cluster of our three programs admit new nodes, and where
//! does the time go. Starts (or targets) an apiserver and a controller-manager, runs N
//! kubelets in this process with the `kubelet` crate's real code, then a steady Lease phase,
//! one real kubelet-agent and a signing comparison with `cfssl serve`. Prints the figures and
//! writes `report.json`, `time-to-certificate.svg` and `certified-over-time.svg` to `--out`.
//! Exit code 1 when not every node joined. [`floor`] is the `transport-floor` program: the
//! same storm's TLS, HTTP/2 and crypto with nothing else, to tell what any implementation
//! could reach on the machine.

mod agent;
mod cluster;
pub mod flags;
pub mod floor;
mod plot;
pub mod procstat;
mod prom;
pub mod report;
mod signing;
pub mod stats;
mod steady;
mod storm;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::flags::Args;
use crate::report::{ProcessFigures, Report, Settings, SteadyFigures, StormFigures};
use crate::stats::Summary;

fn bin_dir(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.bin_dir {
        return Ok(dir.clone());
    }
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// Scratch folders on tmpfs when there is one: the kubelets' files are the load generator's
/// cost, not the cluster's.
fn scratch(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix(prefix);
        b
    };
    Ok(if shm.is_dir() {
        builder.tempdir_in(shm)?
    } else {
        builder.tempdir()?
    })
}

/// The whole benchmark: cluster, storm, steady phase, agent, signing; figures printed and
/// written to `--out`.
pub async fn run(args: Args) -> anyhow::Result<Report> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let out = std::fs::canonicalize(&args.out)?;
    let work = tempfile::Builder::new().prefix("work-").tempdir_in(&out)?;
    let kubelets = scratch("bootstrap-storm-kubelets-")?;
    let tmpfs_store = scratch("bootstrap-storm-store-")?;
    let data_dir = match args.store.as_str() {
        "tmpfs" => tmpfs_store.path().join("data"),
        "disk" => work.path().join("data"),
        path => PathBuf::from(path),
    };
    let mut notes = Vec::new();

    let mut cluster = match (&args.server, &args.admin_kubeconfig) {
        (Some(server), Some(admin)) => {
            notes.push(
                "targeted a running apiserver: no process figures, no signing comparison".into(),
            );
            cluster::target(work.path(), server.clone(), admin).await?
        }
        _ => {
            let bins = bin_dir(&args)?;
            cluster::start(
                work.path(),
                &bins,
                &data_dir,
                args.signer_key.algorithm(),
                args.controller_workers,
            )
            .await?
        }
    };
    eprintln!(
        "bootstrap-storm: cluster ready at {}; {} kubelets joining, {} at a time",
        cluster.server, args.nodes, args.concurrency
    );

    // ---- the storm ----
    let before = cluster.scrape().await?;
    let apiserver_pid = cluster.apiserver_pid();
    let cm_pid = cluster.controller_manager_pid();
    let me = std::process::id();
    let cpu = |pid: Option<u32>| pid.and_then(procstat::cpu_time);
    let (api_cpu0, cm_cpu0, me_cpu0) = (cpu(apiserver_pid), cpu(cm_pid), cpu(Some(me)));
    let result = storm::run(
        args.nodes,
        args.concurrency,
        &cluster.bootstrap_kubeconfig,
        kubelets.path(),
        Duration::from_secs(args.timeout_seconds),
    )
    .await;
    let delta = |now: Option<Duration>, then: Option<Duration>| {
        now.zip(then).map(|(a, b)| (a - b).as_secs_f64())
    };
    let figures = |pid: Option<u32>, then: Option<Duration>| ProcessFigures {
        storm_cpu_seconds: delta(cpu(pid), then),
        memory_after_storm: pid.and_then(procstat::memory),
    };
    let apiserver = apiserver_pid.map(|pid| figures(Some(pid), api_cpu0));
    let controller_manager = cm_pid.map(|pid| figures(Some(pid), cm_cpu0));
    let load_generator = figures(Some(me), me_cpu0);
    let after = cluster.scrape().await?;
    let requests = after.since(&before);

    let ttc: Vec<f64> = result
        .joined
        .iter()
        .map(|j| j.time_to_certificate)
        .collect();
    let certified_at: Vec<f64> = result.joined.iter().map(|j| j.certified_at).collect();
    let all_certified = certified_at.iter().copied().fold(0.0, f64::max);
    let all_registered = result
        .joined
        .iter()
        .map(|j| j.registered_at)
        .fold(0.0, f64::max);
    let storm_figures = StormFigures {
        nodes_certified: result.joined.len(),
        nodes_registered: result.joined.len(),
        nodes_failed: result.failed,
        errors: result.errors.clone(),
        timed_out: result.timed_out,
        seconds_to_all_certified: all_certified,
        seconds_to_all_registered: all_registered,
        nodes_per_second: if all_certified > 0.0 {
            result.joined.len() as f64 / all_certified
        } else {
            0.0
        },
        time_to_certificate: Summary::of(&ttc),
    };
    let title = format!("{} nodes, concurrency {}", args.nodes, args.concurrency);
    plot::time_to_certificate(
        &out.join("time-to-certificate.svg"),
        &ttc,
        &format!("Time to certificate: {title}"),
    )?;
    plot::certified_over_time(
        &out.join("certified-over-time.svg"),
        &certified_at,
        &format!("Nodes certified over time: {title}"),
    )?;
    eprintln!(
        "bootstrap-storm: storm done: {} joined, {} failed in {:.2} s",
        result.joined.len(),
        result.failed,
        result.elapsed.as_secs_f64()
    );

    // ---- one real kubelet-agent ----
    let kubelet_agent = if args.no_agent || cluster.launch.is_none() {
        None
    } else {
        match agent::measure(&cluster, Duration::from_secs(2)).await {
            Ok(memory) => Some(memory),
            Err(e) => {
                notes.push(format!("kubelet-agent RSS not measured: {e:#}"));
                None
            }
        }
    };

    // ---- steady state ----
    let heartbeats: Vec<_> = result.joined.into_iter().map(|j| j.heartbeat).collect();
    let steady = if args.steady_seconds > 0 && !heartbeats.is_empty() {
        eprintln!(
            "bootstrap-storm: steady phase: {} nodes renew their Lease every {} s for {} s",
            heartbeats.len(),
            args.lease_interval,
            args.steady_seconds
        );
        let api_cpu = cpu(apiserver_pid);
        // The steady phase's own peak, not the storm's.
        if let Some(Err(e)) = apiserver_pid.map(procstat::reset_peak) {
            notes.push(format!(
                "steady-phase apiserver peak RSS is the process's lifetime peak: {e}"
            ));
        }
        let steady = steady::run(
            heartbeats,
            Duration::from_secs(args.lease_interval),
            Duration::from_secs(args.steady_seconds),
        )
        .await;
        // Read while every node is still connected (their connections are the bulk of it).
        let apiserver_memory = apiserver_pid.and_then(procstat::memory);
        let apiserver_cpu_seconds = delta(cpu(apiserver_pid), api_cpu);
        drop(steady.heartbeats);
        let seconds = steady.elapsed.as_secs_f64();
        Some(SteadyFigures {
            seconds,
            renewals: steady.latencies.len(),
            renewals_per_second: steady.latencies.len() as f64 / seconds,
            errors: steady.errors,
            lease_renewal: Summary::of(&steady.latencies),
            apiserver_memory,
            apiserver_cpu_seconds,
        })
    } else {
        drop(heartbeats);
        None
    };

    // ---- signing path: controller-manager vs cfssl ----
    let signing = if args.signing_csrs > 0 && cluster.launch.is_some() {
        eprintln!(
            "bootstrap-storm: signing comparison with {} pending CSRs",
            args.signing_csrs
        );
        let bootstrap =
            kubeconfig::Kubeconfig::load(&cluster.bootstrap_kubeconfig)?.resolve(None)?;
        let token_client = client::Client::from_kubeconfig(&bootstrap, "bootstrap-storm")?;
        match signing::run(&mut cluster, args.signing_csrs, &args.cfssl, &token_client).await {
            Ok(signing) => Some(signing),
            Err(e) => {
                notes.push(format!("signing comparison failed: {e:#}"));
                None
            }
        }
    } else {
        None
    };

    let report = Report {
        settings: Settings {
            nodes: args.nodes,
            concurrency: args.concurrency,
            controller_workers: args.controller_workers,
            signer_key: args.signer_key,
            store: if args.server.is_some() {
                "(external)".to_string()
            } else {
                format!("{} ({})", args.store, data_dir.display())
            },
            steady_seconds: args.steady_seconds,
            lease_interval_seconds: args.lease_interval,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
        },
        storm: storm_figures,
        apiserver,
        controller_manager,
        load_generator,
        requests_total: requests.total_requests(),
        requests_by_kind: requests.requests,
        tls_handshakes: requests.tls_handshakes,
        steady,
        kubelet_agent,
        signing,
        notes,
    };
    let json = out.join("report.json");
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    print!("{}", report.text());
    println!(
        "wrote {}, {}, {}",
        json.display(),
        out.join("time-to-certificate.svg").display(),
        out.join("certified-over-time.svg").display()
    );
    // Children stop when `cluster` drops; logs stay in the work folder only on request.
    if std::env::var_os("STORM_KEEP_WORK").is_some() {
        let kept = work.keep();
        eprintln!("bootstrap-storm: kept {}", kept.display());
    }
    Ok(report)
}
