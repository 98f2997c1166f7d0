//! core/v1 `Event` (what `kubectl describe` lists) and `ObjectReference`.

use serde::{Deserialize, Serialize};

use super::{API_VERSION, GROUP};
use crate::meta::{MicroTime, ObjectMeta, Time};
use crate::resource::{list_type, resource};
use crate::serde_helpers::is_zero_i32;

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", remote = "Self")]
pub struct Event {
    #[prost(message, required, tag = "1")]
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[prost(message, required, tag = "2")]
    #[serde(default)]
    pub involved_object: ObjectReference,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[prost(message, required, tag = "5")]
    #[serde(default)]
    pub source: EventSource,
    #[prost(message, optional, tag = "6")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<Time>,
    #[prost(message, optional, tag = "7")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<Time>,
    #[prost(int32, tag = "8")]
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub count: i32,
    /// `Normal` or `Warning`.
    #[prost(string, tag = "9")]
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[prost(message, optional, tag = "10")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<MicroTime>,
    #[prost(message, optional, tag = "11")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<EventSeries>,
    #[prost(string, tag = "12")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    #[prost(message, optional, tag = "13")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<ObjectReference>,
    /// Written even when empty, like upstream.
    #[prost(string, tag = "14")]
    #[serde(default)]
    pub reporting_component: String,
    #[prost(string, tag = "15")]
    #[serde(default)]
    pub reporting_instance: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub component: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
}

#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSeries {
    #[prost(int32, tag = "1")]
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub count: i32,
    #[prost(message, optional, tag = "2")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_time: Option<MicroTime>,
}

/// Points at another object (an Event's subject).
#[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    #[prost(string, tag = "1")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[prost(string, tag = "4")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[prost(string, tag = "5")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[prost(string, tag = "6")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[prost(string, tag = "7")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field_path: String,
}

list_type!(EventList, Event);

resource!(
    Event,
    EventList,
    group = GROUP,
    version = "v1",
    api_version = API_VERSION,
    kind = "Event",
    list_kind = "EventList",
    plural = "events",
    namespaced = true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_fields_round_trip() {
        let json = r#"{"kind":"Event","apiVersion":"v1",
          "metadata":{"name":"node-csr-x.17c","namespace":"default"},
          "involvedObject":{"kind":"CertificateSigningRequest","name":"node-csr-x","apiVersion":"certificates.k8s.io/v1"},
          "reason":"Approved","message":"approved","source":{"component":"csrapproving"},
          "firstTimestamp":"2024-05-01T10:00:00Z","lastTimestamp":"2024-05-01T10:00:05Z","count":2,
          "type":"Normal","eventTime":"2024-05-01T10:00:00.123456Z",
          "reportingComponent":"csrapproving","reportingInstance":""}"#;
        let event: Event = serde_json::from_str(json).unwrap();
        assert_eq!(event.count, 2);
        assert_eq!(
            event.event_time.unwrap().to_string(),
            "2024-05-01T10:00:00.123456Z"
        );
        let back = serde_json::to_value(&event).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }
}
