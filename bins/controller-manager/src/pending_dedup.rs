//! Ours (peers-and-pain-points #5, part 3 #5; decision 0028): one open request per node and
//! signer. A kubelet whose request is not answered asks again with a new key every 15 minutes
//! (upstream's certificate manager, and ours), so a node whose serving certificates nobody
//! approves piles up ~100 Pending CSRs a day until csrcleaner deletes them after 24 h
//! (kubernetes#51966, #51550). When a node asks again, csrapproving marks its older Pending
//! request for the same signer and name Failed, reason `Superseded`, naming the newer one.
//!
//! Only the node's own requests count: requester `system:node:<name>` (or the identity of its
//! expired certificate, decision 0027) asking for `system:node:<name>` with a kubelet signer.
//! A bootstrap token's requests are left alone: one token may serve many machines, and a
//! kubelet retrying its bootstrap reuses its request (its name is derived from its key).

use std::sync::Arc;

use protocol::certificates::v1::CertificateSigningRequest;

use crate::csr::{is_approved, is_denied, is_failed, is_issued, requesting_node};

/// The Failed condition's reason.
pub const SUPERSEDED: &str = "Superseded";

/// Waiting for a verdict: no condition that ends it, no certificate.
fn is_pending(csr: &CertificateSigningRequest) -> bool {
    !is_approved(csr) && !is_denied(csr) && !is_failed(csr) && !is_issued(csr)
}

/// The node user (`system:node:<name>`) that made `csr` for itself with a kubelet signer, if
/// it did.
fn own_node_request(csr: &CertificateSigningRequest) -> Option<String> {
    let signer = csr.spec.signer_name.as_str();
    if signer != pki::signer::KUBE_APISERVER_CLIENT_KUBELET
        && signer != pki::signer::KUBELET_SERVING
    {
        return None;
    }
    let user = requesting_node(csr)?;
    let request = pki::ParsedCsr::from_pem(&csr.spec.request).ok()?;
    (request.common_name() == Some(user)).then(|| user.to_string())
}

/// Creation order: the timestamp, then the name, so two requests never both come first.
fn created_before(a: &CertificateSigningRequest, b: &CertificateSigningRequest) -> bool {
    let key = |c: &CertificateSigningRequest| {
        (
            c.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.to_system_time()),
            c.metadata.name.clone(),
        )
    };
    key(a) < key(b)
}

/// What one look at a request finds obsolete among its node's requests (`requested`, its
/// requester's CSRs from the cache's index, read once and only for a node's own request).
#[derive(Debug, Default)]
pub struct Obsolete {
    /// The Pending requests it makes obsolete: those made before it for the same node and
    /// signer. None when it was denied or failed (then the older ones may still be wanted).
    pub older: Vec<Arc<CertificateSigningRequest>>,
    /// When it is Pending itself, the newest request that makes it obsolete: one made after it
    /// by the same node for the same signer, Pending too. Two requests made in the same second
    /// may each be looked at before the other is known, and one left to a person is not looked
    /// at again, so each look checks both ways. Only a Pending newer one counts: creation
    /// times have whole seconds, so within one second "after" is the name's order, and a
    /// request already answered may well be the older one.
    pub newer: Option<Arc<CertificateSigningRequest>>,
}

/// Both directions of the dedup for `csr`; nothing when it is not a node's own request.
pub fn obsolete(
    csr: &CertificateSigningRequest,
    requested: impl FnOnce() -> Vec<Arc<CertificateSigningRequest>>,
) -> Obsolete {
    // Before the index is read: a bootstrap token may have made thousands of requests.
    let Some(node) = own_node_request(csr) else {
        return Obsolete::default();
    };
    let wants_older = !is_denied(csr) && !is_failed(csr);
    let wants_newer = is_pending(csr);
    let mut found = Obsolete::default();
    for other in requested() {
        let same_node = other.metadata.name != csr.metadata.name
            && other.spec.signer_name == csr.spec.signer_name
            && is_pending(&other)
            // Last: it parses the request.
            && own_node_request(&other).as_deref() == Some(node.as_str());
        if !same_node {
            continue;
        }
        if created_before(&other, csr) {
            if wants_older {
                found.older.push(other);
            }
        } else if wants_newer
            && found
                .newer
                .as_ref()
                .is_none_or(|newest| created_before(newest, &other))
        {
            found.newer = Some(other);
        }
    }
    found
}

