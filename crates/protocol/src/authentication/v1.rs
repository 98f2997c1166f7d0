//! `authentication.k8s.io/v1` (`authentication/v1/generated.proto`): SelfSubjectReview
//! (`kubectl auth whoami`; the server answers with the caller's user info) and TokenReview
//! (a component asks who a bearer token belongs to: delegated authentication). Both are
//! create-only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;
use crate::resource::resource;
use crate::serde_helpers::null_as_default;

pub use crate::certificates::v1::ExtraValue;

pub const GROUP: &str = "authentication.k8s.io";
pub const API_VERSION: &str = "authentication.k8s.io/v1";

/// The user extra kube-apiserver (1.32+) fills with the credential's ID; for a client
/// certificate `X509SHA256=<hex of the SHA-256 of its DER>`.
pub const CREDENTIAL_ID_EXTRA: &str = "authentication.kubernetes.io/credential-id";

/// Ours (decision 0027): the group of a client certificate presented after its NotAfter but
/// within the apiserver's `--client-certificate-max-offline-window`. It is the only group
/// such a certificate gets, so it can do what RBAC grants this group and nothing else.
pub const EXPIRED_CLIENT_CERTIFICATE_GROUP: &str =
    "kubelet-tls-bootstrap:expired-client-certificates";
/// Ours: such a certificate's user name is this prefix followed by its subject CN.
pub const EXPIRED_CLIENT_CERTIFICATE_USER_PREFIX: &str = "kubelet-tls-bootstrap:expired:";

/// "Who am I?": the request carries nothing; the answer is the authenticated (or
/// impersonated) user.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct SelfSubjectReview {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub status: SelfSubjectReviewStatus,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfSubjectReviewStatus {
    #[prost(message, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info: Option<UserInfo>,
}

/// The user as the authenticators (and impersonation) established it.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[prost(string, repeated, tag = "3")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
    #[prost(btree_map = "string, message", tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extra: BTreeMap<String, ExtraValue>,
}

/// "Whose token is this?", asked by a component that delegates authentication to the
/// apiserver (a controller-manager's or kubelet's secure port).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct TokenReview {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: TokenReviewSpec,
    #[prost(message, required, tag = "3")]
    #[serde(default)]
    pub status: TokenReviewStatus,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewSpec {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    #[prost(string, repeated, tag = "2")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub audiences: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewStatus {
    #[prost(bool, tag = "1")]
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authenticated: bool,
    /// Written even when empty, as upstream (a struct, not a pointer).
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub user: UserInfo,
    #[prost(string, repeated, tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub audiences: Vec<String>,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

resource!(
    TokenReview,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "TokenReview",
    plural = "tokenreviews",
    namespaced = false
);

resource!(
    SelfSubjectReview,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "SelfSubjectReview",
    plural = "selfsubjectreviews",
    namespaced = false
);

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn json_is_what_kubectl_reads() {
        let mut review = SelfSubjectReview::default();
        review.status.user_info = Some(UserInfo {
            username: "system:node:a".into(),
            groups: vec!["system:nodes".into(), "system:authenticated".into()],
            extra: BTreeMap::from([("k".to_string(), vec!["v".to_string()].into())]),
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_value(&review).unwrap(),
            serde_json::json!({
                "kind": "SelfSubjectReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {},
                "status": {"userInfo": {
                    "username": "system:node:a",
                    "groups": ["system:nodes", "system:authenticated"],
                    "extra": {"k": ["v"]}
                }}
            })
        );
    }

    #[test]
    fn token_review_json_and_protobuf_are_upstreams() {
        let asked: TokenReview = serde_json::from_value(serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": "abc", "audiences": null}
        }))
        .unwrap();
        assert_eq!(asked.spec.token, "abc");
        let mut answer = asked.clone();
        answer.status.authenticated = true;
        answer.status.user.username = "u".into();
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(json["status"]["authenticated"], true);
        assert_eq!(json["status"]["user"]["username"], "u");
        let refused = serde_json::to_value(&asked).unwrap();
        assert_eq!(refused["status"], serde_json::json!({"user": {}}));
        // spec(2) { token(1) "t" }, status(3) { authenticated(1) true, user(2) {}, error(3) "e" }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: "t".into(),
                ..Default::default()
            },
            status: TokenReviewStatus {
                authenticated: true,
                error: "e".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let bytes = review.encode_to_vec();
        assert_eq!(
            bytes,
            [
                0x0a, 0x00, 0x12, 0x03, 0x0a, 0x01, b't', 0x1a, 0x07, 0x08, 0x01, 0x12, 0x00, 0x1a,
                0x01, b'e'
            ]
        );
        assert_eq!(TokenReview::decode(bytes.as_slice()).unwrap(), review);
    }

    #[test]
    fn protobuf_field_numbers_are_upstreams() {
        // status(2) { userInfo(1) { username(1) "u", groups(3) "g" } }
        let review = SelfSubjectReview {
            status: SelfSubjectReviewStatus {
                user_info: Some(UserInfo {
                    username: "u".into(),
                    groups: vec!["g".into()],
                    ..Default::default()
                }),
            },
            ..Default::default()
        };
        let bytes = review.encode_to_vec();
        assert_eq!(
            bytes,
            [
                0x0a, 0x00, 0x12, 0x08, 0x0a, 0x06, 0x0a, 0x01, b'u', 0x1a, 0x01, b'g'
            ]
        );
        assert_eq!(SelfSubjectReview::decode(bytes.as_slice()).unwrap(), review);
    }
}
