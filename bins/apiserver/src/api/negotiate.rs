//! Content negotiation: which media type a request body is in, and whether the client wants a
//! Table instead of the object or list.

use http::HeaderMap;
use http::header::{ACCEPT, CONTENT_TYPE};
use protocol::meta::{DeleteOptions, Status};
use protocol::table::IncludeObject;
use serde_json::Value;

use super::registry::ResourceDef;

/// The media type of a request body, by its `Content-Type` (parameters ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Protobuf,
    MergePatch,
    StrategicMergePatch,
    JsonPatch,
}

/// Reads the `Content-Type`; an absent one is JSON (what `curl -d` users mean). Unknown -> 415.
pub fn body_format(headers: &HeaderMap) -> Result<BodyFormat, Status> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(BodyFormat::Json);
    };
    let text = value.to_str().unwrap_or("");
    let media = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "" | "application/json" => Ok(BodyFormat::Json),
        protocol::envelope::CONTENT_TYPE => Ok(BodyFormat::Protobuf),
        "application/merge-patch+json" => Ok(BodyFormat::MergePatch),
        "application/strategic-merge-patch+json" => Ok(BodyFormat::StrategicMergePatch),
        "application/json-patch+json" => Ok(BodyFormat::JsonPatch),
        _ => Err(Status::unsupported_media_type(text)),
    }
}

/// Decodes a create/update body of `def` (JSON or protobuf) into its JSON form.
pub fn decode_object(def: &ResourceDef, headers: &HeaderMap, body: &[u8]) -> Result<Value, Status> {
    match body_format(headers)? {
        BodyFormat::Json => def.decode_json(body),
        BodyFormat::Protobuf => def.decode_protobuf(body),
        other => Err(Status::unsupported_media_type(&format!(
            "{other:?} is only accepted for PATCH"
        ))),
    }
}

/// The optional `DeleteOptions` body of a DELETE (JSON or protobuf); an empty body is none.
pub fn decode_delete_options(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<DeleteOptions>, Status> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let options = match body_format(headers)? {
        BodyFormat::Json => serde_json::from_slice(body)
            .map_err(|e| Status::bad_request(format!("invalid DeleteOptions: {e}")))?,
        BodyFormat::Protobuf => protocol::envelope::decode::<DeleteOptions>(body)
            .map_err(|e| Status::bad_request(format!("invalid DeleteOptions: {e}")))?,
        _ => {
            return Err(Status::unsupported_media_type(
                "DeleteOptions must be JSON or protobuf",
            ));
        }
    };
    Ok(Some(options))
}

/// The response shape the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFormat {
    Json,
    /// A `meta.k8s.io` Table; `v1beta1` when only that version was acceptable.
    Table {
        include: IncludeObject,
        beta: bool,
    },
}

/// Reads `Accept` (first acceptable entry wins) and `includeObject`.
pub fn response_format(headers: &HeaderMap, include_object: Option<&str>) -> ResponseFormat {
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut as_kind, mut group, mut version) = ("", "", "");
        for param in parts {
            match param.split_once('=') {
                Some(("as", v)) => as_kind = v,
                Some(("g", v)) => group = v,
                Some(("v", v)) => version = v,
                _ => {}
            }
        }
        if as_kind == "Table" && group == "meta.k8s.io" && (version == "v1" || version == "v1beta1")
        {
            let include = include_object
                .and_then(IncludeObject::parse)
                .unwrap_or_default();
            return ResponseFormat::Table {
                include,
                beta: version == "v1beta1",
            };
        }
        if as_kind.is_empty()
            && matches!(media.as_str(), "application/json" | "*/*" | "application/*")
        {
            return ResponseFormat::Json;
        }
    }
    ResponseFormat::Json
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: http::header::HeaderName, value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_static(value));
        map
    }

    #[test]
    fn kubectl_get_asks_for_a_table() {
        let h = headers(
            ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        assert_eq!(
            response_format(&h, None),
            ResponseFormat::Table {
                include: IncludeObject::Metadata,
                beta: false
            }
        );
        assert_eq!(
            response_format(&h, Some("Object")),
            ResponseFormat::Table {
                include: IncludeObject::Object,
                beta: false
            }
        );
        assert_eq!(
            response_format(&headers(ACCEPT, "application/json"), None),
            ResponseFormat::Json
        );
        assert_eq!(
            response_format(&HeaderMap::new(), None),
            ResponseFormat::Json
        );
        assert_eq!(
            response_format(
                &headers(
                    ACCEPT,
                    "application/vnd.kubernetes.protobuf,application/json"
                ),
                None
            ),
            ResponseFormat::Json
        );
    }

    #[test]
    fn body_formats() {
        assert_eq!(body_format(&HeaderMap::new()).unwrap(), BodyFormat::Json);
        assert_eq!(
            body_format(&headers(
                CONTENT_TYPE,
                "application/vnd.kubernetes.protobuf"
            ))
            .unwrap(),
            BodyFormat::Protobuf
        );
        assert_eq!(
            body_format(&headers(CONTENT_TYPE, "application/json; charset=utf-8")).unwrap(),
            BodyFormat::Json
        );
        let err = body_format(&headers(CONTENT_TYPE, "text/plain")).unwrap_err();
        assert_eq!(err.http_code(), 415);
        assert_eq!(err.reason, "UnsupportedMediaType");
    }

    #[test]
    fn delete_options_bodies() {
        assert!(
            decode_delete_options(&HeaderMap::new(), b"")
                .unwrap()
                .is_none()
        );
        let options = decode_delete_options(
            &HeaderMap::new(),
            br#"{"kind":"DeleteOptions","apiVersion":"meta.k8s.io/v1","preconditions":{"resourceVersion":"5"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            options.preconditions.unwrap().resource_version.as_deref(),
            Some("5")
        );
        assert_eq!(
            decode_delete_options(&HeaderMap::new(), b"{oops")
                .unwrap_err()
                .http_code(),
            400
        );
    }
}
