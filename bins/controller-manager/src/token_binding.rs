//! Bootstrap tokens bound to one node (peers-and-pain-points #4: "a bootstrap token is a
//! claim to be any node"). A token Secret annotated with [`NODE_NAME_ANNOTATION`] lets
//! csrapproving approve its bootstrap CSRs only for that node's name; upstream has no such
//! binding, and a token without the annotation works as upstream's (decision 0020).
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

/// Reads tokens' bindings, each at most once per [`TTL`].
pub struct TokenBindings {
    client: Client,
    read: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

impl TokenBindings {
    pub fn new(client: Client) -> TokenBindings {
        TokenBindings {
            client,
            read: Mutex::default(),
        }
    }

    /// The node token `id` is bound to. A token whose Secret is gone (deleted after the CSR
    /// was made) is unbound, as the CSR was accepted when it existed.
    pub async fn node_of(&self, id: &str) -> Result<Option<String>, ClientError> {
        let now = Instant::now();
        if let Some((at, node)) = self.read().get(id)
            && now.duration_since(*at) < TTL
        {
            return Ok(node.clone());
        }
        let name = format!("bootstrap-token-{id}");
        let node = match self
            .client
            .get::<Secret>(Some(TOKEN_NAMESPACE), &name)
            .await
        {
            Ok(secret) => bound_node(&secret).map(str::to_string),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let mut read = self.read();
        // Forget expired entries so tokens that come and go do not pile up.
        read.retain(|_, (at, _)| now.duration_since(*at) < TTL);
        read.insert(id.to_string(), (now, node.clone()));
        Ok(node)
    }

    fn read(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Option<String>)>> {
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
    }
}
