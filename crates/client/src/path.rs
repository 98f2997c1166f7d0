//! REST paths of a kind (`/api/v1/...` for the core group, `/apis/<group>/<version>/...`
//! otherwise) and list/watch query strings.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use protocol::Resource;

use crate::error::ClientError;

/// Characters escaped in a path segment (RFC 3986 `pchar` complement) and in a query value.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');
const QUERY_VALUE: &AsciiSet = &SEGMENT.add(b'&').add(b'=').add(b'+').add(b';');

/// Options of a list (and of the list that starts a watch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `fieldSelector`, e.g. `metadata.name=node-a`.
    pub field_selector: Option<String>,
    /// `labelSelector`, e.g. `app=x,tier!=db`.
    pub label_selector: Option<String>,
    /// Page size; `list` returns one page, `list_all` and watches follow `continue`.
    pub limit: Option<u32>,
    /// `continue` token of the previous page.
    pub continue_token: Option<String>,
    /// `resourceVersion` semantics of the list (`"0"` = any cached state is fine).
    pub resource_version: Option<String>,
}

impl ListParams {
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Query pairs of a list request.
    pub(crate) fn list_query(&self) -> Vec<(&'static str, String)> {
        let mut query = self.selector_query();
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(token) = &self.continue_token {
            query.push(("continue", token.clone()));
        }
        if let Some(rv) = &self.resource_version {
            query.push(("resourceVersion", rv.clone()));
        }
        query
    }

    /// Selectors only (what a watch repeats after its list).
    pub(crate) fn selector_query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(fields) = &self.field_selector {
            query.push(("fieldSelector", fields.clone()));
        }
        if let Some(labels) = &self.label_selector {
            query.push(("labelSelector", labels.clone()));
        }
        query
    }
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn group_version_prefix<T: Resource>() -> String {
    if <T as Resource>::GROUP.is_empty() {
        format!("/api/{}", <T as Resource>::VERSION)
    } else {
        format!(
            "/apis/{}/{}",
            <T as Resource>::GROUP,
            <T as Resource>::VERSION
        )
    }
}

/// The collection path: `/apis/g/v[/namespaces/ns]/plural`. A namespaced kind without a
/// namespace means "all namespaces" (valid for list and watch only; `require_scope` checks
/// the single-object calls). A namespace on a cluster-scoped kind is an error.
pub fn collection_path<T: Resource>(namespace: Option<&str>) -> Result<String, ClientError> {
    let mut path = group_version_prefix::<T>();
    match namespace {
        Some(ns) if !<T as Resource>::NAMESPACED => {
            return Err(ClientError::InvalidRequest(format!(
                "{} is cluster-scoped but namespace {ns:?} was given",
                <T as Resource>::KIND
            )));
        }
        Some("") => {
            return Err(ClientError::InvalidRequest(format!(
                "empty namespace for {}",
                <T as Resource>::KIND
            )));
        }
        Some(ns) => {
            path.push_str("/namespaces/");
            path.push_str(&segment(ns));
        }
        None => {}
    }
    path.push('/');
    path.push_str(<T as Resource>::PLURAL);
    Ok(path)
}

/// Checks that a single-object call on a namespaced kind names its namespace.
pub(crate) fn require_scope<T: Resource>(namespace: Option<&str>) -> Result<(), ClientError> {
    if <T as Resource>::NAMESPACED && namespace.is_none() {
        return Err(ClientError::InvalidRequest(format!(
            "{} is namespaced: a namespace is required",
            <T as Resource>::KIND
        )));
    }
    Ok(())
}

/// `collection/name[/subresource]`.
pub fn object_path<T: Resource>(
    namespace: Option<&str>,
    name: &str,
    subresource: Option<&str>,
) -> Result<String, ClientError> {
    require_scope::<T>(namespace)?;
    if name.is_empty() {
        return Err(ClientError::InvalidRequest(format!(
            "empty name for {}",
            <T as Resource>::KIND
        )));
    }
    let mut path = collection_path::<T>(namespace)?;
    path.push('/');
    path.push_str(&segment(name));
    if let Some(sub) = subresource {
        path.push('/');
        path.push_str(&segment(sub));
    }
    Ok(path)
}

fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// `path?k=v&...` with values escaped.
pub(crate) fn with_query(path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::certificates::v1::CertificateSigningRequest;
    use protocol::coordination::v1::Lease;
    use protocol::core::v1::Node;

    #[test]
    fn core_and_group_paths() {
        assert_eq!(
            object_path::<Node>(None, "a", Some("status")).unwrap(),
            "/api/v1/nodes/a/status"
        );
        assert_eq!(
            object_path::<CertificateSigningRequest>(None, "csr-1", Some("approval")).unwrap(),
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval"
        );
        assert_eq!(
            object_path::<Lease>(Some("kube-node-lease"), "n1", None).unwrap(),
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
        );
        assert_eq!(
            collection_path::<Lease>(None).unwrap(),
            "/apis/coordination.k8s.io/v1/leases"
        );
    }

    #[test]
    fn scope_mistakes_are_errors_not_requests() {
        assert!(object_path::<Lease>(None, "n1", None).is_err());
        assert!(collection_path::<Node>(Some("default")).is_err());
        assert!(object_path::<Node>(None, "", None).is_err());
    }

    #[test]
    fn names_and_query_values_are_escaped() {
        assert_eq!(
            object_path::<Node>(None, "a/b c", None).unwrap(),
            "/api/v1/nodes/a%2Fb%20c"
        );
        let params = ListParams::default()
            .fields("spec.signerName=kubernetes.io/kubelet-serving")
            .labels("a=b,c!=d")
            .limit(5);
        assert_eq!(
            with_query("/x", &params.list_query()),
            "/x?fieldSelector=spec.signerName%3Dkubernetes.io%2Fkubelet-serving\
             &labelSelector=a%3Db,c!%3Dd&limit=5"
        );
    }
}
