//! Authentication: who is asking. Tried in kube-apiserver's order, first success wins:
//! the TLS client certificate, then a bearer token (token file, then bootstrap tokens), then
//! anonymous. A credential that was presented but rejected is a 401 even when anonymous is
//! enabled (upstream's fail-on-error union), so a bad token never silently turns anonymous.

pub mod bootstrap;
pub mod csv;
pub mod impersonation;
pub mod revocation;
pub mod token_file;
pub mod x509;

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use rbac::UserInfo;
use rbac::user::{SYSTEM_AUTHENTICATED, SYSTEM_UNAUTHENTICATED};
use time::OffsetDateTime;

use crate::caches::{BootstrapTokenCache, RevocationCache};
use token_file::TokenFile;
use x509::ClientCertificate;

/// The anonymous user's name.
pub const ANONYMOUS_USER: &str = "system:anonymous";

/// What the TLS handshake of a connection established, decided once per connection.
#[derive(Debug, Clone, Default)]
pub enum PeerIdentity {
    /// No client certificate (or no client CA configured).
    #[default]
    None,
    /// A client certificate that verified against the client CA. Whether it is revoked is
    /// checked per request, so a revocation also reaches connections already open.
    Verified(ClientCertificate),
    /// A client certificate that did not verify; the reason is logged per request.
    Rejected(String),
}

/// A request no authenticator accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnFailure {
    /// Every authenticator's reason, for the log line.
    pub reason: String,
    /// A short label for the failure metric.
    pub metric_reason: &'static str,
}

/// The configured authenticators.
#[derive(Debug)]
pub struct Authenticator {
    token_file: Option<TokenFile>,
    bootstrap: Option<Arc<BootstrapTokenCache>>,
    anonymous: bool,
    revocations: Option<Arc<RevocationCache>>,
    /// `--client-certificate-max-offline-window`: how long after its NotAfter a client
    /// certificate still authenticates, as a restricted user (decision 0027); zero for never.
    max_offline_window: Duration,
}

impl Authenticator {
    pub fn new(
        token_file: Option<TokenFile>,
        bootstrap: Option<Arc<BootstrapTokenCache>>,
        anonymous: bool,
    ) -> Self {
        Authenticator {
            token_file,
            bootstrap,
            anonymous,
            revocations: None,
            max_offline_window: Duration::ZERO,
        }
    }

    /// Lets a client certificate expired at most `window` ago ask to renew itself.
    pub fn with_max_offline_window(mut self, window: Duration) -> Self {
        self.max_offline_window = window;
        self
    }

    /// Refuses the client certificates the CertificateRevocations name.
    pub fn with_revocations(mut self, revocations: Arc<RevocationCache>) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// Authenticates one request on a connection whose handshake gave `peer`.
    pub fn authenticate(
        &self,
        peer: &PeerIdentity,
        headers: &HeaderMap,
        now: OffsetDateTime,
    ) -> Result<UserInfo, AuthnFailure> {
        let mut failures: Vec<(String, &'static str)> = Vec::new();
        match peer {
            PeerIdentity::Verified(certificate) => match self.revoked_by(certificate) {
                None => match certificate.invalid_at(now.into()) {
                    None => return Ok(authenticated(certificate.user())),
                    Some(_) if certificate.expired_within(now.into(), self.max_offline_window) => {
                        return Ok(authenticated(certificate.expired_identity()));
                    }
                    Some(reason) => failures.push((reason, "client_certificate_invalid")),
                },
                Some(name) => failures.push((
                    format!(
                        "client certificate {} of {:?} is revoked by CertificateRevocation {name:?}",
                        certificate.serial, certificate.user.name
                    ),
                    "client_certificate_revoked",
                )),
            },
            PeerIdentity::Rejected(reason) => {
                failures.push((reason.clone(), "client_certificate_invalid"))
            }
            PeerIdentity::None => {}
        }
        if let Some(token) = bearer_token(headers) {
            match self.authenticate_token(token, now) {
                Ok(user) => return Ok(authenticated(user)),
                Err(failure) => failures.push(failure),
            }
        }
        if let Some((_, metric_reason)) = failures.first() {
            let reason = failures
                .iter()
                .map(|(r, _)| r.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(AuthnFailure {
                reason,
                metric_reason,
            });
        }
        if self.anonymous {
            return Ok(UserInfo::new(ANONYMOUS_USER, [SYSTEM_UNAUTHENTICATED]));
        }
        Err(AuthnFailure {
            reason: "no credentials and anonymous requests are disabled".to_string(),
            metric_reason: "no_credentials",
        })
    }

    /// The revocations this authenticator enforces, if any.
    pub fn revocations(&self) -> Option<&Arc<RevocationCache>> {
        self.revocations.as_ref()
    }

    fn revoked_by(&self, certificate: &ClientCertificate) -> Option<String> {
        self.revocations.as_ref()?.revoked_by(certificate)
    }

    fn authenticate_token(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<UserInfo, (String, &'static str)> {
        if let Some(user) = self
            .token_file
            .as_ref()
            .and_then(|file| file.authenticate(token))
        {
            return Ok(user);
        }
        let Some(cache) = &self.bootstrap else {
            return Err((
                "invalid bearer token: not in the token file".to_string(),
                "token_unknown",
            ));
        };
        bootstrap::authenticate(token, |name| cache.get(name), now).map_err(|rejection| {
            let metric_reason = rejection.metric_reason();
            let reason = match rejection {
                bootstrap::BootstrapRejection::NotBootstrapFormat => {
                    "invalid bearer token: not in the token file and not a bootstrap token"
                        .to_string()
                }
                other => format!("invalid bearer token: {other}"),
            };
            (reason, metric_reason)
        })
    }
}

impl crate::api::authentication::TokenAuthenticator for Authenticator {
    fn authenticate_token(&self, token: &str) -> Result<UserInfo, String> {
        Authenticator::authenticate_token(self, token, OffsetDateTime::now_utc())
            .map(authenticated)
            .map_err(|(reason, _)| reason)
    }
}

/// Adds `system:authenticated` unless present, as upstream's group adder does.
fn authenticated(mut user: UserInfo) -> UserInfo {
    if !user.in_group(SYSTEM_AUTHENTICATED) {
        user.groups.push(SYSTEM_AUTHENTICATED.to_string());
    }
    user
}

/// `Authorization: Bearer <token>` (scheme case-insensitive); `None` for anything else.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(value) = authorization {
            map.insert(http::header::AUTHORIZATION, value.parse().expect("header"));
        }
        map
    }

