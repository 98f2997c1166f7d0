//! The live view of `lab up`: per node, CSR created -> approved -> issued -> Node registered ->
//! serving certificate -> rotated, with the time since the lab started. Fed only by API watch
//! events (CSRs, Nodes, Leases); the [`Tracker`] is pure so its wording and ordering are tested
//! without processes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use protocol::certificates::v1::CertificateSigningRequest;
use protocol::coordination::v1::Lease;
use protocol::core::v1::Node;

/// Which certificate a CSR asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CertKind {
    Client,
    Serving,
}

impl CertKind {
    fn label(self) -> &'static str {
        match self {
            CertKind::Client => "client",
            CertKind::Serving => "serving",
        }
    }
}

/// What is known about one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeProgress {
    pub client_certificates: u32,
    pub serving_certificates: u32,
    pub registered: bool,
    pub ready: bool,
    pub heartbeat: bool,
}

/// Something worth a line in the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub node: String,
    pub text: String,
}

/// Something the lab should act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A serving CSR is waiting for approval.
    ServingPending { csr: String },
    /// A client CSR is waiting for a person (manual approval).
    ClientPending { csr: String },
}

/// Folds watch events into per-node progress and the lines to print.
#[derive(Debug, Default)]
pub struct Tracker {
    nodes: BTreeMap<String, NodeProgress>,
    /// `(csr name, stage)` already reported.
    reported: BTreeSet<(String, &'static str)>,
}

fn csr_node(csr: &CertificateSigningRequest) -> Option<(String, CertKind)> {
    let kind = match csr.spec.signer_name.as_str() {
        pki::signer::KUBE_APISERVER_CLIENT_KUBELET => CertKind::Client,
        pki::signer::KUBELET_SERVING => CertKind::Serving,
        _ => return None,
    };
    let request = pki::Csr::from_pem(&csr.spec.request).ok()?;
    let node = request.common_name()?.strip_prefix("system:node:")?;
    Some((node.to_string(), kind))
}

fn condition<'a>(
    csr: &'a CertificateSigningRequest,
    kind: &str,
) -> Option<&'a protocol::certificates::v1::CertificateSigningRequestCondition> {
    csr.status
        .conditions
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
}

impl Tracker {
    pub fn new(nodes: &[String]) -> Tracker {
        Tracker {
            nodes: nodes
                .iter()
                .map(|n| (n.clone(), NodeProgress::default()))
                .collect(),
            reported: BTreeSet::new(),
        }
    }

    pub fn node(&self, name: &str) -> Option<&NodeProgress> {
        self.nodes.get(name)
    }

    /// Every expected node has a client certificate and a registered Node.
    pub fn all_joined(&self) -> bool {
        self.nodes
            .values()
            .all(|n| n.client_certificates > 0 && n.registered)
    }

    fn first(&mut self, csr: &str, stage: &'static str) -> bool {
        self.reported.insert((csr.to_string(), stage))
    }

