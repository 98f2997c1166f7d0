//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): upstream's `WithImpersonation`
//! filter, between authentication and authorization. Each thing asked for (user or service
//! account, every group, every extra value, the uid) must be allowed to the real requester as
//! the verb `impersonate`; then the request goes on as the impersonated user.

// The refusal is the response body itself (a `meta/v1.Status`), built only on that path.
#![allow(clippy::result_large_err)]

use http::HeaderMap;
use percent_encoding::percent_decode_str;
use protocol::meta::Status;
use rbac::user::SERVICE_ACCOUNT_USER_PREFIX;
use rbac::user::{SYSTEM_AUTHENTICATED, SYSTEM_UNAUTHENTICATED};
use rbac::{Attributes, Authorizer, Decision, UserInfo};

use super::ANONYMOUS_USER;
use crate::api::names::{self, NameRule};

const USER_HEADER: &str = "impersonate-user";
const UID_HEADER: &str = "impersonate-uid";
const GROUP_HEADER: &str = "impersonate-group";
const EXTRA_HEADER_PREFIX: &str = "impersonate-extra-";

/// One thing the requester asks to act as.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    User(String),
    ServiceAccount { namespace: String, name: String },
    Group(String),
    Extra { key: String, value: String },
    Uid(String),
}

impl Target {
    /// What the requester must be allowed: `impersonate` on this resource.
    fn attributes(&self, requester: &UserInfo) -> Attributes {
        let (group, resource, subresource, namespace, name) = match self {
            Target::User(name) => ("", "users", "", "", name.as_str()),
            Target::ServiceAccount { namespace, name } => {
                ("", "serviceaccounts", "", namespace.as_str(), name.as_str())
            }
            Target::Group(name) => ("", "groups", "", "", name.as_str()),
            Target::Extra { key, value } => (
                "authentication.k8s.io",
                "userextras",
                key.as_str(),
                "",
                value.as_str(),
            ),
            Target::Uid(uid) => ("authentication.k8s.io", "uids", "", "", uid.as_str()),
        };
        Attributes::resource(requester.clone(), "impersonate", group, resource)
            .with_subresource(subresource.to_string())
            .with_namespace(namespace.to_string())
            .with_name(name.to_string())
    }
}

/// The user a request acts as: `requester` itself without impersonation headers, the
/// impersonated user when every part of it is allowed, else the Status to answer.
pub fn acting_user(
    requester: &UserInfo,
    headers: &HeaderMap,
    authorizer: &dyn Authorizer,
) -> Result<Option<UserInfo>, Status> {
    let targets = targets(headers).map_err(Status::internal_error)?;
    if targets.is_empty() {
        return Ok(None);
    }
    // Groups named in the request are the whole list; otherwise a service account has its own.
    let groups_specified = headers.contains_key(GROUP_HEADER);
    let mut user = UserInfo::default();
    for target in &targets {
        let attributes = target.attributes(requester);
        let (decision, reason) = authorizer.authorize(&attributes);
        if decision != Decision::Allow {
            return Err(crate::authz::forbidden_status(&attributes, &reason));
        }
        match target {
            Target::User(name) => user.name = name.clone(),
            Target::ServiceAccount { namespace, name } => {
                let account = UserInfo::service_account(namespace, name);
                user.name = account.name;
                if !groups_specified {
                    user.groups = account.groups;
                }
            }
            Target::Group(group) => user.groups.push(group.clone()),
            Target::Extra { key, value } => user
                .extra
                .entry(key.clone())
                .or_default()
                .push(value.clone()),
            Target::Uid(uid) => user.uid = uid.clone(),
        }
    }
    let has = |group: &str| user.groups.iter().any(|g| g == group);
    if user.name != ANONYMOUS_USER {
        if !has(SYSTEM_AUTHENTICATED) && !has(SYSTEM_UNAUTHENTICATED) {
            user.groups.push(SYSTEM_AUTHENTICATED.to_string());
        }
    } else if !has(SYSTEM_UNAUTHENTICATED) {
        user.groups.push(SYSTEM_UNAUTHENTICATED.to_string());
    }
    Ok(Some(user))
}

