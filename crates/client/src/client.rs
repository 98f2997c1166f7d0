//! The `Client`: a pooled HTTPS transport (HTTP/2 when the server offers it), the current
//! identity, and the retry loop every call goes through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT,
};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kubeconfig::{Identity, ResolvedConfig};
use protocol::meta::Status;
use rustls::pki_types::ServerName;

use crate::config::{ClientConfig, RetryPolicy};
use crate::connector::TlsConnectorService;
use crate::error::ClientError;
use crate::tls::{ServerTrust, SwappableClientCert, client_config, identity_cert};

type HttpClient = HyperClient<TlsConnectorService, Full<Bytes>>;

/// Largest response body read into memory (a list of many CSRs fits easily).
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
/// Longest `Retry-After` honoured, so a confused server cannot park a caller for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Idle pooled connections are closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// An apiserver client. Cheap to clone: clones share connections and identity.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// How often a 409 Conflict answer is retried verbatim (0 unless asked).
    conflict_retries: u32,
    retry: RetryPolicy,
    request_timeout: Duration,
}

struct Inner {
    /// `https://host:port` plus any path prefix, without a trailing slash.
    base: String,
    /// Replaced by `set_trust` (a CA rotation); read when a pool is built.
    trust: RwLock<ServerTrust>,
    server_name_override: Option<ServerName<'static>>,
    client_cert: Arc<SwappableClientCert>,
    token: RwLock<Option<String>>,
    /// Replaced on identity swaps: dropping the old pool closes its idle connections and the
    /// busy ones once their in-flight requests finish.
    http: RwLock<HttpClient>,
    /// Serialises swaps so certificate, token and pool always match.
    swap: Mutex<()>,
    identity_version: AtomicU64,
    user_agent: HeaderValue,
    connect_timeout: Duration,
}

