//! HTTP answers for the documents: JSON with an ETag (kubectl's HTTP cache revalidates with
//! `If-None-Match`), immutable caching when the URL carries the content hash.

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use protocol::meta::Status;

use crate::api::status_response;
use crate::body::{Body, full};

/// `/openapi/v2` in protobuf (the only form kubectl asks for); 406 for any other `Accept`.
pub fn v2(protobuf: &Bytes, hash: &str, headers: &HeaderMap) -> Response<Body> {
    let accepts_protobuf = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.contains(super::v2::PROTOBUF_MEDIA_TYPE)
                || v.contains(super::v2::PROTOBUF_CONTENT_TYPE)
        });
    if !accepts_protobuf {
        return status_response(&Status::not_acceptable(format!(
            "only {} is served for /openapi/v2; the JSON documents are under /openapi/v3",
            super::v2::PROTOBUF_MEDIA_TYPE
        )));
    }
    let mut response = document(protobuf, hash, false, headers);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(super::v2::PROTOBUF_CONTENT_TYPE),
    );
    response
}

/// `200` with the document, or `304` when the client already holds this version.
pub fn document(json: &Bytes, hash: &str, immutable: bool, headers: &HeaderMap) -> Response<Body> {
    let etag = format!("\"{hash}\"");
    let cached = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        });
    let mut response = if cached {
        let mut response = Response::new(full(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(full(json.clone()));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    };
    let cache_control = if immutable {
        "public, immutable"
    } else {
        "no-cache, private"
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    response
}

/// `301` to the current URL of a document.
pub fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    response
}
