//! Bootstrap tokens (`<6 chars>.<16 chars>` of `[a-z0-9]`), the `kube-system/bootstrap-token-<id>`
//! Secret that makes the apiserver accept one, and the static token.csv line of the seeds.

use std::collections::BTreeMap;
use std::fmt;

use protocol::core::v1::Secret;
use protocol::meta::ObjectMeta;
use rand::Rng as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The Secret type the apiserver's bootstrap authenticator looks for.
pub const SECRET_TYPE: &str = protocol::core::v1::BOOTSTRAP_TOKEN_SECRET_TYPE;
/// Where bootstrap-token Secrets live.
pub const SECRET_NAMESPACE: &str = "kube-system";
/// kubeadm's group for node tokens; the seed bindings name it.
pub const DEFAULT_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// The static-token user of the seeds' token.csv.
pub const STATIC_USER: &str = "kubelet-bootstrap";
/// Its group in token.csv.
pub const STATIC_GROUP: &str = "system:node-bootstrapper";

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A token the apiserver would not accept, or a group it would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("invalid bootstrap token {0:?}: expected [a-z0-9]{{6}}.[a-z0-9]{{16}}")]
    Format(String),
    #[error(
        "invalid extra group {0:?}: bootstrap token groups must match system:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9]"
    )]
    Group(String),
}

/// `<id>.<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    id: String,
    secret: String,
}

// The secret half must never reach a log through `{:?}`.
impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BootstrapToken({}.<redacted>)", self.id)
    }
}

impl fmt::Display for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

fn random_chars(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn is_token_part(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| ALPHABET.contains(&b))
}

impl BootstrapToken {
    /// A fresh random token (the OS generator behind `rand::rng()`).
    pub fn generate() -> BootstrapToken {
        BootstrapToken {
            id: random_chars(6),
            secret: random_chars(16),
        }
    }

    /// Parses `<id>.<secret>`.
    pub fn parse(text: &str) -> Result<BootstrapToken, TokenError> {
        match text.split_once('.') {
            Some((id, secret)) if is_token_part(id, 6) && is_token_part(secret, 16) => {
                Ok(BootstrapToken {
                    id: id.to_string(),
                    secret: secret.to_string(),
                })
            }
            _ => Err(TokenError::Format(text.to_string())),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `bootstrap-token-<id>`.
    pub fn secret_name(&self) -> String {
        format!("bootstrap-token-{}", self.id)
    }

    /// The user name the apiserver gives this token.
    pub fn user_name(&self) -> String {
        format!("system:bootstrap:{}", self.id)
    }
}

/// Checks an `auth-extra-groups` entry as the apiserver does.
pub fn validate_group(group: &str) -> Result<(), TokenError> {
    let bad = || TokenError::Group(group.to_string());
    let rest = group
        .strip_prefix("system:bootstrappers:")
        .ok_or_else(bad)?;
    let last_ok = rest
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let all_ok = rest
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-');
    if last_ok && all_ok && rest.len() <= 256 {
        Ok(())
    } else {
        Err(bad())
    }
}

/// What the Secret says besides the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOptions {
    /// `None`: never expires.
    pub expiration: Option<OffsetDateTime>,
    pub description: Option<String>,
    /// `auth-extra-groups`, each validated.
    pub groups: Vec<String>,
    /// Bind the token to this node name (`kubelet-tls-bootstrap/node-name`, decision 0020).
    pub node_name: Option<String>,
    /// One client certificate only (`kubelet-tls-bootstrap/single-use`, decision 0026).
    pub single_use: bool,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            expiration: None,
            description: None,
            groups: vec![DEFAULT_GROUP.to_string()],
            node_name: None,
            single_use: false,
        }
    }
}

/// The `kube-system/bootstrap-token-<id>` Secret, as kubeadm writes it.
pub fn secret(token: &BootstrapToken, options: &TokenOptions) -> Result<Secret, TokenError> {
    for group in &options.groups {
        validate_group(group)?;
    }
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut put = |key: &str, value: &str| data.insert(key.to_string(), value.as_bytes().to_vec());
    put("token-id", &token.id);
    put("token-secret", &token.secret);
    put("usage-bootstrap-authentication", "true");
    put("usage-bootstrap-signing", "true");
    if !options.groups.is_empty() {
        put("auth-extra-groups", &options.groups.join(","));
    }
    if let Some(description) = &options.description {
        put("description", description);
    }
    if let Some(expiration) = options.expiration {
        let text = expiration
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        put("expiration", &text);
    }
    let mut annotations = BTreeMap::new();
    if let Some(node) = &options.node_name {
        annotations.insert(
            protocol::core::v1::BOOTSTRAP_TOKEN_NODE_NAME_ANNOTATION.to_string(),
            node.clone(),
        );
    }
    if options.single_use {
        annotations.insert(
            protocol::core::v1::BOOTSTRAP_TOKEN_SINGLE_USE_ANNOTATION.to_string(),
            "true".to_string(),
        );
    }
    Ok(Secret {
        metadata: ObjectMeta {
            name: token.secret_name(),
            namespace: SECRET_NAMESPACE.to_string(),
            annotations,
            ..ObjectMeta::default()
        },
        data,
        type_: SECRET_TYPE.to_string(),
        ..Secret::default()
    })
}