/// A raw answer: status, HTTP version, headers and body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: StatusCode,
    /// `HTTP_2` when ALPN chose h2 (the normal case against our apiserver).
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Client {
    /// Builds the TLS settings and the connection pool; connects lazily on the first call.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        if config.server.scheme() != "https" {
            return Err(ClientError::InvalidConfig(format!(
                "server {} is not https:// (this client speaks TLS only)",
                config.server
            )));
        }
        if config.server.host_str().is_none() {
            return Err(ClientError::InvalidConfig(format!(
                "server {} has no host",
                config.server
            )));
        }
        let base = config.server.as_str().trim_end_matches('/').to_string();
        base.parse::<Uri>().map_err(|e| {
            ClientError::InvalidConfig(format!("server {} is not a valid URI: {e}", config.server))
        })?;
        let trust = ServerTrust::new(config.ca_pem.as_deref(), config.insecure_skip_tls_verify)?;
        let server_name_override = match &config.tls_server_name {
            Some(name) => Some(ServerName::try_from(name.clone()).map_err(|e| {
                ClientError::InvalidConfig(format!("invalid tls-server-name {name:?}: {e}"))
            })?),
            None => None,
        };
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            ClientError::InvalidConfig(format!("invalid user agent {:?}", config.user_agent))
        })?;
        let client_cert = Arc::new(SwappableClientCert::default());
        client_cert.set(identity_cert(&config.identity)?);
        let connect_timeout = config.request_timeout.min(Duration::from_secs(10));
        let http = build_pool(&trust, &server_name_override, &client_cert, connect_timeout)?;
        Ok(Client {
            inner: Arc::new(Inner {
                base,
                trust: RwLock::new(trust),
                server_name_override,
                client_cert,
                token: RwLock::new(token_of(&config.identity)),
                http: RwLock::new(http),
                swap: Mutex::new(()),
                identity_version: AtomicU64::new(0),
                user_agent,
                connect_timeout,
            }),
            conflict_retries: 0,
            retry: config.retry,
            request_timeout: config.request_timeout,
        })
    }

    /// `Client::new(ClientConfig::from_kubeconfig(resolved, user_agent)?)`.
    pub fn from_kubeconfig(
        resolved: &ResolvedConfig,
        user_agent: &str,
    ) -> Result<Client, ClientError> {
        Client::new(ClientConfig::from_kubeconfig(resolved, user_agent)?)
    }

    /// Replaces the client certificate or token for every request from now on. New requests
    /// go over new connections (the pool is replaced); requests in flight finish on the old
    /// ones. A bad certificate or key is rejected and the old identity stays.
    pub fn set_identity(&self, identity: Identity) -> Result<(), ClientError> {
        let cert = identity_cert(&identity)?;
        let _guard = self.inner.swap.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.client_cert.set(cert);
        *self.inner.token.write().unwrap_or_else(|e| e.into_inner()) = token_of(&identity);
        self.rebuild_pool()?;
        self.inner.identity_version.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Replaces the CAs trusted for the server certificate (a PEM bundle) for every request
    /// from now on, as after a CA rotation (decision 0029). New requests go over new
    /// connections; requests in flight finish on the old ones. A bundle without a usable
    /// certificate is rejected and the old trust stays. Ignored (Ok) when the client was
    /// built with `insecure_skip_tls_verify`, which trusts nothing in particular.
    pub fn set_trust(&self, ca_pem: &[u8]) -> Result<(), ClientError> {
        let _guard = self.inner.swap.lock().unwrap_or_else(|e| e.into_inner());
        let mut trust = self.inner.trust.write().unwrap_or_else(|e| e.into_inner());
        if trust.is_insecure() {
            return Ok(());
        }
        let new = ServerTrust::new(Some(ca_pem), false)?;
        let old = std::mem::replace(&mut *trust, new);
        drop(trust);
        if let Err(error) = self.rebuild_pool() {
            *self.inner.trust.write().unwrap_or_else(|e| e.into_inner()) = old;
            return Err(error);
        }
        Ok(())
    }

    /// A new connection pool from the current trust and certificate; callers hold `swap`.
    fn rebuild_pool(&self) -> Result<(), ClientError> {
        let http = {
            let trust = self.inner.trust.read().unwrap_or_else(|e| e.into_inner());
            build_pool(
                &trust,
                &self.inner.server_name_override,
                &self.inner.client_cert,
                self.inner.connect_timeout,
            )?
        };
        *self.inner.http.write().unwrap_or_else(|e| e.into_inner()) = http;
        Ok(())
    }

    /// Incremented by every `set_identity`.
    pub fn identity_version(&self) -> u64 {
        self.inner.identity_version.load(Ordering::SeqCst)
    }

    /// A client (sharing this one's connections and identity) that also retries 409 Conflict
    /// answers up to `retries` times. Useful for patches, whose server-side read-modify-write
    /// can lose a race; a PUT carrying a stale resourceVersion conflicts again, so for updates
    /// use [`crate::retry_on_conflict`], which re-reads.
    pub fn with_conflict_retry(&self, retries: u32) -> Client {
        Client {
            conflict_retries: retries,
            ..self.clone()
        }
    }

    /// A client with another retry policy (e.g. [`RetryPolicy::none`]).
    pub fn with_retry(&self, retry: RetryPolicy) -> Client {
        Client {
            retry,
            ..self.clone()
        }
    }

    /// A client with another per-attempt timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Client {
        Client {
            request_timeout: timeout,
            ..self.clone()
        }
    }

    /// Any request, retried like the typed calls; returns whatever the server finally said
    /// (non-2xx included) so the caller can inspect it. `path` includes the query.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<RawResponse, ClientError> {
        let body = body.map(|b| (b, "application/json"));
        self.execute_raw(method, path, body).await
    }

    /// POST of a JSON body to `path`, answered with status and body (see `request_raw`).
    pub async fn create_raw(&self, path: &str, body: Bytes) -> Result<RawResponse, ClientError> {
        self.request_raw(Method::POST, path, Some(body)).await
    }

    /// A request whose non-2xx answers become errors (a parsed Status when the body is one).
    pub(crate) async fn execute(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &'static str)>,
    ) -> Result<RawResponse, ClientError> {
        let response = self.execute_raw(method, path, body).await?;
        if response.status.is_success() {
            Ok(response)
        } else {
            Err(error_from_response(response.status, &response.body))
        }
    }

    /// The retry loop: connection errors, timeouts, 5xx and 429 (and 409 when asked) are
    /// retried with capped, jittered exponential backoff until the policy's time budget is
    /// spent; the last answer or error is returned.
    async fn execute_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &'static str)>,
    ) -> Result<RawResponse, ClientError> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut conflicts: u32 = 0;
        loop {
            let outcome = self.attempt(&method, path, body.clone()).await;
            let retry_after = match &outcome {
                Ok(response) => {
                    let status = response.status;
                    let conflict_retry = status == StatusCode::CONFLICT
                        && conflicts < self.conflict_retries
                        && !is_already_exists(&response.body);
                    if conflict_retry {
                        conflicts += 1;
                    } else if !(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
                    {
                        return outcome;
                    }
                    retry_after(&response.headers).or_else(|| {
                        // The apiserver says how long in the Status alone when the wait may be
                        // long (decision 0030); past the budget, the caller gets the answer now.
                        error_from_response(status, &response.body).retry_after()
                    })
                }
                Err(err) if err.is_retryable() => None,
                Err(_) => return outcome,
            };
            let mut delay = self.retry.backoff(attempt, &mut rand::rng());
            if let Some(wait) = retry_after {
                delay = delay.max(wait.min(MAX_RETRY_AFTER));
            }
            if started.elapsed() + delay > self.retry.max_elapsed {
                return outcome;
            }
            match &outcome {
                Ok(response) => {
                    tracing::debug!(%method, path, status = %response.status, ?delay, "retrying")
                }
                Err(error) => tracing::debug!(%method, path, %error, ?delay, "retrying"),
            }
            tokio::time::sleep(delay).await;
            attempt = attempt.saturating_add(1);
        }
    }

    /// One request with the request timeout over the whole answer.
    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<(Bytes, &'static str)>,
    ) -> Result<RawResponse, ClientError> {
        let timeout = self.request_timeout;
        let work = async {
            let response = self
                .send(method.clone(), path, body, "application/json")
                .await?;
            let (parts, incoming) = response.into_parts();
            let body = read_body(incoming).await?;
            Ok(RawResponse {
                status: parts.status,
                version: parts.version,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    /// Sends one request and returns the response head with its body still streaming (for
    /// watches). No retry, no timeout.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &'static str)>,
        accept: &'static str,
    ) -> Result<Response<Incoming>, ClientError> {
        let uri = format!("{}{}", self.inner.base, path);
        let mut builder = Request::builder()
            .method(method)
            .uri(&uri)
            .header(USER_AGENT, self.inner.user_agent.clone())
            .header(ACCEPT, accept);
        let token = self
            .inner
            .token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ClientError::InvalidConfig(
                    "the bearer token is not a valid header value".to_string(),
                )
            })?;
            builder = builder.header(AUTHORIZATION, value);
        }
        let body = match body {
            Some((bytes, content_type)) => {
                builder = builder.header(CONTENT_TYPE, content_type);
                Full::new(bytes)
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder.body(body).map_err(|e| {
            ClientError::InvalidRequest(format!("cannot build request for {uri}: {e}"))
        })?;
        let http = self
            .inner
            .http
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        http.request(request).await.map_err(|e| {
            let text = describe_transport_error(&e);
            if rustls_error(&e).is_some_and(is_certificate_time) {
                ClientError::CertificateTime(text)
            } else if rustls_error(&e).is_some() {
                // A certificate the server or we reject will not heal by retrying.
                ClientError::Tls(text)
            } else {
                ClientError::Transport(text)
            }
        })
    }

    /// The per-attempt timeout (watches use it for the response head).
    pub(crate) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.inner.base)
            .field("identity_version", &self.identity_version())
            .finish_non_exhaustive()
    }
}

