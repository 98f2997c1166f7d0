//! `/metrics`: request counts and latencies, authentication failures and CSRs by state, in the
//! OpenMetrics text format Prometheus scrapes.

use std::borrow::Cow;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use store::{Store, StoreError};

use crate::api::create_limit::CreateRateLimit;

/// Content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Where CSRs are kept in the store.
const CSR_RESOURCE: &str = "certificates.k8s.io/certificatesigningrequests";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    resource: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    verb: String,
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// Where a CSR is in its life, derived from its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrState {
    Pending,
    Approved,
    Denied,
    Failed,
    Issued,
}

impl CsrState {
    const ALL: [CsrState; 5] = [
        CsrState::Pending,
        CsrState::Approved,
        CsrState::Denied,
        CsrState::Failed,
        CsrState::Issued,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CsrState::Pending => "pending",
            CsrState::Approved => "approved",
            CsrState::Denied => "denied",
            CsrState::Failed => "failed",
            CsrState::Issued => "issued",
        }
    }

    /// Issued when a certificate is set; else Denied, Failed or Approved by condition (in that
    /// order of precedence); else Pending. `None` when `json` is not a CSR's JSON.
    pub fn of(json: &[u8]) -> Option<CsrState> {
        let csr: CsrStatusView<'_> = serde_json::from_slice(json).ok()?;
        let status = csr.status.unwrap_or_default();
        if status.certificate.is_some_and(|c| !c.is_empty()) {
            return Some(CsrState::Issued);
        }
        let conditions = status.conditions.unwrap_or_default();
        let has = |kind: &str| {
            conditions.iter().any(|c| {
                c.type_.as_deref() == Some(kind) && c.status.as_deref().unwrap_or("True") == "True"
            })
        };
        Some(if has("Denied") {
            CsrState::Denied
        } else if has("Failed") {
            CsrState::Failed
        } else if has("Approved") {
            CsrState::Approved
        } else {
            CsrState::Pending
        })
    }
}

/// The fields of a CSR its state is read from. Everything else is skipped while parsing, not
/// built: a scrape counts every CSR, and whole trees of 10,000 of them were ~60 MiB at once.
#[derive(serde::Deserialize)]
struct CsrStatusView<'a> {
    #[serde(borrow)]
    status: Option<CsrStatusFields<'a>>,
}

#[derive(serde::Deserialize, Default)]
struct CsrStatusFields<'a> {
    #[serde(borrow)]
    certificate: Option<Cow<'a, str>>,
    #[serde(borrow)]
    conditions: Option<Vec<ConditionView<'a>>>,
}

#[derive(serde::Deserialize)]
struct ConditionView<'a> {
    #[serde(rename = "type", borrow)]
    type_: Option<Cow<'a, str>>,
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
}

