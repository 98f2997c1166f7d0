//! Server-side field validation (`?fieldValidation=Ignore|Warn|Strict`), as kube-apiserver does
//! it for JSON bodies: fields a kind does not have are dropped by the typed decoding anyway; Warn
//! (the default) reports each as a `Warning` header, Strict refuses the request with 400.
//!
//! The fields a kind has are read from the very schemas `/openapi/v3` serves, so what the server
//! enforces and what it advertises cannot drift apart. Protobuf bodies carry no unknown fields
//! by construction and JSON patches name paths, not fields: both are left alone, as upstream
//! does for protobuf.

use std::collections::BTreeMap;

use http::HeaderMap;
use protocol::meta::{Status, StatusCause};
use serde_json::Value;

use super::schema::COMPONENTS_PREFIX;

/// Nesting deeper than this is not walked (the schemas are far shallower; bodies may not be).
const MAX_DEPTH: usize = 64;

/// What to do with unknown fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive {
    Ignore,
    Warn,
    Strict,
}

impl Directive {
    /// The `fieldValidation` value of a query string; absent means Warn, as upstream.
    /// `options_kind` names the options in the error (`CreateOptions`, `UpdateOptions`, `PatchOptions`).
    pub fn from_query(query: Option<&str>, options_kind: &str) -> Result<Directive, Status> {
        let value = query
            .into_iter()
            .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
            .find(|(name, _)| name == "fieldValidation")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        match value.as_str() {
            "" | "Warn" => Ok(Directive::Warn),
            "Ignore" => Ok(Directive::Ignore),
            "Strict" => Ok(Directive::Strict),
            other => Err(Status::invalid(
                "meta.k8s.io",
                options_kind,
                "",
                vec![StatusCause::not_supported(
                    "fieldValidation",
                    other,
                    &["Ignore", "Strict", "Warn"],
                )],
            )),
        }
    }
}

/// How a request body is read for field validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// A whole object (create, update).
    Object,
    /// A JSON merge patch or strategic merge patch: a partial object whose `$`-keys are
    /// directives and whose `null`s delete.
    MergePatch,
}

impl BodyKind {
    /// The body kind for a `Content-Type`, or `None` when the body is not checked.
    pub fn from_headers(headers: &HeaderMap, is_patch: bool) -> Option<BodyKind> {
        let media = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match (is_patch, media.as_str()) {
            (false, "" | "application/json") => Some(BodyKind::Object),
            (true, "application/merge-patch+json" | "application/strategic-merge-patch+json") => {
                Some(BodyKind::MergePatch)
            }
            _ => None,
        }
    }
}

/// The paths (`spec.foo`, `subjects[0].bar`) of fields in `value` that the schema named `root`
/// does not have.
pub fn unknown_fields(
    schemas: &BTreeMap<String, Value>,
    root: &str,
    value: &Value,
    body: BodyKind,
) -> Vec<String> {
    let mut walker = Walker {
        schemas,
        body,
        found: Vec::new(),
    };
    if let Some(schema) = schemas.get(root) {
        walker.walk(schema, value, &mut Vec::new(), 0);
    }
    walker.found
}

struct Walker<'a> {
    schemas: &'a BTreeMap<String, Value>,
    body: BodyKind,
    found: Vec<String>,
}

impl<'a> Walker<'a> {
    fn resolve(&self, mut schema: &'a Value) -> Option<&'a Value> {
        let schemas: &'a BTreeMap<String, Value> = self.schemas;
        // A bounded number of hops: a reference cycle in our own tables must not hang a request.
        for _ in 0..8 {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(target) => {
                    schema = schemas.get(target.strip_prefix(COMPONENTS_PREFIX)?)?;
                }
                None => return Some(schema),
            }
        }
        None
    }

