//! Small accessors for the `metadata` of JSON objects, so handlers read like the upstream code,
//! and the typed round trip strategies make (decode, change spec and status, write back).

use protocol::Resource;
use protocol::meta::{Status, StatusCause};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The typed object; a body whose fields have the wrong JSON types is a 400, as upstream's
/// decoder. Reads the borrowed tree: strategies decode old and new several times per update.
pub fn decode<T: Resource + DeserializeOwned>(obj: &Value) -> Result<T, Status> {
    T::deserialize(obj).map_err(|e| {
        Status::bad_request(format!("unable to decode {}: {e}", <T as Resource>::KIND))
    })
}

/// Puts a typed object's `spec` and `status` back into its JSON form.
pub fn write_spec_and_status(
    obj: &mut Value,
    spec: &impl Serialize,
    status: &impl Serialize,
) -> Result<(), Status> {
    let spec = serde_json::to_value(spec).map_err(Status::internal_error)?;
    let status = serde_json::to_value(status).map_err(Status::internal_error)?;
    let map = obj
        .as_object_mut()
        .ok_or_else(|| Status::bad_request("the object is not a JSON object"))?;
    map.insert("spec".to_string(), spec);
    map.insert("status".to_string(), status);
    Ok(())
}

/// 422 `<Kind>.<group> "name" is invalid: ...` when `causes` is non-empty.
pub fn invalid_if_any(
    group: &str,
    kind: &str,
    name: &str,
    causes: Vec<StatusCause>,
) -> Result<(), Status> {
    if causes.is_empty() {
        return Ok(());
    }
    Err(Status::invalid(group, kind, name, causes))
}

/// `metadata.<field>` as a string (`""` when absent or not a string).
pub fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The `metadata` map, created when absent. A body whose top level or `metadata` is not an
/// object is a 400.
pub fn metadata_mut(object: &mut Value) -> Result<&mut Map<String, Value>, Status> {
    let map = object
        .as_object_mut()
        .ok_or_else(|| Status::bad_request("the object is not a JSON object"))?;
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if metadata.is_null() {
        *metadata = Value::Object(Map::new());
    }
    metadata
        .as_object_mut()
        .ok_or_else(|| Status::bad_request("metadata must be an object"))
}

/// Sets `metadata.<field>`; `None` removes it.
pub fn set_meta(object: &mut Value, field: &str, value: Option<Value>) -> Result<(), Status> {
    let metadata = metadata_mut(object)?;
    match value {
        Some(value) => {
            metadata.insert(field.to_string(), value);
        }
        None => {
            metadata.remove(field);
        }
    }
    Ok(())
}

/// Sets the top-level `apiVersion` and `kind`.
pub fn set_type(object: &mut Value, api_version: &str, kind: &str) -> Result<(), Status> {
    let map = object
        .as_object_mut()
        .ok_or_else(|| Status::bad_request("the object is not a JSON object"))?;
    map.insert("apiVersion".into(), Value::String(api_version.into()));
    map.insert("kind".into(), Value::String(kind.into()));
    Ok(())
}

/// The `metadata.resourceVersion` a client sent: `None` when empty; not a number -> 400.
pub fn sent_resource_version(object: &Value) -> Result<Option<u64>, Status> {
    let text = meta_str(object, "resourceVersion");
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| Status::bad_request(format!("invalid resourceVersion {text:?}")))
}

/// Copies `metadata.<field>` from `from` into `to` (removing it when `from` has none).
pub fn carry_meta(to: &mut Value, from: &Value, field: &str) -> Result<(), Status> {
    let value = from.get("metadata").and_then(|m| m.get(field)).cloned();
    set_meta(to, field, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_access() {
        let mut obj = json!({"metadata": {"name": "a", "resourceVersion": "12"}});
        assert_eq!(meta_str(&obj, "name"), "a");
        assert_eq!(sent_resource_version(&obj).unwrap(), Some(12));
        set_meta(&mut obj, "uid", Some(json!("u"))).unwrap();
        assert_eq!(meta_str(&obj, "uid"), "u");
        let mut empty = json!({});
        carry_meta(&mut empty, &obj, "uid").unwrap();
        assert_eq!(empty, json!({"metadata": {"uid": "u"}}));
        assert!(metadata_mut(&mut json!([])).is_err());
        assert!(metadata_mut(&mut json!({"metadata": 3})).is_err());
        assert_eq!(
            sent_resource_version(&json!({"metadata": {"resourceVersion": "x"}}))
                .unwrap_err()
                .http_code(),
            400
        );
    }
}
