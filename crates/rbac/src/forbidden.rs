//! The message of a 403, byte for byte as kube-apiserver writes it
//! (`responsewriters.forbiddenMessage`).

use std::fmt::Write as _;

use crate::attributes::Attributes;

/// `User "x" cannot create resource "certificatesigningrequests" in API group
/// "certificates.k8s.io" at the cluster scope` (or `in the namespace "ns"`), with
/// `resource/subresource` for subresources and `cannot get path "/foo"` for non-resource
/// requests. Strings are quoted like Go's `%q`.
pub fn forbidden_message(attributes: &Attributes) -> String {
    let user = go_quote(&attributes.user.name);
    let verb = &attributes.verb;
    if !attributes.resource_request {
        return format!(
            "User {user} cannot {verb} path {}",
            go_quote(&attributes.path)
        );
    }
    let resource = go_quote(&attributes.combined_resource());
    let group = go_quote(&attributes.api_group);
    if attributes.namespace.is_empty() {
        format!(
            "User {user} cannot {verb} resource {resource} in API group {group} at the cluster scope"
        )
    } else {
        format!(
            "User {user} cannot {verb} resource {resource} in API group {group} in the namespace {}",
            go_quote(&attributes.namespace)
        )
    }
}

/// Quotes like Go's `strconv.Quote` (`%q`): printable characters as they are, the usual
/// backslash escapes, other control characters as `\xNN` or `\uNNNN`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::UserInfo;

    fn user(name: &str) -> UserInfo {
        UserInfo::new(name, ["system:authenticated"])
    }

    #[test]
    fn cluster_scoped_resource() {
        let attrs = Attributes::resource(
            user("system:bootstrap:abcdef"),
            "create",
            "certificates.k8s.io",
            "certificatesigningrequests",
        );
        assert_eq!(
            forbidden_message(&attrs),
            r#"User "system:bootstrap:abcdef" cannot create resource "certificatesigningrequests" in API group "certificates.k8s.io" at the cluster scope"#
        );
    }

    #[test]
    fn subresource_is_joined_with_a_slash() {
        let attrs = Attributes::resource(
            user("bob"),
            "update",
            "certificates.k8s.io",
            "certificatesigningrequests",
        )
        .with_subresource("approval")
        .with_name("csr-1");
        assert_eq!(
            forbidden_message(&attrs),
            r#"User "bob" cannot update resource "certificatesigningrequests/approval" in API group "certificates.k8s.io" at the cluster scope"#
        );
    }

    #[test]
    fn namespaced_core_group() {
        let attrs = Attributes::resource(user("system:node:a"), "list", "", "secrets")
            .with_namespace("kube-system");
        assert_eq!(
            forbidden_message(&attrs),
            r#"User "system:node:a" cannot list resource "secrets" in API group "" in the namespace "kube-system""#
        );
    }

    #[test]
    fn non_resource_path() {
        let attrs = Attributes::non_resource(user("system:anonymous"), "get", "/foo");
        assert_eq!(
            forbidden_message(&attrs),
            r#"User "system:anonymous" cannot get path "/foo""#
        );
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("x\ny\u{1}"), r#""x\ny\x01""#);
        assert_eq!(go_quote("üñí"), "\"üñí\"");
        assert_eq!(go_quote("\u{85}"), r#""\u0085""#);
    }
}
