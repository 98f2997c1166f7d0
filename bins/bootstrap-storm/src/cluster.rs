//! The cluster under test: a PKI made with `pki`, the real apiserver and controller-manager
//! binaries as child processes on loopback (or a running apiserver given by flags), a
//! bootstrap token Secret and the seed-003 bindings created through `client`.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use client::{Client, ClientConfig};
use kubeconfig::{Identity, Kubeconfig};
use serde_json::{Value, json};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const USER_AGENT: &str = concat!("bootstrap-storm/", env!("CARGO_PKG_VERSION"));
/// The group every bootstrap token user is in (what the seed-003 bindings name for tokens).
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";

/// A child process killed when dropped.
pub struct Process {
    child: Child,
}

impl Process {
    pub fn spawn(name: &'static str, mut command: Command, log: &Path) -> anyhow::Result<Process> {
        let file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", command.get_program()))?;
        Ok(Process { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` when it already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Everything the benchmark needs to reach the cluster.
pub struct Cluster {
    pub server: url::Url,
    pub ca_pem: Vec<u8>,
    pub admin: Client,
    /// The folder with the PKI files, kubeconfigs and logs.
    pub dir: PathBuf,
    /// The bootstrap kubeconfig every kubelet starts from (token auth).
    pub bootstrap_kubeconfig: PathBuf,
    /// `<id>.<secret>`.
    pub bootstrap_token: String,
    pub apiserver: Option<Process>,
    pub controller_manager: Option<Process>,
    /// Set when we started the processes: what restarting the controller-manager needs.
    pub launch: Option<Launch>,
}

/// How to (re)start the controller-manager and where the binaries are.
pub struct Launch {
    pub bin_dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub controller_kubeconfig: PathBuf,
    pub controller_workers: u16,
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// A client certificate from the cluster CA.
fn client_leaf(
    ca: &pki::CertificateAuthority,
    common_name: &str,
    organizations: &[&str],
) -> anyhow::Result<(String, String)> {
    Ok(ca.issue_leaf(&pki::LeafParams {
        common_name: common_name.to_string(),
        organizations: organizations.iter().map(|o| o.to_string()).collect(),
        dns: Vec::new(),
        ips: Vec::new(),
        usages: vec![
            pki::Usage::DigitalSignature,
            pki::Usage::KeyEncipherment,
            pki::Usage::ClientAuth,
        ],
        validity: Duration::from_secs(24 * 3600),
    })?)
}

/// Makes the PKI, starts the apiserver and the controller-manager, waits until both serve.
pub async fn start(
    dir: &Path,
    bin_dir: &Path,
    data_dir: &Path,
    signer_key: pki::KeyAlgorithm,
    controller_workers: u16,
) -> anyhow::Result<Cluster> {
    let path = |name: &str| dir.join(name);
    // The cluster CA signs kubelet certificates too, as in a kubeadm cluster (one CA).
    let ca = pki::CertificateAuthority::generate(
        "bootstrap-storm-ca",
        signer_key,
        Duration::from_secs(24 * 3600),
    )?;
    let ca_pem = ca.cert_pem();
    write(&path("ca.pem"), &ca_pem)?;
    write(&path("ca-key.pem"), &ca.key_pem())?;
    let (serving_cert, serving_key) = ca.issue_leaf(&pki::LeafParams {
        common_name: "kube-apiserver".to_string(),
        organizations: Vec::new(),
        dns: vec!["localhost".to_string()],
        ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        usages: vec![
            pki::Usage::DigitalSignature,
            pki::Usage::KeyEncipherment,
            pki::Usage::ServerAuth,
        ],
        validity: Duration::from_secs(24 * 3600),
    })?;
    write(&path("apiserver.pem"), &serving_cert)?;
    write(&path("apiserver-key.pem"), &serving_key)?;
    let (admin_cert, admin_key) = client_leaf(&ca, "storm-admin", &["system:masters"])?;
    write(&path("admin.pem"), &admin_cert)?;
    write(&path("admin-key.pem"), &admin_key)?;
    let (cm_cert, cm_key) = client_leaf(&ca, "system:kube-controller-manager", &[])?;
    write(&path("controller-manager.pem"), &cm_cert)?;
    write(&path("controller-manager-key.pem"), &cm_key)?;
    std::fs::create_dir_all(data_dir)?;

    let port = free_port()?;
    let server: url::Url = format!("https://127.0.0.1:{port}").parse()?;
    let mut command = Command::new(bin_dir.join("apiserver"));
    command
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg("--tls-cert-file")
        .arg(path("apiserver.pem"))
        .arg("--tls-private-key-file")
        .arg(path("apiserver-key.pem"))
        .arg("--client-ca-file")
        .arg(path("ca.pem"))
        .arg("--enable-bootstrap-token-auth")
        .arg("--authorization-mode=Node,RBAC")
        .arg("--data-dir")
        .arg(data_dir);
    let mut apiserver = Process::spawn("apiserver", command, &path("apiserver.log"))?;

    let admin = Client::new(ClientConfig::new(
        server.clone(),
        Some(ca_pem.as_bytes().to_vec()),
        Identity::ClientCertificate {
            cert_pem: admin_cert.into_bytes(),
            key_pem: admin_key.into_bytes(),
        },
        USER_AGENT,
    ))?;
    wait_ready(&admin, &mut apiserver, dir).await?;

    let controller_kubeconfig = path("controller-manager.kubeconfig");
    Kubeconfig::with_client_certificate_files(
        "storm",
        &server,
        Some(ca_pem.as_bytes()),
        "system:kube-controller-manager",
        &path("controller-manager.pem"),
        &path("controller-manager-key.pem"),
    )
    .save(&controller_kubeconfig)?;
    let launch = Launch {
        bin_dir: bin_dir.to_path_buf(),
        ca_cert: path("ca.pem"),
        ca_key: path("ca-key.pem"),
        controller_kubeconfig,
        controller_workers,
    };
    let controller_manager = start_controller_manager(&launch, dir, "controller-manager.log")?;

    let mut cluster = Cluster {
        server,
        ca_pem: ca_pem.into_bytes(),
        admin,
        dir: dir.to_path_buf(),
        bootstrap_kubeconfig: path("bootstrap.kubeconfig"),
        bootstrap_token: String::new(),
        apiserver: Some(apiserver),
        controller_manager: Some(controller_manager),
        launch: Some(launch),
    };
    cluster.prepare_bootstrap().await?;
    Ok(cluster)
}

/// Targets a running apiserver with an admin kubeconfig.
pub async fn target(
    dir: &Path,
    server: url::Url,
    admin_kubeconfig: &Path,
) -> anyhow::Result<Cluster> {
    let resolved = Kubeconfig::load(admin_kubeconfig)?.resolve(None)?;
    let ca_pem = resolved
        .ca_pem
        .clone()
        .context("the admin kubeconfig names no CA")?;
    let mut config = ClientConfig::from_kubeconfig(&resolved, USER_AGENT)?;
    config.server = server.clone();
    let admin = Client::new(config)?;
    let mut cluster = Cluster {
        server,
        ca_pem,
        admin,
        dir: dir.to_path_buf(),
        bootstrap_kubeconfig: dir.join("bootstrap.kubeconfig"),
        bootstrap_token: String::new(),
        apiserver: None,
        controller_manager: None,
        launch: None,
    };
    cluster.prepare_bootstrap().await?;
    Ok(cluster)
}

/// The controller-manager as kube-controller-manager runs it, signing with the cluster CA.
pub fn start_controller_manager(
    launch: &Launch,
    dir: &Path,
    log_name: &str,
) -> anyhow::Result<Process> {
    let mut command = Command::new(launch.bin_dir.join("controller-manager"));
    command
        .arg("--kubeconfig")
        .arg(&launch.controller_kubeconfig)
        .arg("--cluster-signing-cert-file")
        .arg(&launch.ca_cert)
        .arg("--cluster-signing-key-file")
        .arg(&launch.ca_key)
        .arg("--leader-elect=false")
        .arg(format!(
            "--concurrent-workers={}",
            launch.controller_workers
        ))
        .arg("--secure-port=0");
    Process::spawn("controller-manager", command, &dir.join(log_name))
}

async fn wait_ready(admin: &Client, apiserver: &mut Process, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let quick = admin.with_retry(client::RetryPolicy::none());
    loop {
        if let Some(status) = apiserver.exited() {
            let log = std::fs::read_to_string(dir.join("apiserver.log")).unwrap_or_default();
            bail!("apiserver exited with {status}:\n{log}");
        }
        if let Ok(response) = quick.request_raw(http::Method::GET, "/readyz", None).await
            && response.status == http::StatusCode::OK
        {
            return Ok(());
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!("the apiserver did not answer /readyz with 200 within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Cluster {
    /// A bootstrap token Secret (as `kubeadm token create` writes it), the seed-003 bindings
    /// for the token's group, and the kubeconfig the kubelets start from. Returns once RBAC
    /// allows what was bound.
    async fn prepare_bootstrap(&mut self) -> anyhow::Result<()> {
        let id = random_token_part(6);
        let secret = random_token_part(16);
        let b64 = |s: &str| STANDARD.encode(s);
        let token_secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
            "type": "bootstrap.kubernetes.io/token",
            "data": {
                "token-id": b64(&id), "token-secret": b64(&secret),
                "usage-bootstrap-authentication": b64("true"),
                "usage-bootstrap-signing": b64("true"),
                "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token"),
            }
        });
        self.create("/api/v1/namespaces/kube-system/secrets", &token_secret)
            .await?;
        // Seed 003's three bindings, for the bootstrap token group instead of token.csv's.
        for (name, role, group) in [
            (
                "storm-kubelet-bootstrap",
                "system:node-bootstrapper",
                BOOTSTRAPPERS_GROUP,
            ),
            (
                "storm-node-client-auto-approve-csr",
                "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                BOOTSTRAPPERS_GROUP,
            ),
            (
                "storm-node-client-auto-renew-crt",
                "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                "system:nodes",
            ),
        ] {
            let binding = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]
            });
            self.create(
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                &binding,
            )
            .await?;
        }
        self.wait_allowed(
            &format!("system:bootstrap:{id}"),
            BOOTSTRAPPERS_GROUP,
            "nodeclient",
        )
        .await?;
        self.bootstrap_token = format!("{id}.{secret}");
        Kubeconfig::with_token(
            "storm",
            &self.server,
            Some(&self.ca_pem),
            "kubelet-bootstrap",
            &self.bootstrap_token,
        )
        .save(&self.bootstrap_kubeconfig)?;
        Ok(())
    }

    async fn create(&self, path: &str, body: &Value) -> anyhow::Result<()> {
        let response = self
            .admin
            .create_raw(path, bytes::Bytes::from(serde_json::to_vec(body)?))
            .await?;
        let code = response.status.as_u16();
        // 409: a rerun against the same --server.
        if !(response.status.is_success() || code == 409) {
            bail!(
                "POST {path}: HTTP {code}: {}",
                String::from_utf8_lossy(&response.body)
            );
        }
        Ok(())
    }

    async fn wait_allowed(&self, user: &str, group: &str, subresource: &str) -> anyhow::Result<()> {
        let review = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": [group, "system:authenticated"],
                     "resourceAttributes": {"group": "certificates.k8s.io", "resource": "certificatesigningrequests",
                                            "subresource": subresource, "verb": "create"}}
        });
        let started = Instant::now();
        loop {
            let response = self
                .admin
                .create_raw(
                    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                    bytes::Bytes::from(serde_json::to_vec(&review)?),
                )
                .await?;
            let body: Value = serde_json::from_slice(&response.body).unwrap_or_default();
            if body["status"]["allowed"] == true {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("RBAC did not allow the bootstrap bindings within 20 s: {body}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `/metrics` of the apiserver, parsed.
    pub async fn scrape(&self) -> anyhow::Result<crate::prom::Scrape> {
        let response = self
            .admin
            .request_raw(http::Method::GET, "/metrics", None)
            .await?;
        if !response.status.is_success() {
            bail!("GET /metrics: HTTP {}", response.status);
        }
        Ok(crate::prom::Scrape::parse(&String::from_utf8_lossy(
            &response.body,
        )))
    }

    pub fn apiserver_pid(&self) -> Option<u32> {
        self.apiserver.as_ref().map(Process::pid)
    }

    pub fn controller_manager_pid(&self) -> Option<u32> {
        self.controller_manager.as_ref().map(Process::pid)
    }
}

/// `[a-z0-9]{n}`, the bootstrap token alphabet.
fn random_token_part(n: usize) -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