    /// A CSR was added or modified.
    pub fn on_csr(&mut self, csr: &CertificateSigningRequest) -> (Vec<Line>, Vec<Action>) {
        let mut lines = Vec::new();
        let mut actions = Vec::new();
        let Some((node, kind)) = csr_node(csr) else {
            return (lines, actions);
        };
        let name = csr.metadata.name.clone();
        let label = kind.label();
        let mut say = |text: String| {
            lines.push(Line {
                node: node.clone(),
                text,
            })
        };
        if self.first(&name, "created") {
            say(format!(
                "{label} CSR {name} created by {}",
                csr.spec.username
            ));
        }
        let approved = condition(csr, "Approved");
        if let Some(approved) = approved
            && self.first(&name, "approved")
        {
            say(format!("{label} CSR {name} approved ({})", approved.reason));
        }
        for bad in ["Denied", "Failed"] {
            if let Some(c) = condition(csr, bad)
                && self.first(&name, bad)
            {
                say(format!(
                    "{label} CSR {name} {}: {} {}",
                    bad.to_lowercase(),
                    c.reason,
                    c.message
                ));
            }
        }
        if !csr.status.certificate.is_empty() && self.first(&name, "issued") {
            let detail = pki::Certificate::from_pem(&csr.status.certificate)
                .map(|cert| {
                    let left = cert
                        .not_after()
                        .duration_since(std::time::SystemTime::now())
                        .unwrap_or_default();
                    format!(
                        "serial {}, expires in {}",
                        short(&cert.serial_hex()),
                        crate::duration::human(left)
                    )
                })
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            let progress = self.nodes.entry(node.clone()).or_default();
            let count = match kind {
                CertKind::Client => {
                    progress.client_certificates += 1;
                    progress.client_certificates
                }
                CertKind::Serving => {
                    progress.serving_certificates += 1;
                    progress.serving_certificates
                }
            };
            if count == 1 {
                say(format!("{label} certificate issued ({detail})"));
            } else {
                say(format!("{label} certificate rotated, #{count} ({detail})"));
            }
        }
        let pending = approved.is_none()
            && condition(csr, "Denied").is_none()
            && condition(csr, "Failed").is_none();
        if pending && self.first(&name, "pending-action") {
            actions.push(match kind {
                CertKind::Serving => Action::ServingPending { csr: name.clone() },
                CertKind::Client => Action::ClientPending { csr: name.clone() },
            });
        }
        (lines, actions)
    }

    /// A Node was added or modified.
    pub fn on_node(&mut self, node: &Node) -> Vec<Line> {
        let name = node.metadata.name.clone();
        let progress = self.nodes.entry(name.clone()).or_default();
        let mut lines = Vec::new();
        if !progress.registered {
            progress.registered = true;
            lines.push(Line {
                node: name.clone(),
                text: "Node registered".to_string(),
            });
        }
        let ready = node
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready != progress.ready {
            progress.ready = ready;
            lines.push(Line {
                node: name,
                text: if ready {
                    "Node Ready"
                } else {
                    "Node not Ready"
                }
                .to_string(),
            });
        }
        lines
    }

    /// A node Lease (in `kube-node-lease`) was added or renewed.
    pub fn on_lease(&mut self, lease: &Lease) -> Vec<Line> {
        let name = lease.metadata.name.clone();
        let progress = self.nodes.entry(name.clone()).or_default();
        if progress.heartbeat {
            return Vec::new();
        }
        progress.heartbeat = true;
        vec![Line {
            node: name,
            text: "first heartbeat (Lease kube-node-lease)".to_string(),
        }]
    }

    /// One line per node: what it has so far.
    pub fn summary(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|(name, p)| {
                let mark = |ok: bool| if ok { "yes" } else { "no" };
                format!(
                    "{name}: client cert {} (rotations {}), Node {}, Ready {}, serving cert {}",
                    mark(p.client_certificates > 0),
                    p.client_certificates.saturating_sub(1),
                    mark(p.registered),
                    mark(p.ready),
                    mark(p.serving_certificates > 0),
                )
            })
            .collect()
    }
}

fn short(serial: &str) -> String {
    serial.chars().take(12).collect()
}

