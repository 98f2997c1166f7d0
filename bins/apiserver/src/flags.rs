//! Command-line flags, named as kube-apiserver names them, and their validation into a
//! [`Config`] (files read and parsed here, so every bad input is a start-up error).

pub use cli::LogFormat;
use cli::{FeatureGateFlag, parse_feature_gates, parse_go_bool};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Parser};
use rbac::AbacAuthorizer;
use rbac::abac::{PolicyFileError, parse_policy_file};

use crate::api::create_limit::RateLimitSettings;
use crate::authn::token_file::{TokenFile, TokenFileError};
use crate::authz::{AuthorizationMode, AuthorizationModes, parse_modes};
use crate::tls::{ServingTls, TlsError};

/// `--kubelet-csr-rate-limit-burst`'s default: a node makes one or two requests per signer
/// and rotation, so ten at once are a retry loop's, not a kubelet's.
const DEFAULT_KUBELET_CSR_BURST: u32 = 10;
/// `--kubelet-csr-rate-limit-period`'s default (client-go's certificate manager asks again
/// every 15 minutes at most, so a working kubelet never waits on it).
const DEFAULT_KUBELET_CSR_PERIOD: Duration = Duration::from_secs(300);

/// The raw flags.
#[derive(Debug, Parser)]
#[command(
    name = "apiserver",
    version,
    about = "Kubernetes-compatible API server for kubelet TLS bootstrapping"
)]
pub struct Args {
    /// The port on which to serve HTTPS.
    #[arg(long, default_value_t = 6443, value_name = "PORT")]
    pub secure_port: u16,

    /// The IP address on which to listen for the --secure-port port.
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    pub bind_address: IpAddr,

    /// File containing the x509 serving certificate (followed by any intermediates), PEM.
    /// Re-read every 5 s with --tls-private-key-file and --client-ca-file: new connections use
    /// the new files once they build.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// File containing the x509 private key matching --tls-cert-file (PKCS#1, PKCS#8 or SEC1 PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_private_key_file: Option<PathBuf>,

    /// If set, a client certificate signed by one of these CAs authenticates as its CommonName,
    /// with its Organizations as groups. Re-read every 5 s; an open connection whose
    /// certificate the new CAs do not verify is closed.
    #[arg(long, value_name = "FILE")]
    pub client_ca_file: Option<PathBuf>,

    /// If set, the file (CSV: token,user,uid,"group1,group2") that secures the secure port
    /// via bearer token authentication.
    #[arg(long, value_name = "FILE")]
    pub token_auth_file: Option<PathBuf>,

    /// Enable to allow secrets of type 'bootstrap.kubernetes.io/token' in the 'kube-system'
    /// namespace to be used for TLS bootstrapping authentication.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub enable_bootstrap_token_auth: bool,

    /// Ordered list of plug-ins to do authorization on the secure port: a comma list of
    /// AlwaysAllow, AlwaysDeny, ABAC, Node, RBAC; the first Allow or Deny wins. Upstream
    /// defaults to AlwaysAllow (for backwards compatibility); we default to Node,RBAC so a
    /// server started without the flag is not wide open to every authenticated (or anonymous)
    /// caller.
    #[arg(long, value_name = "MODES", default_value = "Node,RBAC", value_parser = parse_modes)]
    pub authorization_mode: AuthorizationModes,

    /// File with authorization policy in json line by line format, used with
    /// --authorization-mode=ABAC, on the secure port. Read once at start-up.
    #[arg(long, value_name = "FILE")]
    pub authorization_policy_file: Option<PathBuf>,

