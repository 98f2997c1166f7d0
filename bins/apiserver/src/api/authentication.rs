//! `authentication.k8s.io/v1`, create-only reviews. Who may ask is decided before this.
//!
//! SelfSubjectReview (`kubectl auth whoami`): the answer is the caller as authentication and
//! impersonation established it, with a creation timestamp and nothing else of the request
//! (upstream's REST ignores the body; `system:basic-user` lets every authenticated user ask).
//!
//! TokenReview: whose is the bearer token in the spec, by this server's own token
//! authenticators (token file, bootstrap tokens); what a component's secure port asks when it
//! delegates authentication (`system:auth-delegator` lets it). An unknown or refused token is
//! a 201 with `authenticated: false` and the reason in `status.error`, as upstream.

// `meta/v1.Status` is the response body itself, built only on the failure path.
#![allow(clippy::result_large_err)]

use protocol::authentication::v1::{SelfSubjectReview, TokenReview, UserInfo};
use protocol::meta::{ObjectMeta, Status, Time};
use rbac::UserInfo as Caller;
use serde_json::Value;

/// The plural of SelfSubjectReview.
pub const SELF_SUBJECT_REVIEWS: &str = "selfsubjectreviews";
/// The plural of TokenReview.
pub const TOKEN_REVIEWS: &str = "tokenreviews";

/// Authenticates a bearer token as a request carrying it would be.
pub trait TokenAuthenticator: Send + Sync {
    /// The token's user (with `system:authenticated`), or why it is refused.
    fn authenticate_token(&self, token: &str) -> Result<Caller, String>;
}

/// Answers a create of `resource` with the decoded `body` for `caller`; `None` when
/// `resource` is not a review this module serves.
pub fn create_review(
    resource: &str,
    body: &Value,
    caller: &Caller,
    tokens: Option<&dyn TokenAuthenticator>,
) -> Option<Result<Value, Status>> {
    let answer = match resource {
        SELF_SUBJECT_REVIEWS => serde_json::to_value(review_self(caller)),
        TOKEN_REVIEWS => {
            let Some(tokens) = tokens else {
                return Some(Err(Status::path_not_found()));
            };
            let review = match serde_json::from_value::<TokenReview>(body.clone()) {
                Ok(review) => review,
                Err(e) => return Some(Err(Status::bad_request(e.to_string()))),
            };
            match review_token(review, tokens) {
                Ok(review) => serde_json::to_value(review),
                Err(status) => return Some(Err(status)),
            }
        }
        _ => return None,
    };
    Some(answer.map_err(Status::internal_error))
}

/// Upstream's TokenReview REST: an empty token is a 400; otherwise the answer is whether it
/// authenticates, as whom, and if not, why. Our tokens are not bound to audiences, so the
/// audiences asked for are the ones answered.
pub fn review_token(
    mut review: TokenReview,
    tokens: &dyn TokenAuthenticator,
) -> Result<TokenReview, Status> {
    if review.spec.token.is_empty() {
        return Err(Status::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    review.metadata = ObjectMeta {
        creation_timestamp: Some(Time::now()),
        ..Default::default()
    };
    review.status = Default::default();
    match tokens.authenticate_token(&review.spec.token) {
        Ok(user) => {
            review.status.authenticated = true;
            review.status.user = user_info(&user);
            review.status.audiences = review.spec.audiences.clone();
        }
        Err(reason) => review.status.error = reason,
    }
    Ok(review)
}

fn user_info(user: &Caller) -> UserInfo {
    UserInfo {
        username: user.name.clone(),
        uid: user.uid.clone(),
        groups: user.groups.clone(),
        extra: user
            .extra
            .iter()
            .map(|(key, values)| (key.clone(), values.clone().into()))
            .collect(),
    }
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
    review.status.user_info = Some(user_info(caller));
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
