//! The addresses each Node reports, for the `selfnodeserver` recognizer: a node's serving
//! certificate may name only addresses its own Node object lists (`status.addresses`, which the
//! apiserver connects to) and no IP address another Node lists (an IP handed from one machine
//! to another must not let the new holder pose as the old one, KEP-4872's concern). Loopback
//! addresses are every machine's own and reach no other, so several Nodes may report them (a
//! lab's nodes on one host all do).
//!
//! Listed on first use and then kept current by a watch (`lazy_index`), so a cluster that never
//! lets serving CSRs be approved automatically never lists its Nodes.

use std::collections::HashMap;
use std::net::IpAddr;

use client::{Client, ClientError};
use protocol::core::v1::{Node, NodeAddress};

use crate::lazy_index::LazyIndex;

/// Why a serving request's names were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressRefusal {
    #[error("node {0:?} is not registered")]
    NoNode(String),
    #[error(
        "DNS name {name:?} is not an address (Hostname, InternalDNS or ExternalDNS) of node {node:?}"
    )]
    DnsNotOnNode { name: String, node: String },
    #[error("IP address {ip} is not an address of node {node:?}")]
    IpNotOnNode { ip: IpAddr, node: String },
    #[error("IP address {ip} is also an address of node {other:?}")]
    IpOfOtherNode { ip: IpAddr, other: String },
}

/// Node name -> its reported addresses.
type AddressMap = HashMap<String, Vec<NodeAddress>>;

/// Judges the names a serving request for `node` asks for against what the Nodes report.
pub fn check(
    nodes: &AddressMap,
    node: &str,
    dns_names: &[String],
    ips: &[IpAddr],
) -> Result<(), AddressRefusal> {
    let Some(own) = nodes.get(node) else {
        return Err(AddressRefusal::NoNode(node.to_string()));
    };
    for name in dns_names {
        let listed = own.iter().any(|a| {
            matches!(a.type_.as_str(), "Hostname" | "InternalDNS" | "ExternalDNS")
                && a.address.eq_ignore_ascii_case(name)
        });
        if !listed {
            return Err(AddressRefusal::DnsNotOnNode {
                name: name.clone(),
                node: node.to_string(),
            });
        }
    }
    for ip in ips {
        // Any address type, so a node named by its IP (Hostname "10.0.0.5") may use it.
        if !own.iter().any(|a| is_ip(a, ip)) {
            return Err(AddressRefusal::IpNotOnNode {
                ip: *ip,
                node: node.to_string(),
            });
        }
        if ip.is_loopback() {
            continue;
        }
        let mut others: Vec<&String> = nodes
            .iter()
            .filter(|(name, addresses)| {
                name.as_str() != node && addresses.iter().any(|a| is_ip(a, ip))
            })
            .map(|(name, _)| name)
            .collect();
        others.sort();
        if let Some(other) = others.first() {
            return Err(AddressRefusal::IpOfOtherNode {
                ip: *ip,
                other: other.to_string(),
            });
        }
    }
    Ok(())
}

/// Compared as addresses, so `::1` and `0:0::1` are one.
fn is_ip(address: &NodeAddress, ip: &IpAddr) -> bool {
    address.address.parse::<IpAddr>().is_ok_and(|a| a == *ip)
}

/// Every Node's addresses, from a list and then a watch started on first use.
pub struct NodeAddresses {
    nodes: LazyIndex<Node, Vec<NodeAddress>>,
}

impl NodeAddresses {
    pub fn new(client: Client) -> NodeAddresses {
        NodeAddresses {
            nodes: LazyIndex::new(client, |node| (node.metadata.name, node.status.addresses)),
        }
    }

    /// Wakes when a Node appears, goes or changes its addresses.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.nodes.subscribe()
    }

    /// [`check`] against the current Nodes; the first call lists them (an error there is
    /// returned and the next call lists again).
    pub async fn check(
        &self,
        node: &str,
        dns_names: &[String],
        ips: &[IpAddr],
    ) -> Result<Result<(), AddressRefusal>, ClientError> {
        self.nodes
            .read(|nodes| check(nodes, node, dns_names, ips))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(type_: &str, address: &str) -> NodeAddress {
        NodeAddress {
            type_: type_.into(),
            address: address.into(),
        }
    }

    fn nodes() -> AddressMap {
        HashMap::from([
            (
                "worker-1".to_string(),
                vec![
                    address("InternalIP", "10.0.0.1"),
                    address("ExternalIP", "203.0.113.1"),
                    address("Hostname", "worker-1"),
                    address("InternalDNS", "worker-1.cluster.internal"),
                ],
            ),
            (
                "worker-2".to_string(),
                vec![
                    address("InternalIP", "10.0.0.2"),
                    address("Hostname", "worker-2"),
                ],
            ),
            (
                "10.0.0.9".to_string(),
                vec![address("Hostname", "10.0.0.9")],
            ),
        ])
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_and_ips_the_node_reports_pass() {
        let dns = [
            "worker-1".to_string(),
            "WORKER-1.cluster.internal".to_string(),
        ];
        assert_eq!(
            check(
                &nodes(),
                "worker-1",
                &dns,
                &[ip("10.0.0.1"), ip("203.0.113.1")]
            ),
            Ok(())
        );
        // A node named by its IP may ask for that IP.
        assert_eq!(check(&nodes(), "10.0.0.9", &[], &[ip("10.0.0.9")]), Ok(()));
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let nodes = nodes();
        assert_eq!(
            check(&nodes, "worker-3", &["worker-3".into()], &[]),
            Err(AddressRefusal::NoNode("worker-3".into()))
        );
        assert_eq!(
            check(&nodes, "worker-1", &["api.example.com".into()], &[]),
            Err(AddressRefusal::DnsNotOnNode {
                name: "api.example.com".into(),
                node: "worker-1".into()
            })
        );
        // An IP literal listed as an address is not a DNS name for it.
        let refused = check(&nodes, "worker-1", &["10.0.0.1".into()], &[]);
        assert!(matches!(refused, Err(AddressRefusal::DnsNotOnNode { .. })));
        assert_eq!(
            check(&nodes, "worker-1", &[], &[ip("10.0.0.2")]),
            Err(AddressRefusal::IpNotOnNode {
                ip: ip("10.0.0.2"),
                node: "worker-1".into()
            })
        );
    }

    #[test]
    fn an_ip_another_node_also_reports_is_refused() {
        let mut nodes = nodes();
        nodes
            .get_mut("worker-2")
            .unwrap()
            .push(address("InternalIP", "10.0.0.1"));
        assert_eq!(
            check(&nodes, "worker-1", &[], &[ip("10.0.0.1")]),
            Err(AddressRefusal::IpOfOtherNode {
                ip: ip("10.0.0.1"),
                other: "worker-2".into()
            })
        );
        // Written differently, still the same address.
        nodes.insert(
            "v6".into(),
            vec![address("InternalIP", "fd00::1"), address("Hostname", "v6")],
        );
        nodes
            .get_mut("worker-2")
            .unwrap()
            .push(address("InternalIP", "fd00:0::1"));
        assert!(matches!(
            check(&nodes, "v6", &[], &[ip("fd00::1")]),
            Err(AddressRefusal::IpOfOtherNode { .. })
        ));
        // Loopback is every node's own.
        for node in ["worker-1", "worker-2"] {
            nodes
                .get_mut(node)
                .unwrap()
                .push(address("InternalIP", "127.0.0.1"));
        }
        assert_eq!(check(&nodes, "worker-2", &[], &[ip("127.0.0.1")]), Ok(()));
    }
}
