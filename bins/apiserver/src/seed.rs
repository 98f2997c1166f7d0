//! Writes the default RBAC policy: every default object once. A marker object lists the ones
//! written, so roles an operator later edits or deletes are never put back, while defaults a
//! newer apiserver adds (e.g. `admin`, `edit`, `view`) are created on its first start.

use serde::Serialize;
use serde_json::{Value, json};
use store::{Key, Store, StoreError};

/// Where the marker lives: a resource no API path serves.
pub const MARKER_RESOURCE: &str = "apiserver.internal/markers";
pub const MARKER_NAME: &str = "rbac-bootstrap-policy";

// The store resources the REST path uses (`ResourceDef::store_resource`), so seeded objects
// are served and read by the RBAC cache like any created through the API.
const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
const ROLES: &str = "rbac.authorization.k8s.io/roles";
const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";

/// Defaults added after the first markers were written, which did not list their objects:
/// such a marker covered every default but these.
const ADDED_AFTER_UNLISTED_MARKERS: &[&str] = &[
    "clusterroles/admin",
    "clusterroles/edit",
    "clusterroles/view",
    "clusterroles/system:aggregate-to-admin",
    "clusterroles/system:aggregate-to-edit",
    "clusterroles/system:aggregate-to-view",
    "clusterroles/system:controller:clusterrole-aggregation-controller",
    "clusterrolebindings/system:controller:clusterrole-aggregation-controller",
    "roles/kube-system/extension-apiserver-authentication-reader",
    "rolebindings/kube-system/system::extension-apiserver-authentication-reader",
];

/// What [`seed_default_policy`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    /// Defaults not seeded before: this many objects were created (objects already there were
    /// left alone).
    Seeded { created: usize },
    /// Every default was seeded before: nothing was touched.
    AlreadySeeded,
}

/// One default object and where it is stored.
struct DefaultObject {
    key: Key,
    object: Value,
}

impl DefaultObject {
    fn new(resource: &str, object: &impl Serialize) -> Result<Self, StoreError> {
        let object = to_json(object)?;
        let field = |name: &str| {
            object["metadata"][name]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let key = Key::new(resource, field("namespace"), field("name"));
        Ok(DefaultObject { key, object })
    }

    /// Its entry in the marker: `<plural>/<name>`, or `<plural>/<namespace>/<name>` when
    /// namespaced (names hold no `/`, so the two shapes never collide).
    fn id(&self) -> String {
        let resource = self.key.resource.as_str();
        let plural = resource.rsplit('/').next().unwrap_or(resource);
        if self.key.namespace.is_empty() {
            format!("{plural}/{}", self.key.name)
        } else {
            format!("{plural}/{}/{}", self.key.namespace, self.key.name)
        }
    }
}

/// Every default: `rbac::bootstrap::default_policy()` and `namespaced_policy()`.
fn default_objects() -> Result<Vec<DefaultObject>, StoreError> {
    let (cluster_roles, cluster_bindings) = rbac::bootstrap::default_policy();
    let (roles, bindings) = rbac::bootstrap::namespaced_policy();
    let mut defaults = Vec::new();
    for role in &cluster_roles {
        defaults.push(DefaultObject::new(CLUSTER_ROLES, role)?);
    }
    for binding in &cluster_bindings {
        defaults.push(DefaultObject::new(CLUSTER_ROLE_BINDINGS, binding)?);
    }
    for role in &roles {
        defaults.push(DefaultObject::new(ROLES, role)?);
    }
    for binding in &bindings {
        defaults.push(DefaultObject::new(ROLE_BINDINGS, binding)?);
    }
    Ok(defaults)
}

/// The ids the stored marker says were seeded, and its resourceVersion (`None`: no marker).
async fn read_marker(
    store: &Store,
    marker: &Key,
    defaults: &[DefaultObject],
) -> Result<(Vec<String>, Option<u64>), StoreError> {
    let stored = match store.get(marker).await {
        Ok(stored) => stored,
        Err(StoreError::NotFound(_)) => return Ok((Vec::new(), None)),
        Err(other) => return Err(other),
    };
    let covered = match stored.object.get("objects").and_then(Value::as_array) {
        Some(listed) => listed
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        None => defaults
            .iter()
            .map(DefaultObject::id)
            .filter(|id| !ADDED_AFTER_UNLISTED_MARKERS.contains(&id.as_str()))
            .collect(),
    };
    Ok((covered, Some(stored.rv)))
}

/// Seeds the default objects (cluster-scoped and namespaced) the marker does not list.
pub async fn seed_default_policy(store: &Store) -> Result<SeedOutcome, StoreError> {
    let marker = Key::new(MARKER_RESOURCE, "", MARKER_NAME);
    let defaults = default_objects()?;
    let (covered, marker_rv) = read_marker(store, &marker, &defaults).await?;
    let mut created = 0;
    let mut all = covered.clone();
    for default in defaults {
        let object_id = default.id();
        if covered.contains(&object_id) {
            continue;
        }
        created += create_if_absent(store, &default.key, default.object).await?;
        all.push(object_id);
    }
    if marker_rv.is_some() && all.len() == covered.len() {
        return Ok(SeedOutcome::AlreadySeeded);
    }
    // Written last: a crash before this line seeds again (skipping what exists) next start.
    let record = json!({
        "metadata": {"name": MARKER_NAME, "creationTimestamp": now_rfc3339()},
        "seededBy": format!("apiserver {}", crate::VERSION),
        "objects": all,
    });
    let written = match marker_rv {
        None => store.create(&marker, record).await.map(drop),
        Some(rv) => store.update(&marker, record, Some(rv)).await.map(drop),
    };
    match written {
        // Another apiserver on the same store wrote it first: it seeded the same defaults.
        Ok(()) | Err(StoreError::AlreadyExists(_) | StoreError::Conflict { .. }) => {}
        Err(other) => return Err(other),
    }
    Ok(SeedOutcome::Seeded { created })
}

fn to_json(object: &impl Serialize) -> Result<Value, StoreError> {
    serde_json::to_value(object)
        .map_err(|e| StoreError::InvalidObject(format!("default policy object: {e}")))
}

async fn create_if_absent(store: &Store, key: &Key, mut value: Value) -> Result<usize, StoreError> {
    fill_server_fields(&mut value);
    match store.create(key, value).await {
        Ok(_) => Ok(1),
        Err(StoreError::AlreadyExists(_)) => Ok(0),
        Err(other) => Err(other),
    }
}

/// The fields the REST create path would have set: `uid` and `creationTimestamp`.
fn fill_server_fields(object: &mut Value) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata
            .entry("uid")
            .or_insert_with(|| Value::String(crate::api::names::new_uid()));
        metadata
            .entry("creationTimestamp")
            .or_insert_with(|| Value::String(now_rfc3339()));
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use rbac::bootstrap::{
        EXTENSION_AUTHENTICATION_READER_BINDING, EXTENSION_AUTHENTICATION_READER_ROLE,
    };