    /// Walks `value` against `schema`; `path` holds the segments leading here and is only
    /// joined into a string for an unknown field (joining it for every field was most of the
    /// cost of validating a body).
    fn walk<'v>(
        &mut self,
        schema: &'a Value,
        value: &'v Value,
        path: &mut Vec<Segment<'v>>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(schema) = self.resolve(schema) else {
            return;
        };
        if schema
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return;
        }
        match value {
            Value::Object(fields) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties");
                for (name, child) in fields {
                    if self.body == BodyKind::MergePatch
                        && (name.starts_with('$') || child.is_null())
                    {
                        continue;
                    }
                    let child_schema = match (properties.and_then(|p| p.get(name)), additional) {
                        (Some(property), _) => property,
                        (None, Some(values)) if values.is_object() => values,
                        (None, _) => {
                            // A schema that names no fields (a string, say): the typed
                            // decoding reports the wrong type, not us.
                            if properties.is_some() {
                                path.push(Segment::Field(name));
                                self.found.push(join(path));
                                path.pop();
                            }
                            continue;
                        }
                    };
                    // Leaves need no walk: only objects and arrays can hold unknown fields.
                    if child.is_object() || child.is_array() {
                        path.push(Segment::Field(name));
                        self.walk(child_schema, child, path, depth + 1);
                        path.pop();
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (index, item) in items.iter().enumerate() {
                        if item.is_object() || item.is_array() {
                            path.push(Segment::Index(index));
                            self.walk(item_schema, item, path, depth + 1);
                            path.pop();
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// One step of a field path.
enum Segment<'v> {
    Field(&'v str),
    Index(usize),
}

/// `spec.foo`, `subjects[0].bar`: the path as upstream prints it.
fn join(path: &[Segment<'_>]) -> String {
    let mut joined = String::new();
    for segment in path {
        match segment {
            Segment::Field(name) => {
                if !joined.is_empty() {
                    joined.push('.');
                }
                joined.push_str(name);
            }
            Segment::Index(index) => joined.push_str(&format!("[{index}]")),
        }
    }
    joined
}

/// The 400 upstream answers in Strict mode.
pub fn strict_error(kind: &str, version: &str, unknown: &[String]) -> Status {
    let fields: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    Status::bad_request(format!(
        "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
        fields.join(", ")
    ))
}

/// The `Warning` header value for one unknown field in Warn mode (RFC 7234 form, code 299).
pub fn warning(field: &str) -> String {
    let text = format!("unknown field {field:?}");
    format!("299 - {:?}", text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::kinds;
    use serde_json::json;

    fn crb_unknown(value: Value, body: BodyKind) -> Vec<String> {
        unknown_fields(
            &kinds::all(),
            "io.k8s.api.rbac.v1.ClusterRoleBinding",
            &value,
            body,
        )
    }

    #[test]
    fn a_correct_binding_has_no_unknown_fields() {
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "a", "labels": {"x": "y"}, "annotations": {"k": "v"},
                         "managedFields": [{"manager": "m", "fieldsV1": {"f:metadata": {}}}]},
            "subjects": [{"kind": "Group", "name": "g", "apiGroup": "rbac.authorization.k8s.io"}],
            "roleRef": {"kind": "ClusterRole", "name": "r", "apiGroup": "rbac.authorization.k8s.io"}
        });
        assert_eq!(crb_unknown(binding, BodyKind::Object), Vec::<String>::new());
    }

    #[test]
    fn unknown_fields_are_named_by_path() {
        let binding = json!({
            "metadata": {"name": "a", "nmae": "typo"},
            "subjects": [{"kind": "User", "name": "u"}, {"kind": "User", "name": "v", "group": "x"}],
            "roleref": {}
        });
        assert_eq!(
            crb_unknown(binding, BodyKind::Object),
            ["metadata.nmae", "roleref", "subjects[1].group"]
        );
    }

    #[test]
    fn merge_patch_directives_and_deletions_are_not_fields() {
        let patch = json!({
            "$setElementOrder/subjects": [{"name": "u"}],
            "metadata": {"annotations": {"a": "b"}, "oldField": null},
            "subjects": [{"name": "u", "$patch": "delete"}],
            "extra": 1
        });
        assert_eq!(crb_unknown(patch.clone(), BodyKind::MergePatch), ["extra"]);
        // In a whole object the same keys are fields, and unknown.
        assert_eq!(
            crb_unknown(patch, BodyKind::Object),
            [
                "$setElementOrder/subjects",
                "extra",
                "metadata.oldField",
                "subjects[0].$patch"
            ]
        );
    }

    #[test]
    fn secret_maps_and_loose_fields_accept_any_key() {
        let secret = json!({
            "metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
            "type": "bootstrap.kubernetes.io/token",
            "stringData": {"token-id": "abcdef", "usage-bootstrap-authentication": "true"},
            "data": {"anything": "eA=="}
        });
        assert!(
            unknown_fields(
                &kinds::all(),
                "io.k8s.api.core.v1.Secret",
                &secret,
                BodyKind::Object
            )
            .is_empty()
        );
    }

    #[test]
    fn directives_from_the_query() {
        assert_eq!(
            Directive::from_query(None, "CreateOptions").unwrap(),
            Directive::Warn
        );
        assert_eq!(
            Directive::from_query(
                Some("fieldManager=kubectl-create&fieldValidation=Strict"),
                "CreateOptions"
            )
            .unwrap(),
            Directive::Strict
        );
        assert_eq!(
            Directive::from_query(Some("fieldValidation=Ignore"), "PatchOptions").unwrap(),
            Directive::Ignore
        );
        let error =
            Directive::from_query(Some("fieldValidation=strict"), "PatchOptions").unwrap_err();
        assert_eq!(error.code, 422);
        assert_eq!(
            error.message,
            r#"PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "Ignore", "Strict", "Warn""#
        );
    }

    #[test]
    fn strict_message_and_warning_header_are_upstream_shaped() {
        let status = strict_error(
            "Secret",
            "v1",
            &["spec".to_string(), "metadata.x".to_string()],
        );
        assert_eq!(status.code, 400);
        assert_eq!(
            status.message,
            r#"Secret in version "v1" cannot be handled as a Secret: strict decoding error: unknown field "spec", unknown field "metadata.x""#
        );
        assert_eq!(warning("spec.foo"), r#"299 - "unknown field \"spec.foo\"""#);
    }
}
