//! csrapproving (upstream `approver/sarapprove.go`): kubelet client CSRs are approved when a
//! SubjectAccessReview says their requester may create `certificatesigningrequests/nodeclient`
//! (a bootstrapper asking for a new node) or `/selfnodeclient` (a node renewing its own).
//! Nothing is ever denied; everything else waits for a person, and gets an event saying
//! why (see `explain`).

use std::sync::Arc;

use client::{Client, ClientError};
use protocol::authorization::v1::{ResourceAttributes, SubjectAccessReview};
use protocol::certificates::v1::{CONDITION_APPROVED, CertificateSigningRequest};
use protocol::meta::ObjectMeta;

use crate::csr::{is_approved, is_denied, is_issued, true_condition};
use crate::explain::{Cause, Explainer};
use crate::informer::CsrCache;
use crate::metrics::Metrics;
use crate::review_cache::ReviewCache;
use crate::worker::{Handler, SyncError};

/// A kind of request we know how to judge.
struct Recognizer {
    /// The SAR subresource, and the name in logs and metrics.
    subresource: &'static str,
    message: &'static str,
    recognizes: fn(&CertificateSigningRequest, &pki::ParsedCsr, &[pki::Usage]) -> bool,
}

fn is_node_client(
    csr: &CertificateSigningRequest,
    x509: &pki::ParsedCsr,
    usages: &[pki::Usage],
) -> bool {
    csr.spec.signer_name == pki::signer::KUBE_APISERVER_CLIENT_KUBELET
        && pki::signer::is_kubelet_client_request(x509, usages)
}

fn is_self_node_client(
    csr: &CertificateSigningRequest,
    x509: &pki::ParsedCsr,
    usages: &[pki::Usage],
) -> bool {
    x509.common_name() == Some(csr.spec.username.as_str()) && is_node_client(csr, x509, usages)
}

/// In upstream's order: a renewal by the node itself first.
const RECOGNIZERS: [Recognizer; 2] = [
    Recognizer {
        subresource: "selfnodeclient",
        message: "Auto approving self kubelet client certificate after SubjectAccessReview.",
        recognizes: is_self_node_client,
    },
    Recognizer {
        subresource: "nodeclient",
        message: "Auto approving kubelet client certificate after SubjectAccessReview.",
        recognizes: is_node_client,
    },
];

/// The subresources of the recognizers that match `csr`, in order.
pub fn recognized(csr: &CertificateSigningRequest) -> Result<Vec<&'static str>, String> {
    Ok(matching(csr)?.iter().map(|r| r.subresource).collect())
}

fn matching(csr: &CertificateSigningRequest) -> Result<Vec<&'static Recognizer>, String> {
    if csr.spec.signer_name != pki::signer::KUBE_APISERVER_CLIENT_KUBELET {
        return Ok(Vec::new());
    }
    // Parsed, not verified, as upstream's approver does: the apiserver verified the
    // signature when the CSR was created, and the signer verifies it again before signing.
    let x509 = pki::ParsedCsr::from_pem(&csr.spec.request)
        .map_err(|e| format!("unable to parse csr {:?}: {e}", csr.metadata.name))?;
    // Unknown usage strings cannot pass the kubelet client usage check.
    let Ok(usages) = pki::parse_usages(&csr.spec.usages) else {
        return Ok(Vec::new());
    };
    Ok(RECOGNIZERS
        .iter()
        .filter(|r| (r.recognizes)(csr, &x509, &usages))
        .collect())
}

/// The review upstream sends: the CSR's requester, `create` on the subresource.
pub fn access_review(csr: &CertificateSigningRequest, subresource: &str) -> SubjectAccessReview {
    let mut review = SubjectAccessReview {
        metadata: ObjectMeta::default(),
        ..Default::default()
    };
    review.spec.user = csr.spec.username.clone();
    review.spec.uid = csr.spec.uid.clone();
    review.spec.groups = csr.spec.groups.clone();
    review.spec.extra = csr.spec.extra.clone();
    review.spec.resource_attributes = Some(ResourceAttributes {
        group: "certificates.k8s.io".to_string(),
        resource: "certificatesigningrequests".to_string(),
        subresource: subresource.to_string(),
        verb: "create".to_string(),
        ..Default::default()
    });
    review
}

