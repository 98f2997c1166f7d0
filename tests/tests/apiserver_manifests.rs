//! Operators' manifest workflows with the real kubectl (default, oldest and newest installed,
//! plus 1.28, the last that reads `/openapi/v2` first) against the real apiserver:
//! `kubectl create -f` of a kubeadm-style bootstrap-token Secret (which then authenticates),
//! `kubectl apply -f` of a ClusterRoleBinding twice (create, then a changed subject patched),
//! `kubectl create -f` of a CSR manifest as the bootstrap token, and strict field validation
//! refusing a misspelt field.

use std::path::Path;

use e2e::{Cluster, Kubectl, paths};

const TOKEN_ID: &str = "07401b";
const TOKEN_SECRET: &str = "f395accd246ae52d";
const BINDING: &str = "create-csrs-for-bootstrapping";

fn write(cluster: &Cluster, name: &str, text: &str) -> anyhow::Result<String> {
    let path = cluster.dir().join(name);
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

/// The bootstrap-token Secret as kubeadm's docs write it.
fn token_secret_yaml() -> String {
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: bootstrap-token-{TOKEN_ID}
  namespace: kube-system
type: bootstrap.kubernetes.io/token
stringData:
  description: \"The bootstrap token for node joins.\"
  token-id: {TOKEN_ID}
  token-secret: {TOKEN_SECRET}
  usage-bootstrap-authentication: \"true\"
  usage-bootstrap-signing: \"true\"
  auth-extra-groups: system:bootstrappers:worker,system:bootstrappers:ingress
"
    )
}

/// The seeds' binding that lets bootstrappers create CSRs, bound to `group`.
fn binding_yaml(group: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {BINDING}
subjects:
- kind: Group
  name: {group}
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: ClusterRole
  name: system:node-bootstrapper
  apiGroup: rbac.authorization.k8s.io
"
    )
}

fn expect_line(output: &str, line: &str) -> anyhow::Result<()> {
    anyhow::ensure!(output.trim() == line, "expected {line:?}, got {output:?}");
    Ok(())
}

fn manifest_session(binary: &Path) -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let admin = cluster.admin_kubectl(binary);

    // create -f: the bootstrap-token Secret, then the token authenticates (before any binding
    // it may read discovery but not create CSRs: a 401 would fail `can-i` itself).
    let secret = write(&cluster, "token.yaml", &token_secret_yaml())?;
    expect_line(
        &admin.ok(["create", "-f", &secret])?,
        &format!("secret/bootstrap-token-{TOKEN_ID} created"),
    )?;
    let token = format!("{TOKEN_ID}.{TOKEN_SECRET}");
    let kubeconfig = cluster.token_kubeconfig("token.kubeconfig", "bootstrap", &token)?;
    let flavour = binary.file_name().map(|n| n.to_string_lossy().into_owned());
    let bootstrap = Kubectl::new(
        binary,
        &kubeconfig,
        cluster
            .dir()
            .join("home")
            .join(format!("cache-token-{}", flavour.unwrap_or_default())),
    );
    let before = bootstrap.run(["auth", "can-i", "create", "certificatesigningrequests"])?;
    anyhow::ensure!(
        !before.success && before.stdout.trim() == "no",
        "can-i before the binding: {before}"
    );

    // apply -f, first time: creates the binding (for the token's extra group).
    let first = write(
        &cluster,
        "binding.yaml",
        &binding_yaml("system:bootstrappers:worker"),
    )?;
    expect_line(
        &admin.ok(["apply", "-f", &first])?,
        &format!("clusterrolebinding.rbac.authorization.k8s.io/{BINDING} created"),
    )?;
    expect_line(
        &bootstrap.ok(["auth", "can-i", "create", "certificatesigningrequests"])?,
        "yes",
    )?;
    // Unchanged: nothing to patch.
    expect_line(
        &admin.ok(["apply", "-f", &first])?,
        &format!("clusterrolebinding.rbac.authorization.k8s.io/{BINDING} unchanged"),
    )?;

    // apply -f, second time with another subject: patched in place.
    let second = write(
        &cluster,
        "binding2.yaml",
        &binding_yaml("system:bootstrappers"),
    )?;
    expect_line(
        &admin.ok(["apply", "-f", &second])?,
        &format!("clusterrolebinding.rbac.authorization.k8s.io/{BINDING} configured"),
    )?;
    let subjects = admin.ok([
        "get",
        "clusterrolebinding",
        BINDING,
        "-o",
        "jsonpath={.subjects[*].name}",
    ])?;
    expect_line(&subjects, "system:bootstrappers")?;
    let applied = admin.ok([
        "get",
        "clusterrolebinding",
        BINDING,
        "-o",
        "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}",
    ])?;
    anyhow::ensure!(
        applied.contains("\"name\":\"system:bootstrappers\""),
        "last-applied-configuration not updated: {applied}"
    );

    // create -f of a CSR manifest, as the bootstrap token (what a joining node does).
    let csr = e2e::csr::node_manifest("node-csr-manifest", "worker-1")?;
    let csr_file = write(&cluster, "csr.json", &serde_json::to_string_pretty(&csr)?)?;
    expect_line(
        &bootstrap.ok(["create", "-f", &csr_file])?,
        "certificatesigningrequest.certificates.k8s.io/node-csr-manifest created",
    )?;
    let requestor = admin.ok([
        "get",
        "csr",
        "node-csr-manifest",
        "-o",
        "jsonpath={.spec.username}",
    ])?;
    expect_line(&requestor, &format!("system:bootstrap:{TOKEN_ID}"))?;

    // A misspelt field is refused by the server, as kube-apiserver's strict validation does.
    let typo = write(
        &cluster,
        "typo.yaml",
        &binding_yaml("g").replace("roleRef:", "roleref:"),
    )?;
    let refused = admin.run(["create", "-f", &typo])?;
    anyhow::ensure!(
        !refused.success
            && refused.stderr.contains(
                "ClusterRoleBinding in version \"v1\" cannot be handled as a ClusterRoleBinding: \
                 strict decoding error: unknown field \"roleref\""
            ),
        "misspelt field: {refused}"
    );
    Ok(())
}

fn run_session(binary: &Path) {
    if let Err(e) = manifest_session(binary) {
        panic!("manifest session with {} failed: {e:#}", binary.display());
    }
}

#[test]
fn default_kubectl_creates_and_applies_manifests() {
    run_session(&paths::kubectl().expect("kubectl"));
}

#[test]
fn oldest_installed_kubectl_creates_and_applies_manifests() {
    let [oldest, _] = paths::oldest_and_newest_kubectl().expect("versioned kubectl");
    run_session(&oldest);
}

#[test]
fn newest_installed_kubectl_creates_and_applies_manifests() {
    let [_, newest] = paths::oldest_and_newest_kubectl().expect("versioned kubectl");
    run_session(&newest);
}

#[test]
fn kubectl_1_28_creates_and_applies_manifests() {
    let versions = paths::versioned_kubectls().expect("versioned kubectl");
    match versions.iter().find(|(minor, _)| *minor == 28) {
        Some((_, binary)) => run_session(binary),
        None => panic!("kubectl.1.28 is not installed beside kubectl: {versions:?}"),
    }
}
