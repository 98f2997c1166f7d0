//! A secure port's client CAs, followed while the port runs (decision 0029), as client-go's
//! `dynamiccertificates` let kube-controller-manager and the kubelet follow theirs: after a
//! CA rotation, client certificates of the new CA are accepted without a restart.
//!
//! [`ClientCa`] is the rustls client-certificate verifier of such a port. It asks for a
//! certificate chaining to its CAs but does not require one (the request is then
//! authenticated by token, or is anonymous). The CAs come from a [`ClientCaSource`]: the
//! port's `--client-ca-file`, or a bundle another task keeps current (the apiserver's
//! published client CA, `kube-system/extension-apiserver-authentication`, which
//! kube-controller-manager reads when it has no `--client-ca-file`). The source is looked at
//! on a handshake, at most once per interval (a small file read or a copy on the
//! handshake's thread, so no task to run or stop); when its bytes changed, the next
//! handshakes are verified with the new CAs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock, TryLockError};
use std::time::{Duration, Instant};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, UnixTime};

/// How often the source is looked at by default: as the apiserver's own `--client-ca-file`.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Client CAs that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientCaError {
    #[error("--client-ca-file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `from` names the source (`--client-ca-file <path>`, or the published bundle).
    #[error("{from}: no valid PEM CERTIFICATE block found")]
    NoCertificate { from: String },
    #[error("{from}: {source}")]
    Verifier {
        from: String,
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
}

/// Where a port's client CAs come from.
#[derive(Debug, Clone)]
pub enum ClientCaSource {
    /// `--client-ca-file`, read again when looked at.
    File(PathBuf),
    /// A bundle another task keeps current.
    Published(PublishedCa),
}

impl ClientCaSource {
    /// How errors and logs name it.
    fn describe(&self) -> String {
        match self {
            ClientCaSource::File(path) => format!("--client-ca-file {}", path.display()),
            ClientCaSource::Published(published) => published.name.to_string(),
        }
    }

    /// The current bundle; empty while a published one is not known yet.
    fn read(&self) -> Result<Vec<u8>, ClientCaError> {
        match self {
            ClientCaSource::File(path) => read(path),
            ClientCaSource::Published(published) => Ok(published.get()),
        }
    }
}

/// A PEM bundle set by whoever follows it (e.g. a ConfigMap watch) and read by [`ClientCa`].
/// Until it is first set, the port asks for no client certificate.
#[derive(Debug, Clone)]
pub struct PublishedCa {
    name: Arc<str>,
    pem: Arc<RwLock<Vec<u8>>>,
}

impl PublishedCa {
    /// `name` says where the bundle comes from, in logs and errors.
    pub fn new(name: &str) -> PublishedCa {
        PublishedCa {
            name: Arc::from(name),
            pem: Arc::new(RwLock::new(Vec::new())),
        }
    }

    /// The bundle from now on; the port's next handshakes (after its interval) use it.
    pub fn set(&self, pem: Vec<u8>) {
        *self.pem.write().unwrap_or_else(|e| e.into_inner()) = pem;
    }

