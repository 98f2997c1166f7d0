//! The `paths` of a group-version document: one operation per verb a served resource really
//! has, tagged with `x-kubernetes-action` and `x-kubernetes-group-version-kind` as upstream
//! (kubectl finds a kind's PATCH operation through the latter to learn whether the server
//! validates fields).

use protocol::discovery::ServedResource;
use serde_json::{Map, Value, json};

use super::kinds::kind_schema_name;
use super::schema::reference;

/// Body media types our REST layer decodes on create and update.
const OBJECT_MEDIA_TYPES: &[&str] = &["application/json", "application/vnd.kubernetes.protobuf"];
/// Patch formats our REST layer applies (no server-side apply: `apply-patch+yaml` is refused).
const PATCH_MEDIA_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];
/// Media types reads can be answered in.
const READ_MEDIA_TYPES: &[&str] = &["application/json", "application/vnd.kubernetes.protobuf"];

fn query(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

fn path_parameter(name: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "required": true,
        "description": format!("{name} of the object"),
        "schema": {"type": "string", "uniqueItems": true},
    })
}

/// The query parameters of writes. `fieldValidation` is declared because the server enforces it
/// (see `field_validation`): Strict rejects unknown fields, Warn reports them, Ignore drops them.
fn write_parameters() -> Vec<Value> {
    vec![
        query(
            "dryRun",
            "When present (All), the change is checked but not persisted.",
        ),
        query("fieldManager", "The name of the actor making the change."),
        query(
            "fieldValidation",
            "How to treat fields the kind does not have: Ignore (drop them), Warn (drop them and \
             answer a Warning header per field, the default) or Strict (fail with 400 BadRequest).",
        ),
    ]
}

fn content(schema: &Value, media_types: &[&str]) -> Value {
    let map: Map<String, Value> = media_types
        .iter()
        .map(|m| (m.to_string(), json!({"schema": schema})))
        .collect();
    Value::Object(map)
}

struct Target<'a> {
    resource: &'a ServedResource,
    kind_ref: Value,
    list_ref: Value,
}

impl Target<'_> {
    fn operation(
        &self,
        action: &str,
        summary: String,
        parameters: Vec<Value>,
        request: Option<(&Value, &[&str])>,
        response: &Value,
        success_codes: &[&str],
    ) -> Value {
        let r = self.resource;
        let mut responses = Map::new();
        for code in success_codes {
            responses.insert(
                code.to_string(),
                json!({"description": "OK", "content": content(response, READ_MEDIA_TYPES)}),
            );
        }
        responses.insert("401".to_string(), json!({"description": "Unauthorized"}));
        let mut operation = json!({
            "description": summary,
            "operationId": format!("{action}{}", r.kind),
            "parameters": parameters,
            "responses": responses,
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
        });
        if let Some((schema, media_types)) = request {
            operation["requestBody"] =
                json!({"required": true, "content": content(schema, media_types)});
        }
        operation
    }
}

