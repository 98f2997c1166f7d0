//! Shared helpers of the `rest_*` tests: an `Api` over a temporary store, driven directly through
//! `Api::handle` with requests parsed by the real `RequestInfo`.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use apiserver::api::Api;
use apiserver::request_info::RequestInfo;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;

pub const JSON: &str = "application/json";
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
pub const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

pub struct TestApi {
    pub api: Api,
    pub store: store::Store,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub code: u16,
    pub body: Value,
}

impl TestApi {
    pub async fn new() -> TestApi {
        TestApi::with_bookmarks(Duration::from_secs(60)).await
    }

    pub async fn with_bookmarks(interval: Duration) -> TestApi {
        TestApi::build(interval, store::EmbeddedOptions::default()).await
    }

    /// A store keeping only `history` events for resuming watches.
    pub async fn with_history(history: usize) -> TestApi {
        let options = store::EmbeddedOptions {
            history_capacity: history,
            ..Default::default()
        };
        TestApi::build(Duration::from_secs(60), options).await
    }

    async fn build(interval: Duration, options: store::EmbeddedOptions) -> TestApi {
        let dir = tempfile::tempdir().unwrap();
        let store = store::Store::open_with(dir.path(), options).unwrap();
        let api = Api::with_bookmark_interval(store.clone(), Arc::new(rbac::AlwaysAllow), interval);
        api.ensure_defaults().await.unwrap();
        TestApi {
            api,
            store,
            _dir: dir,
        }
    }

    pub fn admin() -> rbac::UserInfo {
        rbac::UserInfo::new("admin", ["system:masters", "system:authenticated"])
    }

    /// Sends a request and returns the raw response.
    pub async fn raw(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> http::Response<apiserver::body::Body> {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let req = builder.body(body.into()).unwrap();
        let info = RequestInfo::parse(req.method(), req.uri());
        self.api.handle(req, &info, &TestApi::admin()).await
    }

    /// Sends a request and reads the whole JSON answer.
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let response = self.raw(method, uri, headers, body).await;
        let code = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
        };
        Reply { code, body }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send("GET", uri, &[], Bytes::new()).await
    }

    pub async fn post_json(&self, uri: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            uri,
            &[("content-type", JSON)],
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    pub async fn put_json(&self, uri: &str, body: &Value) -> Reply {
        self.send(
            "PUT",
            uri,
            &[("content-type", JSON)],
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    pub async fn patch(&self, uri: &str, content_type: &str, body: &str) -> Reply {
        self.send(
            "PATCH",
            uri,
            &[("content-type", content_type)],
            body.to_string(),
        )
        .await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.send("DELETE", uri, &[], Bytes::new()).await
    }
}

/// Reads the next JSON line of a watch body (panics after `wait`).
pub struct Lines {
    body: apiserver::body::Body,
    buffer: Vec<u8>,
}

impl Lines {
    pub fn new(response: http::Response<apiserver::body::Body>) -> Lines {
        Lines {
            body: response.into_body(),
            buffer: Vec::new(),
        }
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        tokio::time::timeout(wait, async {
            loop {
                if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                    return Some(serde_json::from_slice(&line).unwrap());
                }
                match self.body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            self.buffer.extend_from_slice(&data);
                        }
                    }
                    _ => return None,
                }
            }
        })
        .await
        .expect("watch event in time")
    }
}

/// A minimal CSR object (no PEM validation happens for the generic tests' kinds).
pub fn node(name: &str) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
}

pub fn lease(name: &str) -> Value {
    serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name}, "spec": {"holderIdentity": "a"}})
}
