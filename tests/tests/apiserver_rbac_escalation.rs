//! RBAC escalation prevention with the real kubectl: someone allowed to write roles and
//! bindings in a namespace can grant only what they hold, unless allowed `escalate` or `bind`;
//! the refusal names the missing permissions as real Kubernetes does.

use e2e::{Cluster, paths};

#[test]
fn rbac_writers_grant_only_what_they_hold() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let binary = paths::kubectl()?;
    let admin = cluster.admin_kubectl(&binary);
    let dev_kubeconfig = cluster.client_certificate_kubeconfig("dev", "dev", &["dev-team"])?;
    let dev = admin.with_kubeconfig(&dev_kubeconfig, &cluster.dir().join("home/cache-dev"));

    // dev may write roles and bindings in default and read pods there; secret-admin exists.
    admin.ok([
        "create",
        "role",
        "pod-reader",
        "--verb=get,list",
        "--resource=pods",
    ])?;
    admin.ok([
        "create",
        "role",
        "secret-admin",
        "--verb=*",
        "--resource=secrets",
    ])?;
    admin.ok([
        "create",
        "clusterrole",
        "rbac-writer",
        "--verb=create,get,list,update,patch",
        "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io",
    ])?;
    admin.ok([
        "create",
        "rolebinding",
        "dev-rbac",
        "--clusterrole=rbac-writer",
        "--user=dev",
    ])?;
    admin.ok([
        "create",
        "rolebinding",
        "dev-pods",
        "--role=pod-reader",
        "--user=dev",
    ])?;

    // What dev holds, dev may grant: a role with it, and a binding of a role within it.
    dev.ok([
        "create",
        "role",
        "pod-getter",
        "--verb=get",
        "--resource=pods",
    ])?;
    dev.ok([
        "create",
        "rolebinding",
        "eve-pods",
        "--role=pod-reader",
        "--user=eve",
    ])?;

    // What dev does not hold, dev may not grant, in a role or through a binding.
    let role = dev.run([
        "create",
        "role",
        "secret-getter",
        "--verb=get,list",
        "--resource=secrets",
    ])?;
    let expected = "Error from server (Forbidden): roles.rbac.authorization.k8s.io \"secret-getter\" \
        is forbidden: user \"dev\" (groups=[\"dev-team\" \"system:authenticated\"]) is attempting \
        to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], \
        Verbs:[\"get\" \"list\"]}";
    anyhow::ensure!(
        !role.success && role.stderr.trim() == expected,
        "escalating role: {role}"
    );
    let binding = dev.run([
        "create",
        "rolebinding",
        "dev-secrets",
        "--role=secret-admin",
        "--user=dev",
    ])?;
    anyhow::ensure!(
        !binding.success
            && binding
                .stderr
                .contains("rolebindings.rbac.authorization.k8s.io \"dev-secrets\" is forbidden")
            && binding
                .stderr
                .contains("{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"*\"]}"),
        "escalating binding: {binding}"
    );
    let missing = dev.run(["create", "rolebinding", "x", "--role=nope", "--user=dev"])?;
    anyhow::ensure!(
        !missing.success
            && missing
                .stderr
                .contains("role.rbac.authorization.k8s.io \"nope\" not found"),
        "binding a missing role: {missing}"
    );
    admin
        .run(["get", "role", "secret-getter"])
        .and_then(|out| {
            anyhow::ensure!(!out.success, "the refused role was stored: {out}");
            Ok(())
        })?;

    // `bind` on one role lets dev bind it without holding it; `escalate` lets dev write roles.
    admin.ok([
        "create",
        "role",
        "binder",
        "--verb=bind",
        "--resource=roles",
        "--resource-name=secret-admin",
    ])?;
    admin.ok([
        "create",
        "rolebinding",
        "dev-binder",
        "--role=binder",
        "--user=dev",
    ])?;
    dev.ok([
        "create",
        "rolebinding",
        "eve-secrets",
        "--role=secret-admin",
        "--user=eve",
    ])?;
    admin.ok([
        "create",
        "role",
        "escalator",
        "--verb=escalate",
        "--resource=roles",
    ])?;
    admin.ok([
        "create",
        "rolebinding",
        "dev-escalator",
        "--role=escalator",
        "--user=dev",
    ])?;
    dev.ok([
        "create",
        "role",
        "secret-getter",
        "--verb=get,list",
        "--resource=secrets",
    ])?;

    // A binding's role reference cannot change; a ClusterRoleBinding cannot name a Role.
    let changed = admin.run([
        "patch",
        "rolebinding",
        "eve-pods",
        "--type=merge",
        "-p",
        r#"{"roleRef":{"name":"secret-admin"}}"#,
    ])?;
    anyhow::ensure!(
        !changed.success
            && changed.stderr.contains("roleRef: Invalid value")
            && changed.stderr.contains("cannot change roleRef"),
        "changing roleRef: {changed}"
    );
    let wrong_kind = admin.run([
        "create",
        "clusterrolebinding",
        "bad",
        "--clusterrole=view",
        "--user=dev",
        "--dry-run=client",
        "-o",
        "json",
    ])?;
    anyhow::ensure!(wrong_kind.success, "{wrong_kind}");
    let mut manifest: serde_json::Value = serde_json::from_str(&wrong_kind.stdout)?;
    manifest["roleRef"]["kind"] = "Role".into();
    let path = cluster.write_manifest("bad-crb.json", &manifest)?;
    let refused = admin.run(["create", "-f", &path])?;
    anyhow::ensure!(
        !refused.success
            && refused.stderr.contains(
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""
            ),
        "ClusterRoleBinding to a Role: {refused}"
    );
    Ok(())
}
