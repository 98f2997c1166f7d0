//! Whether one PolicyRule covers a request, exactly as upstream's `RuleAllows`
//! (`plugin/pkg/auth/authorizer/rbac/rbac.go` and `pkg/apis/rbac/v1/evaluation_helpers.go`).

use protocol::rbac::v1::PolicyRule;

use crate::attributes::Attributes;

/// The wildcard for verbs, API groups, resources and non-resource URLs.
pub const ALL: &str = "*";

/// True when `rule` allows the request. Resource requests need verb, API group, resource
/// (`res`, `res/sub`, `*/sub` or `*`) and resource name to match; non-resource requests
/// need verb and URL.
pub fn rule_allows(attributes: &Attributes, rule: &PolicyRule) -> bool {
    if !verb_matches(&rule.verbs, &attributes.verb) {
        return false;
    }
    if attributes.resource_request {
        api_group_matches(&rule.api_groups, &attributes.api_group)
            && resource_matches(
                &rule.resources,
                &attributes.resource,
                &attributes.subresource,
            )
            && resource_name_matches(&rule.resource_names, &attributes.name)
    } else {
        non_resource_url_matches(&rule.non_resource_urls, &attributes.path)
    }
}

/// True when any rule in `rules` allows the request.
pub fn rules_allow(attributes: &Attributes, rules: &[PolicyRule]) -> bool {
    rules.iter().any(|rule| rule_allows(attributes, rule))
}

/// A listed verb equals the request's, or is `*`.
pub fn verb_matches(rule_verbs: &[String], verb: &str) -> bool {
    rule_verbs.iter().any(|v| v == ALL || v == verb)
}

/// A listed API group equals the request's (`""` is the core group), or is `*`.
pub fn api_group_matches(rule_groups: &[String], group: &str) -> bool {
    rule_groups.iter().any(|g| g == ALL || g == group)
}

/// A listed resource is `*`, equals `resource` or `resource/subresource`, or is
/// `*/subresource` when the request names that subresource. `nodes` does not cover
/// `nodes/status`.
pub fn resource_matches(rule_resources: &[String], resource: &str, subresource: &str) -> bool {
    rule_resources.iter().any(|listed| {
        if listed == ALL {
            return true;
        }
        if subresource.is_empty() {
            return listed == resource;
        }
        // `res/sub` exactly, or `*/sub`.
        let (listed_resource, listed_subresource) = match listed.split_once('/') {
            Some(parts) => parts,
            None => return false,
        };
        listed_subresource == subresource && (listed_resource == resource || listed_resource == ALL)
    })
}

/// An empty list allows every name; otherwise the request's name must be listed. A request
/// without a name (list, watch, create on the collection) therefore never matches a rule
/// that lists names.
pub fn resource_name_matches(rule_names: &[String], name: &str) -> bool {
    rule_names.is_empty() || rule_names.iter().any(|n| n == name)
}

/// A listed URL is `*`, equals the path, or ends in `*` and is a prefix of the path
/// (`/apis/*` matches `/apis/` and `/apis/x`, not `/apis`).
pub fn non_resource_url_matches(rule_urls: &[String], path: &str) -> bool {
    rule_urls.iter().any(|url| {
        if url == ALL || url == path {
            return true;
        }
        match url.strip_suffix('*') {
            // Upstream trims every trailing '*', so `/a**` behaves like `/a*`.
            Some(_) => path.starts_with(url.trim_end_matches('*')),
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn verbs() {
        assert!(verb_matches(&list(&["get", "list"]), "list"));
        assert!(verb_matches(&list(&["*"]), "approve"));
        assert!(!verb_matches(&list(&["get"]), "list"));
        assert!(!verb_matches(&[], "get"));
    }

    #[test]
    fn api_groups() {
        assert!(api_group_matches(&list(&[""]), ""));
        assert!(!api_group_matches(&list(&[""]), "apps"));
        assert!(api_group_matches(&list(&["*"]), "certificates.k8s.io"));
        assert!(!api_group_matches(&[], ""));
    }

    #[test]
    fn resources_and_subresources() {
        let nodes = list(&["nodes"]);
        assert!(resource_matches(&nodes, "nodes", ""));
        assert!(!resource_matches(&nodes, "nodes", "status"));
        assert!(resource_matches(
            &list(&["nodes/status"]),
            "nodes",
            "status"
        ));
        assert!(!resource_matches(&list(&["nodes/status"]), "nodes", ""));
        assert!(!resource_matches(
            &list(&["nodes/status"]),
            "pods",
            "status"
        ));
        assert!(resource_matches(&list(&["*/status"]), "pods", "status"));
        assert!(!resource_matches(&list(&["*/status"]), "pods", ""));
        assert!(!resource_matches(&list(&["*/status"]), "pods", "approval"));
        assert!(!resource_matches(&list(&["*/stat"]), "pods", "status"));
        assert!(resource_matches(&list(&["*"]), "pods", "log"));
        assert!(resource_matches(&list(&["*"]), "pods", ""));
    }

    #[test]
    fn resource_names() {
        assert!(resource_name_matches(&[], ""));
        assert!(resource_name_matches(&[], "x"));
        let named = list(&["kubernetes.io/kube-apiserver-client-kubelet"]);
        assert!(resource_name_matches(
            &named,
            "kubernetes.io/kube-apiserver-client-kubelet"
        ));
        assert!(!resource_name_matches(
            &named,
            "kubernetes.io/kubelet-serving"
        ));
        assert!(!resource_name_matches(&named, ""));
    }

    #[test]
    fn non_resource_urls() {
        let urls = list(&["/healthz", "/apis/*", "/version"]);
        assert!(non_resource_url_matches(&urls, "/healthz"));
        assert!(!non_resource_url_matches(&urls, "/healthz/ping"));
        assert!(non_resource_url_matches(&urls, "/apis/"));
        assert!(non_resource_url_matches(
            &urls,
            "/apis/certificates.k8s.io/v1"
        ));
        assert!(!non_resource_url_matches(&urls, "/apis"));
        assert!(!non_resource_url_matches(&urls, "/version/"));
        assert!(non_resource_url_matches(&list(&["*"]), "/anything"));
        assert!(non_resource_url_matches(&list(&["/a**"]), "/ab"));
    }
}
