//! Delegated authentication and authorization, as `k8s.io/apiserver`'s delegating
//! authenticator and webhook authorizer do it for a component's secure port
//! (kube-controller-manager's, the kubelet's): the component asks the apiserver.
//!
//! Authentication, first match wins: a client certificate the TLS layer verified (its user is
//! the caller's to read: CN and O); a bearer token, reviewed by a TokenReview when token review
//! is on (a refused token is refused, never anonymous); else the anonymous user when anonymous
//! requests are allowed. Authorization: allowed paths and groups first, then a
//! SubjectAccessReview, or a fixed answer when there is no webhook. Answers are cached for the
//! component's TTLs ([`CacheTtls`]); a review that fails (the apiserver unreachable) is not
//! cached. The port's `--client-ca-file` is followed by [`crate::client_ca::ClientCa`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use protocol::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use protocol::authorization::v1::{NonResourceAttributes, ResourceAttributes, SubjectAccessReview};
use rustls_pki_types::CertificateDer;
use sha2::{Digest as _, Sha256};

use crate::Client;

/// How long review answers are reused; zero keeps none (as upstream, which then does not
/// cache at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheTtls {
    /// A TokenReview's answer, authenticated or not (`--authentication-token-webhook-cache-ttl`).
    pub token: Duration,
    /// An allowed SubjectAccessReview (`--authorization-webhook-cache-authorized-ttl`).
    pub allowed: Duration,
    /// A denied one (`--authorization-webhook-cache-unauthorized-ttl`).
    pub denied: Duration,
}

impl CacheTtls {
    /// k8s.io/apiserver's delegating defaults (kube-controller-manager): 10 s each.
    pub const DELEGATING: CacheTtls = CacheTtls {
        token: Duration::from_secs(10),
        allowed: Duration::from_secs(10),
        denied: Duration::from_secs(10),
    };
    /// The kubelet's defaults: tokens 2 min, allowed 5 min, denied 30 s.
    pub const KUBELET: CacheTtls = CacheTtls {
        token: Duration::from_secs(120),
        allowed: Duration::from_secs(300),
        denied: Duration::from_secs(30),
    };
}

/// Cached answers kept at most; expired ones are dropped when full, then all.
const CACHE_ENTRIES: usize = 1024;

/// The anonymous user (group `system:unauthenticated`).
pub fn anonymous() -> UserInfo {
    UserInfo {
        username: "system:anonymous".to_string(),
        groups: vec!["system:unauthenticated".to_string()],
        ..Default::default()
    }
}

/// The user of the client certificate chain the TLS layer verified (a connection's
/// `peer_certificates`, leaf first): CN and O, plus `system:authenticated`, as upstream.
pub fn certificate_user(chain: Option<&[CertificateDer<'_>]>) -> Option<UserInfo> {
    let certificate = pki::Certificate::from_der(chain?.first()?.as_ref()).ok()?;
    let mut groups = certificate.organizations().to_vec();
    groups.push("system:authenticated".to_string());
    Some(UserInfo {
        username: certificate.common_name().unwrap_or_default().to_string(),
        groups,
        ..Default::default()
    })
}

/// What a request asks to do, as a SubjectAccessReview states it.
#[derive(Debug, Clone, PartialEq)]
pub enum Attributes {
    /// A path outside the API (`/metrics`), with the lower-case HTTP verb.
    NonResource { path: String, verb: String },
    /// An API resource (the kubelet's port maps its paths onto `nodes/<subresource>`).
    Resource(Box<ResourceAttributes>),
}

/// Who decides what an authenticated caller may do.
#[derive(Debug, Clone)]
pub enum Authorizer {
    /// Everything is allowed (the kubelet's `--authorization-mode=AlwaysAllow`).
    AlwaysAllow,
    /// Only the always-allowed paths and groups pass (a controller-manager without
    /// `--authorization-kubeconfig`).
    AllowedOnly,
    /// The apiserver answers SubjectAccessReviews.
    Webhook(Client),
}

/// A secure port's authenticator and authorizer.
pub struct Delegation {
    /// Reviews bearer tokens; `None`: tokens are not looked at.
    token_review: Option<Client>,
    /// Whether a request without credentials is the anonymous user (else refused).
    anonymous: bool,
    authorizer: Authorizer,
    always_allow_paths: Vec<String>,
    always_allow_groups: Vec<String>,
    ttls: CacheTtls,
    tokens: Cache<[u8; 32], Option<UserInfo>>,
    decisions: Cache<String, bool>,
}

impl std::fmt::Debug for Delegation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delegation")
            .field("token_review", &self.token_review.is_some())
            .field("anonymous", &self.anonymous)
            .field("always_allow_paths", &self.always_allow_paths)
            .field("always_allow_groups", &self.always_allow_groups)
            .field("ttls", &self.ttls)
            .finish_non_exhaustive()
    }
}

