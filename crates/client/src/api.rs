//! Typed REST calls for the kinds of `protocol`.

use std::future::Future;

use bytes::Bytes;
use http::Method;
use protocol::Resource;
use protocol::meta::{DeleteOptions, ListMeta};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::ClientError;
use crate::path::{ListParams, collection_path, object_path, require_scope, with_query};

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectList<T> {
    pub items: Vec<T>,
    /// The list's `metadata.resourceVersion` (where a watch should start).
    pub resource_version: String,
    /// `metadata.continue`, when more pages follow.
    pub continue_token: Option<String>,
}

/// A PATCH body and its content type.
#[derive(Clone, Debug, PartialEq)]
pub enum Patch {
    /// `application/merge-patch+json` (RFC 7386).
    Merge(serde_json::Value),
    /// `application/json-patch+json` (RFC 6902 operations).
    Json(serde_json::Value),
    /// `application/strategic-merge-patch+json`.
    Strategic(serde_json::Value),
}

impl Patch {
    fn content_type(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Json(_) => "application/json-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
        }
    }

    fn body(&self) -> &serde_json::Value {
        match self {
            Patch::Merge(v) | Patch::Json(v) | Patch::Strategic(v) => v,
        }
    }
}

#[derive(serde::Deserialize)]
struct ListBody<T> {
    #[serde(default)]
    metadata: ListMeta,
    /// `null` in some servers' empty lists.
    #[serde(default = "none")]
    items: Option<Vec<T>>,
}

fn none<T>() -> Option<T> {
    None
}

impl Client {
    /// GET one object. `namespace` is `None` for cluster-scoped kinds.
    pub async fn get<T>(&self, namespace: Option<&str>, name: &str) -> Result<T, ClientError>
    where
        T: Resource + DeserializeOwned,
    {
        let path = object_path::<T>(namespace, name, None)?;
        let response = self.execute(Method::GET, &path, None).await?;
        decode(&response.body)
    }

