//! The bootstrap-storm benchmark at a small N keeps working: every node certified and
//! registered through the real apiserver and controller-manager, the report's figures
//! present and plausible, both charts written. Figures themselves are not judged here
//! (benchmarks are not tests; docs/performance.md holds the full runs).

use std::time::Duration;

const NODES: u64 = 100;
const SIGNING_CSRS: u64 = 50;

#[test]
fn small_storm_certifies_every_node_and_writes_the_report() -> anyhow::Result<()> {
    let out = tempfile::tempdir()?;
    let (output, report) = e2e::run_bootstrap_storm(
        out.path(),
        &[
            "--nodes",
            &NODES.to_string(),
            "--concurrency",
            "50",
            "--steady-seconds",
            "3",
            "--lease-interval",
            "1",
            "--signing-csrs",
            &SIGNING_CSRS.to_string(),
        ],
        Duration::from_secs(120),
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("nodes/s"), "{stdout}");

    let storm = &report["storm"];
    assert_eq!(storm["nodes_certified"], NODES, "{report:#}");
    assert_eq!(storm["nodes_registered"], NODES, "{report:#}");
    assert_eq!(storm["nodes_failed"], 0, "{report:#}");
    assert!(storm["nodes_per_second"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(storm["seconds_to_all_certified"].as_f64().unwrap_or(0.0) > 0.0);
    let ttc = &storm["time_to_certificate"];
    assert_eq!(ttc["count"], NODES);
    for p in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
        assert!(ttc[p].as_f64().unwrap_or(0.0) > 0.0, "{p}: {ttc}");
    }
    assert!(ttc["p50_ms"].as_f64() <= ttc["p99_ms"].as_f64());

    // Each kubelet created exactly one CSR, one Node and one Lease, and opened its own
    // connections (bootstrap token, then mutual TLS).
    let requests = &report["requests_by_kind"];
    assert_eq!(
        requests["POST certificatesigningrequests"], NODES as f64,
        "{requests}"
    );
    assert_eq!(requests["POST nodes"], NODES as f64, "{requests}");
    assert_eq!(requests["POST leases"], NODES as f64, "{requests}");
    assert!(
        report["tls_handshakes"].as_f64().unwrap_or(0.0) >= (2 * NODES) as f64,
        "{report:#}"
    );

    for process in ["apiserver", "controller_manager"] {
        let figures = &report[process];
        assert!(
            figures["storm_cpu_seconds"].as_f64().is_some(),
            "{process}: {figures}"
        );
        assert!(
            figures["memory_after_storm"]["peak_rss_bytes"]
                .as_u64()
                .unwrap_or(0)
                > 0,
            "{process}: {figures}"
        );
    }
    let steady = &report["steady"];
    assert!(
        steady["renewals"].as_u64().unwrap_or(0) >= NODES,
        "{steady}"
    );
    assert_eq!(steady["errors"], 0, "{steady}");
    assert!(steady["lease_renewal"]["p99_ms"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(
        steady["apiserver_memory"]["rss_bytes"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    assert!(
        report["kubelet_agent"]["rss_bytes"].as_u64().unwrap_or(0) > 0,
        "{report:#}"
    );

    let signing = &report["signing"];
    assert_eq!(signing["csrs"], SIGNING_CSRS, "{report:#}");
    assert!(
        signing["controller_manager_per_second"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    if std::path::Path::new("/usr/bin/cfssl").is_file() {
        assert!(
            signing["cfssl"]["per_second"].as_f64().unwrap_or(0.0) > 0.0,
            "{signing}"
        );
        assert!(signing["ratio"].as_f64().unwrap_or(0.0) > 0.0, "{signing}");
    }

    for chart in ["time-to-certificate.svg", "certified-over-time.svg"] {
        let svg = std::fs::read_to_string(out.path().join(chart))?;
        assert!(svg.starts_with("<svg"), "{chart}");
        assert!(svg.contains("nodes"), "{chart}");
    }
    Ok(())
}

/// The transport floor program runs its storm and signing phase and prints both figures;
/// a zero concurrency is refused on the command line instead of hanging.
#[test]
fn transport_floor_prints_both_floors_and_refuses_zero_concurrency() -> anyhow::Result<()> {
    let binary = e2e::paths::workspace_binary("transport-floor")?;
    let output = std::process::Command::new(&binary)
        .args([
            "--nodes",
            "40",
            "--concurrency",
            "10",
            "--signing-csrs",
            "20",
        ])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("storm floor: 40 nodes"), "{stdout}");
    assert!(stdout.contains("signing floor: 20 CSRs"), "{stdout}");

    let refused = std::process::Command::new(&binary)
        .args(["--concurrency", "0"])
        .output()?;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--concurrency"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    Ok(())
}
