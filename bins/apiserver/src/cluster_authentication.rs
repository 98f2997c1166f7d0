//! Publishes the client CA as kube-apiserver's ClientCARegistrationHook does (upstream's
//! `clusterauthenticationtrust`): `data["client-ca-file"]` of the ConfigMap
//! `kube-system/extension-apiserver-authentication`, which components with delegated
//! authentication (a kube-controller-manager secure port without `--client-ca-file`) read to
//! verify client certificates.
//!
//! Written through the store, as the default namespaces are, so watches see it: at start
//! before serving, and again whenever the reloaded `--client-ca-file` (decision 0029) brings
//! another bundle. Only a difference is written, so an unchanged bundle keeps its
//! resourceVersion. The data holds exactly the apiserver's bundle (not the union with what was
//! there, as upstream keeps for several apiservers with their own CAs): a retired CA leaves it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use store::{Key, Store, StoreError};

use crate::tls::TlsUpdates;

pub use protocol::core::v1::{
    AUTHENTICATION_CONFIG_MAP as NAME, AUTHENTICATION_CONFIG_MAP_CLIENT_CA_KEY as CLIENT_CA_KEY,
    AUTHENTICATION_CONFIG_MAP_NAMESPACE as NAMESPACE,
};

const RESOURCE: &str = "core/configmaps";
/// A concurrent edit (e.g. by hand) between the read and the write is retried this often.
const WRITE_ATTEMPTS: usize = 5;
/// After a failed write, how long until the next try when the bundle does not change.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What [`publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    Created,
    Updated,
    /// The stored data already was the bundle: nothing written.
    Unchanged,
}

/// Makes the ConfigMap's data `{"client-ca-file": client_ca_pem}`, writing only if it differs.
pub async fn publish(store: &Store, client_ca_pem: &str) -> Result<Published, StoreError> {
    let key = Key::new(RESOURCE, NAMESPACE, NAME);
    let data = json!({ CLIENT_CA_KEY: client_ca_pem });
    let mut attempt = 0;
    loop {
        attempt += 1;
        let written = write_once(store, &key, &data).await;
        match written {
            // Someone wrote or deleted it in between: read again.
            Err(
                StoreError::Conflict { .. }
                | StoreError::AlreadyExists(_)
                | StoreError::NotFound(_),
            ) if attempt < WRITE_ATTEMPTS => {}
            other => return other,
        }
    }
}

/// One read and, if the data differs, one create or compare-and-swap update.
async fn write_once(store: &Store, key: &Key, data: &Value) -> Result<Published, StoreError> {
    let stored = match store.get(key).await {
        Ok(stored) => stored,
        Err(StoreError::NotFound(_)) => {
            store.create(key, new_config_map(data.clone())).await?;
            return Ok(Published::Created);
        }
        Err(other) => return Err(other),
    };
    if stored.object.get("data") == Some(data) {
        return Ok(Published::Unchanged);
    }
    let mut object = (*stored.object).clone();
    let Some(fields) = object.as_object_mut() else {
        return Err(StoreError::Corrupt(format!("{key}: not a JSON object")));
    };
    fields.insert("data".to_string(), data.clone());
    // The apiserver owns the data: an `immutable` set by hand would make it unchangeable.
    fields.remove("immutable");
    store.update(key, object, Some(stored.rv)).await?;
    Ok(Published::Updated)
}

/// The ConfigMap as the REST create path would store it.
fn new_config_map(data: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "uid": crate::api::names::new_uid(),
            "creationTimestamp": protocol::meta::Time::now(),
        },
        "data": data,
    })
}

/// Publishes the client CA of `updates` now; `None` without a client CA (nothing written).
pub async fn publish_current(
    store: &Store,
    updates: &TlsUpdates,
) -> Result<Option<Arc<str>>, StoreError> {
    let Some(pem) = updates.borrow().client_ca_pem().cloned() else {
        return Ok(None);
    };
    log(publish(store, &pem).await?);
    Ok(Some(pem))
}

/// Follows the served settings after [`publish_current`] published `published`: a reloaded
/// client CA with other bytes is published; a failed write is retried every [`RETRY_AFTER`].
/// Ends when the settings can no longer change.
pub async fn follow(store: Store, mut updates: TlsUpdates, mut published: Arc<str>) {
    loop {
        let wanted = updates.borrow_and_update().client_ca_pem().cloned();
        // A serving certificate change alone leaves the bundle as it is: nothing to write.
        if let Some(wanted) = wanted.filter(|pem| *pem != published) {
            match publish(&store, &wanted).await {
                Ok(outcome) => {
                    log(outcome);
                    published = wanted;
                }
                Err(error) => {
                    tracing::warn!(
                        %error,
                        "failed to publish the client CA in {NAMESPACE}/{NAME}; retrying"
                    );
                    if !retry_or_change(&mut updates).await {
                        return;
                    }
                    continue;
                }
            }
        }
        if updates.changed().await.is_err() {
            return;
        }
    }
}

/// Waits [`RETRY_AFTER`] or for the next change, whichever comes first; `false` once the
/// settings can no longer change.
async fn retry_or_change(updates: &mut TlsUpdates) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RETRY_AFTER) => true,
        changed = updates.changed() => changed.is_ok(),
    }
}

fn log(outcome: Published) {
    match outcome {
        Published::Unchanged => tracing::debug!("{NAMESPACE}/{NAME} already holds the client CA"),
        written => tracing::info!(?written, "published the client CA in {NAMESPACE}/{NAME}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stored_data(store: &Store) -> (u64, Value) {
        let stored = store
            .get(&Key::new(RESOURCE, NAMESPACE, NAME))
            .await
            .expect("published");
        (stored.rv, stored.object["data"].clone())
    }

    #[tokio::test]
    async fn writes_only_a_different_bundle_and_puts_back_a_hand_edit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        assert_eq!(
            publish(&store, "A").await.expect("create"),
            Published::Created
        );
        let (rv, data) = stored_data(&store).await;
        assert_eq!(data, json!({"client-ca-file": "A"}));
        let stored = store
            .get(&Key::new(RESOURCE, NAMESPACE, NAME))
            .await
            .expect("get");
        assert_eq!(stored.object["kind"], "ConfigMap");
        assert_eq!(stored.object["metadata"]["namespace"], NAMESPACE);
        assert_eq!(
            stored.object["metadata"]["uid"].as_str().map(str::len),
            Some(36)
        );

        assert_eq!(
            publish(&store, "A").await.expect("same"),
            Published::Unchanged
        );
        assert_eq!(stored_data(&store).await.0, rv);

        // Edited by hand: another key, a label, immutable. The data is put back, the label kept.
        let key = Key::new(RESOURCE, NAMESPACE, NAME);
        let mut edited = (*stored.object).clone();
        edited["data"] = json!({"client-ca-file": "mine", "other": "x"});
        edited["metadata"]["labels"] = json!({"team": "a"});
        edited["immutable"] = json!(true);
        store.update(&key, edited, None).await.expect("hand edit");
        assert_eq!(
            publish(&store, "B").await.expect("update"),
            Published::Updated
        );
        let stored = store.get(&key).await.expect("get");
        assert_eq!(stored.object["data"], json!({"client-ca-file": "B"}));
        assert_eq!(stored.object["metadata"]["labels"]["team"], "a");
        assert!(stored.object.get("immutable").is_none());
        store.close().await.expect("close");
    }
}
