//! Why a CSR is stuck, said where an operator looks: an Event on the CSR, which
//! `kubectl describe csr <name>` lists. kube-controller-manager stays silent when it does not
//! approve a request or has no CA for its signer, and "approved but never issued" or
//! "pending forever" is a common support question. We say it once per CSR and cause, and
//! only when something waits: a CSR that is approved and issued gets no event, so a storm of
//! joining nodes costs no extra writes.
//!
//! Each event's name is derived from the CSR and the cause, so a second controller-manager
//! (or a restart) finds it already there instead of repeating it. The apiserver drops events after
//! `--event-ttl` (1 h), as kube-apiserver does.

use std::collections::HashSet;
use std::sync::Mutex;

use client::Client;
use protocol::certificates::v1::{API_VERSION, CertificateSigningRequest};
use protocol::core::v1::{Event, EventSource, NODE_CLIENT_CERTIFICATE_ANNOTATION, ObjectReference};
use protocol::meta::{ObjectMeta, Time};

use crate::flags::signer_flag_stem;
use crate::revoked_users::Revoked;

/// Events about cluster-scoped objects live in `default`, as upstream's recorder puts them.
pub const EVENT_NAMESPACE: &str = "default";
/// `reportingComponent` of our events.
pub const REPORTING_COMPONENT: &str = "kube-controller-manager";
/// Names remembered as told before the set is forgotten (it only saves repeated creates).
const TOLD_MAX: usize = 50_000;

/// Why a CSR waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A kubelet client request whose requester the SubjectAccessReviews did not allow.
    NotAutoApproved { subresources: Vec<&'static str> },
    /// A request csrapproving does not judge at all (other signers, serving certificates
    /// not asked by their node).
    NoAutoApprover,
    /// A node's own serving request, allowed by the review, naming an address that is not
    /// its own (`detail` says which).
    AddressesNotVerified { detail: String },
    /// A bootstrap request whose token is bound to another node (`token_binding`).
    TokenBoundToOtherNode {
        token: String,
        bound: String,
        asked: String,
    },
    /// A bootstrap request made with a single-use token that approved another one already
    /// (`token_binding`, decision 0026).
    TokenAlreadyUsed { token: String, by: String },
    /// Approved for a `kubernetes.io/*` signer this controller-manager has no CA for.
    SignerNotConfigured,
    /// csrapproving would approve it, but the apiserver refused our approval (no `approve`
    /// on the signer).
    ApprovalForbidden,
    /// A client request for a user a CertificateRevocation blocks (decision 0023).
    SubjectRevoked { user: String, revoked: Revoked },
    /// A renewal by an expired certificate that is not the one the node's Node names
    /// (decision 0027): `head` is `None` without a Node, `Some(None)` without the annotation.
    NotLineageHead {
        node: String,
        presented: String,
        head: Option<Option<String>>,
    },
}

