//! REST handlers: discovery, generic CRUD/watch over the store, and per-resource strategies.
//!
//! [`Api::handle`] is the one entry point the serving layer calls after authentication and
//! authorization. Everything below it speaks `serde_json::Value` objects; per-kind behaviour is
//! plugged in through [`Strategy`].

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::body::Body;
use crate::request_info::RequestInfo;

/// What a write does, as admission sees it (Kubernetes' `admission.Operation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// Everything an admission check may look at: who asks, what changes, and the authorizer to ask
/// further questions with (e.g. "may this user approve for this signer?").
pub struct AdmissionContext<'a> {
    pub operation: Operation,
    /// `""` for the main resource, else `"status"`, `"approval"`, ...
    pub subresource: &'a str,
    /// `""` for cluster-scoped objects.
    pub namespace: &'a str,
    pub name: &'a str,
    pub user: &'a rbac::UserInfo,
    /// The object after the change (the old one for deletes).
    pub object: &'a Value,
    /// The stored object before the change (`None` on create).
    pub old_object: Option<&'a Value>,
    pub authorizer: &'a dyn rbac::Authorizer,
}

/// Per-resource behaviour plugged into the generic handlers (defaults for most kinds; CSRs override).
pub trait Strategy: Send + Sync {
    /// Fill server-set fields on create (the generic code already set uid, creationTimestamp,
    /// generateName, namespace, apiVersion and kind).
    fn prepare_create(
        &self,
        _obj: &mut Value,
        _user: &rbac::UserInfo,
    ) -> Result<(), protocol::meta::Status> {
        Ok(())
    }

    fn validate_create(&self, _obj: &Value) -> Result<(), protocol::meta::Status> {
        Ok(())
    }

    /// `subresource` is "" for the main resource, else "status", "approval", ...
    /// The generic code has already carried `metadata.uid`, `creationTimestamp` and other
    /// immutable metadata over from `old`.
    fn prepare_update(
        &self,
        _subresource: &str,
        _new: &mut Value,
        _old: &Value,
    ) -> Result<(), protocol::meta::Status> {
        Ok(())
    }

    fn validate_update(
        &self,
        _subresource: &str,
        _new: &Value,
        _old: &Value,
    ) -> Result<(), protocol::meta::Status> {
        Ok(())
    }

    /// Admission after validation with the caller's identity (e.g. CSR approve/sign permission checks).
    fn admit(&self, _ctx: &AdmissionContext<'_>) -> Result<(), protocol::meta::Status> {
        Ok(())
    }

    /// Subresources served besides the main resource (e.g. `&["approval", "status"]`).
    fn subresources(&self) -> &'static [&'static str] {
        &[]
    }
}

/// The REST layer: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

struct Inner {
    store: store::Store,
    authorizer: Arc<dyn rbac::Authorizer>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

/// Namespaces every cluster has.
pub const DEFAULT_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

impl Api {
    pub fn new(store: store::Store, authorizer: Arc<dyn rbac::Authorizer>) -> Api {
        Api {
            inner: Arc::new(Inner { store, authorizer }),
        }
    }

    /// The store this API serves from.
    pub fn store(&self) -> &store::Store {
        &self.inner.store
    }

    /// The authorizer chain admission checks consult.
    pub fn authorizer(&self) -> &Arc<dyn rbac::Authorizer> {
        &self.inner.authorizer
    }

    /// Answers one authenticated, authorized request. Never panics on bad input: every failure
    /// is a `meta/v1.Status` response.
    pub async fn handle(
        &self,
        req: http::Request<Bytes>,
        info: &RequestInfo,
        user: &rbac::UserInfo,
    ) -> http::Response<Body> {
        let _ = (req, info, user);
        status_response(&protocol::meta::Status::path_not_found())
    }

    /// Creates the default namespaces (`default`, `kube-system`, `kube-public`,
    /// `kube-node-lease`) that do not exist yet.
    pub async fn ensure_defaults(&self) -> Result<(), store::StoreError> {
        for name in DEFAULT_NAMESPACES {
            let key = store::Key::new("core/namespaces", "", name);
            match self.inner.store.get(&key).await {
                Ok(_) => continue,
                Err(store::StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            let object = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            match self.inner.store.create(&key, object).await {
                Ok(_) | Err(store::StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A JSON response carrying a Status, with the Status's code as the HTTP code.
pub fn status_response(status: &protocol::meta::Status) -> http::Response<Body> {
    let body = serde_json::to_vec(status).unwrap_or_default();
    let mut response = http::Response::new(crate::body::full(body));
    *response.status_mut() = http::StatusCode::from_u16(status.http_code())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
