//! The strategies of the kinds that need little: plain kinds, namespaces, nodes and secrets.
//! (CertificateSigningRequests have their own module, `csr`.)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use protocol::authentication::v1::CREDENTIAL_ID_EXTRA;
use protocol::core::v1::NODE_CLIENT_CERTIFICATE_ANNOTATION;
use protocol::meta::Status;
use serde_json::{Map, Value};

use super::{AdmissionContext, Operation, Strategy};

/// Leases, events, RBAC objects: stored as sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultStrategy;

impl Strategy for DefaultStrategy {}

/// Copies `field` (e.g. `status`) from `old` into `new`, or removes it from `new` when `old`
/// has none: the half of an object an endpoint may not change.
fn keep_from_old(new: &mut Value, old: &Value, field: &str) {
    if let Some(map) = new.as_object_mut() {
        match old.get(field) {
            Some(value) => {
                map.insert(field.to_string(), value.clone());
            }
            None => {
                map.remove(field);
            }
        }
    }
}

/// Spec and status split as upstream's status-subresource kinds: the main resource keeps the
/// stored status, `/status` keeps the stored spec.
pub(super) fn split_spec_and_status(subresource: &str, new: &mut Value, old: &Value) {
    match subresource {
        "status" => keep_from_old(new, old, "spec"),
        _ => keep_from_old(new, old, "status"),
    }
}

/// Nodes: the kubelet reports status through `nodes/status`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodeStrategy;

impl Strategy for NodeStrategy {
    fn admit(&self, ctx: &AdmissionContext<'_>) -> Result<(), Status> {
        // The Node authorizer cannot see the name of an object being created (it is in the body),
        // so, like upstream's NodeRestriction admission, a node may create only its own Node.
        match restricted_node(ctx) {
            Some(node) if ctx.name != node => Err(Status::forbidden(
                "",
                "nodes",
                ctx.name,
                format!(
                    "node \"{node}\" is not allowed to modify node \"{}\"",
                    ctx.name
                ),
            )),
            _ => admit_client_certificate_annotation(ctx),
        }
    }

    fn prepare_update(
        &self,
        subresource: &str,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), Status> {
        split_spec_and_status(subresource, new, old);
        Ok(())
    }

    fn subresources(&self) -> &'static [&'static str] {
        &["status"]
    }
}

/// A node may set its Node's client-certificate annotation only to the credential ID of the
/// certificate it authenticates with (decision 0027): the annotation then names a certificate
/// that really talked to the cluster as the node, the newest such, and csrapproving renews only
/// that one after it expires. Removing it, or leaving it as it was, is always allowed.
fn admit_client_certificate_annotation(ctx: &AdmissionContext<'_>) -> Result<(), Status> {
    let Some(node) = ctx.user.node_name() else {
        return Ok(());
    };
    if !matches!(ctx.operation, Operation::Create | Operation::Update) {
        return Ok(());
    }
    let annotation = |object: &Value| {
        object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(NODE_CLIENT_CERTIFICATE_ANNOTATION))
            .cloned()
    };
    let Some(new) = annotation(ctx.object) else {
        return Ok(());
    };
    if ctx.old_object.and_then(annotation).as_ref() == Some(&new) {
        return Ok(());
    }
    let own = ctx
        .user
        .extra
        .get(CREDENTIAL_ID_EXTRA)
        .and_then(|ids| ids.first());
    if own.is_some_and(|own| new.as_str() == Some(own.as_str())) {
        return Ok(());
    }
    Err(Status::forbidden(
        "",
        "nodes",
        ctx.name,
        format!(
            "node \"{node}\" may set annotation {NODE_CLIENT_CERTIFICATE_ANNOTATION} only to the \
             credential ID of the client certificate it authenticates with ({})",
            own.map_or("none", String::as_str)
        ),
    ))
}

