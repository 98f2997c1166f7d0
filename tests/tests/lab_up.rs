//! The whole seed 003 flow through `lab up`: the real apiserver, controller-manager and
//! kubelet-agents as separate processes, observed and driven with the real kubectl.
//! Automatic path (bindings seeded, nodes join by themselves) and manual path (no nodeclient
//! binding: CSRs stay Pending until `kubectl certificate approve`), then a clean shutdown on
//! SIGTERM and `lab down`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::kubectl::Kubectl;
use e2e::process::ChildGuard;
use e2e::{paths, wait};
use serde_json::Value;

const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);

/// A `lab up` process in a temporary state folder, killed on drop.
struct Lab {
    _dir: tempfile::TempDir,
    state: PathBuf,
    output: PathBuf,
    lab: PathBuf,
    process: ChildGuard,
}

impl Lab {
    fn up(nodes: u32, extra: &[&str]) -> anyhow::Result<Lab> {
        let lab = paths::workspace_binary("lab")?;
        let dir = tempfile::Builder::new().prefix("e2e-lab-").tempdir()?;
        let state = dir.path().join("state");
        let output = dir.path().join("lab.out");
        let mut command = Command::new(&lab);
        command
            .arg("up")
            .arg(format!("--nodes={nodes}"))
            .arg("--state-dir")
            .arg(&state)
            .args(extra);
        let process = ChildGuard::spawn(command, &output)?;
        Ok(Lab {
            _dir: dir,
            state,
            output,
            lab,
            process,
        })
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// The admin kubectl, once the lab has written its kubeconfig.
    fn kubectl(&mut self) -> anyhow::Result<Kubectl> {
        let kubeconfig = self.state.join("admin.kubeconfig");
        let process = &mut self.process;
        let output = self.output.clone();
        wait::until(
            "lab to write admin.kubeconfig",
            Duration::from_secs(30),
            POLL,
            || {
                if let Some(status) = process.exited() {
                    return Err(format!(
                        "lab exited with {status}: {}",
                        std::fs::read_to_string(&output).unwrap_or_default()
                    ));
                }
                Ok(kubeconfig.is_file().then_some(()))
            },
        )?;
        Ok(Kubectl::new(
            paths::kubectl()?,
            &kubeconfig,
            self._dir.path().join("home").join("cache"),
        ))
    }

    /// Waits until `kubectl get nodes` lists `names`, all Ready.
    fn wait_nodes_ready(&mut self, kubectl: &Kubectl, names: &[&str]) -> anyhow::Result<()> {
        let process = &mut self.process;
        let result = wait::until(
            "every node Ready in kubectl get nodes",
            JOIN_TIMEOUT,
            POLL,
            || {
                if let Some(status) = process.exited() {
                    return Err(format!("lab exited early with {status}"));
                }
                let listed = ready_nodes(kubectl).map_err(|e| format!("{e:#}"))?;
                if names.iter().all(|n| listed.iter().any(|l| l == n)) {
                    Ok(Some(()))
                } else {
                    Err(format!("Ready nodes so far: {listed:?}"))
                }
            },
        );
        result.map_err(|e| e.context(format!("lab output:\n{}", self.output())))
    }

    /// SIGTERM: every child must stop and the lab exit 0.
    fn stop(mut self) -> anyhow::Result<String> {
        let status = self.process.terminate(Duration::from_secs(60))?;
        let output = self.output();
        anyhow::ensure!(
            status.is_some_and(|s| s.success()),
            "lab did not exit cleanly on SIGTERM ({status:?}):\n{output}"
        );
        for program in ["apiserver", "controller-manager", "node-1"] {
            anyhow::ensure!(
                output.contains(&format!("  {program}: stopped")),
                "{program} was not stopped cleanly:\n{output}"
            );
        }
        let down = Command::new(&self.lab)
            .arg("down")
            .arg("--state-dir")
            .arg(&self.state)
            .output()?;
        anyhow::ensure!(down.status.success(), "lab down failed: {down:?}");
        anyhow::ensure!(
            !self.state.exists(),
            "lab down left {}",
            self.state.display()
        );
        Ok(output)
    }
}

fn json(kubectl: &Kubectl, args: &[&str]) -> anyhow::Result<Value> {
    let out = kubectl.ok(args.iter().copied().chain(["-o", "json"]))?;
    Ok(serde_json::from_str(&out)?)
}

fn ready_nodes(kubectl: &Kubectl) -> anyhow::Result<Vec<String>> {
    let list = json(kubectl, &["get", "nodes"])?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|node| {
            node["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .filter_map(|node| node["metadata"]["name"].as_str().map(str::to_string))
        .collect())
}

/// `(name, signer, condition types)` of every CSR.
fn csrs(kubectl: &Kubectl) -> anyhow::Result<Vec<(String, String, Vec<String>)>> {
    let list = json(kubectl, &["get", "csr"])?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|csr| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let conditions = csr["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| text(&c["type"]))
                .collect();
            (
                text(&csr["metadata"]["name"]),
                text(&csr["spec"]["signerName"]),
                conditions,
            )
        })
        .collect())
}

