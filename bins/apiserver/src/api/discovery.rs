//! Legacy discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`).
//! Plain documents only: kubectl asks for the aggregated v2 form first but accepts these and then
//! asks per group version.

use http::StatusCode;
use protocol::discovery;
use protocol::meta::Status;

use super::response::{json_response, status_response};
use crate::body::Body;

/// Answers a discovery path, or `None` when `path` is not one.
pub fn answer(path: &str, server_address: &str) -> Option<http::Response<Body>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let not_found = || status_response(&Status::path_not_found());
    let response = match segments.as_slice() {
        ["api"] => json_response(StatusCode::OK, &discovery::api_versions(server_address)),
        ["api", version] => match discovery::api_resource_list("", version) {
            Some(list) => json_response(StatusCode::OK, &list),
            None => not_found(),
        },
        ["apis"] => json_response(StatusCode::OK, &discovery::api_group_list()),
        ["apis", group] => match discovery::api_group(group) {
            Some(doc) => json_response(StatusCode::OK, &doc.to_document()),
            None => not_found(),
        },
        ["apis", group, version] => match discovery::api_resource_list(group, version) {
            Some(list) => json_response(StatusCode::OK, &list),
            None => not_found(),
        },
        _ => return None,
    };
    Some(response)
}
