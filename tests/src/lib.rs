//! Helpers for the cross-binary tests in `tests/tests/`: locate the built binaries, make a PKI,
//! start programs on free loopback ports, run the real `kubectl`, and speak raw HTTPS where
//! kubectl cannot (bad bodies, chosen content types, watches from a resourceVersion).
//!
//! Every wait is bounded and fails with a message that says what was awaited; every child
//! process is killed when its owner is dropped.

pub mod cluster;
pub mod csr;
pub mod events;
pub mod https;
pub mod kubectl;
pub mod paths;
pub mod process;
pub mod wait;

pub use cluster::{Cluster, Stop};
pub use https::{Https, Response};
pub use kubectl::{Kubectl, Output};

// ---- controller-manager helpers (added for tests/tests/controller_manager_*.rs) ----

/// Writes `<dir>/<file_name>` (a kubeconfig for `system:kube-controller-manager`, the user the
/// default RBAC policy binds to `system:kube-controller-manager`) with a client certificate
/// from the cluster CA, built with `kubectl config` as an operator would.
pub fn controller_manager_kubeconfig(
    cluster: &Cluster,
    file_name: &str,
) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context as _;
    let dir = cluster.dir();
    let (cert_pem, key_pem) = cluster.ca.issue_leaf(&pki::LeafParams {
        common_name: "system:kube-controller-manager".to_string(),
        organizations: Vec::new(),
        dns: Vec::new(),
        ips: Vec::new(),
        usages: vec![
            pki::Usage::DigitalSignature,
            pki::Usage::KeyEncipherment,
            pki::Usage::ClientAuth,
        ],
        validity: std::time::Duration::from_secs(24 * 3600),
    })?;
    let stem = file_name.trim_end_matches(".kubeconfig");
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}-key.pem"));
    std::fs::write(&cert, cert_pem).with_context(|| format!("cannot write {}", cert.display()))?;
    std::fs::write(&key, key_pem).with_context(|| format!("cannot write {}", key.display()))?;
    // Files referenced, not embedded: the controller-manager resolves the paths itself.
    cluster.user_kubeconfig(
        file_name,
        "controller-manager",
        &[
            format!("--client-certificate={}", cert.display()),
            format!("--client-key={}", key.display()),
        ],
    )
}

/// Starts the `controller-manager` binary with `args`, its output in `<dir>/<log_name>`; the
/// process is killed when the guard is dropped.
pub fn spawn_controller_manager(
    cluster: &Cluster,
    log_name: &str,
    args: &[String],
) -> anyhow::Result<process::ChildGuard> {
    let binary = paths::workspace_binary("controller-manager")?;
    let mut command = std::process::Command::new(binary);
    command.args(args);
    process::ChildGuard::spawn(command, &cluster.dir().join(log_name))
}

/// A free loopback port (it may be taken again before use; callers retry or accept that).
pub fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Helpers for the kubelet-agent tests (`tests/tests/kubelet_agent_*.rs`): a controller-manager
/// process, the kubeadm-style auto-approval bindings, and kubelet-agent processes.
pub mod node_agent {
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::Duration;

    use anyhow::Context as _;
    use serde_json::{Value, json};

    use crate::process::ChildGuard;
    use crate::{Cluster, paths, wait};

