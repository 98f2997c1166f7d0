//! Writes the default RBAC policy on the first start only. A marker object records that it
//! was done, so roles an operator later edits or deletes are never put back.

use serde::Serialize;
use serde_json::{Value, json};
use store::{Key, Store, StoreError};

/// Where the marker lives: a resource no API path serves.
pub const MARKER_RESOURCE: &str = "apiserver.internal/markers";
pub const MARKER_NAME: &str = "rbac-bootstrap-policy";

const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";

/// What [`seed_default_policy`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    /// First start: this many objects were created (objects already there were left alone).
    Seeded { created: usize },
    /// The marker exists: nothing was touched.
    AlreadySeeded,
}

/// Seeds `rbac::bootstrap::default_policy()` unless the marker says it was done before.
pub async fn seed_default_policy(store: &Store) -> Result<SeedOutcome, StoreError> {
    let marker = Key::new(MARKER_RESOURCE, "", MARKER_NAME);
    match store.get(&marker).await {
        Ok(_) => return Ok(SeedOutcome::AlreadySeeded),
        Err(StoreError::NotFound(_)) => {}
        Err(other) => return Err(other),
    }
    let (roles, bindings) = rbac::bootstrap::default_policy();
    let mut created = 0;
    for role in &roles {
        created += create_if_absent(store, CLUSTER_ROLES, &role.metadata.name, role).await?;
    }
    for binding in &bindings {
        created += create_if_absent(
            store,
            CLUSTER_ROLE_BINDINGS,
            &binding.metadata.name,
            binding,
        )
        .await?;
    }
    // Written last: a crash before this line seeds again (skipping what exists) next start.
    let record = json!({
        "metadata": {"name": MARKER_NAME, "creationTimestamp": now_rfc3339()},
        "seededBy": format!("apiserver {}", crate::VERSION),
    });
    match store.create(&marker, record).await {
        Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
        Err(other) => return Err(other),
    }
    Ok(SeedOutcome::Seeded { created })
}

async fn create_if_absent(
    store: &Store,
    resource: &str,
    name: &str,
    object: &impl Serialize,
) -> Result<usize, StoreError> {
    let mut value = serde_json::to_value(object)
        .map_err(|e| StoreError::InvalidObject(format!("default policy object {name}: {e}")))?;
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
}