fn node_cert(state: &Path, node: &str) -> anyhow::Result<pki::Certificate> {
    let current = state
        .join("nodes")
        .join(node)
        .join("pki")
        .join("kubelet-client-current.pem");
    pki::parse_certificates(&std::fs::read(&current)?)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("{} holds no certificate", current.display()))
}

#[test]
fn lab_up_nodes_join_by_themselves() -> anyhow::Result<()> {
    let mut lab = Lab::up(2, &[])?;
    let kubectl = lab.kubectl()?;
    lab.wait_nodes_ready(&kubectl, &["node-1", "node-2"])?;

    // The client CSRs were approved by the controller-manager, not by a person.
    let client_csrs: Vec<_> = csrs(&kubectl)?
        .into_iter()
        .filter(|(_, signer, _)| signer == "kubernetes.io/kube-apiserver-client-kubelet")
        .collect();
    assert_eq!(client_csrs.len(), 2, "{client_csrs:?}");
    let described = kubectl.ok([
        "get",
        "csr",
        "-o",
        "jsonpath={.items[*].status.conditions[*].reason}",
    ])?;
    assert!(described.contains("AutoApproved"), "{described}");

    // Each node holds a certificate for itself, signed by the lab CA.
    let ca = pki::Certificate::from_pem(&std::fs::read(lab.state.join("pki/ca.pem"))?)?;
    for node in ["node-1", "node-2"] {
        let cert = node_cert(&lab.state, node)?;
        assert_eq!(
            cert.common_name(),
            Some(format!("system:node:{node}").as_str())
        );
        assert_eq!(cert.organizations(), ["system:nodes".to_string()]);
        cert.verify_issued_by(&ca)?;
    }

    // Their serving CSRs too, by the controller-manager (the lab seeds the selfnodeserver
    // opt-in); both nodes report 127.0.0.1, which any number of nodes may share.
    wait::until(
        "both serving CSRs approved and issued",
        JOIN_TIMEOUT,
        POLL,
        || {
            let serving: Vec<_> = csrs(&kubectl)
                .map_err(|e| format!("{e:#}"))?
                .into_iter()
                .filter(|(_, signer, _)| signer == "kubernetes.io/kubelet-serving")
                .collect();
            let done = serving.len() == 2
                && serving
                    .iter()
                    .all(|(_, _, c)| c.iter().any(|t| t == "Approved"));
            Ok(done.then_some(()))
        },
    )?;
    let reasons = kubectl.ok([
        "get",
        "csr",
        "-o",
        "jsonpath={range .items[?(@.spec.signerName==\"kubernetes.io/kubelet-serving\")]}{.status.conditions[0].reason}{\" \"}{end}",
    ])?;
    assert_eq!(reasons.trim(), "AutoApproved AutoApproved", "{reasons}");

    let output = lab.stop()?;
    assert!(output.contains("client certificate issued"), "{output}");
    assert!(output.contains("serving certificate issued"), "{output}");
    assert!(output.contains("Node registered"), "{output}");
    assert!(output.contains("kubectl get csr,nodes"), "{output}");
    Ok(())
}