    /// A loopback port nobody listens on right now.
    pub fn free_port() -> anyhow::Result<u16> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free loopback port")?;
        Ok(listener.local_addr()?.port())
    }

    /// Whether something accepts TCP connections on `127.0.0.1:port`.
    pub fn port_open(port: u16) -> bool {
        TcpStream::connect_timeout(
            &(Ipv4Addr::LOCALHOST, port).into(),
            Duration::from_millis(200),
        )
        .is_ok()
    }

    /// Starts the controller-manager as admin with the cluster CA as signing CA; waits until
    /// its secure port listens.
    pub fn start_controller_manager(
        cluster: &Cluster,
        signing_duration: &str,
    ) -> anyhow::Result<ChildGuard> {
        start_controller_manager_with(cluster, signing_duration, &[])
    }

    /// [`start_controller_manager`] with more flags.
    pub fn start_controller_manager_with(
        cluster: &Cluster,
        signing_duration: &str,
        extra_args: &[&str],
    ) -> anyhow::Result<ChildGuard> {
        let dir = cluster.dir();
        let key = dir.join("ca-key.pem");
        std::fs::write(&key, cluster.ca.key_pem())?;
        let port = free_port()?;
        let mut command = Command::new(paths::workspace_binary("controller-manager")?);
        command
            .arg("--kubeconfig")
            .arg(&cluster.admin_kubeconfig)
            .arg("--cluster-signing-cert-file")
            .arg(dir.join("ca.pem"))
            .arg("--cluster-signing-key-file")
            .arg(&key)
            .arg(format!("--cluster-signing-duration={signing_duration}"))
            .arg("--leader-elect=false")
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .args(extra_args);
        let mut child = ChildGuard::spawn(command, &dir.join("controller-manager.log"))?;
        wait::until(
            "the controller-manager to listen",
            Duration::from_secs(20),
            Duration::from_millis(25),
            || {
                if let Some(status) = child.exited() {
                    return Ok(Some(Err(status)));
                }
                Ok(port_open(port).then_some(Ok(())))
            },
        )?
        .map_err(|status| {
            anyhow::anyhow!(
                "controller-manager exited with {status}; log:\n{}",
                child.log_tail(4000)
            )
        })?;
        Ok(child)
    }

    /// `kubectl create clusterrolebinding` as kubeadm's bootstrap bindings do, for the static
    /// bootstrap user's group; `auto_approve` adds the nodeclient and selfnodeclient bindings.
    /// Returns once the server's authorizer allows what was bound.
    pub fn bind_bootstrap_roles(cluster: &Cluster, auto_approve: bool) -> anyhow::Result<()> {
        let kubectl = cluster.kubectl()?;
        let group = crate::cluster::STATIC_BOOTSTRAP_GROUP;
        kubectl.ok([
            "create",
            "clusterrolebinding",
            "kubelet-bootstrap",
            "--clusterrole=system:node-bootstrapper",
            &format!("--group={group}"),
        ])?;
        let mut checks = vec![(crate::cluster::STATIC_BOOTSTRAP_USER, group, "")];
        if auto_approve {
            kubectl.ok([
                "create",
                "clusterrolebinding",
                "node-autoapprove-bootstrap",
                "--clusterrole=system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                &format!("--group={group}"),
            ])?;
            kubectl.ok([
                "create",
                "clusterrolebinding",
                "node-autoapprove-certificate-rotation",
                "--clusterrole=system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                "--group=system:nodes",
            ])?;
            checks.push((crate::cluster::STATIC_BOOTSTRAP_USER, group, "nodeclient"));
            checks.push(("system:node:probe", "system:nodes", "selfnodeclient"));
        }
        let admin = cluster.admin()?;
        for (user, group, subresource) in checks {
            let review = json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {"user": user, "groups": [group, "system:authenticated"],
                         "resourceAttributes": {"group": "certificates.k8s.io", "resource": "certificatesigningrequests",
                                                "subresource": subresource, "verb": "create"}}
            });
            wait::until(
                "RBAC to allow the new bindings",
                Duration::from_secs(10),
                Duration::from_millis(20),
                || {
                    let (status, body) = admin
                        .send_json(
                            "POST",
                            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                            &review,
                        )
                        .map_err(|e| e.to_string())?;
                    Ok((status == 201 && body["status"]["allowed"] == true).then_some(()))
                },
            )?;
        }
        Ok(())
    }

    /// Binds the lab's ClusterRole for expired certificates' renewals (decision 0027) with
    /// `kubectl create clusterrolebinding`, as `docs/deploy.md` says.
    pub fn bind_expired_renewal(cluster: &Cluster) -> anyhow::Result<()> {
        cluster.kubectl()?.ok([
            "create",
            "clusterrolebinding",
            "node-client-auto-renew-expired-crt",
            "--clusterrole=kubelet-tls-bootstrap:certificatesigningrequests:expirednodeclient",
            "--group=kubelet-tls-bootstrap:expired-client-certificates",
        ])?;
        Ok(())
    }

    /// One node's folder and flags.
    #[derive(Debug, Clone)]
    pub struct AgentSetup {
        pub node: String,
        pub dir: PathBuf,
        pub kubeconfig: PathBuf,
        pub cert_dir: PathBuf,
        pub port: u16,
        pub healthz_port: u16,
        pub extra_args: Vec<String>,
        /// The flag that names the bootstrap kubeconfig (the old guides' name in one test).
        pub bootstrap_flag: &'static str,
        /// Another bootstrap kubeconfig than the cluster's (static token) one.
        pub bootstrap_kubeconfig: Option<PathBuf>,
    }

    impl AgentSetup {
        /// `<cluster dir>/<node>/` with `kubelet.kubeconfig` and `pki/`, fresh ports.
        pub fn new(cluster: &Cluster, node: &str) -> anyhow::Result<AgentSetup> {
            let dir = cluster.dir().join(node);
            std::fs::create_dir_all(&dir)?;
            Ok(AgentSetup {
                node: node.to_string(),
                kubeconfig: dir.join("kubelet.kubeconfig"),
                cert_dir: dir.join("pki"),
                dir,
                port: free_port()?,
                healthz_port: free_port()?,
                extra_args: Vec::new(),
                bootstrap_flag: "--bootstrap-kubeconfig",
                bootstrap_kubeconfig: None,
            })
        }

        /// Starts `kubelet-agent` with the cluster's (or its own) bootstrap kubeconfig; output goes to
        /// `<dir>/agent.log` (appended across restarts).
        pub fn start(&self, cluster: &Cluster) -> anyhow::Result<ChildGuard> {
            ChildGuard::spawn(self.command(cluster)?, &self.log_path())
        }

        /// The `kubelet-agent` command line [`AgentSetup::start`] runs.
        pub fn command(&self, cluster: &Cluster) -> anyhow::Result<Command> {
            let mut command = Command::new(paths::workspace_binary("kubelet-agent")?);
            command
                .arg(self.bootstrap_flag)
                .arg(
                    self.bootstrap_kubeconfig
                        .as_ref()
                        .unwrap_or(&cluster.bootstrap_kubeconfig),
                )
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .arg("--cert-dir")
                .arg(&self.cert_dir)
                .arg(format!("--hostname-override={}", self.node))
                .arg("--node-ip=127.0.0.1")
                .arg("--address=127.0.0.1")
                .arg(format!("--port={}", self.port))
                .arg(format!("--healthz-port={}", self.healthz_port))
                .args(&self.extra_args);
            Ok(command)
        }

        pub fn log_path(&self) -> PathBuf {
            self.dir.join("agent.log")
        }

        /// Waits until the kubelet port accepts connections; fails at once if `agent` exits.
        pub fn wait_port_open(
            &self,
            agent: &mut ChildGuard,
            timeout: Duration,
        ) -> anyhow::Result<()> {
            wait::until(
                "the kubelet port to open",
                timeout,
                Duration::from_millis(50),
                || {
                    if let Some(status) = agent.exited() {
                        return Err(format!("agent exited with {status}"));
                    }
                    Ok(port_open(self.port).then_some(()))
                },
            )
            .map_err(|e| e.context(self.log()))
        }

        pub fn log(&self) -> String {
            std::fs::read_to_string(self.log_path()).unwrap_or_default()
        }

        /// Waits until the agent wrote its kubeconfig (it holds a certificate); fails at
        /// once if `agent` exits.
        pub fn wait_kubeconfig(
            &self,
            agent: &mut ChildGuard,
            timeout: Duration,
        ) -> anyhow::Result<()> {
            wait::until(
                "the node's kubeconfig",
                timeout,
                Duration::from_millis(20),
                || {
                    if let Some(status) = agent.exited() {
                        return Err(format!("agent exited with {status}"));
                    }
                    Ok(self.kubeconfig.exists().then_some(()))
                },
            )
            .map_err(|e| e.context(self.log()))
        }

        /// `<cert-dir>/kubelet-client-current.pem`.
        pub fn client_current(&self) -> PathBuf {
            self.cert_dir.join("kubelet-client-current.pem")
        }

        /// The serial of the certificate `kubelet-client-current.pem` points at.
        pub fn client_serial(&self) -> anyhow::Result<String> {
            serial_of(&self.client_current())
        }
    }

    /// The serial (hex) of the first certificate in a PEM file.
    pub fn serial_of(path: &Path) -> anyhow::Result<String> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(pki::parse_certificates(&text)?[0].serial_hex())
    }

    /// Every CSR as JSON objects (admin).
    pub fn list_csrs(cluster: &Cluster) -> anyhow::Result<Vec<Value>> {
        let (status, list) = cluster
            .admin()?
            .get_json("/apis/certificates.k8s.io/v1/certificatesigningrequests")?;
        anyhow::ensure!(status == 200, "list csr: {status} {list}");
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// The node's Lease `renewTime`, if the Lease exists.
    pub fn lease_renew_time(cluster: &Cluster, node: &str) -> anyhow::Result<Option<String>> {
        let (status, lease) = cluster.admin()?.get_json(&format!(
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
        ))?;
        if status == 404 {
            return Ok(None);
        }
        anyhow::ensure!(status == 200, "get lease: {status} {lease}");
        Ok(lease["spec"]["renewTime"].as_str().map(str::to_string))
    }

    /// Waits until the Lease's renewTime differs from `after` (a renewal happened).
    pub fn wait_for_lease_renewal(
        cluster: &Cluster,
        node: &str,
        after: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        wait::until(
            "the node lease to be renewed",
            timeout,
            Duration::from_millis(50),
            || {
                let now = lease_renew_time(cluster, node).map_err(|e| format!("{e:#}"))?;
                Ok(now.filter(|t| Some(t.as_str()) != after))
            },
        )
    }

    /// `GET` over plain HTTP on loopback (the agent's healthz port): status and body.
    pub fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
        use std::io::{Read as _, Write as _};
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw)?;
        let status = raw
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad response {raw:?}"))?;
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
        Ok((status, body.unwrap_or_default()))
    }

    /// A metric's value from Prometheus text.
    pub fn metric(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }
}

