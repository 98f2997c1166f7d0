//! `revocation.kubelet-tls-bootstrap.io/v1alpha1` CertificateRevocation: client certificates
//! the apiserver no longer accepts, by serial number or by user and issue time. Kubernetes has
//! no revocation (kubernetes#60917); this group is ours, so its protobuf tags are ours too.

use serde::{Deserialize, Serialize};

use crate::meta::{ObjectMeta, Time};
use crate::resource::{list_type, resource};
use crate::serde_helpers::null_as_default;

pub const GROUP: &str = "revocation.kubelet-tls-bootstrap.io";
pub const API_VERSION: &str = "revocation.kubelet-tls-bootstrap.io/v1alpha1";

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct CertificateRevocation {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: CertificateRevocationSpec,
}

/// What is revoked: the certificates with these serial numbers, and every certificate of
/// `user` whose validity starts no later than `issuedBefore`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRevocationSpec {
    /// Serial numbers in hex (`openssl x509 -serial` prints them); stored as lowercase hex
    /// without separators or leading zeros.
    #[prost(string, repeated, tag = "1")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub serial_numbers: Vec<String>,
    /// A user name as the client certificate's CN carries it (`system:node:node-1`).
    #[prost(string, optional, tag = "2")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// With `user`: certificates whose NotBefore is not later are revoked. Defaults to the
    /// revocation's creation time.
    #[prost(message, optional, tag = "3")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_before: Option<Time>,
    /// Free text for the operator (`keyCompromise`, a ticket number, ...).
    #[prost(string, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

list_type!(CertificateRevocationList, CertificateRevocation);

resource!(
    CertificateRevocation,
    CertificateRevocationList,
    group = GROUP,
    version = "v1alpha1",
    api_version = API_VERSION,
    kind = "CertificateRevocation",
    list_kind = "CertificateRevocationList",
    plural = "certificaterevocations",
    namespaced = false
);

/// A serial number in the stored form: lowercase hex, no `:`/spaces, no leading zero bytes
/// (`00` for zero). `None` when `text` is not hex or is longer than RFC 5280's 20 octets.
pub fn normalize_serial(text: &str) -> Option<String> {
    let digits: String = text
        .trim()
        .chars()
        .filter(|c| *c != ':' && *c != ' ')
        .collect();
    let digits = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
        .unwrap_or(&digits);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let lower = digits.to_ascii_lowercase();
    let trimmed = lower.trim_start_matches('0');
    // Pad to whole bytes, as a DER INTEGER's content is, then compare byte counts.
    let even = if trimmed.len() % 2 == 1 {
        format!("0{trimmed}")
    } else {
        trimmed.to_string()
    };
    if even.len() > 40 {
        return None;
    }
    Some(if even.is_empty() {
        "00".to_string()
    } else {
        even
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn revocation_round_trips_json_and_protobuf() {
        let json = r#"{"kind":"CertificateRevocation",
          "apiVersion":"revocation.kubelet-tls-bootstrap.io/v1alpha1",
          "metadata":{"name":"node-1-compromised"},
          "spec":{"serialNumbers":["4f2a"],"user":"system:node:node-1",
                  "issuedBefore":"2026-11-28T03:00:00Z","reason":"keyCompromise"}}"#;
        let revocation: CertificateRevocation = serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::to_value(&revocation).unwrap(),
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
        let back = CertificateRevocation::decode(revocation.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, revocation);
    }

    #[test]
    fn serials_are_stored_in_one_form() {
        // openssl x509 -serial prints uppercase; openssl x509 -text prints colon-separated.
        assert_eq!(normalize_serial("4F2A").as_deref(), Some("4f2a"));
        assert_eq!(normalize_serial("00:4f:2a").as_deref(), Some("4f2a"));
        assert_eq!(normalize_serial("0x0abc").as_deref(), Some("0abc"));
        assert_eq!(normalize_serial("000").as_deref(), Some("00"));
        assert_eq!(
            normalize_serial(&"ab".repeat(20)).map(|s| s.len()),
            Some(40)
        );
        assert_eq!(normalize_serial(&"ab".repeat(21)), None);
        assert_eq!(normalize_serial("xyz"), None);
        assert_eq!(normalize_serial(""), None);
        assert_eq!(normalize_serial("::"), None);
    }
}
