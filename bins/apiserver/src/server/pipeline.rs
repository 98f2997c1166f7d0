//! One request, in kube-apiserver's filter order: request info, authentication, impersonation,
//! authorization, then the built-in endpoints or the REST handlers with a bounded body. A panic
//! anywhere below becomes a 500 Status for this request only.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use bytes::Bytes;
use futures::FutureExt as _;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use protocol::meta::Status;
use rbac::Decision;
use time::OffsetDateTime;

use super::{State, builtin};
use crate::authn::{PeerIdentity, impersonation};
use crate::authz;
use crate::body::{Body, full};
use crate::request_info::RequestInfo;

/// Largest request body accepted (kube-apiserver's default `--max-request-bytes` is 3 MiB).
pub const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

/// Answers one request and records it in the metrics.
pub(super) async fn handle(
    state: &State,
    peer: &PeerIdentity,
    remote: SocketAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let info = RequestInfo::parse(request.method(), request.uri());
    let method = request.method().clone();
    let mut response = answer_or_500(
        authenticated_and_authorized(state, peer, remote, &info, request),
        |what| tracing::error!(%remote, method = %method, path = %info.path, panic = %what, "handler panicked"),
    )
    .await;
    response
        .headers_mut()
        .insert(http::header::DATE, date_header(OffsetDateTime::now_utc()));
    state.metrics.observe_request(
        metric_verb(&method, &info),
        &info.resource,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `Date`, as Go's net/http sets it on every response, marked never to be HPACK-indexed: it
/// changes every second, so indexing it (what hyper's own Date does) only adds an entry to
/// every HTTP/2 connection's header table on each answer, ~5 KiB more per node over a few
/// minutes of Lease renewals at 10,000 nodes.
fn date_header(now: OffsetDateTime) -> HeaderValue {
    const IMF_FIXDATE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let text = now
        .to_offset(time::UtcOffset::UTC)
        .format(IMF_FIXDATE)
        .unwrap_or_default();
    let mut value = HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// Runs `handler`; if it panics, reports the panic message to `report` and answers 500, so
/// one bad request never takes down its connection or the server.
async fn answer_or_500(
    handler: impl Future<Output = Response<Body>>,
    report: impl FnOnce(&str),
) -> Response<Body> {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            report(&what);
            status_response(&Status::internal_error(
                "the server panicked while handling the request",
            ))
        }
    }
}

async fn authenticated_and_authorized(
    state: &State,
    peer: &PeerIdentity,
    remote: SocketAddr,
    info: &RequestInfo,
    request: Request<Incoming>,
) -> Response<Body> {
    let user = match state.authenticator.authenticate(
        peer,
        request.headers(),
        OffsetDateTime::now_utc(),
    ) {
        Ok(user) => user,
        Err(failure) => {
            state.metrics.authentication_failed(failure.metric_reason);
            tracing::info!(%remote, method = %request.method(), path = %info.path, reason = %failure.reason, "Unable to authenticate the request");
            return status_response(&Status::unauthorized());
        }
    };
    // The issuer of the client certificate, when the request acts as the user it names
    // (decision 0029: admission writes it on the node's Node).
    let issuer = match peer {
        PeerIdentity::Verified(certificate)
            if user
                .extra
                .get(protocol::authentication::v1::CREDENTIAL_ID_EXTRA)
                .and_then(|ids| ids.first())
                == Some(&certificate.credential_id) =>
        {
            certificate.issuer.clone()
        }
        _ => None,
    };
    let mut request = request;
    let user = match impersonation::acting_user(&user, request.headers(), &*state.authorizer) {
        Ok(None) => {
            if let Some(issuer) = issuer {
                request
                    .extensions_mut()
                    .insert(crate::api::ClientCertificateIssuer(issuer));
            }
            user
        }
        Ok(Some(acting)) => {
            tracing::debug!(%remote, user = %user.name, acting_as = %acting.name, groups = ?acting.groups, "impersonating");
            acting
        }
        Err(status) => {
            tracing::info!(%remote, user = %user.name, message = %status.message, "impersonation refused");
            return status_response(&status);
        }
    };
    let attributes = authz::attributes(info, user.clone());
    let (decision, reason) = state.authorizer.authorize(&attributes);
    if decision != Decision::Allow {
        let status = authz::forbidden_status(&attributes, &reason);
        tracing::info!(%remote, user = %user.name, groups = ?user.groups, message = %status.message, "Forbidden");
        return status_response(&status);
    }
    if let Some(response) = builtin::answer(
        state,
        info,
        request.method(),
        request.uri(),
        request.headers(),
    )
    .await
    {
        return response;
    }
    let (parts, body) = request.into_parts();
    let body = match read_body(&parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(status) => return status_response(&status),
    };
    let warnings =
        match state
            .openapi
            .validate_fields(info, parts.uri.query(), &parts.headers, &body)
        {
            Ok(warnings) => warnings,
            Err(status) => return status_response(&status),
        };
    let mut response = state
        .api
        .handle(Request::from_parts(parts, body), info, &user)
        .await;
    crate::openapi::add_warnings(&mut response, &warnings);
    response
}

/// The body, at most [`MAX_REQUEST_BYTES`]; 413 beyond (checked on Content-Length first so an
/// honest client is refused before it uploads).
async fn read_body(headers: &http::HeaderMap, body: Incoming) -> Result<Bytes, Status> {
    let too_large = || {
        Status::request_entity_too_large(format!(
            "Request entity too large: limit is {MAX_REQUEST_BYTES}"
        ))
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_REQUEST_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => Err(Status::bad_request(format!(
            "failed to read the request body: {error}"
        ))),
    }
}

/// The verb label upstream reports: LIST and WATCH for collection reads, else the HTTP method.
fn metric_verb<'a>(method: &'a Method, info: &RequestInfo) -> &'a str {
    match info.verb.as_str() {
        "list" if info.is_resource_request => "LIST",
        "watch" if info.is_resource_request => "WATCH",
        _ if *method == Method::HEAD => "GET",
        _ => method.as_str(),
    }
}

