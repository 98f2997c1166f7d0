//! Who may read the secure port, decided as upstream's controller-manager decides it: by
//! delegating to the apiserver (`k8s.io/apiserver` DelegatingAuthentication/Authorization).
//!
//! Authentication, first match wins: a client certificate that verified against
//! `--client-ca-file` (user = CN, groups = O); else a bearer token, which the apiserver
//! reviews (TokenReview, through `--authentication-kubeconfig`) -- a token it refuses is a
//! 401; else `system:anonymous`. Without `--authentication-kubeconfig` tokens are not looked
//! at, as upstream.
//!
//! Authorization, first allow wins: a path in `--authorization-always-allow-paths` (health
//! by default), a member of `system:masters`, else a SubjectAccessReview of the path and verb
//! (through `--authorization-kubeconfig`). Without that kubeconfig everything else is
//! forbidden, so `/metrics` needs a system:masters certificate or an RBAC grant of
//! `get` on the non-resource URL `/metrics`. Answers are cached for 10 s, as upstream's
//! default TTLs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use client::Client;
use protocol::authentication::v1::{TokenReview, TokenReviewSpec};
use protocol::authorization::v1::{NonResourceAttributes, SubjectAccessReview};
use rbac::UserInfo;
use rbac::user::{SYSTEM_AUTHENTICATED, SYSTEM_MASTERS, SYSTEM_UNAUTHENTICATED};
use sha2::{Digest as _, Sha256};

/// How long a review's answer is reused (upstream's token and authorization cache TTLs).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Cached answers kept at most; the oldest are dropped first when full.
const CACHE_ENTRIES: usize = 1024;
/// The user of a request without credentials.
const ANONYMOUS_USER: &str = "system:anonymous";

/// The user of a client certificate the TLS layer verified: CN and O, as upstream.
pub fn certificate_user(der: &[u8]) -> Option<UserInfo> {
    let certificate = pki::Certificate::from_der(der).ok()?;
    let mut groups = certificate.organizations().to_vec();
    groups.push(SYSTEM_AUTHENTICATED.to_string());
    Some(UserInfo::new(
        certificate.common_name().unwrap_or_default(),
        groups,
    ))
}

fn anonymous() -> UserInfo {
    UserInfo::new(ANONYMOUS_USER, [SYSTEM_UNAUTHENTICATED])
}

/// What to answer a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// 401: a credential was presented and refused (or could not be checked).
    Unauthorized,
    /// 403, with upstream's message.
    Forbidden(String),
}

/// The port's authenticator and authorizer.
pub struct Delegation {
    /// Asks TokenReviews; `None` without `--authentication-kubeconfig`.
    authentication: Option<Client>,
    /// Asks SubjectAccessReviews; `None` without `--authorization-kubeconfig`.
    authorization: Option<Client>,
    always_allow_paths: Vec<String>,
    tokens: Cache<[u8; 32], Option<UserInfo>>,
    decisions: Cache<(UserInfo, String, String), bool>,
}

impl std::fmt::Debug for Delegation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delegation")
            .field("authentication", &self.authentication.is_some())
            .field("authorization", &self.authorization.is_some())
            .field("always_allow_paths", &self.always_allow_paths)
            .finish_non_exhaustive()
    }
}

impl Delegation {
    pub fn new(
        authentication: Option<Client>,
        authorization: Option<Client>,
        always_allow_paths: Vec<String>,
    ) -> Delegation {
        Delegation {
            authentication,
            authorization,
            always_allow_paths,
            tokens: Cache::default(),
            decisions: Cache::default(),
        }
    }

    /// Authenticates and authorizes one request: `certificate` is the user of a verified
    /// client certificate, `authorization` the `Authorization` header.
    pub async fn check(
        &self,
        certificate: Option<UserInfo>,
        authorization: Option<&str>,
        path: &str,
        verb: &str,
    ) -> Verdict {
        let caller = match certificate {
            Some(caller) => caller,
            None => match bearer_token(authorization).zip(self.authentication.as_ref()) {
                Some((token, client)) => match self.review_token(client, token).await {
                    Some(caller) => caller,
                    None => return Verdict::Unauthorized,
                },
                None => anonymous(),
            },
        };
        if self.always_allowed(path) || caller.in_group(SYSTEM_MASTERS) {
            return Verdict::Allow;
        }
        let allowed = match &self.authorization {
            Some(client) => self.review_access(client, &caller, path, verb).await,
            None => false,
        };
        if allowed {
            Verdict::Allow
        } else {
            Verdict::Forbidden(format!(
                "forbidden: User {:?} cannot {verb} path {path:?}",
                caller.name
            ))
        }
    }