    fn get(&self) -> Vec<u8> {
        self.pem.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The verifier of `pem` (from `source`, which errors name). An empty published bundle (not
/// known yet) asks for no client certificate.
fn verifier_of(
    source: &ClientCaSource,
    pem: &[u8],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, ClientCaError> {
    if pem.is_empty() && matches!(source, ClientCaSource::Published(_)) {
        return Ok(Arc::new(NoClientCa(Arc::clone(provider))));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem).flatten() {
        // A CA file may carry blocks that are no usable trust anchor; they are skipped.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(ClientCaError::NoCertificate {
            from: source.describe(),
        });
    }
    rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(provider),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|source_error| ClientCaError::Verifier {
        from: source.describe(),
        source: source_error,
    })
}

/// No CA yet: no client certificate is asked for. (rustls' own `no_client_auth` verifier
/// panics when asked for its hints, which [`ClientCa`] keeps for every verifier.)
#[derive(Debug)]
struct NoClientCa(Arc<CryptoProvider>);

impl ClientCertVerifier for NoClientCa {
    fn offer_client_auth(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Err(no_client_ca())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_client_ca())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_client_ca())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a certificate meets before any CA is known (rustls never asks then: no client
/// certificate is offered for).
fn no_client_ca() -> rustls::Error {
    rustls::Error::General("no client CA is known yet".into())
}

fn read(path: &Path) -> Result<Vec<u8>, ClientCaError> {
    std::fs::read(path).map_err(|source| ClientCaError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The client-certificate verifier of a secure port, following its [`ClientCaSource`].
///
/// The source is looked at on a handshake, at most once per interval. New bytes that hold a
/// usable CA replace the verifier for the handshakes that follow; a source that no longer
/// reads or parses, or holds no certificate, is logged once per distinct failure and the
/// last good CAs stay. Connections already open are not closed and keep the identity they
/// were verified with (unlike the apiserver's, decision 0029): only new handshakes see the
/// new CAs, so a CA removed from the source stops new connections, not open ones.
#[derive(Debug)]
pub struct ClientCa {
    source: ClientCaSource,
    provider: Arc<CryptoProvider>,
    interval: Duration,
    current: RwLock<Current>,
    /// Every distinct list of root hints used so far (see [`Hints`]).
    hints: Hints,
    state: Mutex<SourceState>,
}

#[derive(Debug)]
struct Current {
    verifier: Arc<dyn ClientCertVerifier>,
    /// Which of [`ClientCa::hints`] goes with `verifier`.
    hints: usize,
}

#[derive(Debug)]
struct SourceState {
    next_check: Instant,
    /// The bytes `current` was built from.
    bytes: Vec<u8>,
    /// The failure logged last, so each is logged once until the source works again.
    last_failure: Option<String>,
}

/// What one [`ClientCa::check`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Not looked at: the interval has not passed, or another handshake is looking.
    NotDue,
    Unchanged,
    Reloaded,
    /// The source cannot be used; the last good CAs stay. `logged`: a new failure.
    Failed {
        logged: bool,
    },
}

impl ClientCa {
    /// Reads `path`, looked at again at most every [`DEFAULT_RELOAD_INTERVAL`]. A file that
    /// cannot be used is an error naming it.
    pub fn load(path: &Path, provider: Arc<CryptoProvider>) -> Result<ClientCa, ClientCaError> {
        ClientCa::with_interval(path, provider, DEFAULT_RELOAD_INTERVAL)
    }

    /// [`ClientCa::load`], looked at again at most every `interval` (zero: on every
    /// handshake).
    pub fn with_interval(
        path: &Path,
        provider: Arc<CryptoProvider>,
        interval: Duration,
    ) -> Result<ClientCa, ClientCaError> {
        ClientCa::from_source(ClientCaSource::File(path.to_path_buf()), provider, interval)
    }

    /// The CAs of `source`, looked at again at most every `interval`. A file that cannot be
    /// used is an error; a published bundle not known yet is not (no client certificate is
    /// asked for until it is).
    pub fn from_source(
        source: ClientCaSource,
        provider: Arc<CryptoProvider>,
        interval: Duration,
    ) -> Result<ClientCa, ClientCaError> {
        let bytes = source.read()?;
        let verifier = verifier_of(&source, &bytes, &provider)?;
        let hints = Hints::new(verifier.root_hint_subjects());
        Ok(ClientCa {
            source,
            provider,
            interval,
            current: RwLock::new(Current { verifier, hints: 0 }),
            hints,
            state: Mutex::new(SourceState {
                next_check: Instant::now() + interval,
                bytes,
                last_failure: None,
            }),
        })
    }

    pub fn source(&self) -> &ClientCaSource {
        &self.source
    }

    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&current.verifier)
    }

    /// Looks at the source when the interval has passed; swaps in a verifier of new bytes.
    pub(crate) fn check(&self) -> Checked {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Checked::NotDue,
        };
        let now = Instant::now();
        if now < state.next_check {
            return Checked::NotDue;
        }
        state.next_check = now + self.interval;
        let built = self.source.read().and_then(|bytes| {
            if bytes == state.bytes {
                return Ok(None);
            }
            let verifier = verifier_of(&self.source, &bytes, &self.provider)?;
            Ok(Some((bytes, verifier)))
        });
        match built {
            Ok(None) => {
                state.last_failure = None;
                Checked::Unchanged
            }
            Ok(Some((bytes, verifier))) => {
                let hints = self.hints.index_of(verifier.root_hint_subjects());
                *self.current.write().unwrap_or_else(|e| e.into_inner()) =
                    Current { verifier, hints };
                state.bytes = bytes;
                state.last_failure = None;
                tracing::info!(
                    from = %self.source.describe(),
                    "client CA changed: new connections are verified with it"
                );
                Checked::Reloaded
            }
            Err(error) => {
                let failure = error.to_string();
                let logged = state.last_failure.as_deref() != Some(failure.as_str());
                if logged {
                    tracing::warn!(
                        %error,
                        "client CA changed but cannot be used: keeping the CAs in use"
                    );
                    state.last_failure = Some(failure);
                }
                Checked::Failed { logged }
            }
        }
    }
}