/// One token.csv line of the seeds: `token,user,uid,"group"`.
pub fn token_csv_line(token: &str, user: &str, uid: &str, groups: &[&str]) -> String {
    format!("{token},{user},{uid},\"{}\"\n", groups.join(","))
}

/// A random static token: 16 bytes as hex, like `head -c 16 /dev/urandom | od -An -t x | tr -d ' '`.
pub fn random_static_token() -> String {
    let mut rng = rand::rng();
    (0..16)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = BootstrapToken::generate();
        let b = BootstrapToken::generate();
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(BootstrapToken::parse(&text).unwrap(), a);
        assert_eq!(text.len(), 23);
        assert!(!format!("{a:?}").contains(&a.secret));
    }

    #[test]
    fn bad_tokens_are_refused() {
        for bad in [
            "abcdef",
            "abcdef.0123456789abcde",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdefg",
        ] {
            assert!(BootstrapToken::parse(bad).is_err(), "{bad}");
        }
        assert!(BootstrapToken::parse("abcdef.0123456789abcdef").is_ok());
    }

    #[test]
    fn groups_follow_the_apiserver_rule() {
        assert!(validate_group(DEFAULT_GROUP).is_ok());
        assert!(validate_group("system:bootstrappers:worker-pool-2").is_ok());
        for bad in [
            "system:bootstrappers",
            "system:bootstrappers:",
            "system:nodes",
            "system:bootstrappers:Upper",
            "system:bootstrappers:trailing-",
        ] {
            assert!(validate_group(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_has_kubeadm_shape() {
        let token = BootstrapToken::parse("abcdef.0123456789abcdef").unwrap();
        let expiration = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let options = TokenOptions {
            expiration: Some(expiration),
            description: Some("lab".into()),
            ..TokenOptions::default()
        };
        let json = serde_json::to_value(secret(&token, &options).unwrap()).unwrap();
        assert_eq!(json["apiVersion"], "v1");
        assert_eq!(json["kind"], "Secret");
        assert_eq!(json["type"], SECRET_TYPE);
        assert_eq!(json["metadata"]["name"], "bootstrap-token-abcdef");
        assert_eq!(json["metadata"]["namespace"], "kube-system");
        let field = |k: &str| {
            use base64::Engine as _;
            let encoded = json["data"][k].as_str().unwrap();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(field("token-id"), "abcdef");
        assert_eq!(field("token-secret"), "0123456789abcdef");
        assert_eq!(field("expiration"), "2027-01-15T08:00:00Z");
        assert_eq!(field("auth-extra-groups"), DEFAULT_GROUP);
        assert_eq!(field("usage-bootstrap-authentication"), "true");
        assert_eq!(field("description"), "lab");
        assert!(json["metadata"].get("annotations").is_none(), "{json}");

        let bound = TokenOptions {
            node_name: Some("worker-7".into()),
            ..options
        };
        let json = serde_json::to_value(secret(&token, &bound).unwrap()).unwrap();
        assert_eq!(
            json["metadata"]["annotations"]["kubelet-tls-bootstrap/node-name"],
            "worker-7"
        );
        assert!(
            json["metadata"]["annotations"]
                .get("kubelet-tls-bootstrap/single-use")
                .is_none()
        );

        let once = TokenOptions {
            single_use: true,
            ..bound
        };
        let json = serde_json::to_value(secret(&token, &once).unwrap()).unwrap();
        assert_eq!(
            json["metadata"]["annotations"]["kubelet-tls-bootstrap/single-use"],
            "true"
        );
        assert_eq!(
            json["metadata"]["annotations"]["kubelet-tls-bootstrap/node-name"],
            "worker-7"
        );
    }

    #[test]
    fn token_csv_line_quotes_groups() {
        assert_eq!(
            token_csv_line("t0k", STATIC_USER, "10001", &[STATIC_GROUP]),
            "t0k,kubelet-bootstrap,10001,\"system:node-bootstrapper\"\n"
        );
        assert_eq!(random_static_token().len(), 32);
    }
}
