//! `lab doctor`: why would (or does) a node fail to join? Checks, from the node, what the
//! bootstrap needs and says what to change (peers-and-pain-points #7: "debugging approval is
//! opaque"): the apiserver is reachable and its certificate verifies against the kubeconfig's
//! CA, the clocks agree, the credentials are accepted, and RBAC lets this identity create its
//! CSR and have it approved automatically. With `--kubeconfig`, the node's own certificate too.
//!
//! Everything is asked through the API as the identity under test (SelfSubjectReview,
//! SelfSubjectAccessReview), so it needs no admin credentials.

use std::path::Path;
use std::time::SystemTime;

use client::{Client, ClientConfig, ClientError};
use kubeconfig::{Identity, Kubeconfig};
use protocol::authentication::v1::{EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX, SelfSubjectReview};
use protocol::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use rbac::bootstrap::{EXPIRED_NODE_CLIENT_ROLE, EXPIRED_NODE_CLIENT_SUBRESOURCE};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works, but not the way most clusters want (e.g. approval by hand).
    Warn,
    /// The node will not join (or stay joined) until this is fixed.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub text: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        write!(f, "{mark}  {}", self.text)
    }
}

fn finding(verdict: Verdict, text: impl Into<String>) -> Finding {
    Finding {
        verdict,
        text: text.into(),
    }
}

/// Which credentials are being checked, and so which approval applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `--bootstrap-kubeconfig`: asks for a new node's certificate (`nodeclient`).
    Bootstrap,
    /// `--kubeconfig`: the node's own certificate, renewed by itself (`selfnodeclient`).
    Node,
}

/// Prints the findings for each kubeconfig given; false when one failed.
pub async fn run(args: &crate::cli::DoctorArgs) -> bool {
    let mut passed = true;
    let given = [
        (
            &args.bootstrap_kubeconfig,
            Role::Bootstrap,
            "--bootstrap-kubeconfig",
        ),
        (&args.kubeconfig, Role::Node, "--kubeconfig"),
    ];
    for (path, role, flag) in given {
        let Some(path) = path else { continue };
        println!("{flag} {}", path.display());
        for found in check(path, role).await {
            passed &= found.verdict != Verdict::Fail;
            println!("  {found}");
        }
    }
    passed
}

/// Checks one kubeconfig; the findings in order, stopping where later checks cannot run.
pub async fn check(path: &Path, role: Role) -> Vec<Finding> {
    let mut findings = Vec::new();
    let resolved = match Kubeconfig::load(path).and_then(|k| k.resolve(None)) {
        Ok(resolved) => resolved,
        Err(e) => return vec![unusable(path, &e)],
    };
    // Where the node certificate's finding is: replaced once the apiserver says whether it
    // still renews an expired one.
    let lifetime_at = findings.len();
    if role == Role::Node {
        findings.extend(certificate_lifetime(&resolved.identity));
    }
    let user_agent = format!("lab-doctor/{}", crate::VERSION);
    let built = ClientConfig::from_kubeconfig(&resolved, &user_agent)
        .and_then(|config| Ok((config.clone(), Client::new(config)?)));
    let (config, client) = match built {
        Ok(built) => built,
        Err(e) => {
            findings.push(unusable(path, &e));
            return findings;
        }
    };

    // Who the apiserver says we are: proves TLS (both ways) and the credentials at once.
    let server = &resolved.server;
    let review = match client.create(None, &SelfSubjectReview::default()).await {
        Ok(review) => review,
        Err(e) => {
            findings.push(connection_failure(server, &config, &e).await);
            return findings;
        }
    };
    findings.push(finding(
        Verdict::Ok,
        format!("TLS: {server} presents a certificate the kubeconfig's CA verifies"),
    ));
    findings.push(clock(&config).await);
    let user = review.status.user_info.unwrap_or_default();
    findings.push(finding(
        Verdict::Ok,
        format!(
            "identity: the apiserver accepts these credentials as {} (groups {})",
            user.username,
            user.groups.join(", ")
        ),
    ));

    // An expired node certificate the apiserver still accepts, within its offline window, as
    // the identity that may only ask for its renewal (decision 0027).
    let expired = user
        .username
        .starts_with(EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX);
    if expired && let Some(lifetime) = findings.get_mut(lifetime_at) {
        *lifetime = finding(
            Verdict::Warn,
            "certificate: has expired, but the apiserver still accepts it to ask for its own \
             renewal (--client-certificate-max-offline-window); the kubelet-agent does that \
             first, and csrapproving approves it if it is the certificate the node last named \
             on its Node",
        );
    }

    // What the kubelet will do with them.
    let subresource = match role {
        Role::Bootstrap => "nodeclient",
        Role::Node if expired => EXPIRED_NODE_CLIENT_SUBRESOURCE,
        Role::Node => "selfnodeclient",
    };
    let asks = [
        ("", "create", "create its certificate signing request"),
        (
            "",
            "watch",
            "watch its request until the certificate is issued",
        ),
        (
            subresource,
            "create",
            "have its requests approved automatically",
        ),
    ];
    for (sub, verb, what) in asks {
        let allowed = match can_i(&client, verb, sub).await {
            Ok(allowed) => allowed,
            Err(e) => {
                findings.push(finding(
                    Verdict::Fail,
                    format!("cannot ask the apiserver: {e}"),
                ));
                return findings;
            }
        };
        let resource = if sub.is_empty() {
            "certificatesigningrequests".to_string()
        } else {
            format!("certificatesigningrequests/{sub}")
        };
        findings.push(if allowed {
            finding(Verdict::Ok, format!("RBAC: may {verb} {resource} ({what})"))
        } else if sub.is_empty() {
            finding(
                Verdict::Fail,
                format!(
                    "RBAC: may not {verb} {resource}, so it cannot {what}: bind the ClusterRole \
                     system:node-bootstrapper to {} (or one of its groups)",
                    user.username
                ),
            )
        } else {
            let role = if sub == EXPIRED_NODE_CLIENT_SUBRESOURCE {
                EXPIRED_NODE_CLIENT_ROLE.to_string()
            } else {
                format!("system:certificates.k8s.io:certificatesigningrequests:{sub}")
            };
            finding(
                Verdict::Warn,
                format!(
                    "RBAC: may not {verb} {resource}, so its requests wait for `kubectl \
                     certificate approve`; to approve them automatically bind the ClusterRole \
                     {role} to {} (or one of its groups)",
                    user.username
                ),
            )
        });
    }
    findings
}

