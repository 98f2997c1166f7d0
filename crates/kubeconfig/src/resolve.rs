//! From a kubeconfig to what a TLS client needs: pick the context, its cluster and user,
//! read the files they name, and check the combination the way client-go does.

use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;

use crate::data;
use crate::error::KubeconfigError;
use crate::model::{Cluster, Kubeconfig, NamedCluster, NamedContext, NamedUser, User};

/// Everything needed to open a connection to the API server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedConfig {
    /// Name of the context that was resolved.
    pub context: String,
    pub server: Url,
    /// PEM bundle of trusted CAs; `None` means the kubeconfig names no CA (this project
    /// does not fall back to system roots, the client decides what that means).
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_tls_verify: bool,
    pub tls_server_name: Option<String>,
    /// `proxy-url` as written; reported so a client that cannot proxy can refuse it.
    pub proxy_url: Option<String>,
    /// The context's default namespace.
    pub namespace: Option<String>,
    pub identity: Identity,
}

/// How the client proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Identity {
    /// Mutual TLS. Both are PEM; `cert_pem` may hold a chain, `key_pem` may be the same
    /// combined file (the kubelet's `kubelet-client-current.pem` holds both).
    ClientCertificate { cert_pem: Vec<u8>, key_pem: Vec<u8> },
    /// `Authorization: Bearer <token>`.
    Token(String),
    /// Anonymous.
    None,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::ClientCertificate { cert_pem, .. } => f
                .debug_struct("ClientCertificate")
                .field("cert_pem_len", &cert_pem.len())
                .field("key_pem", &"<redacted>")
                .finish(),
            Identity::Token(_) => f.write_str("Token(<redacted>)"),
            Identity::None => f.write_str("None"),
        }
    }
}

impl Kubeconfig {
    /// Resolves `context` (or `current-context` when `None`). Files are read now, relative
    /// paths against [`Kubeconfig::base_dir`].
    pub fn resolve(&self, context: Option<&str>) -> Result<ResolvedConfig, KubeconfigError> {
        let context_name = match context {
            Some(name) => name,
            None if !self.current_context.is_empty() => self.current_context.as_str(),
            None => return Err(KubeconfigError::NoCurrentContext),
        };
        let context = self
            .find_context(context_name)
            .ok_or_else(|| KubeconfigError::ContextNotFound {
                context: context_name.to_owned(),
            })?
            .context
            .clone();
        if context.cluster.is_empty() {
            return Err(KubeconfigError::ContextWithoutCluster {
                context: context_name.to_owned(),
            });
        }
        let cluster = self.find_cluster(&context.cluster).ok_or_else(|| {
            KubeconfigError::ClusterNotFound {
                cluster: context.cluster.clone(),
                context: context_name.to_owned(),
            }
        })?;
        let identity = if context.user.is_empty() {
            Identity::None
        } else {
            let user =
                self.find_user(&context.user)
                    .ok_or_else(|| KubeconfigError::UserNotFound {
                        user: context.user.clone(),
                        context: context_name.to_owned(),
                    })?;
            self.identity(&user.name, &user.user)?
        };
        let TrustSettings {
            server,
            ca_pem,
            insecure,
        } = self.trust(&cluster.name, &cluster.cluster)?;
        Ok(ResolvedConfig {
            context: context_name.to_owned(),
            server,
            ca_pem,
            insecure_skip_tls_verify: insecure,
            tls_server_name: non_empty(&cluster.cluster.tls_server_name),
            proxy_url: non_empty(&cluster.cluster.proxy_url),
            namespace: non_empty(&context.namespace),
            identity,
        })
    }

    /// The first context with this name (client-go keeps the first of duplicates as well).
    pub fn find_context(&self, name: &str) -> Option<&NamedContext> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// The first cluster with this name.
    pub fn find_cluster(&self, name: &str) -> Option<&NamedCluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The first user with this name.
    pub fn find_user(&self, name: &str) -> Option<&NamedUser> {
        self.users.iter().find(|u| u.name == name)
    }

    /// A referenced path as the kubeconfig means it: absolute paths stay, relative ones are
    /// taken from the kubeconfig's folder (client-go `ResolvePath`).
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    fn trust(&self, name: &str, cluster: &Cluster) -> Result<TrustSettings, KubeconfigError> {
        let server = parse_server(name, cluster.server.as_deref().unwrap_or_default())?;
        let source = PemSource::pick(
            "cluster",
            name,
            (
                "certificate-authority-data",
                &cluster.certificate_authority_data,
            ),
            ("certificate-authority", &cluster.certificate_authority),
        )?;
        let insecure = cluster.insecure_skip_tls_verify.unwrap_or(false);
        if insecure && source.is_some() {
            return Err(KubeconfigError::InsecureWithCa {
                cluster: name.to_owned(),
            });
        }
        let ca_pem = match source {
            Some(source) => Some(self.read_pem(source, "cluster", name)?),
            None => None,
        };
        Ok(TrustSettings {
            server,
            ca_pem,
            insecure,
        })
    }

