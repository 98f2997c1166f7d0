//! Bootstrap tokens (`--enable-bootstrap-token-auth`): `<id>.<secret>` bearer tokens backed by
//! Secrets `kube-system/bootstrap-token-<id>`, checked as upstream's `bootstrap.go` does. The
//! Secrets come from an in-memory cache kept current by a store watch (see `caches.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use rbac::UserInfo;
use rbac::user::SYSTEM_BOOTSTRAPPERS;
use serde_json::Value;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Namespace of bootstrap token Secrets.
pub const SECRET_NAMESPACE: &str = "kube-system";
/// Secret name prefix; the token id follows.
pub const SECRET_NAME_PREFIX: &str = "bootstrap-token-";
/// The Secret type a bootstrap token Secret must have.
pub const SECRET_TYPE: &str = protocol::core::v1::BOOTSTRAP_TOKEN_SECRET_TYPE;
/// Username prefix of bootstrap token users.
pub use protocol::core::v1::BOOTSTRAP_TOKEN_USER_PREFIX as USER_PREFIX;

const TOKEN_ID_KEY: &str = "token-id";
const TOKEN_SECRET_KEY: &str = "token-secret";
const EXPIRATION_KEY: &str = "expiration";
const USAGE_AUTHENTICATION_KEY: &str = "usage-bootstrap-authentication";
const EXTRA_GROUPS_KEY: &str = "auth-extra-groups";

/// The parts of a bootstrap token Secret authentication needs, decoded once when the cache
/// sees the Secret.
#[derive(Clone)]
pub struct BootstrapSecret {
    /// `metadata.name`.
    pub name: String,
    being_deleted: bool,
    secret_type: String,
    /// `data` (base64-decoded) or, if a writer left it, `stringData`.
    data: Option<BTreeMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for BootstrapSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token secret must not reach logs.
        f.debug_struct("BootstrapSecret")
            .field("name", &self.name)
            .field("type", &self.secret_type)
            .finish_non_exhaustive()
    }
}

impl BootstrapSecret {
    /// Reads a Secret object; `None` when it is not a `bootstrap-token-*` Secret at all.
    pub fn from_object(object: &Value) -> Option<BootstrapSecret> {
        let metadata = object.get("metadata")?;
        let name = metadata.get("name")?.as_str()?;
        if !name.starts_with(SECRET_NAME_PREFIX) {
            return None;
        }
        let being_deleted = metadata
            .get("deletionTimestamp")
            .is_some_and(|t| !t.is_null());
        let secret_type = object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let data = match (object.get("data"), object.get("stringData")) {
            (Some(Value::Object(map)), _) => Some(
                map.iter()
                    .filter_map(|(k, v)| {
                        let decoded = base64::engine::general_purpose::STANDARD
                            .decode(v.as_str()?)
                            .ok()?;
                        Some((k.clone(), decoded))
                    })
                    .collect(),
            ),
            (_, Some(Value::Object(map))) => Some(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.as_bytes().to_vec())))
                    .collect(),
            ),
            _ => None,
        };
        Some(BootstrapSecret {
            name: name.to_string(),
            being_deleted,
            secret_type,
            data,
        })
    }

    fn value(&self, key: &str) -> Option<&[u8]> {
        self.data.as_ref()?.get(key).map(Vec::as_slice)
    }

    fn string(&self, key: &str) -> &str {
        self.value(key)
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("")
    }
}

/// Why a bootstrap token did not authenticate (logged; the client only sees 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapRejection {
    #[error("not a bootstrap token (format <6 of [a-z0-9]>.<16 of [a-z0-9]>)")]
    NotBootstrapFormat,
    #[error("unknown bootstrap token id {0:?}: no secret kube-system/bootstrap-token-{0}")]
    UnknownTokenId(String),
    #[error("bootstrap token secret kube-system/{0} is being deleted")]
    BeingDeleted(String),
    #[error("bootstrap token secret kube-system/{0} has the wrong type or no data")]
    WrongType(String),
    #[error("bootstrap token secret kube-system/{0} does not match the token")]
    SecretMismatch(String),
    #[error("bootstrap token secret kube-system/{0} has a different token-id")]
    TokenIdMismatch(String),
    #[error("bootstrap token {0} expired at {1}")]
    Expired(String, String),
    #[error("bootstrap token {0} has an unparseable expiration {1:?}, treated as expired")]
    BadExpiration(String, String),
    #[error(
        "bootstrap token {0} is not marked for authentication (usage-bootstrap-authentication is not \"true\")"
    )]
    NotForAuthentication(String),
    #[error("bootstrap token {0} has an invalid extra group {1:?}")]
    InvalidExtraGroup(String, String),
}

