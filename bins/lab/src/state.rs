//! The state folder of a lab: where every file lives, and `lab.json`, the settings `lab up`
//! chose (ports, node names) so `lab down`, `lab seed` and people can find them again.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Paths inside one state folder.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    /// CA, serving and client certificates.
    pub fn pki_dir(&self) -> PathBuf {
        self.root.join("pki")
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.pki_dir().join(crate::files::CA_CERT)
    }
    pub fn ca_key(&self) -> PathBuf {
        self.pki_dir().join(crate::files::CA_KEY)
    }
    /// The CAs every component trusts (`--client-ca-file`, `--root-ca-file`): the signing CA
    /// alone, or during a rotation the old and the new one (decision 0029).
    pub fn ca_bundle(&self) -> PathBuf {
        self.pki_dir().join(crate::files::CA_BUNDLE)
    }
    /// A rotation's new CA until it signs (`lab ca rotate`).
    pub fn ca_next_cert(&self) -> PathBuf {
        self.pki_dir().join("ca-next.pem")
    }
    pub fn ca_next_key(&self) -> PathBuf {
        self.pki_dir().join("ca-next-key.pem")
    }
    /// A rotation's old CA after the switch, until it is retired.
    pub fn ca_previous_cert(&self) -> PathBuf {
        self.pki_dir().join("ca-previous.pem")
    }
    pub fn ca_previous_key(&self) -> PathBuf {
        self.pki_dir().join("ca-previous-key.pem")
    }
    /// The last rotation's new CA signed by the old one, sent by the apiserver after its
    /// serving certificate.
    pub fn ca_cross_signed_cert(&self) -> PathBuf {
        self.pki_dir().join("ca-cross-signed.pem")
    }
    pub fn apiserver_cert(&self) -> PathBuf {
        self.pki_dir().join("apiserver.pem")
    }
    pub fn apiserver_key(&self) -> PathBuf {
        self.pki_dir().join("apiserver-key.pem")
    }
    /// The seeds' static token file.
    pub fn token_csv(&self) -> PathBuf {
        self.pki_dir().join("token.csv")
    }
    /// The bootstrap token, alone on one line (0600).
    pub fn bootstrap_token(&self) -> PathBuf {
        self.pki_dir().join("bootstrap-token")
    }
    /// The `bootstrap-token-<id>` Secret, for `kubectl apply -f`.
    pub fn bootstrap_token_secret(&self) -> PathBuf {
        self.root.join("bootstrap-token-secret.json")
    }
    /// Admin (`system:masters`) credentials, embedded.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.root.join("admin.kubeconfig")
    }
    /// `system:kube-controller-manager` credentials, embedded.
    pub fn controller_manager_kubeconfig(&self) -> PathBuf {
        self.root.join("controller-manager.kubeconfig")
    }
    /// The static-token variant of the bootstrap kubeconfig (user `kubelet-bootstrap`).
    pub fn static_bootstrap_kubeconfig(&self) -> PathBuf {
        self.root.join("bootstrap-static.kubeconfig")
    }
    pub fn apiserver_data(&self) -> PathBuf {
        self.root.join("apiserver").join("data")
    }
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.root.join("nodes").join(node)
    }
    pub fn node_bootstrap_kubeconfig(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("bootstrap.kubeconfig")
    }
    /// Written by the kubelet-agent once it has a certificate.
    pub fn node_kubeconfig(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("kubeconfig")
    }
    pub fn node_cert_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("pki")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn log(&self, program: &str) -> PathBuf {
        self.logs_dir().join(format!("{program}.log"))
    }
    /// `<lab pid>` then one `<pid> <program>` line per child.
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("lab.pid")
    }
    pub fn settings_file(&self) -> PathBuf {
        self.root.join("lab.json")
    }
}

/// One node of the lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSettings {
    pub name: String,
    /// HTTPS port (`--port`).
    pub port: u16,
    /// Plain-HTTP health port (`--healthz-port`).
    pub healthz_port: u16,
}

/// What `lab init` / `lab up` decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The URL every kubeconfig names.
    pub server: String,
    pub apiserver_port: u16,
    pub controller_manager_port: u16,
    pub nodes: Vec<NodeSettings>,
    /// Without the nodeclient binding node CSRs wait for a person.
    pub manual_approval: bool,
    /// `--cluster-signing-duration` (Go form, e.g. `8760h`).
    pub signing_duration: String,
    /// The bootstrap token's id (the secret half is in `pki/bootstrap-token`).
    pub token_id: String,
}

impl Settings {
    pub fn load(layout: &Layout) -> anyhow::Result<Settings> {
        let path = layout.settings_file();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (is {} a lab state folder? `lab up` or `lab init` makes one)",
                path.display(),
                layout.root().display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    pub fn save(&self, layout: &Layout) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        crate::files::write_public(&layout.settings_file(), &(text + "\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_missing_file_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let err = Settings::load(&layout).unwrap_err().to_string();
        assert!(err.contains("lab.json") && err.contains("lab up"), "{err}");
        let settings = Settings {
            server: "https://127.0.0.1:6443".into(),
            apiserver_port: 6443,
            controller_manager_port: 10257,
            nodes: vec![NodeSettings {
                name: "node-1".into(),
                port: 10250,
                healthz_port: 10248,
            }],
            manual_approval: true,
            signing_duration: "8760h".into(),
            token_id: "abcdef".into(),
        };
        settings.save(&layout).unwrap();
        assert_eq!(Settings::load(&layout).unwrap(), settings);
    }
}