pub struct Approver {
    client: Client,
    cache: Arc<CsrCache>,
    reviews: ReviewCache,
    metrics: Metrics,
    explainer: Arc<Explainer>,
}

impl Approver {
    pub fn new(
        client: Client,
        cache: Arc<CsrCache>,
        metrics: Metrics,
        explainer: Arc<Explainer>,
    ) -> Approver {
        Approver {
            client,
            cache,
            reviews: ReviewCache::default(),
            metrics,
            explainer,
        }
    }

    async fn allowed(
        &self,
        csr: &CertificateSigningRequest,
        subresource: &str,
    ) -> Result<bool, ClientError> {
        let review = access_review(csr, subresource);
        let key = ReviewCache::key(&review.spec);
        if self.reviews.is_allowed(&key) {
            return Ok(true);
        }
        let asked = std::time::Instant::now();
        let answer = self.client.create(None, &review).await?;
        if answer.status.allowed {
            // Counted from the question: the answer is no older than that.
            self.reviews.remember_allowed(key, asked);
        }
        Ok(answer.status.allowed)
    }

    async fn approve(
        &self,
        csr: &CertificateSigningRequest,
        recognizer: &Recognizer,
    ) -> Result<(), SyncError> {
        let name = &csr.metadata.name;
        let mut approved = csr.clone();
        approved.status.conditions.push(true_condition(
            CONDITION_APPROVED,
            "AutoApproved",
            recognizer.message,
            None,
        ));
        match self
            .client
            .update_subresource(None, name, "approval", &approved)
            .await
        {
            Ok(stored) => {
                self.cache.upsert(stored);
                self.metrics.approved(recognizer.subresource);
                tracing::info!(csr = %name, recognizer = recognizer.subresource, "approved certificate signing request");
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) if e.is_conflict() => refresh(&self.client, &self.cache, name).await,
            Err(e) => Err(SyncError::Retry(format!(
                "error updating approval for csr {name:?}: {e}"
            ))),
        }
    }
}

/// Reads the newest copy into the cache after a conflict, and asks for another look.
pub async fn refresh(client: &Client, cache: &CsrCache, name: &str) -> Result<(), SyncError> {
    match client.get::<CertificateSigningRequest>(None, name).await {
        Ok(fresh) => {
            cache.upsert(fresh);
            Err(SyncError::Again)
        }
        Err(e) if e.is_not_found() => {
            cache.remove(name);
            Ok(())
        }
        Err(e) => Err(SyncError::Retry(format!(
            "unable to re-read csr {name:?}: {e}"
        ))),
    }
}

