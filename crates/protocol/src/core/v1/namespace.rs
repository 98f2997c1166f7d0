//! `Namespace`.

use serde::{Deserialize, Serialize};

use super::{API_VERSION, GROUP};
use crate::meta::{ObjectMeta, Time};
use crate::resource::{list_type, resource};
use crate::serde_helpers::null_as_default;

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct Namespace {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: NamespaceSpec,
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub status: NamespaceStatus,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSpec {
    #[prost(string, repeated, tag = "1")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    /// `Active` or `Terminating`.
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[prost(message, repeated, tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<NamespaceCondition>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceCondition {
    #[prost(string, tag = "1")]
    #[serde(default, rename = "type")]
    pub type_: String,
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub status: String,
    #[prost(message, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[prost(string, tag = "5")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(string, tag = "6")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

list_type!(NamespaceList, Namespace);

resource!(
    Namespace,
    NamespaceList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "Namespace",
    list_kind = "NamespaceList",
    plural = "namespaces",
    namespaced = false
);
