//! `certificates.k8s.io/v1` CertificateSigningRequest (`certificates/v1/generated.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::meta::{ObjectMeta, Time};
use crate::resource::{list_type, resource};
use crate::serde_helpers::{base64_bytes, null_as_default};

pub const GROUP: &str = "certificates.k8s.io";
pub const API_VERSION: &str = "certificates.k8s.io/v1";

/// Condition types with built-in meaning.
pub const CONDITION_APPROVED: &str = "Approved";
pub const CONDITION_DENIED: &str = "Denied";
pub const CONDITION_FAILED: &str = "Failed";

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct CertificateSigningRequest {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: CertificateSigningRequestSpec,
    /// Written as `{}` when empty, as Go does for a non-pointer struct.
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub status: CertificateSigningRequestStatus,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSigningRequestSpec {
    /// PEM `CERTIFICATE REQUEST` text (base64 in JSON, as a Go `[]byte`).
    #[prost(bytes = "vec", tag = "1")]
    #[serde(default, with = "base64_bytes")]
    pub request: Vec<u8>,
    #[prost(string, tag = "7")]
    #[serde(default)]
    pub signer_name: String,
    #[prost(int32, optional, tag = "8")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i32>,
    /// Key usage strings (`digital signature`, `client auth`, ...).
    #[prost(string, repeated, tag = "5")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub usages: Vec<String>,
    /// Set by the server from the authenticated requester.
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[prost(string, repeated, tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
    #[prost(btree_map = "string, message", tag = "6")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra: BTreeMap<String, ExtraValue>,
}

/// A `[]string` value of `extra`; a message in protobuf, a plain array in JSON.
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExtraValue {
    #[prost(string, repeated, tag = "1")]
    pub items: Vec<String>,
}

impl From<Vec<String>> for ExtraValue {
    fn from(items: Vec<String>) -> Self {
        ExtraValue { items }
    }
}

impl From<ExtraValue> for Vec<String> {
    fn from(value: ExtraValue) -> Self {
        value.items
    }
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSigningRequestStatus {
    #[prost(message, repeated, tag = "1")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<CertificateSigningRequestCondition>,
    /// PEM `CERTIFICATE` block(s) once issued.
    #[prost(bytes = "vec", tag = "2")]
    #[serde(default, with = "base64_bytes", skip_serializing_if = "Vec::is_empty")]
    pub certificate: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSigningRequestCondition {
    /// `Approved`, `Denied`, `Failed` (other strings are allowed).
    #[prost(string, tag = "1")]
    #[serde(default, rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[prost(string, tag = "6")]
    #[serde(default)]
    pub status: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[prost(message, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    #[prost(message, optional, tag = "5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

list_type!(CertificateSigningRequestList, CertificateSigningRequest);

resource!(
    CertificateSigningRequest,
    CertificateSigningRequestList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "CertificateSigningRequest",
    list_kind = "CertificateSigningRequestList",
    plural = "certificatesigningrequests",
    namespaced = false
);

impl CertificateSigningRequest {
    /// The first condition of the given type, if any.
    pub fn condition(&self, type_: &str) -> Option<&CertificateSigningRequestCondition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }

    pub fn has_condition(&self, type_: &str) -> bool {
        self.condition(type_).is_some()
    }

    pub fn is_approved(&self) -> bool {
        self.has_condition(CONDITION_APPROVED)
    }

    pub fn is_denied(&self) -> bool {
        self.has_condition(CONDITION_DENIED)
    }

    /// A `Failed` condition whose status is `True` (or empty, as upstream counts it).
    pub fn is_failed(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.type_ == CONDITION_FAILED && (c.status == "True" || c.status.is_empty()))
    }

    pub fn is_issued(&self) -> bool {
        !self.status.certificate.is_empty()
    }

    /// `kubectl get csr`'s CONDITION column: `Pending`, `Approved,Issued`, `Denied`, ...
    pub fn condition_summary(&self) -> String {
        let mut summary = if self.is_denied() {
            "Denied".to_string()
        } else if self.is_approved() {
            "Approved".to_string()
        } else {
            "Pending".to_string()
        };
        if self.has_condition(CONDITION_FAILED) {
            summary.push_str(",Failed");
        }
        if self.is_issued() {
            summary.push_str(",Issued");
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = r#"{
      "kind": "CertificateSigningRequest",
      "apiVersion": "certificates.k8s.io/v1",
      "metadata": {"name": "node-csr-abc", "uid": "5f1c", "resourceVersion": "42",
                   "creationTimestamp": "2024-05-01T10:00:00Z"},
      "spec": {
        "request": "LS0tLS1CRUdJTg==",
        "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
        "expirationSeconds": 86400,
        "usages": ["digital signature", "client auth"],
        "username": "system:bootstrap:abcdef",
        "groups": ["system:bootstrappers", "system:authenticated"],
        "extra": {"scopes": ["a", "b"]}
      },
      "status": {
        "conditions": [{"type": "Approved", "status": "True", "reason": "AutoApproved",
                        "message": "ok", "lastUpdateTime": "2024-05-01T10:00:01Z",
                        "lastTransitionTime": "2024-05-01T10:00:01Z"}],
        "certificate": "Y2VydA=="
      }
    }"#;

    #[test]
    fn upstream_json_round_trips() {
        let csr: CertificateSigningRequest = serde_json::from_str(UPSTREAM).unwrap();
        assert_eq!(csr.spec.request, b"-----BEGIN");
        assert_eq!(csr.spec.expiration_seconds, Some(86400));
        assert_eq!(csr.spec.extra["scopes"].items, vec!["a", "b"]);
        assert_eq!(csr.status.certificate, b"cert");
        assert_eq!(csr.condition_summary(), "Approved,Issued");
        let back = serde_json::to_value(&csr).unwrap();
        let expected: serde_json::Value = serde_json::from_str(UPSTREAM).unwrap();
        assert_eq!(back, expected);
    }

    #[test]
    fn fresh_status_is_empty_object() {
        let csr = CertificateSigningRequest::default();
        let json = serde_json::to_value(&csr).unwrap();
        assert_eq!(json["status"], serde_json::json!({}));
        assert_eq!(json["spec"]["request"], "");
        assert!(json["spec"].get("expirationSeconds").is_none());
    }

    #[test]
    fn bad_base64_is_an_error() {
        let bad = r#"{"spec":{"request":"!!!","signerName":"x"}}"#;
        let err = serde_json::from_str::<CertificateSigningRequest>(bad).unwrap_err();
        assert!(err.to_string().contains("illegal base64"), "{err}");
    }
}
