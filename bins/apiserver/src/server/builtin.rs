//! Endpoints serving answers itself (after authentication and authorization, like upstream):
//! health checks, `/version`, `/metrics` and the `/openapi/v3` documents.

use http::{HeaderMap, HeaderValue, Method, Response, Uri};
use protocol::meta::Status;
use serde::Serialize;

use super::State;
use super::pipeline::status_response;
use crate::body::{Body, full};
use crate::metrics;
use crate::request_info::RequestInfo;

/// The Kubernetes version this server speaks; kubectl reads major, minor and gitVersion.
pub const KUBERNETES_MAJOR: &str = "1";
pub const KUBERNETES_MINOR: &str = "32";
pub const GIT_VERSION: &str = "v1.32.0-tlsboot";

/// `version.Info`, field for field.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub major: &'static str,
    pub minor: &'static str,
    pub git_version: &'static str,
    pub git_commit: &'static str,
    pub git_tree_state: &'static str,
    pub build_date: &'static str,
    pub go_version: &'static str,
    pub compiler: &'static str,
    pub platform: String,
}

impl VersionInfo {
    pub fn current() -> VersionInfo {
        VersionInfo {
            major: KUBERNETES_MAJOR,
            minor: KUBERNETES_MINOR,
            git_version: GIT_VERSION,
            // Stamped by the release build through the environment; placeholders otherwise.
            git_commit: option_env!("APISERVER_GIT_COMMIT").unwrap_or("unknown"),
            git_tree_state: option_env!("APISERVER_GIT_TREE_STATE").unwrap_or("unknown"),
            build_date: option_env!("APISERVER_BUILD_DATE").unwrap_or("1970-01-01T00:00:00Z"),
            go_version: concat!("apiserver ", env!("CARGO_PKG_VERSION"), " (rust)"),
            compiler: "rustc",
            platform: format!("{}/{}", std::env::consts::OS, go_arch()),
        }
    }
}

/// Go's GOARCH names, which clients expect in `platform`.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The built-in answer for `info`, or `None` when the REST handlers should answer.
pub(super) async fn answer(
    state: &State,
    info: &RequestInfo,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response<Body>> {
    if info.is_resource_request || !(method == Method::GET || method == Method::HEAD) {
        return None;
    }
    let path = info.path.trim_end_matches('/');
    match path {
        "/healthz" | "/livez" | "/readyz" | "/healthz/ping" | "/livez/ping" | "/readyz/ping" => {
            Some(text("ok".to_string(), "text/plain; charset=utf-8"))
        }
        "/version" => {
            let body = serde_json::to_vec_pretty(&VersionInfo::current()).unwrap_or_default();
            Some(text_bytes(body, "application/json"))
        }
        "/metrics" => Some(match state.metrics.render(&state.store).await {
            Ok(body) => text(body, metrics::CONTENT_TYPE),
            Err(error) => status_response(&Status::internal_error(error)),
        }),
        _ if path.starts_with("/openapi/") => {
            state.openapi.answer(method, path, uri.query(), headers)
        }
        _ => None,
    }
}

fn text(body: String, content_type: &'static str) -> Response<Body> {
    text_bytes(body.into_bytes(), content_type)
}

fn text_bytes(body: Vec<u8>, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(full(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_json_has_kubernetes_fields() {
        let json = serde_json::to_value(VersionInfo::current()).expect("json");
        assert_eq!(json["major"], "1");
        assert_eq!(json["minor"], "32");
        assert_eq!(json["gitVersion"], "v1.32.0-tlsboot");
        for field in [
            "gitCommit",
            "gitTreeState",
            "buildDate",
            "goVersion",
            "compiler",
            "platform",
        ] {
            assert!(json[field].is_string(), "{field}");
        }
    }
}
