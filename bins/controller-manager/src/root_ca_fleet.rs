//! Ours (decision 0029): how far the fleet is through a CA rotation, counted from what each
//! Node says: the bundle its agent trusts (`kubelet-tls-bootstrap/root-ca-bundle`) against the
//! bundle root-ca-cert-publisher publishes (`--root-ca-file` or the kubeconfig's CA, whichever
//! it is, as it changes), and the CA that issued its client certificate
//! (`kubelet-tls-bootstrap/client-certificate-issuer`, written by the apiserver) against the
//! CA the kubelet client signer signs with now. Each is `current`, `other` or `unreported`.
//!
//! The Nodes are listed and watched (the same `LazyIndex` machinery the serving-address
//! check uses), kept as just those two annotations, and counted again when one of them
//! changes (bursts settle for a moment first) or what is published changes: never per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use client::Client;
use protocol::core::v1::{
    NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION, NODE_ROOT_CA_BUNDLE_ANNOTATION, Node,
};
use tokio::sync::watch;

use crate::lazy_index::LazyIndex;
use crate::metrics::Metrics;
use crate::root_ca_publisher::Published;

/// How long node changes are let pile up before a recount.
const SETTLE: Duration = Duration::from_secs(1);

/// What a Node says about its trust and its client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeView {
    pub root_ca_bundle: Option<String>,
    pub client_certificate_issuer: Option<String>,
}

impl NodeView {
    fn project(node: Node) -> (String, NodeView) {
        let mut annotations = node.metadata.annotations;
        let view = NodeView {
            root_ca_bundle: annotations.remove(NODE_ROOT_CA_BUNDLE_ANNOTATION),
            client_certificate_issuer: annotations
                .remove(NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION),
        };
        (node.metadata.name, view)
    }
}

/// Nodes per `current`, `other`, `unreported`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    pub current: i64,
    pub other: i64,
    pub unreported: i64,
}

impl Split {
    fn add(&mut self, reported: Option<&String>, current: Option<&String>) {
        match reported {
            None => self.unreported += 1,
            Some(value) if Some(value) == current => self.current += 1,
            Some(_) => self.other += 1,
        }
    }

    /// `(label, count)` in a fixed order.
    pub fn labelled(&self) -> [(&'static str, i64); 3] {
        [
            ("current", self.current),
            ("other", self.other),
            ("unreported", self.unreported),
        ]
    }
}

/// Both counts of the fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetCounts {
    /// By `kubelet-tls-bootstrap/root-ca-bundle` against the published bundle.
    pub trusting_root_ca: Split,
    /// By `kubelet-tls-bootstrap/client-certificate-issuer` against the client signer's CA
    /// (with no CA for that signer, every reported issuer is `other`).
    pub client_certificate_issuer: Split,
}

/// Counts `nodes` against what is published.
pub fn count<'a>(
    nodes: impl IntoIterator<Item = &'a NodeView>,
    published: &Published,
) -> FleetCounts {
    let mut counts = FleetCounts::default();
    for node in nodes {
        counts
            .trusting_root_ca
            .add(node.root_ca_bundle.as_ref(), Some(&published.bundle_id));
        counts.client_certificate_issuer.add(
            node.client_certificate_issuer.as_ref(),
            published.client_signer_ca.as_ref(),
        );
    }
    counts
}

/// Keeps the fleet gauges current until the task is dropped. A failed first list is retried
/// every `retry`.
pub async fn run(
    client: Client,
    mut published: watch::Receiver<Arc<Published>>,
    metrics: Metrics,
    retry: Duration,
) {
    let nodes: LazyIndex<Node, NodeView> = LazyIndex::new(client, NodeView::project);
    let mut changes = nodes.subscribe();
    loop {
        changes.borrow_and_update();
        let now = Arc::clone(&published.borrow_and_update());
        match nodes
            .read(|nodes: &HashMap<String, NodeView>| count(nodes.values(), &now))
            .await
        {
            Ok(counts) => metrics.set_fleet(Some(counts)),
            Err(error) => {
                tracing::warn!(%error, "failed to list Nodes to count the CA rotation's progress; retrying");
                tokio::time::sleep(retry).await;
                continue;
            }
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                tokio::time::sleep(SETTLE).await;
            }
            changed = published.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(bundle: Option<&str>, issuer: Option<&str>) -> NodeView {
        NodeView {
            root_ca_bundle: bundle.map(str::to_string),
            client_certificate_issuer: issuer.map(str::to_string),
        }
    }

    #[test]
    fn nodes_are_counted_against_the_published_bundle_and_the_signer_s_ca() {
        let published = Published {
            ca_pem: String::new(),
            bundle_id: "SHA256=new".into(),
            client_signer_ca: Some("X509SHA256=new".into()),
            serving_signer_ca: None,
        };
        let nodes = [
            node(Some("SHA256=new"), Some("X509SHA256=new")),
            node(Some("SHA256=new"), Some("X509SHA256=old")),
            node(Some("SHA256=old"), Some("X509SHA256=old")),
            node(None, None),
            node(Some("SHA256=new"), None),
        ];
        let counts = count(&nodes, &published);
        assert_eq!(
            counts.trusting_root_ca,
            Split {
                current: 3,
                other: 1,
                unreported: 1
            }
        );
        assert_eq!(
            counts.client_certificate_issuer,
            Split {
                current: 1,
                other: 2,
                unreported: 2
            }
        );

        // No CA for the client signer: nothing is current.
        let none = Published {
            client_signer_ca: None,
            ..published
        };
        assert_eq!(
            count(&nodes, &none).client_certificate_issuer,
            Split {
                current: 0,
                other: 3,
                unreported: 2
            }
        );
        assert_eq!(count([], &none), FleetCounts::default());
    }

    #[test]
    fn a_node_is_kept_as_its_two_annotations() {
        let mut n = Node::default();
        n.metadata.name = "worker-1".into();
        n.metadata.annotations = [
            (
                NODE_ROOT_CA_BUNDLE_ANNOTATION.to_string(),
                "SHA256=x".to_string(),
            ),
            ("other".to_string(), "y".to_string()),
        ]
        .into();
        let (name, view) = NodeView::project(n);
        assert_eq!(name, "worker-1");
        assert_eq!(view, node(Some("SHA256=x"), None));
    }
}