    /// One page of a list (`namespace: None` on a namespaced kind lists all namespaces).
    pub async fn list<T>(
        &self,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList<T>, ClientError>
    where
        T: Resource + DeserializeOwned,
    {
        self.list_page_as::<T, T>(namespace, params).await
    }

    /// Every page of a list (follows `continue`); the resourceVersion is the first page's,
    /// which is the snapshot all pages are served from.
    pub async fn list_all<T>(
        &self,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList<T>, ClientError>
    where
        T: Resource + DeserializeOwned,
    {
        self.list_all_as::<T, T>(namespace, params).await
    }

    /// A page of `T`'s collection with items decoded as `D` (the watcher reads `Value`s).
    async fn list_page_as<T, D>(
        &self,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList<D>, ClientError>
    where
        T: Resource,
        D: DeserializeOwned,
    {
        let path = with_query(&collection_path::<T>(namespace)?, &params.list_query());
        let response = self.execute(Method::GET, &path, None).await?;
        let body: ListBody<D> = decode(&response.body)?;
        let continue_token = Some(body.metadata.r#continue).filter(|t| !t.is_empty());
        Ok(ObjectList {
            items: body.items.unwrap_or_default(),
            resource_version: body.metadata.resource_version,
            continue_token,
        })
    }

    pub(crate) async fn list_all_as<T, D>(
        &self,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList<D>, ClientError>
    where
        T: Resource,
        D: DeserializeOwned,
    {
        let mut page = self.list_page_as::<T, D>(namespace, params).await?;
        let mut all = std::mem::take(&mut page.items);
        let resource_version = page.resource_version.clone();
        while let Some(token) = page.continue_token.take() {
            let next = ListParams {
                continue_token: Some(token),
                // The continue token carries the snapshot; a resourceVersion beside it is an error.
                resource_version: None,
                ..params.clone()
            };
            page = self.list_page_as::<T, D>(namespace, &next).await?;
            all.append(&mut page.items);
        }
        Ok(ObjectList {
            items: all,
            resource_version,
            continue_token: None,
        })
    }

    /// POST a new object; returns what the server stored.
    pub async fn create<T>(&self, namespace: Option<&str>, object: &T) -> Result<T, ClientError>
    where
        T: Resource + Serialize + DeserializeOwned,
    {
        require_scope::<T>(namespace)?;
        let path = collection_path::<T>(namespace)?;
        let body = encode(object)?;
        let response = self
            .execute(Method::POST, &path, Some((body, "application/json")))
            .await?;
        decode(&response.body)
    }

    /// PUT the whole object (name from `metadata.name`; a `metadata.resourceVersion` makes it
    /// conditional: 409 Conflict when stale).
    pub async fn update<T>(&self, namespace: Option<&str>, object: &T) -> Result<T, ClientError>
    where
        T: Resource + Serialize + DeserializeOwned,
    {
        self.put(namespace, object, None).await
    }

    /// PUT to a subresource: `status` (CSR, Node), `approval` (CSR).
    pub async fn update_subresource<T>(
        &self,
        namespace: Option<&str>,
        name: &str,
        subresource: &str,
        object: &T,
    ) -> Result<T, ClientError>
    where
        T: Resource + Serialize + DeserializeOwned,
    {
        let body = encode(object)?;
        let path = object_path::<T>(namespace, name, Some(subresource))?;
        let response = self
            .execute(Method::PUT, &path, Some((body, "application/json")))
            .await?;
        decode(&response.body)
    }

    /// PATCH an object.
    pub async fn patch<T>(
        &self,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
    ) -> Result<T, ClientError>
    where
        T: Resource + DeserializeOwned,
    {
        self.patch_subresource(namespace, name, None, patch).await
    }

    /// PATCH an object or one of its subresources (`Some("status")`).
    pub async fn patch_subresource<T>(
        &self,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        patch: &Patch,
    ) -> Result<T, ClientError>
    where
        T: Resource + DeserializeOwned,
    {
        let path = object_path::<T>(namespace, name, subresource)?;
        let body = encode(patch.body())?;
        let response = self
            .execute(Method::PATCH, &path, Some((body, patch.content_type())))
            .await?;
        decode(&response.body)
    }

    /// DELETE an object.
    pub async fn delete<T>(&self, namespace: Option<&str>, name: &str) -> Result<(), ClientError>
    where
        T: Resource,
    {
        let path = object_path::<T>(namespace, name, None)?;
        self.execute(Method::DELETE, &path, None).await?;
        Ok(())
    }

    /// DELETE with options (preconditions on uid/resourceVersion, propagation policy).
    pub async fn delete_with<T>(
        &self,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<(), ClientError>
    where
        T: Resource,
    {
        let path = object_path::<T>(namespace, name, None)?;
        let body = encode(options)?;
        self.execute(Method::DELETE, &path, Some((body, "application/json")))
            .await?;
        Ok(())
    }

    async fn put<T>(
        &self,
        namespace: Option<&str>,
        object: &T,
        subresource: Option<&str>,
    ) -> Result<T, ClientError>
    where
        T: Resource + Serialize + DeserializeOwned,
    {
        let value = serde_json::to_value(object)
            .map_err(|e| ClientError::InvalidRequest(format!("cannot encode the object: {e}")))?;
        let name = value
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        let path = object_path::<T>(namespace, name, subresource)?;
        let body = encode(&value)?;
        let response = self
            .execute(Method::PUT, &path, Some((body, "application/json")))
            .await?;
        decode(&response.body)
    }
}

/// Runs `operation` (typically get, modify, update) again while it fails with 409 Conflict,
/// up to `attempts` times in all; any other result is returned at once.
pub async fn retry_on_conflict<F, Fut, R>(attempts: u32, mut operation: F) -> Result<R, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, ClientError>>,
{
    let mut tried = 0;
    loop {
        tried += 1;
        match operation().await {
            Err(err) if err.is_conflict() && tried < attempts.max(1) => {
                tracing::debug!(attempt = tried, "conflict, retrying");
            }
            other => return other,
        }
    }
}

pub(crate) fn encode<S: Serialize + ?Sized>(value: &S) -> Result<Bytes, ClientError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| ClientError::InvalidRequest(format!("cannot encode the request body: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| {
        let preview = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        ClientError::Decode(format!("{e} in {preview:?}"))
    })
}