fn build_pool(
    trust: &ServerTrust,
    server_name_override: &Option<ServerName<'static>>,
    client_cert: &Arc<SwappableClientCert>,
    connect_timeout: Duration,
) -> Result<HttpClient, ClientError> {
    let tls = client_config(trust, client_cert.clone())?;
    let connector = TlsConnectorService::new(tls, server_name_override.clone(), connect_timeout);
    Ok(HyperClient::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        // Keep h2 connections alive through idle periods and notice dead peers.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(10))
        .http2_keep_alive_while_idle(true)
        .build(connector))
}

fn token_of(identity: &Identity) -> Option<String> {
    match identity {
        Identity::Token(token) => Some(token.clone()),
        _ => None,
    }
}

/// Reads a whole body, bounded.
pub(crate) async fn read_body(incoming: Incoming) -> Result<Bytes, ClientError> {
    let limited = http_body_util::Limited::new(incoming, MAX_BODY_BYTES);
    let collected = limited
        .collect()
        .await
        .map_err(|e| ClientError::Transport(format!("failed to read the response body: {e}")))?;
    Ok(collected.to_bytes())
}

/// A failed answer as an error: the Kubernetes Status when the body is one.
pub(crate) fn error_from_response(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) if value.get("kind").and_then(|k| k.as_str()) == Some("Status") => {
            match serde_json::from_value::<Status>(value) {
                Ok(mut parsed) => {
                    if parsed.code == 0 {
                        parsed.code = i32::from(status.as_u16());
                    }
                    ClientError::api(parsed)
                }
                Err(e) => ClientError::Decode(format!("unreadable Status body ({status}): {e}")),
            }
        }
        _ => ClientError::UnexpectedResponse {
            code: status.as_u16(),
            body: String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned(),
        },
    }
}

