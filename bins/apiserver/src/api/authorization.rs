//! `authorization.k8s.io/v1` SubjectAccessReview, SelfSubjectAccessReview and
//! SelfSubjectRulesReview: create-only "would this be allowed?" and "what may I do?" questions
//! answered by the apiserver's own authorizer chain.
//!
//! A SubjectAccessReview names the user to ask about (the csrapproving controller asks for the
//! CSR's requester); a SelfSubjectAccessReview asks about the caller (`kubectl auth can-i`).
//! Nothing is stored: the answer is the request object with `status` filled in (201 upstream).
//! Who may ask is decided before this (serving authorizes `create` on the review resource).

// `meta/v1.Status` is the error type of the `Strategy` seam: the response body itself,
// built only on the (rare) failure path, so it is not boxed.
#![allow(clippy::result_large_err)]

use protocol::Resource as _;
use protocol::authorization::v1::{
    GROUP, NonResourceAttributes, ResourceAttributes, SelfSubjectAccessReview,
    SelfSubjectRulesReview, SubjectAccessReview, SubjectAccessReviewStatus,
    SubjectRulesReviewStatus,
};
use protocol::meta::{Status, StatusCause};
use rbac::{Attributes, Authorizer, Decision, UserInfo};
use serde_json::Value;

/// The plural of SubjectAccessReview.
pub const SUBJECT_ACCESS_REVIEWS: &str = "subjectaccessreviews";
/// The plural of SelfSubjectAccessReview.
pub const SELF_SUBJECT_ACCESS_REVIEWS: &str = "selfsubjectaccessreviews";
/// The plural of SelfSubjectRulesReview.
pub const SELF_SUBJECT_RULES_REVIEWS: &str = "selfsubjectrulesreviews";

/// Answers a create of `resource` (one of the two plurals above) with `body` already decoded to
/// JSON (from JSON or protobuf). `None` when `resource` is not a review this module serves.
pub fn create_review(
    resource: &str,
    body: &Value,
    user: &UserInfo,
    authorizer: &dyn Authorizer,
) -> Option<Result<Value, Status>> {
    let answer = match resource {
        SUBJECT_ACCESS_REVIEWS => decode::<SubjectAccessReview>(body)
            .and_then(|review| review_subject_access(review, authorizer))
            .and_then(encode),
        SELF_SUBJECT_ACCESS_REVIEWS => decode::<SelfSubjectAccessReview>(body)
            .and_then(|review| review_self_subject_access(review, user, authorizer))
            .and_then(encode),
        SELF_SUBJECT_RULES_REVIEWS => decode::<SelfSubjectRulesReview>(body)
            .and_then(|review| review_self_subject_rules(review, user, authorizer))
            .and_then(encode),
        _ => return None,
    };
    Some(answer)
}

/// Evaluates `spec.user/groups/uid/extra` doing `spec.resourceAttributes` or
/// `spec.nonResourceAttributes`; returns the review with `status` set.
pub fn review_subject_access(
    mut review: SubjectAccessReview,
    authorizer: &dyn Authorizer,
) -> Result<SubjectAccessReview, Status> {
    let spec = &review.spec;
    let mut causes = attribute_causes(
        spec.resource_attributes.as_ref(),
        spec.non_resource_attributes.as_ref(),
    );
    if spec.user.is_empty() && spec.groups.is_empty() {
        causes.push(StatusCause::invalid_value(
            "spec.user",
            "",
            "at least one of user or group must be specified",
        ));
    }
    if !causes.is_empty() {
        return Err(Status::invalid(
            GROUP,
            SubjectAccessReview::KIND,
            "",
            causes,
        ));
    }
    let user = UserInfo {
        name: spec.user.clone(),
        uid: spec.uid.clone(),
        groups: spec.groups.clone(),
        extra: spec
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.items.clone()))
            .collect(),
    };
    review.status = evaluate(
        user,
        spec.resource_attributes.as_ref(),
        spec.non_resource_attributes.as_ref(),
        authorizer,
    );
    Ok(review)
}

/// Evaluates the caller (`user`) doing the review's attributes; returns the review with `status` set.
pub fn review_self_subject_access(
    mut review: SelfSubjectAccessReview,
    user: &UserInfo,
    authorizer: &dyn Authorizer,
) -> Result<SelfSubjectAccessReview, Status> {
    let spec = &review.spec;
    let causes = attribute_causes(
        spec.resource_attributes.as_ref(),
        spec.non_resource_attributes.as_ref(),
    );
    if !causes.is_empty() {
        return Err(Status::invalid(
            GROUP,
            SelfSubjectAccessReview::KIND,
            "",
            causes,
        ));
    }
    review.status = evaluate(
        user.clone(),
        spec.resource_attributes.as_ref(),
        spec.non_resource_attributes.as_ref(),
        authorizer,
    );
    Ok(review)
}