/// The Failed condition's message on `older`.
pub fn message(newer: &CertificateSigningRequest) -> String {
    format!(
        "Superseded by csr {}: the node asked again for a {} certificate, and only its newest \
         request is kept open. Approve that one instead",
        newer.metadata.name, newer.spec.signer_name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::authentication::v1::{
        EXPIRED_CLIENT_CERTIFICATE_GROUP, EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX,
    };
    use protocol::meta::Time;

    fn request(
        name: &str,
        requester: &str,
        cn: &str,
        signer: &str,
        at: u64,
    ) -> CertificateSigningRequest {
        let key = pki::PrivateKey::generate_p256().unwrap();
        let sans = if signer == pki::signer::KUBELET_SERVING {
            pki::SubjectAltNames {
                dns: vec!["n1".into()],
                ips: Vec::new(),
            }
        } else {
            pki::SubjectAltNames::default()
        };
        let pem = pki::build_csr(
            &key,
            &pki::CsrSubject {
                common_name: cn.to_string(),
                organizations: vec!["system:nodes".to_string()],
            },
            &sans,
        )
        .unwrap();
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = name.into();
        csr.metadata.creation_timestamp = Some(Time::from_system_time(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + at),
        ));
        csr.spec.request = pem.into_bytes();
        csr.spec.signer_name = signer.into();
        csr.spec.username = requester.into();
        csr
    }

    fn superseded_by(
        newer: &CertificateSigningRequest,
        requested: impl FnOnce() -> Vec<Arc<CertificateSigningRequest>>,
    ) -> Vec<Arc<CertificateSigningRequest>> {
        obsolete(newer, requested).older
    }

    fn superseding(
        older: &CertificateSigningRequest,
        requested: impl FnOnce() -> Vec<Arc<CertificateSigningRequest>>,
    ) -> Option<Arc<CertificateSigningRequest>> {
        obsolete(older, requested).newer
    }

    const SERVING: &str = pki::signer::KUBELET_SERVING;
    const CLIENT: &str = pki::signer::KUBE_APISERVER_CLIENT_KUBELET;
    const NODE: &str = "system:node:n1";

    fn names(csrs: Vec<Arc<CertificateSigningRequest>>) -> Vec<String> {
        let mut names: Vec<String> = csrs.iter().map(|c| c.metadata.name.clone()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_node_s_newer_request_supersedes_its_older_pending_ones_for_the_same_signer() {
        let older = request("csr-a", NODE, NODE, SERVING, 0);
        let mut approved = request("csr-b", NODE, NODE, SERVING, 1);
        approved
            .status
            .conditions
            .push(crate::csr::true_condition("Approved", "x", "y", None));
        let other_signer = request("csr-c", NODE, NODE, CLIENT, 2);
        let newer = request("csr-d", NODE, NODE, SERVING, 900);
        let later = request("csr-e", NODE, NODE, SERVING, 1800);
        let requested: Vec<_> = [&older, &approved, &other_signer, &newer, &later]
            .into_iter()
            .cloned()
            .map(Arc::new)
            .collect();
        // Only the older Pending one for the same signer; never a later one.
        assert_eq!(
            names(superseded_by(&newer, || requested.clone())),
            ["csr-a"]
        );
        assert_eq!(
            names(superseded_by(&later, || requested.clone())),
            ["csr-a", "csr-d"]
        );
        assert!(superseded_by(&older, || requested.clone()).is_empty());
        // Same second: the name decides, so exactly one of the two goes.
        let twin = request("csr-a2", NODE, NODE, SERVING, 0);
        let pair = vec![Arc::new(older.clone()), Arc::new(twin.clone())];
        assert_eq!(names(superseded_by(&twin, || pair.clone())), ["csr-a"]);
        assert!(superseded_by(&older, || pair.clone()).is_empty());
        // Looked at from the older side, the same verdicts: the newest newer one wins.
        assert_eq!(
            superseding(&older, || requested.clone()).map(|c| c.metadata.name.clone()),
            Some("csr-e".to_string())
        );
        assert_eq!(
            superseding(&twin, || pair.clone()).map(|c| c.metadata.name.clone()),
            None
        );
        assert_eq!(
            superseding(&older, || pair.clone()).map(|c| c.metadata.name.clone()),
            Some("csr-a2".to_string())
        );
        assert!(superseding(&approved, || requested.clone()).is_none());
        // An answered newer request does not count from the older side.
        let with_approved = vec![Arc::new(older.clone()), Arc::new(approved.clone())];
        assert!(superseding(&older, || with_approved.clone()).is_none());
        assert!(superseding(&later, || requested.clone()).is_none());
        // A denied newer request keeps the older ones open.
        let mut denied = newer.clone();
        denied
            .status
            .conditions
            .push(crate::csr::true_condition("Denied", "x", "y", None));
        assert!(superseded_by(&denied, || requested.clone()).is_empty());
        let with_denied = vec![Arc::new(older.clone()), Arc::new(denied)];
        assert!(superseding(&older, || with_denied.clone()).is_none());
        assert!(message(&newer).starts_with("Superseded by csr csr-d: "));
    }

    #[test]
    fn only_a_node_s_own_requests_count() {
        // A bootstrap token's requests for one node: left alone.
        let token = "system:bootstrap:abcdef";
        let a = request("a", token, NODE, CLIENT, 0);
        let b = request("b", token, NODE, CLIENT, 1);
        let both = vec![Arc::new(a.clone()), Arc::new(b.clone())];
        assert!(superseded_by(&b, || both.clone()).is_empty());
        assert!(superseding(&a, || both.clone()).is_none());
        // A node asking for another name, or another signer's requests: left alone.
        let other = request("c", NODE, "system:node:n2", CLIENT, 0);
        let mine = request("d", NODE, NODE, CLIENT, 1);
        let pair = vec![Arc::new(other), Arc::new(mine.clone())];
        assert!(superseded_by(&mine, || pair.clone()).is_empty());
        let plain = request("e", "alice", "alice", pki::signer::KUBE_APISERVER_CLIENT, 0);
        let plain2 = request("f", "alice", "alice", pki::signer::KUBE_APISERVER_CLIENT, 1);
        let pair = vec![Arc::new(plain), Arc::new(plain2.clone())];
        assert!(superseded_by(&plain2, || pair.clone()).is_empty());
        // The expired certificate's identity counts as the node, in its group only.
        let expired_user = format!("{EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX}{NODE}");
        let mut first = request("g", &expired_user, NODE, CLIENT, 0);
        let mut second = request("h", &expired_user, NODE, CLIENT, 1);
        let pair = vec![Arc::new(first.clone()), Arc::new(second.clone())];
        assert!(superseded_by(&second, || pair.clone()).is_empty());
        for csr in [&mut first, &mut second] {
            csr.spec.groups = vec![EXPIRED_CLIENT_CERTIFICATE_GROUP.to_string()];
        }
        let pair = vec![Arc::new(first), Arc::new(second.clone())];
        assert_eq!(names(superseded_by(&second, || pair.clone())), ["g"]);
    }
}
