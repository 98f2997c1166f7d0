//! `coordination.k8s.io/v1` Lease: node heartbeats and leader election.

use serde::{Deserialize, Serialize};

use crate::meta::{MicroTime, ObjectMeta};
use crate::resource::{list_type, resource};

pub const GROUP: &str = "coordination.k8s.io";
pub const API_VERSION: &str = "coordination.k8s.io/v1";

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct Lease {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub spec: LeaseSpec,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSpec {
    #[prost(string, optional, tag = "1")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    #[prost(int32, optional, tag = "2")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    #[prost(message, optional, tag = "3")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<MicroTime>,
    #[prost(message, optional, tag = "4")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<MicroTime>,
    #[prost(int32, optional, tag = "5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
    #[prost(string, optional, tag = "6")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[prost(string, optional, tag = "7")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_holder: Option<String>,
}

list_type!(LeaseList, Lease);

resource!(
    Lease,
    LeaseList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "Lease",
    list_kind = "LeaseList",
    plural = "leases",
    namespaced = true
);

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn lease_micro_time_round_trips() {
        let json = r#"{"kind":"Lease","apiVersion":"coordination.k8s.io/v1",
          "metadata":{"name":"n1","namespace":"kube-node-lease"},
          "spec":{"holderIdentity":"n1","leaseDurationSeconds":40,
                  "acquireTime":"2024-05-01T10:00:00.000000Z","renewTime":"2024-05-01T10:00:30.654321Z",
                  "leaseTransitions":1}}"#;
        let lease: Lease = serde_json::from_str(json).unwrap();
        let out = serde_json::to_value(&lease).unwrap();
        assert_eq!(
            out,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
        assert_eq!(out["spec"]["renewTime"], "2024-05-01T10:00:30.654321Z");
        let back = Lease::decode(lease.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, lease);
    }
}
