//! The controller-manager's kubeconfigs (`--kubeconfig`, and `--authentication-kubeconfig` /
//! `--authorization-kubeconfig` for the secure port's delegation) are re-read when their bytes
//! change (decision 0029): a new CA bundle becomes the clients' trust, a new client
//! certificate and key (or token) their identity, both for new connections. client-go reloads
//! the certificate files a kubeconfig names; here kubeconfigs embed their data, so re-reading
//! the whole file is what lets a CA rotation go by without a restart. A file that does not
//! load is logged (once per distinct error) and the clients keep what they have. The CA the
//! `--kubeconfig` clients trust is also what root-ca-cert-publisher publishes without
//! `--root-ca-file` ([`ReloadingKubeconfig::trusted_ca`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use client::Client;
use kubeconfig::ResolvedConfig;
use tokio::sync::watch;

use crate::ca_provider::{Stamp, stamp};

/// What a [`ReloadingKubeconfig::check`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    /// The file changed; says what was applied to the clients.
    Applied {
        trust: bool,
        identity: bool,
    },
    /// The file changed but cannot be used; the clients keep what they have.
    Failed(String),
}

/// One kubeconfig file and the clients built from it.
pub struct ReloadingKubeconfig {
    flags: Vec<&'static str>,
    path: PathBuf,
    /// The kubeconfig and the files it names, with what they looked like when last read.
    watched: Vec<(PathBuf, Option<Stamp>)>,
    applied: ResolvedConfig,
    clients: Vec<Client>,
    last_error: Option<String>,
    /// `applied.ca_pem`, for root-ca-cert-publisher (it publishes what the clients trust).
    trusted_ca: watch::Sender<Option<Vec<u8>>>,
}

/// The certificate, key, CA and token files `kubeconfig` names (client-go reloads those too).
fn referenced_files(kubeconfig: &kubeconfig::Kubeconfig) -> Vec<PathBuf> {
    let clusters = kubeconfig
        .clusters
        .iter()
        .filter_map(|c| c.cluster.certificate_authority.as_ref());
    let users = kubeconfig.users.iter().flat_map(|u| {
        [
            u.user.client_certificate.as_ref(),
            u.user.client_key.as_ref(),
            u.user.token_file.as_ref(),
        ]
        .into_iter()
        .flatten()
    });
    clusters
        .chain(users)
        .filter(|p| !p.is_empty())
        .map(|p| kubeconfig.resolve_path(p))
        .collect()
}

fn stamped(paths: impl IntoIterator<Item = PathBuf>) -> Vec<(PathBuf, Option<Stamp>)> {
    paths
        .into_iter()
        .map(|path| {
            let now = stamp(&path);
            (path, now)
        })
        .collect()
}

impl ReloadingKubeconfig {
    /// `applied` is what the clients were built from (read at start-up).
    pub fn new(flag: &'static str, path: &Path, applied: ResolvedConfig) -> ReloadingKubeconfig {
        let mut watched = vec![path.to_path_buf()];
        if let Ok(kubeconfig) = kubeconfig::Kubeconfig::load(path) {
            watched.extend(referenced_files(&kubeconfig));
        }
        ReloadingKubeconfig {
            flags: vec![flag],
            path: path.to_path_buf(),
            watched: stamped(watched),
            trusted_ca: watch::Sender::new(applied.ca_pem.clone()),
            applied,
            clients: Vec::new(),
            last_error: None,
        }
    }

