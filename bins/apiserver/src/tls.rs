//! The serving TLS configuration: certificate and key from PEM, ALPN for HTTP/2 and HTTP/1.1,
//! and optional client certificates checked against `--client-ca-file`.
//!
//! Client certificates are asked for but not required, so bearer-token and anonymous clients
//! still connect. A presented certificate only has to prove possession of its key during the
//! handshake; whether it chains to the client CA is decided afterwards by the x509
//! authenticator, so a certificate from another CA gets kube-apiserver's answer, a 401 Status
//! (kubectl: "You must be logged in to the server (Unauthorized)"), instead of a bare TLS alert.
//!
//! Settings read from files are re-read while the server runs (decision 0029, [`reload`]):
//! when the bytes of `--tls-cert-file`, `--tls-private-key-file` or `--client-ca-file` change
//! and they build, new connections use them; a file that does not build is logged and the
//! running settings kept.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer, UnixTime};

use crate::authn::x509::ClientCertAuthority;

/// ALPN protocols offered, best first: kubectl (Go) negotiates h2.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A TLS input that cannot be used. Each names the file (or the PEM input) it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No `CERTIFICATE` PEM block, or one that does not decode.
    #[error("{source_name}: no valid PEM CERTIFICATE block found")]
    NoCertificate { source_name: String },
    /// No private key PEM block (PKCS#1, PKCS#8 or SEC1), or one that does not decode.
    #[error("{source_name}: no valid PEM private key found (expected PKCS#1, PKCS#8 or SEC1)")]
    NoPrivateKey { source_name: String },
    /// rustls refused the certificate and key (e.g. they do not match, or an unsupported key).
    #[error("failed to use serving certificate {cert} with key {key}: {source}")]
    ServingKey {
        cert: String,
        key: String,
        #[source]
        source: rustls::Error,
    },
    /// A client CA certificate rustls cannot use as a trust anchor.
    #[error("{source_name}: invalid client CA certificate: {source}")]
    ClientCa {
        source_name: String,
        #[source]
        source: rustls::Error,
    },
    /// The client-certificate verifier could not be built.
    #[error("{source_name}: cannot verify client certificates: {source}")]
    Verifier {
        source_name: String,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
}

/// Serving TLS settings, ready for the accept loop.
#[derive(Debug, Clone)]
pub struct ServingTls {
    server_config: Arc<ServerConfig>,
    client_ca: Option<Arc<ClientCertAuthority>>,
    /// The client CA bundle as text, as published in
    /// `kube-system/extension-apiserver-authentication`.
    client_ca_pem: Option<Arc<str>>,
    /// The files these settings were read from, and their bytes then (`None`: from memory,
    /// never reloaded).
    files: Option<Arc<TlsFiles>>,
}

/// The paths of the serving files and the bytes a [`ServingTls`] was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    bytes: FileBytes,
}

/// The contents of the three files, compared to tell a change.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileBytes {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl TlsFiles {
    fn read(&self) -> Result<FileBytes, TlsError> {
        Ok(FileBytes {
            cert: read(&self.cert)?,
            key: read(&self.key)?,
            client_ca: self.client_ca.as_deref().map(read).transpose()?,
        })
    }

    fn build(&self, bytes: FileBytes) -> Result<ServingTls, TlsError> {
        let mut tls = build(
            Named::path(&self.cert, &bytes.cert),
            Named::path(&self.key, &bytes.key),
            self.client_ca
                .as_deref()
                .zip(bytes.client_ca.as_deref())
                .map(|(p, pem)| Named::path(p, pem)),
        )?;
        tls.files = Some(Arc::new(TlsFiles {
            bytes,
            ..self.clone()
        }));
        Ok(tls)
    }
}