/// Adds the paths of `resource` to `paths`.
pub fn add_resource_paths(paths: &mut Map<String, Value>, resource: &ServedResource) {
    let Some(kind_name) = kind_schema_name(resource.group, resource.kind) else {
        return;
    };
    let target = Target {
        resource,
        kind_ref: reference(&kind_name),
        list_ref: reference(&format!("{kind_name}List")),
    };
    let root = if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    };
    let scope = if resource.namespaced {
        format!("{root}/namespaces/{{namespace}}")
    } else {
        root.clone()
    };
    let scope_parameters: Vec<Value> = if resource.namespaced {
        vec![path_parameter("namespace")]
    } else {
        Vec::new()
    };
    let has = |verb: &str| resource.verbs.contains(&verb);
    let with = |extra: Vec<Value>| {
        let mut all = scope_parameters.clone();
        all.extend(extra);
        all
    };
    let kind = resource.kind;

    let mut collection = Map::new();
    if has("list") {
        collection.insert(
            "get".to_string(),
            target.operation(
                "list",
                format!("list or watch objects of kind {kind}"),
                with(vec![
                    query("labelSelector", "A label selector."),
                    query("fieldSelector", "A field selector."),
                    query("limit", "The most items to return."),
                    query("continue", "The continue token of a previous page."),
                    query("watch", "Watch for changes instead of listing."),
                ]),
                None,
                &target.list_ref,
                &["200"],
            ),
        );
    }
    if has("create") {
        collection.insert(
            "post".to_string(),
            target.operation(
                "post",
                format!("create a {kind}"),
                with(write_parameters()),
                Some((&target.kind_ref, OBJECT_MEDIA_TYPES)),
                &target.kind_ref,
                &["200", "201", "202"],
            ),
        );
    }
    if has("deletecollection") {
        collection.insert(
            "delete".to_string(),
            target.operation(
                "deletecollection",
                format!("delete a collection of {kind}"),
                with(vec![query("labelSelector", "A label selector.")]),
                None,
                &target.list_ref,
                &["200"],
            ),
        );
    }
    if !collection.is_empty() {
        paths.insert(
            format!("{scope}/{}", resource.plural),
            Value::Object(collection),
        );
    }
    if resource.namespaced && has("list") {
        let mut all_namespaces = Map::new();
        all_namespaces.insert(
            "get".to_string(),
            target.operation(
                "list",
                format!("list or watch objects of kind {kind} in all namespaces"),
                vec![query("labelSelector", "A label selector.")],
                None,
                &target.list_ref,
                &["200"],
            ),
        );
        paths.insert(
            format!("{root}/{}", resource.plural),
            Value::Object(all_namespaces),
        );
    }

    let item = |sub: Option<&str>| {
        let mut operations = Map::new();
        let named = || with(vec![path_parameter("name")]);
        let with_writes = || {
            let mut all = named();
            all.extend(write_parameters());
            all
        };
        let what = match sub {
            Some(sub) => format!("{sub} of the specified {kind}"),
            None => format!("the specified {kind}"),
        };
        let verbs: Vec<&str> = match sub {
            Some(sub) => resource
                .subresources
                .iter()
                .find(|s| s.name == sub)
                .map(|s| s.verbs.to_vec())
                .unwrap_or_default(),
            None => resource.verbs.to_vec(),
        };
        let patch_body = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        for verb in verbs {
            let (method, operation) = match verb {
                "get" => (
                    "get",
                    target.operation(
                        "get",
                        format!("read {what}"),
                        named(),
                        None,
                        &target.kind_ref,
                        &["200"],
                    ),
                ),
                "update" => (
                    "put",
                    target.operation(
                        "put",
                        format!("replace {what}"),
                        with_writes(),
                        Some((&target.kind_ref, OBJECT_MEDIA_TYPES)),
                        &target.kind_ref,
                        &["200", "201"],
                    ),
                ),
                "patch" => (
                    "patch",
                    target.operation(
                        "patch",
                        format!("partially update {what}"),
                        with_writes(),
                        Some((&patch_body, PATCH_MEDIA_TYPES)),
                        &target.kind_ref,
                        &["200", "201"],
                    ),
                ),
                "delete" if sub.is_none() => (
                    "delete",
                    target.operation(
                        "delete",
                        format!("delete {what}"),
                        with(vec![
                            path_parameter("name"),
                            query("dryRun", "When present (All), nothing is deleted."),
                        ]),
                        None,
                        &target.kind_ref,
                        &["200", "202"],
                    ),
                ),
                _ => continue,
            };
            operations.insert(method.to_string(), operation);
        }
        operations
    };
    let main = item(None);
    if !main.is_empty() {
        paths.insert(
            format!("{scope}/{}/{{name}}", resource.plural),
            Value::Object(main),
        );
    }
    for sub in resource.subresources {
        let operations = item(Some(sub.name));
        if !operations.is_empty() {
            paths.insert(
                format!("{scope}/{}/{{name}}/{}", resource.plural, sub.name),
                Value::Object(operations),
            );
        }
    }
}
