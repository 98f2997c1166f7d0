//! csrapproving (upstream `approver/sarapprove.go`): kubelet client CSRs are approved when a
//! SubjectAccessReview says their requester may create `certificatesigningrequests/nodeclient`
//! (a bootstrapper asking for a new node) or `/selfnodeclient` (a node renewing its own).
//!
//! Also, as kube-controller-manager 1.8-1.10 did behind the `RotateKubeletServerCertificate`
//! gate, a node's own kubelet serving CSR when it may create `/selfnodeserver` (no default
//! role grants that: an operator opts in with a ClusterRole, as the 1.7-1.10 guides say).
//! Upstream dropped that recognizer because it approved any names a node asked for; ours
//! approves only names the node's Node object reports and no IP another Node reports
//! (`node_addresses`, decision 0018).
//!
//! Ours: a client request for a user a CertificateRevocation blocks (its `issuedBefore` still
//! to come, decision 0023) is not approved: the apiserver would refuse its certificate.
//!
//! Ours: a node's request made with its own client certificate after that expired, within
//! the apiserver's `--client-certificate-max-offline-window` (decision 0027), is approved when
//! the requester may create `/expirednodeclient` and the certificate is the newest of the
//! node's lineage: the one whose credential ID the node last wrote on its Node
//! (`kubelet-tls-bootstrap/client-certificate`).
//!
//! Nothing is ever denied; everything else waits for a person, and gets an event saying
//! why (see `explain`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use client::{Client, ClientError, ListParams};
use protocol::authentication::v1::{CREDENTIAL_ID_EXTRA, EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX};
use protocol::authorization::v1::{ResourceAttributes, SubjectAccessReview};
use protocol::certificates::v1::{CONDITION_APPROVED, CONDITION_FAILED, CertificateSigningRequest};
use protocol::core::v1::{NODE_CLIENT_CERTIFICATE_ANNOTATION, Node};
use protocol::meta::{ObjectMeta, Time};

use crate::csr::{is_approved, is_denied, is_issued, requesting_node, true_condition};
use crate::explain::{Cause, Explainer};
use crate::informer::CsrCache;
use crate::metrics::Metrics;
use crate::node_addresses::{AddressRefusal, NodeAddresses};
use crate::pending_dedup;
use crate::review_cache::ReviewCache;
use crate::revoked_users::RevokedUsers;
use crate::token_binding::{self, TokenBindings};
use crate::worker::{Handler, SyncError};

/// A kind of request we know how to judge.
struct Recognizer {
    /// The SAR subresource, and the name in logs and metrics.
    subresource: &'static str,
    message: &'static str,
    recognizes: fn(&CertificateSigningRequest, &pki::ParsedCsr, &[pki::Usage]) -> bool,
    /// What must also hold once the review allowed it.
    then: Check,
}

/// The checks after an allowed review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    /// A bootstrap token bound to a node (`token_binding`) asks for that node only.
    TokenBinding,
    /// Every name is an address of the node's own Node and no other's (`node_addresses`).
    NodeAddresses,
    /// The expired certificate that asks is the one the node's Node names (decision 0027).
    Lineage,
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

/// The recognizer of a node's renewal with its expired certificate.
pub const EXPIRED_NODE_CLIENT: &str = rbac::bootstrap::EXPIRED_NODE_CLIENT_SUBRESOURCE;

/// A kubelet client request made by the apiserver's identity of an expired client
/// certificate (decision 0027) whose CN is the node the request names.
fn is_expired_node_client(
    csr: &CertificateSigningRequest,
    x509: &pki::ParsedCsr,
    usages: &[pki::Usage],
) -> bool {
    csr.spec
        .username
        .starts_with(EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX)
        && requesting_node(csr).is_some_and(|node| x509.common_name() == Some(node))
        && is_node_client(csr, x509, usages)
}

/// The recognizer of a node's own serving CSR.
pub const SELF_NODE_SERVER: &str = "selfnodeserver";

/// A kubelet serving request by the node it names (CN = requester), in the shape the
/// kubelet-serving signer accepts (O=system:nodes, a DNS or IP name, server auth).
fn is_self_node_server(
    csr: &CertificateSigningRequest,
    x509: &pki::ParsedCsr,
    usages: &[pki::Usage],
) -> bool {
    csr.spec.signer_name == pki::signer::KUBELET_SERVING
        && x509.common_name() == Some(csr.spec.username.as_str())
        && pki::signer::validate(pki::signer::KUBELET_SERVING, x509, usages).is_ok()
}

