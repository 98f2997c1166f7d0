//! Command-line flags, named as kube-controller-manager names them, and their validation into a
//! [`Config`]: files are read and parsed here, so every bad input is one start-up error.

pub use cli::LogFormat;
use cli::{
    DurationError, FeatureGateFlag, FeatureGates, parse_feature_gates, parse_go_bool,
    parse_go_duration,
};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Parser};
use client::client_ca::{ClientCaSource, PublishedCa};
use client::delegated::CacheTtls;

use crate::ca_provider::DynamicCa;
use crate::client_ca_lookup;
use crate::controllers::{EnabledControllers, UnknownController};
use crate::leader::LeaderElectionConfig;
use crate::root_ca_publisher::RootCaBundle;
use crate::serving::{PortClientCa, ServingTls, ServingTlsError};

/// The raw flags.
#[derive(Debug, Parser)]
#[command(
    name = "controller-manager",
    version,
    about = "kube-controller-manager's certificate controllers (csrapproving, csrsigning, csrcleaner)"
)]
pub struct Args {
    /// Path to kubeconfig file with authorization and master location information.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Filename containing a PEM-encoded X509 CA certificate used to issue cluster-scoped
    /// certificates. If specified, no more specific --cluster-signing-* flag may be specified.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_cert_file: Option<PathBuf>,
    /// Filename containing a PEM-encoded RSA or ECDSA private key used to sign cluster-scoped
    /// certificates. If specified, no more specific --cluster-signing-* flag may be specified.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_key_file: Option<PathBuf>,

    /// CA certificate for the kubernetes.io/kube-apiserver-client-kubelet signer.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_kubelet_client_cert_file: Option<PathBuf>,
    /// CA key for the kubernetes.io/kube-apiserver-client-kubelet signer.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_kubelet_client_key_file: Option<PathBuf>,
    /// CA certificate for the kubernetes.io/kubelet-serving signer.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_kubelet_serving_cert_file: Option<PathBuf>,
    /// CA key for the kubernetes.io/kubelet-serving signer.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_kubelet_serving_key_file: Option<PathBuf>,
    /// CA certificate for the kubernetes.io/kube-apiserver-client signer.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_kube_apiserver_client_cert_file: Option<PathBuf>,
    /// CA key for the kubernetes.io/kube-apiserver-client signer.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_kube_apiserver_client_key_file: Option<PathBuf>,
    /// CA certificate for the kubernetes.io/legacy-unknown signer.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_legacy_unknown_cert_file: Option<PathBuf>,
    /// CA key for the kubernetes.io/legacy-unknown signer.
    #[arg(long, value_name = "FILE")]
    pub cluster_signing_legacy_unknown_key_file: Option<PathBuf>,

    /// If set, this root certificate authority will be included in service account's token
    /// secret. This must be a valid PEM-encoded CA bundle. Here: the bundle the
    /// root-ca-cert-publisher puts in `kube-root-ca.crt` in every namespace (re-read when it
    /// changes); without it, the CA of --kubeconfig is published, as upstream.
    #[arg(long, value_name = "FILE")]
    pub root_ca_file: Option<PathBuf>,

    /// The max length of duration signed certificates will be given (Go duration syntax).
    #[arg(long, value_name = "DURATION", default_value = "8760h0m0s")]
    pub cluster_signing_duration: String,

    /// Ours: this long after a node renews its client certificate, revoke its older ones (a
    /// CertificateRevocation <node>-superseded). 0 keeps them valid until they expire, as
    /// upstream does. At most 1h: issued CSRs are deleted after an hour.
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub supersede_rotated_client_certificates_after: String,

    /// A list of controllers to enable. '*' enables all on-by-default controllers, 'foo'
    /// enables the controller named 'foo', '-foo' disables the controller named 'foo'.
    #[arg(long, value_name = "NAMES", default_value = "*", value_delimiter = ',')]
    pub controllers: Vec<String>,

    /// Start a leader election client and gain leadership before executing the main loop.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub leader_elect: bool,
    /// How long non-leader candidates wait after observing a leadership renewal before trying
    /// to take over.
    #[arg(long, value_name = "DURATION", default_value = "15s")]
    pub leader_elect_lease_duration: String,
    /// How long the acting leader keeps retrying to renew before it stops leading.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub leader_elect_renew_deadline: String,
    /// How long clients wait between attempts to acquire and renew leadership.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub leader_elect_retry_period: String,
    /// The name of the Lease used for leader election.
    #[arg(long, value_name = "NAME", default_value = "kube-controller-manager")]
    pub leader_elect_resource_name: String,
    /// The namespace of the Lease used for leader election.
    #[arg(long, value_name = "NAMESPACE", default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,