fn is_already_exists(body: &[u8]) -> bool {
    matches!(
        error_from_response(StatusCode::CONFLICT, body),
        ClientError::Api { ref status } if status.reason == "AlreadyExists"
    )
}

/// `Retry-After: <seconds>` (the HTTP-date form is not used by the apiserver).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The rustls error in the chain of causes, if any (handshake refused, bad certificate).
fn rustls_error(error: &hyper_util::client::legacy::Error) -> Option<&rustls::Error> {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        source = cause.source();
    }
    None
}

/// The server's certificate judged by our clock: expired or not yet valid.
fn is_certificate_time(error: &rustls::Error) -> bool {
    use rustls::CertificateError::{Expired, ExpiredContext, NotValidYet, NotValidYetContext};
    matches!(
        error,
        rustls::Error::InvalidCertificate(
            Expired | ExpiredContext { .. } | NotValidYet | NotValidYetContext { .. }
        )
    )
}

/// hyper-util's error Display is terse ("client error (Connect)"); add the causes.
fn describe_transport_error(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_certificate_times_count_as_clock_trouble() {
        use rustls::CertificateError;
        for time in [CertificateError::Expired, CertificateError::NotValidYet] {
            assert!(is_certificate_time(&rustls::Error::InvalidCertificate(
                time
            )));
        }
        for other in [
            CertificateError::UnknownIssuer,
            CertificateError::BadSignature,
            CertificateError::NotValidForName,
        ] {
            assert!(!is_certificate_time(&rustls::Error::InvalidCertificate(
                other
            )));
        }
        assert!(!is_certificate_time(&rustls::Error::DecryptError));
    }

    #[test]
    fn status_bodies_become_api_errors() {
        let body = serde_json::to_vec(&Status::not_found("", "nodes", "a")).unwrap();
        let err = error_from_response(StatusCode::NOT_FOUND, &body);
        assert!(err.is_not_found(), "{err:?}");
        assert!(err.to_string().contains("nodes \"a\" not found"), "{err}");
    }

    #[test]
    fn other_bodies_are_unexpected_responses() {
        let err = error_from_response(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        match err {
            ClientError::UnexpectedResponse { code, body } => {
                assert_eq!(code, 502);
                assert!(body.contains("bad gateway"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn retry_after_is_read_from_a_status_body_without_the_header() {
        let body = serde_json::to_vec(&Status::too_many_requests("slow down", 7)).unwrap();
        let error = error_from_response(StatusCode::TOO_MANY_REQUESTS, &body);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_seconds_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn plain_http_and_missing_ca_are_refused() {
        let http = ClientConfig::new(
            "http://127.0.0.1:1".parse().unwrap(),
            None,
            Identity::None,
            "t",
        );
        assert!(matches!(
            Client::new(http),
            Err(ClientError::InvalidConfig(_))
        ));
        let no_ca = ClientConfig::new(
            "https://127.0.0.1:1".parse().unwrap(),
            None,
            Identity::None,
            "t",
        );
        let err = Client::new(no_ca).unwrap_err();
        assert!(err.to_string().contains("certificate-authority"), "{err}");
    }
}