impl ClientCertVerifier for ClientCa {
    fn offer_client_auth(&self) -> bool {
        // The first call of each handshake (rustls asks when the connection is made).
        self.check();
        self.verifier().offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.verifier().client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        let index = self.current.read().unwrap_or_else(|e| e.into_inner()).hints;
        self.hints.nth(index)
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier().supported_verify_schemes()
    }
}

/// The root hint lists (the CAs' subjects, sent in the certificate request) of every CA set
/// used so far. rustls borrows `root_hint_subjects` for as long as the verifier, so a list
/// cannot be dropped when the verifier is swapped: each is kept in an append-only chain. A
/// list seen before is found again, so the chain grows only with distinct CA sets.
#[derive(Debug)]
struct Hints {
    names: Vec<DistinguishedName>,
    next: OnceLock<Box<Hints>>,
}

impl Hints {
    fn new(names: &[DistinguishedName]) -> Hints {
        Hints {
            names: names.to_vec(),
            next: OnceLock::new(),
        }
    }

    fn nth(&self, index: usize) -> &[DistinguishedName] {
        let mut hints = self;
        for _ in 0..index {
            match hints.next.get() {
                Some(next) => hints = next,
                None => break,
            }
        }
        &hints.names
    }

    /// The index of `names`, appended when new.
    fn index_of(&self, names: &[DistinguishedName]) -> usize {
        let same = |a: &[DistinguishedName]| {
            a.len() == names.len() && a.iter().zip(names).all(|(a, b)| a.as_ref() == b.as_ref())
        };
        let mut hints = self;
        let mut index = 0;
        while !same(&hints.names) {
            hints = hints.next.get_or_init(|| Box::new(Hints::new(names)));
            index += 1;
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn ca(name: &str) -> pki::CertificateAuthority {
        pki::CertificateAuthority::generate(
            name,
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    /// A client certificate of `ca`, DER.
    fn leaf(ca: &pki::CertificateAuthority) -> CertificateDer<'static> {
        let (cert_pem, _) = ca
            .issue_leaf(&pki::LeafParams {
                common_name: "system:node:n1".into(),
                organizations: vec!["system:nodes".into()],
                dns: Vec::new(),
                ips: Vec::new(),
                usages: vec![pki::Usage::DigitalSignature, pki::Usage::ClientAuth],
                validity: Duration::from_secs(3600),
            })
            .unwrap();
        CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()
    }

    /// Writes aside and renames over, as deployment tools do.
    fn replace(path: &Path, contents: impl AsRef<[u8]>) {
        let aside = path.with_extension("new");
        std::fs::write(&aside, contents).unwrap();
        std::fs::rename(&aside, path).unwrap();
    }

    /// Whether a handshake presenting `cert` would pass, as rustls asks.
    fn accepts(verifier: &ClientCa, cert: &CertificateDer<'_>) -> bool {
        assert!(verifier.offer_client_auth());
        verifier
            .verify_client_cert(cert, &[], UnixTime::now())
            .is_ok()
    }

    #[test]
    fn start_up_fails_on_a_file_it_cannot_use_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client-ca.pem");
        assert!(matches!(
            ClientCa::load(&path, provider()),
            Err(ClientCaError::Read { .. })
        ));
        std::fs::write(&path, "not pem").unwrap();
        let err = ClientCa::load(&path, provider()).err().unwrap();
        assert!(matches!(err, ClientCaError::NoCertificate { .. }));
        assert!(err.to_string().contains("client-ca.pem"), "{err}");
        std::fs::write(&path, ca("client-ca").cert_pem()).unwrap();
        let verifier = ClientCa::load(&path, provider()).unwrap();
        assert!(!verifier.client_auth_mandatory());
        assert_eq!(verifier.root_hint_subjects().len(), 1);
    }

    #[test]
    fn a_ca_added_to_the_file_is_trusted_by_the_next_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client-ca.pem");
        let (ca1, ca2) = (ca("ca-1"), ca("ca-2"));
        replace(&path, ca1.cert_pem());
        let verifier = ClientCa::with_interval(&path, provider(), Duration::ZERO).unwrap();
        assert!(accepts(&verifier, &leaf(&ca1)));
        assert!(!accepts(&verifier, &leaf(&ca2)), "CA2 is not trusted yet");
        assert_eq!(verifier.check(), Checked::Unchanged);

        replace(&path, format!("{}{}", ca1.cert_pem(), ca2.cert_pem()));
        assert!(accepts(&verifier, &leaf(&ca2)));
        assert!(accepts(&verifier, &leaf(&ca1)));
        assert_eq!(verifier.root_hint_subjects().len(), 2, "the hints follow");

        // Retired: CA1 alone is refused again; its hints are the first list, found again.
        replace(&path, ca2.cert_pem());
        assert!(!accepts(&verifier, &leaf(&ca1)));
        assert_eq!(verifier.root_hint_subjects().len(), 1);
        replace(&path, format!("{}{}", ca1.cert_pem(), ca2.cert_pem()));
        assert!(accepts(&verifier, &leaf(&ca1)));
        assert_eq!(
            verifier.current.read().unwrap().hints,
            1,
            "reused, not appended"
        );
    }

    #[test]
    fn the_file_is_read_at_most_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client-ca.pem");
        let (ca1, ca2) = (ca("ca-1"), ca("ca-2"));
        replace(&path, ca1.cert_pem());
        let verifier =
            ClientCa::with_interval(&path, provider(), Duration::from_secs(3600)).unwrap();
        replace(&path, format!("{}{}", ca1.cert_pem(), ca2.cert_pem()));
        assert_eq!(verifier.check(), Checked::NotDue);
        assert!(
            !accepts(&verifier, &leaf(&ca2)),
            "not looked at before the hour"
        );
        // The interval passed: the next handshake reads it, and then not again for an hour.
        verifier.state.lock().unwrap().next_check = Instant::now();
        assert!(accepts(&verifier, &leaf(&ca2)));
        replace(&path, ca1.cert_pem());
        assert_eq!(verifier.check(), Checked::NotDue);
        assert!(accepts(&verifier, &leaf(&ca2)));
    }

