//! `authorization.k8s.io/v1` access reviews (`authorization/v1/generated.proto`). Create-only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::resource::resource;
use crate::serde_helpers::{is_false, null_as_default};

pub use crate::certificates::v1::ExtraValue;

pub const GROUP: &str = "authorization.k8s.io";
pub const API_VERSION: &str = "authorization.k8s.io/v1";

/// "Can user U do X?" asked by a component (the csrapproving controller).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct SubjectAccessReview {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: SubjectAccessReviewSpec,
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub status: SubjectAccessReviewStatus,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewSpec {
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<ResourceAttributes>,
    #[prost(message, optional, tag = "2")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[prost(string, repeated, tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
    #[prost(btree_map = "string, message", tag = "5")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra: BTreeMap<String, ExtraValue>,
    #[prost(string, tag = "6")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewStatus {
    /// Always written (no omitempty upstream).
    #[prost(bool, tag = "1")]
    #[serde(default)]
    pub allowed: bool,
    #[prost(bool, tag = "4")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub denied: bool,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evaluation_error: String,
}

/// "Can I do X?" (`kubectl auth can-i`): the server fills in the caller.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct SelfSubjectAccessReview {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: SelfSubjectAccessReviewSpec,
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub status: SubjectAccessReviewStatus,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfSubjectAccessReviewSpec {
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<ResourceAttributes>,
    #[prost(message, optional, tag = "2")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[prost(string, tag = "5")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[prost(string, tag = "6")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    #[prost(string, tag = "7")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[prost(message, optional, tag = "8")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<SelectorAttributes>,
    #[prost(message, optional, tag = "9")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<SelectorAttributes>,
}

/// Field/label selector of a list or watch review (upstream has two identical messages).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectorAttributes {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub raw_selector: String,
    #[prost(message, repeated, tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub requirements: Vec<crate::meta::LabelSelectorRequirement>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonResourceAttributes {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
}

/// "What may I do in this namespace?" (`kubectl auth can-i --list`): the server lists the
/// caller's rules as its authorizers know them.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct SelfSubjectRulesReview {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: SelfSubjectRulesReviewSpec,
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub status: SubjectRulesReviewStatus,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfSubjectRulesReviewSpec {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectRulesReviewStatus {
    /// Always written, even when empty (no omitempty upstream).
    #[prost(message, repeated, tag = "1")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub resource_rules: Vec<ResourceRule>,
    #[prost(message, repeated, tag = "2")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub non_resource_rules: Vec<NonResourceRule>,
    /// True when an authorizer cannot list everything it would allow.
    #[prost(bool, tag = "3")]
    #[serde(default)]
    pub incomplete: bool,
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evaluation_error: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRule {
    #[prost(string, repeated, tag = "1")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub verbs: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub api_groups: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resource_names: Vec<String>,
}

#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonResourceRule {
    #[prost(string, repeated, tag = "1")]
    #[serde(default, deserialize_with = "null_as_default")]
    pub verbs: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    #[serde(
        default,
        rename = "nonResourceURLs",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub non_resource_urls: Vec<String>,
}

resource!(
    SelfSubjectRulesReview,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "SelfSubjectRulesReview",
    plural = "selfsubjectrulesreviews",
    namespaced = false
);
resource!(
    SubjectAccessReview,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "SubjectAccessReview",
    plural = "subjectaccessreviews",
    namespaced = false
);
resource!(
    SelfSubjectAccessReview,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "SelfSubjectAccessReview",
    plural = "selfsubjectaccessreviews",
    namespaced = false
);
