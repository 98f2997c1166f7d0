//! Test helpers for the controllers that follow files (decision 0029).

use std::path::Path;
use std::time::Duration;

/// Writes aside and renames over, as deployment tools do (a new inode: seen even when size and
/// coarse mtime are unchanged).
pub fn replace(path: &Path, contents: impl AsRef<[u8]>) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

/// A CA valid for an hour.
pub fn ca(name: &str) -> pki::CertificateAuthority {
    pki::CertificateAuthority::generate(
        name,
        pki::KeyAlgorithm::EcdsaP256,
        Duration::from_secs(3600),
    )
    .unwrap()
}
