//! What a request URL addresses, as k8s.io/apiserver's `RequestInfoFactory` reads it: the
//! authorizer and the REST handlers both start from this, so they always agree.

use http::{Method, Uri};
use percent_encoding::percent_decode_str;

/// URL prefixes of API requests; `api` is the core group and carries no group segment.
const API_PREFIXES: &[&str] = &["api", "apis"];
const GROUPLESS_API_PREFIX: &str = "api";
/// Path segments that turn into the verb (`/apis/g/v/watch/...`).
const SPECIAL_VERBS: &[&str] = &["proxy", "watch"];
/// Special verbs after which the third part is not a subresource.
const SPECIAL_VERBS_NO_SUBRESOURCES: &[&str] = &["proxy"];
/// `namespaces/<ns>/<x>` where `<x>` is a subresource of the namespace, not a resource in it.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// The parsed request target. Absent parts are empty strings, as upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// False for `/healthz`, `/version`, `/api`, `/apis/<group>` and anything else that does not
    /// name a resource.
    pub is_resource_request: bool,
    /// The percent-decoded URL path.
    pub path: String,
    /// `get list watch create update patch delete deletecollection` (or `proxy`) for resource
    /// requests; the lower-cased HTTP method for non-resource requests.
    pub verb: String,
    /// `api` or `apis`.
    pub api_prefix: String,
    /// The API group, `""` for the core group.
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The path segments from the resource on (`[resource, name, subresource, ...]`).
    pub parts: Vec<String>,
}

impl RequestInfo {
    /// Reads method and URL the way kube-apiserver does. Never fails: a URL that names no
    /// resource is a non-resource request, and the handlers answer 404 for what they do not serve.
    pub fn parse(method: &Method, uri: &Uri) -> RequestInfo {
        let path = percent_decode_str(uri.path())
            .decode_utf8_lossy()
            .into_owned();
        let mut info = RequestInfo {
            verb: method.as_str().to_ascii_lowercase(),
            path,
            ..RequestInfo::default()
        };
        let segments: Vec<String> = split_path(&info.path);
        let mut parts: &[String] = &segments;
        if parts.len() < 3 || !API_PREFIXES.contains(&parts[0].as_str()) {
            return info;
        }
        info.api_prefix = parts[0].clone();
        parts = &parts[1..];
        if info.api_prefix != GROUPLESS_API_PREFIX {
            // `/apis/<group>/<version>` is still discovery; a resource needs a third part.
            if parts.len() < 3 {
                return info;
            }
            info.api_group = parts[0].clone();
            parts = &parts[1..];
        }
        info.is_resource_request = true;
        info.api_version = parts[0].clone();
        parts = &parts[1..];

        if let Some(first) = parts
            .first()
            .filter(|p| SPECIAL_VERBS.contains(&p.as_str()))
        {
            info.verb = first.clone();
            parts = &parts[1..];
        } else {
            info.verb = verb_for_method(method).to_string();
        }

        if parts.first().is_some_and(|p| p == "namespaces")
            && let Some(namespace) = parts.get(1)
        {
            info.namespace = namespace.clone();
            // `namespaces/<ns>/<resource>/...` is a resource in the namespace; `namespaces/<ns>`
            // and `namespaces/<ns>/status` address the namespace itself.
            if parts
                .get(2)
                .is_some_and(|p| !NAMESPACE_SUBRESOURCES.contains(&p.as_str()))
            {
                parts = &parts[2..];
            }
        }
        info.parts = parts.to_vec();

        let subresources_allowed = !SPECIAL_VERBS_NO_SUBRESOURCES.contains(&info.verb.as_str());
        if info.parts.len() >= 3 && subresources_allowed {
            info.subresource = info.parts[2].clone();
        }
        if info.parts.len() >= 2 {
            info.name = info.parts[1].clone();
        }
        if let Some(resource) = info.parts.first() {
            info.resource = resource.clone();
        }

        if info.name.is_empty() && info.verb == "get" {
            let query = uri.query().unwrap_or("");
            info.verb = if watch_requested(query) {
                "watch"
            } else {
                "list"
            }
            .to_string();
            if let Some(name) = field_selector_name(query) {
                info.name = name;
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_string();
        }
        info
    }
}

fn split_path(path: &str) -> Vec<String> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed.split('/').map(str::to_string).collect()
}

fn verb_for_method(method: &Method) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::GET | Method::HEAD => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "",
    }
}

/// Decoded `key=value` pairs of a query string (`+` is a space, as Go's `url.ParseQuery`).
fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split(['&', ';'])
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_query_part(key), decode_query_part(value))
        })
}

fn decode_query_part(part: &str) -> String {
    let spaced = part.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The first `watch` value, read as Go's `strconv.ParseBool`; a value it cannot parse counts as
/// true unless it is `false` or `0` in any case (upstream's fallback after a decode error).
fn watch_requested(query: &str) -> bool {
    let Some((_, value)) = query_pairs(query).find(|(k, _)| k == "watch") else {
        return false;
    };
    match value.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
        "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
        other => !matches!(other.to_ascii_lowercase().as_str(), "false" | "0"),
    }
}

