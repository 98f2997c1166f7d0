//! The one error type of this crate. Every message names the file, entry or field at fault,
//! following client-go's wording where kubectl users would recognise it.

use std::path::PathBuf;

/// Everything that can go wrong loading, resolving or saving a kubeconfig.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeconfigError {
    /// The kubeconfig file itself could not be read.
    #[error("failed to read kubeconfig {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The text is not valid YAML, or a field has the wrong type.
    #[error("failed to parse kubeconfig{}{}: {message}", origin(path), position(*line, *column))]
    Yaml {
        /// The file, when the text came from one.
        path: Option<PathBuf>,
        /// 1-based line of the fault, when the parser knows it.
        line: Option<usize>,
        /// 1-based column of the fault, when the parser knows it.
        column: Option<usize>,
        message: String,
    },

    /// `apiVersion` or `kind` is neither empty nor what kubectl writes (`v1`, `Config`).
    #[error("unsupported kubeconfig {field} {value:?}: expected {expected:?}")]
    UnsupportedType {
        field: &'static str,
        value: String,
        expected: &'static str,
    },

    /// A `*-data` field is not valid base64.
    #[error("{kind} {name:?}: {field} is not valid base64: {source}")]
    InvalidBase64 {
        /// `cluster` or `user`.
        kind: &'static str,
        name: String,
        field: &'static str,
        #[source]
        source: base64::DecodeError,
    },

    /// A certificate or key (inline or from a file) holds no PEM block.
    #[error("{field} of {kind} {name:?} does not contain PEM data")]
    NotPem {
        kind: &'static str,
        name: String,
        field: &'static str,
    },

    /// No context was asked for and `current-context` is empty.
    #[error("no context chosen: current-context is not set and no context name was given")]
    NoCurrentContext,

    /// The asked-for context does not exist.
    #[error("context was not found for specified context: {context}")]
    ContextNotFound { context: String },

    /// The context names no cluster.
    #[error("context {context:?} names no cluster")]
    ContextWithoutCluster { context: String },

    /// The context names a cluster that does not exist.
    #[error("cluster {cluster:?} was not found for context {context:?}")]
    ClusterNotFound { cluster: String, context: String },

    /// The context names a user that does not exist.
    #[error("user {user:?} was not found for context {context:?}")]
    UserNotFound { user: String, context: String },

    /// The cluster has no `server`.
    #[error("no server found for cluster {cluster:?}")]
    MissingServer { cluster: String },

    /// The cluster's `server` is not an http(s) URL.
    #[error("cluster {cluster:?}: server {server:?} is not a valid http(s) URL: {reason}")]
    InvalidServer {
        cluster: String,
        server: String,
        reason: String,
    },

    /// Both the inline and the file form of one setting are present.
    #[error("{data_field} and {file_field} are both specified for {kind} {name:?}")]
    BothDataAndFile {
        kind: &'static str,
        name: String,
        data_field: &'static str,
        file_field: &'static str,
    },

    /// A CA is given together with `insecure-skip-tls-verify: true`.
    #[error(
        "cluster {cluster:?}: specifying a root certificates file with the insecure flag is not allowed"
    )]
    InsecureWithCa { cluster: String },

    /// A client certificate without a key, or a key without a certificate.
    #[error("user {user:?}: {present} is set but {missing} is not")]
    IncompleteClientCertificate {
        user: String,
        present: &'static str,
        missing: &'static str,
    },

    /// A file the kubeconfig refers to could not be read.
    #[error("failed to read {field} {} of {kind} {name:?}: {source}", path.display())]
    ReferencedFile {
        kind: &'static str,
        name: String,
        field: &'static str,
        /// The path after resolving it against the kubeconfig's folder.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `tokenFile` exists but holds only white space.
    #[error("read empty token from file {}", path.display())]
    EmptyTokenFile { path: PathBuf },

    /// The user authenticates in a way this project does not implement.
    #[error("user {user:?}: authentication method {method} is not supported")]
    UnsupportedAuth { user: String, method: &'static str },

    /// The in-memory config could not be turned into YAML.
    #[error("failed to serialize kubeconfig: {message}")]
    Serialize { message: String },

    /// Writing the file (or its temporary sibling) failed.
    #[error("failed to write kubeconfig {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn origin(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => format!(" {}", path.display()),
        None => String::new(),
    }
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line} column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}