impl BootstrapRejection {
    /// A short label for the authentication-failure metric.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            BootstrapRejection::NotBootstrapFormat => "token_unknown",
            BootstrapRejection::UnknownTokenId(_) => "bootstrap_token_unknown_id",
            BootstrapRejection::Expired(..) | BootstrapRejection::BadExpiration(..) => {
                "bootstrap_token_expired"
            }
            BootstrapRejection::SecretMismatch(_) | BootstrapRejection::TokenIdMismatch(_) => {
                "bootstrap_token_mismatch"
            }
            _ => "bootstrap_token_invalid",
        }
    }
}

/// Splits `<id>.<secret>` if the token has the bootstrap token shape.
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let valid = |part: &str, len: usize| {
        part.len() == len
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (valid(id, 6) && valid(secret, 16)).then_some((id, secret))
}

/// Authenticates `token` against the Secret `lookup` finds by name, at `now`.
pub fn authenticate(
    token: &str,
    lookup: impl FnOnce(&str) -> Option<Arc<BootstrapSecret>>,
    now: OffsetDateTime,
) -> Result<UserInfo, BootstrapRejection> {
    let (id, secret_part) = parse_token(token).ok_or(BootstrapRejection::NotBootstrapFormat)?;
    let secret_name = format!("{SECRET_NAME_PREFIX}{id}");
    let secret =
        lookup(&secret_name).ok_or_else(|| BootstrapRejection::UnknownTokenId(id.to_string()))?;
    if secret.being_deleted {
        return Err(BootstrapRejection::BeingDeleted(secret_name));
    }
    if secret.secret_type != SECRET_TYPE || secret.data.is_none() {
        return Err(BootstrapRejection::WrongType(secret_name));
    }
    let stored_secret = secret.value(TOKEN_SECRET_KEY).unwrap_or_default();
    if !bool::from(stored_secret.ct_eq(secret_part.as_bytes())) {
        return Err(BootstrapRejection::SecretMismatch(secret_name));
    }
    if secret.string(TOKEN_ID_KEY) != id {
        return Err(BootstrapRejection::TokenIdMismatch(secret_name));
    }
    let expiration = secret.string(EXPIRATION_KEY);
    if !expiration.is_empty() {
        match OffsetDateTime::parse(expiration, &Rfc3339) {
            Ok(at) if at <= now => {
                return Err(BootstrapRejection::Expired(
                    id.to_string(),
                    expiration.to_string(),
                ));
            }
            Ok(_) => {}
            Err(_) => {
                return Err(BootstrapRejection::BadExpiration(
                    id.to_string(),
                    expiration.to_string(),
                ));
            }
        }
    }
    if secret.string(USAGE_AUTHENTICATION_KEY) != "true" {
        return Err(BootstrapRejection::NotForAuthentication(id.to_string()));
    }
    let mut groups = vec![SYSTEM_BOOTSTRAPPERS.to_string()];
    let extra = secret.string(EXTRA_GROUPS_KEY);
    if !extra.is_empty() {
        for group in extra.split(',') {
            if !is_valid_bootstrap_group(group) {
                return Err(BootstrapRejection::InvalidExtraGroup(
                    id.to_string(),
                    group.to_string(),
                ));
            }
            groups.push(group.to_string());
        }
    }
    // Upstream returns the groups as a sorted set.
    groups.sort();
    groups.dedup();
    Ok(UserInfo::new(format!("{USER_PREFIX}{id}"), groups))
}

