//! `/openapi/v3`: the OpenAPI 3 documents kubectl reads before `create -f` and `apply -f`, built
//! once at start-up from the served-resource list ([`protocol::discovery::SERVED`]) and the kind
//! schemas in [`kinds`]; plus the server-side field validation those documents advertise.
//!
//! kubectl fetches the index (`GET /openapi/v3`), then the document of the object's
//! group-version at the `serverRelativeURL` the index names (with `?hash=`), and looks there for
//! the kind's PATCH operation declaring the `fieldValidation` query parameter. Found, it leaves
//! validation to the server (sending `fieldValidation=Strict`); not found, it would validate
//! client-side against `/openapi/v2` protobuf, which we do not serve.

//!
//! Errors are the `Status` the client gets, as in the REST layer (large, but they end the request).
#![allow(clippy::result_large_err)]

pub mod field_validation;
pub mod kinds;
mod paths;
pub mod schema;
mod serve;
pub mod v2;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use protocol::discovery::SERVED;
use protocol::meta::Status;
use serde_json::{Map, Value, json};

use crate::body::Body;
use crate::request_info::RequestInfo;
use field_validation::{BodyKind, Directive};
use schema::COMPONENTS_PREFIX;

/// Where the documents are served.
pub const V3_PREFIX: &str = "/openapi/v3";
/// Where the protobuf v2 document is served.
pub const V2_PATH: &str = "/openapi/v2";

/// One group-version's document, serialized once.
#[derive(Debug, Clone)]
pub struct GroupVersionDocument {
    /// The index key: `api/v1` or `apis/<group>/<version>`.
    pub key: String,
    pub group: &'static str,
    pub version: &'static str,
    /// Content hash, the `?hash=` of its URL and its ETag.
    pub hash: String,
    pub json: Bytes,
}

/// Every document, and the schemas field validation reads.
#[derive(Debug)]
pub struct OpenApi {
    index: Bytes,
    index_hash: String,
    documents: Vec<GroupVersionDocument>,
    v2_protobuf: Bytes,
    v2_hash: String,
    schemas: BTreeMap<String, Value>,
}

impl OpenApi {
    /// Builds the index and one document per served group-version; `server_version` is the
    /// Kubernetes version the documents' `info.version` names.
    pub fn generate(server_version: &str) -> OpenApi {
        let schemas = kinds::all();
        let mut group_versions: Vec<(&'static str, &'static str)> = Vec::new();
        for r in SERVED {
            if !group_versions.contains(&(r.group, r.version)) {
                group_versions.push((r.group, r.version));
            }
        }
        let values: Vec<(&'static str, &'static str, Value)> = group_versions
            .into_iter()
            .map(|(group, version)| {
                let document = group_version_document(&schemas, group, version, server_version);
                (group, version, document)
            })
            .collect();
        let v3_paths: Vec<&Map<String, Value>> = values
            .iter()
            .filter_map(|(_, _, document)| document.get("paths").and_then(Value::as_object))
            .collect();
        let v2_protobuf = Bytes::from(v2::encode(&v2::document(server_version, &v3_paths)));
        let documents: Vec<GroupVersionDocument> = values
            .iter()
            .map(|(group, version, document)| {
                let json = Bytes::from(serde_json::to_vec(document).unwrap_or_default());
                GroupVersionDocument {
                    key: index_key(group, version),
                    group,
                    version,
                    hash: content_hash(&json),
                    json,
                }
            })
            .collect();
        let paths: Map<String, Value> = documents
            .iter()
            .map(|d| {
                (
                    d.key.clone(),
                    json!({"serverRelativeURL": format!("{V3_PREFIX}/{}?hash={}", d.key, d.hash)}),
                )
            })
            .collect();
        let index = Bytes::from(serde_json::to_vec(&json!({"paths": paths})).unwrap_or_default());
        OpenApi {
            index_hash: content_hash(&index),
            index,
            documents,
            v2_hash: content_hash(&v2_protobuf),
            v2_protobuf,
            schemas,
        }
    }

    /// The served documents.
    pub fn documents(&self) -> &[GroupVersionDocument] {
        &self.documents
    }

    /// The index (`GET /openapi/v3`) as served.
    pub fn index(&self) -> &Bytes {
        &self.index
    }

    /// The component schemas by name (every kind, every document's).
    pub fn schemas(&self) -> &BTreeMap<String, Value> {
        &self.schemas
    }

