//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.
//!
//! Strategic merge patch is JSON merge patch except for the lists the served kinds merge by a
//! key upstream and clients rely on (`conditions` by `type`, node `addresses` by `type`, a
//! pod's `containers` by `name`, as `kubectl set image` sends them): those are merged element
//! by element instead of replaced. `$patch` directives are not
//! interpreted (kubectl does not send them for these kinds).

use protocol::meta::Status;
use serde_json::{Map, Value};

use super::negotiate::BodyFormat;

/// Lists merged by key in strategic merge patches: (field name, key field).
const KEYED_LISTS: &[(&str, &str)] = &[
    ("conditions", "type"),
    ("addresses", "type"),
    ("containers", "name"),
    ("initContainers", "name"),
    ("env", "name"),
    ("ports", "containerPort"),
    ("podIPs", "ip"),
];

/// Applies `patch` (in `format`) to `target`.
pub fn apply(format: BodyFormat, target: &Value, patch: &[u8]) -> Result<Value, Status> {
    let patch: Value = serde_json::from_slice(patch)
        .map_err(|e| Status::bad_request(format!("error decoding patch: {e}")))?;
    match format {
        BodyFormat::MergePatch => Ok(merge(target, &patch, false)),
        BodyFormat::StrategicMergePatch => Ok(merge(target, &patch, true)),
        BodyFormat::JsonPatch => json_patch(target, &patch),
        _ => Err(Status::unsupported_media_type(
            "PATCH needs application/merge-patch+json, application/strategic-merge-patch+json or application/json-patch+json",
        )),
    }
}

/// RFC 7386; with `strategic`, keyed lists are merged per element.
fn merge(target: &Value, patch: &Value, strategic: bool) -> Value {
    let Value::Object(patch_map) = patch else {
        return patch.clone();
    };
    let mut result = match target {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    for (key, value) in patch_map {
        if value.is_null() {
            result.remove(key);
            continue;
        }
        let merged = match (strategic, keyed_list_key(key), result.get(key), value) {
            (true, Some(id), Some(Value::Array(old)), Value::Array(new)) => {
                Value::Array(merge_keyed_list(old, new, id))
            }
            (_, _, Some(old), _) => merge(old, value, strategic),
            (_, _, None, _) => merge(&Value::Null, value, strategic),
        };
        result.insert(key.clone(), merged);
    }
    Value::Object(result)
}

fn keyed_list_key(field: &str) -> Option<&'static str> {
    KEYED_LISTS
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, key)| *key)
}

/// Elements of `new` replace (merge into) the `old` element with the same key; others append.
fn merge_keyed_list(old: &[Value], new: &[Value], id: &str) -> Vec<Value> {
    let mut result: Vec<Value> = old.to_vec();
    for element in new {
        let key = element.get(id);
        match key.and_then(|k| result.iter().position(|o| o.get(id) == Some(k))) {
            Some(index) => {
                let merged = merge(&result[index], element, true);
                result[index] = merged;
            }
            None => result.push(element.clone()),
        }
    }
    result
}

/// RFC 6902 operations over JSON pointers.
fn json_patch(target: &Value, patch: &Value) -> Result<Value, Status> {
    let operations = patch
        .as_array()
        .ok_or_else(|| Status::bad_request("a JSON patch must be an array of operations"))?;
    let mut doc = target.clone();
    for (index, op) in operations.iter().enumerate() {
        let field = |name: &str| {
            op.get(name).and_then(Value::as_str).ok_or_else(|| {
                Status::bad_request(format!("JSON patch operation {index} has no {name:?}"))
            })
        };
        let value = || {
            op.get("value").cloned().ok_or_else(|| {
                Status::bad_request(format!("JSON patch operation {index} has no \"value\""))
            })
        };
        let path = field("path")?;
        match field("op")? {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" => {
                let moved = remove(&mut doc, field("from")?)?;
                add(&mut doc, path, moved)?;
            }
            "copy" => {
                let copied = doc
                    .pointer(field("from")?)
                    .cloned()
                    .ok_or_else(|| missing(field("from").unwrap_or("")))?;
                add(&mut doc, path, copied)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(Status::failure(
                        422,
                        "Invalid",
                        format!("the JSON patch test operation at {path:?} failed"),
                    ));
                }
            }
            other => {
                return Err(Status::bad_request(format!(
                    "unknown JSON patch operation {other:?}"
                )));
            }
        }
    }
    Ok(doc)
}