    /// Workers per controller (upstream runs 5 for csrapproving and for each signer).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrent_workers: u16,

    /// The port on which to serve HTTPS /healthz and /metrics; 0 disables it.
    #[arg(long, value_name = "PORT", default_value_t = 10257)]
    pub secure_port: u16,
    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// File containing the default x509 serving certificate; a self-signed one is generated in
    /// memory when absent.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// File containing the x509 private key matching --tls-cert-file.
    #[arg(long, value_name = "FILE")]
    pub tls_private_key_file: Option<PathBuf>,
    /// If set, any request to the secure port presenting a client certificate signed by one
    /// of the authorities in this file is authenticated with an identity corresponding to the
    /// CommonName of the client certificate. Re-read when it changes (new connections).
    #[arg(long, value_name = "FILE")]
    pub client_ca_file: Option<PathBuf>,
    /// kubeconfig file pointing at the 'core' kubernetes server with enough rights to create
    /// tokenreviews.authentication.k8s.io. Without it, bearer tokens are not looked at.
    #[arg(long, value_name = "FILE")]
    pub authentication_kubeconfig: Option<PathBuf>,
    /// If false, the authentication-kubeconfig will be used to lookup missing authentication
    /// configuration from the cluster: without --client-ca-file, the client CA the apiserver
    /// publishes in kube-system/extension-apiserver-authentication (followed as it changes).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub authentication_skip_lookup: bool,
    /// kubeconfig file pointing at the 'core' kubernetes server with enough rights to create
    /// subjectaccessreviews.authorization.k8s.io. Without it, all requests not skipped by
    /// authorization are forbidden.
    #[arg(long, value_name = "FILE")]
    pub authorization_kubeconfig: Option<PathBuf>,
    /// A list of HTTP paths to skip during authorization, i.e. these are authorized without
    /// contacting the 'core' kubernetes server.
    #[arg(
        long,
        value_name = "PATHS",
        value_delimiter = ',',
        default_value = "/healthz,/readyz,/livez"
    )]
    pub authorization_always_allow_paths: Vec<String>,
    /// The duration to cache responses from the webhook token authenticator.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub authentication_token_webhook_cache_ttl: String,
    /// The duration to cache 'authorized' responses from the webhook authorizer.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub authorization_webhook_cache_authorized_ttl: String,
    /// The duration to cache 'unauthorized' responses from the webhook authorizer.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub authorization_webhook_cache_unauthorized_ttl: String,

    /// A set of key=value pairs that describe feature gates, e.g.
    /// RotateKubeletServerCertificate=true (upstream's name list; that gate runs csrapproving's
    /// selfnodeserver recognizer). Known gates: RotateKubeletClientCertificate=true|false
    /// (GA - default=true, locked), RotateKubeletServerCertificate=true|false (BETA -
    /// default=true); AllAlpha and AllBeta set every alpha or beta gate.
    #[arg(long, value_name = "NAME=BOOL,...", value_parser = parse_feature_gates,
          action = ArgAction::Append)]
    pub feature_gates: Vec<FeatureGateFlag>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log level verbosity, as klog's -v (0-1 info, 2-4 debug, 5+ trace).
    #[arg(short = 'v', long = "v", value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u8,

    /// How often csrcleaner passes over all CSRs (upstream: a fixed 1h). For tests.
    #[arg(long, value_name = "DURATION", default_value = "1h", hide = true)]
    pub csr_cleaner_interval: String,
    /// How often the signing CA files, the --root-ca-file, the kubeconfigs and the
    /// --client-ca-file are checked for changes.
    #[arg(long, value_name = "DURATION", default_value = "5s", hide = true)]
    pub cluster_signing_reload_interval: String,
}