    #[test]
    fn a_broken_or_removed_file_keeps_the_last_good_cas_and_is_logged_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client-ca.pem");
        let (ca1, ca2) = (ca("ca-1"), ca("ca-2"));
        let both = format!("{}{}", ca1.cert_pem(), ca2.cert_pem());
        replace(&path, &both);
        let verifier = ClientCa::with_interval(&path, provider(), Duration::ZERO).unwrap();

        replace(&path, "not a certificate");
        assert_eq!(verifier.check(), Checked::Failed { logged: true });
        assert_eq!(verifier.check(), Checked::Failed { logged: false });
        assert!(accepts(&verifier, &leaf(&ca1)));
        assert!(accepts(&verifier, &leaf(&ca2)));
        assert_eq!(verifier.root_hint_subjects().len(), 2);

        // Another failure is logged too.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(verifier.check(), Checked::Failed { logged: true });
        assert_eq!(verifier.check(), Checked::Failed { logged: false });
        assert!(accepts(&verifier, &leaf(&ca1)));
        assert!(accepts(&verifier, &leaf(&ca2)));

        // Back with the same bytes: nothing to swap; a later failure is logged again.
        replace(&path, &both);
        assert_eq!(verifier.check(), Checked::Unchanged);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(verifier.check(), Checked::Failed { logged: true });

        // A file that works again is used.
        replace(&path, ca1.cert_pem());
        assert_eq!(verifier.check(), Checked::Reloaded);
        assert!(!accepts(&verifier, &leaf(&ca2)));
    }

    #[test]
    fn a_published_bundle_is_asked_for_once_it_is_known_and_followed() {
        let published =
            PublishedCa::new("configmap kube-system/extension-apiserver-authentication");
        let verifier = ClientCa::from_source(
            ClientCaSource::Published(published.clone()),
            provider(),
            Duration::ZERO,
        )
        .unwrap();
        // Not known yet: no client certificate is asked for (tokens still work).
        assert!(!verifier.offer_client_auth());

        let (ca1, ca2) = (ca("ca-1"), ca("ca-2"));
        published.set(ca1.cert_pem().into_bytes());
        assert!(accepts(&verifier, &leaf(&ca1)));
        assert!(!accepts(&verifier, &leaf(&ca2)));

        published.set(format!("{}{}", ca1.cert_pem(), ca2.cert_pem()).into_bytes());
        assert!(accepts(&verifier, &leaf(&ca2)));

        // A broken bundle keeps the CAs in use, and the error names the source.
        published.set(b"not pem".to_vec());
        assert_eq!(verifier.check(), Checked::Failed { logged: true });
        assert!(accepts(&verifier, &leaf(&ca2)));
        let error = verifier_of(verifier.source(), b"not pem", &provider())
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .starts_with("configmap kube-system/extension-apiserver-authentication: "),
            "{error}"
        );
    }
}
