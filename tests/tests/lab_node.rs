//! `lab node revoke` and `lab node replace` against the real apiserver, controller-manager,
//! kubelet-agent and kubectl: a lost machine is shut out in one command, a blocked node cannot
//! join again with any token, and its replacement joins under the same name with the token
//! `replace` made for it.

use std::path::Path;

use anyhow::Context as _;
use std::process::Command;
use std::time::{Duration, SystemTime};

use e2e::kubectl::Kubectl;
use e2e::node_agent::{self, AgentSetup};
use e2e::{Cluster, events, paths, wait};
use protocol::meta::Time;
use serde_json::Value;

const NODE: &str = "node-x";
const KUBEADM_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// Runs `lab` with `args`; (success, stdout, stderr).
fn lab(args: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let output = Command::new(paths::workspace_binary("lab")?)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .context("cannot run lab")?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

fn lab_ok(args: &[&str]) -> anyhow::Result<(String, String)> {
    let (ok, stdout, stderr) = lab(args)?;
    anyhow::ensure!(ok, "lab {args:?} failed:\n{stdout}\n{stderr}");
    Ok((stdout, stderr))
}

/// Waits until the node's own credentials are accepted or refused (its Node may be gone).
fn wait_node_access(node: &Kubectl, allowed: bool, log: &dyn Fn() -> String) -> anyhow::Result<()> {
    let whoami = [
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ];
    node.wait_credentials(&whoami, allowed, log)
}

/// Waits until the Node `NODE` exists.
fn wait_node_registered(admin: &Kubectl, log: &dyn Fn() -> String) -> anyhow::Result<()> {
    wait::until(
        "the Node",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            Ok(admin
                .run(["get", "node", NODE])
                .map_err(|e| e.to_string())?
                .success
                .then_some(()))
        },
    )
    .map_err(|e| e.context(log()))
}

/// The one CSR with no condition yet (the others were issued).
fn pending_csr(cluster: &Cluster) -> anyhow::Result<String> {
    wait::until(
        "a new pending CSR",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let csrs = node_agent::list_csrs(cluster).map_err(|e| e.to_string())?;
            Ok(csrs
                .iter()
                .find(|csr| {
                    csr["status"]["conditions"]
                        .as_array()
                        .is_none_or(|c| c.is_empty())
                })
                .and_then(|csr| csr["metadata"]["name"].as_str().map(str::to_string)))
        },
    )
}

/// A fresh install: the node's kubeconfig and certificates gone (a blocked install has none).
fn reinstall(setup: &AgentSetup) -> anyhow::Result<()> {
    if setup.cert_dir.exists() {
        std::fs::remove_dir_all(&setup.cert_dir).context("cannot remove the cert dir")?;
    }
    if setup.kubeconfig.exists() {
        std::fs::remove_file(&setup.kubeconfig).context("cannot remove the kubeconfig")?;
    }
    Ok(())
}

