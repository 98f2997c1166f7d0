//! The kubeconfig file as kubectl writes it (client-go `clientcmd/api/v1`), field for field.
//!
//! Fields are declared in alphabetical order of their YAML names because kubectl writes
//! them that way (Go marshals to JSON, then to YAML through a sorted map); our output then
//! reads like kubectl's. Fields this project does not interpret (exec, auth-provider,
//! extensions, ...) land in `extra` and are written back unchanged.
//! Values are `serde_json::Value` on purpose: kubectl reads YAML by converting it to JSON,
//! so anything that is not JSON-representable is not a valid kubeconfig anyway, and the
//! public API does not depend on the YAML crate.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Fields of an object that this crate does not model, kept for the round trip.
pub type Extra = BTreeMap<String, Value>;

/// A whole kubeconfig file (`apiVersion: v1`, `kind: Config`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub contexts: Vec<NamedContext>,
    #[serde(
        rename = "current-context",
        default,
        deserialize_with = "null_as_default"
    )]
    pub current_context: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default = "empty_object", deserialize_with = "null_as_empty_object")]
    pub preferences: Value,
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<NamedUser>,
    #[serde(flatten)]
    pub extra: Extra,
    /// Folder that relative paths in this file are resolved against (the file's own folder).
    #[serde(skip)]
    pub(crate) base_dir: PathBuf,
}

/// One entry of `clusters`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub cluster: Cluster,
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// How to reach and trust one API server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Path of a CA bundle file, relative to the kubeconfig's folder unless absolute.
    #[serde(
        rename = "certificate-authority",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority: Option<String>,
    /// Base64 of the CA bundle PEM, exactly as written in the file.
    #[serde(
        rename = "certificate-authority-data",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_authority_data: Option<String>,
    #[serde(
        rename = "insecure-skip-tls-verify",
        skip_serializing_if = "Option::is_none"
    )]
    pub insecure_skip_tls_verify: Option<bool>,
    #[serde(rename = "proxy-url", skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(rename = "tls-server-name", skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `users`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: User,
    #[serde(flatten)]
    pub extra: Extra,
}

/// How to authenticate (client-go `AuthInfo`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    #[serde(rename = "client-certificate", skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// Base64 of the certificate PEM, exactly as written in the file.
    #[serde(
        rename = "client-certificate-data",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate_data: Option<String>,
    #[serde(rename = "client-key", skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// Base64 of the private key PEM, exactly as written in the file.
    #[serde(rename = "client-key-data", skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// kubectl spells this one in camelCase.
    #[serde(rename = "tokenFile", skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of `contexts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    pub context: Context,
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A (cluster, user, namespace) triple.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// kubectl writes `user: ""` for a context without credentials, so no skip here.
    #[serde(default)]
    pub user: String,
    #[serde(flatten)]
    pub extra: Extra,
}

// Credentials must not end up in logs through `{:?}`.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("User")
            .field("client_certificate", &self.client_certificate)
            .field(
                "client_certificate_data",
                &self.client_certificate_data.as_ref().map(|d| d.len()),
            )
            .field("client_key", &self.client_key)
            .field("client_key_data", &redacted(&self.client_key_data))
            .field("password", &redacted(&self.password))
            .field("token", &redacted(&self.token))
            .field("token_file", &self.token_file)
            .field("username", &self.username)
            .field("extra_keys", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for Kubeconfig {
    fn default() -> Self {
        Kubeconfig {
            api_version: crate::API_VERSION.to_owned(),
            clusters: Vec::new(),
            contexts: Vec::new(),
            current_context: String::new(),
            kind: crate::KIND.to_owned(),
            preferences: empty_object(),
            users: Vec::new(),
            extra: Extra::new(),
            base_dir: PathBuf::new(),
        }
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// kubectl writes `contexts: null` and similar for empty lists.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn null_as_empty_object<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
    Ok(Option::<Value>::deserialize(deserializer)?.unwrap_or_else(empty_object))
}