    use super::*;

    fn reader_role() -> Key {
        Key::new(ROLES, "kube-system", EXTENSION_AUTHENTICATION_READER_ROLE)
    }

    fn reader_binding() -> Key {
        Key::new(
            ROLE_BINDINGS,
            "kube-system",
            EXTENSION_AUTHENTICATION_READER_BINDING,
        )
    }

    /// The marker the apiserver wrote before namespaced defaults existed: every
    /// cluster-scoped id listed.
    fn cluster_scoped_marker() -> Value {
        let (roles, bindings) = rbac::bootstrap::default_policy();
        let ids: Vec<String> = roles
            .iter()
            .map(|r| format!("clusterroles/{}", r.metadata.name))
            .chain(
                bindings
                    .iter()
                    .map(|b| format!("clusterrolebindings/{}", b.metadata.name)),
            )
            .collect();
        json!({"metadata": {"name": MARKER_NAME}, "objects": ids})
    }

    #[tokio::test]
    async fn seeds_once_and_never_restores_deleted_roles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let outcome = seed_default_policy(&store).await.expect("seed");
        let (roles, _) = rbac::bootstrap::default_policy();
        assert!(matches!(outcome, SeedOutcome::Seeded { created } if created >= roles.len()));

        let admin = Key::new(CLUSTER_ROLES, "", "cluster-admin");
        let stored = store.get(&admin).await.expect("cluster-admin seeded");
        assert_eq!(stored.object["kind"], "ClusterRole");
        assert_eq!(
            stored.object["metadata"]["uid"].as_str().map(str::len),
            Some(36)
        );
        assert!(
            stored.object["metadata"]["creationTimestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );

        // The namespaced defaults, under the keys the REST path reads namespaced RBAC from.
        let role = store.get(&reader_role()).await.expect("reader Role seeded");
        assert_eq!(role.object["kind"], "Role");
        assert_eq!(role.object["metadata"]["namespace"], "kube-system");
        assert_eq!(
            role.object["metadata"]["uid"].as_str().map(str::len),
            Some(36)
        );
        let binding = store
            .get(&reader_binding())
            .await
            .expect("reader RoleBinding seeded");
        assert_eq!(binding.object["roleRef"]["kind"], "Role");
        let marker = store
            .get(&Key::new(MARKER_RESOURCE, "", MARKER_NAME))
            .await
            .expect("marker");
        let listed = marker.object["objects"].as_array().expect("object list");
        assert!(listed.contains(&json!(
            "rolebindings/kube-system/system::extension-apiserver-authentication-reader"
        )));

        store
            .delete(&admin, None)
            .await
            .expect("operator deletes it");
        store
            .delete(&reader_binding(), None)
            .await
            .expect("operator deletes the binding");
        assert_eq!(
            seed_default_policy(&store).await.expect("second"),
            SeedOutcome::AlreadySeeded
        );
        assert!(matches!(
            store.get(&admin).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.get(&reader_binding()).await,
            Err(StoreError::NotFound(_))
        ));
        store.close().await.expect("close");
    }

    #[tokio::test]
    async fn defaults_added_later_are_seeded_once_over_an_older_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        // What an older apiserver left: its marker (no object list) and no `view`.
        let marker = Key::new(MARKER_RESOURCE, "", MARKER_NAME);
        store
            .create(&marker, json!({"metadata": {"name": MARKER_NAME}}))
            .await
            .expect("old marker");
        let outcome = seed_default_policy(&store).await.expect("seed");
        assert_eq!(
            outcome,
            SeedOutcome::Seeded {
                created: ADDED_AFTER_UNLISTED_MARKERS.len()
            }
        );
        let view = Key::new(CLUSTER_ROLES, "", "view");
        assert!(store.get(&view).await.is_ok());
        assert!(store.get(&reader_role()).await.is_ok());
        assert!(store.get(&reader_binding()).await.is_ok());
        // cluster-admin was covered by the old marker: not recreated.
        let admin = Key::new(CLUSTER_ROLES, "", "cluster-admin");
        assert!(matches!(
            store.get(&admin).await,
            Err(StoreError::NotFound(_))
        ));
        // Deleted now, it stays deleted.
        store.delete(&view, None).await.expect("delete view");
        assert_eq!(
            seed_default_policy(&store).await.expect("again"),
            SeedOutcome::AlreadySeeded
        );
        assert!(store.get(&view).await.is_err());
        store.close().await.expect("close");
    }