    fn identity(&self, name: &str, user: &User) -> Result<Identity, KubeconfigError> {
        let cert = PemSource::pick(
            "user",
            name,
            ("client-certificate-data", &user.client_certificate_data),
            ("client-certificate", &user.client_certificate),
        )?;
        let key = PemSource::pick(
            "user",
            name,
            ("client-key-data", &user.client_key_data),
            ("client-key", &user.client_key),
        )?;
        match (cert, key) {
            // A certificate wins over a token: the apiserver's x509 authenticator runs first
            // anyway, so that is the identity the server would see.
            (Some(cert), Some(key)) => {
                return Ok(Identity::ClientCertificate {
                    cert_pem: self.read_pem(cert, "user", name)?,
                    key_pem: self.read_pem(key, "user", name)?,
                });
            }
            (Some(cert), None) => {
                return Err(KubeconfigError::IncompleteClientCertificate {
                    user: name.to_owned(),
                    present: cert.field(),
                    missing: "client-key-data or client-key",
                });
            }
            (None, Some(key)) => {
                return Err(KubeconfigError::IncompleteClientCertificate {
                    user: name.to_owned(),
                    present: key.field(),
                    missing: "client-certificate-data or client-certificate",
                });
            }
            (None, None) => {}
        }
        // The literal token first, then the file: the order of clientcmd.
        if let Some(token) = non_empty(&user.token) {
            return Ok(Identity::Token(token));
        }
        if let Some(file) = non_empty(&user.token_file) {
            return self.read_token_file(name, &file).map(Identity::Token);
        }
        for (present, method) in [
            (
                user.username.is_some() || user.password.is_some(),
                "basic-auth",
            ),
            (user.extra.contains_key("exec"), "exec"),
            (user.extra.contains_key("auth-provider"), "auth-provider"),
        ] {
            if present {
                return Err(KubeconfigError::UnsupportedAuth {
                    user: name.to_owned(),
                    method,
                });
            }
        }
        Ok(Identity::None)
    }

    fn read_pem(
        &self,
        source: PemSource<'_>,
        kind: &'static str,
        name: &str,
    ) -> Result<Vec<u8>, KubeconfigError> {
        let bytes = match source {
            // Validated at load time, but the fields are public and may have been edited since.
            PemSource::Data { field, text } => {
                data::decode(text).map_err(|source| KubeconfigError::InvalidBase64 {
                    kind,
                    name: name.to_owned(),
                    field,
                    source,
                })?
            }
            PemSource::File { field, path } => self.read_referenced(kind, name, field, path)?,
        };
        if !contains_pem_block(&bytes) {
            return Err(KubeconfigError::NotPem {
                kind,
                name: name.to_owned(),
                field: source.field(),
            });
        }
        Ok(bytes)
    }

    fn read_token_file(&self, user: &str, path: &str) -> Result<String, KubeconfigError> {
        let bytes = self.read_referenced("user", user, "tokenFile", path)?;
        // client-go's file token source trims, so a trailing newline is not part of the token.
        let token = String::from_utf8_lossy(&bytes).trim().to_owned();
        if token.is_empty() {
            return Err(KubeconfigError::EmptyTokenFile {
                path: self.resolve_path(path),
            });
        }
        Ok(token)
    }

    fn read_referenced(
        &self,
        kind: &'static str,
        name: &str,
        field: &'static str,
        path: &str,
    ) -> Result<Vec<u8>, KubeconfigError> {
        let path = self.resolve_path(path);
        std::fs::read(&path).map_err(|source| KubeconfigError::ReferencedFile {
            kind,
            name: name.to_owned(),
            field,
            path,
            source,
        })
    }
}

struct TrustSettings {
    server: Url,
    ca_pem: Option<Vec<u8>>,
    insecure: bool,
}

/// Where one PEM value comes from: the inline `-data` field or a file.
#[derive(Clone, Copy)]
enum PemSource<'a> {
    Data { field: &'static str, text: &'a str },
    File { field: &'static str, path: &'a str },
}

impl<'a> PemSource<'a> {
    /// client-go refuses a config that sets both forms; empty strings count as unset.
    fn pick(
        kind: &'static str,
        name: &str,
        (data_field, data): (&'static str, &'a Option<String>),
        (file_field, file): (&'static str, &'a Option<String>),
    ) -> Result<Option<PemSource<'a>>, KubeconfigError> {
        let data = data.as_deref().filter(|s| !s.is_empty());
        let file = file.as_deref().filter(|s| !s.is_empty());
        match (data, file) {
            (Some(_), Some(_)) => Err(KubeconfigError::BothDataAndFile {
                kind,
                name: name.to_owned(),
                data_field,
                file_field,
            }),
            (Some(text), None) => Ok(Some(PemSource::Data {
                field: data_field,
                text,
            })),
            (None, Some(path)) => Ok(Some(PemSource::File {
                field: file_field,
                path,
            })),
            (None, None) => Ok(None),
        }
    }

    fn field(&self) -> &'static str {
        match self {
            PemSource::Data { field, .. } | PemSource::File { field, .. } => field,
        }
    }
}

/// client-go accepts a bare `host:port` and assumes https.
fn parse_server(cluster: &str, server: &str) -> Result<Url, KubeconfigError> {
    if server.is_empty() {
        return Err(KubeconfigError::MissingServer {
            cluster: cluster.to_owned(),
        });
    }
    let invalid = |reason: String| KubeconfigError::InvalidServer {
        cluster: cluster.to_owned(),
        server: server.to_owned(),
        reason,
    };
    let with_scheme = if server.contains("://") {
        server.to_owned()
    } else {
        format!("https://{server}")
    };
    let url = Url::parse(&with_scheme).map_err(|err| invalid(err.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid(format!("unsupported scheme {:?}", url.scheme())));
    }
    if url.host().is_none() {
        return Err(invalid("no host".to_owned()));
    }
    Ok(url)
}

fn contains_pem_block(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|s| !s.is_empty()).cloned()
}
