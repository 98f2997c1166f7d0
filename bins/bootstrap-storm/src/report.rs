//! The figures of one run: written as JSON and printed as text.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::procstat::Memory;
use crate::signing::SigningResult;
use crate::stats::Summary;

#[derive(Debug, Serialize)]
pub struct Report {
    pub settings: Settings,
    pub storm: StormFigures,
    pub apiserver: Option<ProcessFigures>,
    pub controller_manager: Option<ProcessFigures>,
    /// The benchmark process itself (all N simulated kubelets).
    pub load_generator: ProcessFigures,
    /// Requests the apiserver served during the storm, by `VERB resource`.
    pub requests_by_kind: BTreeMap<String, f64>,
    pub requests_total: f64,
    /// Successful TLS handshakes the apiserver counted during the storm.
    pub tls_handshakes: f64,
    pub steady: Option<SteadyFigures>,
    /// One real kubelet-agent process.
    pub kubelet_agent: Option<Memory>,
    pub signing: Option<SigningResult>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub nodes: u32,
    pub concurrency: u32,
    pub controller_workers: u16,
    pub signer_key: crate::flags::SignerKey,
    pub store: String,
    pub steady_seconds: u64,
    pub lease_interval_seconds: u64,
    pub cpus: usize,
}

#[derive(Debug, Serialize)]
pub struct StormFigures {
    pub nodes_certified: usize,
    pub nodes_registered: usize,
    pub nodes_failed: usize,
    pub errors: Vec<String>,
    pub timed_out: bool,
    /// Storm start to the last certificate on disk.
    pub seconds_to_all_certified: f64,
    /// Storm start to the last Node + Lease created.
    pub seconds_to_all_registered: f64,
    pub nodes_per_second: f64,
    /// Per node, from its start to its certificate on disk.
    pub time_to_certificate: Summary,
}

#[derive(Debug, Serialize)]
pub struct ProcessFigures {
    /// CPU seconds (user + system) spent during the storm.
    pub storm_cpu_seconds: Option<f64>,
    pub memory_after_storm: Option<Memory>,
}

#[derive(Debug, Serialize)]
pub struct SteadyFigures {
    pub seconds: f64,
    pub renewals: usize,
    pub renewals_per_second: f64,
    pub errors: usize,
    pub lease_renewal: Summary,
    pub apiserver_memory: Option<Memory>,
    pub apiserver_cpu_seconds: Option<f64>,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn memory_text(memory: Option<Memory>) -> String {
    memory.map_or_else(
        || "n/a".to_string(),
        |m| {
            format!(
                "RSS {:.1} MiB, peak {:.1} MiB",
                mib(m.rss_bytes),
                mib(m.peak_rss_bytes)
            )
        },
    )
}

fn cpu_text(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "n/a".to_string(), |s| format!("{s:.2} CPU-s"))
}

impl Report {
    /// The human summary printed at the end of a run.
    pub fn text(&self) -> String {
        let s = &self.storm;
        let t = &s.time_to_certificate;
        let mut out = format!(
            "bootstrap storm: {} nodes, concurrency {}, {} signer, store {}\n\
             certified {} / registered {} / failed {}{}\n\
             all certified in {:.2} s ({:.0} nodes/s), all registered in {:.2} s\n\
             time to certificate: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms\n",
            self.settings.nodes,
            self.settings.concurrency,
            serde_json::to_value(self.settings.signer_key)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            self.settings.store,
            s.nodes_certified,
            s.nodes_registered,
            s.nodes_failed,
            if s.timed_out { " (timed out)" } else { "" },
            s.seconds_to_all_certified,
            s.nodes_per_second,
            s.seconds_to_all_registered,
            t.p50_ms,
            t.p90_ms,
            t.p99_ms,
            t.max_ms,
        );
        for (name, figures) in [
            ("apiserver", self.apiserver.as_ref()),
            ("controller-manager", self.controller_manager.as_ref()),
            ("load generator", Some(&self.load_generator)),
        ] {
            if let Some(f) = figures {
                out.push_str(&format!(
                    "{name}: {} in the storm, {}\n",
                    cpu_text(f.storm_cpu_seconds),
                    memory_text(f.memory_after_storm)
                ));
            }
        }
        out.push_str(&format!(
            "apiserver requests in the storm: {:.0} ({:.1} per node), TLS handshakes {:.0}\n",
            self.requests_total,
            self.requests_total / (self.settings.nodes.max(1) as f64),
            self.tls_handshakes
        ));
        for (kind, count) in &self.requests_by_kind {
            out.push_str(&format!("  {kind:<50} {count:>8.0}\n"));
        }
        if let Some(steady) = &self.steady {
            let l = &steady.lease_renewal;
            out.push_str(&format!(
                "steady {:.0} s: {} lease renewals ({:.0}/s), {} errors; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; apiserver {}, {}\n",
                steady.seconds,
                steady.renewals,
                steady.renewals_per_second,
                steady.errors,
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                memory_text(steady.apiserver_memory),
                cpu_text(steady.apiserver_cpu_seconds),
            ));
        }
        if let Some(agent) = self.kubelet_agent {
            out.push_str(&format!(
                "one kubelet-agent process: {}\n",
                memory_text(Some(agent))
            ));
        }
        if let Some(signing) = &self.signing {
            out.push_str(&format!(
                "signing {} pending CSRs: controller-manager {:.0}/s ({:.2} s, first after {:.2} s, {}; apiserver {})",
                signing.csrs,
                signing.controller_manager_per_second,
                signing.controller_manager_seconds,
                signing.first_certificate_seconds,
                cpu_text(signing.controller_manager_cpu_seconds),
                cpu_text(signing.apiserver_cpu_seconds),
            ));
            if let (Some(cfssl), Some(ratio)) = (&signing.cfssl, signing.ratio) {
                out.push_str(&format!(
                    "; cfssl serve {:.0}/s ({:.2} s, {}); ratio {:.2}",
                    cfssl.per_second,
                    cfssl.seconds,
                    cpu_text(cfssl.cpu_seconds),
                    ratio
                ));
            }
            out.push('\n');
            if let Some(note) = &signing.note {
                out.push_str(&format!("  {note}\n"));
            }
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}
