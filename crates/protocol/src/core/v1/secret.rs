//! `Secret`: bootstrap tokens live in `kube-system` Secrets of type `bootstrap.kubernetes.io/token`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{API_VERSION, GROUP};
use crate::meta::ObjectMeta;
use crate::resource::{list_type, resource};
use crate::serde_helpers::{base64_map, null_as_default};

/// The user name prefix of a bootstrap token's user: `system:bootstrap:<token-id>`.
pub const BOOTSTRAP_TOKEN_USER_PREFIX: &str = "system:bootstrap:";

/// Our annotation on a bootstrap token Secret binding the token to one node name: the
/// controller-manager approves its bootstrap CSRs only for that node (decision 0020). Not
/// upstream's; a token without it works as upstream's.
pub const BOOTSTRAP_TOKEN_NODE_NAME_ANNOTATION: &str = "kubelet-tls-bootstrap/node-name";

/// Our annotation on a bootstrap token Secret: `"true"` makes the token single-use. The
/// controller-manager approves one client certificate with it, keeps it from expiring while
/// that node joins, and deletes it once the node is up (decision 0026).
pub const BOOTSTRAP_TOKEN_SINGLE_USE_ANNOTATION: &str = "kubelet-tls-bootstrap/single-use";

/// The `type` of a bootstrap token's Secret.
pub const BOOTSTRAP_TOKEN_SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct Secret {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(bool, optional, tag = "5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Values are raw bytes; base64 in JSON.
    #[prost(btree_map = "string, bytes", tag = "2")]
    #[serde(
        default,
        with = "base64_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub data: BTreeMap<String, Vec<u8>>,
    /// Write-only convenience: merged into `data` by the server, never returned.
    #[prost(btree_map = "string, string", tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub string_data: BTreeMap<String, String>,
    #[prost(string, tag = "3")]
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
}

list_type!(SecretList, Secret);

resource!(
    Secret,
    SecretList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "Secret",
    list_kind = "SecretList",
    plural = "secrets",
    namespaced = true
);

impl Secret {
    /// `data[key]` as text; empty when absent or not UTF-8.
    pub fn data_str(&self, key: &str) -> &str {
        self.data
            .get(key)
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or_default()
    }

    /// A bootstrap token's `expiration`: `None` when it has none, `Some(Err(text))` when it is
    /// no RFC 3339 time (the apiserver and tokencleaner treat that as expired).
    pub fn bootstrap_token_expiration(&self) -> Option<Result<time::OffsetDateTime, String>> {
        let text = self.data_str("expiration");
        (!text.is_empty()).then(|| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| text.to_string())
        })
    }

    /// Moves `stringData` into `data` (later keys win), as the apiserver does on write.
    pub fn merge_string_data(&mut self) {
        for (key, value) in std::mem::take(&mut self.string_data) {
            self.data.insert(key, value.into_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_base64_and_string_data_merges() {
        let json = r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"bootstrap-token-abcdef","namespace":"kube-system"},
            "data":{"token-id":"YWJjZGVm"},"stringData":{"token-secret":"0123456789abcdef"},
            "type":"bootstrap.kubernetes.io/token"}"#;
        let mut secret: Secret = serde_json::from_str(json).unwrap();
        assert_eq!(secret.data["token-id"], b"abcdef");
        assert_eq!(secret.data_str("token-id"), "abcdef");
        assert_eq!(secret.data_str("missing"), "");
        secret.merge_string_data();
        let out = serde_json::to_value(&secret).unwrap();
        assert_eq!(out["data"]["token-secret"], "MDEyMzQ1Njc4OWFiY2RlZg==");
        assert!(out.get("stringData").is_none());
    }
}
