//! Who may use the kubelet port, with the kubelet's flags and rules
//! (`pkg/kubelet/server/auth.go`): `--client-ca-file` certificates, bearer tokens reviewed by
//! the apiserver with `--authentication-token-webhook`, anonymous requests unless
//! `--anonymous-auth=false`; then `--authorization-mode=AlwaysAllow` (the flag's default), or
//! `Webhook`: a SubjectAccessReview of `<verb> nodes/<subresource>` on this node, where
//! `/metrics` is `metrics`, `/healthz` and `/pods` are `healthz` and `pods` with `proxy` as
//! the fallback (fine-grained kubelet authorization, on by default since 1.33), and anything
//! else is `proxy`. The reviews go through the agent's own client: `system:node` may create
//! both kinds. The plain-HTTP localhost healthz port is not behind this, as upstream.
//! Answers are cached 10 s (`client::delegated`); the kubelet's defaults are longer (allowed
//! 5 min, denied 30 s, tokens 2 min), so a revoked grant takes effect sooner here.

use client::delegated::{Attributes, Delegation};
use http::{Method, StatusCode};
use protocol::authentication::v1::UserInfo;
use protocol::authorization::v1::ResourceAttributes;

/// `--authorization-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationMode {
    AlwaysAllow,
    Webhook,
}

/// Why a request is refused, in the kubelet's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

/// The kubelet port's authenticator and authorizer.
#[derive(Debug)]
pub struct PortAuth {
    delegation: Delegation,
    node_name: String,
}

impl PortAuth {
    pub fn new(delegation: Delegation, node_name: String) -> PortAuth {
        PortAuth {
            delegation,
            node_name,
        }
    }

    /// Authenticates and authorizes one request.
    pub async fn check(
        &self,
        certificate: Option<UserInfo>,
        authorization: Option<&str>,
        method: &Method,
        path: &str,
    ) -> Result<(), Refusal> {
        let Some(user) = self
            .delegation
            .authenticate(certificate, authorization)
            .await
        else {
            return Err(Refusal {
                status: StatusCode::UNAUTHORIZED,
                message: "Unauthorized".to_string(),
            });
        };
        let verb = verb(method);
        let subresources = subresources(path);
        for subresource in subresources {
            let attributes = Attributes::Resource(Box::new(ResourceAttributes {
                verb: verb.to_string(),
                version: "v1".to_string(),
                resource: "nodes".to_string(),
                subresource: subresource.to_string(),
                name: self.node_name.clone(),
                ..Default::default()
            }));
            if self.delegation.allowed(&user, path, attributes).await {
                return Ok(());
            }
        }
        Err(Refusal {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "Forbidden (user={}, verb={verb}, resource=nodes, subresource(s)=[{}])",
                user.username,
                subresources.join(" ")
            ),
        })
    }
}

/// The kubelet's verb for an HTTP method (empty for others, as upstream).
fn verb(method: &Method) -> &'static str {
    match *method {
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "",
    }
}

/// The `nodes` subresources a path is checked against, in order (first allowed wins).
fn subresources(path: &str) -> &'static [&'static str] {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if under("/metrics") {
        &["metrics"]
    } else if under("/stats") {
        &["stats"]
    } else if under("/logs") {
        &["log"]
    } else if under("/spec") {
        &["spec"]
    } else if under("/healthz") {
        &["healthz", "proxy"]
    } else if under("/pods") {
        &["pods", "proxy"]
    } else if under("/configz") {
        &["configz", "proxy"]
    } else {
        &["proxy"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::delegated::Authorizer;

    #[test]
    fn paths_map_onto_node_subresources_as_upstream() {
        assert_eq!(subresources("/metrics"), ["metrics"]);
        assert_eq!(subresources("/metrics/cadvisor"), ["metrics"]);
        assert_eq!(subresources("/metricsx"), ["proxy"]);
        assert_eq!(subresources("/stats/summary"), ["stats"]);
        assert_eq!(subresources("/logs/"), ["log"]);
        assert_eq!(subresources("/healthz"), ["healthz", "proxy"]);
        assert_eq!(subresources("/pods"), ["pods", "proxy"]);
        assert_eq!(subresources("/exec/a/b/c"), ["proxy"]);
        assert_eq!(verb(&Method::GET), "get");
        assert_eq!(verb(&Method::POST), "create");
        assert_eq!(verb(&Method::HEAD), "");
    }

    #[tokio::test]
    async fn anonymous_off_is_401_and_always_allow_lets_anyone_in() {
        let closed = PortAuth::new(
            Delegation::new(None, false, Authorizer::AlwaysAllow),
            "n1".into(),
        );
        let refusal = closed
            .check(None, None, &Method::GET, "/metrics")
            .await
            .unwrap_err();
        assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
        let bob = UserInfo {
            username: "bob".into(),
            ..Default::default()
        };
        closed
            .check(Some(bob), None, &Method::GET, "/metrics")
            .await
            .unwrap();

        let open = PortAuth::new(
            Delegation::new(None, true, Authorizer::AllowedOnly),
            "n1".into(),
        );
        assert_eq!(
            open.check(None, None, &Method::GET, "/pods").await,
            Err(Refusal {
                status: StatusCode::FORBIDDEN,
                message: "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource(s)=[pods proxy])".into()
            })
        );
    }
}
