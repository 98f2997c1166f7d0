//! Writing the lab's credentials: a CA, leaf certificates issued by it, and kubeconfigs that
//! embed everything they need (so they can be copied out of a container or a state folder and
//! used as they are). Keys and kubeconfigs are written 0600 and atomically.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use kubeconfig::Kubeconfig;
use pki::{CertificateAuthority, KeyAlgorithm, LeafParams, Usage};
use url::Url;

/// File names of a CA inside a cert dir (the seeds' cfssl names).
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
/// The trust bundle beside them (decision 0029): what `--client-ca-file` and `--root-ca-file`
/// name, so a CA rotation can trust two CAs while one signs.
pub const CA_BUNDLE: &str = "ca-bundle.pem";

/// The key algorithm flag of `lab ca create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyChoice {
    /// ECDSA P-256.
    Ecdsa,
    /// RSA 2048.
    Rsa,
}

impl From<KeyChoice> for KeyAlgorithm {
    fn from(choice: KeyChoice) -> KeyAlgorithm {
        match choice {
            KeyChoice::Ecdsa => KeyAlgorithm::EcdsaP256,
            KeyChoice::Rsa => KeyAlgorithm::Rsa2048,
        }
    }
}

/// A world-readable file (certificates, manifests).
pub fn write_public(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A 0600 file written atomically (keys, kubeconfigs, token files).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    kubeconfig::write_private_file(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Where `lab ca create` put the CA.
#[derive(Debug, Clone)]
pub struct CaFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Makes a new CA in `dir` (`ca.pem`, `ca-key.pem`); refuses to overwrite one unless `force`.
pub fn create_ca(
    dir: &Path,
    common_name: &str,
    algorithm: KeyAlgorithm,
    validity: Duration,
    force: bool,
) -> anyhow::Result<(CertificateAuthority, CaFiles)> {
    let files = CaFiles {
        cert: dir.join(CA_CERT),
        key: dir.join(CA_KEY),
    };
    for existing in [&files.cert, &files.key] {
        anyhow::ensure!(
            force || !existing.exists(),
            "{} already exists; refusing to replace a CA (pass --force to overwrite it)",
            existing.display()
        );
    }
    let ca = CertificateAuthority::generate(common_name, algorithm, validity)
        .context("cannot generate the CA")?;
    write_private(&files.key, &ca.key_pem())?;
    write_public(&files.cert, &ca.cert_pem())?;
    Ok((ca, files))
}

/// A client certificate (`CN=common_name`, `O=organizations`), written as `<stem>.pem` and
/// `<stem>-key.pem` in `dir`; returns the PEMs.
pub fn issue_client(
    ca: &CertificateAuthority,
    dir: &Path,
    stem: &str,
    common_name: &str,
    organizations: &[&str],
    validity: Duration,
) -> anyhow::Result<(String, String)> {
    let (cert, key) = ca
        .issue_leaf(&LeafParams {
            common_name: common_name.to_string(),
            organizations: organizations.iter().map(|o| o.to_string()).collect(),
            dns: Vec::new(),
            ips: Vec::new(),
            usages: vec![
                Usage::DigitalSignature,
                Usage::KeyEncipherment,
                Usage::ClientAuth,
            ],
            validity,
        })
        .with_context(|| format!("cannot issue the {common_name} client certificate"))?;
    write_public(&dir.join(format!("{stem}.pem")), &cert)?;
    write_private(&dir.join(format!("{stem}-key.pem")), &key)?;
    Ok((cert, key))
}

/// The apiserver's serving certificate (`CN=kube-apiserver`) for `names` (IPs or DNS names),
/// written as `apiserver.pem` / `apiserver-key.pem` in `dir`, followed in `apiserver.pem` by
/// the `intermediates` the apiserver sends with it (PEM).
pub fn issue_apiserver_serving(
    ca: &CertificateAuthority,
    dir: &Path,
    names: &[String],
    validity: Duration,
    intermediates: &str,
) -> anyhow::Result<()> {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in names {
        match name.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => dns.push(name.clone()),
        }
    }
    let (cert, key) = ca
        .issue_leaf(&LeafParams {
            common_name: "kube-apiserver".to_string(),
            organizations: Vec::new(),
            dns,
            ips,
            usages: vec![
                Usage::DigitalSignature,
                Usage::KeyEncipherment,
                Usage::ServerAuth,
            ],
            validity,
        })
        .context("cannot issue the apiserver serving certificate")?;
    write_public(
        &dir.join("apiserver.pem"),
        &format!("{cert}{intermediates}"),
    )?;
    write_private(&dir.join("apiserver-key.pem"), &key)?;
    Ok(())
}

/// A kubeconfig with the CA, client certificate and key embedded (`*-data` fields).
pub fn embedded_cert_kubeconfig(
    cluster: &str,
    server: &Url,
    ca_pem: &str,
    user: &str,
    cert_pem: &str,
    key_pem: &str,
) -> anyhow::Result<Kubeconfig> {
    let mut config = Kubeconfig::with_client_certificate_files(
        cluster,
        server,
        Some(ca_pem.as_bytes()),
        user,
        Path::new(""),
        Path::new(""),
    );
    config
        .embed_client_certificate(cert_pem.as_bytes(), key_pem.as_bytes())
        .context("cannot embed the client certificate")?;
    Ok(config)
}

/// The seeds' bootstrap kubeconfig: embedded CA, a token.
pub fn bootstrap_kubeconfig(cluster: &str, server: &Url, ca_pem: &str, token: &str) -> Kubeconfig {
    Kubeconfig::with_token(
        cluster,
        server,
        Some(ca_pem.as_bytes()),
        "kubelet-bootstrap",
        token,
    )
}

/// Saves a kubeconfig (0600, atomic).
pub fn save_kubeconfig(config: &Kubeconfig, path: &Path) -> anyhow::Result<()> {
    config
        .save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn ca_is_written_with_a_private_key_and_not_replaced_by_accident() {
        let dir = tempfile::tempdir().unwrap();
        let day = Duration::from_secs(86400);
        let (_, files) =
            create_ca(dir.path(), "lab-ca", KeyAlgorithm::EcdsaP256, day, false).expect("create");
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        CertificateAuthority::load(&files.cert, &files.key).expect("loads back");
        let again = create_ca(dir.path(), "lab-ca", KeyAlgorithm::EcdsaP256, day, false);
        assert!(again.unwrap_err().to_string().contains("--force"));
        create_ca(dir.path(), "lab-ca", KeyAlgorithm::Rsa2048, day, true).expect("forced");
    }

    #[test]
    fn embedded_kubeconfig_resolves_to_the_certificate() {
        let ca =
            CertificateAuthority::generate("t", KeyAlgorithm::EcdsaP256, Duration::from_secs(3600))
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = issue_client(
            &ca,
            dir.path(),
            "admin",
            "admin",
            &["system:masters"],
            Duration::from_secs(3600),
        )
        .unwrap();
        let server = Url::parse("https://127.0.0.1:6443").unwrap();
        let config =
            embedded_cert_kubeconfig("lab", &server, &ca.cert_pem(), "admin", &cert, &key).unwrap();
        let path = dir.path().join("admin.kubeconfig");
        save_kubeconfig(&config, &path).unwrap();
        let resolved = Kubeconfig::load(&path).unwrap().resolve(None).unwrap();
        assert_eq!(resolved.server, server);
        assert_eq!(resolved.ca_pem.as_deref(), Some(ca.cert_pem().as_bytes()));
        match resolved.identity {
            kubeconfig::Identity::ClientCertificate { cert_pem, key_pem } => {
                assert_eq!(cert_pem, cert.as_bytes());
                assert_eq!(key_pem, key.as_bytes());
            }
            other => panic!("unexpected identity {other:?}"),
        }
    }
}