/// The name a `fieldSelector` pins with `metadata.name=<x>` (or `==`), if it is a valid path
/// segment name, so list and watch of one object authorize against `resourceNames`.
fn field_selector_name(query: &str) -> Option<String> {
    let (_, selector) = query_pairs(query).find(|(k, _)| k == "fieldSelector")?;
    selector.split(',').find_map(|term| {
        let (field, value) = term
            .split_once("==")
            .or_else(|| term.split_once('='))
            .filter(|(field, _)| !field.ends_with('!'))?;
        (field.trim() == "metadata.name" && is_valid_path_segment_name(value.trim()))
            .then(|| value.trim().to_string())
    })
}

/// `path.IsValidPathSegmentName`: not `.` or `..`, no `/` or `%`.
fn is_valid_path_segment_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '%'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: Method, uri: &str) -> RequestInfo {
        RequestInfo::parse(&method, &uri.parse::<Uri>().expect("test uri"))
    }

    fn parts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn non_resource_paths() {
        for path in [
            "/",
            "/healthz",
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/certificates.k8s.io",
            "/apis/certificates.k8s.io/v1",
            "/metrics",
            "/openapi/v2/foo/bar",
        ] {
            let info = parse(Method::GET, path);
            assert!(!info.is_resource_request, "{path}");
            assert_eq!(info.verb, "get", "{path}");
            assert_eq!(info.path, path, "{path}");
            assert_eq!(info.resource, "", "{path}");
        }
        // Upstream keeps the prefix it already consumed on group-version discovery.
        assert_eq!(
            parse(Method::GET, "/apis/certificates.k8s.io/v1").api_prefix,
            "apis"
        );
        assert_eq!(parse(Method::GET, "/healthz").api_prefix, "");
        assert_eq!(parse(Method::POST, "/healthz").verb, "post");
    }

    #[test]
    fn core_cluster_scoped_collection_and_object() {
        let list = parse(Method::GET, "/api/v1/nodes");
        assert!(list.is_resource_request);
        assert_eq!(
            (
                list.api_prefix.as_str(),
                list.api_group.as_str(),
                list.api_version.as_str()
            ),
            ("api", "", "v1")
        );
        assert_eq!(
            (list.verb.as_str(), list.resource.as_str()),
            ("list", "nodes")
        );
        assert_eq!(list.namespace, "");
        assert_eq!(list.parts, parts(&["nodes"]));

        let get = parse(Method::GET, "/api/v1/nodes/n1");
        assert_eq!((get.verb.as_str(), get.name.as_str()), ("get", "n1"));

        let create = parse(Method::POST, "/api/v1/nodes");
        assert_eq!(create.verb, "create");
        assert_eq!(parse(Method::PUT, "/api/v1/nodes/n1").verb, "update");
        assert_eq!(parse(Method::PATCH, "/api/v1/nodes/n1").verb, "patch");
        assert_eq!(parse(Method::DELETE, "/api/v1/nodes/n1").verb, "delete");
        assert_eq!(
            parse(Method::DELETE, "/api/v1/nodes").verb,
            "deletecollection"
        );
        assert_eq!(parse(Method::HEAD, "/api/v1/nodes/n1").verb, "get");
        assert_eq!(parse(Method::OPTIONS, "/api/v1/nodes/n1").verb, "");
    }

    #[test]
    fn core_namespaced() {
        let info = parse(
            Method::GET,
            "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abc",
        );
        assert_eq!(info.namespace, "kube-system");
        assert_eq!(info.resource, "secrets");
        assert_eq!(info.name, "bootstrap-token-abc");
        assert_eq!(info.verb, "get");
        assert_eq!(info.parts, parts(&["secrets", "bootstrap-token-abc"]));

        let list = parse(Method::GET, "/api/v1/namespaces/kube-system/secrets");
        assert_eq!(
            (list.verb.as_str(), list.resource.as_str()),
            ("list", "secrets")
        );
    }

    #[test]
    fn namespaces_themselves() {
        let list = parse(Method::GET, "/api/v1/namespaces");
        assert_eq!(
            (list.verb.as_str(), list.resource.as_str()),
            ("list", "namespaces")
        );
        assert_eq!(list.namespace, "");

        let get = parse(Method::GET, "/api/v1/namespaces/default");
        assert_eq!(get.resource, "namespaces");
        assert_eq!(get.name, "default");
        assert_eq!(get.namespace, "default");
        assert_eq!(get.verb, "get");

        let status = parse(Method::PUT, "/api/v1/namespaces/default/status");
        assert_eq!(status.resource, "namespaces");
        assert_eq!(status.name, "default");
        assert_eq!(status.subresource, "status");
        assert_eq!(status.verb, "update");

        let finalize = parse(Method::PUT, "/api/v1/namespaces/default/finalize");
        assert_eq!(finalize.subresource, "finalize");
    }

    #[test]
    fn group_cluster_scoped_with_subresources() {
        let info = parse(
            Method::PUT,
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval",
        );
        assert!(info.is_resource_request);
        assert_eq!(info.api_prefix, "apis");
        assert_eq!(info.api_group, "certificates.k8s.io");
        assert_eq!(info.api_version, "v1");
        assert_eq!(info.resource, "certificatesigningrequests");
        assert_eq!(info.name, "csr-1");
        assert_eq!(info.subresource, "approval");
        assert_eq!(info.verb, "update");
        assert_eq!(
            info.parts,
            parts(&["certificatesigningrequests", "csr-1", "approval"])
        );
        let extra = parse(Method::GET, "/apis/g/v1/things/a/status/more/stuff");
        assert_eq!(extra.subresource, "status");
        assert_eq!(extra.parts.len(), 5);
    }

    #[test]
    fn group_namespaced() {
        let info = parse(
            Method::PUT,
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
        );
        assert_eq!(info.api_group, "coordination.k8s.io");
        assert_eq!(info.namespace, "kube-node-lease");
        assert_eq!(info.resource, "leases");
        assert_eq!(info.name, "n1");
        assert_eq!(info.verb, "update");

        let status = parse(Method::PATCH, "/apis/g/v1/namespaces/ns/things/a/status");
        assert_eq!(status.subresource, "status");
        assert_eq!(status.namespace, "ns");
    }

    #[test]
    fn watch_by_query_parameter() {
        let info = parse(
            Method::GET,
            "/apis/certificates.k8s.io/v1/certificatesigningrequests?watch=true&resourceVersion=5",
        );
        assert_eq!(info.verb, "watch");
        assert_eq!(info.resource, "certificatesigningrequests");
        for (value, watch) in [
            ("1", true),
            ("True", true),
            ("yes", true),
            ("", true),
            ("false", false),
            ("0", false),
            ("FaLsE", false),
        ] {
            let uri = format!("/api/v1/nodes?watch={value}");
            assert_eq!(parse(Method::GET, &uri).verb == "watch", watch, "{value:?}");
        }
        // A named GET is a get even with watch=true (upstream only re-reads collection GETs).
        assert_eq!(
            parse(Method::GET, "/api/v1/nodes/n1?watch=true").verb,
            "get"
        );
    }

    #[test]
    fn watch_by_path_prefix() {
        let collection = parse(Method::GET, "/api/v1/watch/nodes");
        assert_eq!(collection.verb, "watch");
        assert_eq!(collection.resource, "nodes");
        let named = parse(Method::GET, "/api/v1/watch/namespaces/ns/secrets/s1");
        assert_eq!(named.verb, "watch");
        assert_eq!(named.namespace, "ns");
        assert_eq!(named.resource, "secrets");
        assert_eq!(named.name, "s1");
        let group = parse(
            Method::GET,
            "/apis/certificates.k8s.io/v1/watch/certificatesigningrequests",
        );
        assert_eq!(group.verb, "watch");
        assert_eq!(group.resource, "certificatesigningrequests");
    }

    #[test]
    fn proxy_takes_no_subresource() {
        let info = parse(Method::GET, "/api/v1/proxy/nodes/n1/stats/summary");
        assert_eq!(info.verb, "proxy");
        assert_eq!(info.name, "n1");
        assert_eq!(info.subresource, "");
    }

    #[test]
    fn field_selector_on_name_sets_the_name() {
        let list = parse(
            Method::GET,
            "/apis/certificates.k8s.io/v1/certificatesigningrequests?fieldSelector=metadata.name%3Dnode-csr-1",
        );
        assert_eq!(list.verb, "list");
        assert_eq!(list.name, "node-csr-1");
        let watch = parse(
            Method::GET,
            "/api/v1/nodes?watch=1&fieldSelector=spec.unschedulable%3Dfalse,metadata.name%3D%3Dn1",
        );
        assert_eq!((watch.verb.as_str(), watch.name.as_str()), ("watch", "n1"));
        let not_equal = parse(
            Method::GET,
            "/api/v1/nodes?fieldSelector=metadata.name!%3Dn1",
        );
        assert_eq!(not_equal.name, "");
        let invalid = parse(
            Method::GET,
            "/api/v1/nodes?fieldSelector=metadata.name%3D..",
        );
        assert_eq!(invalid.name, "");
        // A deletecollection stays one when the selector names an object.
        let delete = parse(
            Method::DELETE,
            "/api/v1/nodes?fieldSelector=metadata.name%3Dn1",
        );
        assert_eq!(delete.verb, "deletecollection");
    }

    #[test]
    fn percent_encoded_path_is_decoded() {
        let info = parse(Method::GET, "/api/v1/namespaces/a%2Db/secrets/s%3A1");
        assert_eq!(info.namespace, "a-b");
        assert_eq!(info.name, "s:1");
        assert_eq!(info.path, "/api/v1/namespaces/a-b/secrets/s:1");
    }

    #[test]
    fn trailing_slash_and_special_verb_without_resource() {
        let info = parse(Method::GET, "/api/v1/nodes/");
        assert_eq!(
            (info.verb.as_str(), info.resource.as_str()),
            ("list", "nodes")
        );
        let bare = parse(Method::GET, "/api/v1/watch");
        assert!(bare.is_resource_request);
        assert_eq!(bare.verb, "watch");
        assert_eq!(bare.resource, "");
    }
}