    /// Enables anonymous requests (user system:anonymous, group system:unauthenticated) for
    /// requests that carry no credentials.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true",
          value_parser = parse_go_bool, action = ArgAction::Set)]
    pub anonymous_auth: bool,

    /// Amount of time to retain events.
    #[arg(long, value_name = "DURATION", default_value = "1h0m0s")]
    pub event_ttl: String,

    /// Ours (decision 0027): how long after its NotAfter a client certificate may still ask
    /// to renew itself, e.g. 720h. Within it, the apiserver authenticates an expired client
    /// certificate as the user "kubelet-tls-bootstrap:expired:<CN>" in the single group
    /// "kubelet-tls-bootstrap:expired-client-certificates", which RBAC may let create CSRs;
    /// csrapproving approves a node's request only from the node's newest certificate. 0
    /// (the default, as upstream) refuses every expired certificate.
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub client_certificate_max_offline_window: String,

    /// Ours (decision 0030): how many CertificateSigningRequests to a kubelet signer
    /// (kube-apiserver-client-kubelet, kubelet-serving) one requester may create for one node
    /// at once; after that, one more per --kubelet-csr-rate-limit-period. More are refused
    /// with 429 TooManyRequests, saying when to ask again. 0 turns the limit off.
    #[arg(long, value_name = "COUNT", default_value_t = DEFAULT_KUBELET_CSR_BURST)]
    pub kubelet_csr_rate_limit_burst: u32,

    /// Ours (decision 0030): after its --kubelet-csr-rate-limit-burst, a requester may create
    /// one more CertificateSigningRequest for a node and kubelet signer per this period.
    #[arg(long, value_name = "DURATION", default_value = "5m0s")]
    pub kubelet_csr_rate_limit_period: String,

    /// Folder of the embedded durable store (created if missing).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,

    /// A set of key=value pairs that describe feature gates (the list every component
    /// shares: RotateKubeletClientCertificate=true|false (GA - default=true, locked),
    /// RotateKubeletServerCertificate=true|false (BETA - default=true), AllAlpha, AllBeta).
    /// None changes what the apiserver does; they are accepted so shared configurations work.
    #[arg(long, value_name = "NAME=BOOL,...", value_parser = parse_feature_gates,
          action = ArgAction::Append)]
    pub feature_gates: Vec<FeatureGateFlag>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log level verbosity, as klog's -v (0-1 info, 2-4 debug, 5+ trace).
    #[arg(short = 'v', long = "v", value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u8,
}

/// Validated settings of one server run. Tests build it with [`Config::new`].
#[derive(Debug)]
pub struct Config {
    /// Serving certificate, key and (optionally) the client CA.
    pub tls: ServingTls,
    /// How often the files of `tls` are re-read, when it came from files (decision 0029).
    pub tls_reload_interval: Duration,
    /// Static bearer tokens (`--token-auth-file`).
    pub token_file: Option<TokenFile>,
    /// Authenticate bootstrap tokens against kube-system Secrets.
    pub bootstrap_token_auth: bool,
    /// Authorizers in the order asked (after `system:masters`).
    pub authorization_modes: Vec<AuthorizationMode>,
    /// The policies ABAC asks (`--authorization-policy-file`); none without the flag.
    pub abac: Arc<AbacAuthorizer>,
    /// Whether requests without credentials proceed as `system:anonymous`.
    pub anonymous_auth: bool,
    /// The embedded store's folder.
    pub data_dir: PathBuf,
    /// How long requests in flight may finish after shutdown is requested (watches end at once).
    pub shutdown_grace: Duration,
    /// Events not written for this long are deleted (`--event-ttl`).
    pub event_ttl: Duration,
    /// `--client-certificate-max-offline-window` (zero: off).
    pub client_certificate_max_offline_window: Duration,
    /// `--kubelet-csr-rate-limit-burst` and `-period` (`None`: off).
    pub kubelet_csr_rate_limit: Option<RateLimitSettings>,
}

impl Config {
    /// Settings with the flag defaults: no token file, no bootstrap tokens, `Node,RBAC`,
    /// anonymous allowed.
    pub fn new(tls: ServingTls, data_dir: impl Into<PathBuf>) -> Config {
        Config {
            tls,
            tls_reload_interval: crate::tls::DEFAULT_RELOAD_INTERVAL,
            token_file: None,
            bootstrap_token_auth: false,
            authorization_modes: vec![AuthorizationMode::Node, AuthorizationMode::Rbac],
            abac: Arc::default(),
            anonymous_auth: true,
            data_dir: data_dir.into(),
            shutdown_grace: Duration::from_secs(10),
            event_ttl: crate::event_ttl::DEFAULT_EVENT_TTL,
            client_certificate_max_offline_window: Duration::ZERO,
            kubelet_csr_rate_limit: Some(RateLimitSettings {
                burst: NonZeroU32::new(DEFAULT_KUBELET_CSR_BURST).unwrap_or(NonZeroU32::MIN),
                period: DEFAULT_KUBELET_CSR_PERIOD,
            }),
        }
    }
}

