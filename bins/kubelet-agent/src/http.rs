//! The agent's HTTP endpoints and the small accept loop both ports share. The kubelet port
//! answers `/healthz`, `/metrics` and `/pods` over TLS; the localhost healthz port answers
//! `/healthz` in plain HTTP, like the kubelet's 10248.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use protocol::authentication::v1::UserInfo;

use crate::auth::PortAuth;
use crate::state::AgentState;

/// Which endpoints a port offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoints {
    /// `/healthz` only.
    Healthz,
    /// `/healthz`, `/metrics`, `/pods`.
    Kubelet,
}

pub fn respond(path: &str, endpoints: Endpoints, state: &AgentState) -> Response<Full<Bytes>> {
    let now = SystemTime::now();
    match (path, endpoints) {
        ("/healthz", _) => match state.health(now) {
            Ok(()) => text(StatusCode::OK, "ok".to_owned()),
            Err(reason) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("[-]client-certificate failed: {reason}\nhealthz check failed\n"),
            ),
        },
        ("/metrics", Endpoints::Kubelet) => {
            let mut response = text(StatusCode::OK, state.render_metrics(now));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        ("/pods", Endpoints::Kubelet) => {
            let mut response = text(
                StatusCode::OK,
                r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}"#.to_owned(),
            );
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            response
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n".to_owned()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// What a connection's requests must pass first: the port's checks and the user of the
/// connection's verified client certificate.
pub struct Guard {
    pub auth: Arc<PortAuth>,
    pub certificate: Option<UserInfo>,
}

/// Serves one connection (HTTP/1.1 or HTTP/2) until it closes; with a `guard`, every request
/// is authenticated and authorized first.
pub async fn serve_connection<S>(
    stream: S,
    endpoints: Endpoints,
    state: Arc<AgentState>,
    guard: Option<Guard>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let guard = guard.map(Arc::new);
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let state = state.clone();
        let guard = guard.clone();
        async move {
            if let Some(guard) = guard {
                let header = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                let checked = guard
                    .auth
                    .check(
                        guard.certificate.clone(),
                        header,
                        request.method(),
                        request.uri().path(),
                    )
                    .await;
                if let Err(refusal) = checked {
                    return Ok::<_, Infallible>(text(refusal.status, refusal.message));
                }
            }
            Ok::<_, Infallible>(respond(request.uri().path(), endpoints, &state))
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Accepts plain-HTTP connections until shutdown.
pub async fn serve_plain(
    listener: TcpListener,
    endpoints: Endpoints,
    state: Arc<AgentState>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, endpoints, state.clone(), None));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Lifetime;
    use std::time::Duration;

    #[test]
    fn endpoints_answer_by_port_kind() {
        let state = AgentState::default();
        assert_eq!(
            respond("/healthz", Endpoints::Healthz, &state).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let now = SystemTime::now();
        state.set_client_cert(
            Lifetime {
                not_before: now - Duration::from_secs(10),
                not_after: now + Duration::from_secs(3600),
            },
            "X509SHA256=00".to_owned(),
        );
        assert_eq!(
            respond("/healthz", Endpoints::Healthz, &state).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/metrics", Endpoints::Healthz, &state).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond("/metrics", Endpoints::Kubelet, &state).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond("/pods", Endpoints::Kubelet, &state).status(),
            StatusCode::OK
        );
    }
}
