//! Bootstrap tokens bound to one node (peers-and-pain-points #4: "a bootstrap token is a
//! claim to be any node"). A token Secret annotated with [`NODE_NAME_ANNOTATION`] lets
//! csrapproving approve its bootstrap CSRs only for that node's name; upstream has no such
//! binding, and a token without the annotation works as upstream's (decision 0020).
//!
//! A token annotated [`SINGLE_USE_ANNOTATION`] approves one client certificate: csrapproving
//! leaves a second request made with it Pending (decision 0026; tokencleaner deletes the token
//! once its node is up).
//!
//! The token's Secret is read at most once per [`TTL`] per token (a storm of nodes sharing one
//! token costs one read, not one per node), so adding or changing the annotation takes effect
//! within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use client::{Client, ClientError};
/// The annotation on `kube-system/bootstrap-token-<id>` naming the one node it may join as.
pub use protocol::core::v1::BOOTSTRAP_TOKEN_NODE_NAME_ANNOTATION as NODE_NAME_ANNOTATION;
/// The annotation making a token single-use (value `"true"`).
pub use protocol::core::v1::BOOTSTRAP_TOKEN_SINGLE_USE_ANNOTATION as SINGLE_USE_ANNOTATION;
use protocol::core::v1::Secret;
/// How long a token's binding is reused before its Secret is read again.
pub const TTL: Duration = Duration::from_secs(10);

const TOKEN_NAMESPACE: &str = "kube-system";

/// The token id of a bootstrap-token requester (`system:bootstrap:<id>`).
pub fn token_id(username: &str) -> Option<&str> {
    username
        .strip_prefix(protocol::core::v1::BOOTSTRAP_TOKEN_USER_PREFIX)
        .filter(|id| !id.is_empty())
}

/// The node a token's Secret binds it to, if any.
pub fn bound_node(secret: &Secret) -> Option<&str> {
    secret
        .metadata
        .annotations
        .get(NODE_NAME_ANNOTATION)
        .map(String::as_str)
}

/// Whether a token's Secret makes it single-use.
pub fn is_single_use(secret: &Secret) -> bool {
    secret
        .metadata
        .annotations
        .get(SINGLE_USE_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// What a token's Secret says about the CSRs made with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The only node it may join as.
    pub node: Option<String>,
    pub single_use: bool,
}

impl TokenPolicy {
    pub fn of(secret: &Secret) -> TokenPolicy {
        TokenPolicy {
            node: bound_node(secret).map(str::to_string),
            single_use: is_single_use(secret),
        }
    }
}

/// Reads tokens' policies, each at most once per [`TTL`].
pub struct TokenBindings {
    client: Client,
    read: Mutex<HashMap<String, (Instant, TokenPolicy)>>,
}

impl TokenBindings {
    pub fn new(client: Client) -> TokenBindings {
        TokenBindings {
            client,
            read: Mutex::default(),
        }
    }

    /// Token `id`'s policy. A token whose Secret is gone (deleted after the CSR was made) has
    /// none, as the CSR was accepted when it existed.
    pub async fn policy_of(&self, id: &str) -> Result<TokenPolicy, ClientError> {
        let now = Instant::now();
        if let Some((at, policy)) = self.read().get(id)
            && now.duration_since(*at) < TTL
        {
            return Ok(policy.clone());
        }
        let name = format!("bootstrap-token-{id}");
        let policy = match self
            .client
            .get::<Secret>(Some(TOKEN_NAMESPACE), &name)
            .await
        {
            Ok(secret) => TokenPolicy::of(&secret),
            Err(e) if e.is_not_found() => TokenPolicy::default(),
            Err(e) => return Err(e),
        };
        let mut read = self.read();
        // Forget expired entries so tokens that come and go do not pile up.
        read.retain(|_, (at, _)| now.duration_since(*at) < TTL);
        read.insert(id.to_string(), (now, policy.clone()));
        Ok(policy)
    }

    fn read(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, TokenPolicy)>> {
        self.read.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_requesters_name_their_token() {
        assert_eq!(token_id("system:bootstrap:abcdef"), Some("abcdef"));
        assert_eq!(token_id("system:bootstrap:"), None);
        assert_eq!(token_id("kubelet-bootstrap"), None);
        assert_eq!(token_id("system:node:a"), None);
    }

    #[test]
    fn the_annotation_names_the_node() {
        let mut secret = Secret::default();
        assert_eq!(bound_node(&secret), None);
        secret
            .metadata
            .annotations
            .insert(NODE_NAME_ANNOTATION.into(), "worker-7".into());
        assert_eq!(bound_node(&secret), Some("worker-7"));
        assert!(!is_single_use(&secret));
        for (value, single) in [("true", true), ("false", false), ("yes", false)] {
            secret
                .metadata
                .annotations
                .insert(SINGLE_USE_ANNOTATION.into(), value.into());
            assert_eq!(
                TokenPolicy::of(&secret),
                TokenPolicy {
                    node: Some("worker-7".into()),
                    single_use: single
                }
            );
        }
    }
}