impl Delegation {
    /// No paths or groups always allowed and the delegating TTLs; see the setters.
    pub fn new(token_review: Option<Client>, anonymous: bool, authorizer: Authorizer) -> Self {
        Delegation {
            token_review,
            anonymous,
            authorizer,
            always_allow_paths: Vec::new(),
            always_allow_groups: Vec::new(),
            ttls: CacheTtls::DELEGATING,
            tokens: Cache::default(),
            decisions: Cache::default(),
        }
    }

    /// Paths any authenticated (or anonymous) caller may use: exact, or a prefix when the
    /// entry ends in `*`.
    pub fn always_allow_paths(mut self, paths: Vec<String>) -> Self {
        self.always_allow_paths = paths;
        self
    }

    /// How long answers are kept.
    pub fn cache_ttls(mut self, ttls: CacheTtls) -> Self {
        self.ttls = ttls;
        self
    }

    /// Groups whose members may do anything without a review.
    pub fn always_allow_groups(mut self, groups: Vec<String>) -> Self {
        self.always_allow_groups = groups;
        self
    }

    /// Who the request is: `certificate` is the user of a verified client certificate,
    /// `authorization` the `Authorization` header. `None` is a 401.
    pub async fn authenticate(
        &self,
        certificate: Option<UserInfo>,
        authorization: Option<&str>,
    ) -> Option<UserInfo> {
        if certificate.is_some() {
            return certificate;
        }
        if let Some((token, client)) = bearer_token(authorization).zip(self.token_review.as_ref()) {
            return self.review_token(client, token).await;
        }
        self.anonymous.then(anonymous)
    }

    /// Whether `user` may do `attributes` on `path`.
    pub async fn allowed(&self, user: &UserInfo, path: &str, attributes: Attributes) -> bool {
        let path_allowed =
            self.always_allow_paths
                .iter()
                .any(|allowed| match allowed.strip_suffix('*') {
                    Some(prefix) => path.starts_with(prefix),
                    None => path == allowed,
                });
        if path_allowed
            || user
                .groups
                .iter()
                .any(|group| self.always_allow_groups.contains(group))
        {
            return true;
        }
        match &self.authorizer {
            Authorizer::AlwaysAllow => true,
            Authorizer::AllowedOnly => false,
            Authorizer::Webhook(client) => self.review_access(client, user, attributes).await,
        }
    }