impl Cause {
    /// The event's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Cause::NotAutoApproved { .. } => "NotAutoApproved",
            Cause::NoAutoApprover => "NoAutoApprover",
            Cause::AddressesNotVerified { .. } => "AddressesNotVerified",
            Cause::TokenBoundToOtherNode { .. } => "TokenBoundToOtherNode",
            Cause::TokenAlreadyUsed { .. } => "TokenAlreadyUsed",
            Cause::SignerNotConfigured => "SignerNotConfigured",
            Cause::ApprovalForbidden => "ApprovalForbidden",
            Cause::SubjectRevoked { .. } => crate::signer::SUBJECT_REVOKED,
            Cause::NotLineageHead { .. } => "NotLineageHead",
        }
    }

    fn controller(&self) -> &'static str {
        match self {
            Cause::NotAutoApproved { .. }
            | Cause::NoAutoApprover
            | Cause::AddressesNotVerified { .. }
            | Cause::TokenBoundToOtherNode { .. }
            | Cause::TokenAlreadyUsed { .. }
            | Cause::ApprovalForbidden
            | Cause::SubjectRevoked { .. }
            | Cause::NotLineageHead { .. } => crate::controllers::CSR_APPROVING,
            Cause::SignerNotConfigured => crate::controllers::CSR_SIGNING,
        }
    }

    /// A missing CA is a configuration error and a node asking for another's address may
    /// be an attack; the rest is policy working as configured.
    fn event_type(&self) -> &'static str {
        match self {
            Cause::SignerNotConfigured
            | Cause::AddressesNotVerified { .. }
            | Cause::TokenBoundToOtherNode { .. }
            | Cause::TokenAlreadyUsed { .. }
            | Cause::ApprovalForbidden
            | Cause::SubjectRevoked { .. }
            | Cause::NotLineageHead { .. } => "Warning",
            _ => "Normal",
        }
    }

    /// What happened and what the operator can do, with the CSR's own names in it.
    pub fn message(&self, csr: &CertificateSigningRequest) -> String {
        let name = &csr.metadata.name;
        let signer = &csr.spec.signer_name;
        match self {
            Cause::NotAutoApproved { subresources }
                if subresources == &[crate::approver::SELF_NODE_SERVER] =>
            {
                format!(
                    "Not approved automatically: {} (groups {:?}) may not create \
                     certificatesigningrequests/selfnodeserver. To approve nodes' own serving \
                     certificates automatically, create a ClusterRole allowing that (e.g. \
                     system:certificates.k8s.io:certificatesigningrequests:selfnodeserver) and \
                     bind it to the group system:nodes; to approve this one: kubectl \
                     certificate approve {name}",
                    csr.spec.username, csr.spec.groups,
                )
            }
            Cause::NotAutoApproved { subresources } => {
                let asked: Vec<String> = subresources
                    .iter()
                    .map(|s| format!("certificatesigningrequests/{s}"))
                    .collect();
                // An expired certificate's renewal matches `nodeclient` too; its own role is
                // the one to bind, not the bootstrap approval.
                let role = if subresources.contains(&crate::approver::EXPIRED_NODE_CLIENT) {
                    rbac::bootstrap::EXPIRED_NODE_CLIENT_ROLE.to_string()
                } else {
                    let sub = subresources.last().copied().unwrap_or("nodeclient");
                    format!("system:certificates.k8s.io:certificatesigningrequests:{sub}")
                };
                format!(
                    "Not approved automatically: {} (groups {:?}) may not create {}. To approve \
                     such requests automatically, bind the ClusterRole {role} to that user or \
                     one of its groups; to approve this one: kubectl certificate approve {name}",
                    csr.spec.username,
                    csr.spec.groups,
                    asked.join(" or "),
                )
            }
            Cause::NoAutoApprover if signer == pki::signer::KUBELET_SERVING => format!(
                "Not approved automatically: csrapproving approves {signer} requests only from \
                 the node they name (requester and CN system:node:<name>, O=system:nodes, \
                 server auth) with the RotateKubeletServerCertificate feature gate on, when the \
                 node may create certificatesigningrequests/selfnodeserver. Check the names it \
                 asks for, then: kubectl certificate approve {name}"
            ),
            Cause::NoAutoApprover => format!(
                "Not approved automatically: csrapproving only approves kubelet client \
                 certificates (signer {}, CN=system:node:<name>, O=system:nodes). It waits for \
                 another approver or: kubectl certificate approve {name}",
                pki::signer::KUBE_APISERVER_CLIENT_KUBELET
            ),
            Cause::AddressesNotVerified { detail } => format!(
                "Not approved automatically: {detail}. A node's serving certificate may name \
                 only addresses its own Node reports (status.addresses) and no IP address \
                 another Node reports. Check the names it asks for, then: kubectl certificate \
                 approve {name}"
            ),
            Cause::TokenBoundToOtherNode {
                token,
                bound,
                asked,
            } => format!(
                "Not approved automatically: bootstrap token {token} may join only node \
                 {bound:?} (annotation {} on secret kube-system/bootstrap-token-{token}), but this \
                 request is for node {asked:?}. If that node is right: kubectl certificate \
                 approve {name}",
                crate::token_binding::NODE_NAME_ANNOTATION
            ),
            Cause::TokenAlreadyUsed { token, by } => format!(
                "Not approved automatically: bootstrap token {token} is single-use (annotation \
                 {} on secret kube-system/bootstrap-token-{token}) and csr {by}, made with it \
                 first, is approved or waits. A second machine holds the token, or this one lost \
                 its key. \
                 To let this machine in instead: kubectl certificate approve {name}, or give it \
                 a new token",
                crate::token_binding::SINGLE_USE_ANNOTATION
            ),
            Cause::ApprovalForbidden => format!(
                "Would be approved automatically, but the apiserver refused the approval: this \
                 controller-manager's user may not approve {signer} requests. Bind the \
                 ClusterRole system:certificates.k8s.io:{role} to it (e.g. the user \
                 system:kube-controller-manager); to approve this one: kubectl certificate \
                 approve {name}",
                role = signer
                    .strip_prefix("kubernetes.io/")
                    .map(|s| format!("{s}-approver"))
                    .unwrap_or_else(|| "<signer>-approver".to_string()),
            ),
            Cause::SubjectRevoked { user, revoked } => format!(
                "Not approved automatically: {}. Approving it would not help: csrsigning does \
                 not sign it",
                blocked_message(user, revoked)
            ),
            Cause::NotLineageHead {
                node,
                presented,
                head,
            } => {
                let head = match head {
                    None => format!("there is no Node {node:?}"),
                    Some(None) => format!(
                        "Node {node:?} names no client certificate (annotation \
                         {NODE_CLIENT_CERTIFICATE_ANNOTATION})"
                    ),
                    Some(Some(id)) => format!("Node {node:?} names {id}"),
                };
                format!(
                    "Not approved automatically: an expired client certificate ({presented}) asks \
                     to renew node {node:?}, but only the newest certificate of the node may, and \
                     {head}. An older copy of the node's key, or a machine that is not the node, \
                     may have made it. If this machine is the node: kubectl certificate approve \
                     {name}, or give it a bootstrap token (lab node replace {node})"
                )
            }
            Cause::SignerNotConfigured => format!(
                "Approved, but this controller-manager has no CA for signer {signer}, so no \
                 certificate will be issued. Start it with --cluster-signing-cert-file and \
                 --cluster-signing-key-file (every kubernetes.io signer) or \
                 --cluster-signing-{stem}-cert-file and --cluster-signing-{stem}-key-file",
                stem = signer_flag_stem(signer).unwrap_or("<signer>"),
            ),
        }
    }
}