#[test]
fn lab_up_manual_approval_waits_for_kubectl_certificate_approve() -> anyhow::Result<()> {
    let mut lab = Lab::up(2, &["--manual-approval"])?;
    let kubectl = lab.kubectl()?;

    let pending = wait::until("two Pending node CSRs", JOIN_TIMEOUT, POLL, || {
        let all = csrs(&kubectl).map_err(|e| format!("{e:#}"))?;
        let pending: Vec<String> = all
            .iter()
            .filter(|(_, signer, conditions)| {
                signer == "kubernetes.io/kube-apiserver-client-kubelet" && conditions.is_empty()
            })
            .map(|(name, _, _)| name.clone())
            .collect();
        if pending.len() == 2 {
            Ok(Some(pending))
        } else {
            Err(format!("CSRs so far: {all:?}"))
        }
    })?;
    // Nobody approved: they stay Pending and no node exists.
    std::thread::sleep(Duration::from_secs(2));
    let still: Vec<_> = csrs(&kubectl)?
        .into_iter()
        .filter(|(name, _, conditions)| pending.contains(name) && conditions.is_empty())
        .collect();
    assert_eq!(still.len(), 2, "CSRs changed without a person: {still:?}");
    assert!(ready_nodes(&kubectl)?.is_empty());

    for name in &pending {
        let out = kubectl.ok(["certificate", "approve", name.as_str()])?;
        assert!(out.contains("approved"), "{out}");
    }
    lab.wait_nodes_ready(&kubectl, &["node-1", "node-2"])?;
    let output = lab.stop()?;
    assert!(output.contains("waiting for a person"), "{output}");
    assert!(output.contains("(KubectlApprove)"), "{output}");
    Ok(())
}