    /// The token's user, or `None` when the apiserver refuses it or cannot be asked.
    async fn review_token(&self, client: &Client, token: &str) -> Option<UserInfo> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(known) = self.tokens.get(&key) {
            return known;
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: Vec::new(),
            },
            ..Default::default()
        };
        let answer = match client.create(None, &review).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::warn!(%error, "token review failed");
                return None;
            }
        };
        let user = answer.status.authenticated.then_some(answer.status.user);
        self.tokens.put(key, user.clone(), self.ttls.token);
        user
    }

    async fn review_access(
        &self,
        client: &Client,
        user: &UserInfo,
        attributes: Attributes,
    ) -> bool {
        let mut review = SubjectAccessReview::default();
        review.spec.user = user.username.clone();
        review.spec.uid = user.uid.clone();
        review.spec.groups = user.groups.clone();
        review.spec.extra = user.extra.clone();
        match attributes {
            Attributes::NonResource { path, verb } => {
                review.spec.non_resource_attributes = Some(NonResourceAttributes { path, verb });
            }
            Attributes::Resource(resource) => {
                review.spec.resource_attributes = Some(*resource);
            }
        }
        // The spec is the question; its JSON (sorted maps) is a stable cache key.
        let key = serde_json::to_string(&review.spec).unwrap_or_default();
        if let Some(allowed) = self.decisions.get(&key) {
            return allowed;
        }
        match client.create(None, &review).await {
            Ok(answer) => {
                let ttl = if answer.status.allowed {
                    self.ttls.allowed
                } else {
                    self.ttls.denied
                };
                self.decisions.put(key, answer.status.allowed, ttl);
                answer.status.allowed
            }
            Err(error) => {
                tracing::warn!(%error, "subject access review failed");
                false
            }
        }
    }
}

/// `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer_token(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Answers, each kept until its expiry.
struct Cache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for Cache<K, V> {
    fn default() -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Cache<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, expires)| Instant::now() < *expires)
            .map(|(value, _)| value.clone())
    }

    fn put(&self, key: K, value: V, ttl: Duration) {
        let Some(expires) = Instant::now().checked_add(ttl).filter(|_| !ttl.is_zero()) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, expires)| now < *expires);
            if entries.len() >= CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (value, expires));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    fn get(path: &str) -> Attributes {
        Attributes::NonResource {
            path: path.to_string(),
            verb: "get".to_string(),
        }
    }

    #[tokio::test]
    async fn without_an_apiserver_only_allowed_paths_and_groups_pass() {
        let port = Delegation::new(None, true, Authorizer::AllowedOnly)
            .always_allow_paths(["/healthz", "/debug/*"].map(String::from).to_vec())
            .always_allow_groups(vec!["system:masters".into()]);
        let caller = port.authenticate(None, None).await.unwrap();
        assert_eq!(caller, anonymous());
        assert!(port.allowed(&caller, "/healthz", get("/healthz")).await);
        assert!(
            port.allowed(&caller, "/debug/pprof", get("/debug/pprof"))
                .await
        );
        assert!(!port.allowed(&caller, "/metrics", get("/metrics")).await);
        assert!(!port.allowed(&caller, "/healthzz", get("/healthzz")).await);
        // A token nobody can review is not looked at: the request is anonymous.
        assert_eq!(
            port.authenticate(None, Some("Bearer abc")).await,
            Some(anonymous())
        );
        let admin = user("admin", &["system:masters"]);
        assert_eq!(
            port.authenticate(Some(admin.clone()), Some("Bearer x"))
                .await,
            Some(admin.clone())
        );
        assert!(port.allowed(&admin, "/metrics", get("/metrics")).await);
        assert!(
            !port
                .allowed(&user("bob", &["dev"]), "/metrics", get("/metrics"))
                .await
        );

        let closed = Delegation::new(None, false, Authorizer::AlwaysAllow);
        assert_eq!(closed.authenticate(None, None).await, None);
        assert!(
            closed
                .allowed(&user("bob", &[]), "/pods", get("/pods"))
                .await
        );
    }

    #[test]
    fn bearer_tokens_and_cache_expiry() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);

        let cache: Cache<u8, bool> = Cache::default();
        cache.put(1, true, Duration::from_secs(10));
        assert_eq!(cache.get(&1), Some(true));
        cache.entries.lock().unwrap().get_mut(&1).unwrap().1 -= Duration::from_secs(10);
        assert_eq!(cache.get(&1), None);
        // A zero TTL keeps nothing, as upstream's disabled cache.
        cache.put(2, true, Duration::ZERO);
        assert_eq!(cache.get(&2), None);
        assert!(!cache.entries.lock().unwrap().contains_key(&2));
    }
}
