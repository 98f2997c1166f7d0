//! The apiserver's clock, asked when its certificate is rejected as expired or not yet valid:
//! usually this machine's clock is wrong (a VM resumed after days, no NTP), and saying by how
//! much turns an x509 error into something to fix (peers-and-pain-points #9).

use std::time::{Duration, SystemTime};

use http::Method;
use http::header::DATE;

use crate::client::Client;
use crate::config::{ClientConfig, RetryPolicy};
use crate::error::ClientError;

/// The time in the `Date` header of the apiserver's answer to `GET /healthz`.
///
/// The server's certificate is NOT verified (it was just rejected, that is the point) and no
/// credentials are sent, so nothing is exposed; a man in the middle can only make the
/// diagnosis wrong.
pub async fn server_time(config: &ClientConfig) -> Result<SystemTime, ClientError> {
    let mut probe = ClientConfig::new(
        config.server.clone(),
        None,
        kubeconfig::Identity::None,
        &config.user_agent,
    );
    probe.insecure_skip_tls_verify = true;
    probe.tls_server_name = config.tls_server_name.clone();
    probe.request_timeout = Duration::from_secs(5);
    probe.retry = RetryPolicy {
        max_elapsed: Duration::ZERO,
        ..RetryPolicy::default()
    };
    let response = Client::new(probe)?
        .request_raw(Method::GET, "/healthz", None)
        .await?;
    let date = response
        .headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ClientError::Decode("the answer has no Date header".to_string()))?;
    httpdate::parse_http_date(date)
        .map_err(|e| ClientError::Decode(format!("unreadable Date header {date:?}: {e}")))
}
