//! One real `apiserver` process on a free loopback port with a fresh PKI, a static token file,
//! bootstrap-token auth, `Node,RBAC` authorization and its own data folder; plus the admin and
//! bootstrap kubeconfigs built with `kubectl config` the way the seeds do.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;

use crate::https::{Https, Identity};
use crate::kubectl::Kubectl;
use crate::paths;
use crate::process::ChildGuard;
use crate::wait;

/// The static-token user of the seeds' token.csv.
pub const STATIC_BOOTSTRAP_USER: &str = "kubelet-bootstrap";
/// Its group in token.csv.
pub const STATIC_BOOTSTRAP_GROUP: &str = "system:node-bootstrapper";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How to stop the server on restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM and a clean exit.
    Graceful,
    /// `kill -9`.
    Kill,
}

/// A running apiserver and everything needed to talk to it.
pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
    pub ca: pki::CertificateAuthority,
    pub ca_pem: String,
    admin_cert_pem: String,
    admin_key_pem: String,
    /// The token of [`STATIC_BOOTSTRAP_USER`] in the token file.
    pub static_token: String,
    pub admin_kubeconfig: PathBuf,
    pub bootstrap_kubeconfig: PathBuf,
    binary: PathBuf,
    /// More apiserver flags ([`Cluster::start_with`]).
    extra_args: Vec<String>,
    server: Option<ChildGuard>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

impl Cluster {
    /// Makes the PKI and files, starts the server and waits until it is ready.
    pub fn start() -> anyhow::Result<Cluster> {
        Cluster::start_with(&[])
    }