fn admin_kubeconfig(cluster: &Cluster) -> &str {
    cluster.admin_kubeconfig.to_str().unwrap_or_default()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

#[test]
fn a_revoked_node_is_shut_out_and_its_replacement_joins() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    // tokencleaner on, as the lab runs it: the replacement's single-use token goes once it is up.
    let _controller_manager = node_agent::start_controller_manager_with(
        &cluster,
        "8760h",
        &["--controllers=*,tokencleaner"],
    )?;
    node_agent::bind_bootstrap_roles(&cluster, true)?;
    let admin = cluster.admin_kubectl(&paths::kubectl()?);
    // lab's tokens carry kubeadm's group, as kubeadm join tokens do.
    for (binding, role) in [
        ("kubeadm-bootstrap", "system:node-bootstrapper"),
        (
            "kubeadm-autoapprove",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        ),
    ] {
        admin.ok([
            "create",
            "clusterrolebinding",
            binding,
            &format!("--clusterrole={role}"),
            &format!("--group={KUBEADM_GROUP}"),
        ])?;
    }

    let setup = AgentSetup::new(&cluster, NODE)?;
    let mut agent = setup.start(&cluster)?;
    setup.wait_kubeconfig(&mut agent, Duration::from_secs(20))?;
    let node = admin.with_kubeconfig(&setup.kubeconfig, &cluster.dir().join("home/cache-node"));
    let log = || setup.log();
    wait_node_access(&node, true, &log)?;
    wait_node_registered(&admin, &log)?;

    // A token bound to the node, and one bound to none.
    let bound_manifest = cluster.dir().join("bound-token.json");
    let (bound_token, _) = lab_ok(&[
        "token",
        "create",
        &format!("--ca-file={}", path(&cluster.ca_file())),
        &format!("--server={}", cluster.server_url()),
        &format!("--node-name={NODE}"),
        &format!(
            "--kubeconfig-out={}",
            path(&cluster.dir().join("bound.kubeconfig"))
        ),
        &format!("--secret-out={}", path(&bound_manifest)),
        &format!("--admin-kubeconfig={}", admin_kubeconfig(&cluster)),
    ])?;
    let bound_secret = format!("bootstrap-token-{}", &bound_token.trim()[..6]);
    cluster.create_bootstrap_token("open01", "0123456789abcdef", None)?;

    // Revoked, Node kept: the node is refused, the bound token gone, the open one named.
    let (out, _) = lab_ok(&[
        "node",
        "revoke",
        NODE,
        "--keep-node",
        "--reason=disk sent for repair",
        &format!("--kubeconfig={}", admin_kubeconfig(&cluster)),
    ])?;
    let lines: Vec<&str> = out.lines().collect();
    anyhow::ensure!(
        lines.len() == 3
            && lines[0].starts_with(&format!("certificaterevocation/{NODE}-revoked-"))
            && lines[0].contains(&format!(
                "created: certificates of system:node:{NODE} issued until "
            ))
            && lines[1] == format!("secret/{bound_secret} deleted (a bootstrap token bound to {NODE})")
            && lines[2].starts_with("note: 1 bootstrap token(s) bound to no node are still valid (bootstrap-token-open01)"),
        "{out}"
    );
    wait_node_access(&node, false, &log)?;
    anyhow::ensure!(admin.run(["get", "node", NODE])?.success, "--keep-node");
    let gone = admin.run(["-n", "kube-system", "get", "secret", &bound_secret])?;
    anyhow::ensure!(
        !gone.success && gone.stderr.contains("NotFound"),
        "{}",
        gone.stderr
    );
    let reason = admin.ok(["get", "certrev", "-o", "jsonpath={.items[0].spec.reason}"])?;
    anyhow::ensure!(reason == "disk sent for repair", "{reason}");

    // Blocked: Node and Lease deleted, and a reinstalled machine is not let back in.
    let (out, _) = lab_ok(&[
        "node",
        "revoke",
        NODE,
        "--block-rejoin",
        &format!("--kubeconfig={}", admin_kubeconfig(&cluster)),
    ])?;
    anyhow::ensure!(
        out.contains(&format!(
            "created: every certificate of system:node:{NODE} is refused, those issued from now on included"
        )) && out.contains(&format!("node/{NODE} deleted"))
            && out.contains(&format!("lease/{NODE} deleted"))
            && !out.contains("note:"),
        "{out}"
    );
    agent.kill();
    anyhow::ensure!(!admin.run(["get", "node", NODE])?.success, "Node deleted");
    reinstall(&setup)?;
    let mut agent = setup.start(&cluster)?;
    let blocked = pending_csr(&cluster)?;
    let said = events::wait_for_reason(
        &cluster,
        &blocked,
        "SubjectRevoked",
        Duration::from_secs(15),
    )?;
    let message = said["message"].as_str().unwrap_or_default();
    anyhow::ensure!(
        said["type"] == "Warning"
            && message.starts_with(&format!(
                "Not approved automatically: system:node:{NODE} is blocked: certificaterevocation {NODE}-blocked-"
            ))
            && message.contains("issued until 9999-12-31T23:59:59Z")
            && message.contains(&format!("lab node replace {NODE}")),
        "{said}"
    );
    // A person approving it anyway gets a Failed request, not a certificate the apiserver refuses.
    admin.ok(["certificate", "approve", &blocked])?;
    let failed = wait::until(
        "the signer to fail the blocked request",
        Duration::from_secs(15),
        Duration::from_millis(50),
        || {
            let csrs = node_agent::list_csrs(&cluster).map_err(|e| e.to_string())?;
            Ok(csrs
                .into_iter()
                .find(|csr| csr["metadata"]["name"] == blocked.as_str())
                .and_then(|csr| {
                    csr["status"]["conditions"]
                        .as_array()?
                        .iter()
                        .find(|c| c["type"] == "Failed")
                        .cloned()
                }))
        },
    )?;
    anyhow::ensure!(failed["reason"] == "SubjectRevoked", "{failed}");
    let table = admin.ok(["get", "csr", &blocked])?;
    anyhow::ensure!(table.contains("Approved,Failed"), "{table}");
    agent.kill();

    // Replaced: the block lifted, a token bound to the name, the new machine joins at once.
    let replacement = cluster.dir().join("replacement.kubeconfig");
    let (token, report) = lab_ok(&[
        "node",
        "replace",
        NODE,
        &format!("--kubeconfig={}", admin_kubeconfig(&cluster)),
        &format!("--kubeconfig-out={}", path(&replacement)),
        &format!(
            "--secret-out={}",
            path(&cluster.dir().join("replacement-token.json"))
        ),
        "--ttl=1h",
    ])?;
    let token = token.trim();
    anyhow::ensure!(
        report.contains(&format!("certificaterevocation/{NODE}-revoked-"))
            && report.contains(&format!(
                "deleted (it blocked {NODE} from joining)"
            ))
            && report.contains(&format!(
                "secret/bootstrap-token-{} created (a single-use bootstrap token bound to {NODE}, valid for 1h)",
                &token[..6]
            ))
            && report.contains("--bootstrap-kubeconfig="),
        "{report}"
    );
    let annotations = admin.ok([
        "-n",
        "kube-system",
        "get",
        "secret",
        &format!("bootstrap-token-{}", &token[..6]),
        "-o",
        "jsonpath={.metadata.annotations.kubelet-tls-bootstrap/node-name} {.metadata.annotations.kubelet-tls-bootstrap/single-use}",
    ])?;
    anyhow::ensure!(annotations == format!("{NODE} true"), "{annotations}");
    let revocations: Value = serde_json::from_str(&admin.ok(["get", "certrev", "-o", "json"])?)?;
    let items = revocations["items"].as_array().cloned().unwrap_or_default();
    anyhow::ensure!(
        items.len() == 2
            && items.iter().all(|r| r["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.contains("-revoked-"))),
        "the block is gone, both revocations of old certificates stay: {revocations}"
    );
    let replaced_at = items
        .iter()
        .filter_map(|r| r["spec"]["issuedBefore"].as_str())
        .filter_map(|t| Time::parse(t).ok())
        .map(|t| t.to_system_time())
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);

    reinstall(&setup)?;
    let new_machine = AgentSetup {
        bootstrap_kubeconfig: Some(replacement),
        ..setup.clone()
    };
    let mut agent = new_machine.start(&cluster)?;
    new_machine.wait_kubeconfig(&mut agent, Duration::from_secs(30))?;
    wait_node_access(&node, true, &log)?;
    let certificate = &pki::parse_certificates(&std::fs::read(new_machine.client_current())?)?[0];
    anyhow::ensure!(
        certificate.not_before() == replaced_at + Duration::from_secs(1),
        "NotBefore {:?}, replaced at {replaced_at:?}",
        certificate.not_before()
    );
    let requester = admin.ok(["get", "csr", "-o", "jsonpath={.items[*].spec.username}"])?;
    anyhow::ensure!(
        requester.contains(&format!("system:bootstrap:{}", &token[..6])),
        "the replacement joined with its own token: {requester}"
    );
    wait_node_registered(&admin, &|| new_machine.log())?;
    // Up (its Lease renewed): the single-use token is used up.
    let token_secret = format!("bootstrap-token-{}", &token[..6]);
    wait::until(
        "the replacement's single-use token to be deleted",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let listed = admin
                .ok(["-n", "kube-system", "get", "secrets", "-o", "name"])
                .map_err(|e| format!("{e:#}"))?;
            Ok((!listed.contains(&token_secret)).then_some(()))
        },
    )?;
    drop(agent);
    Ok(())
}

