//! `/metrics`: what the controllers did (approvals, signings, failures, cleanups), the work
//! queues (client-go's `workqueue_*` names), leadership (`leader_election_master_status`) and,
//! on the leader, the CSRs still waiting (`csr_open`, `csr_open_oldest_age_seconds`: the
//! "pending forever" and "approved but never issued" cases an alert should catch), in the
//! OpenMetrics text format Prometheus scrapes.

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
        Metrics {
            registry: Arc::new(registry),
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
