//! What the lab does through the API with the admin credentials: wait for the apiserver, create
//! the bootstrap-token Secret and the seed 003 ClusterRoleBindings (idempotently), and approve
//! kubelet-serving CSRs that come from the node they name.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use client::{Client, ClientError};
use protocol::Resource;
use protocol::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use protocol::core::v1::Secret;
use protocol::meta::ObjectMeta;
use protocol::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::token;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// Seed 003's binding names and the roles they grant.
pub const BOOTSTRAP_BINDING: &str = "kubelet-bootstrap";
pub const NODECLIENT_BINDING: &str = "node-client-auto-approve-csr";
pub const SELFNODECLIENT_BINDING: &str = "node-client-auto-renew-crt";
const NODE_BOOTSTRAPPER_ROLE: &str = "system:node-bootstrapper";
const NODECLIENT_ROLE: &str = "system:certificates.k8s.io:certificatesigningrequests:nodeclient";
const SELFNODECLIENT_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient";

/// A client from a kubeconfig file, optionally pointed at another URL.
pub fn client_from_kubeconfig(path: &Path, server: Option<&url::Url>) -> anyhow::Result<Client> {
    let config = kubeconfig::Kubeconfig::load(path)
        .with_context(|| format!("cannot load {}", path.display()))?;
    let mut resolved = config
        .resolve(None)
        .with_context(|| format!("cannot use {}", path.display()))?;
    if let Some(server) = server {
        resolved.server = server.clone();
    }
    Client::from_kubeconfig(&resolved, &format!("lab/{}", crate::VERSION))
        .with_context(|| format!("cannot build a client from {}", path.display()))
}