/// A JSON `Status` response with the Status's code.
pub fn status_response(status: &Status) -> Response<Body> {
    let body = serde_json::to_vec(status).unwrap_or_else(|_| {
        br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","code":500}"#
            .to_vec()
    });
    let mut response = Response::new(full(body));
    *response.status_mut() =
        StatusCode::from_u16(status.http_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_body_is_byte_exact() {
        let response = status_response(&Status::unauthorized());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body = serde_json::to_string(&Status::unauthorized()).expect("json");
        assert_eq!(
            body,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
    }

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_status() {
        let mut reported = String::new();
        let response = answer_or_500(
            async {
                let empty: Vec<u8> = Vec::new();
                // An out-of-bounds index, as a buggy handler might do.
                let _ = empty[usize::from(empty.is_empty())];
                status_response(&Status::unauthorized())
            },
            |what| reported = what.to_string(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(reported.contains("index out of bounds"), "{reported}");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let status: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(status["reason"], "InternalError");
        assert_eq!(status["code"], 500);
    }

    #[test]
    fn date_is_imf_fixdate_and_never_indexed() {
        let at = time::macros::datetime!(2026-11-07 09:05:03 UTC);
        let value = date_header(at);
        assert_eq!(value, "Sat, 07 Nov 2026 09:05:03 GMT");
        assert!(value.is_sensitive());
        let elsewhere = time::macros::datetime!(2026-11-07 10:05:03 +1);
        assert_eq!(date_header(elsewhere), "Sat, 07 Nov 2026 09:05:03 GMT");
    }

    #[test]
    fn metric_verbs() {
        let info = |m: &Method, uri: &str| RequestInfo::parse(m, &uri.parse().expect("uri"));
        assert_eq!(
            metric_verb(&Method::GET, &info(&Method::GET, "/api/v1/nodes")),
            "LIST"
        );
        assert_eq!(
            metric_verb(&Method::GET, &info(&Method::GET, "/api/v1/nodes?watch=1")),
            "WATCH"
        );
        assert_eq!(
            metric_verb(&Method::GET, &info(&Method::GET, "/api/v1/nodes/a")),
            "GET"
        );
        assert_eq!(
            metric_verb(&Method::POST, &info(&Method::POST, "/api/v1/nodes")),
            "POST"
        );
        assert_eq!(
            metric_verb(&Method::GET, &info(&Method::GET, "/healthz")),
            "GET"
        );
    }
}
