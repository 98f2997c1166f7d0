//! Small constructors for OpenAPI 3 schema objects, so the kind definitions in [`super::kinds`]
//! read like the Go types they describe.

use serde_json::{Map, Value, json};

/// Where component schemas live in an OpenAPI 3 document.
pub const COMPONENTS_PREFIX: &str = "#/components/schemas/";

pub fn string() -> Value {
    json!({"type": "string"})
}

/// A `[]byte` field: base64 in JSON.
pub fn bytes() -> Value {
    json!({"type": "string", "format": "byte"})
}

pub fn int32() -> Value {
    json!({"type": "integer", "format": "int32"})
}

pub fn int64() -> Value {
    json!({"type": "integer", "format": "int64"})
}

pub fn boolean() -> Value {
    json!({"type": "boolean"})
}

/// `metav1.Time` / `metav1.MicroTime`: RFC 3339 strings.
pub fn date_time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

/// A list replaced as a whole by strategic merge patch (upstream's default for lists).
pub fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// A list merged element by element on `key` by strategic merge patch.
pub fn keyed_array(items: Value, key: &str) -> Value {
    json!({
        "type": "array",
        "items": items,
        "x-kubernetes-patch-merge-key": key,
        "x-kubernetes-patch-strategy": "merge",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": [key],
    })
}

/// A list of scalars merged as a set by strategic merge patch (e.g. `finalizers`).
pub fn set_array(items: Value) -> Value {
    json!({
        "type": "array",
        "items": items,
        "x-kubernetes-patch-strategy": "merge",
        "x-kubernetes-list-type": "set",
    })
}

/// `map[string]T`.
pub fn map(values: Value) -> Value {
    json!({"type": "object", "additionalProperties": values})
}

/// A reference to another component schema, by its full upstream name.
pub fn reference(name: &str) -> Value {
    json!({"$ref": format!("{COMPONENTS_PREFIX}{name}")})
}

/// `schema` with a description (what `kubectl explain` prints under the field).
pub fn described(mut schema: Value, description: &str) -> Value {
    schema["description"] = Value::String(description.to_string());
    schema
}

/// An object described loosely: any fields are accepted and kept as sent.
pub fn loose(description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// An object with exactly these fields (unknown ones are reported by field validation).
pub fn object(description: &str, properties: &[(&str, Value)]) -> Value {
    object_requiring(description, properties, &[])
}

/// [`object`] with required fields.
pub fn object_requiring(
    description: &str,
    properties: &[(&str, Value)],
    required: &[&str],
) -> Value {
    let properties: Map<String, Value> = properties
        .iter()
        .map(|(name, schema)| (name.to_string(), schema.clone()))
        .collect();
    let mut schema = json!({
        "type": "object",
        "description": description,
        "properties": properties,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// Marks a top-level kind with its group, version and kind (how kubectl finds its schema).
pub fn with_gvk(mut schema: Value, group: &str, version: &str, kind: &str) -> Value {
    schema["x-kubernetes-group-version-kind"] =
        json!([{"group": group, "version": version, "kind": kind}]);
    schema
}