impl ServingTls {
    /// Reads `--tls-cert-file`, `--tls-private-key-file` and the optional `--client-ca-file`.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<ServingTls, TlsError> {
        let files = TlsFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            client_ca: client_ca.map(Path::to_path_buf),
            bytes: FileBytes {
                cert: Vec::new(),
                key: Vec::new(),
                client_ca: None,
            },
        };
        let bytes = files.read()?;
        files.build(bytes)
    }

    /// Whether these settings came from files (and so are reloaded by [`reload`]).
    pub fn from_files(&self) -> bool {
        self.files.is_some()
    }

    /// The same from PEM in memory (tests, or a caller that already holds the material).
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        client_ca_pem: Option<&[u8]>,
    ) -> Result<ServingTls, TlsError> {
        build(
            Named::new("serving certificate", cert_pem),
            Named::new("serving key", key_pem),
            client_ca_pem.map(|pem| Named::new("client CA", pem)),
        )
    }

    /// The rustls configuration every connection is accepted with.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.server_config)
    }

    /// The client CA, when client certificates authenticate.
    pub fn client_ca(&self) -> Option<&Arc<ClientCertAuthority>> {
        self.client_ca.as_ref()
    }

    /// The client CA bundle as PEM text: the file's own text when it is UTF-8 (else its
    /// certificates re-encoded, as kube-apiserver always publishes them).
    pub fn client_ca_pem(&self) -> Option<&Arc<str>> {
        self.client_ca_pem.as_ref()
    }
}

/// PEM bytes with the name errors use for them.
struct Named<'a> {
    name: String,
    pem: &'a [u8],
}

impl<'a> Named<'a> {
    fn new(name: &str, pem: &'a [u8]) -> Self {
        Named {
            name: name.to_string(),
            pem,
        }
    }
    fn path(path: &Path, pem: &'a [u8]) -> Self {
        Named {
            name: path.display().to_string(),
            pem,
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The process-wide provider choice (aws-lc-rs, see docs/decisions/0001 and 0006).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certificates(input: &Named<'_>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(input.pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate {
            source_name: input.name.clone(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            source_name: input.name.clone(),
        });
    }
    Ok(certs)
}

fn build(
    cert: Named<'_>,
    key: Named<'_>,
    client_ca: Option<Named<'_>>,
) -> Result<ServingTls, TlsError> {
    let provider = crypto_provider();
    let chain = certificates(&cert)?;
    let private_key =
        PrivateKeyDer::from_pem_slice(key.pem).map_err(|_| TlsError::NoPrivateKey {
            source_name: key.name.clone(),
        })?;

    let (verifier, client_ca, client_ca_pem) = match client_ca {
        None => (None, None, None),
        Some(ca) => {
            let ca_certificates = certificates(&ca)?;
            let text = pem_text(ca.pem, &ca_certificates);
            let mut roots = RootCertStore::empty();
            for der in &ca_certificates {
                roots
                    .add(der.clone())
                    .map_err(|source| TlsError::ClientCa {
                        source_name: ca.name.clone(),
                        source,
                    })?;
            }
            let inner =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .allow_unauthenticated()
                    .build()
                    .map_err(|source| TlsError::Verifier {
                        source_name: ca.name.clone(),
                        source,
                    })?;
            let deferred: Arc<dyn ClientCertVerifier> = Arc::new(DeferredChainVerifier {
                inner: Arc::clone(&inner),
                algorithms: provider.signature_verification_algorithms,
            });
            (
                Some(deferred),
                Some(Arc::new(ClientCertAuthority::new(inner, ca_certificates))),
                Some(text),
            )
        }
    };

    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::ServingKey {
            cert: cert.name.clone(),
            key: key.name.clone(),
            source,
        })?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, private_key)
        .map_err(|source| TlsError::ServingKey {
            cert: cert.name,
            key: key.name,
            source,
        })?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    // No session resumption (decision 0015): every connection verifies its client
    // certificate afresh, and no client reconnects often enough to gain from it, while
    // issuing tickets cost every connection an extra flight and the server a cache.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(ServingTls {
        server_config: Arc::new(config),
        client_ca,
        client_ca_pem,
        files: None,
    })
}

