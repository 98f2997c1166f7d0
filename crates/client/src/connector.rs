//! The hyper-util connector: TCP, then TLS with our rustls config, reporting h2 to the pool
//! when ALPN chose it (so all requests multiplex over one connection).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Connects to whatever host the request URI names, verifying the server as
/// `server_name_override` when the kubeconfig sets `tls-server-name`.
#[derive(Clone)]
pub(crate) struct TlsConnectorService {
    tls: TlsConnector,
    server_name_override: Option<ServerName<'static>>,
    connect_timeout: Duration,
}

impl TlsConnectorService {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        server_name_override: Option<ServerName<'static>>,
        connect_timeout: Duration,
    ) -> Self {
        TlsConnectorService {
            tls: TlsConnector::from(config),
            server_name_override,
            connect_timeout,
        }
    }
}

/// A TLS stream that tells hyper-util which protocol ALPN picked.
pub(crate) struct TlsConnection {
    io: TokioIo<TlsStream<TcpStream>>,
}

impl Connection for TlsConnection {
    fn connected(&self) -> Connected {
        let (_, session) = self.io.inner().get_ref();
        let connected = Connected::new();
        if session.alpn_protocol() == Some(b"h2") {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl Read for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<TlsConnection>> + Send>>;

impl tower_service::Service<Uri> for TlsConnectorService {
    type Response = TlsConnection;
    type Error = io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await })
    }
}

impl TlsConnectorService {
    async fn connect(self, uri: Uri) -> io::Result<TlsConnection> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if uri.scheme_str() != Some("https") {
            return Err(invalid("only https:// servers are supported"));
        }
        let host = uri
            .host()
            .ok_or_else(|| invalid("server URL has no host"))?;
        // `[::1]` in a URI is `::1` on the wire.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        let server_name = match &self.server_name_override {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.clone())
                .map_err(|e| invalid(&format!("invalid server name {host:?}: {e}")))?,
        };
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((host.as_str(), port)),
        )
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {host}:{port} timed out"),
            )
        })??;
        // Small JSON requests: latency matters more than packet count.
        tcp.set_nodelay(true)?;
        let tls = tokio::time::timeout(self.connect_timeout, self.tls.connect(server_name, tcp))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS handshake with {host}:{port} timed out"),
                )
            })??;
        Ok(TlsConnection {
            io: TokioIo::new(tls),
        })
    }
}