/// Why a client certificate for a blocked user is neither approved nor signed, and how to let
/// the node in again.
pub fn blocked_message(user: &str, revoked: &Revoked) -> String {
    let node = user
        .strip_prefix(pki::signer::NODE_CN_PREFIX)
        .map(|node| format!(" (or `lab node replace {node}` for a new machine)"))
        .unwrap_or_default();
    format!(
        "{user} is blocked: certificaterevocation {by} revokes its certificates issued until {until}, \
         so the apiserver would refuse a certificate issued now. To let it join again: kubectl \
         delete certificaterevocation {by}{node}",
        by = revoked.by,
        until = Time::from_system_time(revoked.until),
    )
}

/// Whether the controller-manager would sign for `signer` given a CA: the four
/// `kubernetes.io` signers. Others belong to external signers and are not ours to explain.
pub fn is_built_in_signer(signer: &str) -> bool {
    signer_flag_stem(signer).is_some()
}

/// `<readable part>.<hash>.<cause>`: CSR names may hold upper case and `_` (the kubelet's
/// `node-csr-<base64url>`) where an event name must be a DNS subdomain, so the readable part
/// is the name reduced to `[a-z0-9-]`, and the hash of the exact name and uid keeps two CSRs
/// (or a CSR re-created under the same name) apart.
pub fn event_name(csr: &CertificateSigningRequest, cause: &Cause) -> String {
    let readable: String = csr
        .metadata
        .name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        // One DNS label at most, though the apiserver would take a longer one.
        .take(63)
        .collect();
    let readable = readable.trim_matches('-');
    let readable = if readable.is_empty() { "csr" } else { readable };
    let hash = fnv1a(&[
        csr.metadata.name.as_bytes(),
        b"\0",
        csr.metadata.uid.as_bytes(),
    ]);
    format!(
        "{readable}.{hash:016x}.{}",
        cause.reason().to_ascii_lowercase()
    )
}