/// Polls `/readyz` until it answers 200 or `timeout` passes.
pub async fn wait_ready(client: &Client, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let quick = client
        .with_retry(client::RetryPolicy::none())
        .with_timeout(Duration::from_secs(2));
    let mut last = String::from("no answer yet");
    while Instant::now() < deadline {
        match quick.request_raw(http::Method::GET, "/readyz", None).await {
            Ok(response) if response.status.is_success() => return Ok(()),
            Ok(response) => {
                last = format!(
                    "HTTP {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                )
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the apiserver was not ready within {timeout:?}; last answer: {last}")
}

/// Creates `object`; `Ok(false)` when it already existed.
pub async fn create_if_absent<T>(
    client: &Client,
    namespace: Option<&str>,
    object: &T,
) -> Result<bool, ClientError>
where
    T: Resource + Serialize + DeserializeOwned,
{
    match client.create(namespace, object).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_already_exists() => Ok(false),
        Err(e) => Err(e),
    }
}

fn subject(kind: &str, name: &str) -> Subject {
    Subject {
        kind: kind.to_string(),
        api_group: RBAC_GROUP.to_string(),
        name: name.to_string(),
        namespace: String::new(),
    }
}

fn binding(name: &str, role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: ObjectMeta {
            name: name.to_string(),
            ..ObjectMeta::default()
        },
        subjects,
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: "ClusterRole".to_string(),
            name: role.to_string(),
        },
    }
}

/// The seed 003 bindings, for both the static-token user (`kubelet-bootstrap`) and the
/// bootstrap-token group; without `nodeclient` when approval is manual.
pub fn seed_bindings(manual_approval: bool) -> Vec<ClusterRoleBinding> {
    let bootstrappers = || {
        vec![
            subject("User", token::STATIC_USER),
            subject("Group", token::DEFAULT_GROUP),
        ]
    };
    let mut bindings = vec![binding(
        BOOTSTRAP_BINDING,
        NODE_BOOTSTRAPPER_ROLE,
        bootstrappers(),
    )];
    if !manual_approval {
        bindings.push(binding(
            NODECLIENT_BINDING,
            NODECLIENT_ROLE,
            bootstrappers(),
        ));
    }
    bindings.push(binding(
        SELFNODECLIENT_BINDING,
        SELFNODECLIENT_ROLE,
        vec![subject("Group", "system:nodes")],
    ));
    bindings
}

/// Creates the token Secret and the bindings; returns one line per object for the operator.
pub async fn seed(
    client: &Client,
    secret: &Secret,
    manual_approval: bool,
) -> anyhow::Result<Vec<String>> {
    let mut report = Vec::new();
    let created = create_if_absent(client, Some(token::SECRET_NAMESPACE), secret)
        .await
        .with_context(|| format!("cannot create secret {}", secret.metadata.name))?;
    report.push(format!(
        "secret/{} {}",
        secret.metadata.name,
        if created { "created" } else { "unchanged" }
    ));
    for binding in seed_bindings(manual_approval) {
        let created = create_if_absent(client, None, &binding)
            .await
            .with_context(|| {
                format!("cannot create clusterrolebinding {}", binding.metadata.name)
            })?;
        report.push(format!(
            "clusterrolebinding/{} ({} -> {}) {}",
            binding.metadata.name,
            binding
                .subjects
                .iter()
                .map(|s| format!("{} {}", s.kind, s.name))
                .collect::<Vec<_>>()
                .join(", "),
            binding.role_ref.name,
            if created { "created" } else { "unchanged" }
        ));
    }
    if manual_approval {
        report.push(format!(
            "clusterrolebinding/{NODECLIENT_BINDING} left out (--manual-approval): node CSRs wait for `kubectl certificate approve`"
        ));
    }
    Ok(report)
}

/// Why the lab would not approve a serving CSR (it then waits for a person).
pub fn serving_csr_refusal(csr: &CertificateSigningRequest) -> Option<String> {
    let request = match pki::Csr::from_pem(&csr.spec.request) {
        Ok(request) => request,
        Err(e) => return Some(format!("unreadable request: {e}")),
    };
    let common_name = request.common_name().unwrap_or_default();
    if csr.spec.username != common_name {
        return Some(format!(
            "requested by {:?} for {:?}",
            csr.spec.username, common_name
        ));
    }
    if !common_name.starts_with("system:node:")
        || !csr.spec.groups.iter().any(|g| g == "system:nodes")
    {
        return Some(format!("{common_name:?} is not a node in system:nodes"));
    }
    None
}

/// Approves a kubelet-serving CSR as the community kubelet-csr-approver would: only when the
/// requester is the node named in the request. `Ok(false)` when it was not approved.
pub async fn approve_serving(client: &Client, name: &str) -> anyhow::Result<bool> {
    for _ in 0..5 {
        let mut csr: CertificateSigningRequest = client.get(None, name).await?;
        if csr
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == "Approved" || c.type_ == "Denied")
        {
            return Ok(false);
        }
        if serving_csr_refusal(&csr).is_some() {
            return Ok(false);
        }
        csr.status
            .conditions
            .push(CertificateSigningRequestCondition {
                type_: "Approved".to_string(),
                status: "True".to_string(),
                reason: "LabServingApproval".to_string(),
                message: "approved by lab: the requester is the node named in the certificate"
                    .to_string(),
                ..CertificateSigningRequestCondition::default()
            });
        match client
            .update_subresource(None, name, "approval", &csr)
            .await
        {
            Ok(_) => return Ok(true),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("could not approve {name}: the CSR kept changing")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_approval_leaves_out_only_nodeclient() {
        let names = |bindings: Vec<ClusterRoleBinding>| {
            bindings
                .into_iter()
                .map(|b| b.metadata.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(seed_bindings(false)),
            [
                BOOTSTRAP_BINDING,
                NODECLIENT_BINDING,
                SELFNODECLIENT_BINDING
            ]
        );
        assert_eq!(
            names(seed_bindings(true)),
            [BOOTSTRAP_BINDING, SELFNODECLIENT_BINDING]
        );
        let json = serde_json::to_value(&seed_bindings(false)[1]).unwrap();
        assert_eq!(json["roleRef"]["name"], NODECLIENT_ROLE);
        assert_eq!(json["subjects"][1]["kind"], "Group");
        assert_eq!(json["subjects"][1]["name"], token::DEFAULT_GROUP);
    }

    fn serving_csr(username: &str, groups: &[&str], cn: &str) -> CertificateSigningRequest {
        let key = pki::PrivateKey::generate_p256().unwrap();
        let pem = pki::build_csr(
            &key,
            &pki::CsrSubject {
                common_name: cn.to_string(),
                organizations: vec!["system:nodes".to_string()],
            },
            &pki::SubjectAltNames::default(),
        )
        .unwrap();
        let mut csr = CertificateSigningRequest::default();
        csr.spec.request = pem.into_bytes();
        csr.spec.signer_name = pki::signer::KUBELET_SERVING.to_string();
        csr.spec.username = username.to_string();
        csr.spec.groups = groups.iter().map(|g| g.to_string()).collect();
        csr
    }

    #[test]
    fn serving_approval_only_for_the_node_itself() {
        let own = serving_csr("system:node:a", &["system:nodes"], "system:node:a");
        assert_eq!(serving_csr_refusal(&own), None);
        let other = serving_csr("system:node:b", &["system:nodes"], "system:node:a");
        assert!(serving_csr_refusal(&other).is_some());
        let bootstrap = serving_csr(
            "system:bootstrap:abcdef",
            &["system:bootstrappers"],
            "system:node:a",
        );
        assert!(serving_csr_refusal(&bootstrap).is_some());
        let not_node = serving_csr("mallory", &["system:nodes"], "mallory");
        assert!(serving_csr_refusal(&not_node).is_some());
    }
}