impl Handler for Approver {
    fn name(&self) -> &'static str {
        crate::controllers::CSR_APPROVING
    }

    async fn sync(&self, key: &str) -> Result<(), SyncError> {
        let Some(csr) = self.cache.get(key) else {
            return Ok(());
        };
        if is_issued(&csr) || is_approved(&csr) || is_denied(&csr) {
            return Ok(());
        }
        let recognizers = matching(&csr).map_err(SyncError::Retry)?;
        if recognizers.is_empty() {
            self.explainer.tell(&csr, Cause::NoAutoApprover).await;
            return Ok(());
        }
        let mut tried = Vec::new();
        for recognizer in recognizers {
            let allowed = self
                .allowed(&csr, recognizer.subresource)
                .await
                .map_err(|e| {
                    SyncError::Retry(format!(
                        "unable to create subject access review for csr {key:?}: {e}"
                    ))
                })?;
            if allowed {
                return self.approve(&csr, recognizer).await;
            }
            tried.push(recognizer.subresource);
        }
        self.explainer
            .tell(
                &csr,
                Cause::NotAutoApproved {
                    subresources: tried.clone(),
                },
            )
            .await;
        Err(SyncError::Quiet(format!(
            "recognized csr {key:?} as [{}] but subject access review was not approved",
            tried.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(
        cn: &str,
        org: &[&str],
        username: &str,
        usages: &[&str],
        signer: &str,
    ) -> CertificateSigningRequest {
        let key = pki::PrivateKey::generate_p256().unwrap();
        let pem = pki::build_csr(
            &key,
            &pki::CsrSubject {
                common_name: cn.to_string(),
                organizations: org.iter().map(|s| s.to_string()).collect(),
            },
            &pki::SubjectAltNames::default(),
        )
        .unwrap();
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = "csr-1".into();
        csr.spec.request = pem.into_bytes();
        csr.spec.signer_name = signer.into();
        csr.spec.username = username.into();
        csr.spec.usages = usages.iter().map(|s| s.to_string()).collect();
        csr
    }

    const CLIENT: &str = pki::signer::KUBE_APISERVER_CLIENT_KUBELET;
    const USAGES: [&str; 2] = ["digital signature", "client auth"];

    #[test]
    fn a_bootstrap_request_is_nodeclient_only() {
        let c = csr(
            "system:node:a",
            &["system:nodes"],
            "system:bootstrap:abcdef",
            &USAGES,
            CLIENT,
        );
        assert_eq!(recognized(&c).unwrap(), ["nodeclient"]);
    }

    #[test]
    fn a_renewal_by_the_node_itself_is_selfnodeclient_then_nodeclient() {
        let c = csr(
            "system:node:a",
            &["system:nodes"],
            "system:node:a",
            &USAGES,
            CLIENT,
        );
        assert_eq!(recognized(&c).unwrap(), ["selfnodeclient", "nodeclient"]);
        // Node a asking for node other's certificate: not a self renewal.
        let c = csr(
            "system:node:other",
            &["system:nodes"],
            "system:node:a",
            &USAGES,
            CLIENT,
        );
        assert_eq!(recognized(&c).unwrap(), ["nodeclient"]);
    }

    #[test]
    fn serving_and_odd_requests_are_not_recognized() {
        let serving = csr(
            "system:node:a",
            &["system:nodes"],
            "system:node:a",
            &["digital signature", "server auth"],
            pki::signer::KUBELET_SERVING,
        );
        assert!(recognized(&serving).unwrap().is_empty());
        let wrong_org = csr(
            "system:node:a",
            &["system:masters"],
            "system:node:a",
            &USAGES,
            CLIENT,
        );
        assert!(recognized(&wrong_org).unwrap().is_empty());
        let wrong_usage = csr(
            "system:node:a",
            &["system:nodes"],
            "system:node:a",
            &["server auth"],
            CLIENT,
        );
        assert!(recognized(&wrong_usage).unwrap().is_empty());
        let mut garbage = wrong_usage.clone();
        garbage.spec.request = b"junk".to_vec();
        assert!(
            recognized(&garbage)
                .unwrap_err()
                .contains("unable to parse csr \"csr-1\"")
        );
    }

    #[test]
    fn the_review_carries_the_requester_and_the_subresource() {
        let mut c = csr(
            "system:node:a",
            &["system:nodes"],
            "system:bootstrap:abcdef",
            &USAGES,
            CLIENT,
        );
        c.spec.uid = "u-1".into();
        c.spec.groups = vec!["system:bootstrappers".into(), "system:authenticated".into()];
        c.spec
            .extra
            .insert("k".into(), vec!["v".to_string()].into());
        let json = serde_json::to_value(access_review(&c, "nodeclient")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "SubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {},
                "spec": {
                    "resourceAttributes": {
                        "verb": "create",
                        "group": "certificates.k8s.io",
                        "resource": "certificatesigningrequests",
                        "subresource": "nodeclient"
                    },
                    "user": "system:bootstrap:abcdef",
                    "groups": ["system:bootstrappers", "system:authenticated"],
                    "extra": {"k": ["v"]},
                    "uid": "u-1"
                },
                "status": {"allowed": false}
            })
        );
    }
}