    /// Upstream's path rule: exact, or a prefix when the entry ends in `*`.
    fn always_allowed(&self, path: &str) -> bool {
        self.always_allow_paths
            .iter()
            .any(|allowed| match allowed.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == allowed,
            })
    }

    /// The token's user, or `None` when the apiserver refuses it (or cannot be asked: then
    /// nothing is cached, so the next request asks again).
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
        let caller = answer.status.authenticated.then(|| {
            let user = answer.status.user;
            UserInfo {
                name: user.username,
                uid: user.uid,
                groups: user.groups,
                extra: user
                    .extra
                    .into_iter()
                    .map(|(key, values)| (key, values.into()))
                    .collect(),
            }
        });
        self.tokens.put(key, caller.clone());
        caller
    }

    /// Whether the apiserver allows `caller` to `verb` the non-resource `path`; a review that
    /// fails is a deny, not cached.
    async fn review_access(
        &self,
        client: &Client,
        caller: &UserInfo,
        path: &str,
        verb: &str,
    ) -> bool {
        let key = (caller.clone(), path.to_string(), verb.to_string());
        if let Some(allowed) = self.decisions.get(&key) {
            return allowed;
        }
        let mut review = SubjectAccessReview::default();
        review.spec.user = caller.name.clone();
        review.spec.uid = caller.uid.clone();
        review.spec.groups = caller.groups.clone();
        review.spec.extra = caller
            .extra
            .iter()
            .map(|(key, values)| (key.clone(), values.clone().into()))
            .collect();
        review.spec.non_resource_attributes = Some(NonResourceAttributes {
            path: path.to_string(),
            verb: verb.to_string(),
        });
        match client.create(None, &review).await {
            Ok(answer) => {
                self.decisions.put(key, answer.status.allowed);
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

/// Answers kept for [`CACHE_TTL`].
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
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(value, _)| value.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_ENTRIES {
            entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if entries.len() >= CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn without_apiserver(paths: &[&str]) -> Delegation {
        Delegation::new(None, None, paths.iter().map(|p| p.to_string()).collect())
    }

    #[tokio::test]
    async fn without_kubeconfigs_only_health_and_masters_pass() {
        let port = without_apiserver(&["/healthz", "/readyz", "/livez", "/debug/*"]);
        assert_eq!(
            port.check(None, None, "/healthz", "get").await,
            Verdict::Allow
        );
        assert_eq!(
            port.check(None, None, "/debug/pprof", "get").await,
            Verdict::Allow
        );
        assert_eq!(
            port.check(None, None, "/metrics", "get").await,
            Verdict::Forbidden(
                "forbidden: User \"system:anonymous\" cannot get path \"/metrics\"".into()
            )
        );
        // A token nobody can review is not looked at: the request is anonymous.
        assert!(matches!(
            port.check(None, Some("Bearer abc"), "/metrics", "get")
                .await,
            Verdict::Forbidden(_)
        ));
        let admin = UserInfo::new("admin", ["system:masters"]);
        assert_eq!(
            port.check(Some(admin), None, "/metrics", "get").await,
            Verdict::Allow
        );
        let bob = UserInfo::new("bob", ["dev"]);
        assert_eq!(
            port.check(Some(bob), None, "/metrics", "get").await,
            Verdict::Forbidden("forbidden: User \"bob\" cannot get path \"/metrics\"".into())
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
        cache.put(1, true);
        assert_eq!(cache.get(&1), Some(true));
        cache.entries.lock().unwrap().get_mut(&1).unwrap().1 -= CACHE_TTL;
        assert_eq!(cache.get(&1), None);
    }
}
