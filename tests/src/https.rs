//! A small blocking HTTPS/1.1 client for requests kubectl cannot make: chosen content types and
//! bodies (bad protobuf, oversize), chosen credentials (other CA, expired tokens), watches read
//! event by event. One connection per request (`Connection: close`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

/// Bodies above this size are sent with `Expect: 100-continue`.
const LARGE_BODY: usize = 1024 * 1024;

/// Who the client is.
#[derive(Debug, Clone)]
pub enum Identity {
    Anonymous,
    /// `Authorization: Bearer <token>`.
    Token(String),
    /// A client certificate and key, PEM.
    Certificate {
        cert_pem: String,
        key_pem: String,
    },
}

/// A client for one server, trusting one CA.
#[derive(Clone)]
pub struct Https {
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    token: Option<String>,
}

impl std::fmt::Debug for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Https")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (an error naming the status and body text when it is not JSON).
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response {} is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Https {
    /// A client of `https://127.0.0.1:<port>` trusting `ca_pem`, authenticating as `identity`.
    pub fn new(port: u16, ca_pem: &str, identity: Identity) -> anyhow::Result<Https> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(cert.context("bad CA PEM")?)
                .context("CA not usable as a root")?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_root_certificates(roots);
        let (config, token) = match identity {
            Identity::Anonymous => (builder.with_no_client_auth(), None),
            Identity::Token(token) => (builder.with_no_client_auth(), Some(token)),
            Identity::Certificate { cert_pem, key_pem } => {
                let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .context("bad client certificate PEM")?;
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                    .context("bad client key PEM")?;
                (
                    builder
                        .with_client_auth_cert(certs, key)
                        .context("client certificate")?,
                    None,
                )
            }
        };
        Ok(Https {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            config: Arc::new(config),
            token,
        })
    }

    fn connect(
        &self,
        read_timeout: Duration,
    ) -> anyhow::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
        let tcp = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        tcp.set_read_timeout(Some(read_timeout))?;
        tcp.set_write_timeout(Some(Duration::from_secs(30)))?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        let connection =
            rustls::ClientConnection::new(self.config.clone(), name).context("TLS client")?;
        Ok(rustls::StreamOwned::new(connection, tcp))
    }

    fn head(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        accept: &str,
        body_len: usize,
    ) -> String {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: e2e-tests\r\nAccept: {accept}\r\nConnection: close\r\nContent-Length: {body_len}\r\n",
            self.addr
        );
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        head
    }

    /// Sends one request and reads the whole response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> anyhow::Result<Response> {
        let mut stream = self.connect(Duration::from_secs(30))?;
        let mut head = self.head(method, path, content_type, "application/json", body.len());
        let mut raw = Vec::new();
        // Like curl for large bodies: ask first, so a server refusing by Content-Length (413) can
        // answer before the body is sent; closing on an unread body would reset the connection
        // and lose its answer.
        let large = body.len() > LARGE_BODY;
        if large {
            head.insert_str(head.len() - 2, "Expect: 100-continue\r\n");
        }
        stream
            .write_all(head.as_bytes())
            .context("sending the request head")?;
        if large {
            stream
                .get_ref()
                .set_read_timeout(Some(Duration::from_secs(1)))?;
            let mut buf = [0u8; 4096];
            while parse_head(&raw)?.is_none() {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break;
                    }
                    Err(e) => return Err(e).context("waiting for 100 Continue"),
                }
            }
            stream
                .get_ref()
                .set_read_timeout(Some(Duration::from_secs(30)))?;
            match parse_head(&raw)? {
                Some((100, _, body_start)) => raw.drain(..body_start).for_each(drop),
                // A final answer before the body: done.
                Some(_) => {
                    let _ = stream.read_to_end(&mut raw);
                    return parse_response(&raw);
                }
                None => {}
            }
        }
        // A server may still answer (e.g. 413) before reading the whole body: keep what it said.
        let write_result = stream.write_all(body).and_then(|_| stream.flush());
        let read_result = stream.read_to_end(&mut raw);
        if raw.is_empty() {
            write_result.context("sending the request body")?;
            read_result.context("reading the response")?;
        }
        parse_response(&raw)
    }

    /// GET returning JSON.
    pub fn get_json(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let response = self.request("GET", path, None, b"")?;
        Ok((response.status, response.json()?))
    }

    /// POST/PUT a JSON value.
    pub fn send_json(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let response = self.request(
            method,
            path,
            Some("application/json"),
            &serde_json::to_vec(body)?,
        )?;
        Ok((response.status, response.json()?))
    }

    /// Opens a watch (`path` must carry `watch=true`) and collects its events until `done` says
    /// so or `timeout` passes. Returns the HTTP status and the events seen; a non-200 answer
    /// (e.g. 410) is returned as one pseudo-event holding the body.
    pub fn watch(
        &self,
        path: &str,
        timeout: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> anyhow::Result<(u16, Vec<Value>)> {
        let mut stream = self.connect(Duration::from_millis(200))?;
        stream.write_all(
            self.head("GET", path, None, "application/json", 0)
                .as_bytes(),
        )?;
        let deadline = Instant::now() + timeout;
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let mut events = Vec::new();
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e).context("reading the watch"),
            }
            if let Some((status, _, body_start)) = parse_head(&raw)? {
                if status != 200 {
                    // An error answer (e.g. 410 Gone) is a whole response: read it to the end.
                    if Instant::now() >= deadline {
                        break;
                    }
                    continue;
                }
                let body = dechunk_partial(&raw[body_start..]);
                events = body
                    .split(|c| *c == b'\n')
                    .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
                    .filter_map(|line| serde_json::from_slice(line).ok())
                    .collect();
                if done(&events) {
                    return Ok((status, events));
                }
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "watch {path} did not deliver the awaited events within {timeout:?}; got {events:?}"
                );
            }
        }
        let response = parse_response(&raw)?;
        if response.status != 200 {
            return Ok((
                response.status,
                vec![response.json().unwrap_or(Value::Null)],
            ));
        }
        Ok((response.status, events))
    }
}

/// Status, headers and the offset where the body starts.
type Head = (u16, Vec<(String, String)>, usize);

/// The response head once it has fully arrived.
fn parse_head(raw: &[u8]) -> anyhow::Result<Option<Head>> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&raw[..end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Some((status, headers, end + 4)))
}

fn parse_response(raw: &[u8]) -> anyhow::Result<Response> {
    let (status, headers, body_start) = parse_head(raw)?
        .with_context(|| format!("incomplete response: {}", String::from_utf8_lossy(raw)))?;
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk_partial(&raw[body_start..])
    } else {
        raw[body_start..].to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The data of every complete chunk of a chunked body (a trailing partial chunk is ignored).
fn dechunk_partial(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        if body.len() < start + size + 2 {
            break;
        }
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
    out
}
