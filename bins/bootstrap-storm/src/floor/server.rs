//! The floor's server: no store, no credential check, no body parsed. It answers each request
//! with the JSON a real apiserver would send back and pushes watch events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;

pub(super) type Body = BoxBody<Bytes, std::convert::Infallible>;

pub(super) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// What the server keeps per CSR: its JSON as last written and who waits for its certificate.
#[derive(Default)]
struct CsrEntry {
    json: Bytes,
    issued: bool,
    waiters: Vec<oneshot::Sender<Bytes>>,
}

pub(super) struct Server {
    csrs: Mutex<HashMap<String, CsrEntry>>,
    /// The controller's watch stream.
    controller_events: mpsc::UnboundedSender<Bytes>,
    controller_stream: Mutex<Option<mpsc::UnboundedReceiver<Bytes>>>,
}

pub(super) fn watch_event(kind: &str, object: &[u8]) -> Bytes {
    let mut event = Vec::with_capacity(object.len() + 32);
    event.extend_from_slice(br#"{"type":""#);
    event.extend_from_slice(kind.as_bytes());
    event.extend_from_slice(br#"","object":"#);
    event.extend_from_slice(object);
    event.extend_from_slice(b"}\n");
    event.into()
}

impl Server {
    pub(super) fn new() -> Arc<Server> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Server {
            csrs: Mutex::new(HashMap::new()),
            controller_events: tx,
            controller_stream: Mutex::new(Some(rx)),
        })
    }

    /// A pending CSR stored before its ADDED event is handed to the controller by
    /// [`Self::to_controller`] (the signing phase).
    pub(super) fn store(&self, name: String, json: Bytes) {
        self.csrs.lock().unwrap().entry(name).or_default().json = json;
    }

    /// An event for the controller's watch.
    pub(super) fn to_controller(&self, event: Bytes) {
        let _ = self.controller_events.send(event);
    }

    async fn handle(
        self: Arc<Self>,
        request: http::Request<Incoming>,
    ) -> Result<http::Response<Body>, hyper::Error> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let path = parts.uri.path().to_string();
        let name = parts.uri.query().unwrap_or_default().to_string();
        let response = match (parts.method.as_str(), path.as_str()) {
            ("POST", "/csr") => {
                self.csrs.lock().unwrap().entry(name).or_default().json = body.clone();
                let _ = self.controller_events.send(watch_event("ADDED", &body));
                respond(201, full(body))
            }
            ("GET", "/csr") => {
                let json = self
                    .csrs
                    .lock()
                    .unwrap()
                    .get(&name)
                    .map(|e| e.json.clone())
                    .unwrap_or_default();
                respond(200, full(json))
            }
            ("GET", "/csr-watch") => {
                let (tx, rx) = oneshot::channel();
                {
                    let mut csrs = self.csrs.lock().unwrap();
                    let entry = csrs.entry(name).or_default();
                    if entry.issued {
                        let _ = tx.send(entry.json.clone());
                    } else {
                        entry.waiters.push(tx);
                    }
                }
                // Headers now, the event when the certificate is there, as a watch does.
                let stream = futures::stream::once(rx).filter_map(|event| async move {
                    event
                        .ok()
                        .map(|json| Ok(Frame::data(watch_event("MODIFIED", &json))))
                });
                respond(200, http_body_util::BodyExt::boxed(StreamBody::new(stream)))
            }
            ("GET", "/controller-watch") => {
                let Some(events) = self.controller_stream.lock().unwrap().take() else {
                    return Ok(respond(409, full("one controller")));
                };
                let stream = futures::stream::unfold(events, |mut events| async move {
                    events
                        .recv()
                        .await
                        .map(|event| (Ok(Frame::data(event)), events))
                });
                respond(200, http_body_util::BodyExt::boxed(StreamBody::new(stream)))
            }
            ("PUT", "/csr-approval") => {
                if let Some(entry) = self.csrs.lock().unwrap().get_mut(&name) {
                    entry.json = body.clone();
                }
                let _ = self.controller_events.send(watch_event("MODIFIED", &body));
                respond(200, full(body))
            }
            ("PUT", "/csr-status") => {
                let waiters = {
                    let mut csrs = self.csrs.lock().unwrap();
                    let entry = csrs.entry(name).or_default();
                    entry.json = body.clone();
                    entry.issued = true;
                    std::mem::take(&mut entry.waiters)
                };
                for waiter in waiters {
                    let _ = waiter.send(body.clone());
                }
                let _ = self.controller_events.send(watch_event("MODIFIED", &body));
                respond(200, full(body))
            }
            ("POST", "/node") | ("POST", "/lease") => respond(201, full(body)),
            _ => respond(404, full("not found")),
        };
        Ok(response)
    }
}

fn respond(status: u16, body: Body) -> http::Response<Body> {
    let mut response = http::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

pub(super) async fn serve(listener: TcpListener, acceptor: TlsAcceptor, server: Arc<Server>) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // Out of descriptors, most likely: let connections close instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, server) = (acceptor.clone(), server.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request| server.clone().handle(request));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_events_wrap_the_stored_json() {
        let event = watch_event("ADDED", br#"{"kind":"CertificateSigningRequest"}"#);
        let value: serde_json::Value = serde_json::from_slice(&event).unwrap();
        assert_eq!(value["type"], "ADDED");
        assert_eq!(value["object"]["kind"], "CertificateSigningRequest");
        assert!(event.ends_with(b"\n"));
    }
}
