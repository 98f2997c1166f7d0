//! Writes the default RBAC policy: every default object once. A marker object lists the ones
//! written, so roles an operator later edits or deletes are never put back, while defaults a
//! newer apiserver adds (e.g. `admin`, `edit`, `view`) are created on its first start.

use serde::Serialize;
use serde_json::{Value, json};
use store::{Key, Store, StoreError};

/// Where the marker lives: a resource no API path serves.
pub const MARKER_RESOURCE: &str = "apiserver.internal/markers";
pub const MARKER_NAME: &str = "rbac-bootstrap-policy";

const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";

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

/// Seeds the objects of `rbac::bootstrap::default_policy()` the marker does not list.
pub async fn seed_default_policy(store: &Store) -> Result<SeedOutcome, StoreError> {
    let marker = Key::new(MARKER_RESOURCE, "", MARKER_NAME);
    let (roles, bindings) = rbac::bootstrap::default_policy();
    let mut defaults: Vec<(&str, String, Value)> = Vec::new();
    for role in &roles {
        defaults.push((CLUSTER_ROLES, role.metadata.name.clone(), to_json(role)?));
    }
    for binding in &bindings {
        defaults.push((
            CLUSTER_ROLE_BINDINGS,
            binding.metadata.name.clone(),
            to_json(binding)?,
        ));
    }
    let id = |resource: &str, name: &str| {
        let plural = resource.rsplit('/').next().unwrap_or(resource);
        format!("{plural}/{name}")
    };
    let (covered, marker_rv): (Vec<String>, Option<u64>) = match store.get(&marker).await {
        Ok(stored) => {
            let covered = match stored.object.get("objects").and_then(Value::as_array) {
                Some(listed) => listed
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                None => defaults
                    .iter()
                    .map(|(resource, name, _)| id(resource, name))
                    .filter(|id| !ADDED_AFTER_UNLISTED_MARKERS.contains(&id.as_str()))
                    .collect(),
            };
            (covered, Some(stored.rv))
        }
        Err(StoreError::NotFound(_)) => (Vec::new(), None),
        Err(other) => return Err(other),
    };
    let mut created = 0;
    let mut all = covered.clone();
    for (resource, name, object) in defaults {
        let object_id = id(resource, &name);
        if covered.contains(&object_id) {
            continue;
        }
        created += create_if_absent(store, resource, &name, object).await?;
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

async fn create_if_absent(
    store: &Store,
    resource: &str,
    name: &str,
    mut value: Value,
) -> Result<usize, StoreError> {
    fill_server_fields(&mut value);
    match store.create(&Key::new(resource, "", name), value).await {
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
    use super::*;

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

        store
            .delete(&admin, None)
            .await
            .expect("operator deletes it");
        assert_eq!(
            seed_default_policy(&store).await.expect("second"),
            SeedOutcome::AlreadySeeded
        );
        assert!(matches!(
            store.get(&admin).await,
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
}
