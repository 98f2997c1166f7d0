//! Shared set-up of the controller-manager acceptance tests (included with `#[path]` by each
//! `controller_manager_*.rs`; as its own test target it holds no tests).
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use e2e::https::{Https, Identity};
use e2e::process::ChildGuard;
use e2e::{Cluster, Kubectl, wait};
use serde_json::{Value, json};

pub const CSR_PATH: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
pub const NODECLIENT_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient";
pub const SELFNODECLIENT_ROLE: &str =
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient";

/// A cluster with the seed 003 bindings and files for the controller-manager.
pub struct Setup {
    pub cluster: Cluster,
    pub kubectl: Kubectl,
    pub kubeconfig: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    /// `<id>.<secret>` of a bootstrap token (groups system:bootstrappers, ...).
    pub token: String,
    serving_cert: PathBuf,
    serving_key: PathBuf,
}

impl Setup {
    /// `kubelet-bootstrap` (node-bootstrapper for system:bootstrappers), and when `nodeclient`
    /// also `node-client-auto-approve-csr`; always `node-client-auto-renew-crt`.
    pub fn start(nodeclient: bool) -> anyhow::Result<Setup> {
        let cluster = Cluster::start()?;
        let kubectl = cluster.kubectl()?;
        let token = cluster.create_bootstrap_token(
            "abcdef",
            "0123456789abcdef",
            Some("2099-01-01T00:00:00Z"),
        )?;
        kubectl.ok([
            "create",
            "clusterrolebinding",
            "kubelet-bootstrap",
            "--clusterrole=system:node-bootstrapper",
            "--group=system:bootstrappers",
        ])?;
        if nodeclient {
            kubectl.ok([
                "create",
                "clusterrolebinding",
                "node-client-auto-approve-csr",
                &format!("--clusterrole={NODECLIENT_ROLE}"),
                "--group=system:bootstrappers",
            ])?;
        }
        kubectl.ok([
            "create",
            "clusterrolebinding",
            "node-client-auto-renew-crt",
            &format!("--clusterrole={SELFNODECLIENT_ROLE}"),
            "--group=system:nodes",
        ])?;
        let dir = cluster.dir().to_path_buf();
        // The cluster's own CA lives a day, which would cap every lifetime: sign with a
        // ten-year CA (certificates here are checked, not used to log in).
        let signing = pki::CertificateAuthority::generate(
            "e2e-signing-ca",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(10 * 365 * 24 * 3600),
        )?;
        let ca_cert = dir.join("signing-ca.pem");
        let ca_key = dir.join("signing-ca-key.pem");
        std::fs::write(&ca_cert, signing.cert_pem())?;
        std::fs::write(&ca_key, signing.key_pem())?;
        let (serving_pem, serving_key_pem) = cluster.ca.issue_leaf(&pki::LeafParams {
            common_name: "kube-controller-manager".into(),
            organizations: Vec::new(),
            dns: vec!["localhost".into()],
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            usages: vec![pki::Usage::DigitalSignature, pki::Usage::ServerAuth],
            validity: Duration::from_secs(24 * 3600),
        })?;
        let serving_cert = dir.join("cm-serving.pem");
        let serving_key = dir.join("cm-serving-key.pem");
        std::fs::write(&serving_cert, serving_pem)?;
        std::fs::write(&serving_key, serving_key_pem)?;
        let kubeconfig =
            e2e::controller_manager_kubeconfig(&cluster, "controller-manager.kubeconfig")?;
        let setup = Setup {
            cluster,
            kubectl,
            kubeconfig,
            ca_cert,
            ca_key,
            token,
            serving_cert,
            serving_key,
        };
        setup.wait_for_rbac(
            "system:bootstrap:abcdef",
            &["system:bootstrappers"],
            "",
            nodeclient,
        )?;
        Ok(setup)
    }

