//! Events the controller-manager records on CSRs (`kubectl describe csr` lists them).

use std::time::Duration;

use serde_json::Value;

use crate::{Cluster, wait};

/// Waits up to `timeout` for an event with `reason` about the object `involved` (in
/// `default`, where events about cluster-scoped objects go) and returns it.
pub fn wait_for_reason(
    cluster: &Cluster,
    involved: &str,
    reason: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let admin = cluster.admin()?;
    wait::until(
        &format!("a {reason} event on {involved}"),
        timeout,
        Duration::from_millis(100),
        || {
            let (status, list) = admin
                .get_json(&format!(
                    "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name={involved}"
                ))
                .map_err(|e| format!("{e:#}"))?;
            if status != 200 {
                return Err(format!("list events: {status} {list}"));
            }
            Ok(list["items"]
                .as_array()
                .and_then(|items| items.iter().find(|e| e["reason"] == reason).cloned()))
        },
    )
}