/// Lists what the caller may do in `spec.namespace` (cluster-wide rules included), as the
/// authorizers can list it; returns the review with `status` set.
pub fn review_self_subject_rules(
    mut review: SelfSubjectRulesReview,
    user: &UserInfo,
    authorizer: &dyn Authorizer,
) -> Result<SelfSubjectRulesReview, Status> {
    if review.spec.namespace.is_empty() {
        // Upstream's REST answers exactly this.
        return Err(Status::bad_request("no namespace on request"));
    }
    let rules = authorizer.rules_for(user, &review.spec.namespace);
    review.status = SubjectRulesReviewStatus {
        evaluation_error: rules.evaluation_error(),
        resource_rules: rules.resource_rules,
        non_resource_rules: rules.non_resource_rules,
        incomplete: rules.incomplete,
    };
    Ok(review)
}

/// Exactly one of the two attribute kinds must be present (upstream's wording).
fn attribute_causes(
    resource: Option<&ResourceAttributes>,
    non_resource: Option<&NonResourceAttributes>,
) -> Vec<StatusCause> {
    match (resource, non_resource) {
        (Some(_), Some(nr)) => vec![invalid_formatted(
            "spec.nonResourceAttributes",
            &format!(
                "&authorization.NonResourceAttributes{{Path:{:?}, Verb:{:?}}}",
                nr.path, nr.verb
            ),
            "cannot be specified in combination with resourceAttributes",
        )],
        (None, None) => vec![invalid_formatted(
            "spec.resourceAttributes",
            "null",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )],
        _ => Vec::new(),
    }
}

/// `field: Invalid value: <value>: detail` with a value Go would print with `%#v`.
fn invalid_formatted(field: &str, formatted_value: &str, detail: &str) -> StatusCause {
    StatusCause {
        reason: "FieldValueInvalid".to_string(),
        message: format!("Invalid value: {formatted_value}: {detail}"),
        field: field.to_string(),
    }
}