/// How long a serving CSR may wait for its Node before an event says so: the kubelet asks
/// for its serving certificate while it registers, so a missing Node is usually a moment.
const NODE_GRACE: Duration = Duration::from_secs(60);

/// In upstream's order: a renewal by the node itself first; then the serving recognizer. Our
/// renewal of an expired certificate comes before `nodeclient`, which its requests match too.
const RECOGNIZERS: [Recognizer; 4] = [
    Recognizer {
        subresource: "selfnodeclient",
        message: "Auto approving self kubelet client certificate after SubjectAccessReview.",
        recognizes: is_self_node_client,
        then: Check::Nothing,
    },
    Recognizer {
        subresource: EXPIRED_NODE_CLIENT,
        message: "Auto approving the renewal of the node's newest kubelet client certificate, \
                  expired within the apiserver's offline window, after SubjectAccessReview.",
        recognizes: is_expired_node_client,
        then: Check::Lineage,
    },
    Recognizer {
        subresource: "nodeclient",
        message: "Auto approving kubelet client certificate after SubjectAccessReview.",
        recognizes: is_node_client,
        then: Check::TokenBinding,
    },
    Recognizer {
        subresource: SELF_NODE_SERVER,
        message: "Auto approving self kubelet server certificate after SubjectAccessReview.",
        recognizes: is_self_node_server,
        then: Check::NodeAddresses,
    },
];

/// The subresources of the recognizers that match `csr`, in order; `serving` turns the
/// `selfnodeserver` recognizer on.
pub fn recognized(
    csr: &CertificateSigningRequest,
    serving: bool,
) -> Result<Vec<&'static str>, String> {
    Ok(matching(csr, serving)?
        .map(|(recognizers, _)| recognizers.iter().map(|r| r.subresource).collect())
        .unwrap_or_default())
}

/// The recognizers that match `csr` and its parsed request; `None` for a signer we do not
/// judge.
fn matching(
    csr: &CertificateSigningRequest,
    serving: bool,
) -> Result<Option<(Vec<&'static Recognizer>, pki::ParsedCsr)>, String> {
    let signer = csr.spec.signer_name.as_str();
    let judged = signer == pki::signer::KUBE_APISERVER_CLIENT_KUBELET
        || (serving && signer == pki::signer::KUBELET_SERVING);
    if !judged {
        return Ok(None);
    }
    // Parsed, not verified, as upstream's approver does: the apiserver verified the
    // signature when the CSR was created, and the signer verifies it again before signing.
    let x509 = pki::ParsedCsr::from_pem(&csr.spec.request)
        .map_err(|e| format!("unable to parse csr {:?}: {e}", csr.metadata.name))?;
    // Unknown usage strings cannot pass the kubelet signers' usage checks.
    let Ok(usages) = pki::parse_usages(&csr.spec.usages) else {
        return Ok(None);
    };
    let recognizers = RECOGNIZERS
        .iter()
        .filter(|r| (r.recognizes)(csr, &x509, &usages))
        .collect();
    Ok(Some((recognizers, x509)))
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
    /// Set when the `selfnodeserver` recognizer is on (`RotateKubeletServerCertificate`).
    node_addresses: Option<NodeAddresses>,
    /// Bootstrap tokens bound to one node (`token_binding`).
    tokens: TokenBindings,
    /// Users blocked by a CertificateRevocation (`revoked_users`).
    revoked_users: Arc<RevokedUsers>,
    /// CSRs left Pending for a revocation, a Node's addresses or a single-use token another
    /// request holds: looked at again when those change ([`Approver::take_waiting`]), not only
    /// after the backoff (up to 1000 s).
    waiting: Mutex<HashSet<String>>,
}

