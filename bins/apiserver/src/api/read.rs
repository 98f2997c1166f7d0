//! Reads: get and list (selectors, pagination), as JSON or as a Table.

use std::sync::Arc;

use http::StatusCode;
use protocol::meta::{ListMeta, Status, Time};
use protocol::table::IncludeObject;
use serde_json::Value;

use super::Call;
use super::negotiate::{self, ResponseFormat};
use super::query::{self, ContinueToken, ListOptions};
use super::response::{json_bytes_response, json_response, store_error};
use crate::body::Body;

impl Call<'_> {
    pub(super) fn list_options(&self) -> Result<ListOptions, Status> {
        query::parse(self.query, self.def.plural)
    }

    pub(super) fn response_format(&self, options: &ListOptions) -> ResponseFormat {
        negotiate::response_format(self.headers, options.include_object.as_deref())
    }

    /// `GET` of one object (or a subresource, which reads the whole object as upstream).
    /// As JSON it is the stored text, unparsed.
    pub(super) async fn get(&self) -> Result<http::Response<Body>, Status> {
        let options = self.list_options()?;
        let name = self.info.name.as_str();
        let stored = self
            .store()
            .get_json(&self.key(name))
            .await
            .map_err(|e| store_error(self.def, name, e))?;
        match self.response_format(&options) {
            ResponseFormat::Json => Ok(json_bytes_response(StatusCode::OK, stored.json.to_vec())),
            ResponseFormat::Table { include, beta } => {
                let items = [parse(self, &stored)?];
                let table = to_table(
                    &self.def.store_resource(),
                    &items,
                    include,
                    beta,
                    ListMeta::default(),
                )?;
                Ok(json_response(StatusCode::OK, &table))
            }
        }
    }

    /// `GET` of a collection. As JSON the items are the stored texts, unparsed unless a
    /// selector needs to look inside them: a list of 10,000 CSRs is ~25 MB of JSON, which
    /// was parsed into trees (three times its size), copied and written out again.
    pub(super) async fn list(&self) -> Result<http::Response<Body>, Status> {
        let options = self.list_options()?;
        let (items, rv) = filtered_list_json(self).await?;
        let start_rv = options.continue_from.as_ref().map_or(rv, |token| token.rv);
        let after = options
            .continue_from
            .as_ref()
            .map(|token| (token.namespace.as_str(), token.name.as_str()));
        let mut page: Vec<&store::StoredJson> = Vec::new();
        let mut remaining = 0usize;
        let mut next: Option<ContinueToken> = None;
        for item in &items {
            let position = (item.namespace.as_str(), item.name.as_str());
            if after.is_some_and(|after| position <= after) {
                continue;
            }
            if options.limit > 0 && page.len() >= options.limit {
                remaining += 1;
                continue;
            }
            if options.limit > 0 && page.len() + 1 == options.limit {
                next = Some(ContinueToken {
                    rv: start_rv,
                    namespace: item.namespace.clone(),
                    name: item.name.clone(),
                });
            }
            page.push(item);
        }
        let list_meta = ListMeta {
            resource_version: start_rv.to_string(),
            r#continue: if remaining > 0 {
                next.map(|t| t.encode()).unwrap_or_default()
            } else {
                String::new()
            },
            remaining_item_count: (remaining > 0)
                .then(|| i64::try_from(remaining).unwrap_or(i64::MAX)),
            ..Default::default()
        };
        match self.response_format(&options) {
            ResponseFormat::Json => {
                let list = json_list(
                    self.def.list_kind,
                    &self.def.api_version(),
                    &list_meta,
                    &page,
                )?;
                Ok(json_bytes_response(StatusCode::OK, list))
            }
            ResponseFormat::Table { include, beta } => {
                let page = page
                    .into_iter()
                    .map(|item| parse(self, item))
                    .collect::<Result<Vec<_>, _>>()?;
                let table = to_table(&self.def.store_resource(), &page, include, beta, list_meta)?;
                Ok(json_response(StatusCode::OK, &table))
            }
        }
    }
}