/// A flag or file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("--kubeconfig is required (in-cluster configuration is not supported)")]
    KubeconfigRequired,
    #[error("invalid --kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kubeconfig::KubeconfigError,
    },
    #[error("invalid --{flag} {path}: {source}")]
    DelegationKubeconfig {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: Box<kubeconfig::KubeconfigError>,
    },
    #[error("invalid argument for --{flag}: {source}")]
    Duration {
        flag: &'static str,
        #[source]
        source: DurationError,
    },
    #[error("--{flag} must be greater than zero")]
    ZeroDuration { flag: &'static str },
    #[error("--{flag} must be at most 1h: issued CSRs are deleted after an hour")]
    SupersedeGraceTooLong { flag: &'static str },
    #[error("{0}")]
    Controllers(#[from] UnknownController),
    /// Upstream's words when the global pair and a per-signer pair are both given.
    #[error("cannot specify default and per controller certs at the same time")]
    MixedSigningFiles,
    #[error("--{cert_flag} and --{key_flag} must be specified together")]
    HalfSigningPair { cert_flag: String, key_flag: String },
    #[error("failed to load the {signer} signing CA: {source}")]
    SigningCa {
        signer: &'static str,
        #[source]
        source: pki::PkiError,
    },
    /// Upstream's words come first in the message.
    #[error("{0}")]
    RootCaFile(String),
    #[error("{0}")]
    LeaderElection(String),
    #[error("{0}")]
    ServingTls(#[from] ServingTlsError),
}

/// One signer and the files of its CA.
#[derive(Debug, Clone)]
pub struct SignerFiles {
    pub signer: &'static str,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// The csrsigning settings.
#[derive(Debug, Clone)]
pub struct SigningConfig {
    /// The signers we hold a CA for; several may share one `DynamicCa`.
    pub cas: Vec<(&'static str, Arc<DynamicCa>)>,
    /// `--cluster-signing-duration`.
    pub duration: Duration,
    /// How often the CA files are checked for changes.
    pub reload_interval: Duration,
    /// `--supersede-rotated-client-certificates-after`; `None` when 0.
    pub supersede_after: Option<Duration>,
}

/// `--authentication-kubeconfig`, `--authorization-kubeconfig` and
/// `--authorization-always-allow-paths`, resolved.
#[derive(Debug, Clone)]
pub struct DelegationConfig {
    pub authentication: Option<kubeconfig::ResolvedConfig>,
    /// The port's client CA, looked up in the cluster with the authentication kubeconfig
    /// (`--authentication-skip-lookup=false` without `--client-ca-file`).
    pub client_ca_lookup: Option<PublishedCa>,
    pub authorization: Option<kubeconfig::ResolvedConfig>,
    pub always_allow_paths: Vec<String>,
    pub cache_ttls: CacheTtls,
}

impl Default for DelegationConfig {
    /// Upstream's defaults: no kubeconfigs, health paths always allowed.
    fn default() -> Self {
        DelegationConfig {
            authentication: None,
            client_ca_lookup: None,
            authorization: None,
            always_allow_paths: ["/healthz", "/readyz", "/livez"]
                .map(str::to_string)
                .to_vec(),
            cache_ttls: CacheTtls::DELEGATING,
        }
    }
}

/// The files the kubeconfigs were read from, re-read when they change (all `None` in tests
/// that build a [`Config`] by hand: nothing is re-read).
#[derive(Debug, Clone, Default)]
pub struct KubeconfigFiles {
    pub kubeconfig: Option<PathBuf>,
    pub authentication: Option<PathBuf>,
    pub authorization: Option<PathBuf>,
}

/// Validated settings of one run. Tests build it by hand.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the apiserver is and who we are.
    pub api: kubeconfig::ResolvedConfig,
    pub controllers: EnabledControllers,
    pub signing: SigningConfig,
    /// Workers per controller.
    pub workers: usize,
    /// `None` with `--leader-elect=false`.
    pub leader_election: Option<LeaderElectionConfig>,
    /// `None` with `--secure-port=0`.
    pub serving: Option<ServingTls>,
    /// Who may read the secure port (see `delegated`).
    pub delegation: DelegationConfig,
    pub cleaner_interval: Duration,
    /// Most distinct CSR names queued per controller before the watch is made to wait.
    pub queue_capacity: usize,
    /// `--feature-gates`, logged at start-up; `RotateKubeletServerCertificate` runs `selfnodeserver`.
    pub feature_gates: FeatureGates,
    /// `--root-ca-file`, loaded when root-ca-cert-publisher runs (without it, that controller
    /// publishes the CA of `api`).
    pub root_ca: Option<Arc<RootCaBundle>>,
    /// Where `api` and the delegation kubeconfigs came from.
    pub kubeconfig_files: KubeconfigFiles,
}

impl Config {
    /// Settings for `api` with the flag defaults and no signing CA.
    pub fn new(api: kubeconfig::ResolvedConfig) -> Config {
        Config {
            api,
            controllers: EnabledControllers::DEFAULT,
            signing: SigningConfig {
                cas: Vec::new(),
                duration: Duration::from_secs(8760 * 3600),
                reload_interval: Duration::from_secs(5),
                supersede_after: None,
            },
            workers: 5,
            leader_election: None,
            serving: None,
            delegation: DelegationConfig::default(),
            cleaner_interval: Duration::from_secs(3600),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            feature_gates: FeatureGates::default(),
            root_ca: None,
            kubeconfig_files: KubeconfigFiles::default(),
        }
    }
}

/// The `kubernetes.io` signers this controller-manager can sign for, with the middle of
/// their per-signer flags (`--cluster-signing-<stem>-cert-file`), in upstream's order.
pub const SIGNER_FLAG_STEMS: [(&str, &str); 4] = [
    (pki::signer::KUBE_APISERVER_CLIENT_KUBELET, "kubelet-client"),
    (pki::signer::KUBELET_SERVING, "kubelet-serving"),
    (pki::signer::KUBE_APISERVER_CLIENT, "kube-apiserver-client"),
    (pki::signer::LEGACY_UNKNOWN, "legacy-unknown"),
];

/// The per-signer flag stem of `signer`; `None` for a signer that is not ours to sign for.
pub fn signer_flag_stem(signer: &str) -> Option<&'static str> {
    SIGNER_FLAG_STEMS
        .iter()
        .find(|(name, _)| *name == signer)
        .map(|(_, stem)| *stem)
}

/// Enough for a bootstrap storm of thousands of nodes; the watch waits beyond it.
pub const DEFAULT_QUEUE_CAPACITY: usize = 100_000;

impl Args {
    /// `--supersede-rotated-client-certificates-after`: 0 is off, more than an hour refused.
    fn supersede_after(&self) -> Result<Option<Duration>, ConfigError> {
        const FLAG: &str = "supersede-rotated-client-certificates-after";
        let grace = ttl_flag(FLAG, &self.supersede_rotated_client_certificates_after)?;
        if grace > crate::supersede::MAX_GRACE {
            return Err(ConfigError::SupersedeGraceTooLong { flag: FLAG });
        }
        Ok((!grace.is_zero()).then_some(grace))
    }
}

fn duration_flag(flag: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let d = parse_go_duration(value).map_err(|source| ConfigError::Duration { flag, source })?;
    if d.is_zero() {
        return Err(ConfigError::ZeroDuration { flag });
    }
    Ok(d)
}

/// A cache TTL: zero is allowed and turns the cache off.
fn ttl_flag(flag: &'static str, value: &str) -> Result<Duration, ConfigError> {
    parse_go_duration(value).map_err(|source| ConfigError::Duration { flag, source })
}

impl Args {
    /// The per-signer flag pairs, in upstream's order.
    fn per_signer_pairs(&self) -> [(&'static str, &'static str, Option<&Path>, Option<&Path>); 4] {
        let files = [
            (
                self.cluster_signing_kubelet_client_cert_file.as_deref(),
                self.cluster_signing_kubelet_client_key_file.as_deref(),
            ),
            (
                self.cluster_signing_kubelet_serving_cert_file.as_deref(),
                self.cluster_signing_kubelet_serving_key_file.as_deref(),
            ),
            (
                self.cluster_signing_kube_apiserver_client_cert_file
                    .as_deref(),
                self.cluster_signing_kube_apiserver_client_key_file
                    .as_deref(),
            ),
            (
                self.cluster_signing_legacy_unknown_cert_file.as_deref(),
                self.cluster_signing_legacy_unknown_key_file.as_deref(),
            ),
        ];
        std::array::from_fn(|i| {
            let (signer, stem) = SIGNER_FLAG_STEMS[i];
            let (cert, key) = files[i];
            (signer, stem, cert, key)
        })
    }

    /// Which files sign for which signer (upstream's `getKubeletClientSignerFiles` & co).
    pub fn signer_files(&self) -> Result<Vec<SignerFiles>, ConfigError> {
        let pairs = self.per_signer_pairs();
        let any_specific = pairs.iter().any(|p| p.2.is_some() || p.3.is_some());
        let any_global =
            self.cluster_signing_cert_file.is_some() || self.cluster_signing_key_file.is_some();
        if any_specific && any_global {
            return Err(ConfigError::MixedSigningFiles);
        }
        let half = |name: &str| ConfigError::HalfSigningPair {
            cert_flag: format!("cluster-signing-{name}cert-file"),
            key_flag: format!("cluster-signing-{name}key-file"),
        };
        if any_global {
            let (Some(cert), Some(key)) = (
                &self.cluster_signing_cert_file,
                &self.cluster_signing_key_file,
            ) else {
                return Err(half(""));
            };
            return Ok(pairs
                .iter()
                .map(|(signer, ..)| SignerFiles {
                    signer,
                    cert_file: cert.clone(),
                    key_file: key.clone(),
                })
                .collect());
        }
        let mut files = Vec::new();
        for (signer, name, cert, key) in pairs {
            match (cert, key) {
                (Some(cert), Some(key)) => files.push(SignerFiles {
                    signer,
                    cert_file: cert.to_path_buf(),
                    key_file: key.to_path_buf(),
                }),
                (None, None) => {}
                _ => return Err(half(&format!("{name}-"))),
            }
        }
        Ok(files)
    }

    /// Validates everything and loads the files.
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let path = self
            .kubeconfig
            .as_ref()
            .ok_or(ConfigError::KubeconfigRequired)?;
        let kubeconfig_error = |source| ConfigError::Kubeconfig {
            path: path.clone(),
            source,
        };
        let api = kubeconfig::Kubeconfig::load(path)
            .and_then(|k| k.resolve(None))
            .map_err(kubeconfig_error)?;

        let (controllers, not_here) = EnabledControllers::parse(&self.controllers)?;
        for name in not_here {
            tracing::warn!(controller = %name, "controller is not implemented by this controller-manager; ignored");
        }

        let duration = duration_flag("cluster-signing-duration", &self.cluster_signing_duration)?;
        let reload_interval = duration_flag(
            "cluster-signing-reload-interval",
            &self.cluster_signing_reload_interval,
        )?;
        let mut cas: Vec<(&'static str, Arc<DynamicCa>)> = Vec::new();
        if controllers.signing {
            // Signers named with the same files share one loaded CA.
            let mut loaded: Vec<(SignerFiles, Arc<DynamicCa>)> = Vec::new();
            for files in self.signer_files()? {
                let shared = loaded
                    .iter()
                    .find(|(f, _)| f.cert_file == files.cert_file && f.key_file == files.key_file);
                let ca = match shared {
                    Some((_, ca)) => Arc::clone(ca),
                    None => Arc::new(DynamicCa::load(&files.cert_file, &files.key_file).map_err(
                        |source| ConfigError::SigningCa {
                            signer: files.signer,
                            source,
                        },
                    )?),
                };
                cas.push((files.signer, Arc::clone(&ca)));
                loaded.push((files, ca));
            }
        }

        // Upstream reads it when the controller starts; a bad file fails the start.
        let root_ca = match &self.root_ca_file {
            Some(path) if controllers.root_ca_publisher => Some(Arc::new(
                RootCaBundle::load(path).map_err(ConfigError::RootCaFile)?,
            )),
            _ => None,
        };

        let leader_election = if self.leader_elect {
            let config = LeaderElectionConfig {
                namespace: self.leader_elect_resource_namespace.clone(),
                name: self.leader_elect_resource_name.clone(),
                identity: crate::leader::default_identity(),
                lease_duration: duration_flag(
                    "leader-elect-lease-duration",
                    &self.leader_elect_lease_duration,
                )?,
                renew_deadline: duration_flag(
                    "leader-elect-renew-deadline",
                    &self.leader_elect_renew_deadline,
                )?,
                retry_period: duration_flag(
                    "leader-elect-retry-period",
                    &self.leader_elect_retry_period,
                )?,
            };
            config.validate().map_err(ConfigError::LeaderElection)?;
            Some(config)
        } else {
            None
        };

        // Upstream's delegated authentication looks the client CA up in the cluster when
        // the flag does not give it (`--authentication-skip-lookup=false`, the default).
        let published_client_ca = (self.secure_port != 0
            && self.client_ca_file.is_none()
            && self.authentication_kubeconfig.is_some()
            && !self.authentication_skip_lookup)
            .then(|| PublishedCa::new(client_ca_lookup::SOURCE_NAME));
        let serving = if self.secure_port == 0 {
            None
        } else {
            let address = SocketAddr::new(self.bind_address, self.secure_port);
            let source = match (&self.client_ca_file, &published_client_ca) {
                (Some(path), _) => Some(ClientCaSource::File(path.clone())),
                (None, Some(published)) => Some(ClientCaSource::Published(published.clone())),
                (None, None) => None,
            };
            let client_ca = source.map(|source| PortClientCa {
                source,
                reload_interval,
            });
            Some(match (&self.tls_cert_file, &self.tls_private_key_file) {
                (Some(cert), Some(key)) => ServingTls::load(address, cert, key, client_ca)?,
                (None, None) => ServingTls::self_signed(address, client_ca)?,
                _ => return Err(ServingTlsError::HalfPair.into()),
            })
        };
        let delegation_kubeconfig = |flag: &'static str, path: &Option<PathBuf>| {
            path.as_ref()
                .map(|path| {
                    kubeconfig::Kubeconfig::load(path)
                        .and_then(|k| k.resolve(None))
                        .map_err(|source| ConfigError::DelegationKubeconfig {
                            flag,
                            path: path.clone(),
                            source: Box::new(source),
                        })
                })
                .transpose()
        };
        let delegation = DelegationConfig {
            authentication: delegation_kubeconfig(
                "authentication-kubeconfig",
                &self.authentication_kubeconfig,
            )?,
            client_ca_lookup: published_client_ca,
            authorization: delegation_kubeconfig(
                "authorization-kubeconfig",
                &self.authorization_kubeconfig,
            )?,
            always_allow_paths: self
                .authorization_always_allow_paths
                .iter()
                .filter(|p| !p.is_empty())
                .cloned()
                .collect(),
            cache_ttls: CacheTtls {
                token: ttl_flag(
                    "authentication-token-webhook-cache-ttl",
                    &self.authentication_token_webhook_cache_ttl,
                )?,
                allowed: ttl_flag(
                    "authorization-webhook-cache-authorized-ttl",
                    &self.authorization_webhook_cache_authorized_ttl,
                )?,
                denied: ttl_flag(
                    "authorization-webhook-cache-unauthorized-ttl",
                    &self.authorization_webhook_cache_unauthorized_ttl,
                )?,
            },
        };

        Ok(Config {
            api,
            controllers,
            signing: SigningConfig {
                cas,
                duration,
                reload_interval,
                supersede_after: self.supersede_after()?,
            },
            workers: usize::from(self.concurrent_workers),
            leader_election,
            serving,
            delegation,
            cleaner_interval: duration_flag("csr-cleaner-interval", &self.csr_cleaner_interval)?,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            feature_gates: FeatureGates::from_flags(&self.feature_gates),
            root_ca,
            kubeconfig_files: KubeconfigFiles {
                kubeconfig: Some(path.clone()),
                authentication: self.authentication_kubeconfig.clone(),
                authorization: self.authorization_kubeconfig.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["controller-manager"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).unwrap()
    }

    #[test]
    fn defaults_are_upstream_s() {
        let a = args(&[]);
        assert_eq!(a.cluster_signing_duration, "8760h0m0s");
        assert_eq!(a.controllers, ["*"]);
        assert!(a.leader_elect);
        assert_eq!(a.leader_elect_lease_duration, "15s");
        assert_eq!(a.leader_elect_renew_deadline, "10s");
        assert_eq!(a.leader_elect_retry_period, "2s");
        assert_eq!(a.leader_elect_resource_name, "kube-controller-manager");
        assert_eq!(a.leader_elect_resource_namespace, "kube-system");
        assert_eq!(a.concurrent_workers, 5);
        assert_eq!(a.secure_port, 10257);
        assert!(!args(&["--leader-elect=false"]).leader_elect);
        assert_eq!(
            args(&["--controllers=*,-csrcleaner"]).controllers,
            ["*", "-csrcleaner"]
        );
    }

    #[test]
    fn global_and_per_signer_files_do_not_mix() {
        let a = args(&[
            "--cluster-signing-cert-file=ca.pem",
            "--cluster-signing-key-file=ca-key.pem",
            "--cluster-signing-kubelet-client-cert-file=kc.pem",
        ]);
        assert_eq!(
            a.signer_files().unwrap_err().to_string(),
            "cannot specify default and per controller certs at the same time"
        );
    }

    #[test]
    fn the_global_pair_signs_for_all_four_and_per_signer_pairs_only_for_theirs() {
        let a = args(&[
            "--cluster-signing-cert-file=ca.pem",
            "--cluster-signing-key-file=ca-key.pem",
        ]);
        let files = a.signer_files().unwrap();
        assert_eq!(files.len(), 4);
        assert!(files.iter().all(|f| f.cert_file == Path::new("ca.pem")));

        let a = args(&[
            "--cluster-signing-kubelet-serving-cert-file=s.pem",
            "--cluster-signing-kubelet-serving-key-file=s-key.pem",
        ]);
        let files = a.signer_files().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].signer, "kubernetes.io/kubelet-serving");

        let a = args(&["--cluster-signing-kubelet-client-cert-file=c.pem"]);
        assert_eq!(
            a.signer_files().unwrap_err().to_string(),
            "--cluster-signing-kubelet-client-cert-file and --cluster-signing-kubelet-client-key-file must be specified together"
        );
        let a = args(&["--cluster-signing-key-file=k.pem"]);
        assert!(matches!(
            a.signer_files(),
            Err(ConfigError::HalfSigningPair { .. })
        ));
    }

    #[test]
    fn a_missing_kubeconfig_and_a_bad_duration_are_clear_errors() {
        assert_eq!(
            args(&[]).to_config().unwrap_err().to_string(),
            "--kubeconfig is required (in-cluster configuration is not supported)"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.kubeconfig");
        let err = args(&["--kubeconfig", path.to_str().unwrap()])
            .to_config()
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.kubeconfig"), "{err}");
        assert!(matches!(
            duration_flag("cluster-signing-duration", "1y"),
            Err(ConfigError::Duration { .. })
        ));
        assert_eq!(
            duration_flag("cluster-signing-duration", "1y")
                .unwrap_err()
                .to_string(),
            "invalid argument for --cluster-signing-duration: time: unknown unit \"y\" in duration \"1y\""
        );
    }

    /// A kubeconfig with a token for `https://127.0.0.1:6443`, written in `dir`.
    fn token_kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
        let kubeconfig = dir.join("cm.kubeconfig");
        std::fs::write(
            &kubeconfig,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: u\n  user:\n    token: abc\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n",
        )
        .unwrap();
        kubeconfig
    }

    #[test]
    fn without_client_ca_file_the_port_looks_the_client_ca_up_in_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = token_kubeconfig(dir.path());
        let kubeconfig = kubeconfig.to_str().unwrap();
        let ca_file = dir.path().join("client-ca.pem");
        let ca = pki::CertificateAuthority::generate(
            "client-ca",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(3600),
        )
        .unwrap();
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        let with = |extra: &[&str]| {
            let mut flags = vec!["--kubeconfig", kubeconfig, "--secure-port=10257"];
            flags.extend_from_slice(extra);
            args(&flags).to_config().unwrap()
        };
        let authn = ["--authentication-kubeconfig", kubeconfig];
        assert!(with(&authn).delegation.client_ca_lookup.is_some());
        // Not with the flag's file, nor when skipped, nor without a client to look with.
        let file = ["--client-ca-file", ca_file.to_str().unwrap()];
        assert!(
            with(&[&authn[..], &file[..]].concat())
                .delegation
                .client_ca_lookup
                .is_none()
        );
        let skip = [&authn[..], &["--authentication-skip-lookup"][..]].concat();
        assert!(with(&skip).delegation.client_ca_lookup.is_none());
        let skip_false = [&authn[..], &["--authentication-skip-lookup=false"][..]].concat();
        assert!(with(&skip_false).delegation.client_ca_lookup.is_some());
        assert!(with(&[]).delegation.client_ca_lookup.is_none());
        // No port, nothing to look up for.
        let config = args(&[
            "--kubeconfig",
            kubeconfig,
            "--secure-port=0",
            authn[0],
            authn[1],
        ])
        .to_config()
        .unwrap();
        assert!(config.delegation.client_ca_lookup.is_none());
    }

    #[test]
    fn delegation_flags_default_to_upstream_s_and_bad_kubeconfigs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = token_kubeconfig(dir.path());
        let kubeconfig = kubeconfig.to_str().unwrap();
        let config = args(&["--kubeconfig", kubeconfig, "--secure-port=0"])
            .to_config()
            .unwrap();
        assert!(config.delegation.authentication.is_none());
        assert!(config.delegation.authorization.is_none());
        assert_eq!(
            config.delegation.always_allow_paths,
            ["/healthz", "/readyz", "/livez"]
        );
        assert_eq!(config.delegation.cache_ttls, CacheTtls::DELEGATING);

        let config = args(&[
            "--kubeconfig",
            kubeconfig,
            "--secure-port=0",
            "--authentication-kubeconfig",
            kubeconfig,
            "--authorization-kubeconfig",
            kubeconfig,
            "--authorization-always-allow-paths=/healthz,/metrics",
            "--authentication-token-webhook-cache-ttl=2m",
            "--authorization-webhook-cache-authorized-ttl=0",
            "--authorization-webhook-cache-unauthorized-ttl=1.5s",
        ])
        .to_config()
        .unwrap();
        assert_eq!(
            config.delegation.cache_ttls,
            CacheTtls {
                token: Duration::from_secs(120),
                allowed: Duration::ZERO,
                denied: Duration::from_millis(1500),
            }
        );
        let err = args(&[
            "--kubeconfig",
            kubeconfig,
            "--authorization-webhook-cache-authorized-ttl=5x",
        ])
        .to_config()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("authorization-webhook-cache-authorized-ttl") && err.contains("\"5x\""),
            "{err}"
        );
        assert!(config.delegation.authentication.is_some());
        assert!(config.delegation.authorization.is_some());
        assert_eq!(
            config.delegation.always_allow_paths,
            ["/healthz", "/metrics"]
        );

        let missing = dir.path().join("authz.kubeconfig");
        let err = args(&[
            "--kubeconfig",
            kubeconfig,
            "--secure-port=0",
            "--authorization-kubeconfig",
            missing.to_str().unwrap(),
        ])
        .to_config()
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("invalid --authorization-kubeconfig ")
                && err.contains("authz.kubeconfig"),
            "{err}"
        );
    }

    #[test]
    fn root_ca_file_is_read_at_start_only_when_its_controller_runs() {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = token_kubeconfig(dir.path());
        let kubeconfig = kubeconfig.to_str().unwrap();
        let config = args(&["--kubeconfig", kubeconfig, "--secure-port=0"])
            .to_config()
            .unwrap();
        assert!(config.root_ca.is_none());
        assert_eq!(
            config.kubeconfig_files.kubeconfig.as_deref(),
            Some(Path::new(kubeconfig))
        );

        let ca = pki::CertificateAuthority::generate(
            "root",
            pki::KeyAlgorithm::EcdsaP256,
            Duration::from_secs(3600),
        )
        .unwrap();
        let root = dir.path().join("ca.crt");
        std::fs::write(&root, ca.cert_pem()).unwrap();
        let root_flag = format!("--root-ca-file={}", root.display());
        let config = args(&["--kubeconfig", kubeconfig, "--secure-port=0", &root_flag])
            .to_config()
            .unwrap();
        assert_eq!(config.root_ca.unwrap().current().pem, ca.cert_pem());

        std::fs::write(&root, "garbage").unwrap();
        let err = args(&["--kubeconfig", kubeconfig, "--secure-port=0", &root_flag])
            .to_config()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("error parsing root-ca-file at ") && err.contains("ca.crt"),
            "{err}"
        );
        // Its controller off: not read.
        let config = args(&[
            "--kubeconfig",
            kubeconfig,
            "--secure-port=0",
            &root_flag,
            "--controllers=*,-root-ca-cert-publisher",
        ])
        .to_config()
        .unwrap();
        assert!(config.root_ca.is_none());
    }

    #[test]
    fn feature_gates_take_upstream_s_names() {
        // The seeds' line (and CIS 1.3.6's check) for kube-controller-manager.
        let a = args(&["--feature-gates=RotateKubeletServerCertificate=true"]);
        let gates = FeatureGates::from_flags(&a.feature_gates);
        assert!(gates.enabled(cli::ROTATE_KUBELET_SERVER_CERTIFICATE));
        assert!(gates.warnings().is_empty());
        let err = Args::try_parse_from(["cm", "--feature-gates=Nope=true"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--feature-gates") && err.contains("unrecognized feature gate: Nope"),
            "{err}"
        );
    }

    #[test]
    fn bad_go_bool_is_refused_by_clap() {
        assert!(Args::try_parse_from(["cm", "--leader-elect=maybe"]).is_err());
        assert!(Args::try_parse_from(["cm", "--concurrent-workers=0"]).is_err());
    }
}