/// FNV-1a, 64 bits: stable across builds, so every controller-manager names an event alike.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Writes the events, each at most once per CSR and cause.
pub struct Explainer {
    client: Client,
    /// `reportingInstance`: which controller-manager said it.
    instance: String,
    told: Mutex<HashSet<String>>,
}

impl Explainer {
    pub fn new(client: Client, instance: String) -> Explainer {
        Explainer {
            client,
            instance,
            told: Mutex::new(HashSet::new()),
        }
    }

    /// Records `cause` on `csr` unless it was said already. Failing to say it only logs: the
    /// controllers' work never waits on an explanation.
    pub async fn tell(&self, csr: &CertificateSigningRequest, cause: Cause) {
        let name = event_name(csr, &cause);
        if self.told().contains(&name) {
            return;
        }
        let event = self.event(csr, &cause, &name);
        match self.client.create(Some(EVENT_NAMESPACE), &event).await {
            Ok(_) => {
                tracing::info!(csr = %csr.metadata.name, reason = cause.reason(), "{}", event.message);
            }
            Err(e) if e.is_already_exists() => {}
            Err(error) => {
                tracing::debug!(csr = %csr.metadata.name, %error, "unable to record event");
                return;
            }
        }
        let mut told = self.told();
        if told.len() >= TOLD_MAX {
            told.clear();
        }
        told.insert(name);
    }

