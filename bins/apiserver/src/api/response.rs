//! Building responses: JSON bodies with their HTTP code, and store errors as upstream Statuses.

use http::{HeaderValue, StatusCode, header};
use protocol::meta::Status;
use serde::Serialize;

use super::registry::ResourceDef;
use crate::body::{self, Body};

/// A JSON response carrying a Status, with the Status's code as the HTTP code.
pub fn status_response(status: &Status) -> http::Response<Body> {
    let code =
        StatusCode::from_u16(status.http_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, status)
}

/// A JSON response of any serializable value.
pub fn json_response<T: Serialize + ?Sized>(code: StatusCode, value: &T) -> http::Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => bytes_response(code, bytes),
        Err(e) => {
            let status = Status::internal_error(format!("failed to encode the response: {e}"));
            // A Status always encodes; the fallback only keeps this path panic-free.
            let bytes = serde_json::to_vec(&status).unwrap_or_default();
            bytes_response(StatusCode::INTERNAL_SERVER_ERROR, bytes)
        }
    }
}

/// A response of JSON text that is already encoded (stored objects as they are kept).
pub fn json_bytes_response(code: StatusCode, bytes: Vec<u8>) -> http::Response<Body> {
    bytes_response(code, bytes)
}

fn bytes_response(code: StatusCode, bytes: Vec<u8>) -> http::Response<Body> {
    let mut response = http::Response::new(body::full(bytes));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Maps a store error onto the Status upstream answers for `name` of `def`.
pub fn store_error(def: &ResourceDef, name: &str, error: store::StoreError) -> Status {
    use store::StoreError as E;
    match error {
        E::NotFound(_) => Status::not_found(def.group, def.plural, name),
        E::AlreadyExists(_) => Status::already_exists(def.group, def.plural, name),
        E::Conflict { .. } => Status::conflict(def.group, def.plural, name),
        E::Gone { .. } | E::Expired { .. } => Status::gone(error.to_string()),
        E::InvalidKey(detail) => Status::bad_request(detail),
        other => {
            tracing::error!(error = %other, resource = def.plural, name, "store operation failed");
            Status::internal_error(other)
        }
    }
}
