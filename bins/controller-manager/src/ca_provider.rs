//! A signing CA read from a certificate file and a key file, reloaded when they change on disk
//! (upstream's `dynamiccertificates` + `caProvider`): the files are stat'ed every few seconds,
//! and when inode, size or mtime moved the bytes are read and compared with what is loaded. A
//! pair that does not load (say the cert was replaced but the key not yet) is logged and the
//! old CA stays in use until a pair that loads appears.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use pki::{CertificateAuthority, PkiError};

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

pub(crate) fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        ino: meta.ino(),
        size: meta.size(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
    })
}

#[derive(Debug)]
struct Loaded {
    ca: Arc<CertificateAuthority>,
    cert_bytes: Vec<u8>,
    key_bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Observed {
    stamps: Option<(Option<Stamp>, Option<Stamp>)>,
    last_error: Option<String>,
}

/// A CA whose files may be replaced while we run. Share as `Arc<DynamicCa>`.
#[derive(Debug)]
pub struct DynamicCa {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<Loaded>>,
    observed: Mutex<Observed>,
}

/// What a [`DynamicCa::check`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// Nothing changed on disk (or the bytes are the same).
    Unchanged,
    /// A new CA was loaded.
    Reloaded,
    /// The files changed but do not load; the previous CA stays.
    Failed(String),
}

impl DynamicCa {
    /// Loads the pair; a failure here is a start-up error naming the file.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<DynamicCa, PkiError> {
        let before = (stamp(cert_path), stamp(key_path));
        let loaded = read_pair(cert_path, key_path)?;
        Ok(DynamicCa {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(Arc::new(loaded)),
            observed: Mutex::new(Observed {
                stamps: Some(before),
                last_error: None,
            }),
        })
    }

    /// The CA to sign with now.
    pub fn current(&self) -> Arc<CertificateAuthority> {
        let loaded = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&loaded.ca)
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Looks at the files once; reloads when their bytes changed.
    pub fn check(&self) -> Reload {
        let stamps = (stamp(&self.cert_path), stamp(&self.key_path));
        let mut observed = self.observed.lock().unwrap_or_else(|e| e.into_inner());
        if observed.stamps == Some(stamps) && observed.last_error.is_none() {
            return Reload::Unchanged;
        }
        observed.stamps = Some(stamps);
        let cert_bytes = std::fs::read(&self.cert_path);
        let key_bytes = std::fs::read(&self.key_path);
        if let (Ok(cert), Ok(key)) = (&cert_bytes, &key_bytes) {
            let loaded = self.current.read().unwrap_or_else(|e| e.into_inner());
            if *cert == loaded.cert_bytes && *key == loaded.key_bytes {
                observed.last_error = None;
                return Reload::Unchanged;
            }
        }
        match read_pair(&self.cert_path, &self.key_path) {
            Ok(loaded) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
                observed.last_error = None;
                Reload::Reloaded
            }
            Err(error) => {
                let message = error.to_string();
                // The same broken state is reported once, not on every poll.
                if observed.last_error.as_deref() == Some(message.as_str()) {
                    return Reload::Unchanged;
                }
                observed.last_error = Some(message.clone());
                Reload::Failed(message)
            }
        }
    }
}

fn read_pair(cert_path: &Path, key_path: &Path) -> Result<Loaded, PkiError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| PkiError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    // Bytes first, then the parse (through `load`, so that errors name the files): if a file
    // changes in between, the kept bytes are the older ones and the next check reloads.
    let cert_bytes = read(cert_path)?;
    let key_bytes = read(key_path)?;
    let ca = CertificateAuthority::load(cert_path, key_path)?;
    Ok(Loaded {
        ca: Arc::new(ca),
        cert_bytes,
        key_bytes,
    })
}

/// Polls every CA in `cas` every `interval` until `stop` resolves, logging reloads.
pub async fn watch_files(
    cas: Vec<(String, Arc<DynamicCa>)>,
    interval: Duration,
    metrics: crate::metrics::Metrics,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticker.tick() => {}
        }
        // Several signers usually share one CA: check each file pair once.
        let mut seen: Vec<&Arc<DynamicCa>> = Vec::new();
        for (signer, ca) in &cas {
            if seen.iter().any(|s| Arc::ptr_eq(s, ca)) {
                continue;
            }
            seen.push(ca);
            let checked = Arc::clone(ca);
            let result = tokio::task::spawn_blocking(move || checked.check()).await;
            match result {
                Ok(Reload::Unchanged) => {}
                Ok(Reload::Reloaded) => {
                    let signers: Vec<&str> = cas
                        .iter()
                        .filter(|(_, c)| Arc::ptr_eq(c, ca))
                        .map(|(s, _)| s.as_str())
                        .collect();
                    for s in &signers {
                        metrics.ca_reloaded(s);
                    }
                    tracing::info!(
                        ?signers,
                        cert_file = %ca.cert_path().display(),
                        "loaded a new signing CA from disk"
                    );
                }
                Ok(Reload::Failed(error)) => {
                    tracing::warn!(%signer, %error, "signing CA files changed but do not load; still signing with the previous CA");
                }
                Err(error) => tracing::warn!(%error, "CA reload check panicked"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn write_ca(dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
        let ca = CertificateAuthority::generate(
            name,
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(3600),
        )
        .unwrap();
        let cert = dir.join("ca.pem");
        let key = dir.join("ca-key.pem");
        // Atomic replace, as operators' tools (and cfssljson) do.
        std::fs::write(dir.join("ca.pem.tmp"), ca.cert_pem()).unwrap();
        std::fs::rename(dir.join("ca.pem.tmp"), &cert).unwrap();
        std::fs::write(dir.join("ca-key.pem.tmp"), ca.key_pem()).unwrap();
        std::fs::rename(dir.join("ca-key.pem.tmp"), &key).unwrap();
        (cert, key, ca.cert_pem())
    }

    #[test]
    fn reloads_a_replaced_pair_and_keeps_the_old_one_while_the_new_one_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, first_pem) = write_ca(dir.path(), "first");
        let ca = DynamicCa::load(&cert, &key).unwrap();
        assert_eq!(ca.current().cert_pem(), first_pem);
        assert_eq!(ca.check(), Reload::Unchanged);

        // Only the certificate replaced: the key no longer matches; the old CA stays.
        let other = CertificateAuthority::generate(
            "second",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(3600),
        )
        .unwrap();
        std::fs::write(&cert, other.cert_pem()).unwrap();
        assert!(matches!(ca.check(), Reload::Failed(m) if m.contains("does not match")));
        assert_eq!(ca.check(), Reload::Unchanged, "reported once");
        assert_eq!(ca.current().cert_pem(), first_pem);

        // Then the key too: the new pair is used.
        std::fs::write(&key, other.key_pem()).unwrap();
        assert_eq!(ca.check(), Reload::Reloaded);
        assert_eq!(ca.current().cert_pem(), other.cert_pem());
    }

    #[test]
    fn touching_files_without_changing_bytes_is_not_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, pem) = write_ca(dir.path(), "same");
        let ca = DynamicCa::load(&cert, &key).unwrap();
        std::fs::write(dir.path().join("x"), &pem).unwrap();
        std::fs::rename(dir.path().join("x"), &cert).unwrap();
        assert_eq!(ca.check(), Reload::Unchanged);
    }

    #[test]
    fn a_bad_start_up_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("missing.pem");
        let err = DynamicCa::load(&cert, &cert).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
    }
}
