//! `authentication.k8s.io/v1` SelfSubjectReview (`kubectl auth whoami`): create-only; the
//! answer is the caller as authentication and impersonation established it, with a creation
//! timestamp and nothing else of the request (upstream's REST ignores the body). Who may ask
//! is decided before this (`system:basic-user` grants `create` to every authenticated user).

// `meta/v1.Status` is the response body itself, built only on the failure path.
#![allow(clippy::result_large_err)]

use protocol::authentication::v1::{SelfSubjectReview, UserInfo};
use protocol::meta::{ObjectMeta, Status, Time};
use rbac::UserInfo as Caller;
use serde_json::Value;

/// The plural of SelfSubjectReview.
pub const SELF_SUBJECT_REVIEWS: &str = "selfsubjectreviews";

/// Answers a create of `resource` for `caller`; `None` when `resource` is not a review this
/// module serves (the body, already decoded, carries nothing the answer uses).
pub fn create_review(resource: &str, caller: &Caller) -> Option<Result<Value, Status>> {
    (resource == SELF_SUBJECT_REVIEWS)
        .then(|| serde_json::to_value(review_self(caller)).map_err(Status::internal_error))
}

/// The review answering "who am I" for `caller`.
pub fn review_self(caller: &Caller) -> SelfSubjectReview {
    let mut review = SelfSubjectReview {
        metadata: ObjectMeta {
            creation_timestamp: Some(Time::now()),
            ..Default::default()
        },
        ..Default::default()
    };
    review.status.user_info = Some(UserInfo {
        username: caller.name.clone(),
        uid: caller.uid.clone(),
        groups: caller.groups.clone(),
        extra: caller
            .extra
            .iter()
            .map(|(key, values)| (key.clone(), values.clone().into()))
            .collect(),
    });
    review
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_the_caller() {
        let mut caller = Caller::new("system:node:a", ["system:nodes", "system:authenticated"]);
        caller.uid = "u-1".into();
        caller
            .extra
            .insert("scopes".into(), vec!["view".into(), "edit".into()]);
        let json = serde_json::to_value(review_self(&caller)).unwrap();
        assert_eq!(json["kind"], "SelfSubjectReview");
        assert_eq!(json["apiVersion"], "authentication.k8s.io/v1");
        assert!(json["metadata"]["creationTimestamp"].is_string(), "{json}");
        assert_eq!(
            json["status"]["userInfo"],
            serde_json::json!({
                "username": "system:node:a",
                "uid": "u-1",
                "groups": ["system:nodes", "system:authenticated"],
                "extra": {"scopes": ["view", "edit"]}
            })
        );
    }
}