    /// [`Cluster::start`] with more apiserver flags.
    pub fn start_with(extra_args: &[&str]) -> anyhow::Result<Cluster> {
        let binary = paths::workspace_binary("apiserver")?;
        let dir = tempfile::Builder::new()
            .prefix("e2e-apiserver-")
            .tempdir()?;
        let path = |name: &str| dir.path().join(name);

        let ca = pki::CertificateAuthority::generate(
            "e2e-ca",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(24 * 3600),
        )?;
        let ca_pem = ca.cert_pem();
        write(&path("ca.pem"), &ca_pem)?;
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
        let (admin_cert_pem, admin_key_pem) = ca.issue_leaf(&pki::LeafParams {
            common_name: "admin".to_string(),
            organizations: vec!["system:masters".to_string()],
            dns: Vec::new(),
            ips: Vec::new(),
            usages: vec![
                pki::Usage::DigitalSignature,
                pki::Usage::KeyEncipherment,
                pki::Usage::ClientAuth,
            ],
            validity: Duration::from_secs(24 * 3600),
        })?;
        write(&path("admin.pem"), &admin_cert_pem)?;
        write(&path("admin-key.pem"), &admin_key_pem)?;

        // token.csv as in the seeds: token,user,uid,"groups"
        let static_token = random_hex(16)?;
        write(
            &path("token.csv"),
            &format!("{static_token},{STATIC_BOOTSTRAP_USER},10001,\"{STATIC_BOOTSTRAP_GROUP}\"\n"),
        )?;
        std::fs::create_dir_all(path("data"))?;

        let mut cluster = Cluster {
            port: 0,
            ca,
            ca_pem,
            admin_cert_pem,
            admin_key_pem,
            static_token,
            admin_kubeconfig: path("admin.kubeconfig"),
            bootstrap_kubeconfig: path("bootstrap.kubeconfig"),
            binary,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            server: None,
            dir,
        };
        // A port picked free can be taken by someone else before the server binds it: retry.
        let mut last_error = None;
        for _ in 0..3 {
            cluster.port = free_port()?;
            match cluster.launch() {
                Ok(()) => {
                    last_error = None;
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        if let Some(e) = last_error {
            return Err(e);
        }
        cluster.write_kubeconfigs()?;
        Ok(cluster)
    }

    /// The test's temporary folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `object` as `<dir>/<file>` (JSON) for `kubectl apply -f`; returns the path.
    pub fn write_manifest(&self, file: &str, object: &serde_json::Value) -> anyhow::Result<String> {
        let path = self.dir().join(file);
        std::fs::write(&path, serde_json::to_vec_pretty(object)?)?;
        Ok(path.display().to_string())
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let path = |name: &str| self.dir.path().join(name);
        let mut command = Command::new(&self.binary);
        command
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={}", self.port))
            .arg("--tls-cert-file")
            .arg(path("apiserver.pem"))
            .arg("--tls-private-key-file")
            .arg(path("apiserver-key.pem"))
            .arg("--client-ca-file")
            .arg(path("ca.pem"))
            .arg("--token-auth-file")
            .arg(path("token.csv"))
            .arg("--enable-bootstrap-token-auth")
            .arg("--authorization-mode=Node,RBAC")
            .arg("--data-dir")
            .arg(path("data"))
            .args(&self.extra_args);
        let mut server = ChildGuard::spawn(command, &path("apiserver.log"))?;
        wait_until_ready(&mut server, &self.admin()?)?;
        self.server = Some(server);
        Ok(())
    }

    /// Stops the server (`how`) and starts it again on the same port and data.
    pub fn restart(&mut self, how: Stop) -> anyhow::Result<()> {
        self.stop(how)?;
        self.launch()
    }

    /// Stops the server (`how`) until [`Cluster::restart`] starts it again.
    pub fn stop(&mut self, how: Stop) -> anyhow::Result<()> {
        if let Some(mut server) = self.server.take() {
            match how {
                Stop::Kill => server.kill(),
                Stop::Graceful => {
                    let status = server.terminate(Duration::from_secs(15))?;
                    anyhow::ensure!(
                        status.is_some_and(|s| s.success()),
                        "apiserver did not exit cleanly on SIGTERM ({status:?}); log:\n{}",
                        server.log_tail(4000)
                    );
                }
            }
        }
        Ok(())
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        self.server
            .as_ref()
            .map(|s| s.log_tail(8000))
            .unwrap_or_default()
    }

    pub fn server_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// A raw HTTPS client acting as `identity`.
    pub fn https(&self, identity: Identity) -> anyhow::Result<Https> {
        Https::new(self.port, &self.ca_pem, identity)
    }

    /// A raw HTTPS client with the admin (`system:masters`) certificate.
    pub fn admin(&self) -> anyhow::Result<Https> {
        self.https(self.admin_identity())
    }

    /// The admin's client certificate (system:masters), for other servers trusting our CA.
    pub fn admin_identity(&self) -> Identity {
        Identity::Certificate {
            cert_pem: self.admin_cert_pem.clone(),
            key_pem: self.admin_key_pem.clone(),
        }
    }

    /// The cluster CA's certificate file (the apiserver's `--client-ca-file`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `binary` with the admin kubeconfig (a discovery cache per binary).
    pub fn admin_kubectl(&self, binary: &Path) -> Kubectl {
        Kubectl::new(
            binary,
            &self.admin_kubeconfig,
            self.cache_dir("admin", binary),
        )
    }

    /// `binary` with the bootstrap (static token) kubeconfig.
    pub fn bootstrap_kubectl(&self, binary: &Path) -> Kubectl {
        Kubectl::new(
            binary,
            &self.bootstrap_kubeconfig,
            self.cache_dir("bootstrap", binary),
        )
    }

    /// The default kubectl as admin.
    pub fn kubectl(&self) -> anyhow::Result<Kubectl> {
        Ok(self.admin_kubectl(&paths::kubectl()?))
    }

    fn cache_dir(&self, who: &str, binary: &Path) -> PathBuf {
        let flavour = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.dir
            .path()
            .join("home")
            .join(format!("cache-{who}-{flavour}"))
    }

    /// Builds a kubeconfig file for `user` with `token`, with `kubectl config` as the seeds do.
    pub fn token_kubeconfig(
        &self,
        file_name: &str,
        user: &str,
        token: &str,
    ) -> anyhow::Result<PathBuf> {
        self.user_kubeconfig(file_name, user, &[format!("--token={token}")])
    }

    /// Builds a kubeconfig file for `user` with a client certificate and key file, with
    /// `kubectl config set-credentials --client-certificate --client-key --embed-certs`.
    pub fn certificate_kubeconfig(
        &self,
        file_name: &str,
        user: &str,
        cert: &Path,
        key: &Path,
    ) -> anyhow::Result<PathBuf> {
        self.user_kubeconfig(
            file_name,
            user,
            &[
                format!("--client-certificate={}", cert.display()),
                format!("--client-key={}", key.display()),
                "--embed-certs=true".to_string(),
            ],
        )
    }

    /// `<dir>/<name>.kubeconfig` for node `name`: a client certificate `system:node:<name>`
    /// (O system:nodes) from the cluster CA, valid for an hour.
    pub fn node_kubeconfig(&self, name: &str) -> anyhow::Result<PathBuf> {
        self.client_certificate_kubeconfig(name, &format!("system:node:{name}"), &["system:nodes"])
    }

    /// `<dir>/<file>.kubeconfig` for `user` in `groups`: a client certificate (CN user, O
    /// groups) from the cluster CA, valid for an hour.
    pub fn client_certificate_kubeconfig(
        &self,
        file: &str,
        user: &str,
        groups: &[&str],
    ) -> anyhow::Result<PathBuf> {
        let (cert_pem, key_pem) = self.ca.issue_leaf(&pki::LeafParams {
            common_name: user.to_string(),
            organizations: groups.iter().map(|g| g.to_string()).collect(),
            dns: Vec::new(),
            ips: Vec::new(),
            usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
            validity: std::time::Duration::from_secs(3600),
        })?;
        let cert = self.dir().join(format!("{file}.pem"));
        let key = self.dir().join(format!("{file}-key.pem"));
        std::fs::write(&cert, cert_pem)?;
        std::fs::write(&key, key_pem)?;
        self.certificate_kubeconfig(&format!("{file}.kubeconfig"), file, &cert, &key)
    }

    /// Builds a kubeconfig file with this cluster, `user` set by `kubectl config
    /// set-credentials <user> <credentials...>`, and a default context using both.
    pub fn user_kubeconfig(
        &self,
        file_name: &str,
        user: &str,
        credentials: &[String],
    ) -> anyhow::Result<PathBuf> {
        let file = self.dir.path().join(file_name);
        let config = Kubectl::new(
            paths::kubectl()?,
            &file,
            self.dir.path().join("home").join("cache-config"),
        );
        self.set_cluster(&config)?;
        let mut set_credentials = vec!["config".to_string(), "set-credentials".to_string()];
        set_credentials.push(user.to_string());
        set_credentials.extend_from_slice(credentials);
        config.ok(set_credentials)?;
        config.ok([
            "config",
            "set-context",
            "default",
            "--cluster=e2e",
            &format!("--user={user}"),
        ])?;
        config.ok(["config", "use-context", "default"])?;
        Ok(file)
    }

    fn set_cluster(&self, config: &Kubectl) -> anyhow::Result<()> {
        let ca = self.dir.path().join("ca.pem");
        config.ok([
            "config".to_string(),
            "set-cluster".to_string(),
            "e2e".to_string(),
            format!("--certificate-authority={}", ca.display()),
            "--embed-certs=true".to_string(),
            format!("--server={}", self.server_url()),
        ])?;
        Ok(())
    }

    fn write_kubeconfigs(&self) -> anyhow::Result<()> {
        let path = |name: &str| self.dir.path().join(name);
        let config = Kubectl::new(
            paths::kubectl()?,
            &self.admin_kubeconfig,
            path("home").join("cache-config"),
        );
        self.set_cluster(&config)?;
        config.ok([
            "config".to_string(),
            "set-credentials".to_string(),
            "admin".to_string(),
            format!("--client-certificate={}", path("admin.pem").display()),
            format!("--client-key={}", path("admin-key.pem").display()),
            "--embed-certs=true".to_string(),
        ])?;
        config.ok([
            "config",
            "set-context",
            "default",
            "--cluster=e2e",
            "--user=admin",
        ])?;
        config.ok(["config", "use-context", "default"])?;
        self.token_kubeconfig(
            "bootstrap.kubeconfig",
            STATIC_BOOTSTRAP_USER,
            &self.static_token,
        )?;
        Ok(())
    }

    /// The token `abcdef.0123456789abcdef` (expiring in 2099) and kubeadm's binding
    /// `kubeadm:kubelet-bootstrap`, which lets the group `system:bootstrappers` create CSRs.
    /// RBAC learns the binding through the server's watch: the first request may need a retry.
    pub fn bootstrap_token_that_may_create_csrs(&self) -> anyhow::Result<String> {
        let token = self.create_bootstrap_token(
            "abcdef",
            "0123456789abcdef",
            Some("2099-01-01T00:00:00Z"),
        )?;
        self.kubectl()?.ok([
            "create",
            "clusterrolebinding",
            "kubeadm:kubelet-bootstrap",
            "--clusterrole=system:node-bootstrapper",
            "--group=system:bootstrappers",
        ])?;
        Ok(token)
    }

    /// Creates the Secret `kube-system/bootstrap-token-<id>` with kubectl, as kubeadm documents it;
    /// `expiration` is RFC 3339. Returns the token `<id>.<secret>`.
    pub fn create_bootstrap_token(
        &self,
        id: &str,
        secret: &str,
        expiration: Option<&str>,
    ) -> anyhow::Result<String> {
        let mut args = vec![
            "create".to_string(),
            "secret".to_string(),
            "generic".to_string(),
            format!("bootstrap-token-{id}"),
            "--namespace=kube-system".to_string(),
            "--type=bootstrap.kubernetes.io/token".to_string(),
            format!("--from-literal=token-id={id}"),
            format!("--from-literal=token-secret={secret}"),
            "--from-literal=usage-bootstrap-authentication=true".to_string(),
            "--from-literal=usage-bootstrap-signing=true".to_string(),
            "--from-literal=auth-extra-groups=system:bootstrappers:kubeadm:default-node-token"
                .to_string(),
        ];
        if let Some(expiration) = expiration {
            args.push(format!("--from-literal=expiration={expiration}"));
        }
        let out = self.kubectl()?.ok(&args)?;
        anyhow::ensure!(
            out.trim() == format!("secret/bootstrap-token-{id} created"),
            "unexpected output of kubectl create secret: {out:?}"
        );
        Ok(format!("{id}.{secret}"))
    }
}

/// `n` random bytes as lower-case hex (`head -c 16 /dev/urandom | od -An -t x | tr -d ' '`).
/// Waits until the apiserver `server` answers `/readyz` with 200 to `admin`; fails with its
/// log when it exits first or does not get ready in time.
pub fn wait_until_ready(server: &mut ChildGuard, admin: &Https) -> anyhow::Result<()> {
    let ready = wait::until(
        "the apiserver to answer /readyz with 200",
        READY_TIMEOUT,
        Duration::from_millis(50),
        || {
            if let Some(status) = server.exited() {
                return Ok(Some(Err(status)));
            }
            match admin.request("GET", "/readyz", None, b"") {
                Ok(response) if response.status == 200 => Ok(Some(Ok(()))),
                Ok(response) => Err(format!(
                    "HTTP {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                )),
                Err(e) => Err(format!("{e:#}")),
            }
        },
    );
    match ready {
        Ok(Ok(())) => Ok(()),
        Ok(Err(status)) => anyhow::bail!(
            "apiserver exited with {status} during start-up; log:\n{}",
            server.log_tail(4000)
        ),
        Err(e) => Err(e.context(format!("apiserver log:\n{}", server.log_tail(4000)))),
    }
}

pub fn random_hex(n: usize) -> anyhow::Result<String> {
    let mut bytes = vec![0u8; n];
    let mut urandom = std::fs::File::open("/dev/urandom").context("cannot open /dev/urandom")?;
    std::io::Read::read_exact(&mut urandom, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