/// Upstream's `buildImpersonationRequests`: the user (or service account), every group, every
/// extra value, the uid; groups, extras or a uid without a user are an error.
fn targets(headers: &HeaderMap) -> Result<Vec<Target>, String> {
    let text = |value: &http::HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
    let mut targets = Vec::new();
    let user = headers.get(USER_HEADER).map(text).unwrap_or_default();
    if !user.is_empty() {
        targets.push(match service_account(&user) {
            Some((namespace, name)) => Target::ServiceAccount { namespace, name },
            None => Target::User(user.clone()),
        });
    }
    targets.extend(
        headers
            .get_all(GROUP_HEADER)
            .iter()
            .map(|g| Target::Group(text(g))),
    );
    for (header, value) in headers {
        // Header names arrive lowercase, as upstream compares them.
        let Some(encoded) = header.as_str().strip_prefix(EXTRA_HEADER_PREFIX) else {
            continue;
        };
        // Keys may be percent-encoded (for characters a header name cannot carry).
        let key = percent_decode_str(encoded)
            .decode_utf8()
            .map_or_else(|_| encoded.to_string(), |k| k.into_owned());
        targets.push(Target::Extra {
            key,
            value: text(value),
        });
    }
    let uid = headers.get(UID_HEADER).map(text).unwrap_or_default();
    if !uid.is_empty() {
        targets.push(Target::Uid(uid));
    }
    if user.is_empty() && !targets.is_empty() {
        return Err(format!(
            "requested {} without impersonating a user",
            describe(&targets)
        ));
    }
    Ok(targets)
}

/// `system:serviceaccount:<namespace>:<name>` with a valid namespace and name.
fn service_account(user: &str) -> Option<(String, String)> {
    let (namespace, name) = user
        .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)?
        .split_once(':')?;
    let valid = !name.contains(':')
        && names::validate(NameRule::Dns1123Label, namespace, "").is_empty()
        && names::validate(NameRule::Dns1123Subdomain, name, "").is_empty();
    valid.then(|| (namespace.to_string(), name.to_string()))
}

