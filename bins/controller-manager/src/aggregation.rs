//! `clusterrole-aggregation`: a ClusterRole with an `aggregationRule` gets the rules of every
//! ClusterRole its selectors match (upstream's ClusterRoleAggregationController), which is how
//! `admin`, `edit` and `view` are filled from the `system:aggregate-to-*` roles and from any
//! role an operator labels `rbac.authorization.k8s.io/aggregate-to-view: "true"`.

use std::collections::BTreeMap;
use std::time::Duration;

use client::{Client, ListParams, WatchEvent};
use protocol::rbac::v1::{ClusterRole, PolicyRule};

/// Changes arriving this close together are handled as one (the first list, a `kubectl apply`
/// of several roles) so an aggregated role is written once, not once per change.
const SETTLE: Duration = Duration::from_millis(50);

/// The rules `role` should have, or `None` if it aggregates nothing: the rules of the
/// ClusterRoles its selectors match (itself excluded), in name order, each rule once.
pub fn aggregated_rules(
    role: &ClusterRole,
    roles: &BTreeMap<String, ClusterRole>,
) -> Option<Vec<PolicyRule>> {
    let selectors = &role.aggregation_rule.as_ref()?.cluster_role_selectors;
    let mut rules: Vec<PolicyRule> = Vec::new();
    // A BTreeMap walks in name order, as upstream sorts the matches by name.
    for (name, other) in roles {
        if *name == role.metadata.name
            || !selectors.iter().any(|s| s.matches(&other.metadata.labels))
        {
            continue;
        }
        for rule in &other.rules {
            if !rules.contains(rule) {
                rules.push(rule.clone());
            }
        }
    }
    Some(rules)
}

/// Watches ClusterRoles and writes each aggregated one whose rules are out of date, until the
/// task is dropped. A write that loses a race is retried with the newer copy the watch brings.
pub async fn run(client: Client) {
    let mut roles: BTreeMap<String, ClusterRole> = BTreeMap::new();
    let mut watcher = client.watch::<ClusterRole>(None, ListParams::default());
    tracing::info!("started clusterrole-aggregation");
    while let Some(event) = watcher.next().await {
        apply(&mut roles, event);
        // Take whatever else has already arrived before deciding.
        while let Ok(Some(event)) = tokio::time::timeout(SETTLE, watcher.next()).await {
            apply(&mut roles, event);
        }
        for role in roles.values() {
            let Some(rules) = aggregated_rules(role, &roles) else {
                continue;
            };
            if rules == role.rules {
                continue;
            }
            let mut updated = role.clone();
            updated.rules = rules;
            match client.update(None, &updated).await {
                Ok(_) => tracing::info!(
                    clusterrole = %role.metadata.name,
                    rules = updated.rules.len(),
                    "aggregated ClusterRole updated"
                ),
                Err(error) => tracing::warn!(
                    clusterrole = %role.metadata.name,
                    %error,
                    "could not update aggregated ClusterRole; retrying on its next change"
                ),
            }
        }
    }
}

fn apply(
    roles: &mut BTreeMap<String, ClusterRole>,
    event: Result<WatchEvent<ClusterRole>, client::ClientError>,
) {
    match event {
        Ok(WatchEvent::Added(role) | WatchEvent::Modified(role)) => {
            roles.insert(role.metadata.name.clone(), role);
        }
        Ok(WatchEvent::Deleted(role)) => {
            roles.remove(&role.metadata.name);
        }
        Err(error) => tracing::warn!(%error, "ClusterRole watch interrupted; resuming"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::meta::{LabelSelector, ObjectMeta};
    use protocol::rbac::v1::AggregationRule;

    fn rule(resource: &str) -> PolicyRule {
        PolicyRule {
            verbs: vec!["get".into()],
            api_groups: vec![String::new()],
            resources: vec![resource.into()],
            ..Default::default()
        }
    }

    fn role(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
        let mut metadata = ObjectMeta::named(name);
        metadata.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ClusterRole {
            metadata,
            rules,
            aggregation_rule: None,
        }
    }

    fn aggregating(name: &str, label: &str) -> ClusterRole {
        let mut role = role(name, &[(label, "true")], Vec::new());
        role.aggregation_rule = Some(AggregationRule {
            cluster_role_selectors: vec![LabelSelector {
                match_labels: [(label.to_string(), "true".to_string())].into(),
                match_expressions: Vec::new(),
            }],
        });
        role
    }

    #[test]
    fn matched_roles_give_their_rules_once_in_name_order() {
        let label = "rbac.authorization.k8s.io/aggregate-to-view";
        let roles: BTreeMap<String, ClusterRole> = [
            aggregating("view", label),
            role(
                "z-extra",
                &[(label, "true")],
                vec![rule("pods"), rule("secrets")],
            ),
            role("a-base", &[(label, "true")], vec![rule("pods")]),
            role("unrelated", &[], vec![rule("nodes")]),
            role("wrong-value", &[(label, "false")], vec![rule("leases")]),
        ]
        .into_iter()
        .map(|r| (r.metadata.name.clone(), r))
        .collect();
        assert_eq!(
            aggregated_rules(&roles["view"], &roles),
            Some(vec![rule("pods"), rule("secrets")])
        );
        assert_eq!(aggregated_rules(&roles["a-base"], &roles), None);
    }
}
