//! The one error type of the client.

use protocol::meta::Status;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The apiserver answered with a `metav1.Status` failure (404, 409, 403, 422, ...).
    /// Boxed: a Status is large and errors travel through every `Result`.
    #[error("apiserver said {} ({}): {}", status.code, status.reason, status.message)]
    Api { status: Box<Status> },
    /// A non-2xx answer whose body is not a Status (a proxy, a half-built server).
    #[error("unexpected HTTP {code} from the apiserver: {body}")]
    UnexpectedResponse { code: u16, body: String },
    /// Connecting, sending or reading failed (refused, reset, closed mid-body).
    #[error("failed to talk to the apiserver: {0}")]
    Transport(String),
    /// The TLS settings could not be built (bad CA, certificate or key PEM), or the handshake
    /// failed (a certificate one side rejects).
    #[error("failed to set up TLS: {0}")]
    Tls(String),
    /// The server's certificate is expired or not yet valid by this machine's clock; often
    /// the clock is what is wrong ([`crate::clock::server_time`] tells).
    #[error("failed to set up TLS: {0}")]
    CertificateTime(String),
    /// A 2xx body that is not the JSON we expected.
    #[error("failed to decode the apiserver's answer: {0}")]
    Decode(String),
    /// The client configuration is unusable (no CA, bad server URL, ...).
    #[error("invalid client configuration: {0}")]
    InvalidConfig(String),
    /// The request itself is malformed (a namespaced kind without a namespace, an object
    /// without a name, ...): nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No answer within the request timeout.
    #[error("request timed out after {0:?}")]
    Timeout(std::time::Duration),
}

impl ClientError {
    /// An API error from a Status.
    pub fn api(status: Status) -> ClientError {
        ClientError::Api {
            status: Box::new(status),
        }
    }

    /// The Status of an API error.
    pub fn status(&self) -> Option<&Status> {
        match self {
            ClientError::Api { status } => Some(status),
            _ => None,
        }
    }

    /// The HTTP status code of an answer the server gave, if any.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            ClientError::Api { status } => u16::try_from(status.code).ok(),
            ClientError::UnexpectedResponse { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The Status `reason` of an API error (`NotFound`, `AlreadyExists`, ...).
    pub fn reason(&self) -> Option<&str> {
        match self {
            ClientError::Api { status } => Some(status.reason.as_str()),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status_code() == Some(404)
    }

    /// 409 with reason `Conflict` (a stale resourceVersion), not `AlreadyExists`.
    pub fn is_conflict(&self) -> bool {
        self.status_code() == Some(409) && self.reason() != Some("AlreadyExists")
    }

    pub fn is_already_exists(&self) -> bool {
        self.status_code() == Some(409) && self.reason() == Some("AlreadyExists")
    }

    /// 410 Gone (an expired resourceVersion).
    pub fn is_gone(&self) -> bool {
        self.status_code() == Some(410)
    }

    pub fn is_forbidden(&self) -> bool {
        self.status_code() == Some(403)
    }

    pub fn is_unauthorized(&self) -> bool {
        self.status_code() == Some(401)
    }

    /// The server's certificate was rejected as expired or not yet valid.
    pub fn is_certificate_time(&self) -> bool {
        matches!(self, ClientError::CertificateTime(_))
    }

    /// 429 TooManyRequests: the server limits this client's requests of this kind.
    pub fn is_too_many_requests(&self) -> bool {
        self.status_code() == Some(429)
    }

    /// How long the server asked the client to wait (a Status's `retryAfterSeconds`), if it
    /// did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        let seconds = self.status()?.details.as_ref()?.retry_after_seconds;
        u64::try_from(seconds)
            .ok()
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs)
    }

    /// Whether trying again may succeed: transport failures, timeouts, 5xx and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport(_) | ClientError::Timeout(_) => true,
            _ => matches!(self.status_code(), Some(429) | Some(500..=599)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_and_already_exists_are_told_apart() {
        let conflict = ClientError::api(Status::conflict("coordination.k8s.io", "leases", "a"));
        let exists = ClientError::api(Status::already_exists("coordination.k8s.io", "leases", "a"));
        assert!(conflict.is_conflict() && !conflict.is_already_exists());
        assert!(exists.is_already_exists() && !exists.is_conflict());
        assert_eq!(exists.status_code(), Some(409));
    }

    #[test]
    fn retry_after_is_read_from_the_status() {
        let too_many = ClientError::api(Status::too_many_requests("slow down", 300));
        assert!(too_many.is_too_many_requests());
        assert_eq!(
            too_many.retry_after(),
            Some(std::time::Duration::from_secs(300))
        );
        let without = ClientError::api(Status::too_many_requests("slow down", 0));
        assert_eq!(without.retry_after(), None);
        let not_found = ClientError::api(Status::failure(404, "NotFound", "gone"));
        assert!(!not_found.is_too_many_requests());
        assert_eq!(not_found.retry_after(), None);
    }

    #[test]
    fn retryable_covers_transport_5xx_and_429_only() {
        assert!(ClientError::Transport("refused".into()).is_retryable());
        assert!(
            ClientError::UnexpectedResponse {
                code: 503,
                body: String::new()
            }
            .is_retryable()
        );
        let too_many = ClientError::api(Status::too_many_requests("slow down", 1));
        assert!(too_many.is_retryable());
        let not_found = ClientError::api(Status::not_found("", "nodes", "a"));
        assert!(!not_found.is_retryable() && not_found.is_not_found());
    }
}