fn describe(targets: &[Target]) -> String {
    let parts: Vec<String> = targets
        .iter()
        .map(|t| match t {
            Target::Group(g) => format!("group {g:?}"),
            Target::Extra { key, value } => format!("extra {key:?}={value:?}"),
            Target::Uid(uid) => format!("uid {uid:?}"),
            Target::User(u) => format!("user {u:?}"),
            Target::ServiceAccount { namespace, name } => {
                format!("service account {namespace}/{name}")
            }
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbac::user::SYSTEM_MASTERS;

    /// Allows `impersonate` only on what `allowed` lists as `resource/name`.
    struct Allow(&'static [&'static str]);

    impl Authorizer for Allow {
        fn authorize(&self, a: &Attributes) -> (Decision, String) {
            let what = format!("{}/{}", a.combined_resource(), a.name);
            if a.verb == "impersonate" && self.0.contains(&what.as_str()) {
                (Decision::Allow, String::new())
            } else {
                (Decision::NoOpinion, String::new())
            }
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn admin() -> UserInfo {
        UserInfo::new("admin", [SYSTEM_MASTERS, SYSTEM_AUTHENTICATED])
    }

    #[test]
    fn no_headers_means_no_impersonation() {
        let got = acting_user(&admin(), &headers(&[("accept", "x")]), &Allow(&[])).unwrap();
        assert_eq!(got, None);
    }

    #[test]
    fn a_user_gets_system_authenticated_unless_a_group_says_otherwise() {
        let allow = Allow(&["users/bob", "groups/devs", "groups/system:unauthenticated"]);
        let bob = acting_user(&admin(), &headers(&[("impersonate-user", "bob")]), &allow)
            .unwrap()
            .unwrap();
        assert_eq!(bob, UserInfo::new("bob", [SYSTEM_AUTHENTICATED]));

        let with_group = headers(&[("impersonate-user", "bob"), ("impersonate-group", "devs")]);
        let bob = acting_user(&admin(), &with_group, &allow).unwrap().unwrap();
        assert_eq!(bob.groups, ["devs", SYSTEM_AUTHENTICATED]);

        let unauthenticated = headers(&[
            ("impersonate-user", "bob"),
            ("impersonate-group", "system:unauthenticated"),
        ]);
        let bob = acting_user(&admin(), &unauthenticated, &allow)
            .unwrap()
            .unwrap();
        assert_eq!(bob.groups, [SYSTEM_UNAUTHENTICATED]);
    }

    #[test]
    fn anonymous_gets_system_unauthenticated() {
        let allow = Allow(&["users/system:anonymous"]);
        let anonymous = acting_user(
            &admin(),
            &headers(&[("impersonate-user", "system:anonymous")]),
            &allow,
        )
        .unwrap()
        .unwrap();
        assert_eq!(anonymous.groups, [SYSTEM_UNAUTHENTICATED]);
    }

    #[test]
    fn a_service_account_gets_its_groups_unless_groups_are_named() {
        let allow = Allow(&["serviceaccounts/builder", "groups/devs"]);
        let sa = "system:serviceaccount:ci:builder";
        let got = acting_user(&admin(), &headers(&[("impersonate-user", sa)]), &allow)
            .unwrap()
            .unwrap();
        assert_eq!(got.name, sa);
        assert_eq!(
            got.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ci",
                SYSTEM_AUTHENTICATED
            ]
        );
        let named = headers(&[("impersonate-user", sa), ("impersonate-group", "devs")]);
        let got = acting_user(&admin(), &named, &allow).unwrap().unwrap();
        assert_eq!(got.groups, ["devs", SYSTEM_AUTHENTICATED]);
        // Not a valid service account name: an ordinary user of that name.
        assert_eq!(
            service_account("system:serviceaccount:Bad_NS:x"),
            None,
            "namespace must be a DNS label"
        );
        assert_eq!(service_account("system:serviceaccount:ns:a:b"), None);
    }

    #[test]
    fn extras_and_uid_are_carried_and_each_value_is_authorized() {
        let allow = Allow(&[
            "users/bob",
            "userextras/scopes/view",
            "userextras/scopes/edit",
            "userextras/a/b/x",
            "uids/1234",
        ]);
        let request = headers(&[
            ("impersonate-user", "bob"),
            ("impersonate-extra-scopes", "view"),
            ("impersonate-extra-scopes", "edit"),
            ("impersonate-extra-a%2fb", "x"),
            ("impersonate-uid", "1234"),
        ]);
        let bob = acting_user(&admin(), &request, &allow).unwrap().unwrap();
        assert_eq!(bob.extra["scopes"], ["view", "edit"]);
        assert_eq!(bob.extra["a/b"], ["x"]);
        assert_eq!(bob.uid, "1234");

        let too_much = headers(&[
            ("impersonate-user", "bob"),
            ("impersonate-extra-scopes", "admin"),
        ]);
        let status = acting_user(&admin(), &too_much, &allow).unwrap_err();
        assert_eq!(status.code, 403);
        assert_eq!(
            status.message,
            "userextras.authentication.k8s.io \"admin\" is forbidden: User \"admin\" cannot \
             impersonate resource \"userextras/scopes\" in API group \"authentication.k8s.io\" \
             at the cluster scope"
        );
    }

    #[test]
    fn a_denied_target_is_a_403_naming_it() {
        let status = acting_user(
            &UserInfo::new("alice", [SYSTEM_AUTHENTICATED]),
            &headers(&[("impersonate-user", "bob")]),
            &Allow(&[]),
        )
        .unwrap_err();
        assert_eq!(status.code, 403);
        assert_eq!(status.reason, "Forbidden");
        assert_eq!(
            status.message,
            "users \"bob\" is forbidden: User \"alice\" cannot impersonate resource \"users\" \
             in API group \"\" at the cluster scope"
        );
        // A group the requester may not use fails even when the user is allowed.
        let status = acting_user(
            &admin(),
            &headers(&[
                ("impersonate-user", "bob"),
                ("impersonate-group", "system:masters"),
            ]),
            &Allow(&["users/bob"]),
        )
        .unwrap_err();
        assert!(
            status
                .message
                .starts_with("groups \"system:masters\" is forbidden")
        );
    }

    #[test]
    fn groups_extras_or_uid_without_a_user_are_refused() {
        for request in [
            headers(&[("impersonate-group", "devs")]),
            headers(&[("impersonate-extra-k", "v")]),
            headers(&[("impersonate-uid", "1")]),
        ] {
            let status = acting_user(&admin(), &request, &Allow(&["groups/devs"])).unwrap_err();
            assert_eq!(status.code, 500, "{status:?}");
            assert!(
                status.message.contains("without impersonating a user"),
                "{}",
                status.message
            );
        }
    }
}