impl Approver {
    /// `approve_serving`: run the `selfnodeserver` recognizer.
    pub fn new(
        client: Client,
        cache: Arc<CsrCache>,
        metrics: Metrics,
        explainer: Arc<Explainer>,
        approve_serving: bool,
        revoked_users: Arc<RevokedUsers>,
    ) -> Approver {
        Approver {
            revoked_users,
            node_addresses: approve_serving.then(|| NodeAddresses::new(client.clone())),
            tokens: TokenBindings::new(client.clone()),
            client,
            cache,
            reviews: ReviewCache::default(),
            metrics,
            explainer,
            waiting: Mutex::default(),
        }
    }

    /// What the CSRs in [`Approver::take_waiting`] wait on: wakes when revocations or Nodes'
    /// addresses change, or a bootstrap token's request stops holding its token.
    pub fn waits_on(&self) -> Vec<tokio::sync::watch::Receiver<u64>> {
        let mut changes = vec![
            self.revoked_users.subscribe(),
            self.cache.subscribe_released(),
        ];
        changes.extend(self.node_addresses.as_ref().map(NodeAddresses::subscribe));
        changes
    }

    /// The CSRs left waiting since the last call, to look at again after a change.
    pub fn take_waiting(&self) -> Vec<String> {
        self.waiting().drain().collect()
    }

    fn wait_for_change(&self, csr: &CertificateSigningRequest) {
        self.waiting().insert(csr.metadata.name.clone());
    }

