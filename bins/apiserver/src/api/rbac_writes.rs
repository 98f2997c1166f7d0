//! Escalation prevention on RBAC writes, as upstream's `policybased` RBAC storage: a role may
//! be written only by someone who already holds every permission it grants (or may
//! `escalate`), a binding only by someone who holds the referenced role's permissions where
//! the binding applies (or may `bind` it). `system:masters` is exempt; deletes are not checked.

use protocol::meta::{Status, StatusCause};
use rbac::escalation::{confirm_no_escalation, full_authority};
use rbac::user::SYSTEM_MASTERS;
use rbac::{Attributes, Decision};
use serde_json::Value;

use super::{AdmissionContext, Operation, Strategy, object};

const GROUP: &str = "rbac.authorization.k8s.io";

/// Roles (`cluster: false`) and ClusterRoles.
#[derive(Debug, Clone, Copy)]
pub struct RoleStrategy {
    pub cluster: bool,
}

/// RoleBindings (`cluster: false`) and ClusterRoleBindings.
#[derive(Debug, Clone, Copy)]
pub struct BindingStrategy {
    pub cluster: bool,
}

/// Whether the writer skips the checks: deletes, and upstream's `EscalationAllowed`.
fn exempt(ctx: &AdmissionContext<'_>) -> bool {
    ctx.operation == Operation::Delete || ctx.user.in_group(SYSTEM_MASTERS)
}

/// Whether the full authorizer chain allows `verb` on a role (`escalate`, `bind`).
fn allowed(ctx: &AdmissionContext<'_>, verb: &str, resource: &str, name: &str) -> bool {
    let attributes = Attributes::resource(ctx.user.clone(), verb, GROUP, resource)
        .with_namespace(ctx.namespace)
        .with_name(name);
    ctx.authorizer.authorize(&attributes).0 == Decision::Allow
}

fn forbidden(resource: &str, name: &str, message: String) -> Status {
    Status::forbidden(
        GROUP,
        resource,
        name,
        format!("{resource}.{GROUP} {name:?} is forbidden: {message}"),
    )
}

fn decode_rules(object: &Value) -> Result<Vec<protocol::rbac::v1::PolicyRule>, Status> {
    match object.get("rules") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(rules) => serde_json::from_value(rules.clone())
            .map_err(|e| Status::bad_request(format!("unable to decode rules: {e}"))),
    }
}

impl Strategy for RoleStrategy {
    fn admit(&self, ctx: &AdmissionContext<'_>) -> Result<(), Status> {
        if exempt(ctx) {
            return Ok(());
        }
        let resource = if self.cluster {
            "clusterroles"
        } else {
            "roles"
        };
        if allowed(ctx, "escalate", resource, ctx.name) {
            return Ok(());
        }
        // An aggregated ClusterRole's rules are whatever it will aggregate: only someone who
        // holds everything may write one.
        let aggregated = self.cluster
            && ctx
                .object
                .get("aggregationRule")
                .is_some_and(|rule| !rule.is_null());
        let rules = if aggregated {
            full_authority()
        } else {
            decode_rules(ctx.object)?
        };
        confirm_no_escalation(ctx.rule_resolver, ctx.user, ctx.namespace, &rules)
            .map_err(|message| forbidden(resource, ctx.name, message))
    }
}

impl BindingStrategy {
    fn kind(&self) -> &'static str {
        if self.cluster {
            "ClusterRoleBinding"
        } else {
            "RoleBinding"
        }
    }

    /// Upstream's `ValidateRoleBinding` on the role reference.
    fn validate_role_ref(&self, object: &Value) -> Result<(), Status> {
        let role_ref = &object["roleRef"];
        let field = |name: &str| role_ref[name].as_str().unwrap_or_default();
        let mut causes = Vec::new();
        if field("apiGroup") != GROUP {
            causes.push(StatusCause::not_supported(
                "roleRef.apiGroup",
                field("apiGroup"),
                &[GROUP],
            ));
        }
        let kinds: &[&str] = if self.cluster {
            &["ClusterRole"]
        } else {
            &["Role", "ClusterRole"]
        };
        if !kinds.contains(&field("kind")) {
            causes.push(StatusCause::not_supported(
                "roleRef.kind",
                field("kind"),
                kinds,
            ));
        }
        if field("name").is_empty() {
            causes.push(StatusCause::required("roleRef.name", ""));
        }
        invalid_if_any(self.kind(), object, causes)
    }
}

fn invalid_if_any(kind: &str, object: &Value, causes: Vec<StatusCause>) -> Result<(), Status> {
    object::invalid_if_any(GROUP, kind, object::meta_str(object, "name"), causes)
}

