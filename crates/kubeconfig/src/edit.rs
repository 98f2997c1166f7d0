//! Changing credentials in place: what `kubectl config set-cluster --embed-certs` and
//! `set-credentials --embed-certs` do to the current context's cluster and user. A CA rotation
//! (decision 0029) rewrites kubeconfigs this way, everything else kept.

use crate::data;
use crate::error::KubeconfigError;
use crate::model::{Cluster, Kubeconfig, User};

impl Kubeconfig {
    /// Embeds `ca_pem` as the `certificate-authority-data` of the cluster the current context
    /// uses; a `certificate-authority` file it named is dropped (the file is left alone).
    pub fn embed_certificate_authority(&mut self, ca_pem: &[u8]) -> Result<(), KubeconfigError> {
        let cluster = self.current_cluster_mut()?;
        cluster.certificate_authority = None;
        cluster.certificate_authority_data = Some(data::encode(ca_pem));
        Ok(())
    }

    /// Embeds a client certificate and key in the user the current context uses; the files
    /// it named are dropped.
    pub fn embed_client_certificate(
        &mut self,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<(), KubeconfigError> {
        let user = self.current_user_mut()?;
        user.client_certificate = None;
        user.client_key = None;
        user.client_certificate_data = Some(data::encode(cert_pem));
        user.client_key_data = Some(data::encode(key_pem));
        Ok(())
    }

    /// The current context's `(name, cluster, user)`.
    fn current_names(&self) -> Result<(String, String, String), KubeconfigError> {
        if self.current_context.is_empty() {
            return Err(KubeconfigError::NoCurrentContext);
        }
        let context = &self
            .find_context(&self.current_context)
            .ok_or_else(|| KubeconfigError::ContextNotFound {
                context: self.current_context.clone(),
            })?
            .context;
        Ok((
            self.current_context.clone(),
            context.cluster.clone(),
            context.user.clone(),
        ))
    }

    /// The first cluster of the current context's name, as resolving picks it.
    fn current_cluster_mut(&mut self) -> Result<&mut Cluster, KubeconfigError> {
        let (context, cluster, _) = self.current_names()?;
        self.clusters
            .iter_mut()
            .find(|named| named.name == cluster)
            .map(|named| &mut named.cluster)
            .ok_or(KubeconfigError::ClusterNotFound { cluster, context })
    }

    /// The first user of the current context's name.
    fn current_user_mut(&mut self) -> Result<&mut User, KubeconfigError> {
        let (context, _, user) = self.current_names()?;
        self.users
            .iter_mut()
            .find(|named| named.name == user)
            .map(|named| &mut named.user)
            .ok_or(KubeconfigError::UserNotFound { user, context })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::resolve::Identity;

    const CA: &[u8] = b"-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
    const CERT: &[u8] = b"-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n";
    const KEY: &[u8] = b"-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n";

    const TWO_CLUSTERS: &str = "apiVersion: v1\nkind: Config\ncurrent-context: b\n\
        clusters:\n- name: a\n  cluster:\n    server: https://a:6443\n    certificate-authority-data: YQ==\n\
        - name: b\n  cluster:\n    server: https://b:6443\n    certificate-authority: /etc/ca.pem\n\
        users:\n- name: u\n  user:\n    client-certificate: /etc/u.pem\n    client-key: /etc/u-key.pem\n\
        contexts:\n- name: a\n  context:\n    cluster: a\n    user: u\n\
        - name: b\n  context:\n    cluster: b\n    user: u\n";

    #[test]
    fn the_current_context_s_cluster_and_user_get_the_data_and_nothing_else_changes() {
        let mut config = Kubeconfig::from_yaml(TWO_CLUSTERS, Path::new("/")).unwrap();
        let before = config.clone();
        config.embed_certificate_authority(CA).unwrap();
        config.embed_client_certificate(CERT, KEY).unwrap();
        let resolved = config.resolve(None).unwrap();
        assert_eq!(resolved.ca_pem.as_deref(), Some(CA));
        assert_eq!(
            resolved.identity,
            Identity::ClientCertificate {
                cert_pem: CERT.to_vec(),
                key_pem: KEY.to_vec()
            }
        );
        assert_eq!(
            config.clusters[0], before.clusters[0],
            "another context's cluster"
        );
        assert_eq!(
            config.clusters[1].cluster.server,
            before.clusters[1].cluster.server
        );
        assert_eq!(config.clusters[1].cluster.certificate_authority, None);
        assert_eq!(config.contexts, before.contexts);
    }

    #[test]
    fn a_missing_context_cluster_or_user_is_named() {
        let mut none = Kubeconfig::default();
        assert!(matches!(
            none.embed_certificate_authority(b"x"),
            Err(KubeconfigError::NoCurrentContext)
        ));
        let mut config = Kubeconfig::from_yaml(TWO_CLUSTERS, Path::new("/")).unwrap();
        config.current_context = "gone".into();
        assert!(matches!(
            config.embed_client_certificate(b"c", b"k"),
            Err(KubeconfigError::ContextNotFound { .. })
        ));
        config.current_context = "a".into();
        config.clusters.clear();
        config.users.clear();
        assert!(matches!(
            config.embed_certificate_authority(b"x"),
            Err(KubeconfigError::ClusterNotFound { .. })
        ));
        assert!(matches!(
            config.embed_client_certificate(b"c", b"k"),
            Err(KubeconfigError::UserNotFound { .. })
        ));
    }
}
