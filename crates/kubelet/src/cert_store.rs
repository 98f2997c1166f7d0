//! The kubelet's certificate files (client-go `certificate.NewFileStore`), one store per
//! prefix (`kubelet-client`, `kubelet-server`) in `--cert-dir`:
//!
//! * `<prefix>-<YYYY-MM-DD-HH-MM-SS>.pem`: certificate block(s), then the key, mode 0600;
//! * `<prefix>-current.pem`: a symlink to the newest of them, replaced atomically (a temporary
//!   `<prefix>-updated.pem` symlink renamed over it), so it is never missing or dangling;
//! * `<prefix>.key.tmp`: the key of a request still in flight, so a restart re-sends the same
//!   CSR instead of orphaning it.
//!
//! Unlike upstream (which never deletes), files older than the previous one are pruned.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pki::{Certificate, PrivateKey};

use crate::csr::Submitted;

/// The client certificate store prefix.
pub const CLIENT_PREFIX: &str = "kubelet-client";
/// The serving certificate store prefix.
pub const SERVER_PREFIX: &str = "kubelet-server";

/// Files that cannot be read, parsed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("failed to {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a usable certificate and key: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// A certificate chain and its key, as loaded from (or written to) a store file.
#[derive(Clone)]
pub struct KeyedCertificate {
    /// Leaf first.
    pub chain: Vec<Certificate>,
    /// The certificate blocks, PEM.
    pub cert_pem: String,
    /// The key block, PEM.
    pub key_pem: String,
    /// The file they were read from or written to.
    pub path: PathBuf,
}

impl std::fmt::Debug for KeyedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedCertificate")
            .field("path", &self.path)
            .field("serial", &self.leaf().serial_hex())
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl KeyedCertificate {
    /// Parses a combined PEM (certificates and one key, in any order) and checks that the key
    /// belongs to the leaf.
    pub fn from_combined_pem(text: &[u8], path: &Path) -> Result<KeyedCertificate, StoreError> {
        let invalid = |reason: String| StoreError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let chain = pki::parse_certificates(text).map_err(|e| invalid(e.to_string()))?;
        let key = PrivateKey::from_pem(text).map_err(|e| invalid(e.to_string()))?;
        Self::from_parts(chain, &key, path).map_err(invalid)
    }

    fn from_parts(
        chain: Vec<Certificate>,
        key: &PrivateKey,
        path: &Path,
    ) -> Result<KeyedCertificate, String> {
        let leaf = chain.first().ok_or("no certificate")?;
        if leaf.public_key_der() != key.public_key_der().as_slice() {
            return Err("the private key does not match the certificate".to_owned());
        }
        Ok(KeyedCertificate {
            cert_pem: chain.iter().map(Certificate::to_pem).collect(),
            key_pem: key.to_pem(),
            chain,
            path: path.to_path_buf(),
        })
    }

    pub fn leaf(&self) -> &Certificate {
        // Invariant: construction refuses an empty chain.
        &self.chain[0]
    }

    pub fn not_after(&self) -> SystemTime {
        self.leaf().not_after()
    }

    /// kube-apiserver's credential ID of the leaf (`X509SHA256=<hex>`), as the Node records
    /// it (decision 0027).
    pub fn credential_id(&self) -> String {
        self.leaf().credential_id()
    }

    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.not_after() <= now
    }

    /// The identity the API client presents.
    pub fn identity(&self) -> kubeconfig::Identity {
        kubeconfig::Identity::ClientCertificate {
            cert_pem: self.cert_pem.clone().into_bytes(),
            key_pem: self.key_pem.clone().into_bytes(),
        }
    }
}

/// One prefix's files in one folder.
#[derive(Debug, Clone)]
pub struct CertStore {
    dir: PathBuf,
    prefix: &'static str,
}

