//! REST handlers: discovery, generic CRUD/watch over the store, and per-resource strategies.
//!
//! [`Api::handle`] is the one entry point the serving layer calls after authentication and
//! authorization. Everything below it speaks `serde_json::Value` objects; per-kind behaviour is
//! plugged in through [`Strategy`].
//!
//! Handlers fail with `protocol::meta::Status`, the very body the client gets. It is large (a
//! few hundred bytes), but errors end the request, so boxing it everywhere would buy nothing.
#![allow(clippy::result_large_err)]

pub mod authentication;
pub mod authorization;
pub mod create_limit;
pub mod csr;
mod discovery;
pub(crate) mod names;
mod negotiate;
mod object;
mod patch;
mod pods;
mod query;
mod rbac_writes;
mod read;
mod registry;
mod response;
mod revocations;
mod selectors;
mod strategies;
mod watch;
mod write;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocol::meta::Status;
use serde_json::Value;

use crate::body::Body;
use crate::request_info::RequestInfo;
pub use registry::{Backing, Registry, ResourceDef};
pub use response::status_response;
pub use strategies::{
    ConfigMapStrategy, DefaultStrategy, LeaseStrategy, NamespaceStrategy, NodeStrategy,
    SecretStrategy,
};

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
    /// The RBAC objects' rules (not the other authorizers'), for escalation checks.
    pub rule_resolver: &'a dyn rbac::RuleResolver,
}

/// Who writes, as mutating admission sees it.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    pub operation: Operation,
    /// `""` for the main resource, else `"status"`, ...
    pub subresource: &'a str,
    pub user: &'a rbac::UserInfo,
    /// The credential ID of the client CA certificate that verified the client certificate
    /// the user authenticated with; `None` for any other authentication, and when
    /// impersonating.
    pub client_certificate_issuer: Option<&'a str>,
}