/// `[   1.23s] node-1      text`.
pub fn format_line(elapsed: Duration, line: &Line) -> String {
    format!(
        "[{:>8.2}s] {:<10} {}",
        elapsed.as_secs_f64(),
        line.node,
        line.text
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::certificates::v1::CertificateSigningRequestCondition;

    fn csr(name: &str, node: &str, signer: &str) -> CertificateSigningRequest {
        let key = pki::PrivateKey::generate_p256().unwrap();
        let pem = pki::build_csr(
            &key,
            &pki::CsrSubject {
                common_name: format!("system:node:{node}"),
                organizations: vec!["system:nodes".into()],
            },
            &pki::SubjectAltNames::default(),
        )
        .unwrap();
        let mut csr = CertificateSigningRequest::default();
        csr.metadata.name = name.to_string();
        csr.spec.request = pem.into_bytes();
        csr.spec.signer_name = signer.to_string();
        csr.spec.username = "system:bootstrap:abcdef".into();
        csr
    }

    fn approve(csr: &mut CertificateSigningRequest) {
        csr.status
            .conditions
            .push(CertificateSigningRequestCondition {
                type_: "Approved".into(),
                status: "True".into(),
                reason: "AutoApproved".into(),
                ..Default::default()
            });
    }

    fn issue(csr: &mut CertificateSigningRequest) {
        let ca = pki::CertificateAuthority::generate(
            "t",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(3600),
        )
        .unwrap();
        let (cert, _) = ca
            .issue_leaf(&pki::LeafParams {
                common_name: "system:node:node-1".into(),
                organizations: vec![],
                dns: vec![],
                ips: vec![],
                usages: vec![pki::Usage::ClientAuth],
                validity: Duration::from_secs(600),
            })
            .unwrap();
        csr.status.certificate = cert.into_bytes();
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| format!("{} {}", l.node, l.text))
            .collect()
    }

    #[test]
    fn client_flow_is_reported_once_per_stage_and_rotation_counted() {
        let mut tracker = Tracker::new(&["node-1".to_string()]);
        let signer = pki::signer::KUBE_APISERVER_CLIENT_KUBELET;
        let mut first = csr("csr-aaaaa", "node-1", signer);
        let (lines, actions) = tracker.on_csr(&first);
        assert_eq!(
            texts(&lines),
            ["node-1 client CSR csr-aaaaa created by system:bootstrap:abcdef"]
        );
        assert_eq!(
            actions,
            [Action::ClientPending {
                csr: "csr-aaaaa".into()
            }]
        );
        approve(&mut first);
        let (lines, actions) = tracker.on_csr(&first);
        assert_eq!(
            texts(&lines),
            ["node-1 client CSR csr-aaaaa approved (AutoApproved)"]
        );
        assert!(actions.is_empty());
        issue(&mut first);
        let (lines, _) = tracker.on_csr(&first);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0]
                .text
                .starts_with("client certificate issued (serial "),
            "{lines:?}"
        );
        assert!(lines[0].text.contains(", expires in 9m5"), "{lines:?}");
        // The same object again (a re-list) says nothing new.
        assert!(tracker.on_csr(&first).0.is_empty());
        assert!(!tracker.all_joined());

        let mut node = Node::default();
        node.metadata.name = "node-1".into();
        assert_eq!(texts(&tracker.on_node(&node)), ["node-1 Node registered"]);
        node.status
            .conditions
            .push(protocol::core::v1::NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            });
        assert_eq!(texts(&tracker.on_node(&node)), ["node-1 Node Ready"]);
        assert!(tracker.all_joined());

        let mut second = csr("csr-bbbbb", "node-1", signer);
        approve(&mut second);
        issue(&mut second);
        let (lines, _) = tracker.on_csr(&second);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[2].text.starts_with("client certificate rotated, #2"),
            "{lines:?}"
        );
        assert_eq!(tracker.node("node-1").unwrap().client_certificates, 2);
        assert!(tracker.summary()[0].contains("rotations 1"));
    }

    #[test]
    fn serving_csrs_ask_for_approval_and_foreign_csrs_are_ignored() {
        let mut tracker = Tracker::new(&["node-2".to_string()]);
        let serving = csr("csr-sssss", "node-2", pki::signer::KUBELET_SERVING);
        let (lines, actions) = tracker.on_csr(&serving);
        assert_eq!(
            texts(&lines),
            ["node-2 serving CSR csr-sssss created by system:bootstrap:abcdef"]
        );
        assert_eq!(
            actions,
            [Action::ServingPending {
                csr: "csr-sssss".into()
            }]
        );
        let other = csr("csr-x", "node-2", "example.com/other");
        assert_eq!(tracker.on_csr(&other), (vec![], vec![]));
    }

    #[test]
    fn lines_are_aligned() {
        let line = Line {
            node: "node-1".into(),
            text: "Node registered".into(),
        };
        assert_eq!(
            format_line(Duration::from_millis(1234), &line),
            "[    1.23s] node-1     Node registered"
        );
    }
}