impl CertStore {
    /// `dir` is made absolute (the symlink target is absolute, as upstream's).
    pub fn new(dir: &Path, prefix: &'static str) -> CertStore {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        CertStore { dir, prefix }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/<prefix>-current.pem`, the path kubeconfigs reference.
    pub fn current_path(&self) -> PathBuf {
        self.dir.join(format!("{}-current.pem", self.prefix))
    }

    fn updated_path(&self) -> PathBuf {
        self.dir.join(format!("{}-updated.pem", self.prefix))
    }

    /// `<dir>/<prefix>.key.tmp`: the key of a request not yet issued.
    pub fn pending_key_path(&self) -> PathBuf {
        self.dir.join(format!("{}.key.tmp", self.prefix))
    }

    /// `<dir>/<prefix>.csr.tmp`: name and uid of the request the pending key was sent in.
    fn pending_request_path(&self) -> PathBuf {
        self.dir.join(format!("{}.csr.tmp", self.prefix))
    }

    /// Remembers an in-flight request and its key, so an agent restarted before the answer
    /// waits for that request instead of sending another (CSRs piling up per restart are a
    /// known pain of kubelets).
    pub fn save_pending(&self, key: &PrivateKey, submitted: &Submitted) -> Result<(), StoreError> {
        self.ensure_dir()?;
        let write = |path: PathBuf, data: &[u8]| {
            kubeconfig::write_private_file(&path, data).map_err(|source| StoreError::Io {
                action: "write",
                path,
                source,
            })
        };
        write(self.pending_key_path(), key.to_pem().as_bytes())?;
        let request = format!("{}\n{}\n", submitted.name, submitted.uid);
        write(self.pending_request_path(), request.as_bytes())
    }

    /// The request and key [`CertStore::save_pending`] kept, if both are there and readable.
    pub fn load_pending(&self) -> Option<(PrivateKey, Submitted)> {
        let request = std::fs::read_to_string(self.pending_request_path()).ok()?;
        let mut lines = request.lines();
        let name = lines.next().filter(|n| !n.is_empty())?.to_string();
        let uid = lines.next().unwrap_or_default().to_string();
        let key = PrivateKey::from_pem(&std::fs::read(self.pending_key_path()).ok()?).ok()?;
        Some((key, Submitted { name, uid }))
    }

    /// The current pair, if there is one. A crash between creating `-updated` and renaming it
    /// is repaired first (as upstream's store does at start).
    pub fn load_current(&self) -> Result<Option<KeyedCertificate>, StoreError> {
        let current = self.current_path();
        let updated = self.updated_path();
        if !exists_no_follow(&current) && exists_no_follow(&updated) {
            std::fs::rename(&updated, &current).map_err(|source| StoreError::Io {
                action: "recover",
                path: updated.clone(),
                source,
            })?;
        }
        match std::fs::read(&current) {
            Ok(text) => KeyedCertificate::from_combined_pem(&text, &current).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path: current,
                source,
            }),
        }
    }

    /// The key saved for an in-flight request, or a new P-256 key saved for one.
    pub fn load_or_create_pending_key(&self) -> Result<PrivateKey, StoreError> {
        let path = self.pending_key_path();
        match std::fs::read(&path) {
            Ok(text) => PrivateKey::from_pem(&text).map_err(|e| StoreError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let key = PrivateKey::generate_p256().map_err(|e| StoreError::Invalid {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                self.ensure_dir()?;
                kubeconfig::write_private_file(&path, key.to_pem().as_bytes()).map_err(
                    |source| StoreError::Io {
                        action: "write",
                        path: path.clone(),
                        source,
                    },
                )?;
                Ok(key)
            }
            Err(source) => Err(StoreError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    /// Forgets the in-flight key and request (the request was answered).
    pub fn remove_pending_key(&self) {
        let _ = std::fs::remove_file(self.pending_request_path());
        let _ = std::fs::remove_file(self.pending_key_path());
    }

    fn ensure_dir(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| StoreError::Io {
            action: "create",
            path: self.dir.clone(),
            source,
        })
    }

    /// Writes a new timestamped file (certificates then key, 0600), points `-current` at it
    /// atomically and prunes all but it and its predecessor.
    pub fn update(
        &self,
        cert_pem: &[u8],
        key: &PrivateKey,
        now: SystemTime,
    ) -> Result<KeyedCertificate, StoreError> {
        let file = self
            .dir
            .join(format!("{}-{}.pem", self.prefix, timestamp(now)));
        let chain = pki::parse_certificates(cert_pem).map_err(|e| StoreError::Invalid {
            path: file.clone(),
            reason: format!("issued certificate: {e}"),
        })?;
        let keyed = KeyedCertificate::from_parts(chain, key, &file).map_err(|reason| {
            StoreError::Invalid {
                path: file.clone(),
                reason,
            }
        })?;
        self.ensure_dir()?;
        let contents = format!("{}{}", keyed.cert_pem, keyed.key_pem);
        let io_error = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io {
                action,
                path,
                source,
            }
        };
        kubeconfig::write_private_file(&file, contents.as_bytes())
            .map_err(io_error("write", &file))?;
        let updated = self.updated_path();
        match std::fs::remove_file(&updated) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error("remove", &updated)(source)),
        }
        std::os::unix::fs::symlink(&file, &updated).map_err(io_error("symlink", &updated))?;
        let current = self.current_path();
        // rename(2) replaces the old link in one step: readers see the old or the new file.
        std::fs::rename(&updated, &current).map_err(io_error("rename", &updated))?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        self.prune(&file);
        Ok(KeyedCertificate {
            path: current,
            ..keyed
        })
    }

    /// Keeps `newest` and the newest other timestamped file; removes older ones.
    fn prune(&self, newest: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut dated: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.as_path() != newest && self.is_dated_file(p))
            .collect();
        dated.sort();
        dated.pop(); // the previous certificate stays, for a rollback by hand
        for old in dated {
            match std::fs::remove_file(&old) {
                Ok(()) => tracing::debug!(file = %old.display(), "pruned an old certificate file"),
                Err(e) => tracing::warn!(file = %old.display(), error = %e, "cannot prune"),
            }
        }
    }

    /// `<prefix>-YYYY-MM-DD-HH-MM-SS.pem`
    fn is_dated_file(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        let Some(stamp) = name
            .strip_prefix(self.prefix)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".pem"))
        else {
            return false;
        };
        stamp.len() == 19
            && stamp.bytes().enumerate().all(|(i, b)| {
                if matches!(i, 4 | 7 | 10 | 13 | 16) {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
    }
}

fn exists_no_follow(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Go layout `2006-01-02-15-04-05`. Upstream uses local time; we write UTC (the `time`
/// crate cannot read the local offset safely in a multi-threaded process).
pub fn timestamp(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    format!(
        "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Duration;

    fn issue(ca: &pki::CertificateAuthority, key: &PrivateKey) -> String {
        let csr_pem = pki::build_csr(
            key,
            &pki::CsrSubject {
                common_name: "system:node:n1".into(),
                organizations: vec!["system:nodes".into()],
            },
            &pki::SubjectAltNames::default(),
        )
        .unwrap();
        let csr = pki::Csr::from_pem(csr_pem.as_bytes()).unwrap();
        ca.sign_csr(
            &csr,
            &[pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
            None,
            Duration::from_secs(3600),
            SystemTime::now(),
        )
        .unwrap()
    }

    fn ca() -> pki::CertificateAuthority {
        pki::CertificateAuthority::generate(
            "test-ca",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(86400),
        )
        .unwrap()
    }

    #[test]
    fn update_writes_combined_file_and_repoints_the_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(dir.path(), CLIENT_PREFIX);
        assert!(store.load_current().unwrap().is_none());
        let ca = ca();
        let key = PrivateKey::generate_p256().unwrap();
        let cert = issue(&ca, &key);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
        let written = store.update(cert.as_bytes(), &key, t0).unwrap();
        assert_eq!(written.path, dir.path().join("kubelet-client-current.pem"));

        let file = dir.path().join("kubelet-client-2024-05-01-10-00-00.pem");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(text.trim_end().ends_with("-----END EC PRIVATE KEY-----"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let link = std::fs::read_link(store.current_path()).unwrap();
        assert_eq!(link, file);
        let loaded = store.load_current().unwrap().unwrap();
        assert_eq!(loaded.leaf().serial_hex(), written.leaf().serial_hex());
    }

    #[test]
    fn keeps_current_and_previous_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(dir.path(), CLIENT_PREFIX);
        let ca = ca();
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
        for i in 0..4 {
            let key = PrivateKey::generate_p256().unwrap();
            let cert = issue(&ca, &key);
            store
                .update(cert.as_bytes(), &key, base + Duration::from_secs(i))
                .unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "kubelet-client-2024-05-01-10-00-02.pem",
                "kubelet-client-2024-05-01-10-00-03.pem",
                "kubelet-client-current.pem"
            ]
        );
    }

    #[test]
    fn a_key_that_does_not_match_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(dir.path(), SERVER_PREFIX);
        let ca = ca();
        let key = PrivateKey::generate_p256().unwrap();
        let other = PrivateKey::generate_p256().unwrap();
        let cert = issue(&ca, &key);
        let err = store
            .update(cert.as_bytes(), &other, SystemTime::now())
            .unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert!(!store.current_path().exists());
    }

    #[test]
    fn a_pending_request_is_remembered_with_its_key_until_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(dir.path(), SERVER_PREFIX);
        assert!(store.load_pending().is_none());
        // The bootstrap's key alone (no request saved) is not a pending rotation request.
        store.load_or_create_pending_key().unwrap();
        assert!(store.load_pending().is_none());
        let key = PrivateKey::generate_p256().unwrap();
        let submitted = Submitted {
            name: "csr-abcde".into(),
            uid: "u-1".into(),
        };
        store.save_pending(&key, &submitted).unwrap();
        let (loaded, again) = store.load_pending().unwrap();
        assert_eq!(loaded.public_key_der(), key.public_key_der());
        assert_eq!(again, submitted);
        store.remove_pending_key();
        assert!(store.load_pending().is_none());
        assert!(!store.pending_key_path().exists());
    }

    #[test]
    fn pending_key_survives_until_removed_and_updated_link_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let store = CertStore::new(dir.path(), CLIENT_PREFIX);
        let first = store.load_or_create_pending_key().unwrap();
        let again = store.load_or_create_pending_key().unwrap();
        assert_eq!(first.public_key_der(), again.public_key_der());
        assert!(dir.path().join("kubelet-client.key.tmp").exists());
        store.remove_pending_key();
        let third = store.load_or_create_pending_key().unwrap();
        assert_ne!(first.public_key_der(), third.public_key_der());

        // A crash after creating -updated but before the rename.
        let ca = ca();
        let cert = issue(&ca, &third);
        store
            .update(cert.as_bytes(), &third, SystemTime::now())
            .unwrap();
        std::fs::rename(store.current_path(), store.updated_path()).unwrap();
        let loaded = store.load_current().unwrap().unwrap();
        assert_eq!(loaded.leaf().public_key_der(), third.public_key_der());
        assert!(store.current_path().exists());
    }
}