fn missing(path: &str) -> Status {
    Status::failure(
        422,
        "Invalid",
        format!("the JSON patch path {path:?} does not exist"),
    )
}

/// Splits a JSON pointer into its parent pointer and last (unescaped) token.
fn split_pointer(path: &str) -> Result<(&str, String), Status> {
    if path.is_empty() {
        return Err(Status::bad_request(
            "JSON patch paths must not be the whole document",
        ));
    }
    let cut = path
        .rfind('/')
        .ok_or_else(|| Status::bad_request(format!("invalid JSON pointer {path:?}")))?;
    let token = path[cut + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..cut], token))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), Status> {
    let (parent, token) = split_pointer(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
            Ok(())
        }
        Some(Value::Array(list)) => {
            let index = if token == "-" {
                list.len()
            } else {
                token.parse::<usize>().map_err(|_| missing(path))?
            };
            if index > list.len() {
                return Err(missing(path));
            }
            list.insert(index, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, Status> {
    let (parent, token) = split_pointer(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&token).ok_or_else(|| missing(path)),
        Some(Value::Array(list)) => {
            let index = token.parse::<usize>().map_err(|_| missing(path))?;
            if index >= list.len() {
                return Err(missing(path));
            }
            Ok(list.remove(index))
        }
        _ => Err(missing(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        let patch = br#"{"a": "z", "c": {"f": null}, "l": [3]}"#;
        let result = apply(BodyFormat::MergePatch, &target, patch).unwrap();
        assert_eq!(result, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
    }

    #[test]
    fn strategic_merge_merges_conditions_by_type() {
        let target = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Other", "status": "True"}]}});
        let patch = br#"{"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "New", "status": "True"}]}}"#;
        let result = apply(BodyFormat::StrategicMergePatch, &target, patch).unwrap();
        assert_eq!(
            result["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "Other", "status": "True"}, {"type": "New", "status": "True"}])
        );
        // Plain merge patch replaces the list.
        let result = apply(BodyFormat::MergePatch, &target, patch).unwrap();
        assert_eq!(result["status"]["conditions"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn json_patch_operations() {
        let target = json!({"metadata": {"labels": {"a": "1"}}, "list": ["x"]});
        let patch = br#"[
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
            {"op": "add", "path": "/list/-", "value": "y"},
            {"op": "test", "path": "/list/0", "value": "x"},
            {"op": "copy", "from": "/list/1", "path": "/copied"},
            {"op": "move", "from": "/copied", "path": "/moved"},
            {"op": "remove", "path": "/list/0"}
        ]"#;
        let result = apply(BodyFormat::JsonPatch, &target, patch).unwrap();
        assert_eq!(
            result,
            json!({"metadata": {"labels": {"a": "9", "b/c": "2"}}, "list": ["y"], "moved": "y"})
        );
    }

    #[test]
    fn bad_patches_are_statuses() {
        let target = json!({"a": 1});
        assert_eq!(
            apply(BodyFormat::MergePatch, &target, b"{")
                .unwrap_err()
                .http_code(),
            400
        );
        assert_eq!(
            apply(BodyFormat::JsonPatch, &target, b"{}")
                .unwrap_err()
                .http_code(),
            400
        );
        let err = apply(
            BodyFormat::JsonPatch,
            &target,
            br#"[{"op":"remove","path":"/nope"}]"#,
        )
        .unwrap_err();
        assert_eq!(err.http_code(), 422);
        let err = apply(
            BodyFormat::JsonPatch,
            &target,
            br#"[{"op":"test","path":"/a","value":2}]"#,
        )
        .unwrap_err();
        assert_eq!(err.http_code(), 422);
        assert_eq!(
            apply(BodyFormat::Json, &target, b"{}")
                .unwrap_err()
                .http_code(),
            415
        );
    }
}