#[test]
fn node_commands_refuse_bad_input_in_one_line() -> anyhow::Result<()> {
    let (ok, _, stderr) = lab(&["node", "revoke", "Bad_Name", "--kubeconfig=/nonexistent"])?;
    anyhow::ensure!(!ok && stderr.contains("is not a node name"), "{stderr}");
    let (ok, _, stderr) = lab(&["node", "revoke", "node-1", "--kubeconfig=/nonexistent"])?;
    anyhow::ensure!(
        !ok && stderr.starts_with("lab: cannot load /nonexistent"),
        "{stderr}"
    );
    let (ok, _, stderr) = lab(&["node", "revoke", "node-1"])?;
    anyhow::ensure!(!ok && stderr.contains("--kubeconfig"), "{stderr}");
    Ok(())
}

#[test]
fn tokens_are_listed_and_deleted_as_kubeadm_does() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let admin = format!("--kubeconfig={}", admin_kubeconfig(&cluster));
    let (token, _) = lab_ok(&[
        "token",
        "create",
        &format!("--ca-file={}", path(&cluster.ca_file())),
        &format!("--server={}", cluster.server_url()),
        &format!(
            "--kubeconfig-out={}",
            path(&cluster.dir().join("made.kubeconfig"))
        ),
        &format!(
            "--secret-out={}",
            path(&cluster.dir().join("made-token.json"))
        ),
        &format!("--admin-kubeconfig={}", admin_kubeconfig(&cluster)),
        "--ttl=2h",
        "--node-name=worker-9",
        "--single-use",
        "--description=for worker-9",
    ])?;
    let token = token.trim().to_string();
    let (listed, _) = lab_ok(&["token", "list", &admin])?;
    let header: Vec<&str> = listed
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    anyhow::ensure!(
        header
            == [
                "TOKEN",
                "TTL",
                "EXPIRES",
                "USAGES",
                "DESCRIPTION",
                "EXTRA",
                "GROUPS",
                "NODE",
                "SINGLE-USE"
            ],
        "{listed}"
    );
    let row: Vec<&str> = listed
        .lines()
        .find(|l| l.starts_with(&token))
        .with_context(|| format!("{token} not listed:\n{listed}"))?
        .split_whitespace()
        .collect();
    anyhow::ensure!(
        row[1] == "1h"
            && row[3] == "authentication,signing"
            && row[4..6] == ["for", "worker-9"]
            && row[6] == KUBEADM_GROUP
            && row[7..] == ["worker-9", "true"],
        "{listed}"
    );

    let id = &token[..6];
    let (deleted, _) = lab_ok(&["token", "delete", &token, &admin])?;
    anyhow::ensure!(
        deleted == format!("bootstrap token {id:?} deleted\n"),
        "{deleted}"
    );
    let (listed, _) = lab_ok(&["token", "list", &admin])?;
    anyhow::ensure!(!listed.contains(id), "{listed}");
    let (ok, _, stderr) = lab(&["token", "delete", id, &admin])?;
    anyhow::ensure!(
        !ok && stderr.starts_with(&format!("lab: failed to delete bootstrap token {id:?}"))
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    let (ok, _, stderr) = lab(&["token", "delete", "Not-A-Token", &admin])?;
    anyhow::ensure!(!ok && stderr.contains("is neither a token id"), "{stderr}");
    Ok(())
}
