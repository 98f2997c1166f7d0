//! `/openapi/v2` in the protobuf form kubectl 1.27 and 1.28 ask for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, gnostic's `openapi.v2.Document`).
//! Those versions read it before every `create -f`/`apply -f` to learn whether the kind's PATCH
//! operation takes `fieldValidation`; a 404 fails the command.
//!
//! It carries the same paths and operations as the v3 documents (converted from them), without
//! `definitions`: kubectl then validates nothing client-side (the server does, see
//! `field_validation`) and computes apply patches from its compiled-in types.

use prost::Message;
use serde_json::Value;

/// The media type kubectl asks for.
pub const PROTOBUF_MEDIA_TYPE: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The media type answered, as kube-apiserver does: `@` is not a token character, so the
/// requested form fails Go's `mime.ParseMediaType` in the client.
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

#[derive(Clone, PartialEq, Message)]
pub struct Document {
    #[prost(string, tag = "1")]
    pub swagger: String,
    #[prost(message, optional, tag = "2")]
    pub info: Option<Info>,
    #[prost(string, repeated, tag = "6")]
    pub consumes: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    pub produces: Vec<String>,
    #[prost(message, optional, tag = "8")]
    pub paths: Option<Paths>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Info {
    #[prost(string, tag = "1")]
    pub title: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Paths {
    #[prost(message, repeated, tag = "2")]
    pub path: Vec<NamedPathItem>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedPathItem {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<PathItem>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PathItem {
    #[prost(message, optional, tag = "2")]
    pub get: Option<Operation>,
    #[prost(message, optional, tag = "3")]
    pub put: Option<Operation>,
    #[prost(message, optional, tag = "4")]
    pub post: Option<Operation>,
    #[prost(message, optional, tag = "5")]
    pub delete: Option<Operation>,
    #[prost(message, optional, tag = "8")]
    pub patch: Option<Operation>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Operation {
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "5")]
    pub operation_id: String,
    #[prost(string, repeated, tag = "6")]
    pub produces: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    pub consumes: Vec<String>,
    #[prost(message, repeated, tag = "8")]
    pub parameters: Vec<ParametersItem>,
    #[prost(message, optional, tag = "9")]
    pub responses: Option<Responses>,
    #[prost(message, repeated, tag = "13")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `ParametersItem { oneof { Parameter parameter = 1; ... } }`
#[derive(Clone, PartialEq, Message)]
pub struct ParametersItem {
    #[prost(message, optional, tag = "1")]
    pub parameter: Option<Parameter>,
}

/// `Parameter { oneof { BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2; } }`
#[derive(Clone, PartialEq, Message)]
pub struct Parameter {
    #[prost(message, optional, tag = "1")]
    pub body_parameter: Option<BodyParameter>,
    #[prost(message, optional, tag = "2")]
    pub non_body_parameter: Option<NonBodyParameter>,
}

#[derive(Clone, PartialEq, Message)]
pub struct BodyParameter {
    #[prost(string, tag = "1")]
    pub description: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub r#in: String,
    #[prost(bool, tag = "4")]
    pub required: bool,
}

/// `NonBodyParameter { oneof { ... QueryParameterSubSchema = 3; PathParameterSubSchema = 4; } }`
#[derive(Clone, PartialEq, Message)]
pub struct NonBodyParameter {
    #[prost(message, optional, tag = "3")]
    pub query_parameter_sub_schema: Option<SimpleParameter>,
    #[prost(message, optional, tag = "4")]
    pub path_parameter_sub_schema: Option<PathParameter>,
}

/// `QueryParameterSubSchema`'s leading fields (required 1, in 2, description 3, name 4,
/// type 6, unique_items 20).
#[derive(Clone, PartialEq, Message)]
pub struct SimpleParameter {
    #[prost(bool, tag = "1")]
    pub required: bool,
    #[prost(string, tag = "2")]
    pub r#in: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "6")]
    pub r#type: String,
    #[prost(bool, tag = "20")]
    pub unique_items: bool,
}

/// `PathParameterSubSchema`'s leading fields (type is 5 here, unique_items 19).
#[derive(Clone, PartialEq, Message)]
pub struct PathParameter {
    #[prost(bool, tag = "1")]
    pub required: bool,
    #[prost(string, tag = "2")]
    pub r#in: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "5")]
    pub r#type: String,
    #[prost(bool, tag = "19")]
    pub unique_items: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Responses {
    #[prost(message, repeated, tag = "1")]
    pub response_code: Vec<NamedResponseValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedResponseValue {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<ResponseValue>,
}

/// `ResponseValue { oneof { Response response = 1; ... } }`
#[derive(Clone, PartialEq, Message)]
pub struct ResponseValue {
    #[prost(message, optional, tag = "1")]
    pub response: Option<Response>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Response {
    #[prost(string, tag = "1")]
    pub description: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedAny {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Any>,
}

/// gnostic's `Any`: the extension's value as YAML text (field 2).
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    #[prost(string, tag = "2")]
    pub yaml: String,
}

/// Builds the v2 document from the v3 documents' `paths` objects.
pub fn document(server_version: &str, v3_paths: &[&serde_json::Map<String, Value>]) -> Document {
    let mut path = Vec::new();
    for paths in v3_paths {
        for (name, item) in paths.iter() {
            let operation = |method: &str| item.get(method).map(operation);
            path.push(NamedPathItem {
                name: name.clone(),
                value: Some(PathItem {
                    get: operation("get"),
                    put: operation("put"),
                    post: operation("post"),
                    delete: operation("delete"),
                    patch: operation("patch"),
                }),
            });
        }
    }
    Document {
        swagger: "2.0".to_string(),
        info: Some(Info {
            title: "Kubernetes".to_string(),
            version: server_version.to_string(),
        }),
        consumes: Vec::new(),
        produces: vec![
            "application/json".to_string(),
            "application/vnd.kubernetes.protobuf".to_string(),
        ],
        paths: Some(Paths { path }),
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn operation(v3: &Value) -> Operation {
    let mut parameters: Vec<ParametersItem> = v3
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let non_body = match p.get("in").and_then(Value::as_str)? {
                "query" => NonBodyParameter {
                    query_parameter_sub_schema: Some(SimpleParameter {
                        required: false,
                        r#in: "query".to_string(),
                        description: text(p, "description"),
                        name: text(p, "name"),
                        r#type: "string".to_string(),
                        unique_items: true,
                    }),
                    path_parameter_sub_schema: None,
                },
                "path" => NonBodyParameter {
                    query_parameter_sub_schema: None,
                    path_parameter_sub_schema: Some(PathParameter {
                        required: true,
                        r#in: "path".to_string(),
                        description: text(p, "description"),
                        name: text(p, "name"),
                        r#type: "string".to_string(),
                        unique_items: true,
                    }),
                },
                _ => return None,
            };
            Some(ParametersItem {
                parameter: Some(Parameter {
                    body_parameter: None,
                    non_body_parameter: Some(non_body),
                }),
            })
        })
        .collect();
    let consumes: Vec<String> = v3
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    if !consumes.is_empty() {
        parameters.push(ParametersItem {
            parameter: Some(Parameter {
                body_parameter: Some(BodyParameter {
                    description: String::new(),
                    name: "body".to_string(),
                    r#in: "body".to_string(),
                    required: true,
                }),
                non_body_parameter: None,
            }),
        });
    }
    let response_code = v3
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(code, response)| NamedResponseValue {
            name: code.clone(),
            value: Some(ResponseValue {
                response: Some(Response {
                    description: text(response, "description"),
                }),
            }),
        })
        .collect();
    let mut vendor_extension = Vec::new();
    for name in ["x-kubernetes-action", "x-kubernetes-group-version-kind"] {
        if let Some(value) = v3.get(name) {
            // JSON is YAML; kubectl reads the GVK with a YAML parser.
            vendor_extension.push(NamedAny {
                name: name.to_string(),
                value: Some(Any {
                    yaml: serde_json::to_string(value).unwrap_or_default(),
                }),
            });
        }
    }
    Operation {
        description: text(v3, "description"),
        operation_id: text(v3, "operationId"),
        produces: vec![
            "application/json".to_string(),
            "application/vnd.kubernetes.protobuf".to_string(),
        ],
        consumes,
        parameters,
        responses: Some(Responses { response_code }),
        vendor_extension,
    }
}

/// The serialized protobuf.
pub fn encode(document: &Document) -> Vec<u8> {
    document.encode_to_vec()
}
