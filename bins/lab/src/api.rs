//! What the lab does through the API with the admin credentials: wait for the apiserver, create
//! the bootstrap-token Secret, the seed 003 ClusterRoleBindings and the `selfnodeserver` opt-in
//! (seed 004's ClusterRole, bound to system:nodes, so the controller-manager approves each
//! node's own serving CSR for its own addresses), idempotently.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use client::{Client, ClientError};
use protocol::Resource;
use protocol::core::v1::Secret;
use protocol::meta::ObjectMeta;
use protocol::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::token;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// Seed 003's binding names and the roles they grant.
pub const BOOTSTRAP_BINDING: &str = "kubelet-bootstrap";
pub const NODECLIENT_BINDING: &str = "node-client-auto-approve-csr";
pub const SELFNODECLIENT_BINDING: &str = "node-client-auto-renew-crt";
/// Ours (decision 0027): lets a node's expired client certificate ask for its renewal.
pub const EXPIRED_NODE_CLIENT_BINDING: &str = "node-client-auto-renew-expired-crt";
const NODE_BOOTSTRAPPER_ROLE: &str = "system:node-bootstrapper";
const NODECLIENT_ROLE: &str = "system:certificates.k8s.io:certificatesigningrequests:nodeclient";
const SELFNODECLIENT_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient";
/// The older guides' names for the serving opt-in (no default role grants it).
pub const SELFNODESERVER_BINDING: &str = "node-server-auto-renew-crt";
/// Lets the controller-manager approve kubelet-serving CSRs: upstream's default
/// certificate-controller role may approve kubelet client CSRs only.
pub const SERVING_APPROVER_BINDING: &str = "controller-manager-kubelet-serving-approver";
const SERVING_APPROVER_ROLE: &str = "system:certificates.k8s.io:kubelet-serving-approver";
const SELFNODESERVER_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeserver";

/// Seed 004's ClusterRole: lets the controller-manager approve a node's own serving CSR.
pub fn selfnodeserver_role() -> ClusterRole {
    ClusterRole {
        metadata: ObjectMeta {
            name: SELFNODESERVER_ROLE.to_string(),
            ..Default::default()
        },
        rules: vec![PolicyRule {
            verbs: vec!["create".to_string()],
            api_groups: vec!["certificates.k8s.io".to_string()],
            resources: vec!["certificatesigningrequests/selfnodeserver".to_string()],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A client from a kubeconfig file, optionally pointed at another URL.
pub fn client_from_kubeconfig(path: &Path, server: Option<&url::Url>) -> anyhow::Result<Client> {
    let mut resolved = resolve_kubeconfig(path)?;
    if let Some(server) = server {
        resolved.server = server.clone();
    }
    client_from_resolved(&resolved, path)
}

/// A kubeconfig file's current context, resolved.
pub fn resolve_kubeconfig(path: &Path) -> anyhow::Result<kubeconfig::ResolvedConfig> {
    let config = kubeconfig::Kubeconfig::load(path)
        .with_context(|| format!("cannot load {}", path.display()))?;
    config
        .resolve(None)
        .with_context(|| format!("cannot use {}", path.display()))
}

/// A client for a resolved kubeconfig; `path` names it in errors.
pub fn client_from_resolved(
    resolved: &kubeconfig::ResolvedConfig,
    path: &Path,
) -> anyhow::Result<Client> {
    Client::from_kubeconfig(resolved, &format!("lab/{}", crate::VERSION))
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
/// bootstrap-token group, and the `selfnodeserver` binding for system:nodes; without
/// `nodeclient` and `selfnodeserver` when approval is manual.
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
    bindings.push(binding(
        EXPIRED_NODE_CLIENT_BINDING,
        rbac::bootstrap::EXPIRED_NODE_CLIENT_ROLE,
        vec![subject(
            "Group",
            protocol::authentication::v1::EXPIRED_CLIENT_CERTIFICATE_GROUP,
        )],
    ));
    if !manual_approval {
        bindings.push(binding(
            SELFNODESERVER_BINDING,
            SELFNODESERVER_ROLE,
            vec![subject("Group", "system:nodes")],
        ));
        bindings.push(binding(
            SERVING_APPROVER_BINDING,
            SERVING_APPROVER_ROLE,
            vec![subject("User", "system:kube-controller-manager")],
        ));
    }
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
    if !manual_approval {
        let role = selfnodeserver_role();
        let created = create_if_absent(client, None, &role)
            .await
            .with_context(|| format!("cannot create clusterrole {}", role.metadata.name))?;
        report.push(format!(
            "clusterrole/{} {}",
            role.metadata.name,
            if created { "created" } else { "unchanged" }
        ));
    }
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
            "clusterrolebinding/{NODECLIENT_BINDING}, {SELFNODESERVER_BINDING} and {SERVING_APPROVER_BINDING} left out (--manual-approval): node CSRs wait for `kubectl certificate approve`"
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_approval_leaves_out_nodeclient_and_selfnodeserver() {
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
                SELFNODECLIENT_BINDING,
                EXPIRED_NODE_CLIENT_BINDING,
                SELFNODESERVER_BINDING,
                SERVING_APPROVER_BINDING
            ]
        );
        assert_eq!(
            names(seed_bindings(true)),
            [
                BOOTSTRAP_BINDING,
                SELFNODECLIENT_BINDING,
                EXPIRED_NODE_CLIENT_BINDING
            ]
        );
        let json = serde_json::to_value(&seed_bindings(false)[1]).unwrap();
        assert_eq!(json["roleRef"]["name"], NODECLIENT_ROLE);
        assert_eq!(json["subjects"][1]["kind"], "Group");
        assert_eq!(json["subjects"][1]["name"], token::DEFAULT_GROUP);
        let json = serde_json::to_value(&seed_bindings(false)[4]).unwrap();
        assert_eq!(json["roleRef"]["name"], SELFNODESERVER_ROLE);
        assert_eq!(json["subjects"][0]["name"], "system:nodes");
        let role = serde_json::to_value(selfnodeserver_role()).unwrap();
        assert_eq!(
            role["rules"],
            serde_json::json!([{"verbs": ["create"], "apiGroups": ["certificates.k8s.io"],
                                "resources": ["certificatesigningrequests/selfnodeserver"]}])
        );
    }
}
