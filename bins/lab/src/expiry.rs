//! `lab certs expiry`: every certificate under a folder (recursively, bundles included, keys and
//! other files skipped) with its subject, validity window and time left.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::duration::human;

/// One certificate found on disk.
#[derive(Debug, Clone)]
pub struct Row {
    /// The file, relative to the scanned folder; `name -> target` for a symlink.
    pub file: String,
    pub subject: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Row {
    /// Time left at `now`; `None` once expired.
    pub fn left(&self, now: SystemTime) -> Option<Duration> {
        self.not_after.duration_since(now).ok()
    }
}

/// Collects the certificates under `dir`, sorted by file name.
pub fn scan(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let mut rows = Vec::new();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if !bytes
            .windows(27)
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            continue;
        }
        let certs = pki::parse_certificates(&bytes)
            .with_context(|| format!("{} holds an unreadable certificate", path.display()))?;
        let relative = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let file = match std::fs::read_link(&path) {
            Ok(target) => format!("{relative} -> {}", target.display()),
            Err(_) => relative,
        };
        for cert in certs {
            rows.push(Row {
                file: file.clone(),
                subject: cert.subject().to_string(),
                not_before: cert.not_before(),
                not_after: cert.not_after(),
            });
        }
    }
    Ok(rows)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            collect_files(&path, out)?;
        } else if file_type.is_file() || (file_type.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "?".to_string())
}

/// The table `lab certs expiry` prints.
pub fn render(rows: &[Row], now: SystemTime) -> String {
    let mut lines = vec![[
        "FILE".to_string(),
        "SUBJECT".to_string(),
        "NOT BEFORE".to_string(),
        "NOT AFTER".to_string(),
        "LEFT".to_string(),
    ]];
    for row in rows {
        lines.push([
            row.file.clone(),
            row.subject.clone(),
            rfc3339(row.not_before),
            rfc3339(row.not_after),
            row.left(now)
                .map(human)
                .unwrap_or_else(|| "EXPIRED".to_string()),
        ]);
    }
    crate::table::render(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pki::{CertificateAuthority, KeyAlgorithm};

    #[test]
    fn finds_certificates_and_skips_keys_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::generate(
            "expiry-ca",
            KeyAlgorithm::EcdsaP256,
            Duration::from_secs(7200),
        )
        .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(dir.path().join("ca-key.pem"), ca.key_pem()).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/bundle.pem"),
            ca.cert_pem() + &ca.cert_pem(),
        )
        .unwrap();
        std::os::unix::fs::symlink("ca.pem", dir.path().join("current.pem")).unwrap();

        let rows = scan(dir.path()).unwrap();
        let files: Vec<&str> = rows.iter().map(|r| r.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "ca.pem",
                "current.pem -> ca.pem",
                "sub/bundle.pem",
                "sub/bundle.pem"
            ]
        );
        assert!(rows[0].subject.contains("expiry-ca"), "{}", rows[0].subject);

        let now = SystemTime::now();
        let table = render(&rows, now);
        assert!(table.starts_with("FILE"), "{table}");
        assert!(!table.contains("EXPIRED"), "{table}");
        let later = now + Duration::from_secs(3 * 3600);
        assert_eq!(render(&rows, later).matches("EXPIRED").count(), 4);
        assert!(rows[0].left(now).is_some() && rows[0].left(later).is_none());
    }

    #[test]
    fn a_missing_folder_is_named() {
        let err = scan(Path::new("/nonexistent/lab-certs")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/lab-certs"), "{err}");
    }
}