    fn authenticator(anonymous: bool) -> Authenticator {
        let file = TokenFile::parse(
            "tok,alice,1,\"ops,system:authenticated\"\n",
            Path::new("t.csv"),
        )
        .expect("token file");
        Authenticator::new(Some(file), None, anonymous)
    }

    #[test]
    fn certificate_wins_and_groups_get_authenticated_once() {
        let peer = PeerIdentity::Verified(ClientCertificate {
            user: UserInfo::new("admin", ["system:masters"]),
            credential_id: "X509SHA256=ab".to_string(),
            serial: "01".to_string(),
            not_before: std::time::SystemTime::now(),
            not_after: std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
            issuer: None,
        });
        let user = authenticator(true)
            .authenticate(
                &peer,
                &headers(Some("Bearer wrong")),
                OffsetDateTime::now_utc(),
            )
            .expect("cert user");
        assert_eq!(user.name, "admin");
        assert_eq!(user.groups, vec!["system:masters", "system:authenticated"]);
        assert_eq!(
            user.extra[protocol::authentication::v1::CREDENTIAL_ID_EXTRA],
            ["X509SHA256=ab"]
        );

        let user = authenticator(true)
            .authenticate(
                &PeerIdentity::None,
                &headers(Some("bearer tok")),
                OffsetDateTime::now_utc(),
            )
            .expect("token user");
        assert_eq!(user.name, "alice");
        assert_eq!(user.groups, vec!["ops", "system:authenticated"]);
    }

    #[test]
    fn an_expired_certificate_is_a_restricted_user_only_within_the_offline_window() {
        let hour = Duration::from_secs(3600);
        let now = OffsetDateTime::now_utc();
        let user = UserInfo::new("system:node:n1", ["system:nodes"]);
        let expired_at = std::time::SystemTime::from(now) - hour;
        let peer = PeerIdentity::Verified(ClientCertificate {
            user,
            credential_id: "X509SHA256=ab".to_string(),
            serial: "01".to_string(),
            not_before: expired_at - 24 * hour,
            not_after: expired_at,
            issuer: None,
        });
        // No window (the default): 401, in Go's words.
        let failure = authenticator(false)
            .authenticate(&peer, &headers(None), now)
            .unwrap_err();
        assert_eq!(failure.metric_reason, "client_certificate_invalid");
        assert!(failure.reason.contains("has expired"), "{failure:?}");
        // Expired an hour ago, window of 30 minutes: still 401.
        let short = authenticator(false).with_max_offline_window(hour / 2);
        assert!(short.authenticate(&peer, &headers(None), now).is_err());
        // Within a day's window: the restricted user, without system:nodes.
        let day = authenticator(false).with_max_offline_window(24 * hour);
        let restricted = day
            .authenticate(&peer, &headers(None), now)
            .expect("restricted user");
        assert_eq!(
            restricted.name,
            "kubelet-tls-bootstrap:expired:system:node:n1"
        );
        assert_eq!(
            restricted.groups,
            [
                "kubelet-tls-bootstrap:expired-client-certificates",
                SYSTEM_AUTHENTICATED
            ]
        );
        assert_eq!(
            restricted.extra[protocol::authentication::v1::CREDENTIAL_ID_EXTRA],
            ["X509SHA256=ab"]
        );
    }

    #[test]
    fn bad_credentials_are_401_even_with_anonymous() {
        let now = OffsetDateTime::now_utc();
        let failure = authenticator(true)
            .authenticate(&PeerIdentity::None, &headers(Some("Bearer nope")), now)
            .unwrap_err();
        assert!(
            failure.reason.contains("invalid bearer token"),
            "{failure:?}"
        );
        let rejected = PeerIdentity::Rejected("client certificate rejected: UnknownIssuer".into());
        let failure = authenticator(true)
            .authenticate(&rejected, &headers(None), now)
            .unwrap_err();
        assert!(failure.reason.contains("UnknownIssuer"));
        // A rejected certificate with a good token: the token still authenticates.
        assert_eq!(
            authenticator(true)
                .authenticate(&rejected, &headers(Some("Bearer tok")), now)
                .expect("token")
                .name,
            "alice"
        );
    }

    #[test]
    fn anonymous_only_without_credentials() {
        let now = OffsetDateTime::now_utc();
        let user = authenticator(true)
            .authenticate(&PeerIdentity::None, &headers(None), now)
            .expect("anon");
        assert_eq!(user.name, ANONYMOUS_USER);
        assert_eq!(user.groups, vec![SYSTEM_UNAUTHENTICATED]);
        // Not a bearer credential at all: anonymous.
        let basic = headers(Some("Basic dXNlcjpwYXNz"));
        assert_eq!(
            authenticator(true)
                .authenticate(&PeerIdentity::None, &basic, now)
                .expect("anon")
                .name,
            ANONYMOUS_USER
        );
        assert!(
            authenticator(false)
                .authenticate(&PeerIdentity::None, &headers(None), now)
                .is_err()
        );
    }
}