    fn stop_waiting(&self, csr: &CertificateSigningRequest) {
        self.waiting().remove(&csr.metadata.name);
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `selfnodeserver` check after the review: the names must be the node's own. A
    /// refusal is said in an event and the CSR is looked at again with backoff (the Node may
    /// register or change).
    async fn verify_addresses(
        &self,
        csr: &CertificateSigningRequest,
        x509: &pki::ParsedCsr,
    ) -> Result<(), SyncError> {
        // Marked before the look, so a change racing it still brings the CSR back.
        self.wait_for_change(csr);
        let Some(refusal) = self.addresses_refused(csr, x509).await? else {
            self.stop_waiting(csr);
            return Ok(());
        };
        if !matches!(refusal, AddressRefusal::NoNode(_)) || waited(csr, NODE_GRACE) {
            let detail = refusal.to_string();
            self.explainer
                .tell(csr, Cause::AddressesNotVerified { detail })
                .await;
        }
        Err(SyncError::Quiet(format!(
            "recognized csr {:?} as [{SELF_NODE_SERVER}] but {refusal}",
            csr.metadata.name
        )))
    }

    /// The `nodeclient` check after the review: a bootstrap token bound to one node
    /// (`token_binding`) is approved only for that node's name, and a single-use token for
    /// one request.
    async fn verify_token_binding(
        &self,
        csr: &CertificateSigningRequest,
        x509: &pki::ParsedCsr,
    ) -> Result<(), SyncError> {
        let Some(token) = token_binding::token_id(&csr.spec.username) else {
            return Ok(());
        };
        let policy = self.tokens.policy_of(token).await.map_err(|e| {
            SyncError::Retry(format!("unable to read bootstrap token {token:?}: {e}"))
        })?;
        let name = &csr.metadata.name;
        if let Some(bound) = &policy.node {
            let asked = x509
                .common_name()
                .and_then(|cn| cn.strip_prefix(pki::signer::NODE_CN_PREFIX))
                .unwrap_or_default();
            if asked != bound {
                let cause = Cause::TokenBoundToOtherNode {
                    token: token.to_string(),
                    bound: bound.clone(),
                    asked: asked.to_string(),
                };
                self.explainer.tell(csr, cause).await;
                return Err(SyncError::Quiet(format!(
                    "recognized csr {name:?} as [nodeclient] but bootstrap token {token:?} is bound to node {bound:?}, not {asked:?}"
                )));
            }
        }
        if policy.single_use {
            // Marked before the look, so a release racing it still brings the CSR back.
            self.wait_for_change(csr);
            if let Some(by) = used_by_another(
                &self.cache.requested_by(&csr.spec.username),
                name,
                policy.node.as_deref(),
            ) {
                let cause = Cause::TokenAlreadyUsed {
                    token: token.to_string(),
                    by: by.clone(),
                };
                self.explainer.tell(csr, cause).await;
                return Err(SyncError::Quiet(format!(
                    "recognized csr {name:?} as [nodeclient] but single-use bootstrap token {token:?} approved csr {by:?} already"
                )));
            }
            self.stop_waiting(csr);
        }
        Ok(())
    }

    /// The `expirednodeclient` check after the review: the expired certificate that made the
    /// request (its credential ID, which the apiserver put in the request's extra) is the one
    /// the node's Node names. A node writes only its own certificate's ID there, so a copy of
    /// an older certificate, or one stolen before a rotation, cannot renew. No Node, no
    /// annotation or another ID leaves the request to a person, with an event.
    async fn verify_lineage(
        &self,
        csr: &CertificateSigningRequest,
        x509: &pki::ParsedCsr,
    ) -> Result<(), SyncError> {
        let name = &csr.metadata.name;
        let node = x509
            .common_name()
            .and_then(|cn| cn.strip_prefix(pki::signer::NODE_CN_PREFIX))
            .unwrap_or_default()
            .to_string();
        let presented = csr
            .spec
            .extra
            .get(CREDENTIAL_ID_EXTRA)
            .and_then(|ids| ids.items.first())
            .cloned();
        // A list by name: upstream's controller-manager role may list Nodes, not get them.
        let params = ListParams {
            field_selector: Some(format!("metadata.name={node}")),
            ..Default::default()
        };
        let nodes = self.client.list::<Node>(None, &params).await.map_err(|e| {
            SyncError::Retry(format!(
                "unable to read node {node:?} for csr {name:?}: {e}"
            ))
        })?;
        let head = nodes
            .items
            .iter()
            .find(|n| n.metadata.name == node)
            .map(|n| {
                n.metadata
                    .annotations
                    .get(NODE_CLIENT_CERTIFICATE_ANNOTATION)
                    .cloned()
            });
        if presented.is_some()
            && head
                .as_ref()
                .is_some_and(|h| h.as_ref() == presented.as_ref())
        {
            return Ok(());
        }
        let cause = Cause::NotLineageHead {
            node: node.clone(),
            presented: presented.unwrap_or_default(),
            head,
        };
        self.explainer.tell(csr, cause).await;
        Err(SyncError::Quiet(format!(
            "recognized csr {name:?} as [{EXPIRED_NODE_CLIENT}] but the expired certificate is not the newest of node {node:?}"
        )))
    }

    /// The dedup of `csr` (`pending_dedup`, decision 0028): marks Failed the node's older
    /// Pending requests it makes obsolete, and returns the newer one that makes `csr` itself
    /// obsolete, if any. A write that fails is logged and left: the older request then stays
    /// Pending, as upstream leaves it, and a later look at `csr` tries again.
    async fn dedup_requests(
        &self,
        csr: &CertificateSigningRequest,
    ) -> Option<Arc<CertificateSigningRequest>> {
        let obsolete = pending_dedup::obsolete(csr, || self.cache.requested_by(&csr.spec.username));
        for old in &obsolete.older {
            self.mark_superseded(old, csr).await;
        }
        obsolete.newer
    }

    /// One `/status` write: `old` Failed, `Superseded` by `newer`. True when it was written.
    async fn mark_superseded(
        &self,
        old: &CertificateSigningRequest,
        newer: &CertificateSigningRequest,
    ) -> bool {
        let name = &old.metadata.name;
        let mut failed = old.clone();
        failed.status.conditions.push(true_condition(
            CONDITION_FAILED,
            pending_dedup::SUPERSEDED,
            &pending_dedup::message(newer),
            Some(Time::now()),
        ));
        match self
            .client
            .update_subresource(None, name, "status", &failed)
            .await
        {
            Ok(stored) => {
                self.cache.upsert(stored);
                tracing::info!(csr = %name, newer = %newer.metadata.name, "marked a superseded certificate signing request Failed");
                true
            }
            Err(e) if e.is_not_found() || e.is_conflict() => false,
            Err(e) => {
                tracing::warn!(csr = %name, error = %e, "could not mark a superseded certificate signing request Failed");
                false
            }
        }
    }

    /// Before approving a client certificate: its user is not blocked by a revocation. The
    /// apiserver would refuse the certificate, so approving it only hides why the node cannot
    /// join. Unreadable revocations (no RBAC to list them) leave upstream's behaviour, with a
    /// warning, as csrsigning does.
    async fn verify_not_blocked(
        &self,
        csr: &CertificateSigningRequest,
        x509: &pki::ParsedCsr,
    ) -> Result<(), SyncError> {
        let Some(user) = x509.common_name() else {
            return Ok(());
        };
        self.wait_for_change(csr);
        let revoked = match self.revoked_users.latest(user).await {
            Ok(revoked) => revoked,
            Err(error) => {
                tracing::warn!(%error, "could not read the certificate revocations; approving without them");
                None
            }
        };
        let Some(revoked) = revoked.filter(|r| r.blocks(SystemTime::now())) else {
            self.stop_waiting(csr);
            return Ok(());
        };
        let message = format!(
            "recognized csr {:?} as a client certificate but {user} is blocked by certificaterevocation {:?}",
            csr.metadata.name, revoked.by
        );
        let cause = Cause::SubjectRevoked {
            user: user.to_string(),
            revoked,
        };
        self.explainer.tell(csr, cause).await;
        Err(SyncError::Quiet(message))
    }

    async fn addresses_refused(
        &self,
        csr: &CertificateSigningRequest,
        x509: &pki::ParsedCsr,
    ) -> Result<Option<AddressRefusal>, SyncError> {
        let Some(index) = &self.node_addresses else {
            return Ok(None);
        };
        let name = &csr.metadata.name;
        let node = csr
            .spec
            .username
            .strip_prefix(pki::signer::NODE_CN_PREFIX)
            .unwrap_or(&csr.spec.username);
        let verdict = index
            .check(node, x509.dns_names(), x509.ip_addresses())
            .await
            .map_err(|e| SyncError::Retry(format!("unable to list nodes for csr {name:?}: {e}")))?;
        Ok(verdict.err())
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
            Err(e) => {
                if e.is_forbidden() {
                    // Our own identity lacks `approve` on the signer (kubelet-serving is not
                    // in upstream's certificate-controller role): say so where the operator
                    // looks.
                    self.explainer.tell(csr, Cause::ApprovalForbidden).await;
                }
                Err(SyncError::Retry(format!(
                    "error updating approval for csr {name:?}: {e}"
                )))
            }
        }
    }
}