// ---- bootstrap-storm helpers (added for tests/tests/storm_smoke.rs) ----

/// Runs the built `bootstrap-storm` benchmark with `args` plus `--out <out>` (it finds the
/// apiserver, controller-manager and kubelet-agent next to itself); returns its output and
/// the parsed `<out>/report.json`. Bounded: the run is killed after `timeout`.
pub fn run_bootstrap_storm(
    out: &std::path::Path,
    args: &[&str],
    timeout: std::time::Duration,
) -> anyhow::Result<(std::process::Output, serde_json::Value)> {
    use anyhow::Context as _;
    let binary = paths::workspace_binary("bootstrap-storm")?;
    let mut command = std::process::Command::new(binary);
    command
        .args(args)
        .arg("--out")
        .arg(out)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().context("cannot start bootstrap-storm")?;
    let started = std::time::Instant::now();
    while child.try_wait()?.is_none() {
        if started.elapsed() > timeout {
            let _ = child.kill();
            let output = child.wait_with_output()?;
            anyhow::bail!(
                "bootstrap-storm did not finish within {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = child.wait_with_output()?;
    let report_path = out.join("report.json");
    let text = std::fs::read_to_string(&report_path).with_context(|| {
        format!(
            "no {} (exit {}); stderr:\n{}",
            report_path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    Ok((output, serde_json::from_str(&text)?))
}