/// A flag value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A flag the server cannot run without.
    #[error("flag {0} is required")]
    Missing(&'static str),
    /// The serving certificate, key or client CA.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The token file.
    #[error(transparent)]
    TokenFile(#[from] TokenFileError),
    /// ABAC among the modes, but no policy file (upstream's wording).
    #[error("authorization-mode ABAC's authorization policy file not passed")]
    AbacWithoutPolicyFile,
    /// A policy file, but no ABAC to use it (upstream's wording).
    #[error("cannot specify --authorization-policy-file without mode ABAC")]
    PolicyFileWithoutAbac,
    /// The policy file could not be read.
    #[error("error reading policy file {}: {source}", .path.display())]
    PolicyFileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of the policy file is not a policy; names the file and the line.
    #[error(transparent)]
    PolicyFile(#[from] PolicyFileError),
    /// `--event-ttl` is not a positive Go duration.
    #[error("invalid --event-ttl {value:?}: {reason}")]
    EventTtl { value: String, reason: String },
    /// `--client-certificate-max-offline-window` is not a Go duration.
    #[error("invalid --client-certificate-max-offline-window {value:?}: {reason}")]
    MaxOfflineWindow { value: String, reason: String },
    /// `--kubelet-csr-rate-limit-period` is not a positive Go duration.
    #[error("invalid --kubelet-csr-rate-limit-period {value:?}: {reason}")]
    KubeletCsrRatePeriod { value: String, reason: String },
}

impl Args {
    /// The address to bind.
    pub fn listen_address(&self) -> SocketAddr {
        SocketAddr::new(self.bind_address, self.secure_port)
    }

    /// Reads and checks every file the flags name.
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let abac_policy_file = self.abac_policy_file()?;
        let cert = self
            .tls_cert_file
            .as_deref()
            .ok_or(ConfigError::Missing("--tls-cert-file"))?;
        let key = self
            .tls_private_key_file
            .as_deref()
            .ok_or(ConfigError::Missing("--tls-private-key-file"))?;
        let tls = ServingTls::load(cert, key, self.client_ca_file.as_deref())?;
        let token_file = self
            .token_auth_file
            .as_deref()
            .map(TokenFile::load)
            .transpose()?;
        let abac = match abac_policy_file {
            Some(path) => Arc::new(load_abac_policy_file(path)?),
            None => Arc::default(),
        };
        let event_ttl = match cli::parse_go_duration(&self.event_ttl) {
            Ok(ttl) if !ttl.is_zero() => ttl,
            Ok(_) => {
                return Err(ConfigError::EventTtl {
                    value: self.event_ttl.clone(),
                    reason: "must be positive".to_string(),
                });
            }
            Err(e) => {
                return Err(ConfigError::EventTtl {
                    value: self.event_ttl.clone(),
                    reason: e.to_string(),
                });
            }
        };
        let client_certificate_max_offline_window =
            cli::parse_go_duration(&self.client_certificate_max_offline_window).map_err(|e| {
                ConfigError::MaxOfflineWindow {
                    value: self.client_certificate_max_offline_window.clone(),
                    reason: e.to_string(),
                }
            })?;
        let kubelet_csr_rate_limit = self.kubelet_csr_rate_limit()?;
        Ok(Config {
            token_file,
            client_certificate_max_offline_window,
            kubelet_csr_rate_limit,
            bootstrap_token_auth: self.enable_bootstrap_token_auth,
            authorization_modes: self.authorization_mode.0.clone(),
            abac,
            anonymous_auth: self.anonymous_auth,
            event_ttl,
            ..Config::new(tls, self.data_dir.clone())
        })
    }

    /// The kubelet CSR limit, `None` with a zero burst.
    fn kubelet_csr_rate_limit(&self) -> Result<Option<RateLimitSettings>, ConfigError> {
        let invalid = |reason: String| ConfigError::KubeletCsrRatePeriod {
            value: self.kubelet_csr_rate_limit_period.clone(),
            reason,
        };
        let period = cli::parse_go_duration(&self.kubelet_csr_rate_limit_period)
            .map_err(|e| invalid(e.to_string()))?;
        if period.is_zero() {
            return Err(invalid("must be positive".to_string()));
        }
        Ok(NonZeroU32::new(self.kubelet_csr_rate_limit_burst)
            .map(|burst| RateLimitSettings { burst, period }))
    }

    /// The policy file when ABAC is a mode; upstream's checks that the two flags come together.
    fn abac_policy_file(&self) -> Result<Option<&Path>, ConfigError> {
        let file = self.authorization_policy_file.as_deref();
        let abac = self.authorization_mode.0.contains(&AuthorizationMode::Abac);
        match (abac, file) {
            (true, None) => Err(ConfigError::AbacWithoutPolicyFile),
            (false, Some(_)) => Err(ConfigError::PolicyFileWithoutAbac),
            (_, file) => Ok(file),
        }
    }
}

/// Reads the ABAC policies once: upstream does not reload the file either, so a change needs
/// a restart.
fn load_abac_policy_file(path: &Path) -> Result<AbacAuthorizer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::PolicyFileRead {
        path: path.to_path_buf(),
        source,
    })?;
    let file = parse_policy_file(&text, path)?;
    if file.unversioned_lines > 0 {
        // Upstream's start-up warning, pointing at the versioned format.
        tracing::warn!(
            file = %path.display(),
            lines = file.unversioned_lines,
            "policy file contains unversioned rules; see the ABAC documentation for the \
             abac.authorization.kubernetes.io/v1beta1 format"
        );
    }
    Ok(AbacAuthorizer::new(file.policies))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("apiserver").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_kube_apiserver_except_authorization_mode() {
        let args = parse(&["--data-dir", "/tmp/x"]).expect("parse");
        assert_eq!(args.secure_port, 6443);
        assert_eq!(args.listen_address().to_string(), "0.0.0.0:6443");
        assert!(args.anonymous_auth);
        assert!(!args.enable_bootstrap_token_auth);
        assert_eq!(
            args.authorization_mode.0,
            vec![AuthorizationMode::Node, AuthorizationMode::Rbac]
        );
        assert_eq!(args.log_format, LogFormat::Text);
        assert_eq!(args.verbosity, 0);
    }

    #[test]
    fn go_style_booleans_and_verbosity() {
        let args = parse(&[
            "--data-dir=/d",
            "--enable-bootstrap-token-auth",
            "--anonymous-auth=false",
            "-v=4",
            "--log-format=json",
        ])
        .expect("parse");
        assert!(args.enable_bootstrap_token_auth);
        assert!(!args.anonymous_auth);
        assert_eq!(args.verbosity, 4);
        assert_eq!(args.log_format, LogFormat::Json);
        let args = parse(&[
            "--data-dir=/d",
            "--enable-bootstrap-token-auth=false",
            "--v=2",
        ])
        .expect("parse");
        assert!(!args.enable_bootstrap_token_auth);
        assert_eq!(args.verbosity, 2);
        assert!(parse(&["--data-dir=/d", "--anonymous-auth=maybe"]).is_err());
    }

    #[test]
    fn authorization_modes_keep_their_order() {
        let args =
            parse(&["--data-dir=/d", "--authorization-mode=RBAC,Node,AlwaysDeny"]).expect("parse");
        assert_eq!(
            args.authorization_mode.0,
            vec![
                AuthorizationMode::Rbac,
                AuthorizationMode::Node,
                AuthorizationMode::AlwaysDeny
            ]
        );
        let args = parse(&["--data-dir=/d", "--authorization-mode=Node,ABAC,RBAC"]).expect("parse");
        assert_eq!(
            args.authorization_mode.0,
            vec![
                AuthorizationMode::Node,
                AuthorizationMode::Abac,
                AuthorizationMode::Rbac
            ]
        );
        let err = parse(&["--data-dir=/d", "--authorization-mode=Node,Webhook"]).unwrap_err();
        assert!(err.to_string().contains("Webhook"), "{err}");
        assert!(parse(&["--data-dir=/d", "--authorization-mode=RBAC,RBAC"]).is_err());
        assert!(parse(&["--data-dir=/d", "--authorization-mode="]).is_err());
    }

    #[test]
    fn the_kubelet_csr_limit_defaults_on_turns_off_at_zero_and_needs_a_period() {
        let limit = |args: &[&str]| {
            let mut all = vec!["--data-dir=/d"];
            all.extend_from_slice(args);
            parse(&all).expect("parse").kubelet_csr_rate_limit()
        };
        let default = limit(&[]).unwrap().expect("on by default");
        assert_eq!(default.burst.get(), 10);
        assert_eq!(default.period, Duration::from_secs(300));

        let set = limit(&[
            "--kubelet-csr-rate-limit-burst=3",
            "--kubelet-csr-rate-limit-period=90s",
        ])
        .unwrap()
        .unwrap();
        assert_eq!((set.burst.get(), set.period), (3, Duration::from_secs(90)));
        assert_eq!(limit(&["--kubelet-csr-rate-limit-burst=0"]).unwrap(), None);
        let err = limit(&["--kubelet-csr-rate-limit-period=0s"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid --kubelet-csr-rate-limit-period \"0s\": must be positive"
        );
        let err = limit(&["--kubelet-csr-rate-limit-period=soon"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid --kubelet-csr-rate-limit-period \"soon\": ")
        );
        assert!(parse(&["--data-dir=/d", "--kubelet-csr-rate-limit-burst=-1"]).is_err());
    }

    #[test]
    fn missing_files_are_named() {
        let args = parse(&["--data-dir=/d"]).expect("parse");
        let err = args.to_config().unwrap_err();
        assert_eq!(err.to_string(), "flag --tls-cert-file is required");
        let args = parse(&[
            "--data-dir=/d",
            "--tls-cert-file=/nonexistent/cert.pem",
            "--tls-private-key-file=/nonexistent/key.pem",
        ])
        .expect("parse");
        let err = args.to_config().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }

    #[test]
    fn abac_and_its_policy_file_come_together() {
        // Checked before any file is read, with upstream's words.
        let err = parse(&["--data-dir=/d", "--authorization-mode=Node,ABAC,RBAC"])
            .expect("parse")
            .to_config()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "authorization-mode ABAC's authorization policy file not passed"
        );
        // An empty value is refused as a usage error, as for every file flag here.
        assert!(
            parse(&[
                "--data-dir=/d",
                "--authorization-mode=Node,ABAC",
                "--authorization-policy-file=",
            ])
            .is_err()
        );
        let err = parse(&[
            "--data-dir=/d",
            "--authorization-policy-file=/etc/abac.jsonl",
        ])
        .expect("parse")
        .to_config()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot specify --authorization-policy-file without mode ABAC"
        );
        let args = parse(&[
            "--data-dir=/d",
            "--authorization-mode=ABAC",
            "--authorization-policy-file=/etc/abac.jsonl",
        ])
        .expect("parse");
        assert_eq!(
            args.abac_policy_file().expect("both given"),
            Some(Path::new("/etc/abac.jsonl"))
        );
        // With both flags the next problem is the first file read (the serving certificate).
        assert_eq!(
            args.to_config().unwrap_err().to_string(),
            "flag --tls-cert-file is required"
        );
    }

    #[test]
    fn policy_file_problems_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.jsonl");
        let err = load_abac_policy_file(&missing).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "error reading policy file {}: No such file or directory (os error 2)",
                missing.display()
            )
        );

        let bad = dir.path().join("bad.jsonl");
        std::fs::write(
            &bad,
            "# readers\n{\"user\":\"a\",\"readonly\":true}\n{\"user\":\"b\",\n",
        )
        .expect("write");
        let err = load_abac_policy_file(&bad).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "error reading policy file {}, line 3: {{\"user\":\"b\",: ",
                bad.display()
            )),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");

        let good = dir.path().join("good.jsonl");
        std::fs::write(
            &good,
            concat!(
                r#"{"apiVersion":"abac.authorization.kubernetes.io/v1beta1","kind":"Policy","spec":{"user":"a","readonly":true,"resource":"*","namespace":"*","apiGroup":"*"}}"#,
                "\n",
                r#"{"user":"b"}"#,
                "\n",
            ),
        )
        .expect("write");
        let abac = load_abac_policy_file(&good).expect("good file");
        assert_eq!(abac.policies().len(), 2);
        assert_eq!(abac.policies()[0].user, "a");

        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").expect("write");
        assert!(
            load_abac_policy_file(&empty)
                .expect("an empty file is valid")
                .policies()
                .is_empty()
        );
    }
}
