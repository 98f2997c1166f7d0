//! `meta.k8s.io/v1` Table (server-side printing) and `PartialObjectMetadata`.

use serde::{Deserialize, Serialize};

use super::{ListMeta, ObjectMeta};
use crate::resource::typed_json;
use crate::serde_helpers::null_as_default;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct Table {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub column_definitions: Vec<TableColumnDefinition>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub rows: Vec<TableRow>,
}

typed_json!(Table, "meta.k8s.io/v1", "Table");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableColumnDefinition {
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    #[serde(rename = "type")]
    pub type_: String,
    /// OpenAPI format hint: `name` for the name column, else usually empty.
    pub format: String,
    pub description: String,
    /// 0 = always shown; higher = only with `-o wide`.
    pub priority: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    pub cells: Vec<serde_json::Value>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<serde_json::Value>,
    /// PartialObjectMetadata (the default) or the full object, or absent (`includeObject=None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<serde_json::Value>,
}

/// An object reduced to its metadata (what Table rows carry by default).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct PartialObjectMetadata {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
}

typed_json!(
    PartialObjectMetadata,
    "meta.k8s.io/v1",
    "PartialObjectMetadata"
);