    /// Whether `flag` names this file.
    pub fn is_for(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    /// The CA bundle the clients trust, updated when a new one is applied.
    pub fn trusted_ca(&self) -> watch::Receiver<Option<Vec<u8>>> {
        self.trusted_ca.subscribe()
    }

    pub fn add_client(&mut self, client: Client) {
        self.clients.push(client);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Looks at the files once; applies what changed to the clients.
    pub fn check(&mut self) -> Outcome {
        let now = stamped(self.watched.iter().map(|(path, _)| path.clone()));
        if now == self.watched && self.last_error.is_none() {
            return Outcome::Unchanged;
        }
        self.watched = now;
        let loaded = kubeconfig::Kubeconfig::load(&self.path).and_then(|kubeconfig| {
            let resolved = kubeconfig.resolve(None)?;
            Ok((referenced_files(&kubeconfig), resolved))
        });
        let resolved = match loaded {
            Ok((referenced, resolved)) => {
                let mut watched = vec![self.path.clone()];
                watched.extend(referenced);
                if watched.len() != self.watched.len()
                    || watched.iter().zip(&self.watched).any(|(a, (b, _))| a != b)
                {
                    self.watched = stamped(watched);
                }
                resolved
            }
            Err(error) => return self.failed(error.to_string()),
        };
        if resolved.server != self.applied.server
            || resolved.tls_server_name != self.applied.tls_server_name
            || resolved.insecure_skip_tls_verify != self.applied.insecure_skip_tls_verify
        {
            tracing::warn!(
                flags = ?self.flags,
                path = %self.path.display(),
                "the kubeconfig names another server or TLS settings; those take a restart, only its CA and credentials are followed"
            );
        }
        let trust = match &resolved.ca_pem {
            Some(ca) if resolved.ca_pem != self.applied.ca_pem => {
                for client in &self.clients {
                    if let Err(error) = client.set_trust(ca) {
                        return self.failed(format!("its CA bundle cannot be used: {error}"));
                    }
                }
                self.applied.ca_pem = resolved.ca_pem.clone();
                self.trusted_ca.send_replace(resolved.ca_pem.clone());
                true
            }
            None if self.applied.ca_pem.is_some() => {
                tracing::warn!(
                    flags = ?self.flags,
                    path = %self.path.display(),
                    "the kubeconfig names no CA any more; keeping the previous one"
                );
                false
            }
            _ => false,
        };
        let identity = resolved.identity != self.applied.identity;
        if identity {
            for client in &self.clients {
                if let Err(error) = client.set_identity(resolved.identity.clone()) {
                    return self.failed(format!("its credentials cannot be used: {error}"));
                }
            }
            self.applied.identity = resolved.identity;
        }
        self.last_error = None;
        if trust || identity {
            Outcome::Applied { trust, identity }
        } else {
            Outcome::Unchanged
        }
    }

    fn failed(&mut self, message: String) -> Outcome {
        if self.last_error.as_deref() == Some(message.as_str()) {
            return Outcome::Unchanged;
        }
        self.last_error = Some(message.clone());
        Outcome::Failed(message)
    }
}

/// Groups `(flag, path, what its clients were built from, client)` by file.
pub fn by_file(
    entries: Vec<(&'static str, PathBuf, ResolvedConfig, Client)>,
) -> Vec<ReloadingKubeconfig> {
    let mut files: Vec<ReloadingKubeconfig> = Vec::new();
    for (flag, path, resolved, client) in entries {
        match files
            .iter_mut()
            .find(|f| f.path == path && f.applied == resolved)
        {
            Some(file) => {
                file.flags.push(flag);
                file.add_client(client);
            }
            None => {
                let mut file = ReloadingKubeconfig::new(flag, &path, resolved);
                file.add_client(client);
                files.push(file);
            }
        }
    }
    files
}

/// Checks every file every `interval` until the task is dropped, logging what happened.
pub async fn watch(mut files: Vec<ReloadingKubeconfig>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        for file in &mut files {
            match file.check() {
                Outcome::Unchanged => {}
                Outcome::Applied { trust, identity } => tracing::info!(
                    flags = ?file.flags,
                    path = %file.path.display(),
                    new_ca = trust,
                    new_credentials = identity,
                    "kubeconfig changed; new connections use it"
                ),
                Outcome::Failed(error) => tracing::warn!(
                    flags = ?file.flags,
                    path = %file.path.display(),
                    %error,
                    "kubeconfig changed but cannot be used; keeping the current one"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_files::{ca, replace};

    fn client_pair(ca: &pki::CertificateAuthority) -> (String, String) {
        ca.issue_leaf(&pki::LeafParams {
            common_name: "system:kube-controller-manager".into(),
            organizations: Vec::new(),
            dns: Vec::new(),
            ips: Vec::new(),
            usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
            validity: Duration::from_secs(3600),
        })
        .unwrap()
    }

    fn b64(data: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    fn kubeconfig(ca_pem: &str, cert: &str, key: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
            b64(ca_pem),
            b64(cert),
            b64(key)
        )
    }

    fn resolve(path: &Path) -> ResolvedConfig {
        kubeconfig::Kubeconfig::load(path)
            .and_then(|k| k.resolve(None))
            .unwrap()
    }

    #[test]
    fn certificate_files_the_kubeconfig_names_are_followed_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cm.kubeconfig");
        let ca = ca("ca");
        let (cert, key) = client_pair(&ca);
        replace(&dir.path().join("ca.pem"), ca.cert_pem());
        replace(&dir.path().join("cm.pem"), &cert);
        replace(&dir.path().join("cm-key.pem"), &key);
        replace(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority: ca.pem\nusers:\n- name: u\n  user:\n    client-certificate: cm.pem\n    client-key: cm-key.pem\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
        );
        let resolved = resolve(&path);
        let client = Client::from_kubeconfig(&resolved, "test").unwrap();
        let mut files = by_file(vec![("kubeconfig", path.clone(), resolved, client.clone())]);
        let file = &mut files[0];
        assert_eq!(file.watched.len(), 4);
        assert_eq!(file.check(), Outcome::Unchanged);
        let (cert, key) = client_pair(&ca);
        replace(&dir.path().join("cm-key.pem"), &key);
        replace(&dir.path().join("cm.pem"), &cert);
        assert_eq!(
            file.check(),
            Outcome::Applied {
                trust: false,
                identity: true
            }
        );
        assert_eq!(client.identity_version(), 1);
        let other = self::ca("other");
        replace(&dir.path().join("ca.pem"), other.cert_pem());
        assert_eq!(
            file.check(),
            Outcome::Applied {
                trust: true,
                identity: false
            }
        );
    }

    #[test]
    fn a_changed_ca_or_certificate_is_applied_and_a_broken_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cm.kubeconfig");
        let old = ca("old");
        let new = ca("new");
        let (cert, key) = client_pair(&old);
        replace(&path, kubeconfig(&old.cert_pem(), &cert, &key));
        let resolved = resolve(&path);
        let client = Client::from_kubeconfig(&resolved, "test").unwrap();
        let mut files = by_file(vec![
            ("kubeconfig", path.clone(), resolved.clone(), client.clone()),
            (
                "authorization-kubeconfig",
                path.clone(),
                resolved,
                client.clone(),
            ),
        ]);
        assert_eq!(files.len(), 1, "one file, read once per check");
        let file = &mut files[0];
        assert_eq!(file.clients.len(), 2);
        assert!(file.is_for("kubeconfig") && file.is_for("authorization-kubeconfig"));
        let trusted = file.trusted_ca();
        assert_eq!(*trusted.borrow(), Some(old.cert_pem().into_bytes()));
        assert_eq!(file.check(), Outcome::Unchanged);

        // Same bytes written again: nothing to do.
        replace(&path, kubeconfig(&old.cert_pem(), &cert, &key));
        assert_eq!(file.check(), Outcome::Unchanged);

        // Trust both CAs.
        let both = format!("{}{}", old.cert_pem(), new.cert_pem());
        replace(&path, kubeconfig(&both, &cert, &key));
        assert_eq!(
            file.check(),
            Outcome::Applied {
                trust: true,
                identity: false
            }
        );
        assert_eq!(*trusted.borrow(), Some(both.clone().into_bytes()));
        let version = client.identity_version();

        // A broken file: reported once, nothing applied.
        replace(&path, "clusters: [");
        assert!(matches!(file.check(), Outcome::Failed(_)));
        assert_eq!(file.check(), Outcome::Unchanged);
        let (bad_cert, _) = client_pair(&new);
        replace(&path, kubeconfig(&both, &bad_cert, &key));
        assert!(
            matches!(file.check(), Outcome::Failed(m) if m.contains("credentials")),
            "a certificate that does not match its key"
        );
        assert_eq!(client.identity_version(), version);
        assert_eq!(*trusted.borrow(), Some(both.clone().into_bytes()));

        // A certificate from the new CA.
        let (new_cert, new_key) = client_pair(&new);
        replace(&path, kubeconfig(&both, &new_cert, &new_key));
        assert_eq!(
            file.check(),
            Outcome::Applied {
                trust: false,
                identity: true
            }
        );
        assert_eq!(
            client.identity_version(),
            version + 2,
            "both clients' copies"
        );
    }
}
