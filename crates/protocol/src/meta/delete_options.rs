//! `DeleteOptions` (the optional body of a DELETE) and `WatchEvent`.

use serde::{Deserialize, Serialize};

use super::Status;
use crate::resource::typed_json;
use crate::serde_helpers::null_as_default;

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct DeleteOptions {
    #[prost(int64, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    #[prost(message, optional, tag = "2")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preconditions: Option<Preconditions>,
    #[prost(bool, optional, tag = "3")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphan_dependents: Option<bool>,
    /// `Orphan`, `Background` or `Foreground`.
    #[prost(string, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation_policy: Option<String>,
    #[prost(string, repeated, tag = "5")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dry_run: Vec<String>,
    #[prost(bool, optional, tag = "6")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_store_read_error_with_cluster_breaking_potential: Option<bool>,
}

typed_json!(serde_only DeleteOptions, "meta.k8s.io/v1", "DeleteOptions");

/// Must-match conditions of a delete.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    #[prost(string, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[prost(string, optional, tag = "2")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// One line of a `?watch=true` stream: `{"type":"ADDED","object":{...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    #[serde(rename = "type")]
    pub type_: String,
    pub object: serde_json::Value,
}

impl WatchEvent {
    pub fn added(object: serde_json::Value) -> Self {
        WatchEvent {
            type_: "ADDED".into(),
            object,
        }
    }

    pub fn modified(object: serde_json::Value) -> Self {
        WatchEvent {
            type_: "MODIFIED".into(),
            object,
        }
    }

    pub fn deleted(object: serde_json::Value) -> Self {
        WatchEvent {
            type_: "DELETED".into(),
            object,
        }
    }

    /// A bookmark: only `kind`, `apiVersion` and `metadata.resourceVersion` of the watched kind.
    pub fn bookmark(api_version: &str, kind: &str, resource_version: u64) -> Self {
        let object = serde_json::json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": resource_version.to_string()}
        });
        WatchEvent {
            type_: "BOOKMARK".into(),
            object,
        }
    }

    /// An `ERROR` event carrying a Status (e.g. 410 Expired).
    pub fn error(status: &Status) -> Self {
        let object = serde_json::to_value(status).unwrap_or(serde_json::Value::Null);
        WatchEvent {
            type_: "ERROR".into(),
            object,
        }
    }
}
