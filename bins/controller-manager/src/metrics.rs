//! `/metrics`: what the controllers did (approvals, signings, failures, cleanups), the work
//! queues (client-go's `workqueue_*` names), leadership (`leader_election_master_status`) and,
//! on the leader, the CSRs still waiting (`csr_open`, `csr_open_oldest_age_seconds`: the
//! "pending forever" and "approved but never issued" cases an alert should catch),
//! root-ca-cert-publisher's syncs (upstream's `root_ca_cert_publisher_sync_*`) and, ours, the
//! fleet's progress through a CA rotation (`kubelet_tls_bootstrap_nodes_*`, leader only), in
//! the OpenMetrics text format Prometheus scrapes.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use protocol::certificates::v1::CertificateSigningRequest;

use crate::csr::{is_approved, is_denied, is_failed, is_issued};
use crate::informer::CsrCache;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabels {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecognizerLabels {
    recognizer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignerLabels {
    signer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    signer: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpenLabels {
    signer: String,
    /// `pending` (neither approved nor denied) or `approved` (approved, not yet issued).
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BundleLabels {
    /// `current`, `other` or `unreported`.
    bundle: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerLabels {
    /// `current`, `other` or `unreported`.
    issuer: String,
}

/// Upstream's buckets for `root_ca_cert_publisher_sync_duration_seconds`.
fn sync_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Which waiting state a CSR is in, if any.
fn open_state(csr: &CertificateSigningRequest) -> Option<&'static str> {
    if is_issued(csr) || is_denied(csr) || is_failed(csr) {
        None
    } else if is_approved(csr) {
        Some("approved")
    } else {
        Some("pending")
    }
}

/// The gauges and counters of one work queue.
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    pub depth: Gauge,
    pub adds: Counter,
    pub retries: Counter,
}

/// Every metric of the program. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    approvals: Family<RecognizerLabels, Counter>,
    signings: Family<SignerLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    cleaned: Family<RuleLabels, Counter>,
    queue_depth: Family<NameLabels, Gauge>,
    queue_adds: Family<NameLabels, Counter>,
    queue_retries: Family<NameLabels, Counter>,
    leader: Family<NameLabels, Gauge>,
    ca_reloads: Family<SignerLabels, Counter>,
    open: Family<OpenLabels, Gauge>,
    oldest_open: Family<OpenLabels, Gauge<f64, AtomicU64>>,
    root_ca_syncs: Family<CodeLabels, Counter>,
    root_ca_sync_duration: Family<CodeLabels, Histogram, fn() -> Histogram>,
    nodes_trusting_root_ca: Family<BundleLabels, Gauge>,
    nodes_by_issuer: Family<IssuerLabels, Gauge>,
    /// The running controllers' CSR cache, counted at each scrape (none on a standby).
    csrs: Arc<RwLock<Option<Arc<CsrCache>>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let approvals = Family::<RecognizerLabels, Counter>::default();
        registry.register(
            "csr_approvals",
            "CSRs auto-approved by csrapproving, by recognizer",
            approvals.clone(),
        );
        let signings = Family::<SignerLabels, Counter>::default();
        registry.register(
            "csr_signings",
            "Certificates issued by csrsigning, by signer",
            signings.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "csr_signing_failures",
            "CSRs csrsigning could not sign: SignerValidationFailure (marked Failed) or error (retried)",
            failures.clone(),
        );
        let cleaned = Family::<RuleLabels, Counter>::default();
        registry.register(
            "csr_cleaned",
            "CSRs deleted by csrcleaner, by retention rule",
            cleaned.clone(),
        );
        let queue_depth = Family::<NameLabels, Gauge>::default();
        registry.register(
            "workqueue_depth",
            "Current depth of workqueue",
            queue_depth.clone(),
        );
        let queue_adds = Family::<NameLabels, Counter>::default();
        registry.register(
            "workqueue_adds",
            "Total number of adds handled by workqueue",
            queue_adds.clone(),
        );
        let queue_retries = Family::<NameLabels, Counter>::default();
        registry.register(
            "workqueue_retries",
            "Total number of retries handled by workqueue",
            queue_retries.clone(),
        );
        let leader = Family::<NameLabels, Gauge>::default();
        registry.register(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
            leader.clone(),
        );
        let ca_reloads = Family::<SignerLabels, Counter>::default();
        registry.register(
            "csr_signing_ca_reloads",
            "Signing CA files reloaded after a change on disk, by signer",
            ca_reloads.clone(),
        );
        let open = Family::<OpenLabels, Gauge>::default();
        registry.register(
            "csr_open",
            "CSRs waiting, by signer and state: pending (neither approved nor denied) or approved (not yet issued); only the leader reports",
            open.clone(),
        );
        let oldest_open = Family::<OpenLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "csr_open_oldest_age_seconds",
            "Age of the oldest waiting CSR, by signer and state, from its creation",
            oldest_open.clone(),
        );
        let root_ca_syncs = Family::<CodeLabels, Counter>::default();
        registry.register(
            "root_ca_cert_publisher_sync",
            "Number of namespace syncs happened in root ca cert publisher.",
            root_ca_syncs.clone(),
        );
        let root_ca_sync_duration =
            Family::<CodeLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                sync_duration_histogram,
            );
        registry.register(
            "root_ca_cert_publisher_sync_duration_seconds",
            "Number of namespace syncs happened in root ca cert publisher.",
            root_ca_sync_duration.clone(),
        );
        let nodes_trusting_root_ca = Family::<BundleLabels, Gauge>::default();
        registry.register(
            "kubelet_tls_bootstrap_nodes_trusting_root_ca",
            "Nodes by the CA bundle their agent reports trusting: current (the bundle published in kube-root-ca.crt), other, or unreported; only the leader reports",
            nodes_trusting_root_ca.clone(),
        );
        let nodes_by_issuer = Family::<IssuerLabels, Gauge>::default();
        registry.register(
            "kubelet_tls_bootstrap_nodes_by_client_certificate_issuer",
            "Nodes by the CA that issued their client certificate: current (the kube-apiserver-client-kubelet signer's CA), other, or unreported; only the leader reports",
            nodes_by_issuer.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            root_ca_syncs,
            root_ca_sync_duration,
            nodes_trusting_root_ca,
            nodes_by_issuer,
            open,
            oldest_open,
            csrs: Arc::default(),
            approvals,
            signings,
            failures,
            cleaned,
            queue_depth,
            queue_adds,
            queue_retries,
            leader,
            ca_reloads,
        }
    }

    pub fn approved(&self, recognizer: &str) {
        self.approvals
            .get_or_create(&RecognizerLabels {
                recognizer: recognizer.to_string(),
            })
            .inc();
    }

    pub fn signed(&self, signer: &str) {
        self.signings
            .get_or_create(&SignerLabels {
                signer: signer.to_string(),
            })
            .inc();
    }

    pub fn signing_failed(&self, signer: &str, reason: &str) {
        self.failures
            .get_or_create(&FailureLabels {
                signer: signer.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn cleaned(&self, rule: &str) {
        self.cleaned
            .get_or_create(&RuleLabels {
                rule: rule.to_string(),
            })
            .inc();
    }

    pub fn ca_reloaded(&self, signer: &str) {
        self.ca_reloads
            .get_or_create(&SignerLabels {
                signer: signer.to_string(),
            })
            .inc();
    }

    /// One root-ca-cert-publisher sync that ended with `code` (upstream's `200`, the API
    /// status code, or `500`) after `seconds`.
    pub fn root_ca_sync(&self, code: &str, seconds: f64) {
        let labels = CodeLabels {
            code: code.to_string(),
        };
        self.root_ca_syncs.get_or_create(&labels).inc();
        self.root_ca_sync_duration
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// The fleet's CA-rotation progress; `None` (leadership ended) drops the gauges.
    pub fn set_fleet(&self, counts: Option<crate::root_ca_fleet::FleetCounts>) {
        self.nodes_trusting_root_ca.clear();
        self.nodes_by_issuer.clear();
        let Some(counts) = counts else {
            return;
        };
        for (label, n) in counts.trusting_root_ca.labelled() {
            self.nodes_trusting_root_ca
                .get_or_create(&BundleLabels {
                    bundle: label.to_string(),
                })
                .set(n);
        }
        for (label, n) in counts.client_certificate_issuer.labelled() {
            self.nodes_by_issuer
                .get_or_create(&IssuerLabels {
                    issuer: label.to_string(),
                })
                .set(n);
        }
    }

    /// 1 while this process holds the lease `name`, else 0.
    pub fn set_leader(&self, name: &str, is_leader: bool) {
        self.leader
            .get_or_create(&NameLabels {
                name: name.to_string(),
            })
            .set(i64::from(is_leader));
    }

    /// The metrics of the queue `name`.
    pub fn queue(&self, name: &str) -> QueueMetrics {
        let labels = NameLabels {
            name: name.to_string(),
        };
        QueueMetrics {
            depth: self.queue_depth.get_or_create(&labels).clone(),
            adds: self.queue_adds.get_or_create(&labels).clone(),
            retries: self.queue_retries.get_or_create(&labels).clone(),
        }
    }

    /// Counts the CSRs of `cache` at each scrape from now on; `None` (leadership ended) stops.
    pub fn count_open_csrs(&self, cache: Option<Arc<CsrCache>>) {
        *self.csrs.write().unwrap_or_else(|e| e.into_inner()) = cache;
    }

    /// Sets `csr_open*` from the cache, dropping the label sets of states that emptied.
    fn refresh_open(&self) {
        self.open.clear();
        self.oldest_open.clear();
        let Some(cache) = self.csrs.read().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        let now = SystemTime::now();
        let mut counts: HashMap<OpenLabels, (i64, f64)> = HashMap::new();
        cache.for_each(|csr| {
            let Some(state) = open_state(csr) else {
                return;
            };
            let age = csr
                .metadata
                .creation_timestamp
                .as_ref()
                .filter(|t| !t.is_zero())
                .and_then(|t| now.duration_since(t.to_system_time()).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            let entry = counts
                .entry(OpenLabels {
                    signer: csr.spec.signer_name.clone(),
                    state: state.to_string(),
                })
                .or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(age);
        });
        for (labels, (count, oldest)) in counts {
            self.open.get_or_create(&labels).set(count);
            self.oldest_open.get_or_create(&labels).set(oldest);
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        self.refresh_open();
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_queue_metrics() {
        let m = Metrics::new();
        m.approved("nodeclient");
        m.signed("kubernetes.io/kube-apiserver-client-kubelet");
        m.signing_failed(
            "kubernetes.io/kube-apiserver-client-kubelet",
            "SignerValidationFailure",
        );
        m.set_leader("kube-controller-manager", true);
        let q = m.queue("csrsigning");
        q.depth.set(3);
        q.adds.inc();
        let text = m.render();
        for expected in [
            "csr_approvals_total{recognizer=\"nodeclient\"} 1",
            "csr_signings_total{signer=\"kubernetes.io/kube-apiserver-client-kubelet\"} 1",
            "csr_signing_failures_total{signer=\"kubernetes.io/kube-apiserver-client-kubelet\",reason=\"SignerValidationFailure\"} 1",
            "leader_election_master_status{name=\"kube-controller-manager\"} 1",
            "workqueue_depth{name=\"csrsigning\"} 3",
            "workqueue_adds_total{name=\"csrsigning\"} 1",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn root_ca_publisher_and_fleet_metrics_have_upstream_s_and_our_names() {
        use crate::root_ca_fleet::{FleetCounts, Split};

        let m = Metrics::new();
        m.root_ca_sync("200", 0.002);
        m.root_ca_sync("200", 0.002);
        m.root_ca_sync("409", 0.5);
        m.set_fleet(Some(FleetCounts {
            trusting_root_ca: Split {
                current: 3,
                other: 1,
                unreported: 0,
            },
            client_certificate_issuer: Split {
                current: 0,
                other: 2,
                unreported: 2,
            },
        }));
        let text = m.render();
        for expected in [
            "root_ca_cert_publisher_sync_total{code=\"200\"} 2",
            "root_ca_cert_publisher_sync_total{code=\"409\"} 1",
            "root_ca_cert_publisher_sync_duration_seconds_count{code=\"200\"} 2",
            "root_ca_cert_publisher_sync_duration_seconds_bucket{le=\"0.004\",code=\"200\"} 2",
            "kubelet_tls_bootstrap_nodes_trusting_root_ca{bundle=\"current\"} 3",
            "kubelet_tls_bootstrap_nodes_trusting_root_ca{bundle=\"other\"} 1",
            "kubelet_tls_bootstrap_nodes_trusting_root_ca{bundle=\"unreported\"} 0",
            "kubelet_tls_bootstrap_nodes_by_client_certificate_issuer{issuer=\"current\"} 0",
            "kubelet_tls_bootstrap_nodes_by_client_certificate_issuer{issuer=\"unreported\"} 2",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        m.set_fleet(None);
        assert!(
            !m.render()
                .contains("kubelet_tls_bootstrap_nodes_trusting_root_ca{")
        );
    }

    #[test]
    fn the_leader_reports_its_waiting_csrs_by_signer_and_state() {
        use protocol::certificates::v1::{CONDITION_APPROVED, CONDITION_DENIED};
        use protocol::meta::Time;

        use crate::csr::true_condition;

        let now = SystemTime::now();
        let csr = |name: &str, signer: &str, age_s: u64, conditions: &[&str], cert: bool| {
            let mut csr = CertificateSigningRequest::default();
            csr.metadata.name = name.into();
            csr.metadata.resource_version = "1".into();
            csr.metadata.creation_timestamp = Some(Time::from_system_time(
                now - std::time::Duration::from_secs(age_s),
            ));
            csr.spec.signer_name = signer.into();
            csr.status.conditions = conditions
                .iter()
                .map(|c| true_condition(c, "Test", "", None))
                .collect();
            if cert {
                csr.status.certificate = b"cert".to_vec();
            }
            csr
        };
        const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
        const SERVING: &str = "kubernetes.io/kubelet-serving";
        let cache = Arc::new(CsrCache::default());
        cache.upsert(csr("a", CLIENT, 30, &[], false));
        cache.upsert(csr("b", CLIENT, 90, &[], false));
        cache.upsert(csr("c", SERVING, 600, &[CONDITION_APPROVED], false));
        cache.upsert(csr("issued", CLIENT, 5000, &[CONDITION_APPROVED], true));
        cache.upsert(csr("denied", CLIENT, 5000, &[CONDITION_DENIED], false));

        let m = Metrics::new();
        assert!(!m.render().contains("csr_open{"), "a standby reports none");
        m.count_open_csrs(Some(Arc::clone(&cache)));
        let text = m.render();
        let value = |line: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(line))
                .unwrap_or_else(|| panic!("{line} missing from:\n{text}"))
                .trim()
                .parse()
                .unwrap()
        };
        let labels =
            |signer: &str, state: &str| format!("{{signer=\"{signer}\",state=\"{state}\"}}");
        assert_eq!(
            value(&format!("csr_open{}", labels(CLIENT, "pending"))),
            2.0
        );
        assert_eq!(
            value(&format!("csr_open{}", labels(SERVING, "approved"))),
            1.0
        );
        let oldest = value(&format!(
            "csr_open_oldest_age_seconds{}",
            labels(CLIENT, "pending")
        ));
        assert!((90.0..100.0).contains(&oldest), "{oldest}");
        assert!(!text.contains(&labels(CLIENT, "approved")), "{text}");

        // A state that empties disappears; leadership lost: nothing.
        cache.remove("c");
        assert!(!m.render().contains(&labels(SERVING, "approved")));
        m.count_open_csrs(None);
        assert!(!m.render().contains("csr_open{"));
    }
}