    fn told(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.told.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn event(&self, csr: &CertificateSigningRequest, cause: &Cause, name: &str) -> Event {
        let now = Time::now();
        Event {
            metadata: ObjectMeta {
                name: name.to_string(),
                namespace: EVENT_NAMESPACE.to_string(),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: "CertificateSigningRequest".to_string(),
                api_version: API_VERSION.to_string(),
                name: csr.metadata.name.clone(),
                uid: csr.metadata.uid.clone(),
                resource_version: csr.metadata.resource_version.clone(),
                ..Default::default()
            },
            reason: cause.reason().to_string(),
            message: cause.message(csr),
            source: EventSource {
                component: cause.controller().to_string(),
                host: String::new(),
            },
            first_timestamp: Some(now),
            last_timestamp: Some(now),
            count: 1,
            type_: cause.event_type().to_string(),
            reporting_component: REPORTING_COMPONENT.to_string(),
            reporting_instance: self.instance.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::meta::names::is_dns1123_subdomain as is_dns_subdomain;

    fn csr(name: &str, signer: &str) -> CertificateSigningRequest {
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = name.to_string();
        csr.spec.signer_name = signer.to_string();
        csr.spec.username = "system:bootstrap:abcdef".to_string();
        csr.spec.groups = vec![
            "system:bootstrappers".to_string(),
            "system:authenticated".to_string(),
        ];
        csr
    }

    #[test]
    fn names_are_per_csr_and_cause_and_stay_dns_subdomains() {
        let mut kubelet = csr("node-csr-_TvMaroZPGuKAhc-3264feuLT43NT__E-24Y", "x");
        kubelet.metadata.uid = "u1".to_string();
        let name = event_name(&kubelet, &Cause::NoAutoApprover);
        assert!(is_dns_subdomain(&name), "{name}");
        assert!(
            name.starts_with("node-csr--tvmarozpgukahc-3264feult43nt--e-24y."),
            "{name}"
        );
        assert!(name.ends_with(".noautoapprover"), "{name}");
        // Same name and uid, same event; another cause, case or uid, another event.
        assert_eq!(name, event_name(&kubelet.clone(), &Cause::NoAutoApprover));
        assert_ne!(name, event_name(&kubelet, &Cause::SignerNotConfigured));
        let mut upper = kubelet.clone();
        upper.metadata.name = kubelet.metadata.name.to_ascii_uppercase();
        assert_ne!(name, event_name(&upper, &Cause::NoAutoApprover));
        let mut again = kubelet.clone();
        again.metadata.uid = "u2".to_string();
        assert_ne!(name, event_name(&again, &Cause::NoAutoApprover));
        for odd in ["_", &"a".repeat(253), "a.b..c", "-x-"] {
            let name = event_name(&csr(odd, "x"), &Cause::SignerNotConfigured);
            assert!(is_dns_subdomain(&name), "{odd:?} -> {name}");
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let client = csr("node-csr-1", pki::signer::KUBE_APISERVER_CLIENT_KUBELET);
        let message = Cause::NotAutoApproved {
            subresources: vec!["nodeclient"],
        }
        .message(&client);
        assert!(
            message.starts_with(
                "Not approved automatically: system:bootstrap:abcdef (groups [\"system:bootstrappers\", \"system:authenticated\"]) may not create certificatesigningrequests/nodeclient."
            ),
            "{message}"
        );
        assert!(message.contains(
            "bind the ClusterRole system:certificates.k8s.io:certificatesigningrequests:nodeclient"
        ));
        assert!(message.ends_with("kubectl certificate approve node-csr-1"));
        let message = Cause::NotAutoApproved {
            subresources: vec![crate::approver::EXPIRED_NODE_CLIENT, "nodeclient"],
        }
        .message(&client);
        assert!(
            message.contains(
                "may not create certificatesigningrequests/expirednodeclient or \
                 certificatesigningrequests/nodeclient. To approve such requests automatically, \
                 bind the ClusterRole kubelet-tls-bootstrap:certificatesigningrequests:expirednodeclient"
            ),
            "{message}"
        );

        let serving = csr("csr-x", pki::signer::KUBELET_SERVING);
        let message = Cause::NoAutoApprover.message(&serving);
        assert!(
            message.contains("approves kubernetes.io/kubelet-serving requests only from the node"),
            "{message}"
        );
        let message = Cause::NotAutoApproved {
            subresources: vec![crate::approver::SELF_NODE_SERVER],
        }
        .message(&serving);
        assert!(
            message.contains("may not create certificatesigningrequests/selfnodeserver")
                && message.contains("bind it to the group system:nodes"),
            "{message}"
        );
        let refused = Cause::AddressesNotVerified {
            detail: "IP address 10.0.0.1 is also an address of node \"b\"".into(),
        };
        let message = refused.message(&serving);
        assert!(
            message.starts_with(
                "Not approved automatically: IP address 10.0.0.1 is also an address of node \"b\". "
            ) && message.ends_with("kubectl certificate approve csr-x"),
            "{message}"
        );
        assert_eq!(refused.event_type(), "Warning");
        let bound = Cause::TokenBoundToOtherNode {
            token: "abcdef".into(),
            bound: "worker-a".into(),
            asked: "worker-b".into(),
        };
        let message = bound.message(&client);
        assert!(
            message.starts_with(
                "Not approved automatically: bootstrap token abcdef may join only node \"worker-a\" (annotation kubelet-tls-bootstrap/node-name on secret kube-system/bootstrap-token-abcdef), but this request is for node \"worker-b\"."
            ),
            "{message}"
        );
        assert_eq!(bound.event_type(), "Warning");
        let message = Cause::ApprovalForbidden.message(&serving);
        assert!(
            message.contains(
                "Bind the ClusterRole system:certificates.k8s.io:kubelet-serving-approver"
            ),
            "{message}"
        );
        let message = Cause::SignerNotConfigured.message(&serving);
        assert!(
            message.contains("--cluster-signing-kubelet-serving-cert-file"),
            "{message}"
        );
        assert_eq!(Cause::SignerNotConfigured.event_type(), "Warning");
        assert_eq!(Cause::NoAutoApprover.event_type(), "Normal");
        assert!(is_built_in_signer(pki::signer::LEGACY_UNKNOWN));
        assert!(!is_built_in_signer("example.com/custom"));
    }
}