/// `pem` as text; bytes that are not UTF-8 (possible outside the PEM blocks) cannot go into a
/// ConfigMap's `data`, so then the certificates are encoded afresh.
fn pem_text(pem: &[u8], certificates: &[CertificateDer<'static>]) -> Arc<str> {
    match std::str::from_utf8(pem) {
        Ok(text) => Arc::from(text),
        Err(_) => certificates
            .iter()
            .map(|der| pki::certificate_pem(der))
            .collect::<String>()
            .into(),
    }
}

/// How often [`reload`] reads the files (decision 0029; kube-apiserver's dynamic certificate
/// files also resync every minute besides their file notifications).
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// The served settings, for the accept loop and for connections that follow client CA changes.
pub type TlsUpdates = tokio::sync::watch::Receiver<ServingTls>;

/// Starts following `tls`: the receiver always holds the settings to accept with. Settings
/// read from files come with the task that re-reads them every `interval` (run it as long as
/// the server); from memory there is none and the settings never change.
pub fn reload(
    tls: ServingTls,
    interval: Duration,
) -> (
    TlsUpdates,
    Option<impl std::future::Future<Output = ()> + Send + 'static>,
) {
    let files = tls.files.clone();
    let (sender, receiver) = tokio::sync::watch::channel(tls);
    let task = files.map(|files| reload_files(sender, files, interval));
    (receiver, task)
}

/// Re-reads the files every `interval`; swaps in what they build when their bytes changed. A
/// failure is logged once until it changes (or the files work again), and the running
/// settings stay.
async fn reload_files(
    sender: tokio::sync::watch::Sender<ServingTls>,
    mut current: Arc<TlsFiles>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = FailureLog::default();
    loop {
        ticks.tick().await;
        // Small files, read off the runtime's threads all the same.
        let files = Arc::clone(&current);
        let outcome = tokio::task::spawn_blocking(move || reload_once(&files)).await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => Reload::Failed(format!("reading the serving files failed: {error}")),
        };
        match outcome {
            Reload::Unchanged => failures.recovered(),
            Reload::Failed(failure) => {
                if failures.is_new(&failure) {
                    tracing::warn!(
                        error = %failure,
                        "not reloading the serving certificate, key and client CA files: keeping the ones in use"
                    );
                }
            }
            Reload::Built(tls) => {
                let Some(files) = tls.files.clone() else {
                    continue;
                };
                let changed = changed_files(&current, &files);
                tracing::info!(
                    files = %changed.join(", "),
                    client_ca_certificates = tls.client_ca().map_or(0, |ca| ca.ca_ids().count()),
                    "reloaded the serving TLS files: new connections use them"
                );
                current = files;
                failures.recovered();
                sender.send_replace(tls);
            }
        }
    }
}

/// Which failure was logged last, so each is logged once until another comes or the files
/// work again.
#[derive(Debug, Default)]
struct FailureLog {
    last: Option<String>,
}

impl FailureLog {
    /// Whether `failure` is to be logged (it differs from the one logged last).
    fn is_new(&mut self, failure: &str) -> bool {
        if self.last.as_deref() == Some(failure) {
            return false;
        }
        self.last = Some(failure.to_string());
        true
    }

    /// The files work (again): the next failure is logged whatever it is.
    fn recovered(&mut self) {
        self.last = None;
    }
}

/// What one look at the files found.
enum Reload {
    Unchanged,
    Built(ServingTls),
    Failed(String),
}

fn reload_once(files: &TlsFiles) -> Reload {
    let bytes = match files.read() {
        Ok(bytes) => bytes,
        Err(error) => return Reload::Failed(error.to_string()),
    };
    if bytes == files.bytes {
        return Reload::Unchanged;
    }
    match files.build(bytes) {
        Ok(tls) => Reload::Built(tls),
        Err(error) => Reload::Failed(error.to_string()),
    }
}

