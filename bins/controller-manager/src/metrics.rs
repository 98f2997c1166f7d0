//! `/metrics`: what the controllers did (approvals, signings, failures, cleanups), the work
//! queues (client-go's `workqueue_*` names) and leadership (`leader_election_master_status`),
//! in the OpenMetrics text format Prometheus scrapes.

use std::sync::Arc;

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
        Metrics {
            registry: Arc::new(registry),
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

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
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
}