    /// Waits until the server's RBAC (fed by its watch) answers `create certificatesigningrequests/<sub>` as expected.
    pub fn wait_for_rbac(
        &self,
        user: &str,
        groups: &[&str],
        subresource: &str,
        expected: bool,
    ) -> anyhow::Result<()> {
        let admin = self.cluster.admin()?;
        let subresource = if subresource.is_empty() {
            "nodeclient"
        } else {
            subresource
        };
        let review = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups, "resourceAttributes": {
                "group": "certificates.k8s.io", "resource": "certificatesigningrequests",
                "subresource": subresource, "verb": "create"}}
        });
        wait::until(
            "RBAC to reflect the new bindings",
            Duration::from_secs(10),
            Duration::from_millis(50),
            || {
                let (status, answer) = admin
                    .send_json(
                        "POST",
                        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                        &review,
                    )
                    .map_err(|e| e.to_string())?;
                if status != 201 && status != 200 {
                    return Err(format!("{status} {answer}"));
                }
                let allowed = answer["status"]["allowed"].as_bool().unwrap_or(false);
                Ok((allowed == expected).then_some(()))
            },
        )
    }

    /// Flags for a controller-manager using the cluster CA for every signer, with its secure
    /// port's authentication and authorization delegated to the apiserver as kubeadm sets it
    /// up (the same kubeconfig, the cluster CA for client certificates).
    pub fn args(&self, port: u16, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            format!("--kubeconfig={}", self.kubeconfig.display()),
            format!("--authentication-kubeconfig={}", self.kubeconfig.display()),
            format!("--authorization-kubeconfig={}", self.kubeconfig.display()),
            format!("--client-ca-file={}", self.cluster.ca_file().display()),
            format!("--cluster-signing-cert-file={}", self.ca_cert.display()),
            format!("--cluster-signing-key-file={}", self.ca_key.display()),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={port}"),
            format!("--tls-cert-file={}", self.serving_cert.display()),
            format!("--tls-private-key-file={}", self.serving_key.display()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Starts a controller-manager and waits until it leads (its metrics say so).
    pub fn start_cm(&self, log: &str, extra: &[&str]) -> anyhow::Result<Cm> {
        let cm = self.spawn_cm(log, extra)?;
        cm.wait_leading(Duration::from_secs(20))?;
        Ok(cm)
    }

    /// Starts a controller-manager and waits until it serves metrics (for `--leader-elect=false`).
    pub fn start_cm_serving(&self, log: &str, extra: &[&str]) -> anyhow::Result<Cm> {
        let cm = self.spawn_cm(log, extra)?;
        wait::until(
            "the controller-manager to serve /metrics",
            Duration::from_secs(20),
            Duration::from_millis(20),
            || cm.metrics().map(Some).map_err(|e| format!("{e:#}")),
        )
        .with_context(|| format!("log:\n{}", cm.process.log_tail(4000)))?;
        Ok(cm)
    }

    /// Starts a controller-manager without waiting.
    pub fn spawn_cm(&self, log: &str, extra: &[&str]) -> anyhow::Result<Cm> {
        let port = e2e::free_loopback_port()?;
        let process = e2e::spawn_controller_manager(&self.cluster, log, &self.args(port, extra))?;
        Ok(Cm {
            process,
            port,
            // system:masters: allowed without a SubjectAccessReview, as upstream.
            https: Https::new(port, &self.cluster.ca_pem, self.cluster.admin_identity())?,
        })
    }

    pub fn token_client(&self) -> anyhow::Result<Https> {
        self.cluster.https(Identity::Token(self.token.clone()))
    }

    /// A client authenticated as node `name` (CN system:node:<name>, O system:nodes).
    pub fn node_client(&self, name: &str) -> anyhow::Result<Https> {
        self.cluster.https(self.node_identity(name)?)
    }

    /// A client certificate of node `name` from the cluster CA.
    pub fn node_identity(&self, name: &str) -> anyhow::Result<Identity> {
        let (cert_pem, key_pem) = self.cluster.ca.issue_leaf(&pki::LeafParams {
            common_name: format!("system:node:{name}"),
            organizations: vec!["system:nodes".into()],
            dns: Vec::new(),
            ips: Vec::new(),
            usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
            validity: Duration::from_secs(3600),
        })?;
        Ok(Identity::Certificate { cert_pem, key_pem })
    }

    pub fn get_csr(&self, name: &str) -> anyhow::Result<Value> {
        let (status, csr) = self
            .cluster
            .admin()?
            .get_json(&format!("{CSR_PATH}/{name}"))?;
        anyhow::ensure!(status == 200, "get {name}: {status} {csr}");
        Ok(csr)
    }

    /// Waits for the certificate of `name`; returns it (PEM) and how long it took.
    pub fn wait_issued(&self, name: &str, timeout: Duration) -> anyhow::Result<(String, Duration)> {
        let start = Instant::now();
        let admin = self.cluster.admin()?;
        let pem = wait::until(
            &format!("CSR {name} to be issued"),
            timeout,
            Duration::from_millis(10),
            || {
                let (_, csr) = admin
                    .get_json(&format!("{CSR_PATH}/{name}"))
                    .map_err(|e| e.to_string())?;
                Ok(certificate_of(&csr))
            },
        )?;
        Ok((pem, start.elapsed()))
    }

    /// Asserts `name` stays without certificate (and with `conditions`) for `period`.
    pub fn assert_stays_unsigned(
        &self,
        name: &str,
        conditions: &[&str],
        period: Duration,
    ) -> anyhow::Result<Value> {
        let until = Instant::now() + period;
        loop {
            let csr = self.get_csr(name)?;
            anyhow::ensure!(certificate_of(&csr).is_none(), "{name} was signed: {csr}");
            anyhow::ensure!(
                condition_types(&csr) == conditions,
                "{name} conditions: {csr}"
            );
            if Instant::now() >= until {
                return Ok(csr);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A running controller-manager, killed on drop.
pub struct Cm {
    pub process: ChildGuard,
    /// The secure port.
    pub port: u16,
    pub https: Https,
}

impl Cm {
    pub fn metrics(&self) -> anyhow::Result<String> {
        let response = self.https.request("GET", "/metrics", None, b"")?;
        anyhow::ensure!(response.status == 200, "metrics: {}", response.status);
        Ok(String::from_utf8_lossy(&response.body).into_owned())
    }

    /// The value of the sample line starting with `prefix` (0 when absent).
    pub fn metric(&self, prefix: &str) -> anyhow::Result<f64> {
        Ok(self
            .metrics()?
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0))
    }

    pub fn is_leading(&self) -> anyhow::Result<bool> {
        Ok(self.metric("leader_election_master_status{name=\"kube-controller-manager\"}")? == 1.0)
    }

    pub fn wait_leading(&self, timeout: Duration) -> anyhow::Result<()> {
        let log = self.process.log_tail(4000);
        wait::until(
            "the controller-manager to lead",
            timeout,
            Duration::from_millis(20),
            || match self.is_leading() {
                Ok(true) => Ok(Some(())),
                Ok(false) => Ok(None),
                Err(e) => Err(format!("{e:#}")),
            },
        )
        .with_context(|| format!("controller-manager log:\n{log}"))
    }
}

/// A CSR manifest with a fresh P-256 key; `sans` become DNS SANs.
pub fn csr_manifest(
    name: &str,
    cn: &str,
    signer: &str,
    usages: &[&str],
    sans: &[&str],
) -> anyhow::Result<Value> {
    let key = pki::PrivateKey::generate_p256()?;
    let pem = pki::build_csr(
        &key,
        &pki::CsrSubject {
            common_name: cn.to_string(),
            organizations: vec!["system:nodes".to_string()],
        },
        &pki::SubjectAltNames {
            dns: sans.iter().map(|s| s.to_string()).collect(),
            ips: Vec::new(),
        },
    )?;
    Ok(e2e::csr::manifest(name, &pem, signer, usages))
}

/// POSTs a CSR; fails unless 201.
pub fn create(client: &Https, manifest: &Value) -> anyhow::Result<Value> {
    let (status, answer) = client.send_json("POST", CSR_PATH, manifest)?;
    anyhow::ensure!(status == 201, "create: {status} {answer}");
    Ok(answer)
}

pub fn certificate_of(csr: &Value) -> Option<String> {
    use base64::Engine as _;
    let b64 = csr["status"]["certificate"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

pub fn condition_types(csr: &Value) -> Vec<String> {
    csr["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["type"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `openssl verify -CAfile ca cert` must say OK.
pub fn openssl_verify(
    dir: &Path,
    ca: &Path,
    cert_pem: &str,
    file_name: &str,
) -> anyhow::Result<()> {
    let cert = dir.join(file_name);
    std::fs::write(&cert, cert_pem)?;
    let out = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(ca)
        .arg(&cert)
        .output()
        .context("cannot run openssl")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success() && stdout.trim() == format!("{}: OK", cert.display()),
        "openssl verify: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs a shell command in `dir`; fails with its output unless it succeeds.
pub fn sh(dir: &Path, script: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .with_context(|| format!("cannot run {script}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
