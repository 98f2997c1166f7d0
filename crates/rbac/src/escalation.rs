//! RBAC escalation prevention: a user may write a role, or a binding to one, only with the
//! permissions it grants already held (upstream's `validation.Covers` and
//! `ConfirmNoEscalation`), unless allowed the `escalate` or `bind` verb.

use std::collections::BTreeSet;
use std::sync::Arc;

use protocol::rbac::v1::PolicyRule;

use crate::forbidden::go_quote;
use crate::rule::ALL;
use crate::rules::UserRules;
use crate::user::UserInfo;

/// What escalation checks read: the RBAC objects only (upstream's rule resolver), never the
/// other authorizers.
pub trait RuleResolver: Send + Sync {
    /// The RBAC rules that apply to `user` cluster-wide and in `namespace`.
    fn rules_for(&self, user: &UserInfo, namespace: &str) -> UserRules;

    /// The rules of the role a binding in `namespace` refers to (`kind` `ClusterRole` or
    /// `Role`), or `None` if there is no such role.
    fn role_rules(&self, kind: &str, name: &str, namespace: &str) -> Option<Arc<[PolicyRule]>>;
}

/// Every permission there is: what writing an aggregated ClusterRole needs, since its rules
/// are whatever it will aggregate.
pub fn full_authority() -> Vec<PolicyRule> {
    let all = || vec![ALL.to_string()];
    vec![
        PolicyRule {
            verbs: all(),
            api_groups: all(),
            resources: all(),
            ..Default::default()
        },
        PolicyRule {
            verbs: all(),
            non_resource_urls: all(),
            ..Default::default()
        },
    ]
}

/// `Ok` if `user`'s RBAC rules in `namespace` cover every rule in `rules`; otherwise the
/// text upstream puts in the 403: the user, its groups and each missing permission.
pub fn confirm_no_escalation(
    resolver: &dyn RuleResolver,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let held = resolver.rules_for(user, namespace);
    let missing = uncovered(&owner_rules(&held), rules);
    if missing.is_empty() {
        return Ok(());
    }
    let described: BTreeSet<String> = compact(missing).iter().map(compact_string).collect();
    let groups: Vec<String> = user.groups.iter().map(|g| go_quote(g)).collect();
    let mut message = format!(
        "user {} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        go_quote(&user.name),
        groups.join(" "),
        described.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !held.errors.is_empty() {
        message.push_str(&format!(
            "; resolution errors: [{}]",
            held.errors.join(", ")
        ));
    }
    Err(message)
}

/// The listed rules back in PolicyRule form (a resource part and a URL part cover exactly
/// what the rule they were split from covers).
fn owner_rules(held: &UserRules) -> Vec<PolicyRule> {
    let resources = held.resource_rules.iter().map(|r| PolicyRule {
        verbs: r.verbs.clone(),
        api_groups: r.api_groups.clone(),
        resources: r.resources.clone(),
        resource_names: r.resource_names.clone(),
        ..Default::default()
    });
    let urls = held.non_resource_rules.iter().map(|r| PolicyRule {
        verbs: r.verbs.clone(),
        non_resource_urls: r.non_resource_urls.clone(),
        ..Default::default()
    });
    resources.chain(urls).collect()
}

/// The single-permission rules of `requested` that no rule of `owner` covers.
pub fn uncovered(owner: &[PolicyRule], requested: &[PolicyRule]) -> Vec<PolicyRule> {
    requested
        .iter()
        .flat_map(breakdown)
        .filter(|sub| !owner.iter().any(|o| covers(o, sub)))
        .collect()
}

/// One rule per (group, resource, verb[, name]) and per (URL, verb).
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| vec![s.clone()];
    let mut subrules = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let sub = PolicyRule {
                    verbs: one(verb),
                    api_groups: one(group),
                    resources: one(resource),
                    ..Default::default()
                };
                if rule.resource_names.is_empty() {
                    subrules.push(sub);
                } else {
                    subrules.extend(rule.resource_names.iter().map(|name| PolicyRule {
                        resource_names: one(name),
                        ..sub.clone()
                    }));
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            subrules.push(PolicyRule {
                verbs: one(verb),
                non_resource_urls: one(url),
                ..Default::default()
            });
        }
    }
    subrules
}

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| s == item)
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| has(set, i))
}

/// Upstream's `ruleCovers`.
fn covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, ALL) || has_all(&owner.verbs, &sub.verbs);
    let groups = has(&owner.api_groups, ALL) || has_all(&owner.api_groups, &sub.api_groups);
    let names = if sub.resource_names.is_empty() {
        owner.resource_names.is_empty()
    } else {
        owner.resource_names.is_empty() || has_all(&owner.resource_names, &sub.resource_names)
    };
    verbs
        && groups
        && names
        && resources_cover(&owner.resources, &sub.resources)
        && urls_cover(&owner.non_resource_urls, &sub.non_resource_urls)
}

/// `*`, an exact match, or `*/<subresource>` for a subresource.
fn resources_cover(set: &[String], wanted: &[String]) -> bool {
    if has(set, ALL) || has_all(set, wanted) {
        return true;
    }
    wanted.iter().all(|path| {
        has(set, path)
            || path
                .split_once('/')
                .is_some_and(|(_, sub)| has(set, &format!("*/{sub}")))
    })
}

