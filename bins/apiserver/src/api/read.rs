//! Reads: get and list (selectors, pagination), as JSON or as a Table.

use http::StatusCode;
use protocol::meta::{ListMeta, Status, Time};
use protocol::table::IncludeObject;
use serde_json::Value;

use super::Call;
use super::negotiate::{self, ResponseFormat};
use super::object::meta_str;
use super::query::{self, ContinueToken, ListOptions};
use super::response::{json_response, store_error};
use crate::body::Body;

impl Call<'_> {
    pub(super) fn list_options(&self) -> Result<ListOptions, Status> {
        query::parse(self.query, self.def.plural)
    }

    pub(super) fn response_format(&self, options: &ListOptions) -> ResponseFormat {
        negotiate::response_format(self.headers, options.include_object.as_deref())
    }

    /// `GET` of one object (or a subresource, which reads the whole object as upstream).
    pub(super) async fn get(&self) -> Result<http::Response<Body>, Status> {
        let options = self.list_options()?;
        let name = self.info.name.as_str();
        let stored = self
            .store()
            .get(&self.key(name))
            .await
            .map_err(|e| store_error(self.def, name, e))?;
        match self.response_format(&options) {
            ResponseFormat::Json => Ok(json_response(StatusCode::OK, stored.object.as_ref())),
            ResponseFormat::Table { include, beta } => {
                let items = [stored.object.as_ref().clone()];
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

    /// `GET` of a collection.
    pub(super) async fn list(&self) -> Result<http::Response<Body>, Status> {
        let options = self.list_options()?;
        let (items, rv) = filtered_list(self).await?;
        let start_rv = options.continue_from.as_ref().map_or(rv, |token| token.rv);
        let after = options
            .continue_from
            .as_ref()
            .map(|token| (token.namespace.clone(), token.name.clone()));
        let mut page: Vec<Value> = Vec::new();
        let mut remaining = 0usize;
        let mut next: Option<ContinueToken> = None;
        for item in &items {
            let position = (
                meta_str(&item.object, "namespace").to_string(),
                meta_str(&item.object, "name").to_string(),
            );
            if after.as_ref().is_some_and(|after| position <= *after) {
                continue;
            }
            if options.limit > 0 && page.len() >= options.limit {
                remaining += 1;
                continue;
            }
            if options.limit > 0 && page.len() + 1 == options.limit {
                next = Some(ContinueToken {
                    rv: start_rv,
                    namespace: position.0,
                    name: position.1,
                });
            }
            page.push(item.object.as_ref().clone());
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
                let list = serde_json::json!({
                    "kind": self.def.list_kind,
                    "apiVersion": self.def.api_version(),
                    "metadata": list_meta,
                    "items": page,
                });
                Ok(json_response(StatusCode::OK, &list))
            }
            ResponseFormat::Table { include, beta } => {
                let table = to_table(&self.def.store_resource(), &page, include, beta, list_meta)?;
                Ok(json_response(StatusCode::OK, &table))
            }
        }
    }
}

/// The stored objects of the request's collection (its namespace, or all for a cluster-wide
/// path) that pass the field and label selectors, sorted by namespace then name, and the
/// revision of that snapshot.
pub(super) async fn filtered_list(call: &Call<'_>) -> Result<(Vec<store::Stored>, u64), Status> {
    let options = call.list_options()?;
    let namespace = (call.def.namespaced && !call.info.namespace.is_empty())
        .then_some(call.info.namespace.as_str());
    let (items, rv) = match options.field_selector.single_name() {
        // `metadata.name=x` (what `kubectl delete` polls with): one point read.
        Some(name) if call.def.namespaced == namespace.is_some() => {
            let items = match call.store().get(&call.key(name)).await {
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
            (items, rv)
        }
        _ => call
            .store()
            .list(&call.def.store_resource(), namespace)
            .await
            .map_err(|e| store_error(call.def, "", e))?,
    };
    let items = items
        .into_iter()
        .filter(|item| matches(&options, &item.object))
        .collect();
    Ok((items, rv))
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