/// The metric families of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
    authn_failures: Family<ReasonLabels, Counter>,
    csrs: Family<StateLabels, Gauge>,
    tls_handshakes: Family<ResultLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "apiserver_request",
            "Counter of apiserver requests broken out by verb, resource and HTTP response code",
            requests.clone(),
        );
        let durations =
            Family::<DurationLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb and resource",
            durations.clone(),
        );
        let authn_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "apiserver_authentication_failures",
            "Counter of requests no authenticator accepted, by reason",
            authn_failures.clone(),
        );
        let csrs = Family::<StateLabels, Gauge>::default();
        registry.register(
            "apiserver_certificatesigningrequests",
            "Number of CertificateSigningRequests by state (pending, approved, denied, failed, issued)",
            csrs.clone(),
        );
        let tls_handshakes = Family::<ResultLabels, Counter>::default();
        registry.register(
            "apiserver_tls_handshakes",
            "Counter of TLS handshakes on the secure port by result (ok, failed, timeout)",
            tls_handshakes.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            authn_failures,
            csrs,
            tls_handshakes,
        }
    }

    /// Adds the kubelet CSR limit's refusals by signer (decision 0030).
    pub fn register_csr_rate_limit(&mut self, limit: &CreateRateLimit) {
        self.registry.register(
            "apiserver_certificatesigningrequest_rate_limited",
            "Counter of CertificateSigningRequest creates refused by the per-requester and \
             node limit (--kubelet-csr-rate-limit-burst), by signer",
            limit.refused(),
        );
    }

    /// Counts one finished request. `verb` is the request-info verb (upper-cased here, as
    /// upstream reports it), `resource` empty for non-resource requests.
    pub fn observe_request(&self, verb: &str, resource: &str, code: u16, seconds: f64) {
        let verb = verb.to_ascii_uppercase();
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb.clone(),
                resource: resource.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.durations
            .get_or_create(&DurationLabels {
                verb,
                resource: resource.to_string(),
            })
            .observe(seconds);
    }

    /// Counts one request that no authenticator accepted.
    pub fn authentication_failed(&self, reason: &'static str) {
        self.authn_failures
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts one TLS handshake on the secure port (`ok`, `failed` or `timeout`); each one is
    /// a new connection, so this shows how well clients reuse theirs.
    pub fn tls_handshake(&self, result: &'static str) {
        self.tls_handshakes
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
    }

    /// The exposition text, with the CSR gauge computed from the store now.
    pub async fn render(&self, store: &Store) -> Result<String, StoreError> {
        let (csrs, _) = store.list_json(CSR_RESOURCE, None).await?;
        let mut counts = [0i64; 5];
        for csr in &csrs {
            let Some(state) = CsrState::of(&csr.json) else {
                tracing::warn!("a stored CSR is not CSR JSON; left out of the CSR gauge");
                continue;
            };
            if let Some(i) = CsrState::ALL.iter().position(|s| *s == state) {
                counts[i] += 1;
            }
        }
        for (state, count) in CsrState::ALL.iter().zip(counts) {
            self.csrs
                .get_or_create(&StateLabels {
                    state: state.as_str().to_string(),
                })
                .set(count);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| StoreError::Backend(format!("failed to encode metrics: {e}")))?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(csr: serde_json::Value) -> Option<CsrState> {
        CsrState::of(&serde_json::to_vec(&csr).unwrap())
    }

    #[test]
    fn csr_states() {
        assert_eq!(state(json!({"spec": {}})), Some(CsrState::Pending));
        assert_eq!(state(json!({"status": null})), Some(CsrState::Pending));
        let approved = json!({"status": {"conditions": [{"type": "Approved", "status": "True"}]}});
        assert_eq!(state(approved), Some(CsrState::Approved));
        let not_approved =
            json!({"status": {"conditions": [{"type": "Approved", "status": "False"}]}});
        assert_eq!(state(not_approved), Some(CsrState::Pending));
        let denied = json!({"status": {"conditions": [{"type": "Denied", "status": "True"}]}});
        assert_eq!(state(denied), Some(CsrState::Denied));
        let failed = json!({"status": {"conditions": [{"type": "Approved"}, {"type": "Failed", "status": "True"}]}});
        assert_eq!(state(failed), Some(CsrState::Failed));
        let issued =
            json!({"status": {"certificate": "LS0t", "conditions": [{"type": "Approved"}]}});
        assert_eq!(state(issued), Some(CsrState::Issued));
        let empty_certificate =
            json!({"status": {"certificate": "", "conditions": [{"type": "Approved"}]}});
        assert_eq!(state(empty_certificate), Some(CsrState::Approved));
        // Escaped text (an owned copy, not a borrow) reads the same.
        assert_eq!(
            CsrState::of(br#"{"status":{"conditions":[{"type":"Deni\u0065d"}]}}"#),
            Some(CsrState::Denied)
        );
        assert_eq!(CsrState::of(b"[1, 2]"), None);
        assert_eq!(CsrState::of(br#"{"status": {"conditions": "no"}}"#), None);
    }

    #[tokio::test]
    async fn render_has_every_series() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let csr = json!({"metadata": {"name": "a"}, "status": {"certificate": "LS0t"}});
        store
            .create(&store::Key::new(CSR_RESOURCE, "", "a"), csr)
            .await
            .expect("create");
        let metrics = Metrics::new();
        metrics.observe_request("list", "certificatesigningrequests", 200, 0.004);
        metrics.authentication_failed("token_unknown");
        metrics.tls_handshake("ok");
        let text = metrics.render(&store).await.expect("render");
        assert!(text.contains(r#"apiserver_request_total{verb="LIST",resource="certificatesigningrequests",code="200"} 1"#), "{text}");
        assert!(
            text.contains(r#"apiserver_tls_handshakes_total{result="ok"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"apiserver_request_duration_seconds_bucket{le="0.008",verb="LIST",resource="certificatesigningrequests"} 1"#), "{text}");
        assert!(
            text.contains(r#"apiserver_authentication_failures_total{reason="token_unknown"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"apiserver_certificatesigningrequests{state="issued"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"apiserver_certificatesigningrequests{state="pending"} 0"#),
            "{text}"
        );
        store.close().await.expect("close");
    }
}
