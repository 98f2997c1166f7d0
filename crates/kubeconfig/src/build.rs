//! Constructors for the two files this project writes: the kubelet's own kubeconfig (client
//! certificate and key by path) and a bootstrap kubeconfig (token plus embedded CA).

use std::path::Path;

use url::Url;

use crate::data;
use crate::model::{
    Cluster, Context, Extra, Kubeconfig, NamedCluster, NamedContext, NamedUser, User,
};
use crate::resolve::ResolvedConfig;

/// Names the kubelet uses in the kubeconfig it writes after bootstrapping.
pub const KUBELET_CLUSTER_NAME: &str = "default-cluster";
/// See [`KUBELET_CLUSTER_NAME`].
pub const KUBELET_USER_NAME: &str = "default-auth";
/// See [`KUBELET_CLUSTER_NAME`].
pub const KUBELET_CONTEXT_NAME: &str = "default-context";

impl Kubeconfig {
    /// One cluster, one user referencing certificate and key files, and one context named
    /// after the cluster, made current. The CA, when given, is embedded.
    pub fn with_client_certificate_files(
        cluster_name: &str,
        server: &Url,
        ca_pem_data: Option<&[u8]>,
        user: &str,
        cert_path: &Path,
        key_path: &Path,
    ) -> Kubeconfig {
        let credentials = User {
            client_certificate: Some(cert_path.to_string_lossy().into_owned()),
            client_key: Some(key_path.to_string_lossy().into_owned()),
            ..User::default()
        };
        Self::single_context(
            cluster_name,
            cluster_name,
            cluster_with_ca(server, ca_pem_data),
            user,
            credentials,
            None,
        )
    }

    /// The bootstrap kubeconfig of the seeds' `kubectl config set-cluster --embed-certs` /
    /// `set-credentials --token` / `set-context` / `use-context` sequence: the context is
    /// named after the cluster.
    pub fn with_token(
        cluster_name: &str,
        server: &Url,
        ca_pem_data: Option<&[u8]>,
        user: &str,
        token: &str,
    ) -> Kubeconfig {
        let credentials = User {
            token: Some(token.to_owned()),
            ..User::default()
        };
        Self::single_context(
            cluster_name,
            cluster_name,
            cluster_with_ca(server, ca_pem_data),
            user,
            credentials,
            None,
        )
    }

    /// What the kubelet writes to `--kubeconfig` once it has (or expects) a client
    /// certificate: `default-cluster` with the bootstrap server, CA and insecure flag,
    /// `default-auth` whose `client-certificate` and `client-key` are both `pem_path`
    /// (e.g. `/var/lib/kubelet/pki/kubelet-client-current.pem`), and `default-context` with
    /// namespace `default`. Unlike the kubelet we also carry over `tls-server-name`, so the
    /// new file reaches the server the bootstrap file reached.
    pub fn for_kubelet(bootstrap: &ResolvedConfig, pem_path: &Path) -> Kubeconfig {
        let mut cluster = cluster_with_ca(&bootstrap.server, bootstrap.ca_pem.as_deref());
        cluster.insecure_skip_tls_verify = bootstrap.insecure_skip_tls_verify.then_some(true);
        cluster.tls_server_name = bootstrap.tls_server_name.clone();
        let path = pem_path.to_string_lossy().into_owned();
        let credentials = User {
            client_certificate: Some(path.clone()),
            client_key: Some(path),
            ..User::default()
        };
        Self::single_context(
            KUBELET_CONTEXT_NAME,
            KUBELET_CLUSTER_NAME,
            cluster,
            KUBELET_USER_NAME,
            credentials,
            Some("default"),
        )
    }

    /// One cluster, one user and one context joining them, made current.
    fn single_context(
        context_name: &str,
        cluster_name: &str,
        cluster: Cluster,
        user: &str,
        credentials: User,
        namespace: Option<&str>,
    ) -> Self {
        Kubeconfig {
            clusters: vec![NamedCluster {
                cluster,
                name: cluster_name.to_owned(),
                extra: Extra::new(),
            }],
            contexts: vec![NamedContext {
                context: Context {
                    cluster: cluster_name.to_owned(),
                    namespace: namespace.map(str::to_owned),
                    user: user.to_owned(),
                    extra: Extra::new(),
                },
                name: context_name.to_owned(),
                extra: Extra::new(),
            }],
            current_context: context_name.to_owned(),
            users: vec![NamedUser {
                name: user.to_owned(),
                user: credentials,
                extra: Extra::new(),
            }],
            ..Kubeconfig::default()
        }
    }
}

fn cluster_with_ca(server: &Url, ca_pem_data: Option<&[u8]>) -> Cluster {
    Cluster {
        certificate_authority_data: ca_pem_data.map(data::encode),
        server: Some(server_text(server)),
        ..Cluster::default()
    }
}

/// `Url` always shows a root path as a trailing `/`; kubectl users write the server without
/// it, so drop it when it carries no meaning.
fn server_text(server: &Url) -> String {
    let text = server.as_str();
    if server.path() == "/" && server.query().is_none() && server.fragment().is_none() {
        text.trim_end_matches('/').to_owned()
    } else {
        text.to_owned()
    }
}