/// An exact match, or a pattern ending in `*` matching by prefix.
fn urls_cover(set: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|path| {
        set.iter().any(|owner| {
            owner == path || owner.ends_with('*') && path.starts_with(owner.trim_end_matches('*'))
        })
    })
}

/// Upstream's `CompactRules`: single-group, single-resource rules without names that differ
/// only by verb become one rule.
fn compact(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let simple = rule.resource_names.is_empty()
            && rule.non_resource_urls.is_empty()
            && rule.api_groups.len() == 1
            && rule.resources.len() == 1;
        let same = |o: &PolicyRule| {
            o.resource_names.is_empty()
                && o.non_resource_urls.is_empty()
                && o.api_groups == rule.api_groups
                && o.resources == rule.resources
        };
        match out.iter_mut().find(|o| simple && same(o)) {
            Some(existing) => {
                for verb in rule.verbs {
                    if !existing.verbs.contains(&verb) {
                        existing.verbs.push(verb);
                    }
                }
            }
            None => out.push(rule),
        }
    }
    out
}

/// `rbacv1helpers.CompactString`: `{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}`.
fn compact_string(rule: &PolicyRule) -> String {
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|i| go_quote(i)).collect();
        format!("[{}]", quoted.join(" "))
    };
    let parts: Vec<String> = [
        ("APIGroups", &rule.api_groups),
        ("Resources", &rule.resources),
        ("NonResourceURLs", &rule.non_resource_urls),
        ("ResourceNames", &rule.resource_names),
        ("Verbs", &rule.verbs),
    ]
    .into_iter()
    .filter(|(_, items)| !items.is_empty())
    .map(|(name, items)| format!("{name}:{}", list(items)))
    .collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            ..Default::default()
        }
    }

    fn named(mut rule: PolicyRule, names: &[&str]) -> PolicyRule {
        rule.resource_names = names.iter().map(|s| s.to_string()).collect();
        rule
    }

    fn urls(verbs: &[&str], urls: &[&str]) -> PolicyRule {
        let v = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: v(verbs),
            non_resource_urls: v(urls),
            ..Default::default()
        }
    }

    #[test]
    fn owners_cover_what_they_hold_and_nothing_more() {
        let owner = [
            rule(&["get", "list"], &[""], &["secrets", "*/status"]),
            named(rule(&["update"], &[""], &["configmaps"]), &["a", "b"]),
            urls(&["get"], &["/healthz", "/logs/*"]),
        ];
        let covered = [
            rule(&["get"], &[""], &["secrets", "nodes/status"]),
            named(rule(&["update"], &[""], &["configmaps"]), &["a"]),
            urls(&["get"], &["/logs/x/y", "/healthz"]),
        ];
        assert!(uncovered(&owner, &covered).is_empty());
        let missing = uncovered(
            &owner,
            &[
                rule(&["get", "delete"], &["", "apps"], &["secrets"]),
                rule(&["update"], &[""], &["configmaps"]),
                urls(&["get", "post"], &["/healthz"]),
            ],
        );
        let described: Vec<String> = compact(missing).iter().map(compact_string).collect();
        assert_eq!(
            described,
            [
                r#"{APIGroups:[""], Resources:["secrets"], Verbs:["delete"]}"#,
                r#"{APIGroups:["apps"], Resources:["secrets"], Verbs:["get" "delete"]}"#,
                r#"{APIGroups:[""], Resources:["configmaps"], Verbs:["update"]}"#,
                r#"{NonResourceURLs:["/healthz"], Verbs:["post"]}"#,
            ]
        );
    }

    #[test]
    fn stars_cover_everything() {
        assert!(uncovered(&full_authority(), &full_authority()).is_empty());
        assert!(
            uncovered(
                &full_authority(),
                &[named(rule(&["get"], &["x"], &["y/z"]), &["n"])]
            )
            .is_empty()
        );
        // Holding every name of one resource is not holding every resource.
        let one_name = [named(rule(&["get"], &[""], &["secrets"]), &["a"])];
        assert_eq!(
            uncovered(&one_name, &[rule(&["get"], &[""], &["secrets"])]).len(),
            1
        );
    }

    struct Fixed(UserRules);

    impl RuleResolver for Fixed {
        fn rules_for(&self, _user: &UserInfo, _namespace: &str) -> UserRules {
            self.0.clone()
        }
        fn role_rules(&self, _: &str, _: &str, _: &str) -> Option<Arc<[PolicyRule]>> {
            None
        }
    }

    #[test]
    fn the_refusal_names_the_user_groups_and_missing_rules_as_upstream() {
        let mut held = UserRules::default();
        held.add_policy_rules(&[rule(&["get"], &[""], &["secrets"])]);
        held.errors
            .push("clusterrole.rbac.authorization.k8s.io \"gone\" not found".into());
        let bob = UserInfo::new("bob", ["dev", "system:authenticated"]);
        let wanted = [rule(&["get", "list"], &[""], &["secrets"])];
        let err = confirm_no_escalation(&Fixed(held), &bob, "default", &wanted).unwrap_err();
        assert_eq!(
            err,
            "user \"bob\" (groups=[\"dev\" \"system:authenticated\"]) is attempting to grant RBAC \
             permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], \
             Verbs:[\"list\"]}; resolution errors: [clusterrole.rbac.authorization.k8s.io \
             \"gone\" not found]"
        );
        let mut enough = UserRules::default();
        enough.add_policy_rules(&wanted);
        confirm_no_escalation(&Fixed(enough), &bob, "default", &wanted).unwrap();
    }
}
