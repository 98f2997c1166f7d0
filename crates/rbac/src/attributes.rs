//! What a request asks to do, in the form authorizers evaluate (Kubernetes' `authorizer.Attributes`).

use crate::user::UserInfo;

/// A request to authorize. Absent parts are empty strings, as upstream.
///
/// For resource requests `verb` is the Kubernetes API verb (`get`, `list`, `watch`, `create`,
/// `update`, `patch`, `delete`, `deletecollection`, or a special verb such as `approve`, `sign`);
/// for non-resource requests it is the lower-cased HTTP method (`get`, `post`, ...).
///
/// `name` is the object name from the URL. For `create` the URL has no name; an apiserver that
/// wants the [`crate::NodeAuthorizer`] to let a node create its own Node or Lease fills `name`
/// from the body's `metadata.name` (upstream does this check in the NodeRestriction admission
/// plugin instead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    pub resource_request: bool,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub path: String,
}

impl Attributes {
    /// A resource request for `verb` on `resource` in `api_group` (`""` is the core group),
    /// cluster-scoped and unnamed until refined with the builder methods below.
    pub fn resource(
        user: UserInfo,
        verb: impl Into<String>,
        api_group: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self {
            user,
            verb: verb.into(),
            resource_request: true,
            api_group: api_group.into(),
            resource: resource.into(),
            ..Self::default()
        }
    }

    /// A non-resource request (`/healthz`, `/version`, `/apis`, ...).
    pub fn non_resource(user: UserInfo, verb: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            user,
            verb: verb.into(),
            resource_request: false,
            path: path.into(),
            ..Self::default()
        }
    }

    /// Sets the subresource (`status`, `approval`, `nodeclient`, ...).
    pub fn with_subresource(mut self, subresource: impl Into<String>) -> Self {
        self.subresource = subresource.into();
        self
    }

    /// Sets the namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets the object name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the API version (informational; no authorizer here looks at it).
    pub fn with_api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// `resource` or `resource/subresource`, the form rules list resources in.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}