/// Whether `csr` was created more than `age` ago.
fn waited(csr: &CertificateSigningRequest, age: Duration) -> bool {
    csr.metadata
        .creation_timestamp
        .as_ref()
        .is_some_and(|t| !t.is_zero() && t.to_system_time() + age < SystemTime::now())
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
        let newer = self.dedup_requests(&csr).await;
        if is_issued(&csr) || is_approved(&csr) || is_denied(&csr) {
            return Ok(());
        }
        // The look from the older side, for two requests made in the same second.
        if let Some(newer) = newer
            && self.mark_superseded(&csr, &newer).await
        {
            return Ok(());
        }
        let matched = matching(&csr, self.node_addresses.is_some()).map_err(SyncError::Retry)?;
        let Some((recognizers, x509)) = matched.filter(|(r, _)| !r.is_empty()) else {
            self.explainer.tell(&csr, Cause::NoAutoApprover).await;
            return Ok(());
        };
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
                if recognizer.subresource != SELF_NODE_SERVER {
                    self.verify_not_blocked(&csr, &x509).await?;
                }
                match recognizer.then {
                    Check::Nothing => {}
                    Check::TokenBinding => self.verify_token_binding(&csr, &x509).await?,
                    Check::NodeAddresses => self.verify_addresses(&csr, &x509).await?,
                    Check::Lineage => self.verify_lineage(&csr, &x509).await?,
                }
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

/// The request a single-use token is kept for, when it is not `this` one: the requester's
/// approved kubelet client request, else its earliest open one (neither denied nor failed) that
/// csrapproving could approve, i.e. for the node the token is `bound` to if any. Workers looking
/// at two requests at once thus agree on one of them, and a request for another node (which
/// only a person may approve) cannot hold the token from the node it is for.
fn used_by_another(
    requested: &[Arc<CertificateSigningRequest>],
    this: &str,
    bound: Option<&str>,
) -> Option<String> {
    let client = |csr: &&Arc<CertificateSigningRequest>| {
        csr.spec.signer_name == pki::signer::KUBE_APISERVER_CLIENT_KUBELET
            && !crate::csr::is_denied(csr)
            && !crate::csr::is_failed(csr)
    };
    let for_bound_node = |csr: &&Arc<CertificateSigningRequest>| {
        let Some(node) = bound else { return true };
        pki::ParsedCsr::from_pem(&csr.spec.request).is_ok_and(|parsed| {
            parsed
                .common_name()
                .and_then(|cn| cn.strip_prefix(pki::signer::NODE_CN_PREFIX))
                == Some(node)
        })
    };
    let kept = requested
        .iter()
        .filter(client)
        .filter(|csr| crate::csr::is_approved(csr))
        .min_by_key(|csr| &csr.metadata.name)
        .or_else(|| {
            requested
                .iter()
                .filter(client)
                .filter(for_bound_node)
                .min_by(|a, b| {
                    (a.metadata.creation_timestamp)
                        .cmp(&b.metadata.creation_timestamp)
                        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
                })
        })?;
    (kept.metadata.name != this).then(|| kept.metadata.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::authentication::v1::EXPIRED_CLIENT_CERTIFICATE_GROUP;

    fn csr(
        cn: &str,
        org: &[&str],
        username: &str,
        usages: &[&str],
        signer: &str,
    ) -> CertificateSigningRequest {
        let sans = if signer == pki::signer::KUBELET_SERVING {
            pki::SubjectAltNames {
                dns: vec!["a".into()],
                ips: vec!["10.0.0.1".parse().unwrap()],
            }
        } else {
            pki::SubjectAltNames::default()
        };
        let key = pki::PrivateKey::generate_p256().unwrap();
        let pem = pki::build_csr(
            &key,
            &pki::CsrSubject {
                common_name: cn.to_string(),
                organizations: org.iter().map(|s| s.to_string()).collect(),
            },
            &sans,
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
        assert_eq!(recognized(&c, true).unwrap(), ["nodeclient"]);
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
        assert_eq!(
            recognized(&c, true).unwrap(),
            ["selfnodeclient", "nodeclient"]
        );
        // Node a asking for node other's certificate: not a self renewal.
        let c = csr(
            "system:node:other",
            &["system:nodes"],
            "system:node:a",
            &USAGES,
            CLIENT,
        );
        assert_eq!(recognized(&c, true).unwrap(), ["nodeclient"]);
    }

    #[test]
    fn a_renewal_by_an_expired_certificate_is_expirednodeclient_then_nodeclient() {
        let expired_user = "kubelet-tls-bootstrap:expired:system:node:a";
        let mut c = csr(
            "system:node:a",
            &["system:nodes"],
            expired_user,
            &USAGES,
            CLIENT,
        );
        // Without the group only the apiserver gives: an ordinary user of that name.
        assert_eq!(recognized(&c, true).unwrap(), ["nodeclient"]);
        c.spec.groups = vec![
            EXPIRED_CLIENT_CERTIFICATE_GROUP.to_string(),
            "system:authenticated".to_string(),
        ];
        assert_eq!(
            recognized(&c, true).unwrap(),
            [EXPIRED_NODE_CLIENT, "nodeclient"]
        );
        // Node a's expired certificate asking for node b: not its own renewal.
        let mut other = csr(
            "system:node:b",
            &["system:nodes"],
            expired_user,
            &USAGES,
            CLIENT,
        );
        other.spec.groups = c.spec.groups.clone();
        assert_eq!(recognized(&other, true).unwrap(), ["nodeclient"]);
    }

    #[test]
    fn a_node_s_own_serving_request_is_selfnodeserver_when_turned_on() {
        let serving = csr(
            "system:node:a",
            &["system:nodes"],
            "system:node:a",
            &["digital signature", "server auth"],
            pki::signer::KUBELET_SERVING,
        );
        assert_eq!(recognized(&serving, true).unwrap(), [SELF_NODE_SERVER]);
        // The gate off: as upstream today, never.
        assert!(recognized(&serving, false).unwrap().is_empty());
        // Asked by someone else (a bootstrapper, another node) for node a: never.
        for requester in ["system:bootstrap:abcdef", "system:node:b"] {
            let mut other = serving.clone();
            other.spec.username = requester.into();
            assert!(recognized(&other, true).unwrap().is_empty(), "{requester}");
        }
        // Not in the kubelet-serving shape: client auth, or another organization.
        let client_usage = csr(
            "system:node:a",
            &["system:nodes"],
            "system:node:a",
            &["digital signature", "client auth"],
            pki::signer::KUBELET_SERVING,
        );
        assert!(recognized(&client_usage, true).unwrap().is_empty());
        let wrong_org = csr(
            "system:node:a",
            &["system:masters"],
            "system:node:a",
            &["digital signature", "server auth"],
            pki::signer::KUBELET_SERVING,
        );
        assert!(recognized(&wrong_org, true).unwrap().is_empty());
        // A serving-shaped request for the client signer is not a serving request.
        let mut client_signer = serving.clone();
        client_signer.spec.signer_name = CLIENT.into();
        assert!(recognized(&client_signer, true).unwrap().is_empty());
    }

    #[test]
    fn odd_requests_are_not_recognized() {
        let wrong_org = csr(
            "system:node:a",
            &["system:masters"],
            "system:node:a",
            &USAGES,
            CLIENT,
        );
        assert!(recognized(&wrong_org, true).unwrap().is_empty());
        let wrong_usage = csr(
            "system:node:a",
            &["system:nodes"],
            "system:node:a",
            &["server auth"],
            CLIENT,
        );
        assert!(recognized(&wrong_usage, true).unwrap().is_empty());
        let mut garbage = wrong_usage.clone();
        garbage.spec.request = b"junk".to_vec();
        assert!(
            recognized(&garbage, true)
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

    #[test]
    fn a_single_use_token_is_kept_for_its_approved_else_its_earliest_open_request() {
        use protocol::meta::Time;
        let at = |secs: u64| {
            Some(Time::from_system_time(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs),
            ))
        };
        let request = |name: &str, node: &str, created: u64, conditions: &[&str]| {
            let mut csr = csr(
                &format!("system:node:{node}"),
                &["system:nodes"],
                "system:bootstrap:abcdef",
                &USAGES,
                CLIENT,
            );
            csr.metadata.name = name.to_string();
            csr.metadata.creation_timestamp = at(created);
            for c in conditions {
                csr.status
                    .conditions
                    .push(true_condition(c, "R", "", at(created + 1)));
            }
            Arc::new(csr)
        };
        let later = request("csr-a-later", "n1", 20, &[]);
        let earlier = request("csr-z-earlier", "n1", 10, &[]);
        let denied = request("csr-0-denied", "n1", 1, &["Denied"]);
        let open = [later.clone(), earlier.clone(), denied.clone()];
        // The earliest open one, whatever the names.
        assert_eq!(used_by_another(&open, "csr-z-earlier", None), None);
        assert_eq!(
            used_by_another(&open, "csr-a-later", None).as_deref(),
            Some("csr-z-earlier")
        );
        // A request for another node does not hold a bound token from its node.
        let elsewhere = request("csr-elsewhere", "n2", 0, &[]);
        let with_elsewhere = [later.clone(), earlier.clone(), elsewhere.clone()];
        assert_eq!(
            used_by_another(&with_elsewhere, "csr-z-earlier", Some("n1")),
            None
        );
        assert_eq!(
            used_by_another(&with_elsewhere, "csr-z-earlier", None).as_deref(),
            Some("csr-elsewhere")
        );
        // Nor does a request for another signer.
        let mut other_signer = (*request("csr-other", "n1", 0, &[])).clone();
        other_signer.spec.signer_name = pki::signer::KUBE_APISERVER_CLIENT.to_string();
        let with_other = [earlier.clone(), Arc::new(other_signer)];
        assert_eq!(used_by_another(&with_other, "csr-z-earlier", None), None);
        // An approved one wins over an earlier open one; a failed approval does not count.
        let approved = request("csr-m-approved", "n1", 30, &[CONDITION_APPROVED]);
        let failed = request("csr-b-failed", "n1", 5, &[CONDITION_APPROVED, "Failed"]);
        let all = [later, earlier, denied, approved, failed, elsewhere];
        assert_eq!(
            used_by_another(&all, "csr-z-earlier", Some("n1")).as_deref(),
            Some("csr-m-approved")
        );
        assert_eq!(used_by_another(&all, "csr-m-approved", Some("n1")), None);
        assert_eq!(used_by_another(&[], "csr-x", None), None);
    }
}
