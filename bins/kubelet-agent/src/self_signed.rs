//! Without `--rotate-server-certificates` the kubelet serves a self-signed certificate kept
//! in `<cert-dir>/kubelet.crt` and `kubelet.key` (client-go `GenerateSelfSignedCertKey`: a
//! one-off CA `<host>-ca@<unix>` signs a leaf `<host>@<unix>`, and the file holds both).

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cert_store::{KeyedCertificate, StoreError};

const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// Reuses readable files, otherwise makes and writes new ones.
pub fn load_or_create(
    cert_dir: &Path,
    host: &str,
    ips: &[IpAddr],
) -> Result<KeyedCertificate, StoreError> {
    let cert_path = cert_dir.join("kubelet.crt");
    let key_path = cert_dir.join("kubelet.key");
    if let (Ok(cert), Ok(key)) = (std::fs::read(&cert_path), std::fs::read(&key_path)) {
        let mut combined = cert;
        combined.push(b'\n');
        combined.extend_from_slice(&key);
        return KeyedCertificate::from_combined_pem(&combined, &cert_path);
    }
    let invalid = |e: pki::PkiError| StoreError::Invalid {
        path: cert_path.clone(),
        reason: e.to_string(),
    };
    let unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let ca = pki::CertificateAuthority::generate(
        &format!("{host}-ca@{unix}"),
        pki::KeyAlgorithm::EcdsaP256,
        VALIDITY,
    )
    .map_err(invalid)?;
    let (mut dns, mut all_ips) = (Vec::new(), Vec::new());
    match host.parse::<IpAddr>() {
        Ok(ip) => all_ips.push(ip),
        Err(_) => dns.push(host.to_owned()),
    }
    all_ips.extend(
        ips.iter()
            .filter(|ip| !all_ips.contains(ip))
            .copied()
            .collect::<Vec<_>>(),
    );
    let (leaf_pem, key_pem) = ca
        .issue_leaf(&pki::LeafParams {
            common_name: format!("{host}@{unix}"),
            organizations: Vec::new(),
            dns,
            ips: all_ips,
            usages: vec![
                pki::Usage::DigitalSignature,
                pki::Usage::KeyEncipherment,
                pki::Usage::ServerAuth,
            ],
            validity: VALIDITY,
        })
        .map_err(invalid)?;
    let chain = format!("{leaf_pem}{}", ca.cert_pem());
    let write = |path: &Path, text: &str| {
        kubeconfig::write_private_file(path, text.as_bytes()).map_err(|source| StoreError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    };
    write(&cert_path, &chain)?;
    write(&key_path, &key_pem)?;
    tracing::info!(file = %cert_path.display(), "wrote a self-signed serving certificate");
    KeyedCertificate::from_combined_pem(format!("{chain}{key_pem}").as_bytes(), &cert_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let ips = ["10.1.2.3".parse().unwrap()];
        let first = load_or_create(dir.path(), "worker-1", &ips).unwrap();
        assert_eq!(first.chain.len(), 2, "leaf and its one-off CA");
        let leaf = first.leaf();
        assert!(leaf.common_name().unwrap().starts_with("worker-1@"));
        assert_eq!(leaf.dns_names(), ["worker-1"]);
        assert_eq!(leaf.ip_addresses(), ips);
        leaf.verify_issued_by(&first.chain[1]).unwrap();
        let again = load_or_create(dir.path(), "worker-1", &ips).unwrap();
        assert_eq!(again.leaf().serial_hex(), leaf.serial_hex());
    }
}