    #[tokio::test]
    async fn namespaced_defaults_are_seeded_once_over_a_cluster_scoped_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let marker = Key::new(MARKER_RESOURCE, "", MARKER_NAME);
        store
            .create(&marker, cluster_scoped_marker())
            .await
            .expect("older marker");
        assert_eq!(
            seed_default_policy(&store).await.expect("seed"),
            SeedOutcome::Seeded { created: 2 }
        );
        assert!(store.get(&reader_role()).await.is_ok());
        assert!(store.get(&reader_binding()).await.is_ok());
        // Cluster-scoped defaults the marker listed are not recreated.
        let admin = Key::new(CLUSTER_ROLES, "", "cluster-admin");
        assert!(matches!(
            store.get(&admin).await,
            Err(StoreError::NotFound(_))
        ));
        // Deleted by the operator now, they stay deleted.
        store.delete(&reader_role(), None).await.expect("delete");
        store.delete(&reader_binding(), None).await.expect("delete");
        assert_eq!(
            seed_default_policy(&store).await.expect("again"),
            SeedOutcome::AlreadySeeded
        );
        assert!(store.get(&reader_role()).await.is_err());
        assert!(store.get(&reader_binding()).await.is_err());
        store.close().await.expect("close");
    }

    #[test]
    fn defaults_are_stored_where_the_rest_path_reads_them() {
        let registry = crate::api::Registry::served();
        for default in default_objects().expect("defaults") {
            let plural = default.key.resource.rsplit('/').next().unwrap_or_default();
            let def = registry
                .find("rbac.authorization.k8s.io", "v1", plural)
                .expect("served");
            assert_eq!(default.key.resource, def.store_resource());
            assert_eq!(default.object["kind"], def.kind);
            // Namespaced kinds only in a namespace, cluster-scoped ones never.
            assert_eq!(
                !default.key.namespace.is_empty(),
                def.namespaced,
                "{}",
                default.id()
            );
        }
    }
}