fn unusable(path: &Path, error: &dyn std::fmt::Display) -> Finding {
    finding(
        Verdict::Fail,
        format!("kubeconfig {}: {error}", path.display()),
    )
}

/// Why the first request failed, in terms of what to fix.
async fn connection_failure(server: &url::Url, config: &ClientConfig, e: &ClientError) -> Finding {
    if e.is_certificate_time() {
        let diagnosis = kubelet::clock::diagnose(config).await;
        return finding(Verdict::Fail, format!("TLS: {e}; {diagnosis}"));
    }
    let text = match e {
        ClientError::Tls(_) => format!(
            "TLS: {e}. The kubeconfig's certificate-authority must be the CA that signed the \
             apiserver's serving certificate (--tls-cert-file), and {server}'s host must be \
             among its names"
        ),
        _ if e.is_unauthorized() => format!(
            "identity: the apiserver refuses these credentials ({e}). A bootstrap token may \
             have expired or been deleted (kubectl -n kube-system get secrets \
             --field-selector type=bootstrap.kubernetes.io/token); a certificate may not be \
             from the --client-ca-file CA, or may be revoked (kubectl get certrev)"
        ),
        _ => format!("cannot reach {server}: {e}"),
    };
    finding(Verdict::Fail, text)
}

/// Our clock against the apiserver's `Date` header.
async fn clock(config: &ClientConfig) -> Finding {
    let local = SystemTime::now();
    match client::clock::server_time(config).await {
        Ok(server) if kubelet::clock::agree(local, server) => finding(
            Verdict::Ok,
            "clock: agrees with the apiserver's within a minute",
        ),
        Ok(server) => finding(
            Verdict::Warn,
            format!("clock: {}", kubelet::clock::explain(local, server)),
        ),
        Err(e) => finding(
            Verdict::Warn,
            format!("clock: could not read the apiserver's ({e})"),
        ),
    }
}

/// `kubectl auth can-i <verb> certificatesigningrequests[/<sub>]` as this identity.
async fn can_i(client: &Client, verb: &str, subresource: &str) -> Result<bool, ClientError> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: "certificates.k8s.io".to_string(),
                resource: "certificatesigningrequests".to_string(),
                subresource: subresource.to_string(),
                verb: verb.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    Ok(client.create(None, &review).await?.status.allowed)
}

/// The node's certificate: its name and how long it has left.
fn certificate_lifetime(identity: &Identity) -> Option<Finding> {
    let Identity::ClientCertificate { cert_pem, .. } = identity else {
        return Some(finding(
            Verdict::Fail,
            "certificate: the kubeconfig holds no client certificate (a kubelet's does)",
        ));
    };
    let leaf = match pki::parse_certificates(cert_pem) {
        Ok(certs) if !certs.is_empty() => certs.into_iter().next()?,
        _ => {
            return Some(finding(
                Verdict::Fail,
                "certificate: the kubeconfig's client certificate is unreadable",
            ));
        }
    };
    let name = leaf.common_name().unwrap_or("(no CN)").to_string();
    let now = SystemTime::now();
    Some(match leaf.not_after().duration_since(now) {
        Ok(left) => finding(
            Verdict::Ok,
            format!("certificate: {name}, {} left", crate::duration::human(left)),
        ),
        Err(_) => finding(
            Verdict::Fail,
            format!(
                "certificate: {name} has expired and the apiserver's \
                 --client-certificate-max-offline-window (if any) does not cover it; the \
                 kubelet falls back to its --bootstrap-kubeconfig (keep it on the node) or \
                 needs a new one"
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn identity(validity: Duration) -> Identity {
        let ca = pki::CertificateAuthority::generate(
            "doctor-test",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(3600),
        )
        .unwrap();
        let (cert_pem, key_pem) = ca
            .issue_leaf(&pki::LeafParams {
                common_name: "system:node:n1".into(),
                organizations: vec!["system:nodes".into()],
                dns: Vec::new(),
                ips: Vec::new(),
                usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
                validity,
            })
            .unwrap();
        Identity::ClientCertificate {
            cert_pem: cert_pem.into_bytes(),
            key_pem: key_pem.into_bytes(),
        }
    }

    #[test]
    fn the_node_certificate_is_judged_by_its_expiry() {
        let valid = certificate_lifetime(&identity(Duration::from_secs(2 * 3600))).unwrap();
        assert_eq!(valid.verdict, Verdict::Ok);
        let text = valid.to_string();
        assert!(
            text.starts_with("ok    certificate: system:node:n1, ") && text.ends_with(" left"),
            "{text}"
        );
        let token = certificate_lifetime(&Identity::Token("t".into())).unwrap();
        assert_eq!(token.verdict, Verdict::Fail);
        assert!(
            token
                .to_string()
                .starts_with("FAIL  certificate: the kubeconfig holds no client certificate")
        );
    }
}