/// `\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z`.
pub fn is_valid_bootstrap_group(group: &str) -> bool {
    let Some(rest) = group.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    let Some(last) = rest.bytes().last() else {
        return false;
    };
    rest.len() <= 256
        && (last.is_ascii_lowercase() || last.is_ascii_digit())
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn secret<K: AsRef<str>, V: AsRef<str>>(data: &[(K, V)]) -> Value {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.as_ref().to_string(), Value::String(b64(v.as_ref()))))
            .collect();
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
            "type": SECRET_TYPE,
            "data": data,
        })
    }

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("usage-bootstrap-authentication", "true"),
            ("expiration", "2999-01-01T00:00:00Z"),
            (
                "auth-extra-groups",
                "system:bootstrappers:kubeadm:default-node-token",
            ),
        ]
    }

    fn auth(object: Value, token: &str) -> Result<UserInfo, BootstrapRejection> {
        let parsed = BootstrapSecret::from_object(&object).map(Arc::new);
        authenticate(
            token,
            |name| parsed.filter(|s| s.name == name),
            OffsetDateTime::now_utc(),
        )
    }

    const TOKEN: &str = "abcdef.0123456789abcdef";

    #[test]
    fn valid_token_authenticates_with_sorted_groups() {
        let user = auth(secret(&valid()), TOKEN).expect("valid token");
        assert_eq!(user.name, "system:bootstrap:abcdef");
        assert_eq!(user.uid, "");
        assert_eq!(
            user.groups,
            vec![
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token"
            ]
        );
    }

    #[test]
    fn rejections() {
        // The valid Secret with `key` replaced by `value` ("" removes it).
        let with = |key: &str, value: &str| {
            let mut data: Vec<(String, String)> = valid()
                .into_iter()
                .filter(|(k, _)| *k != key)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if !value.is_empty() {
                data.push((key.to_string(), value.to_string()));
            }
            secret(&data)
        };
        assert_eq!(
            auth(secret(&valid()), "abcdef.0123456789abcdeX"),
            Err(BootstrapRejection::NotBootstrapFormat)
        );
        assert_eq!(
            auth(secret(&valid()), "a-static-token"),
            Err(BootstrapRejection::NotBootstrapFormat)
        );
        assert_eq!(
            auth(secret(&valid()), "zzzzzz.0123456789abcdef"),
            Err(BootstrapRejection::UnknownTokenId("zzzzzz".into()))
        );
        assert!(matches!(
            auth(secret(&valid()), "abcdef.0123456789abcdee"),
            Err(BootstrapRejection::SecretMismatch(_))
        ));
        assert!(matches!(
            auth(with("expiration", "2001-01-01T00:00:00Z"), TOKEN),
            Err(BootstrapRejection::Expired(..))
        ));
        assert!(matches!(
            auth(with("expiration", "tomorrow"), TOKEN),
            Err(BootstrapRejection::BadExpiration(..))
        ));
        assert!(
            auth(with("expiration", ""), TOKEN).is_ok(),
            "no expiration never expires"
        );
        assert!(matches!(
            auth(with("usage-bootstrap-authentication", "false"), TOKEN),
            Err(BootstrapRejection::NotForAuthentication(_))
        ));
        assert!(matches!(
            auth(with("usage-bootstrap-authentication", ""), TOKEN),
            Err(BootstrapRejection::NotForAuthentication(_))
        ));
        assert!(matches!(
            auth(with("token-id", "abcdeg"), TOKEN),
            Err(BootstrapRejection::TokenIdMismatch(_))
        ));
        assert!(matches!(
            auth(with("auth-extra-groups", "system:masters"), TOKEN),
            Err(BootstrapRejection::InvalidExtraGroup(..))
        ));
        let mut wrong_type = secret(&valid());
        wrong_type["type"] = json!("Opaque");
        assert!(matches!(
            auth(wrong_type, TOKEN),
            Err(BootstrapRejection::WrongType(_))
        ));
        let mut deleting = secret(&valid());
        deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        assert!(matches!(
            auth(deleting, TOKEN),
            Err(BootstrapRejection::BeingDeleted(_))
        ));
    }

    #[test]
    fn extra_group_rule() {
        assert!(is_valid_bootstrap_group(
            "system:bootstrappers:kubeadm:default-node-token"
        ));
        assert!(is_valid_bootstrap_group("system:bootstrappers:a"));
        assert!(!is_valid_bootstrap_group("system:bootstrappers:"));
        assert!(!is_valid_bootstrap_group("system:bootstrappers:a-"));
        assert!(!is_valid_bootstrap_group("system:bootstrappers:A"));
        assert!(!is_valid_bootstrap_group("system:bootstrappers"));
        assert!(!is_valid_bootstrap_group(" system:bootstrappers:a"));
        let long = format!("system:bootstrappers:{}", "a".repeat(256));
        assert!(is_valid_bootstrap_group(&long));
        let too_long = format!("system:bootstrappers:{}", "a".repeat(257));
        assert!(!is_valid_bootstrap_group(&too_long));
    }

    #[test]
    fn string_data_and_debug_redaction() {
        let object = json!({
            "metadata": {"name": "bootstrap-token-abcdef"},
            "type": SECRET_TYPE,
            "stringData": {"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true"},
        });
        assert!(auth(object.clone(), TOKEN).is_ok());
        let parsed = BootstrapSecret::from_object(&object).expect("bootstrap secret");
        assert!(!format!("{parsed:?}").contains("0123456789abcdef"));
        assert!(BootstrapSecret::from_object(&json!({"metadata": {"name": "other"}})).is_none());
    }
}
