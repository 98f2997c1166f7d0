//! The namespaced RBAC defaults, seen through the real kubectl: kube-apiserver's
//! `kube-system/extension-apiserver-authentication-reader` Role and its RoleBinding
//! `system::extension-apiserver-authentication-reader` exist on a fresh cluster and the RBAC
//! authorizer honours them, letting `system:kube-scheduler` read the published client CA
//! and nothing else in `kube-system`. Upstream's usual fix for a delegated-authentication 403
//! (`kubectl create rolebinding -n kube-system ... --role=extension-apiserver-authentication-reader`)
//! works too.

use e2e::Cluster;

const ROLE: &str = "extension-apiserver-authentication-reader";
const BINDING: &str = "system::extension-apiserver-authentication-reader";
const CONFIG_MAP: &str = "extension-apiserver-authentication";
const SCHEDULER: &str = "--as=system:kube-scheduler";

#[test]
fn kube_system_reader_role_is_seeded_and_honoured() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let admin = cluster.kubectl()?;

    let listed = admin.ok(["get", "role,rolebinding", "-n", "kube-system"])?;
    for expected in [
        format!("role.rbac.authorization.k8s.io/{ROLE}"),
        format!("rolebinding.rbac.authorization.k8s.io/{BINDING}"),
    ] {
        anyhow::ensure!(
            listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(&expected)),
            "no {expected} in:\n{listed}"
        );
    }
    let role: serde_json::Value = serde_json::from_str(&admin.ok([
        "get",
        "role",
        ROLE,
        "-n",
        "kube-system",
        "-o",
        "json",
    ])?)?;
    anyhow::ensure!(
        role["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
            && role["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"]
                == "true"
            && role["rules"]
                == serde_json::json!([{
                    "verbs": ["get", "list", "watch"],
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": [CONFIG_MAP]
                }]),
        "{role}"
    );

    // The scheduler may read the published client CA through the default binding ...
    let ca = admin.run([
        "get",
        "configmap",
        CONFIG_MAP,
        "-n",
        "kube-system",
        SCHEDULER,
    ])?;
    anyhow::ensure!(ca.success && ca.stdout.contains(CONFIG_MAP), "{ca}");
    // ... and no other ConfigMap: the rule names that one.
    admin.ok([
        "create",
        "configmap",
        "other",
        "-n",
        "kube-system",
        "--from-literal=key=value",
    ])?;
    let other = admin.run(["get", "configmap", "other", "-n", "kube-system", SCHEDULER])?;
    anyhow::ensure!(
        !other.success
            && other.stderr.contains(
                "configmaps \"other\" is forbidden: User \"system:kube-scheduler\" cannot get \
                 resource \"configmaps\" in API group \"\" in the namespace \"kube-system\""
            ),
        "{other}"
    );

    // Upstream's fix message binds the Role to a service account; that works here too.
    let account = "--as=system:serviceaccount:monitoring:metrics-server";
    let before = admin.run(["get", "configmap", CONFIG_MAP, "-n", "kube-system", account])?;
    anyhow::ensure!(!before.success, "{before}");
    admin.ok([
        "create",
        "rolebinding",
        "-n",
        "kube-system",
        "metrics-server-auth-reader",
        &format!("--role={ROLE}"),
        "--serviceaccount=monitoring:metrics-server",
    ])?;
    e2e::wait::until(
        "RBAC to let the service account read the client CA",
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(100),
        || {
            let out = admin
                .run(["get", "configmap", CONFIG_MAP, "-n", "kube-system", account])
                .map_err(|e| e.to_string())?;
            Ok(out.success.then_some(()))
        },
    )?;
    Ok(())
}
