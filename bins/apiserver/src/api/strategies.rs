//! The strategies of the kinds that need little: plain kinds, namespaces, nodes and secrets.
//! (CertificateSigningRequests have their own module, `csr`.)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use protocol::authentication::v1::CREDENTIAL_ID_EXTRA;
use protocol::core::v1::ConfigMap;
use protocol::core::v1::{
    NODE_CLIENT_CERTIFICATE_ANNOTATION, NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION,
};
use protocol::meta::{Status, StatusCause};
use serde_json::{Map, Value};

use super::{AdmissionContext, Operation, Strategy, Writer};

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

    fn admit_mutating(
        &self,
        writer: &Writer<'_>,
        object: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), Status> {
        set_client_certificate_issuer(writer, object, old)
    }

    fn subresources(&self) -> &'static [&'static str] {
        &["status"]
    }
}

/// The issuer annotation of a Node written by a node (decision 0029): only the apiserver
/// knows which CA verified the certificate a node authenticates with, so it writes
/// `kubelet-tls-bootstrap/client-certificate-issuer` whenever the node writes its Node:
/// - the client-certificate annotation names the certificate of this request: that
///   certificate's issuer (the CA of `--client-ca-file` that verified it);
/// - no client-certificate annotation: no issuer annotation either;
/// - otherwise (a value left as it was): the issuer annotation as stored.
///
/// What the node sent for the issuer annotation is never kept. Other writers (admins,
/// controllers) write it as they like.
fn set_client_certificate_issuer(
    writer: &Writer<'_>,
    object: &mut Value,
    old: Option<&Value>,
) -> Result<(), Status> {
    if writer.user.node_name().is_none() {
        return Ok(());
    }
    let annotation = |object: &Value, key: &str| {
        object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let own = writer
        .user
        .extra
        .get(CREDENTIAL_ID_EXTRA)
        .and_then(|ids| ids.first());
    let issuer = match annotation(object, NODE_CLIENT_CERTIFICATE_ANNOTATION) {
        None => None,
        Some(named)
            if own == Some(&named)
                && let Some(issuer) = writer.client_certificate_issuer =>
        {
            Some(issuer.to_string())
        }
        Some(_) => old.and_then(|old| annotation(old, NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION)),
    };
    let metadata = super::object::metadata_mut(object)?;
    match issuer {
        Some(issuer) => {
            let annotations = metadata
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if !annotations.is_object() {
                *annotations = Value::Object(Map::new());
            }
            if let Some(annotations) = annotations.as_object_mut() {
                annotations.insert(
                    NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION.to_string(),
                    Value::String(issuer),
                );
            }
        }
        None => {
            if let Some(annotations) = metadata
                .get_mut("annotations")
                .and_then(Value::as_object_mut)
            {
                annotations.remove(NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION);
            }
        }
    }
    Ok(())
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

/// ConfigMaps (decision 0029): stored as sent, validated as upstream's `ValidateConfigMap` and
/// `ValidateConfigMapUpdate`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConfigMapStrategy;

/// Most bytes of data and binaryData together (upstream's `MaxSecretSize`, 1 MiB).
pub const MAX_CONFIG_MAP_SIZE: usize = 1024 * 1024;

const IMMUTABLE: &str = "field is immutable when `immutable` is set";

impl Strategy for ConfigMapStrategy {
    fn validate_create(&self, obj: &Value) -> Result<(), Status> {
        let config_map: ConfigMap = super::object::decode(obj)?;
        invalid_config_map(obj, validate_config_map(&config_map))
    }

    fn validate_update(&self, _subresource: &str, new: &Value, old: &Value) -> Result<(), Status> {
        let config_map: ConfigMap = super::object::decode(new)?;
        let before: ConfigMap = super::object::decode(old)?;
        let mut causes = Vec::new();
        if before.immutable == Some(true) {
            if config_map.immutable != Some(true) {
                causes.push(StatusCause::forbidden("immutable", IMMUTABLE));
            }
            if config_map.data != before.data {
                causes.push(StatusCause::forbidden("data", IMMUTABLE));
            }
            if config_map.binary_data != before.binary_data {
                causes.push(StatusCause::forbidden("binaryData", IMMUTABLE));
            }
        }
        causes.extend(validate_config_map(&config_map));
        invalid_config_map(new, causes)
    }
}

fn invalid_config_map(obj: &Value, causes: Vec<StatusCause>) -> Result<(), Status> {
    super::object::invalid_if_any(
        "",
        "ConfigMap",
        super::object::meta_str(obj, "name"),
        causes,
    )
}

/// Upstream's `ValidateConfigMap` (the object metadata is checked by the generic handlers).
fn validate_config_map(config_map: &ConfigMap) -> Vec<StatusCause> {
    let mut causes = Vec::new();
    let mut total = 0usize;
    for (key, value) in &config_map.data {
        total += value.len();
        let field = format!("data[{key}]");
        for message in config_map_key_errors(key) {
            causes.push(StatusCause::invalid_value(&field, key, &message));
        }
        if config_map.binary_data.contains_key(key) {
            causes.push(StatusCause::invalid_value(
                &field,
                key,
                "duplicate of key present in binaryData",
            ));
        }
    }
    for (key, value) in &config_map.binary_data {
        total += value.len();
        for message in config_map_key_errors(key) {
            causes.push(StatusCause::invalid_value(
                &format!("binaryData[{key}]"),
                key,
                &message,
            ));
        }
    }
    if total > MAX_CONFIG_MAP_SIZE {
        causes.push(StatusCause {
            reason: "FieldValueTooLong".to_string(),
            message: format!("Too long: must have at most {MAX_CONFIG_MAP_SIZE} bytes"),
            field: String::new(),
        });
    }
    causes
}

/// Upstream's `IsConfigMapKey`: at most 253 characters of `[-._a-zA-Z0-9]`, not `.` or `..`,
/// not starting with `..`.
fn config_map_key_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if key.len() > 253 {
        errors.push("must be no more than 253 characters".to_string());
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        errors.push(
            concat!(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' ",
                // Go's RegexError, two spaces before each "or" included.
                "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', ",
                "regex used for validation is '[-._a-zA-Z0-9]+')"
            )
            .to_string(),
        );
    }
    match key {
        "." => errors.push("must not be '.'".to_string()),
        ".." => errors.push("must not be '..'".to_string()),
        _ if key.starts_with("..") => errors.push("must not start with '..'".to_string()),
        _ => {}
    }
    errors
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

    fn causes(status: &Status) -> Vec<(String, String)> {
        status
            .details
            .as_ref()
            .map(|d| {
                d.causes
                    .iter()
                    .map(|c| (c.field.clone(), c.message.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn config_map_keys_are_checked_as_upstream() {
        let ok = json!({"metadata": {"name": "x"}, "data": {"a.b_C-1": "v"},
            "binaryData": {"bin": "AAE="}});
        ConfigMapStrategy.validate_create(&ok).unwrap();

        let bad = json!({"metadata": {"name": "x"},
            "data": {"a b": "v", "..": "v", "same": "v", "..x": "v"},
            "binaryData": {"same": "AAE=", "ü": "AA=="}});
        let err = ConfigMapStrategy.validate_create(&bad).unwrap_err();
        assert_eq!(err.http_code(), 422);
        assert_eq!(err.reason, "Invalid");
        let fields: Vec<String> = causes(&err).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "data[..]",
                "data[..x]",
                "data[a b]",
                "data[same]",
                "binaryData[ü]"
            ]
        );
        let (_, message) = &causes(&err)[2];
        assert_eq!(
            message,
            "Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, \
             '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for \
             validation is '[-._a-zA-Z0-9]+')"
        );
        assert_eq!(causes(&err)[0].1, "Invalid value: \"..\": must not be '..'");
        assert!(
            causes(&err)[3]
                .1
                .ends_with("duplicate of key present in binaryData")
        );
        assert!(
            err.message.starts_with("ConfigMap \"x\" is invalid: ["),
            "{}",
            err.message
        );

        let long = "k".repeat(254);
        let err = ConfigMapStrategy
            .validate_create(&json!({"metadata": {"name": "x"}, "data": {long.clone(): ""}}))
            .unwrap_err();
        assert_eq!(
            causes(&err),
            [(
                format!("data[{long}]"),
                format!("Invalid value: {long:?}: must be no more than 253 characters")
            )]
        );
        let dot = json!({"metadata": {"name": "x"}, "data": {".": ""}});
        assert_eq!(
            causes(&ConfigMapStrategy.validate_create(&dot).unwrap_err())[0].1,
            "Invalid value: \".\": must not be '.'"
        );
    }

    #[test]
    fn config_maps_are_at_most_one_mebibyte() {
        let half = "x".repeat(MAX_CONFIG_MAP_SIZE / 2);
        let full = json!({"metadata": {"name": "x"}, "data": {"a": half, "b": half}});
        ConfigMapStrategy.validate_create(&full).unwrap();
        let over = json!({"metadata": {"name": "x"}, "data": {"a": half, "b": half},
            "binaryData": {"c": "AA=="}});
        let err = ConfigMapStrategy.validate_create(&over).unwrap_err();
        assert_eq!(
            causes(&err),
            [(
                String::new(),
                format!("Too long: must have at most {MAX_CONFIG_MAP_SIZE} bytes")
            )]
        );
    }

    #[test]
    fn an_immutable_config_map_keeps_its_data() {
        let old = json!({"metadata": {"name": "x"}, "data": {"a": "1"}, "immutable": true});
        // Labels may change; data, binaryData and immutable may not.
        let relabelled = json!({"metadata": {"name": "x", "labels": {"l": "v"}},
            "data": {"a": "1"}, "immutable": true});
        ConfigMapStrategy
            .validate_update("", &relabelled, &old)
            .unwrap();
        let changed = json!({"metadata": {"name": "x"}, "data": {"a": "2"},
            "binaryData": {"b": "AA=="}});
        let err = ConfigMapStrategy
            .validate_update("", &changed, &old)
            .unwrap_err();
        assert_eq!(err.http_code(), 422);
        let found = causes(&err);
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["immutable", "data", "binaryData"]);
        assert_eq!(
            found[0].1,
            "Forbidden: field is immutable when `immutable` is set"
        );
        // A mutable one changes freely, and may become immutable.
        let mutable = json!({"metadata": {"name": "x"}, "data": {"a": "1"}});
        ConfigMapStrategy
            .validate_update("", &changed, &mutable)
            .unwrap();
        ConfigMapStrategy
            .validate_update("", &old, &mutable)
            .unwrap();
    }

    const OWN: &str = "X509SHA256=00aa";
    const CA1: &str = "X509SHA256=ca01";
    const CA2: &str = "X509SHA256=ca02";

    fn node_user(credential_id: &str) -> rbac::UserInfo {
        let mut user = rbac::UserInfo::new("system:node:a", ["system:nodes"]);
        user.extra.insert(
            CREDENTIAL_ID_EXTRA.to_string(),
            vec![credential_id.to_string()],
        );
        user
    }

    fn node_with(annotations: Value) -> Value {
        json!({"metadata": {"name": "a", "annotations": annotations}})
    }

    fn mutate(
        user: &rbac::UserInfo,
        issuer: Option<&str>,
        mut new: Value,
        old: Option<&Value>,
    ) -> Value {
        let writer = Writer {
            operation: if old.is_some() {
                Operation::Update
            } else {
                Operation::Create
            },
            subresource: "",
            user,
            client_certificate_issuer: issuer,
        };
        NodeStrategy.admit_mutating(&writer, &mut new, old).unwrap();
        new
    }

    fn issuer_of(node: &Value) -> Option<&str> {
        node.pointer("/metadata/annotations")
            .and_then(|a| a.get(NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION))
            .and_then(Value::as_str)
    }

    #[test]
    fn a_node_naming_its_certificate_gets_its_issuer_written() {
        let user = node_user(OWN);
        // Created naming its own certificate: the issuer is set.
        let created = mutate(
            &user,
            Some(CA1),
            json!({"metadata": {"name": "a", "annotations":
                {(NODE_CLIENT_CERTIFICATE_ANNOTATION): OWN}}}),
            None,
        );
        assert_eq!(issuer_of(&created), Some(CA1));
        // Without annotations at all: none added.
        let bare = mutate(&user, Some(CA1), json!({"metadata": {"name": "a"}}), None);
        assert_eq!(issuer_of(&bare), None);
        // A forged value is replaced, on create and update.
        let forged = node_with(json!({(NODE_CLIENT_CERTIFICATE_ANNOTATION): OWN,
            (NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION): "X509SHA256=forged"}));
        assert_eq!(
            issuer_of(&mutate(&user, Some(CA1), forged.clone(), None)),
            Some(CA1)
        );
        assert_eq!(
            issuer_of(&mutate(&user, Some(CA2), forged, Some(&created))),
            Some(CA2)
        );
        // The same certificate now verified by another CA of the file (after a new
        // certificate, or a re-issued CA): the annotation moves.
        let moved = mutate(&user, Some(CA2), created.clone(), Some(&created));
        assert_eq!(issuer_of(&moved), Some(CA2));
    }

    #[test]
    fn an_unchanged_foreign_value_keeps_the_stored_issuer_and_removal_removes_it() {
        let stored = node_with(
            json!({(NODE_CLIENT_CERTIFICATE_ANNOTATION): "X509SHA256=old",
            (NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION): CA1}),
        );
        // A token-authenticated or older-certificate write: whatever it sends for the issuer,
        // the stored one stays.
        let user = node_user(OWN);
        let sent = node_with(
            json!({(NODE_CLIENT_CERTIFICATE_ANNOTATION): "X509SHA256=old",
            (NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION): CA2}),
        );
        assert_eq!(
            issuer_of(&mutate(&user, Some(CA2), sent.clone(), Some(&stored))),
            Some(CA1)
        );
        let dropped = node_with(json!({(NODE_CLIENT_CERTIFICATE_ANNOTATION): "X509SHA256=old"}));
        assert_eq!(
            issuer_of(&mutate(&user, None, dropped, Some(&stored))),
            Some(CA1)
        );
        // Naming its own certificate without a known issuer (not a client certificate
        // request): the stored value, not the sent one.
        let own_no_issuer = node_with(json!({(NODE_CLIENT_CERTIFICATE_ANNOTATION): OWN,
            (NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION): CA2}));
        assert_eq!(
            issuer_of(&mutate(&user, None, own_no_issuer.clone(), Some(&stored))),
            Some(CA1)
        );
        assert_eq!(issuer_of(&mutate(&user, None, own_no_issuer, None)), None);
        // The client-certificate annotation removed: the issuer goes too.
        let removed = node_with(json!({(NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION): CA1,
            "other": "kept"}));
        let after = mutate(&user, Some(CA1), removed, Some(&stored));
        assert_eq!(issuer_of(&after), None);
        assert_eq!(after["metadata"]["annotations"]["other"], "kept");
    }

    #[test]
    fn other_writers_write_the_issuer_as_they_like() {
        let admin = rbac::UserInfo::new("kubernetes-admin", ["system:masters"]);
        let stored = node_with(json!({(NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION): CA1}));
        let sent = node_with(json!({(NODE_CLIENT_CERTIFICATE_ISSUER_ANNOTATION): "by-hand"}));
        assert_eq!(
            issuer_of(&mutate(&admin, Some(CA2), sent, Some(&stored))),
            Some("by-hand")
        );
        let removed = node_with(json!({}));
        assert_eq!(
            issuer_of(&mutate(&admin, Some(CA2), removed, Some(&stored))),
            None
        );
    }
}