impl Strategy for BindingStrategy {
    fn validate_create(&self, object: &Value) -> Result<(), Status> {
        self.validate_role_ref(object)
    }

    fn validate_update(&self, _subresource: &str, new: &Value, old: &Value) -> Result<(), Status> {
        self.validate_role_ref(new)?;
        if new["roleRef"] != old["roleRef"] {
            let role_ref = &new["roleRef"];
            let text = |name: &str| role_ref[name].as_str().unwrap_or_default().to_string();
            let cause = StatusCause {
                reason: "FieldValueInvalid".to_string(),
                message: format!(
                    "Invalid value: rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}: cannot change roleRef",
                    text("apiGroup"),
                    text("kind"),
                    text("name")
                ),
                field: "roleRef".to_string(),
            };
            return invalid_if_any(self.kind(), new, vec![cause]);
        }
        Ok(())
    }

    fn admit(&self, ctx: &AdmissionContext<'_>) -> Result<(), Status> {
        if exempt(ctx) {
            return Ok(());
        }
        let role_ref = &ctx.object["roleRef"];
        let kind = role_ref["kind"].as_str().unwrap_or_default();
        let role_name = role_ref["name"].as_str().unwrap_or_default();
        // Validation has refused any other kind.
        let (role_resource, missing_resource) = match kind {
            "Role" => ("roles", "role"),
            _ => ("clusterroles", "clusterrole"),
        };
        if allowed(ctx, "bind", role_resource, role_name) {
            return Ok(());
        }
        let Some(rules) = ctx.rule_resolver.role_rules(kind, role_name, ctx.namespace) else {
            return Err(Status::not_found(GROUP, missing_resource, role_name));
        };
        let resource = if self.cluster {
            "clusterrolebindings"
        } else {
            "rolebindings"
        };
        confirm_no_escalation(ctx.rule_resolver, ctx.user, ctx.namespace, &rules)
            .map_err(|message| forbidden(resource, ctx.name, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
    use serde_json::json;

    /// A policy where `writer` may read and write every resource (not `escalate`), and no
    /// non-resource URL.
    fn policy() -> rbac::Policy {
        let verbs = [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ];
        let role = ClusterRole {
            metadata: protocol::meta::ObjectMeta::named("resources"),
            rules: vec![PolicyRule {
                verbs: verbs.iter().map(|v| v.to_string()).collect(),
                api_groups: vec!["*".into()],
                resources: vec!["*".into()],
                ..Default::default()
            }],
            aggregation_rule: None,
        };
        let binding = ClusterRoleBinding {
            metadata: protocol::meta::ObjectMeta::named("writer"),
            role_ref: RoleRef {
                api_group: GROUP.into(),
                kind: "ClusterRole".into(),
                name: "resources".into(),
            },
            subjects: vec![Subject {
                kind: "User".into(),
                api_group: GROUP.into(),
                name: "writer".into(),
                namespace: String::new(),
            }],
        };
        rbac::Policy::new(&[role], &[binding], &[], &[])
    }

    fn admit(object: &serde_json::Value, user: &rbac::UserInfo) -> Result<(), Status> {
        let policy = policy();
        let ctx = AdmissionContext {
            operation: Operation::Create,
            subresource: "",
            namespace: "",
            name: "r",
            user,
            object,
            old_object: None,
            authorizer: &policy,
            rule_resolver: &policy,
        };
        RoleStrategy { cluster: true }.admit(&ctx)
    }

    #[test]
    fn an_aggregated_cluster_role_needs_every_permission() {
        let writer = rbac::UserInfo::new("writer", ["system:authenticated"]);
        let plain =
            json!({"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]});
        admit(&plain, &writer).unwrap();
        let aggregated =
            json!({"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}});
        let err = admit(&aggregated, &writer).unwrap_err();
        assert_eq!(err.http_code(), 403);
        assert!(
            err.message
                .contains("not currently held:\n{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}\n{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}"),
            "{}",
            err.message
        );
        let master = rbac::UserInfo::new("root", ["system:masters"]);
        admit(&aggregated, &master).unwrap();
    }

    #[test]
    fn binding_role_refs_are_validated_and_fixed() {
        let crb = BindingStrategy { cluster: true };
        let good = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"}});
        crb.validate_create(&good).unwrap();
        let to_role = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "view"}});
        assert_eq!(crb.validate_create(&to_role).unwrap_err().http_code(), 422);
        let rb = BindingStrategy { cluster: false };
        rb.validate_create(&to_role).unwrap();
        let other = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "edit"}});
        let err = crb.validate_update("", &other, &good).unwrap_err();
        assert!(
            err.message.contains("cannot change roleRef"),
            "{}",
            err.message
        );
    }
}