/// The authorizer's answer in SubjectAccessReview form.
fn evaluate(
    user: UserInfo,
    resource: Option<&ResourceAttributes>,
    non_resource: Option<&NonResourceAttributes>,
    authorizer: &dyn Authorizer,
) -> SubjectAccessReviewStatus {
    let attributes = match (resource, non_resource) {
        (Some(r), _) => {
            // An empty version means "any version", as upstream's matchAllVersionIfEmpty.
            let version = if r.version.is_empty() {
                "*"
            } else {
                r.version.as_str()
            };
            Attributes::resource(user, r.verb.clone(), r.group.clone(), r.resource.clone())
                .with_subresource(r.subresource.clone())
                .with_namespace(r.namespace.clone())
                .with_name(r.name.clone())
                .with_api_version(version)
        }
        (None, Some(nr)) => Attributes::non_resource(user, nr.verb.clone(), nr.path.clone()),
        // Validation rejected this already; an empty request is allowed nothing.
        (None, None) => return SubjectAccessReviewStatus::default(),
    };
    let (decision, reason) = authorizer.authorize(&attributes);
    SubjectAccessReviewStatus {
        allowed: decision == Decision::Allow,
        denied: decision == Decision::Deny,
        reason,
        evaluation_error: String::new(),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T, Status> {
    // Deserialized from the borrowed tree: no copy of the whole body first.
    T::deserialize(body)
        .map_err(|e| Status::bad_request(format!("unable to decode the review: {e}")))
}

fn encode<T: serde::Serialize>(review: T) -> Result<Value, Status> {
    serde_json::to_value(review).map_err(Status::internal_error)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// RBAC allowing `system:bootstrappers` to create CSRs, like `system:node-bootstrapper`.
    fn policy() -> rbac::Policy {
        let roles: Vec<protocol::rbac::v1::ClusterRole> = serde_json::from_value(json!([
            {"metadata": {"name": "bootstrapper"}, "rules": [
                {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"],
                 "verbs": ["create", "get", "list", "watch"]},
                {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]},
        ]))
        .unwrap();
        let bindings: Vec<protocol::rbac::v1::ClusterRoleBinding> = serde_json::from_value(json!([
            {"metadata": {"name": "bootstrapper"},
             "subjects": [{"kind": "Group", "name": "system:bootstrappers", "apiGroup": "rbac.authorization.k8s.io"}],
             "roleRef": {"kind": "ClusterRole", "name": "bootstrapper", "apiGroup": "rbac.authorization.k8s.io"}},
        ]))
        .unwrap();
        rbac::Policy::new(&roles, &bindings, &[], &[])
    }

    fn csr_create_review(user: &str, groups: &[&str]) -> Value {
        json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups,
                     "resourceAttributes": {"group": "certificates.k8s.io",
                                            "resource": "certificatesigningrequests", "verb": "create"}},
        })
    }

    #[test]
    fn subject_access_review_evaluates_the_named_user() {
        let nobody = rbac::UserInfo::default();
        let body = csr_create_review("system:bootstrap:abcdef", &["system:bootstrappers"]);
        let answer = create_review(SUBJECT_ACCESS_REVIEWS, &body, &nobody, &policy())
            .unwrap()
            .unwrap();
        assert_eq!(answer["kind"], "SubjectAccessReview");
        assert_eq!(answer["status"]["allowed"], true);
        assert_eq!(answer["spec"]["user"], "system:bootstrap:abcdef");

        let body = csr_create_review("someone", &["system:authenticated"]);
        let answer = create_review(SUBJECT_ACCESS_REVIEWS, &body, &nobody, &policy())
            .unwrap()
            .unwrap();
        assert_eq!(answer["status"]["allowed"], false);
        assert!(
            answer["status"].get("denied").is_none(),
            "RBAC never denies: {answer}"
        );
    }

    #[test]
    fn self_review_uses_the_caller() {
        let caller = rbac::UserInfo::new("system:bootstrap:abcdef", ["system:bootstrappers"]);
        let body = json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "spec": {"resourceAttributes": {"group": "certificates.k8s.io",
                     "resource": "certificatesigningrequests", "verb": "create"}}});
        let answer = create_review(SELF_SUBJECT_ACCESS_REVIEWS, &body, &caller, &policy())
            .unwrap()
            .unwrap();
        assert_eq!(answer["status"]["allowed"], true);

        let secrets =
            json!({"spec": {"resourceAttributes": {"resource": "secrets", "verb": "list"}}});
        let answer = create_review(SELF_SUBJECT_ACCESS_REVIEWS, &secrets, &caller, &policy())
            .unwrap()
            .unwrap();
        assert_eq!(answer["status"]["allowed"], false);

        let healthz =
            json!({"spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}});
        let answer = create_review(SELF_SUBJECT_ACCESS_REVIEWS, &healthz, &caller, &policy())
            .unwrap()
            .unwrap();
        assert_eq!(answer["status"]["allowed"], true);
    }

    #[test]
    fn invalid_reviews_are_422() {
        let caller = rbac::UserInfo::new("u", ["g"]);
        let empty = json!({"spec": {}});
        let status = create_review(SELF_SUBJECT_ACCESS_REVIEWS, &empty, &caller, &policy())
            .unwrap()
            .unwrap_err();
        assert_eq!(status.code, 422);
        assert_eq!(
            status.message,
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified"
        );

        let no_user =
            json!({"spec": {"resourceAttributes": {"resource": "secrets", "verb": "list"}}});
        let status = create_review(SUBJECT_ACCESS_REVIEWS, &no_user, &caller, &policy())
            .unwrap()
            .unwrap_err();
        assert!(status.message.ends_with(
            "spec.user: Invalid value: \"\": at least one of user or group must be specified"
        ));

        let both = json!({"spec": {"user": "u", "resourceAttributes": {"verb": "get"},
                                   "nonResourceAttributes": {"path": "/x", "verb": "get"}}});
        let status = create_review(SUBJECT_ACCESS_REVIEWS, &both, &caller, &policy())
            .unwrap()
            .unwrap_err();
        assert_eq!(
            status.details.unwrap().causes[0].field,
            "spec.nonResourceAttributes"
        );
    }

    #[test]
    fn other_resources_are_not_served_here() {
        let caller = rbac::UserInfo::default();
        assert!(create_review("secrets", &json!({}), &caller, &policy()).is_none());
    }

    #[test]
    fn wrong_json_types_are_a_bad_request() {
        let caller = rbac::UserInfo::default();
        let body = json!({"spec": {"user": 5}});
        let status = create_review(SUBJECT_ACCESS_REVIEWS, &body, &caller, &policy())
            .unwrap()
            .unwrap_err();
        assert_eq!(status.code, 400);
    }

    #[test]
    fn a_rules_review_lists_the_callers_rules_in_its_namespace() {
        let body = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": "default"},
        });
        let caller = UserInfo::new("system:bootstrap:abcdef", ["system:bootstrappers"]);
        let answer = create_review(SELF_SUBJECT_RULES_REVIEWS, &body, &caller, &policy())
            .unwrap()
            .unwrap();
        assert_eq!(
            answer["status"],
            json!({
                "resourceRules": [{"verbs": ["create", "get", "list", "watch"],
                                   "apiGroups": ["certificates.k8s.io"],
                                   "resources": ["certificatesigningrequests"]}],
                "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
                "incomplete": false
            })
        );
        // Someone without bindings: empty lists, still written out.
        let stranger = UserInfo::new("bob", ["system:authenticated"]);
        let answer = create_review(SELF_SUBJECT_RULES_REVIEWS, &body, &stranger, &policy())
            .unwrap()
            .unwrap();
        assert_eq!(
            answer["status"],
            json!({"resourceRules": [], "nonResourceRules": [], "incomplete": false})
        );
    }

    #[test]
    fn a_rules_review_needs_a_namespace() {
        let body =
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview"});
        let status = create_review(
            SELF_SUBJECT_RULES_REVIEWS,
            &body,
            &UserInfo::new("bob", ["system:authenticated"]),
            &policy(),
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(
            (status.code, status.message.as_str()),
            (400, "no namespace on request")
        );
    }
}