    /// Answers `GET /openapi/v3[/<key>]`; `None` for any other path (the REST layer 404s).
    pub fn answer(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Option<Response<Body>> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let path = path.trim_end_matches('/');
        if path == V2_PATH {
            return Some(serve::v2(&self.v2_protobuf, &self.v2_hash, headers));
        }
        if path == V3_PREFIX {
            return Some(serve::document(
                &self.index,
                &self.index_hash,
                false,
                headers,
            ));
        }
        let key = path.strip_prefix(V3_PREFIX)?.strip_prefix('/')?;
        let document = self.documents.iter().find(|d| d.key == key)?;
        let asked_hash = query
            .into_iter()
            .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
            .find(|(name, _)| name == "hash")
            .map(|(_, value)| value.into_owned());
        Some(match asked_hash {
            // An old hash (documents changed since the client read the index): send it to the
            // current one, as kube-apiserver does, so caches keyed by URL stay correct.
            Some(hash) if hash != document.hash => serve::redirect(&format!(
                "{V3_PREFIX}/{}?hash={}",
                document.key, document.hash
            )),
            Some(_) => serve::document(&document.json, &document.hash, true, headers),
            None => serve::document(&document.json, &document.hash, false, headers),
        })
    }

    /// Field validation of a create, update or patch body: `Ok` with the `Warning` header
    /// values to add (Warn), `Err` with the 400 to answer (Strict) or a 422 for a bad directive.
    pub fn validate_fields(
        &self,
        info: &RequestInfo,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<String>, Status> {
        let (is_patch, options) = match info.verb.as_str() {
            "create" => (false, "CreateOptions"),
            "update" => (false, "UpdateOptions"),
            "patch" => (true, "PatchOptions"),
            _ => return Ok(Vec::new()),
        };
        if !info.is_resource_request {
            return Ok(Vec::new());
        }
        let directive = Directive::from_query(query, options)?;
        let Some(resource) = protocol::discovery::find_by_name(&info.api_group, &info.resource)
            .filter(|r| r.version == info.api_version)
        else {
            return Ok(Vec::new());
        };
        let (Some(body_kind), Some(root)) = (
            BodyKind::from_headers(headers, is_patch),
            kinds::kind_schema_name(resource.group, resource.kind),
        ) else {
            return Ok(Vec::new());
        };
        if directive == Directive::Ignore {
            return Ok(Vec::new());
        }
        // A body that is not JSON is the REST layer's to refuse, with its own message.
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Ok(Vec::new());
        };
        let unknown = field_validation::unknown_fields(&self.schemas, &root, &value, body_kind);
        if unknown.is_empty() {
            return Ok(Vec::new());
        }
        match directive {
            Directive::Strict => Err(field_validation::strict_error(
                resource.kind,
                resource.version,
                &unknown,
            )),
            _ => Ok(unknown
                .iter()
                .map(|f| field_validation::warning(f))
                .collect()),
        }
    }
}

/// Adds `Warning` headers (from [`OpenApi::validate_fields`]) to a response.
pub fn add_warnings(response: &mut Response<Body>, warnings: &[String]) {
    for warning in warnings {
        if let Ok(value) = http::HeaderValue::from_str(warning) {
            response.headers_mut().append(http::header::WARNING, value);
        }
    }
}

fn index_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// FNV-1a over the bytes, twice with different offsets for 128 bits: a cache key, not a
/// security boundary (the documents are public to every authenticated user).
fn content_hash(bytes: &[u8]) -> String {
    let fnv = |offset: u64| {
        bytes.iter().fold(offset, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{:016X}{:016X}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

/// The OpenAPI 3 document of one group-version: its resources' paths and every schema they
/// reach.
fn group_version_document(
    all: &BTreeMap<String, Value>,
    group: &str,
    version: &str,
    server_version: &str,
) -> Value {
    let mut paths = Map::new();
    let mut roots = Vec::new();
    for r in SERVED
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        paths::add_resource_paths(&mut paths, r);
        if let Some(name) = kinds::kind_schema_name(r.group, r.kind) {
            roots.push(format!("{name}List"));
            roots.push(name);
        }
    }
    let components: Map<String, Value> = reachable(all, roots)
        .into_iter()
        .filter_map(|name| all.get(&name).map(|s| (name, s.clone())))
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {
            "title": "Kubernetes",
            "version": server_version,
        },
        "paths": paths,
        "components": {"schemas": components},
    })
}

/// The names of `roots` and of every schema they reference, transitively.
fn reachable(all: &BTreeMap<String, Value>, roots: Vec<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending = roots;
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = all.get(&name) {
            collect_references(schema, &mut pending);
        }
    }
    seen
}

fn collect_references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child.as_str()) {
                    ("$ref", Some(target)) => {
                        if let Some(name) = target.strip_prefix(COMPONENTS_PREFIX) {
                            out.push(name.to_string());
                        }
                    }
                    _ => collect_references(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, out)),
        _ => {}
    }
}