/// The paths whose bytes differ between two reads, for the log.
fn changed_files(before: &TlsFiles, after: &TlsFiles) -> Vec<String> {
    let mut changed = Vec::new();
    if before.bytes.cert != after.bytes.cert {
        changed.push(after.cert.display().to_string());
    }
    if before.bytes.key != after.bytes.key {
        changed.push(after.key.display().to_string());
    }
    if before.bytes.client_ca != after.bytes.client_ca
        && let Some(path) = &after.client_ca
    {
        changed.push(path.display().to_string());
    }
    changed
}

/// Offers client authentication and checks the handshake signatures (proof of key
/// possession) with WebPKI, but leaves the chain check to the x509 authenticator.
#[derive(Debug)]
struct DeferredChainVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    /// For the TLS 1.3 signature of a version 1 certificate, which WebPKI cannot read.
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for DeferredChainVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Checked per connection after the handshake, by `ClientCertAuthority::authenticate`.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let verified = self.inner.verify_tls13_signature(message, cert, dss);
        if verified.is_ok() {
            return verified;
        }
        // A v1 certificate (see authn::x509): check the signature with its key directly.
        // Over TLS 1.2 it still fails: rustls has no raw-key check for 1.2.
        match crate::authn::x509::v1_public_key(cert) {
            Some(spki) => rustls::crypto::verify_tls13_signature_with_raw_key(
                message,
                &SubjectPublicKeyInfoDer::from(spki),
                dss,
                &self.algorithms,
            ),
            None => verified,
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        // openssl-made keys in every format operators have (see that folder's make-fixtures.sh).
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/pki/tests/fixtures")
            .join(name)
    }

    #[test]
    fn keys_in_pkcs1_pkcs8_and_sec1_load() {
        for (cert, key) in [
            ("rsa-ca.pem", "rsa-ca-pkcs1.key"),
            ("rsa-ca.pem", "rsa-ca-pkcs8.key"),
            ("ec-ca.pem", "ec-ca-sec1.key"),
            ("ec-ca.pem", "ec-ca-pkcs8.key"),
            ("p384-ca.pem", "p384-ca-sec1.key"),
        ] {
            let tls = ServingTls::load(&fixture(cert), &fixture(key), Some(&fixture("ec-ca.pem")))
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            assert!(tls.client_ca().is_some());
            assert_eq!(tls.server_config().alpn_protocols[0], b"h2");
        }
        let mismatched = ServingTls::load(&fixture("rsa-ca.pem"), &fixture("ec-ca-sec1.key"), None)
            .expect_err("key of another certificate");
        assert!(
            mismatched.to_string().contains("ec-ca-sec1.key"),
            "{mismatched}"
        );
    }

    #[test]
    fn garbage_inputs_are_named_errors() {
        let err = ServingTls::from_pem(b"not pem", b"", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "serving certificate: no valid PEM CERTIFICATE block found"
        );
        let err =
            ServingTls::load(Path::new("/nonexistent/c.pem"), Path::new("/x"), None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("failed to read /nonexistent/c.pem: "),
            "{err}"
        );
    }

    /// One full TLS exchange in memory between a client and the apiserver's TLS settings;
    /// returns how the handshake went.
    fn handshake(
        client: &Arc<rustls::ClientConfig>,
        server: &Arc<ServerConfig>,
    ) -> rustls::HandshakeKind {
        let name = rustls_pki_types::ServerName::try_from("apiserver").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::clone(client), name).unwrap();
        let mut server = rustls::ServerConnection::new(Arc::clone(server)).unwrap();
        // Enough rounds for the handshake and anything the server sends after it (tickets).
        for _ in 0..6 {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).unwrap();
            server.read_tls(&mut bytes.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut bytes = Vec::new();
            server.write_tls(&mut bytes).unwrap();
            client.read_tls(&mut bytes.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        assert!(!client.is_handshaking() && !server.is_handshaking());
        client.handshake_kind().unwrap()
    }

    #[test]
    fn no_session_is_resumed() {
        let (ca, cert, key) = serving_pki("ca");
        let tls = ServingTls::from_pem(cert.as_bytes(), key.as_bytes(), None).unwrap();
        // A client that would resume (rustls' default session cache), as Go's need not.
        let client = client_trusting(&ca);
        let server = tls.server_config();
        assert_eq!(handshake(&client, &server), rustls::HandshakeKind::Full);
        assert_eq!(handshake(&client, &server), rustls::HandshakeKind::Full);

        // The same exchange against rustls' defaults resumes: the check above can fail.
        let mut resuming = (*server).clone();
        resuming.send_tls13_tickets = 2;
        resuming.session_storage = rustls::server::ServerSessionMemoryCache::new(16);
        let resuming = Arc::new(resuming);
        handshake(&client, &resuming);
        assert_eq!(
            handshake(&client, &resuming),
            rustls::HandshakeKind::Resumed
        );
    }

    /// A CA and a serving certificate of it, PEM.
    /// A client trusting `ca`, without a certificate, with rustls' default session cache.
    fn client_trusting(ca: &pki::CertificateAuthority) -> Arc<rustls::ClientConfig> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca.cert_pem().as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        Arc::new(
            rustls::ClientConfig::builder_with_provider(crypto_provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    fn serving_pki(name: &str) -> (pki::CertificateAuthority, String, String) {
        let day = std::time::Duration::from_secs(86_400);
        let ca =
            pki::CertificateAuthority::generate(name, pki::KeyAlgorithm::EcdsaP256, day).unwrap();
        let (cert, key) = ca
            .issue_leaf(&pki::LeafParams {
                common_name: "apiserver".into(),
                organizations: Vec::new(),
                dns: vec!["apiserver".into()],
                ips: Vec::new(),
                usages: vec![pki::Usage::DigitalSignature, pki::Usage::ServerAuth],
                validity: day,
            })
            .unwrap();
        (ca, cert, key)
    }

    async fn next_change(updates: &mut TlsUpdates) -> Option<ServingTls> {
        let changed = tokio::time::timeout(Duration::from_secs(5), updates.changed()).await;
        matches!(changed, Ok(Ok(()))).then(|| updates.borrow_and_update().clone())
    }

    fn ids(tls: &ServingTls) -> Vec<String> {
        tls.client_ca()
            .map(|ca| ca.ca_ids().map(|id| id.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn the_client_ca_text_is_the_files_or_its_certificates_encoded_afresh() {
        let (ca, cert, key) = serving_pki("ca");
        let bundle = format!("# the cluster CA\n{}", ca.cert_pem());
        let tls =
            ServingTls::from_pem(cert.as_bytes(), key.as_bytes(), Some(bundle.as_bytes())).unwrap();
        assert_eq!(tls.client_ca_pem().map(|pem| &**pem), Some(bundle.as_str()));
        // A comment in Latin-1 is not UTF-8: the certificate alone, re-encoded.
        let mut latin1 = b"# caf\xe9\n".to_vec();
        latin1.extend_from_slice(ca.cert_pem().as_bytes());
        let tls = ServingTls::from_pem(cert.as_bytes(), key.as_bytes(), Some(&latin1)).unwrap();
        assert_eq!(
            tls.client_ca_pem().map(|pem| &**pem),
            Some(ca.cert_pem().as_str())
        );
        let tls = ServingTls::from_pem(cert.as_bytes(), key.as_bytes(), None).unwrap();
        assert!(tls.client_ca_pem().is_none());
    }

    #[tokio::test]
    async fn files_are_reloaded_when_their_bytes_change_and_build() {
        let dir = tempfile::tempdir().unwrap();
        let (ca1, cert1, key1) = serving_pki("ca1");
        let (ca2, cert2, key2) = serving_pki("ca2");
        let (cert, key, client_ca) = (
            dir.path().join("tls.crt"),
            dir.path().join("tls.key"),
            dir.path().join("ca.crt"),
        );
        std::fs::write(&cert, &cert1).unwrap();
        std::fs::write(&key, &key1).unwrap();
        std::fs::write(&client_ca, ca1.cert_pem()).unwrap();
        let tls = ServingTls::load(&cert, &key, Some(&client_ca)).unwrap();
        assert!(tls.from_files());
        let first_ids = ids(&tls);
        assert_eq!(first_ids.len(), 1);
        let (mut updates, task) = reload(tls, Duration::from_millis(20));
        let task = tokio::spawn(task.expect("files are followed"));

        // Rewritten with the same bytes: nothing new.
        std::fs::write(&client_ca, ca1.cert_pem()).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(200), updates.changed())
                .await
                .is_err()
        );

        // The client CA becomes a bundle of both.
        std::fs::write(&client_ca, ca1.cert_pem() + &ca2.cert_pem()).unwrap();
        let both = next_change(&mut updates).await.expect("reloaded");
        assert_eq!(ids(&both).len(), 2);
        assert_eq!(ids(&both)[0], first_ids[0]);

        // Broken or missing files, and a key of another certificate: kept as they are.
        std::fs::write(&client_ca, "not a certificate").unwrap();
        std::fs::write(&key, &key2).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(200), updates.changed())
                .await
                .is_err()
        );
        std::fs::remove_file(&client_ca).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(200), updates.changed())
                .await
                .is_err()
        );
        assert_eq!(ids(&updates.borrow()), ids(&both));

        // Whole again, with the serving pair of the second CA.
        std::fs::write(&cert, &cert2).unwrap();
        std::fs::write(&client_ca, ca2.cert_pem()).unwrap();
        let second = next_change(&mut updates).await.expect("reloaded");
        assert_eq!(ids(&second).len(), 1);
        assert_ne!(ids(&second)[0], first_ids[0]);
        assert!(!Arc::ptr_eq(&second.server_config(), &both.server_config()));
        // The new serving certificate is the one handed out.
        let client = client_trusting(&ca2);
        assert_eq!(
            handshake(&client, &second.server_config()),
            rustls::HandshakeKind::Full
        );
        task.abort();
    }

    #[test]
    fn settings_from_memory_are_not_followed() {
        let (ca, cert, key) = serving_pki("ca");
        let tls = ServingTls::from_pem(
            cert.as_bytes(),
            key.as_bytes(),
            Some(ca.cert_pem().as_bytes()),
        )
        .unwrap();
        assert!(!tls.from_files());
        let (updates, task) = reload(tls, Duration::from_millis(20));
        assert!(task.is_none());
        assert_eq!(ids(&updates.borrow()).len(), 1);
    }

    #[test]
    fn each_failure_is_logged_once_until_it_changes_or_the_files_work() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = serving_pki("ca");
        let paths = [
            dir.path().join("tls.crt"),
            dir.path().join("tls.key"),
            dir.path().join("ca.crt"),
        ];
        std::fs::write(&paths[0], &cert).unwrap();
        std::fs::write(&paths[1], &key).unwrap();
        std::fs::write(&paths[2], ca.cert_pem()).unwrap();
        let tls = ServingTls::load(&paths[0], &paths[1], Some(&paths[2])).unwrap();
        let files = tls.files.clone().unwrap();
        assert!(matches!(reload_once(&files), Reload::Unchanged));

        let mut log = FailureLog::default();
        std::fs::write(&paths[2], "garbage").unwrap();
        let Reload::Failed(broken) = reload_once(&files) else {
            panic!("a broken client CA builds");
        };
        assert!(broken.contains("ca.crt"), "{broken}");
        assert!(log.is_new(&broken));
        assert!(!log.is_new(&broken));
        std::fs::remove_file(&paths[2]).unwrap();
        let Reload::Failed(missing) = reload_once(&files) else {
            panic!("a missing client CA builds");
        };
        assert!(missing.starts_with("failed to read "), "{missing}");
        assert!(log.is_new(&missing));
        assert!(!log.is_new(&missing));
        log.recovered();
        assert!(log.is_new(&missing));
    }
}
