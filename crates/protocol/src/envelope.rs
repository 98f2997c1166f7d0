//! The Kubernetes protobuf envelope (`application/vnd.kubernetes.protobuf`):
//! the magic bytes `k8s\0`, then a `runtime.Unknown` message whose `raw` field holds the
//! object's own protobuf encoding (`pkg/runtime/generated.proto`).

use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::resource::Typed;

/// Media type of protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The 4 bytes every envelope starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The body does not start with `k8s\0`.
    #[error("failed to decode protobuf body: missing the k8s\\0 envelope prefix")]
    MissingMagic,
    /// The envelope or the object inside it is not valid protobuf for its message.
    #[error("failed to decode protobuf {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: prost::DecodeError,
    },
    /// The envelope names another kind than the one expected at this URL.
    #[error(
        "the body is {found_api_version}, Kind={found_kind} but {expected_api_version}, Kind={expected_kind} was expected"
    )]
    WrongKind {
        expected_api_version: &'static str,
        expected_kind: &'static str,
        found_api_version: String,
        found_kind: String,
    },
    /// `contentEncoding` is set (upstream never sets it for requests; we do not guess).
    #[error("unsupported protobuf content encoding {0:?}")]
    UnsupportedEncoding(String),
    /// Converting the decoded object through its JSON form failed.
    #[error("failed to normalize decoded object: {0}")]
    Json(#[from] serde_json::Error),
}

/// `runtime.TypeMeta` (note: apiVersion = 1, kind = 2, unlike meta/v1.TypeMeta).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TypeMeta {
    #[prost(string, tag = "1")]
    pub api_version: String,
    #[prost(string, tag = "2")]
    pub kind: String,
}

/// `runtime.Unknown`: the envelope message.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Unknown {
    #[prost(message, required, tag = "1")]
    pub type_meta: TypeMeta,
    #[prost(bytes = "vec", tag = "2")]
    pub raw: Vec<u8>,
    #[prost(string, tag = "3")]
    pub content_encoding: String,
    #[prost(string, tag = "4")]
    pub content_type: String,
}

/// Reads the envelope without interpreting `raw` (to route on apiVersion/kind first).
pub fn decode_unknown(body: &[u8]) -> Result<Unknown, ProtocolError> {
    let inner = body
        .strip_prefix(MAGIC.as_slice())
        .ok_or(ProtocolError::MissingMagic)?;
    let unknown = Unknown::decode(inner).map_err(|source| ProtocolError::Decode {
        what: "envelope",
        source,
    })?;
    if !unknown.content_encoding.is_empty() {
        return Err(ProtocolError::UnsupportedEncoding(unknown.content_encoding));
    }
    Ok(unknown)
}

/// Decodes an enveloped object of type `T`, checking its apiVersion and kind.
///
/// Zero timestamps (empty Time messages, as Go writes them) come back as `None`.
pub fn decode<T>(body: &[u8]) -> Result<T, ProtocolError>
where
    T: Message + Default + Typed + Serialize + DeserializeOwned,
{
    let unknown = decode_unknown(body)?;
    let type_meta = &unknown.type_meta;
    if type_meta.kind != T::KIND || !T::accepts_api_version(&type_meta.api_version) {
        return Err(ProtocolError::WrongKind {
            expected_api_version: T::API_VERSION,
            expected_kind: T::KIND,
            found_api_version: type_meta.api_version.clone(),
            found_kind: type_meta.kind.clone(),
        });
    }
    let object = T::decode(unknown.raw.as_slice()).map_err(|source| ProtocolError::Decode {
        what: T::KIND,
        source,
    })?;
    normalize(object)
}

/// Encodes `object` in the envelope with its own apiVersion and kind.
pub fn encode<T: Message + Typed>(object: &T) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: TypeMeta {
            api_version: T::API_VERSION.to_string(),
            kind: T::KIND.to_string(),
        },
        raw: object.encode_to_vec(),
        content_encoding: String::new(),
        content_type: String::new(),
    };
    let mut out = Vec::with_capacity(MAGIC.len() + unknown.encoded_len());
    out.extend_from_slice(MAGIC);
    unknown
        .encode(&mut out)
        .unwrap_or_else(|_| unreachable!("a Vec grows as needed"));
    out
}

/// Turns `Some(zero time)` into `None` by passing through JSON, where a zero time is `null`.
/// One generic step instead of a hand-written walk over every struct with a timestamp.
fn normalize<T: Serialize + DeserializeOwned>(object: T) -> Result<T, ProtocolError> {
    let value = serde_json::to_value(&object)?;
    Ok(serde_json::from_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
    use crate::meta::{ObjectMeta, Time};
    use crate::rbac::v1::ClusterRoleBinding;

    #[test]
    fn round_trip_keeps_fields() {
        let mut csr = CertificateSigningRequest {
            metadata: ObjectMeta::named("a"),
            ..Default::default()
        };
        csr.spec.signer_name = "kubernetes.io/kube-apiserver-client-kubelet".into();
        csr.status
            .conditions
            .push(CertificateSigningRequestCondition {
                type_: "Approved".into(),
                status: "True".into(),
                last_update_time: Some(Time::parse("2024-05-01T10:00:00Z").unwrap()),
                last_transition_time: Some(Time::zero()),
                ..Default::default()
            });
        let bytes = encode(&csr);
        assert!(bytes.starts_with(b"k8s\0"));
        let back: CertificateSigningRequest = decode(&bytes).unwrap();
        assert_eq!(back.metadata.name, "a");
        assert_eq!(
            back.status.conditions[0].last_update_time,
            csr.status.conditions[0].last_update_time
        );
        // A zero time was sent as an empty message and comes back as absent.
        assert_eq!(back.status.conditions[0].last_transition_time, None);
    }

    #[test]
    fn wrong_kind_is_rejected() {
        let bytes = encode(&CertificateSigningRequest::default());
        let err = decode::<ClusterRoleBinding>(&bytes).unwrap_err();
        assert!(matches!(err, ProtocolError::WrongKind { .. }), "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            decode_unknown(b"{}"),
            Err(ProtocolError::MissingMagic)
        ));
        for body in [
            &b"k8s\0\x0a\xff\xff"[..],
            b"k8s\0\x0a\x02\x0a",
            b"k8s\0\xff",
        ] {
            assert!(decode::<CertificateSigningRequest>(body).is_err());
        }
        // Valid envelope, truncated object.
        let mut bytes = encode(&CertificateSigningRequest {
            metadata: ObjectMeta::named("abc"),
            ..Default::default()
        });
        let last = bytes.len() - 1;
        bytes.truncate(last);
        assert!(decode::<CertificateSigningRequest>(&bytes).is_err());
    }
}