/// A request extension set by the serving pipeline when the user is the one its client
/// certificate names (not impersonated): the credential ID of that certificate's issuer.
#[derive(Debug, Clone)]
pub struct ClientCertificateIssuer(pub Arc<str>);

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

    /// Mutating admission with the writer's identity, after `prepare_create`/`prepare_update`
    /// and before validation: fields only the server may write, from who writes (e.g. the
    /// issuer of a node's client certificate on its Node, decision 0029).
    fn admit_mutating(
        &self,
        _writer: &Writer<'_>,
        _object: &mut Value,
        _old: Option<&Value>,
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

    /// What an admitted create counts against in the per-requester create limit (decision
    /// 0030), if it counts at all.
    fn create_rate_key(
        &self,
        _obj: &Value,
        _user: &rbac::UserInfo,
    ) -> Option<create_limit::RateKey> {
        None
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
    registry: Registry,
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK.
    bookmark_interval: Duration,
    /// Set once the server shuts down: every watch stream then ends (see [`Api::close_watches`]).
    closing: tokio::sync::watch::Sender<bool>,
    /// What answers TokenReviews: the server's own token authenticators.
    tokens: std::sync::OnceLock<Arc<dyn authentication::TokenAuthenticator>>,
    /// The RBAC rules escalation checks read; until set, nobody holds any (only
    /// `system:masters` and the `escalate` and `bind` verbs let RBAC objects be written).
    rule_resolver: std::sync::OnceLock<Arc<dyn rbac::RuleResolver>>,
    /// The per-requester create limit; until set, creates are not limited.
    create_limit: std::sync::OnceLock<Arc<create_limit::CreateRateLimit>>,
}

impl Inner {
    /// The resolver set by [`Api::set_rule_resolver`], or one that grants nothing.
    fn rule_resolver(&self) -> &dyn rbac::RuleResolver {
        match self.rule_resolver.get() {
            Some(resolver) => resolver.as_ref(),
            None => &NoRules,
        }
    }
}

/// The rule resolver of an API given none: no rules for anyone, no roles.
struct NoRules;

impl rbac::RuleResolver for NoRules {
    fn rules_for(&self, _user: &rbac::UserInfo, _namespace: &str) -> rbac::UserRules {
        rbac::UserRules::default()
    }

    fn role_rules(
        &self,
        _kind: &str,
        _name: &str,
        _namespace: &str,
    ) -> Option<Arc<[protocol::rbac::v1::PolicyRule]>> {
        None
    }
}

/// Upstream sends bookmarks about once a minute.
const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

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
        Api::with_bookmark_interval(store, authorizer, DEFAULT_BOOKMARK_INTERVAL)
    }

    /// As [`Api::new`] with another bookmark period (tests use a short one).
    pub fn with_bookmark_interval(
        store: store::Store,
        authorizer: Arc<dyn rbac::Authorizer>,
        bookmark_interval: Duration,
    ) -> Api {
        Api {
            inner: Arc::new(Inner {
                store,
                authorizer,
                registry: Registry::served(),
                bookmark_interval,
                closing: tokio::sync::watch::Sender::new(false),
                tokens: std::sync::OnceLock::new(),
                rule_resolver: std::sync::OnceLock::new(),
                create_limit: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The authenticators TokenReviews are answered with (set once, at start; without them a
    /// TokenReview is refused as not served).
    pub fn set_token_authenticator(&self, tokens: Arc<dyn authentication::TokenAuthenticator>) {
        let _ = self.inner.tokens.set(tokens);
    }

    /// Where escalation checks on RBAC writes read the RBAC rules (set once, at start).
    pub fn set_rule_resolver(&self, resolver: Arc<dyn rbac::RuleResolver>) {
        let _ = self.inner.rule_resolver.set(resolver);
    }

    /// The per-requester create limit (set once, at start; without it nothing is limited).
    pub fn set_create_limit(&self, limit: Arc<create_limit::CreateRateLimit>) {
        let _ = self.inner.create_limit.set(limit);
    }

    /// Ends every open watch response cleanly, and every later one at once, as kube-apiserver
    /// does when it shuts down: a watch never finishes by itself, so without this a drain
    /// waits out its whole grace period for each one, and the client sees a cut connection
    /// instead of a finished stream (client-go then re-watches from its last resourceVersion).
    pub fn close_watches(&self) {
        self.inner.closing.send_replace(true);
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
        match self.route(req, info, user).await {
            Ok(response) => response,
            Err(status) => status_response(&status),
        }
    }

    async fn route(
        &self,
        req: http::Request<Bytes>,
        info: &RequestInfo,
        user: &rbac::UserInfo,
    ) -> Result<http::Response<Body>, Status> {
        if !info.is_resource_request {
            let host = req
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            return match discovery::answer(&info.path, host) {
                Some(_) if req.method() != http::Method::GET => {
                    Err(method_not_allowed(req.method()))
                }
                Some(response) => Ok(response),
                None => Err(Status::path_not_found()),
            };
        }
        let def = self
            .inner
            .registry
            .find(&info.api_group, &info.api_version, &info.resource)
            .ok_or_else(Status::path_not_found)?;
        if !def.serves_subresource(&info.subresource) {
            return Err(Status::path_not_found());
        }
        // A cluster-scoped kind under `/namespaces/<ns>/` does not exist (for namespaces
        // themselves RequestInfo puts the name into `namespace`, as upstream).
        if !def.namespaced && def.plural != "namespaces" && !info.namespace.is_empty() {
            return Err(Status::path_not_found());
        }
        let (parts, body) = req.into_parts();
        let call = Call {
            api: &self.inner,
            def,
            info,
            user,
            client_certificate_issuer: parts
                .extensions
                .get::<ClientCertificateIssuer>()
                .map(|issuer| Arc::clone(&issuer.0)),
            headers: &parts.headers,
            query: parts.uri.query(),
            body,
        };
        call.dispatch(&parts.method).await
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
                "metadata": {
                    "name": name,
                    "uid": names::new_uid(),
                    "creationTimestamp": protocol::meta::Time::now(),
                },
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

fn method_not_allowed(method: &http::Method) -> Status {
    Status::method_not_allowed(format!(
        "the server does not allow this method on the requested resource: {method}"
    ))
}

/// One resource request on its way through the handlers.
pub(crate) struct Call<'a> {
    api: &'a Inner,
    def: &'a ResourceDef,
    info: &'a RequestInfo,
    user: &'a rbac::UserInfo,
    client_certificate_issuer: Option<Arc<str>>,
    headers: &'a http::HeaderMap,
    query: Option<&'a str>,
    body: Bytes,
}

impl Call<'_> {
    async fn dispatch(&self, method: &http::Method) -> Result<http::Response<Body>, Status> {
        let sub = !self.info.subresource.is_empty();
        let review = self.def.backing == Backing::Review;
        // Namespaced kinds are only listed and watched across namespaces; anything else needs
        // the `/namespaces/<ns>/` part (upstream registers no such routes).
        if self.def.namespaced && self.info.namespace.is_empty() {
            match self.info.verb.as_str() {
                // A name here comes from a `metadata.name` field selector, as upstream sets it.
                "list" | "watch" => {}
                _ if !self.info.name.is_empty() => return Err(Status::path_not_found()),
                _ => return Err(method_not_allowed(method)),
            }
        }
        match self.info.verb.as_str() {
            "create" if !self.info.name.is_empty() || sub => Err(method_not_allowed(method)),
            "create" if review => self.create_review().await,
            "create" => self.create().await,
            _ if review => Err(method_not_allowed(method)),
            "get" => self.get().await,
            "list" if !sub => self.list().await,
            "watch" if !sub => self.watch().await,
            "update" => self.update().await,
            "patch" => self.patch().await,
            "delete" if !sub => self.delete().await,
            "deletecollection" if !sub => self.delete_collection().await,
            _ => Err(method_not_allowed(method)),
        }
    }

    /// The store key namespace: `""` for cluster-scoped kinds.
    fn namespace(&self) -> &str {
        if self.def.namespaced {
            &self.info.namespace
        } else {
            ""
        }
    }

    fn key(&self, name: &str) -> store::Key {
        store::Key::new(self.def.store_resource(), self.namespace(), name)
    }

    fn store(&self) -> &store::Store {
        &self.api.store
    }
}