/// Leases: a node may create only its own heartbeat Lease (NodeRestriction); others plain.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn admit(&self, ctx: &AdmissionContext<'_>) -> Result<(), Status> {
        match restricted_node(ctx) {
            Some(node) if ctx.name != node || ctx.namespace != rbac::NODE_LEASE_NAMESPACE => {
                Err(Status::forbidden(
                    "coordination.k8s.io",
                    "leases",
                    ctx.name,
                    "can only access node lease with the same name as the requesting node",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The node name of a node identity creating an object; `None` for everyone and everything
/// else (updates and deletes are already confined by the Node authorizer, which sees the name).
fn restricted_node<'a>(ctx: &AdmissionContext<'a>) -> Option<&'a str> {
    if ctx.operation != Operation::Create {
        return None;
    }
    ctx.user.node_name()
}

/// Namespaces: always `Active` (nothing here deletes their contents) with the `kubernetes`
/// finalizer, as upstream sets on create.
#[derive(Debug, Default, Clone, Copy)]
pub struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn prepare_create(&self, obj: &mut Value, _user: &rbac::UserInfo) -> Result<(), Status> {
        let map = object_mut(obj)?;
        map.insert(
            "spec".to_string(),
            serde_json::json!({"finalizers": ["kubernetes"]}),
        );
        map.insert("status".to_string(), serde_json::json!({"phase": "Active"}));
        Ok(())
    }

    fn prepare_update(
        &self,
        subresource: &str,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), Status> {
        split_spec_and_status(subresource, new, old);
        if subresource.is_empty() {
            // Finalizers change only through `namespaces/finalize` upstream.
            keep_from_old(new, old, "spec");
        }
        Ok(())
    }

    fn subresources(&self) -> &'static [&'static str] {
        &["status"]
    }
}

/// Secrets: `stringData` is a write-only convenience merged into `data` (base64).
#[derive(Debug, Default, Clone, Copy)]
pub struct SecretStrategy;

impl SecretStrategy {
    fn merge_string_data(obj: &mut Value) -> Result<(), Status> {
        let map = object_mut(obj)?;
        let Some(string_data) = map.remove("stringData") else {
            return Ok(());
        };
        let Value::Object(string_data) = string_data else {
            return Err(Status::bad_request("stringData must be an object"));
        };
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Some(data) = data.as_object_mut() {
            for (key, value) in string_data {
                let Value::String(text) = value else {
                    return Err(Status::bad_request(format!(
                        "stringData[{key:?}] must be a string"
                    )));
                };
                data.insert(key, Value::String(BASE64.encode(text.as_bytes())));
            }
        }
        if map.get("type").is_none_or(|t| t.as_str() == Some("")) {
            map.insert("type".to_string(), Value::String("Opaque".to_string()));
        }
        Ok(())
    }
}

impl Strategy for SecretStrategy {
    fn prepare_create(&self, obj: &mut Value, _user: &rbac::UserInfo) -> Result<(), Status> {
        Self::merge_string_data(obj)?;
        let map = object_mut(obj)?;
        if map.get("type").is_none_or(|t| t.as_str() == Some("")) {
            map.insert("type".to_string(), Value::String("Opaque".to_string()));
        }
        Ok(())
    }

    fn prepare_update(
        &self,
        _subresource: &str,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), Status> {
        Self::merge_string_data(new)?;
        if new.get("type").is_none() {
            keep_from_old(new, old, "type");
        }
        Ok(())
    }
}

fn object_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, Status> {
    obj.as_object_mut()
        .ok_or_else(|| Status::bad_request("the object is not a JSON object"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_main_update_keeps_status_and_status_update_keeps_spec() {
        let old = json!({"spec": {"podCIDR": "a"}, "status": {"phase": "old"}});
        let mut main = json!({"spec": {"podCIDR": "b"}, "status": {"phase": "new"}});
        NodeStrategy.prepare_update("", &mut main, &old).unwrap();
        assert_eq!(
            main,
            json!({"spec": {"podCIDR": "b"}, "status": {"phase": "old"}})
        );
        let mut status = json!({"spec": {"podCIDR": "b"}, "status": {"phase": "new"}});
        NodeStrategy
            .prepare_update("status", &mut status, &old)
            .unwrap();
        assert_eq!(
            status,
            json!({"spec": {"podCIDR": "a"}, "status": {"phase": "new"}})
        );
    }

    #[test]
    fn namespaces_are_active_with_the_kubernetes_finalizer() {
        let mut ns = json!({"metadata": {"name": "a"}, "status": {"phase": "Terminating"}});
        NamespaceStrategy
            .prepare_create(&mut ns, &rbac::UserInfo::default())
            .unwrap();
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    }

    #[test]
    fn secret_string_data_lands_in_data() {
        let mut secret = json!({"data": {"a": "eA=="}, "stringData": {"b": "hello"}});
        SecretStrategy
            .prepare_create(&mut secret, &rbac::UserInfo::default())
            .unwrap();
        assert_eq!(
            secret,
            json!({"data": {"a": "eA==", "b": "aGVsbG8="}, "type": "Opaque"})
        );
    }
}