/// Decision 0029: `lab ca rotate` moves a running lab to a new CA, nothing restarted. Every
/// node trusts the new CA, holds a client certificate from it and is Ready; the admin's
/// kubectl works with the new CA alone; the old CA's certificates are refused.
#[test]
fn lab_ca_rotate_moves_every_node_to_a_new_ca_without_restarts() -> anyhow::Result<()> {
    let mut lab = Lab::up(2, &[])?;
    let kubectl = lab.kubectl()?;
    lab.wait_nodes_ready(&kubectl, &["node-1", "node-2"])?;
    let pki_dir = lab.state.join("pki");
    let old_ca = pki::Certificate::from_pem(&std::fs::read(pki_dir.join("ca.pem"))?)?;
    let pids = std::fs::read_to_string(lab.state.join("lab.pid"))?;
    let old_admin = lab._dir.path().join("old-admin.kubeconfig");
    std::fs::copy(lab.state.join("admin.kubeconfig"), &old_admin)?;
    // A token kubeconfig that trusts the old CA alone, as a machine off through the rotation
    // keeps it.
    let old_token = lab._dir.path().join("old-token.kubeconfig");
    std::fs::copy(lab.state.join("bootstrap-static.kubeconfig"), &old_token)?;
    // The controller-manager published the lab's bundle for the nodes.
    let published = kubectl.ok([
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-n",
        "kube-public",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ])?;
    assert_eq!(
        pki::parse_certificates(published.as_bytes())?[0].der(),
        old_ca.der()
    );

    let rotate = Command::new(&lab.lab)
        .args(["ca", "rotate", "--timeout", "120s", "--state-dir"])
        .arg(&lab.state)
        .output()?;
    let said = String::from_utf8_lossy(&rotate.stdout).into_owned()
        + &String::from_utf8_lossy(&rotate.stderr);
    anyhow::ensure!(
        rotate.status.success(),
        "lab ca rotate failed:\n{said}\nlab output:\n{}",
        lab.output()
    );
    for stage in ["1/3 trust", "2/3 switch", "3/3 retire", "CA rotation done"] {
        assert!(said.contains(stage), "{stage}: {said}");
    }

    // Nothing was restarted: the same lab and children.
    assert_eq!(std::fs::read_to_string(lab.state.join("lab.pid"))?, pids);
    let new_ca = pki::Certificate::from_pem(&std::fs::read(pki_dir.join("ca.pem"))?)?;
    assert_ne!(new_ca.der(), old_ca.der());
    let bundle = pki::parse_certificates(&std::fs::read(pki_dir.join("ca-bundle.pem"))?)?;
    assert_eq!(bundle.len(), 1);
    assert_eq!(bundle[0].der(), new_ca.der());
    let new_id = pki::credential_id(new_ca.der());
    for node in ["node-1", "node-2"] {
        // Its client certificate comes from the new CA, and its Node says so.
        node_cert(&lab.state, node)?.verify_issued_by(&new_ca)?;
        let annotations =
            json(&kubectl, &["get", "node", node])?["metadata"]["annotations"].clone();
        assert_eq!(
            annotations["kubelet-tls-bootstrap/client-certificate-issuer"], new_id,
            "{annotations}"
        );
        assert_eq!(
            annotations["kubelet-tls-bootstrap/root-ca-bundle"],
            pki::bundle_id(&bundle),
            "{annotations}"
        );
        // Its own kubeconfig trusts the new CA alone (the agent wrote it).
        let own =
            kubeconfig::Kubeconfig::load(lab.state.join("nodes").join(node).join("kubeconfig"))?
                .resolve(None)?;
        let trusted = pki::parse_certificates(&own.ca_pem.unwrap_or_default())?;
        assert_eq!(trusted.len(), 1, "{node}");
        assert_eq!(trusted[0].der(), new_ca.der(), "{node}");
    }
    // The admin's kubectl trusts the new CA alone and the nodes stay Ready.
    lab.wait_nodes_ready(&kubectl, &["node-1", "node-2"])?;
    let published = kubectl.ok([
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-n",
        "default",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ])?;
    assert_eq!(
        pki::parse_certificates(published.as_bytes())?[0].der(),
        new_ca.der()
    );

    // The apiserver sends the new CA cross-signed by the old one after its certificate, so
    // kubectl trusting the old CA alone still verifies it: the token is accepted, and the old
    // admin certificate is refused by the apiserver (a 401), not by kubectl's TLS check.
    let chain = pki::parse_certificates(&std::fs::read(pki_dir.join("apiserver.pem"))?)?;
    assert_eq!(chain.len(), 2);
    chain[1].verify_issued_by(&old_ca)?;
    let token = kubectl.with_kubeconfig(&old_token, &lab._dir.path().join("token-cache"));
    let trusted = kubeconfig::Kubeconfig::load(&old_token)?.resolve(None)?;
    assert_eq!(
        pki::parse_certificates(&trusted.ca_pem.unwrap_or_default())?[0].der(),
        old_ca.der()
    );
    let me = token.ok([
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ])?;
    assert!(!me.is_empty(), "{me}");
    let old = kubectl.with_kubeconfig(&old_admin, &lab._dir.path().join("old-cache"));
    let refused = old.run(["get", "nodes"])?;
    assert!(!refused.success, "{refused:?}");
    // kubectl's words for a 401.
    assert!(
        refused
            .stderr
            .contains("You must be logged in to the server"),
        "{refused:?}"
    );

    let status = Command::new(&lab.lab)
        .args(["ca", "status", "--state-dir"])
        .arg(&lab.state)
        .output()?;
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(status.contains("rotation: none in progress"), "{status}");
    assert!(
        status.contains(
            "2 of 2 nodes trust the current bundle, 2 hold a client certificate from the signing CA"
        ),
        "{status}"
    );
    lab.stop()?;
    Ok(())
}

/// `lab ca rotate` on a lab that is not running changes nothing and says so.
#[test]
fn lab_ca_rotate_refuses_a_stopped_lab_and_changes_nothing() -> anyhow::Result<()> {
    let lab = paths::workspace_binary("lab")?;
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let init = Command::new(&lab)
        .args(["init", "--server", "https://127.0.0.1:1", "--nodes", "1"])
        .arg("--state-dir")
        .arg(&state)
        .output()?;
    anyhow::ensure!(init.status.success(), "{init:?}");
    let bundle = std::fs::read(state.join("pki/ca-bundle.pem"))?;
    let rotate = Command::new(&lab)
        .args(["ca", "rotate", "--state-dir"])
        .arg(&state)
        .output()?;
    let stderr = String::from_utf8_lossy(&rotate.stderr);
    assert_eq!(rotate.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("works on a running lab"), "{stderr}");
    assert!(!state.join("pki/ca-next.pem").exists());
    assert_eq!(std::fs::read(state.join("pki/ca-bundle.pem"))?, bundle);
    Ok(())
}
