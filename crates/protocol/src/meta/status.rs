//! `meta/v1.Status`: the body of every error response (and of some deletes).

use serde::{Deserialize, Serialize};

use super::ListMeta;
use crate::resource::typed_json;
use crate::serde_helpers::{is_zero_i32, null_as_default};

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct Status {
    /// Always written (as `{}`), like Go does for a non-pointer struct.
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ListMeta,
    /// `Success` or `Failure`.
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, ...).
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(message, optional, tag = "5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP status code of the response that carries this Status.
    #[prost(int32, tag = "6")]
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub code: i32,
}

typed_json!(Status, "v1", "Status");

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Despite the name, upstream puts the resource (plural) here for most errors.
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[prost(string, tag = "6")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[prost(message, repeated, tag = "4")]
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub causes: Vec<StatusCause>,
    #[prost(int32, tag = "5")]
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub retry_after_seconds: i32,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    /// `FieldValueInvalid`, `FieldValueRequired`, ...
    #[prost(string, tag = "1")]
    #[serde(default, rename = "reason", skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// `resource.group` as upstream error messages spell a resource (`nodes` for the core group).
fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

fn details(group: &str, resource: &str, name: &str) -> Option<StatusDetails> {
    Some(StatusDetails {
        name: name.to_string(),
        group: group.to_string(),
        kind: resource.to_string(),
        ..Default::default()
    })
}

impl Status {
    /// A `Failure` Status with the given HTTP code, reason and message.
    pub fn failure(code: u16, reason: &str, message: impl Into<String>) -> Status {
        Status {
            metadata: ListMeta::default(),
            status: "Failure".to_string(),
            message: message.into(),
            reason: reason.to_string(),
            details: None,
            code: i32::from(code),
        }
    }

    /// A `Success` Status (the answer to some deletes).
    pub fn success(group: &str, resource: &str, name: &str, uid: &str) -> Status {
        let mut details = details(group, resource, name);
        if let Some(d) = details.as_mut() {
            d.uid = uid.to_string();
        }
        Status {
            status: "Success".to_string(),
            details,
            ..Default::default()
        }
    }

    pub fn with_details(mut self, details: StatusDetails) -> Status {
        self.details = Some(details);
        self
    }

    /// 404 `certificatesigningrequests.certificates.k8s.io "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Status {
        let message = format!("{} {name:?} not found", qualified(group, resource));
        Status {
            details: details(group, resource, name),
            ..Status::failure(404, "NotFound", message)
        }
    }

    /// 409 `... "x" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Status {
        let message = format!("{} {name:?} already exists", qualified(group, resource));
        Status {
            details: details(group, resource, name),
            ..Status::failure(409, "AlreadyExists", message)
        }
    }

    /// 409 optimistic-concurrency failure, worded like upstream.
    pub fn conflict(group: &str, resource: &str, name: &str) -> Status {
        let message = format!(
            "Operation cannot be fulfilled on {} {name:?}: the object has been modified; \
             please apply your changes to the latest version and try again",
            qualified(group, resource)
        );
        Status {
            details: details(group, resource, name),
            ..Status::failure(409, "Conflict", message)
        }
    }

    /// 422 `Kind.group "name" is invalid: <field>: <message>, ...`; `causes` are
    /// `(field, reason, message)`, e.g. `("spec.request", "FieldValueInvalid", "Invalid value: ...")`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<StatusCause>) -> Status {
        let summary: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let subject = qualified(group, kind);
        let message = match summary.len() {
            0 => format!("{subject} {name:?} is invalid"),
            1 => format!("{subject} {name:?} is invalid: {}", summary[0]),
            _ => format!("{subject} {name:?} is invalid: [{}]", summary.join(", ")),
        };
        let details = StatusDetails {
            name: name.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            causes,
            ..Default::default()
        };
        Status {
            details: Some(details),
            ..Status::failure(422, "Invalid", message)
        }
    }

    /// 403 with an authorizer's message (see `rbac::forbidden_message`).
    pub fn forbidden(
        group: &str,
        resource: &str,
        name: &str,
        message: impl Into<String>,
    ) -> Status {
        Status {
            details: details(group, resource, name),
            ..Status::failure(403, "Forbidden", message)
        }
    }

    /// 401 `Unauthorized`.
    pub fn unauthorized() -> Status {
        Status::failure(401, "Unauthorized", "Unauthorized")
    }

    pub fn bad_request(message: impl Into<String>) -> Status {
        Status::failure(400, "BadRequest", message)
    }

    /// 410 for a watch from a compacted resource version.
    pub fn gone(message: impl Into<String>) -> Status {
        Status::failure(410, "Expired", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Status {
        Status::failure(405, "MethodNotAllowed", message)
    }

    pub fn not_acceptable(message: impl Into<String>) -> Status {
        Status::failure(406, "NotAcceptable", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Status {
        Status::failure(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got {content_type}"
            ),
        )
    }

    pub fn request_entity_too_large(message: impl Into<String>) -> Status {
        Status::failure(413, "RequestEntityTooLarge", message)
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: i32) -> Status {
        let details = StatusDetails {
            retry_after_seconds,
            ..Default::default()
        };
        Status {
            details: Some(details),
            ..Status::failure(429, "TooManyRequests", message)
        }
    }

    /// 500 `Internal error occurred: <message>`.
    pub fn internal_error(message: impl std::fmt::Display) -> Status {
        let causes = vec![StatusCause {
            reason: String::new(),
            message: message.to_string(),
            field: String::new(),
        }];
        let details = StatusDetails {
            causes,
            ..Default::default()
        };
        Status {
            details: Some(details),
            ..Status::failure(
                500,
                "InternalError",
                format!("Internal error occurred: {message}"),
            )
        }
    }

    /// 404 for an unknown URL (no `details`), `the server could not find the requested resource`.
    pub fn path_not_found() -> Status {
        Status {
            details: Some(StatusDetails::default()),
            ..Status::failure(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        }
    }

    /// The HTTP status code as a `u16` (500 when the code is out of range).
    pub fn http_code(&self) -> u16 {
        u16::try_from(self.code)
            .ok()
            .filter(|c| (100..600).contains(c))
            .unwrap_or(500)
    }
}

impl StatusCause {
    /// `field: Invalid value: "value": detail`, reason `FieldValueInvalid`.
    pub fn invalid_value(field: &str, value: &str, detail: &str) -> StatusCause {
        StatusCause {
            reason: "FieldValueInvalid".to_string(),
            message: format!("Invalid value: {value:?}: {detail}"),
            field: field.to_string(),
        }
    }

    /// `field: Required value`, reason `FieldValueRequired`.
    pub fn required(field: &str, detail: &str) -> StatusCause {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        StatusCause {
            reason: "FieldValueRequired".to_string(),
            message,
            field: field.to_string(),
        }
    }

    /// `field: Unsupported value: "v": supported values: ...`, reason `FieldValueNotSupported`.
    pub fn not_supported(field: &str, value: &str, supported: &[&str]) -> StatusCause {
        let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        StatusCause {
            reason: "FieldValueNotSupported".to_string(),
            message: format!(
                "Unsupported value: {value:?}: supported values: {}",
                quoted.join(", ")
            ),
            field: field.to_string(),
        }
    }

    /// `field: Forbidden: detail`, reason `FieldValueForbidden`.
    pub fn forbidden(field: &str, detail: &str) -> StatusCause {
        StatusCause {
            reason: "FieldValueForbidden".to_string(),
            message: format!("Forbidden: {detail}"),
            field: field.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_json_matches_upstream() {
        let status = Status::not_found("certificates.k8s.io", "certificatesigningrequests", "x");
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"certificatesigningrequests.certificates.k8s.io \"x\" not found","reason":"NotFound","details":{"name":"x","group":"certificates.k8s.io","kind":"certificatesigningrequests"},"code":404}"#
        );
    }

    #[test]
    fn invalid_lists_causes() {
        let status = Status::invalid(
            "certificates.k8s.io",
            "CertificateSigningRequest",
            "n",
            vec![
                StatusCause::required("spec.signerName", ""),
                StatusCause::required("spec.usages", ""),
            ],
        );
        assert_eq!(
            status.message,
            "CertificateSigningRequest.certificates.k8s.io \"n\" is invalid: [spec.signerName: Required value, spec.usages: Required value]"
        );
        assert_eq!(status.http_code(), 422);
    }
}