/// `{"apiVersion":..,"items":[..],"kind":..,"metadata":{..}}` around the items' stored texts,
/// with the keys in the order a parsed-and-written list has them.
fn json_list(
    kind: &str,
    api_version: &str,
    list_meta: &ListMeta,
    items: &[&store::StoredJson],
) -> Result<Vec<u8>, Status> {
    let text_len: usize = items.iter().map(|item| item.json.len() + 1).sum();
    let mut out = Vec::with_capacity(text_len + 256);
    let mut write = || -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"apiVersion\":");
        serde_json::to_writer(&mut out, api_version)?;
        out.extend_from_slice(b",\"items\":[");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&item.json);
        }
        out.extend_from_slice(b"],\"kind\":");
        serde_json::to_writer(&mut out, kind)?;
        out.extend_from_slice(b",\"metadata\":");
        serde_json::to_writer(&mut out, list_meta)?;
        out.push(b'}');
        Ok(())
    };
    write().map_err(|e| Status::internal_error(format!("failed to encode the list: {e}")))?;
    Ok(out)
}

/// A stored text as a tree (for selectors, tables and writes).
fn parse_stored(call: &Call<'_>, item: &store::StoredJson) -> Result<store::Stored, Status> {
    item.parse()
        .map_err(|e| store_error(call.def, &item.name, e))
}

/// As [`parse_stored`], the object alone.
fn parse(call: &Call<'_>, item: &store::StoredJson) -> Result<Value, Status> {
    parse_stored(call, item).map(|stored| Arc::unwrap_or_clone(stored.object))
}

/// The stored objects of the request's collection (its namespace, or all for a cluster-wide
/// path) that pass the field and label selectors, sorted by namespace then name, and the
/// revision of that snapshot.
pub(super) async fn filtered_list(call: &Call<'_>) -> Result<(Vec<store::Stored>, u64), Status> {
    let (items, rv) = filtered_list_json(call).await?;
    let items = items
        .iter()
        .map(|item| parse_stored(call, item))
        .collect::<Result<_, _>>()?;
    Ok((items, rv))
}

/// As [`filtered_list`], the objects as their stored texts; parsed only when a selector
/// must look inside them.
async fn filtered_list_json(call: &Call<'_>) -> Result<(Vec<store::StoredJson>, u64), Status> {
    let options = call.list_options()?;
    let namespace = (call.def.namespaced && !call.info.namespace.is_empty())
        .then_some(call.info.namespace.as_str());
    let (items, rv, point_read) = match options.field_selector.single_name() {
        // `metadata.name=x` (what `kubectl delete` polls with): one point read.
        Some(name) if call.def.namespaced == namespace.is_some() => {
            let items = match call.store().get_json(&call.key(name)).await {
                Ok(item) => vec![item],
                Err(store::StoreError::NotFound(_) | store::StoreError::InvalidKey(_)) => {
                    Vec::new()
                }
                Err(e) => return Err(store_error(call.def, name, e)),
            };
            // Read after the object, so the list's revision is never older than its item.
            let rv = call
                .store()
                .current_revision()
                .await
                .map_err(|e| store_error(call.def, "", e))?;
            (items, rv, true)
        }
        _ => {
            let (items, rv) = call
                .store()
                .list_json(&call.def.store_resource(), namespace)
                .await
                .map_err(|e| store_error(call.def, "", e))?;
            (items, rv, false)
        }
    };
    // A point read already satisfies its one field requirement.
    let field_selector_done = point_read || options.field_selector.is_empty();
    if field_selector_done && options.label_selector.is_empty() {
        return Ok((items, rv));
    }
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        if matches(&options, &parse(call, &item)?) {
            kept.push(item);
        }
    }
    Ok((kept, rv))
}

/// Whether an object passes the request's selectors.
pub(super) fn matches(options: &ListOptions, object: &Value) -> bool {
    options.field_selector.matches(object) && options.label_selector.matches(object)
}

/// The `meta.k8s.io` Table of `items` with the columns upstream prints for the kind.
pub(super) fn to_table(
    store_resource: &str,
    items: &[Value],
    include: IncludeObject,
    beta: bool,
    list_meta: ListMeta,
) -> Result<Value, Status> {
    let table = protocol::table::build_for_resource(
        store_resource,
        items,
        include,
        list_meta,
        &Time::now(),
    )
    .map_err(Status::internal_error)?;
    let mut value = serde_json::to_value(&table).map_err(Status::internal_error)?;
    if beta && let Some(map) = value.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            Value::String("meta.k8s.io/v1beta1".into()),
        );
    }
    Ok(value)
}
